"""Model families, one per module, all with the same interface (fit / encode / sample / elbo)."""

from .base import LatentVariableModel
from .ddvi import DDVI, DDVIConfig

__all__ = ["DDVI", "DDVIConfig", "LatentVariableModel"]
