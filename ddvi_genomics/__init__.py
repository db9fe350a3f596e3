"""ddvi-genomics: latent ancestry from genotypes with Denoising Diffusion Variational Inference.

The public API is curated here; implementation lives in :mod:`ddvi_genomics.core` (models,
priors, training) and :mod:`ddvi_genomics.genotype` (ancestry maps). Names are imported on first
use (PEP 562), so ``import ddvi_genomics`` and ``ddvi-genomics --help`` do not load PyTorch.
"""

import importlib

from ._version import __version__

#: Public names of the core, resolved lazily by :func:`__getattr__`.
_CORE_NAMES = (
    "AAE",
    "DDVI",
    "HIAFVAE",
    "IAFVAE",
    "PRIOR_NAMES",
    "VAE",
    "AAESemi",
    "DDVIConfig",
    "DDVISemi",
    "GaussianDiffusion",
    "History",
    "IAFVAESemi",
    "Prior",
    "VAESemi",
    "class_head_accuracy",
    "kde_log_prob",
    "knn_accuracy",
    "latent_nll",
    "make_generator",
    "make_prior",
    "mask_labels",
    "mmd_rbf",
    "resolve_device",
    "t_interval",
)


def __getattr__(name: str):
    if name in _CORE_NAMES:
        value = getattr(importlib.import_module(".core", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_CORE_NAMES))


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
