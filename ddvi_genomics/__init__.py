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
    DDVIConfig,
    GaussianDiffusion,
    History,
    Prior,
    kde_log_prob,
    knn_accuracy,
    latent_nll,
    make_generator,
    make_prior,
    mmd_rbf,
    resolve_device,
    t_interval,
)

__all__ = [
    "AAE",
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
