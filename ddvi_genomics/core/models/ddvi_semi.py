"""Semi-supervised DDVI (reference ``diff_vae_semi`` then ``diff_vae_warmup_semi``).

The prior is split into K class pieces ``p(z | c)`` (pinwheel spokes, swiss-roll slices, square
segments), the encoder adds a class head ``q(c | x)``, and there is one x-conditioned reverse
diffusion per class. All K diffusions run in **one batched pass** (:class:`ClassBatchedEpsilonNet`),
not a Python loop over classes.

Per batch, with ``w_c`` the weight of class c for an example (the one-hot label for labelled
examples, ``q(c|x)`` for unlabelled ones; each group normalised by its size)::

    wake = sum_c w_c [rec(x, z_c) + kl_weight * prior_weight * (-log p(z_c)) + diff_weight * Huber_c]
           + kl_weight * [KL(q(y|x) || N(0, I)) + entropy_weight * H(q(c|x))]
           + kl_weight * cls_weight * CE(q(c|x), labels)            (cls_weight 0 in the reference)
    sleep (sleep_steps per batch): one random class c, z ~ p(z|c), train diffusion c to denoise z
           given Q2(E[x|z])

Two objectives (``semi_objective``):

``"m2"`` (default), the semi-supervised objective of Kingma et al. (2014, "M2") with DDVI's
posterior: every example's terms are averaged over the whole batch (labelled and unlabelled terms
summed, not averaged per group); the class term is ``KL(q(c|x) || Uniform) = -H(q(c|x)) + log K``
with the weight of the other KL terms, so the entropy is *maximised*; ``log p(z_c | c)`` is the
class-conditional prior in training as in :meth:`DDVISemi.elbo`; and the supervised
cross-entropy on labelled examples (weight ``m2_cls_weight``, M2's alpha) is kept in every stage.

``"reference"``: the authors' code. Groups are averaged separately, ``+entropy_weight * H`` is
minimised, stage 2 trains on the all-class KDE (``semi_prior``) with ``cls_weight`` 0. With these
settings the class head is driven by nothing but the entropy penalty in stage 2; on the digits
with 100 labels its accuracy falls from about 0.9 after stage 1 to chance (see the tests).

Differences from the reference, deliberately: the reconstruction is normalised by the product of
the data dimensions (the reference divides by their sum, 67 instead of 3,072 on CIFAR), and the
cross-entropy term is available (``cls_weight``). ``semi_prior="all"`` uses the all-class KDE for
``log p(z_c)`` as the reference's training does; ``"class"`` uses ``log p(z_c | c)``.

Labels are passed to :meth:`DDVISemi.fit` with :data:`~ddvi_genomics.core.data.UNLABELLED` (-1)
for unlabelled examples (see :func:`~ddvi_genomics.core.data.mask_labels`).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import distributions as D

from ..config import check_choice
from ..data import UNLABELLED, as_label_tensor
from ..diffusion import denoising_loss
from ..nn import ClassBatchedEpsilonNet, GaussianEncoder
from ..priors import canonical_prior_name
from ..training import LossOutput, StepContext
from .base import has_learnable_prior
from .ddvi import DDVI, DDVIConfig, _kl_standard_normal, guard_folding

SEMI_OBJECTIVES = ("m2", "reference")


@dataclasses.dataclass(frozen=True)
class DDVISemiConfig(DDVIConfig):
    """Semi-supervised DDVI; defaults are the reference MNIST ``*_semi`` configs."""

    n_classes: int = 10  # reference: dataset n_classes
    prior_steps: int = 100  # reference: diff_vae_semi.yaml T
    n_steps: int = 100  # reference: diff_vae_warmup_semi.yaml T
    stage1_epochs: int = 50  # reference: diff_vae_semi.yaml num_epochs
    stage1_kl_weight: float = 0.1  # reference: diff_vae_semi.yaml kld_weight (0.5 for CIFAR)
    stage1_cls_weight: float = 1.0  # reference: diff_vae_semi.yaml cls_weight
    epochs: int = 50  # reference: diff_vae_warmup_semi.yaml num_epochs
    batch_size: int = 1024  # reference: *_semi batch_size
    kl_weight: float = 0.1  # reference: diff_vae_warmup_semi.yaml kld_weight
    sleep_steps: int = 30  # reference: diff_vae_warmup_semi.yaml diff_ct
    entropy_weight: float = 0.001  # reference: 0.001 * H(cs), minimised in the DDVI semi models
    cls_weight: float = 0.0  # reference: stage 2 drops the cross-entropy term
    semi_prior: str = "all"  # reference: all-class KDE in stage-2 training
    # "m2" (default): Kingma et al. (2014)'s objective, which learns its classes; "reference": the
    # authors' code, whose class head collapses in stage 2 (see the module docstring)
    semi_objective: str = "m2"
    # m2: weight of the labelled cross-entropy (inside the KL-weighted bracket) in every stage,
    # M2's alpha. Chosen from {1, 10, 30, 100} on the digits with 100 labels (seeds 0-2; class-head
    # accuracy after stage 2: 0.10, 0.88, 0.89-0.91, 0.89-0.91): at 1 the head collapses in stage 2
    m2_cls_weight: float = 30.0

    def __post_init__(self):
        super().__post_init__()
        check_choice("semi_prior", self.semi_prior, ("all", "class"))
        check_choice("semi_objective", self.semi_objective, SEMI_OBJECTIVES)
        if self.objective != "reference":
            raise ValueError(
                "objective='elbo' is not available for the semi-supervised DDVI; use 'reference'"
            )


class DDVISemi(DDVI):
    """Semi-supervised DDVI with a class head and K class-wise reverse diffusions (batched)."""

    config_class = DDVISemiConfig

    def __init__(
        self,
        n_features: int,
        config=None,
        *,
        encoder=None,
        decoder=None,
        context_net=None,
        **overrides,
    ):
        base = config if config is not None else DDVISemiConfig()
        cfg = base.replace(**overrides) if overrides else base
        if encoder is None:
            encoder = GaussianEncoder(
                n_features,
                cfg.hidden,
                cfg.latent_dim,
                dropout=cfg.dropout,
                n_classes=cfg.n_classes,
            )
        super().__init__(
            n_features, cfg, encoder=encoder, decoder=decoder, context_net=context_net
        )
        if self.prior.n_classes != cfg.n_classes:
            raise ValueError(
                f"prior {cfg.prior!r} has {self.prior.n_classes} classes; n_classes is {cfg.n_classes}"
            )
        K, d = cfg.n_classes, cfg.latent_dim
        # one prior diffusion G_c (stage 1) and one posterior diffusion G2_c (stage 2) per class
        self.prior_denoiser = ClassBatchedEpsilonNet(
            K, d, cfg.prior_steps, hidden=cfg.denoiser_hidden
        )
        self.denoiser = ClassBatchedEpsilonNet(
            K, d, cfg.n_steps, cfg.context_dim, hidden=cfg.denoiser_hidden
        )

    def _prior_options(self) -> dict:
        """Return one learnable-mixture component per class (the classes are its components)."""
        if canonical_prior_name(self.config.prior) == "learnable_mixture":
            return {"n_components": self.config.n_classes}
        return {}

    # -- helpers --------------------------------------------------------------------------------

    @property
    def _m2(self) -> bool:
        return self.config.semi_objective == "m2"

    def _class_weights(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``w`` of shape (K, n): the label's one-hot for labelled examples, ``q(c|x)`` otherwise.

        ``m2``: divided by the batch size (one mean over all examples). ``reference``: labelled
        and unlabelled groups divided by their own sizes.
        """
        labelled = labels != UNLABELLED
        probs = torch.softmax(logits, dim=1)
        onehot = F.one_hot(labels.clamp_min(0), self.config.n_classes).to(probs.dtype)
        if self._m2:
            return torch.where(labelled[:, None], onehot, probs).T / max(len(labels), 1)
        # group sizes stay on the device (no read-back per step); an empty group weighs nothing
        n_lab = labelled.sum().clamp_min(1).to(probs.dtype)
        n_unl = (~labelled).sum().clamp_min(1).to(probs.dtype)
        w = torch.where(labelled[:, None], onehot / n_lab, probs / n_unl)
        return w.T

    def _class_term(self, logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """``(term, H)``: the class part of the loss (before the KL weight) and the entropy.

        ``m2``: ``sum_unlabelled KL(q(c|x) || U) / n = -H + log K`` per unlabelled example.
        ``reference``: ``+entropy_weight * H`` over the unlabelled examples.
        """
        ent = self._entropy(logits, labels)
        if not self._m2:
            return self.config.entropy_weight * ent, ent
        unl = labels == UNLABELLED
        share = unl.float().mean()  # unlabelled fraction: the batch mean of a per-example term
        return share * (math.log(self.config.n_classes) - ent), ent

    def _rec_per_class(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-(class, example) reconstruction, mean over data dimensions; shape (K, n)."""
        K, n, d = z.shape
        px = self.decoder(z.reshape(K * n, d))
        xs = x.repeat(K, 1)
        if self.config.likelihood == "bernoulli":
            per = -px.log_prob(xs)
        else:
            per = (px.mean - xs).square()
        return per.mean(-1).reshape(K, n)

    def _entropy(self, logits, labels) -> torch.Tensor:
        """Mean entropy of ``q(c|x)`` over the unlabelled examples (0 when there are none)."""
        unl = (labels == UNLABELLED).to(logits.dtype)
        entropy = D.Categorical(logits=logits, validate_args=False).entropy()
        return (entropy * unl).sum() / unl.sum().clamp_min(1)

    def _ce(self, logits, labels) -> torch.Tensor:
        """Mean cross-entropy over the labelled examples (0 when there are none)."""
        lab = (labels != UNLABELLED).to(logits.dtype)
        ce = F.cross_entropy(logits, labels.clamp_min(0), reduction="none")
        return (ce * lab).sum() / lab.sum().clamp_min(1)

    def _log_prior(self, z: torch.Tensor) -> torch.Tensor:
        K, n, d = z.shape
        if self.config.semi_prior == "all" and not self._m2:
            return self.prior.log_prob(z.reshape(K * n, d)).reshape(K, n)
        return self.prior.paired_class_log_prob(z)  # log p(z_c | c), shape (K, n)

    # -- losses ---------------------------------------------------------------------------------

    def _prior_diffusion_loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        z = torch.stack(
            [
                self.prior.sample(
                    ctx.local_rows(cfg.prior_pretrain_batch), generator=ctx.generator, classes=c
                )
                for c in range(cfg.n_classes)
            ]
        ).detach()  # (K, B, d): all classes at once
        loss = self.prior_diffusion.epsilon_loss(
            self.prior_denoiser, z, loss=cfg.denoising_loss, generator=ctx.generator
        ).mean()
        return LossOutput(loss, {"diff": loss.detach()})

    def _stage1_loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        x, labels = batch, ctx.labels
        qy, logits = self.encoder.classify(x)
        y = self._sample_y(qy, ctx.generator)
        z = self.prior_diffusion.reverse_chain(
            self.prior_denoiser, y.expand(cfg.n_classes, *y.shape)
        )[-1]
        w = self._class_weights(logits, labels)
        rec = (w * self._rec_per_class(z, x)).sum()
        kl, ce = _kl_standard_normal(qy).mean(), self._ce(logits, labels)
        class_term, ent = self._class_term(logits, labels)
        cls_weight = cfg.m2_cls_weight if self._m2 else cfg.stage1_cls_weight
        loss = rec + cfg.stage1_kl_weight * (kl + class_term + cls_weight * ce)
        return LossOutput(
            loss, {"rec": rec.detach(), "kl": kl.detach(), "ce": ce.detach(), "H": ent.detach()}
        )

    def _wake_loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        x, labels = batch, ctx.labels
        qy, logits = self.encoder.classify(x)
        y = self._sample_y(qy, ctx.generator)
        context = self.context_net(x)
        states = self.diffusion.reverse_chain(
            self.denoiser, y.expand(cfg.n_classes, *y.shape), context
        )
        z = states[-1]  # (K, n, d): one posterior sample per class, all classes in one pass
        if has_learnable_prior(self):  # the prior-fit step's q(z|x): the class head's pick
            self.wake_sample.keep(z[logits.argmax(1), torch.arange(x.shape[0], device=x.device)])
        w = self._class_weights(logits, labels)
        rec = (w * self._rec_per_class(z, x)).sum()
        neg_log_pz = (w * -self._log_prior(z)).sum()
        chain = torch.stack(states[::-1])  # chain[i] = y^(i), shape (T + 1, K, n, d)
        k = self.diffusion.random_steps(z.shape[:2], ctx.generator, x.device)  # (K, n)
        target = self.diffusion.q_posterior(z, _take_state(chain, k + 1), k)[0]
        diff = (w * denoising_loss(_take_state(chain, k), target, cfg.denoising_loss)).sum()
        kl, ce = _kl_standard_normal(qy).mean(), self._ce(logits, labels)
        class_term, ent = self._class_term(logits, labels)
        cls_weight = cfg.m2_cls_weight if self._m2 else cfg.cls_weight
        loss = (
            rec
            + cfg.diff_weight * diff
            + cfg.kl_weight * (kl + class_term + cfg.prior_weight * neg_log_pz + cls_weight * ce)
        )
        return LossOutput(
            loss,
            {
                "rec": rec.detach(),
                "kl": kl.detach(),
                "neg_log_pz": neg_log_pz.detach(),
                "diff": diff.detach(),
                "ce": ce.detach(),
                "H": ent.detach(),
            },
        )

    def _sleep_choice(self, ctx: StepContext) -> int:
        """Class of this sleep step, drawn on the host stream (the sleep plan's ``choose``).

        Choosing class c's diffusion needs a Python int, which a draw on the device would have to
        be read back for (a wait per sleep step); as the plan's choice, a recorded step keeps one
        CUDA graph per class.
        """
        return int(ctx.host_rng.integers(self.config.n_classes))

    def _sleep_loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        # fit sets the choice before the step; a context built by hand draws it here
        c = self._sleep_choice(ctx) if ctx.choice is None else ctx.choice
        z = self.prior.sample(
            ctx.local_rows(cfg.batch_size), generator=ctx.generator, classes=c
        ).detach()
        with torch.no_grad():
            x_fantasy = self.decoder(z).mean
        context = self.context_net(x_fantasy)

        def eps_model(y, k, ctx_):
            k_ = k if isinstance(k, int) else k[None]
            return self.denoiser(y[None], k_, ctx_, classes=[c])[0]

        diff = self.diffusion.epsilon_loss(
            eps_model, z, context, loss=cfg.denoising_loss, generator=ctx.generator
        ).mean()
        return LossOutput(cfg.sleep_weight * diff, {"diff": diff.detach()})

    def _stage1_modules(self) -> list:
        """Return the stage-1 modules: encoder and decoder (G frozen, ``endtoend False``)."""
        return [self.encoder, self.decoder]

    def _training_data(self, x, labels):
        if labels is None:
            raise ValueError(
                "the semi-supervised DDVI needs labels (use -1 for unlabelled examples)"
            )
        data = self._check_training_input(x)
        return data, as_label_tensor(labels, data.shape[0], self.config.n_classes)

    # -- inference ------------------------------------------------------------------------------

    def posterior_chain(self, x, generator=None, *, stochastic=None, classes=None):
        """``q(z|x)`` through the diffusion of ``classes`` (default: argmax of the class head)."""
        qy, logits = self.encoder.classify(x)
        cls = logits.argmax(1) if classes is None else classes
        y = self._sample_y(qy, generator)
        context = self.context_net(x)
        states = self.diffusion.reverse_chain(
            self.denoiser, y.expand(self.config.n_classes, *y.shape), context
        )
        rows = torch.arange(x.shape[0], device=x.device)
        return qy, context, [s[cls, rows] for s in states]

    @torch.no_grad()
    def predict_proba(self, x, *, batch_size: int = 1024) -> torch.Tensor:
        """Class probabilities ``q(c|x)`` of the class head (eval mode), shape (n, K), CPU."""
        data = self._check_input(x)
        return self._map_batches(
            data, lambda b: torch.softmax(self.encoder.classify(b)[1], dim=1), batch_size
        )

    @torch.no_grad()
    def predict_classes(self, x, *, batch_size: int = 1024) -> torch.Tensor:
        """Argmax of the class head ``q(c|x)``, shape (n,), CPU."""
        data = self._check_input(x)
        return self._map_batches(data, lambda b: self.encoder.classify(b)[1].argmax(1), batch_size)

    def elbo(
        self, x, *, n_samples: int = 1, generator=None, batch_size: int = 256
    ) -> torch.Tensor:
        """Bound with a latent class: ``sum_c q(c|x) ELBO_c(x) - KL(q(c|x) || Uniform)`` (nats, (n,)).

        ``ELBO_c`` is the push-forward bound of :meth:`DDVI.elbo` through class c's diffusion with
        the class-conditional prior density ``log p(z | c)``.
        """
        data = self._check_input(x)
        signs: list[torch.Tensor] = []

        def one(b):
            vals = []
            for _ in range(n_samples):
                value, sign = self._class_elbo(b, generator)
                vals.append(value)
                signs.append(sign.cpu())
            return torch.stack(vals).mean(0)

        bound = self._map_batches(data, one, batch_size)
        return guard_folding(bound, torch.cat(signs, dim=1))

    def _class_elbo(self, x, generator) -> torch.Tensor:
        K = self.config.n_classes
        with torch.enable_grad():
            qy, logits = self.encoder.classify(x)
            context = self.context_net(x).detach()
            y = self._sample_y(qy, generator).detach()
            yk = y.expand(K, *y.shape).clone().requires_grad_(True)
            z = self.diffusion.reverse_chain(self.denoiser, yk, context)[-1]  # (K, n, d)
            rows = [
                torch.autograd.grad(z[..., i].sum(), yk, retain_graph=True)[0]
                for i in range(z.shape[-1])
            ]
        sign, log_det = torch.linalg.slogdet(torch.stack(rows, dim=-2))  # (K, n) each
        with torch.no_grad():
            z = z.detach()
            n, d = x.shape[0], z.shape[-1]
            log_px = (
                self.decoder(z.reshape(K * n, d)).log_prob(x.repeat(K, 1)).sum(-1).reshape(K, n)
            )
            log_pz = self.prior.paired_class_log_prob(z)  # (K, n)
            elbo_c = log_px + log_pz - qy.log_prob(y).sum(-1) + log_det
            q_c = torch.softmax(logits.detach(), 1).T  # (K, n)
            log_q_c = torch.log_softmax(logits.detach(), 1).T
            return (q_c * (elbo_c - log_q_c - math.log(K))).sum(0), sign


def _take_state(chain: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``chain[index[c, i], c, i]`` for a chain (T + 1, K, n, d) and indices (K, n); shape (K, n, d)."""
    return torch.gather(chain, 0, index[None, ..., None].expand(1, *chain.shape[1:]))[0]
