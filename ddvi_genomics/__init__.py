"""ddvi-genomics: latent ancestry from genotypes with Denoising Diffusion Variational Inference.

The public API is curated here; implementation lives in :mod:`ddvi_genomics.core`.
"""

__version__ = "0.1.0"

from .core import (
    AAE,
    DDVI,
    HIAFVAE,
    IAFVAE,
    PRIOR_NAMES,
    VAE,
    AAESemi,
    DDVIConfig,
    DDVISemi,
    GaussianDiffusion,
    History,
    IAFVAESemi,
    Prior,
    VAESemi,
    class_head_accuracy,
    kde_log_prob,
    knn_accuracy,
    latent_nll,
    make_generator,
    make_prior,
    mask_labels,
    mmd_rbf,
    resolve_device,
    t_interval,
)

__all__ = [
    "AAE",
    "AAESemi",
    "DDVISemi",
    "IAFVAESemi",
    "VAESemi",
    "class_head_accuracy",
    "mask_labels",
    "DDVI",
    "HIAFVAE",
    "IAFVAE",
    "VAE",
    "DDVIConfig",
    "GaussianDiffusion",
    "History",
    "PRIOR_NAMES",
    "Prior",
    "__version__",
    "kde_log_prob",
    "knn_accuracy",
    "latent_nll",
    "make_generator",
    "make_prior",
    "mmd_rbf",
    "resolve_device",
    "t_interval",
]
