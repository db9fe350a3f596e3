"""The DDVI inference core: priors, KDE, diffusion, networks, models, training and metrics.

Nothing here knows about genotypes or images.
"""

from .config import Config
from .diffusion import GaussianDiffusion, cosine_beta_schedule, linear_beta_schedule
from .kde import kde_log_prob
from .metrics import knn_accuracy, latent_nll, mmd_rbf, mmd_reference, t_interval
from .models import (
    AAE,
    DDVI,
    HIAFVAE,
    IAFVAE,
    VAE,
    AAEConfig,
    DDVIConfig,
    HIAFVAEConfig,
    IAFVAEConfig,
    VAEConfig,
)
from .priors import (
    PRIOR_NAMES,
    GaussianMixturePrior,
    GaussianPrior,
    LearnableMixturePrior,
    PinwheelPrior,
    Prior,
    SquarePrior,
    SwissRollPrior,
    make_prior,
)
from .runtime import make_generator, resolve_device, seed_everything
from .training import History, LossOutput, OptimiserPlan, Phase, fit

__all__ = [
    "AAE",
    "AAEConfig",
    "HIAFVAE",
    "HIAFVAEConfig",
    "IAFVAE",
    "IAFVAEConfig",
    "VAE",
    "VAEConfig",
    "Config",
    "DDVI",
    "DDVIConfig",
    "GaussianDiffusion",
    "GaussianMixturePrior",
    "GaussianPrior",
    "History",
    "LearnableMixturePrior",
    "LossOutput",
    "OptimiserPlan",
    "PRIOR_NAMES",
    "Phase",
    "PinwheelPrior",
    "Prior",
    "SquarePrior",
    "SwissRollPrior",
    "cosine_beta_schedule",
    "fit",
    "kde_log_prob",
    "knn_accuracy",
    "latent_nll",
    "linear_beta_schedule",
    "make_generator",
    "make_prior",
    "mmd_rbf",
    "mmd_reference",
    "resolve_device",
    "seed_everything",
    "t_interval",
]
