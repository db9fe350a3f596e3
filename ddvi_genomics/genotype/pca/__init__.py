"""PCA of genotypes: the in-memory decomposition and the out-of-core one over a VCF Zarr store."""

from .decomposition import GenotypePCA

__all__ = ["GenotypePCA"]
