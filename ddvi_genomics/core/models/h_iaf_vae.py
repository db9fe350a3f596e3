"""H-IAF-VAE baseline: two stochastic levels, each a Gaussian refined by 4 IAF steps.

Level 1: ``z1 ~ q(z1|x)`` (Gaussian + IAF). Level 2: ``z2 ~ q(z2|x, z1)`` (Gaussian from
``[features(x), z1]`` + IAF). The decoder sees ``z2`` only, so ``z1`` is an auxiliary variable
and the valid bound (Agakov & Barber 2004; Ranganath et al. 2016) needs a reverse model
``r(z1 | z2)``::

    log p(x) >= E_q[log p(x|z2) + log p(z2) + log r(z1|z2) - log q(z1|x) - log q(z2|x, z1)]

Here ``r`` is a learned Gaussian MLP. The reference scores ``z1`` against N(0, I) with its own
weight (``p_weight * log N(z1)``), which is the special case ``r = N(0, I)`` only when the weights
are 1, so as written in the authors' code (github.com/topwasu/DDVI) it is not a valid bound.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import distributions as D

from ..flows import IAF
from ..nn import MLP
from .iaf_vae import IAFVAEConfig
from .vae import VAE


@dataclasses.dataclass(frozen=True)
class HIAFVAEConfig(IAFVAEConfig):
    """H-IAF-VAE hyperparameters (reference ``conf/model/h_iaf_vae.yaml``)."""

    kl_weight: float = 0.005  # reference: h_iaf_vae.yaml kld_weight
    p_weight: float = 0.5  # reference: h_iaf_vae.yaml p_weight
    flow_hidden: tuple[int, ...] = (64, 64, 64)  # reference: MADE nh 64
    feature_dim: int = 128  # reference: img_processor output width
    level2_hidden: tuple[int, ...] = (24, 24)  # reference: Q2 fc [24, 24]
    reverse_hidden: tuple[int, ...] = (64,)  # r(z1 | z2): ours


class HIAFVAE(VAE):
    """Two-level IAF posterior with an auxiliary reverse model (see module docstring)."""

    config_class = HIAFVAEConfig

    def _encoder_heads(self):
        d = self.config.latent_dim
        return (d, d, self.config.context_dim)

    def _build_extra(self) -> None:
        cfg = self.config
        d = cfg.latent_dim
        self.flow1 = IAF(d, cfg.n_flows, cfg.flow_hidden, cfg.context_dim)
        self.features = MLP(self.n_features, cfg.hidden, cfg.feature_dim, dropout=cfg.dropout)
        self.level2 = MLP(cfg.feature_dim + d, cfg.level2_hidden, (d, d, cfg.context_dim))
        self.flow2 = IAF(d, cfg.n_flows, cfg.flow_hidden, cfg.context_dim)
        self.reverse = MLP(d, cfg.reverse_hidden, (d, d))

    def _reverse_log_prob(self, z1, z2) -> torch.Tensor:
        loc, logvar = self.reverse(z2)
        return D.Normal(loc, torch.exp(0.5 * logvar), validate_args=False).log_prob(z1).sum(-1)

    def posterior(self, x, generator=None, heads=None):
        """``z = z2``; ``log q = log q(z1|x) + log q(z2|x,z1)``; ``extra = log r(z1|z2)``."""
        loc1, raw1, ctx1 = (heads if heads is not None else self.encoder(x))[:3]
        q1 = self._gaussian(loc1, raw1)
        e1 = loc1 + q1.scale * torch.randn(loc1.shape, generator=generator, device=loc1.device)
        z1, ld1 = self.flow1(e1, ctx1)
        loc2, raw2, ctx2 = self.level2(torch.cat([self.features(x), z1], dim=1))
        # reference: variance clipped >= 1e-6
        q2 = D.Normal(loc2, torch.exp(0.5 * raw2).clamp_min(1e-3), validate_args=False)
        e2 = loc2 + q2.scale * torch.randn(loc2.shape, generator=generator, device=loc2.device)
        z2, ld2 = self.flow2(e2, ctx2)
        log_q = q1.log_prob(e1).sum(-1) - ld1 + q2.log_prob(e2).sum(-1) - ld2
        return z2, log_q, self._reverse_log_prob(z1, z2)
