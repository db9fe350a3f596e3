"""The DDVI inference core: priors, KDE, diffusion, networks, models, training and metrics.

Nothing here knows about genotypes or images.

The names below load their module on first use (PEP 562), so ``import ddvi_genomics.core.config``
and the torch-free paths of the genotype tool do not import torch.
"""

from __future__ import annotations

import importlib

#: Public name -> the submodule that defines it.
_SOURCES = {
    "Config": "config",
    "UNLABELLED": "data",
    "mask_labels": "data",
    "GaussianDiffusion": "diffusion",
    "cosine_beta_schedule": "diffusion",
    "linear_beta_schedule": "diffusion",
    "kde_log_prob": "kde",
    "class_head_accuracy": "metrics",
    "knn_accuracy": "metrics",
    "latent_nll": "metrics",
    "mmd_rbf": "metrics",
    "mmd_reference": "metrics",
    "t_interval": "metrics",
    "AAE": "models",
    "DDVI": "models",
    "HIAFVAE": "models",
    "IAFVAE": "models",
    "VAE": "models",
    "AAEConfig": "models",
    "AAESemi": "models",
    "AAESemiConfig": "models",
    "DDVIConfig": "models",
    "DDVISemi": "models",
    "DDVISemiConfig": "models",
    "HIAFVAEConfig": "models",
    "IAFVAEConfig": "models",
    "IAFVAESemi": "models",
    "IAFVAESemiConfig": "models",
    "VAEConfig": "models",
    "VAESemi": "models",
    "VAESemiConfig": "models",
    "PRIOR_NAMES": "priors",
    "GaussianMixturePrior": "priors",
    "GaussianPrior": "priors",
    "LearnableMixturePrior": "priors",
    "PinwheelPrior": "priors",
    "Prior": "priors",
    "SquarePrior": "priors",
    "SwissRollPrior": "priors",
    "make_prior": "priors",
    "derive_seed": "runtime",
    "make_generator": "runtime",
    "resolve_device": "runtime",
    "seeded_global_rng": "runtime",
    "stream": "runtime",
    "History": "training",
    "LossOutput": "training",
    "OptimiserPlan": "training",
    "Phase": "training",
    "fit": "training",
}

__all__ = [
    "AAE",
    "AAEConfig",
    "AAESemi",
    "AAESemiConfig",
    "Config",
    "DDVI",
    "DDVIConfig",
    "DDVISemi",
    "DDVISemiConfig",
    "GaussianDiffusion",
    "GaussianMixturePrior",
    "GaussianPrior",
    "HIAFVAE",
    "HIAFVAEConfig",
    "History",
    "IAFVAE",
    "IAFVAEConfig",
    "IAFVAESemi",
    "IAFVAESemiConfig",
    "LearnableMixturePrior",
    "LossOutput",
    "OptimiserPlan",
    "PRIOR_NAMES",
    "Phase",
    "PinwheelPrior",
    "Prior",
    "SquarePrior",
    "SwissRollPrior",
    "UNLABELLED",
    "VAE",
    "VAEConfig",
    "VAESemi",
    "VAESemiConfig",
    "class_head_accuracy",
    "cosine_beta_schedule",
    "fit",
    "kde_log_prob",
    "knn_accuracy",
    "latent_nll",
    "linear_beta_schedule",
    "derive_seed",
    "make_generator",
    "make_prior",
    "mask_labels",
    "mmd_rbf",
    "mmd_reference",
    "resolve_device",
    "seeded_global_rng",
    "stream",
    "t_interval",
]


def __getattr__(name: str):
    """Import the submodule that defines ``name`` on first access (PEP 562)."""
    if name in _SOURCES:
        value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
