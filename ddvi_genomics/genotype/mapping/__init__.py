"""From PC scores to a 2-D ancestry map: embedding methods, their metrics, the fitted model.

``embed``: the methods (DDVI, VAE, PCA, t-SNE, UMAP, label-guided DDVI); ``evaluate``: map
quality; ``ancestry_map``: QC -> PCA -> map in memory or out of core; ``ancestry_model``: the saved map
that places new samples.
"""

from .ancestry_map import AncestryMap, infer
from .ancestry_model import AncestryModel

__all__ = ["AncestryMap", "AncestryModel", "infer"]
