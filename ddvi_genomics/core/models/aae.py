"""AAE baseline: deterministic encoder, adversarial matching of the aggregate posterior to p(z).

Three optimiser plans per batch (reference ``algorithms/aaes``, ``aae_vanilla``):

1. ``reconstruction`` on (Q, P): ``0.5 * MSE(E[x | Q(x)], x)``;
2. ``discriminator`` on D: ``-6 * mean[log D(z_p) + log(1 - D(Q(x)))]`` with ``z_p ~ p(z)``;
3. ``generator`` on Q: ``-6 * mean log D(Q(x))``.

D is an MLP on latent codes with relative Gaussian input noise whose scale follows the reference
schedule (0.3 in the first epoch, then ``max(0, 0.1 ((E - e - 1) // (E / 4) - 1))``). All three
Adam optimisers use lr 2e-4, divided by 10 at epoch 150 (``MultiStepLR``).

With a learnable prior (the genotype cluster heads, ``prior="learnable_mixture"``), a fourth plan
fits the prior to the batch's codes ``Q(x)`` (:func:`.base.prior_fit_loss`, as the VAE and DDVI
fit it to their posterior samples), so the AAE shares the cluster-head prior of the other
families: the reference's ``aae_dim`` (AAE with cluster heads) counterpart.

The AAE defines no likelihood bound: :meth:`AAE.elbo` raises and ``has_elbo`` is False.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, check_choice, check_positive
from ..nn import MLP, BernoulliDecoder, GaussianDecoder
from ..priors import canonical_prior_name, make_prior
from ..training import LossOutput, OptimiserPlan, Phase, StepContext
from .base import LatentVariableModel, has_learnable_prior, prior_fit_loss


@dataclasses.dataclass(frozen=True)
class AAEConfig(Config):
    """AAE hyperparameters (reference ``conf/model/aae_vanilla.yaml``, MNIST)."""

    latent_dim: int = 2
    prior: str = "pinwheel"
    likelihood: str = "bernoulli"  # decoder output range; the loss is MSE as the reference
    hidden: tuple[int, ...] = (1000, 1000)  # reference: get_q_and_p MNIST
    dropout: float = 0.2
    disc_hidden: tuple[int, ...] = (1000, 1000)  # reference: D = MLP(d -> 1000 -> 1000 -> 1)
    disc_dropout: float = 0.2  # reference: D dropout 0.2
    epochs: int = 200  # reference: 200 epochs on MNIST
    lr: float = 2e-4  # reference: all three optimisers
    lr_milestone: int = 150  # reference: MultiStepLR milestone 150, gamma 0.1
    batch_size: int = 128
    rec_weight: float = 0.5  # reference: 0.5 * MSE
    adv_weight: float = 6.0  # reference: factor 6 on both adversarial losses
    noise_start: float = 0.3  # reference: GaussianNoise sigma at construction
    prior_lr: float = 0.01  # learnable priors only: reference clustering head optimiser lr

    def __post_init__(self):
        canonical_prior_name(self.prior)
        check_choice("likelihood", self.likelihood, ("bernoulli", "gaussian"))
        check_positive("latent_dim", self.latent_dim)
        check_positive("epochs", self.epochs, allow_zero=True)


def discriminator_noise(epoch: int, n_epochs: int, start: float = 0.3) -> float:
    """Relative input-noise scale of the discriminator at an epoch (reference schedule)."""
    if epoch == 0:
        return start
    return max(0.0, 0.1 * ((n_epochs - epoch - 1) // max(n_epochs / 4, 1) - 1))


class AAE(LatentVariableModel):
    """Adversarial autoencoder (Makhzani et al. 2016) with the reference's optimiser plan."""

    config_class = AAEConfig
    has_elbo = False

    def __init__(
        self, n_features: int, config=None, *, encoder_body=None, decoder=None, **overrides
    ):
        super().__init__(n_features, config, **overrides)
        cfg = self.config
        d = cfg.latent_dim
        self.prior = make_prior(cfg.prior, d)
        if encoder_body is None:
            self.encoder = MLP(n_features, cfg.hidden, d, dropout=cfg.dropout)
        else:
            self.encoder = nn.Sequential(encoder_body, MLP(cfg.hidden[-1], [], d))
        if decoder is None:
            cls = BernoulliDecoder if cfg.likelihood == "bernoulli" else GaussianDecoder
            decoder = cls(d, cfg.hidden, n_features, dropout=cfg.dropout)
        self.decoder = decoder
        self.discriminator = MLP(
            self._disc_input_dim(), cfg.disc_hidden, 1, dropout=cfg.disc_dropout
        )
        self._noise = cfg.noise_start

    def _disc_input_dim(self) -> int:
        return self.config.latent_dim

    def discriminate(self, z: torch.Tensor, generator=None) -> torch.Tensor:
        """Logit of D (n,), with relative Gaussian input noise while training."""
        if self.training and self._noise > 0:
            z = z + z.detach() * self._noise * torch.randn(
                z.shape, generator=generator, device=z.device
            )
        return self.discriminator(z)[:, 0]

    def _set_noise(self, ctx: StepContext) -> None:
        # each loss that uses the discriminator sets it from the context itself, so that a
        # recorded step (compile="cuda-graph") is keyed on the epoch it depends on
        self._noise = discriminator_noise(ctx.epoch, ctx.n_epochs, self.config.noise_start)

    def _rec_loss(self, x, ctx) -> LossOutput:
        self._set_noise(ctx)
        rec = self.config.rec_weight * F.mse_loss(self.decoder(self.encoder(x)).mean, x)
        return LossOutput(rec, {"rec": rec.detach()})

    def _disc_loss(self, x, ctx) -> LossOutput:
        self._set_noise(ctx)
        z = self.encoder(x).detach()
        zp = self.prior.sample(x.shape[0], generator=ctx.generator).detach()
        real, fake = self.discriminate(zp, ctx.generator), self.discriminate(z, ctx.generator)
        loss = -self.config.adv_weight * (F.logsigmoid(real).mean() + F.logsigmoid(-fake).mean())
        acc = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
        return LossOutput(loss, {"d_loss": loss.detach(), "d_accuracy": acc.detach()})

    def _gen_loss(self, x, ctx) -> LossOutput:
        self._set_noise(ctx)
        fake = self.discriminate(self.encoder(x), ctx.generator)
        loss = -self.config.adv_weight * F.logsigmoid(fake).mean()
        return LossOutput(loss, {"g_loss": loss.detach()})

    def training_phases(self) -> list[Phase]:
        """Reconstruction, discriminator and generator plans, each with its own Adam."""
        cfg = self.config

        def decay(epoch):
            return 0.1 if epoch >= cfg.lr_milestone else 1.0

        plans = [
            OptimiserPlan(
                "reconstruction",
                [self.encoder, self.decoder],
                self._rec_loss,
                cfg.lr,
                lr_factor=decay,
            ),
            OptimiserPlan(
                "discriminator", [self.discriminator], self._disc_loss, cfg.lr, lr_factor=decay
            ),
            OptimiserPlan("generator", [self.encoder], self._gen_loss, cfg.lr, lr_factor=decay),
        ]
        if has_learnable_prior(self):
            plans.append(OptimiserPlan("prior", [self.prior], self._prior_loss, cfg.prior_lr))
        return [Phase("train", plans, cfg.epochs, cfg.batch_size)]

    def _prior_loss(self, x, ctx) -> LossOutput:
        """Learnable prior: fitted to the batch's codes ``Q(x)`` (no gradient to the encoder)."""
        with torch.no_grad():
            z = self.encoder(x)
        return LossOutput(*prior_fit_loss(self.prior, z))

    # -- inference ------------------------------------------------------------------------------

    deterministic_encoder = True

    def draw_latent(self, x, generator=None) -> torch.Tensor:
        """Return the deterministic code ``Q(x)``, shape (n, d)."""
        return self.encoder(x)

    def elbo(self, x, **kwargs):
        """Not defined: the AAE has a deterministic encoder and no likelihood bound."""
        raise ValueError(
            "the AAE defines no evidence lower bound (deterministic encoder, adversarial "
            "prior matching); report ELBO as not applicable"
        )
