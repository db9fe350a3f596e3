"""Model families, one per module, all with the same interface (fit / encode / sample / elbo)."""

from .aae import AAE, AAEConfig
from .base import LatentVariableModel
from .ddvi import DDVI, DDVIConfig
from .h_iaf_vae import HIAFVAE, HIAFVAEConfig
from .iaf_vae import IAFVAE, IAFVAEConfig
from .vae import VAE, VAEConfig

__all__ = [
    "AAE",
    "AAEConfig",
    "DDVI",
    "DDVIConfig",
    "HIAFVAE",
    "HIAFVAEConfig",
    "IAFVAE",
    "IAFVAEConfig",
    "LatentVariableModel",
    "VAE",
    "VAEConfig",
]
