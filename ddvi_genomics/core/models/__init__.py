"""Model families, one per module, all with the same interface (fit / encode / sample / elbo)."""

from .aae import AAE, AAEConfig
from .base import LatentVariableModel
from .ddvi import DDVI, DDVIConfig
from .ddvi_semi import DDVISemi, DDVISemiConfig
from .h_iaf_vae import HIAFVAE, HIAFVAEConfig
from .iaf_vae import IAFVAE, IAFVAEConfig
from .semi import AAESemi, AAESemiConfig, IAFVAESemi, IAFVAESemiConfig, VAESemi, VAESemiConfig
from .vae import VAE, VAEConfig

__all__ = [
    "AAE",
    "AAEConfig",
    "AAESemi",
    "AAESemiConfig",
    "DDVI",
    "DDVIConfig",
    "DDVISemi",
    "DDVISemiConfig",
    "HIAFVAE",
    "HIAFVAEConfig",
    "IAFVAE",
    "IAFVAEConfig",
    "IAFVAESemi",
    "IAFVAESemiConfig",
    "LatentVariableModel",
    "VAE",
    "VAEConfig",
    "VAESemi",
    "VAESemiConfig",
]
