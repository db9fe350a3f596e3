"""The DDVI inference core: priors, KDE, diffusion, networks, models, training and metrics.

Nothing here knows about genotypes or images.
"""

from .config import Config
from .data import UNLABELLED, mask_labels
from .diffusion import GaussianDiffusion, cosine_beta_schedule, linear_beta_schedule
from .kde import kde_log_prob
from .metrics import (
    class_head_accuracy,
    knn_accuracy,
    latent_nll,
    mmd_rbf,
    mmd_reference,
    t_interval,
)
from .models import (
    AAE,
    DDVI,
    HIAFVAE,
    IAFVAE,
    VAE,
    AAEConfig,
    AAESemi,
    AAESemiConfig,
    DDVIConfig,
    DDVISemi,
    DDVISemiConfig,
    HIAFVAEConfig,
    IAFVAEConfig,
    IAFVAESemi,
    IAFVAESemiConfig,
    VAEConfig,
    VAESemi,
    VAESemiConfig,
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
from .runtime import derive_seed, make_generator, resolve_device, seeded_global_rng, stream
from .training import History, LossOutput, OptimiserPlan, Phase, fit

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
