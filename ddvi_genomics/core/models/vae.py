"""VAE baseline: Gaussian posterior, a non-Gaussian prior by exact density or KDE.

The reference's objective (``algorithms/vaes/vanilla_vae.py``)::

    loss = mean BCE(P(z), x) + w_t * [E log q(z|x) - p_weight * E log p(z)]

with ``w_t`` the KL weight (linear warm-up over 80 % of training) and ``p_weight`` the prior
weight (5 for the VAE). ``log q`` is the correct Gaussian log-density here (the reference has
``log v`` where ``1/2 log v`` belongs and 3.14 for pi; github.com/topwasu/DDVI).
:meth:`VAE.elbo` is the exact single-sample bound ``log p(x|z) + log p(z) - log q(z|x)`` summed
over data dimensions, on the same scale as every other family.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import distributions as D

from ..config import Config, check_choice, check_positive
from ..nn import MLP, BernoulliDecoder, GaussianDecoder
from ..priors import canonical_prior_name, make_prior
from ..training import KL_SCHEDULES, LossOutput, OptimiserPlan, Phase, StepContext, kl_weight_at
from .base import LatentVariableModel, has_learnable_prior, prior_fit_loss

LIKELIHOODS = ("bernoulli", "gaussian")
VARIANCES = ("sigmoid", "logvar")


@dataclasses.dataclass(frozen=True)
class VAEConfig(Config):
    """Hyperparameters of the VAE baseline (reference ``conf/model/vae.yaml``, MNIST)."""

    latent_dim: int = 2  # reference: latent_size
    prior: str = "pinwheel"
    likelihood: str = "bernoulli"  # reference: BCE for MNIST, MSE otherwise
    decoder_scale: float = 1.0
    hidden: tuple[int, ...] = (1000, 1000)  # reference: get_q_and_p MNIST
    dropout: float = 0.2  # reference: MultiWayLinear dropout
    variance: str = "sigmoid"  # reference: q variance = sigmoid(head), so variance < 1
    epochs: int = 200  # reference: vae.yaml num_epochs
    lr: float = 1e-4  # reference: vae.yaml lr
    batch_size: int = 128  # reference: vae.yaml batch_size
    kl_weight: float = 0.01  # reference: vae.yaml kld_weight
    kl_schedule: str = "linear"  # reference: vae.yaml kld_schedule
    kl_warmup_fraction: float = 0.8  # reference: get_kld_weights ramp over 80 % of epochs
    p_weight: float = 5.0  # reference: vae.yaml p_weight
    prior_lr: float = 0.01  # learnable priors only: reference clustering head optimiser lr

    def __post_init__(self):
        canonical_prior_name(self.prior)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("variance", self.variance, VARIANCES)
        check_choice("kl_schedule", self.kl_schedule, KL_SCHEDULES)
        for name in ("latent_dim", "batch_size", "lr"):
            check_positive(name, getattr(self, name))
        check_positive("epochs", self.epochs, allow_zero=True)


class VAE(LatentVariableModel):
    """Variational autoencoder with a Gaussian posterior (the reference's AEVB baseline).

    Parameters
    ----------
    n_features : int
    config : VAEConfig, optional
    encoder_body : nn.Module, optional
        Feature extractor for images (e.g. a conv stack) whose output width is ``hidden[-1]``.
    decoder : nn.Module, optional
        ``z -> Distribution``.
    **overrides
        Config fields.
    """

    config_class = VAEConfig
    has_elbo = True

    def __init__(
        self, n_features: int, config=None, *, encoder_body=None, decoder=None, **overrides
    ):
        super().__init__(n_features, config, **overrides)
        cfg = self.config
        d = cfg.latent_dim
        self.prior = make_prior(cfg.prior, d)
        heads = self._encoder_heads()
        if encoder_body is None:
            self.encoder = MLP(n_features, cfg.hidden, heads, dropout=cfg.dropout)
        else:
            self.encoder = torch.nn.Sequential(encoder_body, MLP(cfg.hidden[-1], [], heads))
        if decoder is None:
            cls = BernoulliDecoder if cfg.likelihood == "bernoulli" else GaussianDecoder
            extra = {"scale": cfg.decoder_scale} if cfg.likelihood == "gaussian" else {}
            decoder = cls(d, cfg.hidden, n_features, dropout=cfg.dropout, **extra)
        self.decoder = decoder
        self._build_extra()

    # -- hooks for subclasses --------------------------------------------------------------------

    def _encoder_heads(self) -> tuple[int, ...]:
        d = self.config.latent_dim
        return (d, d)

    def _build_extra(self) -> None:
        """Build family-specific modules (flows, second level)."""

    def _gaussian(self, loc: torch.Tensor, raw: torch.Tensor) -> D.Normal:
        if self.config.variance == "sigmoid":
            return D.Normal(loc, torch.sigmoid(raw).sqrt() + 1e-6, validate_args=False)
        return D.Normal(loc, torch.exp(0.5 * raw), validate_args=False)

    def posterior(
        self, x: torch.Tensor, generator=None, heads=None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw ``z ~ q(z|x)``; return ``(z, log q(z|x), extra)`` with shapes (n, d), (n,), (n,).

        ``extra`` holds additional log-density terms of the bound (0 for the plain VAE).
        ``heads`` reuses an encoder output computed by the caller.
        """
        loc, raw = (heads if heads is not None else self.encoder(x))[:2]
        q = self._gaussian(loc, raw)
        z = loc + q.scale * torch.randn(loc.shape, generator=generator, device=loc.device)
        return z, q.log_prob(z).sum(-1), torch.zeros_like(loc[:, 0])

    # -- losses ---------------------------------------------------------------------------------

    def _reconstruction(self, px, x) -> torch.Tensor:
        if self.config.likelihood == "bernoulli":
            return -px.log_prob(x).mean()
        return (px.mean - x).square().mean()

    def _regulariser(self, log_q, extra, log_pz) -> torch.Tensor:
        """``E log q - p_weight * E log p`` (``extra`` enters like a prior term)."""
        return (log_q - self.config.p_weight * (log_pz + extra)).mean()

    def _loss(self, x: torch.Tensor, ctx: StepContext) -> LossOutput:
        cfg = self.config
        z, log_q, extra = self.posterior(x, ctx.generator)
        rec = self._reconstruction(self.decoder(z), x)
        log_pz = self.prior.log_prob(z)
        weight = kl_weight_at(
            ctx.epoch, ctx.n_epochs, cfg.kl_weight, cfg.kl_schedule, cfg.kl_warmup_fraction
        )
        reg = self._regulariser(log_q, extra, log_pz)
        return LossOutput(
            rec + weight * reg,
            {
                "rec": rec.detach(),
                "log_q": log_q.mean().detach(),
                "log_pz": log_pz.mean().detach(),
                "kl_weight": weight,
            },
        )

    def training_phases(self) -> list[Phase]:
        """One phase: an Adam optimiser over every network (plus one for a learnable prior)."""
        cfg = self.config
        modules = [m for m in self.children() if m is not self.prior]
        plans = [OptimiserPlan("elbo", modules, self._loss, lr=cfg.lr)]
        if has_learnable_prior(self):
            plans.append(OptimiserPlan("prior", [self.prior], self._prior_loss, lr=cfg.prior_lr))
        return [Phase("train", plans, cfg.epochs, cfg.batch_size)]

    def _prior_loss(self, x, ctx: StepContext) -> LossOutput:
        with torch.no_grad():
            z = self.posterior(x, ctx.generator)[0]
        return LossOutput(*prior_fit_loss(self.prior, z))

    # -- inference ------------------------------------------------------------------------------

    def draw_latent(self, x, generator=None) -> torch.Tensor:
        """One draw ``z ~ q(z | x)``, shape (n, d)."""
        return self.posterior(x, generator)[0]

    @torch.no_grad()
    def elbo(
        self, x, *, n_samples: int = 1, generator=None, batch_size: int = 512
    ) -> torch.Tensor:
        """Per-example bound ``log p(x|z) + log p(z) + extra - log q`` in nats, shape (n,), CPU."""
        data = self._check_input(x)

        def one(b):
            vals = []
            for _ in range(n_samples):
                z, log_q, extra = self.posterior(b, generator)
                vals.append(
                    self.decoder(z).log_prob(b).sum(-1) + self.prior.log_prob(z) + extra - log_q
                )
            return torch.stack(vals).mean(0)

        return self._map_batches(data, one, batch_size)
