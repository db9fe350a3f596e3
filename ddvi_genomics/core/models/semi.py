"""Semi-supervised baselines: VAE-semi, IAF-VAE-semi and AAE-semi.

VAE-semi and IAF-VAE-semi add a class head and a class-partitioned prior; AAE-semi's
discriminator sees (z, class) pairs. DDVI-semi lives in :mod:`.ddvi_semi`.

VAE-semi and IAF-VAE-semi train with one of two objectives (``semi_objective``), the same two
as DDVI-semi (:mod:`.ddvi_semi`), so the semi-supervised families compare like for like.
With ``w_c`` the weight of class c for an example (the one-hot label for labelled examples,
``q(c|x)`` for unlabelled ones) and ``w_t`` the KL weight:

``"m2"`` (default), the objective of Kingma et al. (2014, "M2") with this family's posterior.
Every example's terms are averaged over the whole batch (labelled and unlabelled summed, not
averaged per group), the class term is ``KL(q(c|x) || Uniform) = log K - H(q(c|x))`` per
unlabelled example (entropy maximised), and the labelled cross-entropy has weight
``m2_cls_weight`` (M2's alpha)::

    loss = mean BCE + w_t [mean_i (log q(z_i|x_i) - p_weight sum_c w_ic log p(z_i|c)
                                   + [i unlabelled] KL(q(c|x_i) || U))
                           + m2_cls_weight * mean_labelled CE]

``"reference"``, the authors' ``VAE_semi`` / ``IAF_VAE_semi``: the prior term weighs
``log p(z | c)`` by the label or by ``q(c|x)`` with each group normalised by its size, with
``+0.001 H(q(c|x))`` inside the prior term (so the entropy is maximised), and ``cls_weight * w_t *
CE`` on labelled examples::

    loss = mean BCE + w_t [E log q(z|x) - p_weight (prior_term + 0.001 H)] + cls_weight w_t CE

With the authors' objective and weights the class heads stay near chance on MNIST with 1,000
labels (about 0.09-0.17 in the ``cpu`` profile): the cross-entropy's weight ``w_t = 0.01`` is
small beside the per-pixel reconstruction.

Their :meth:`elbo` is the bound of a model with a latent class, ``p(c) p(z|c) p(x|z)``::

    E_{q(z|x)} [log p(x|z) - log q(z|x)] + sum_c q(c|x) [log p(z|c) + log p(c) - log q(c|x)]
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import distributions as D

from ..config import check_choice
from ..data import UNLABELLED, as_label_tensor
from ..training import LossOutput, Phase, StepContext, kl_weight_at
from .aae import AAE, AAEConfig
from .ddvi_semi import SEMI_OBJECTIVES
from .iaf_vae import IAFVAE, IAFVAEConfig
from .vae import VAE, VAEConfig

#: M2's alpha per family, chosen on the digits with 100 labels (see the config fields).
M2_ALPHA = {"vae": 300.0, "iaf_vae": 100.0}


class _ClassHeadMixin:
    """Class head, label-aware prior term and the latent-class bound for VAE-type families."""

    def _encoder_heads(self):
        return (*super()._encoder_heads(), self.config.n_classes)

    @property
    def _m2(self) -> bool:
        return self.config.semi_objective == "m2"

    def _m2_terms(self, z, logits, labels):
        """``(prior_term, class_term, entropy)`` of the M2 objective, each a batch mean.

        ``z`` is (n, d), ``logits`` (n, K) and ``labels`` (n,) with -1 for unlabelled rows.
        ``prior_term = mean_i sum_c w_ic log p(z_i | c)`` with ``w_i`` the label's one-hot for
        labelled rows and ``q(c | x_i)`` for unlabelled ones; ``class_term = mean_i [i unlabelled]
        KL(q(c|x_i) || Uniform)``; ``entropy`` the mean ``H(q(c|x))`` over unlabelled rows (a
        logged diagnostic).
        """
        class_lp = self.prior.class_log_prob(z)  # (n, K)
        labelled = labels != UNLABELLED
        probs = torch.softmax(logits, 1)
        onehot = F.one_hot(labels.clamp_min(0), self.config.n_classes).to(probs.dtype)
        weights = torch.where(labelled[:, None], onehot, probs)  # (n, K)
        prior_term = (weights * class_lp).sum(1).mean()
        unl = (~labelled).to(z.dtype)
        entropy = D.Categorical(probs=probs, validate_args=False).entropy()
        class_term = ((math.log(self.config.n_classes) - entropy) * unl).mean()
        ent = (entropy * unl).sum() / unl.sum().clamp_min(1)
        return prior_term, class_term, ent

    def _prior_term(self, z, logits, labels):
        """``(prior_term, entropy)``: label- or q(c|x)-weighted ``log p(z|c)``, each group averaged."""
        class_lp = self.prior.class_log_prob(z)  # (n, K)
        # group means as masked sums (an empty group gives 0): no batch composition is read back
        lab = (labels != UNLABELLED).to(z.dtype)
        unl = 1.0 - lab
        labelled_lp = class_lp.gather(1, labels.clamp_min(0)[:, None])[:, 0]
        term = (labelled_lp * lab).sum() / lab.sum().clamp_min(1)
        probs = torch.softmax(logits, 1)
        term = term + ((probs * class_lp).sum(1) * unl).sum() / unl.sum().clamp_min(1)
        entropy = D.Categorical(probs=probs, validate_args=False).entropy()
        ent = (entropy * unl).sum() / unl.sum().clamp_min(1)
        return term, ent

    def _loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        x, labels = batch, ctx.labels
        heads = self.encoder(x)
        logits = heads[-1]
        z, log_q, _ = self.posterior(x, ctx.generator, heads=heads)
        rec = self._reconstruction(self.decoder(z), x)
        lab = (labels != UNLABELLED).to(logits.dtype)
        ce = F.cross_entropy(logits, labels.clamp_min(0), reduction="none")
        ce = (ce * lab).sum() / lab.sum().clamp_min(1)  # mean over the labelled rows, 0 if none
        w = kl_weight_at(
            ctx.epoch, ctx.n_epochs, cfg.kl_weight, cfg.kl_schedule, cfg.kl_warmup_fraction
        )
        if self._m2:
            prior_term, class_term, ent = self._m2_terms(z, logits, labels)
            reg = log_q.mean() - cfg.p_weight * prior_term + class_term
            loss = rec + w * (reg + cfg.m2_cls_weight * ce)
        else:
            prior_term, ent = self._prior_term(z, logits, labels)
            reg = log_q.mean() - cfg.p_weight * (prior_term + cfg.entropy_weight * ent)
            loss = rec + w * reg + cfg.cls_weight * w * ce
        return LossOutput(
            loss,
            {
                "rec": rec.detach(),
                "log_q": log_q.mean().detach(),
                "prior": prior_term.detach(),
                "ce": ce.detach(),
                "H": ent.detach(),
            },
        )

    def training_phases(self) -> list[Phase]:
        """As the unsupervised family (one optimiser); batch labels arrive as ``ctx.labels``."""
        return super().training_phases()

    def _training_data(self, x, labels):
        data = self._check_training_input(x)
        return data, as_label_tensor(labels, data.shape[0], self.config.n_classes)

    @torch.no_grad()
    def predict_classes(self, x, *, batch_size: int = 1024) -> torch.Tensor:
        """Argmax of the class head ``q(c|x)``, shape (n,), CPU."""
        data = self._check_input(x)
        return self._map_batches(data, lambda b: self.encoder(b)[-1].argmax(1), batch_size)

    @torch.no_grad()
    def elbo(
        self, x, *, n_samples: int = 1, generator=None, batch_size: int = 512
    ) -> torch.Tensor:
        """Latent-class bound (module docstring), nats, shape (n,), CPU."""
        data = self._check_input(x)
        K = self.config.n_classes

        def one(b):
            vals = []
            for _ in range(n_samples):
                heads = self.encoder(b)
                z, log_q, extra = self.posterior(b, generator, heads=heads)
                log_qc = torch.log_softmax(heads[-1], 1)
                class_part = (
                    log_qc.exp() * (self.prior.class_log_prob(z) - math.log(K) - log_qc)
                ).sum(1)
                vals.append(self.decoder(z).log_prob(b).sum(-1) + extra - log_q + class_part)
            return torch.stack(vals).mean(0)

        return self._map_batches(data, one, batch_size)


@dataclasses.dataclass(frozen=True)
class VAESemiConfig(VAEConfig):
    """Reference ``conf/model/vae_semi.yaml``."""

    n_classes: int = 10
    epochs: int = 50  # reference: vae_semi.yaml num_epochs
    kl_schedule: str = "constant"  # reference: vae_semi.yaml kld_schedule
    cls_weight: float = 1.0  # reference: vae_semi.yaml cls_weight
    entropy_weight: float = 0.001  # reference: + 0.001 H(cs) inside the prior term
    # "m2" (default): Kingma et al. (2014)'s objective, as DDVI-semi; "reference": the authors'
    semi_objective: str = "m2"
    # m2: M2's alpha, the labelled cross-entropy's weight inside the KL-weighted bracket. Chosen
    # on the digits with 100 labels over DDVI-semi's effective weights kl_weight x alpha in
    # {0.1, 1, 3, 10} (workflows/bench/semi_alpha.py; workflows/results/tuning/semi_alpha.md)
    m2_cls_weight: float = M2_ALPHA["vae"]

    def __post_init__(self):
        super().__post_init__()
        check_choice("semi_objective", self.semi_objective, SEMI_OBJECTIVES)


class VAESemi(_ClassHeadMixin, VAE):
    """Semi-supervised VAE (class head, class-partitioned prior)."""

    config_class = VAESemiConfig


@dataclasses.dataclass(frozen=True)
class IAFVAESemiConfig(IAFVAEConfig):
    """Reference ``conf/model/iaf_vae_semi.yaml``."""

    n_classes: int = 10
    epochs: int = 50
    kl_schedule: str = "constant"
    cls_weight: float = 1.0
    entropy_weight: float = 0.001
    semi_objective: str = "m2"  # as VAESemiConfig
    m2_cls_weight: float = M2_ALPHA["iaf_vae"]  # as VAESemiConfig

    def __post_init__(self):
        super().__post_init__()
        check_choice("semi_objective", self.semi_objective, SEMI_OBJECTIVES)


class IAFVAESemi(_ClassHeadMixin, IAFVAE):
    """Semi-supervised IAF-VAE."""

    config_class = IAFVAESemiConfig


@dataclasses.dataclass(frozen=True)
class AAESemiConfig(AAEConfig):
    """Reference ``conf/model/aae_semi.yaml``."""

    n_classes: int = 10
    prior_label_drop: float = 0.5  # reference: 50 % of the prior labels become "unlabelled"


def semi_discriminator_noise(epoch: int, n_epochs: int) -> float:
    """Return the reference AAE-semi noise schedule: ``0.1 * ((E - e - 1) // (E / 4))``."""
    return 0.1 * ((n_epochs - epoch - 1) // max(n_epochs / 4, 1))


class AAESemi(AAE):
    """AAE whose discriminator sees ``(z, one_hot(class))`` with an extra "unlabelled" token."""

    config_class = AAESemiConfig

    def _disc_input_dim(self) -> int:
        return self.config.latent_dim + self.config.n_classes + 1

    def _tokens(self, labels: torch.Tensor) -> torch.Tensor:
        K = self.config.n_classes
        return F.one_hot(torch.where(labels == UNLABELLED, K, labels), K + 1).float()

    def _set_noise(self, ctx: StepContext) -> None:
        self._noise = semi_discriminator_noise(ctx.epoch, ctx.n_epochs)

    def _rec_loss(self, batch, ctx):
        return super()._rec_loss(batch, ctx)

    def _disc_loss(self, batch, ctx) -> LossOutput:
        cfg = self.config
        x, labels = batch, ctx.labels
        self._set_noise(ctx)
        z = self.encoder(x).detach()
        n = x.shape[0]
        zp, c = self.prior.sample(n, generator=ctx.generator, return_classes=True)
        zp = zp.detach()
        drop = torch.rand(n, generator=ctx.generator, device=c.device) < cfg.prior_label_drop
        cp = torch.where(drop, torch.full_like(c, UNLABELLED), c).to(z.device)
        real = self.discriminate(torch.cat([zp, self._tokens(cp)], 1), ctx.generator)
        fake = self.discriminate(torch.cat([z, self._tokens(labels)], 1), ctx.generator)
        loss = -cfg.adv_weight * (F.logsigmoid(real).mean() + F.logsigmoid(-fake).mean())
        acc = 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean())
        return LossOutput(loss, {"d_loss": loss.detach(), "d_accuracy": acc.detach()})

    def _gen_loss(self, batch, ctx) -> LossOutput:
        self._set_noise(ctx)
        x, labels = batch, ctx.labels
        fake = self.discriminate(
            torch.cat([self.encoder(x), self._tokens(labels)], 1), ctx.generator
        )
        loss = -self.config.adv_weight * F.logsigmoid(fake).mean()
        return LossOutput(loss, {"g_loss": loss.detach()})

    def _training_data(self, x, labels):
        data = self._check_training_input(x)
        return data, as_label_tensor(labels, data.shape[0], self.config.n_classes)

    def discriminate(self, z, generator=None):
        """Logit of D on ``[z, class token]``; the noise perturbs the latent part only."""
        d = self.config.latent_dim
        if self.training and self._noise > 0:
            noise = torch.randn(z[:, :d].shape, generator=generator, device=z.device)
            z = torch.cat([z[:, :d] + z[:, :d].detach() * self._noise * noise, z[:, d:]], 1)
        return self.discriminator(z)[:, 0]
