"""DDVI: denoising diffusion variational inference (Piriyakulkij, Wang & Kuleshov, AAAI 2025).

Generative model ``p(z) p_theta(x | z)``. The approximate posterior starts from a Gaussian
auxiliary variable ``y^(T) ~ q_phi(y^(T) | x)`` and refines it into ``z = y^(0)`` with a learned,
x-conditioned reverse diffusion ``q_phi(y^(k) | y^(k+1), x)`` whose noise predictor G2 sees the
context ``c = Q2(x)``. The forward (noising) process ``r(y | z)`` is a Gaussian diffusion.

One :meth:`DDVI.fit` runs the reference's whole recipe (topwasu/DDVI ``diff_vae`` then
``diff_vae_warmup``), with no checkpoint folders between stages:

1. ``prior_diffusion``: pre-train an unconditional noise predictor G (T1 = 20) on prior samples.
2. ``stage1`` (``diff_vae``): ``z = DDIM_G(y)``, loss = reconstruction + 0.01 KL(q(y|x) || N(0, I))
   + the denoising loss of G on fresh prior samples; updates encoder Q, decoder P and G.
3. ``stage2`` (``diff_vae_warmup``, the model the paper calls DDVI): per batch one *wake* step on
   (P, Q, Q2, G2), with P frozen for the first 30 % of epochs, then ``sleep_steps`` *sleep* steps on
   (Q2, G2): draw ``z ~ p(z)``, decode ``x~ = E[x | z]``, and train G2 to denoise z given
   ``Q2(x~)``. Wake and sleep have separate Adam optimisers (the reference shares state by
   accident in the authors' code, github.com/topwasu/DDVI).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import distributions as D
from torch import nn

from ..config import Config, check_choice, check_positive
from ..data import HostRows
from ..diffusion import (
    DENOISING_LOSSES,
    SCHEDULES,
    GaussianDiffusion,
    denoising_loss,
    gaussian_log_prob,
)
from ..nn import MLP, BernoulliDecoder, EpsilonNet, GaussianDecoder, GaussianEncoder
from ..priors import PRIOR_NAMES, canonical_prior_name, make_prior
from ..training import LossOutput, OptimiserPlan, Phase, StepContext, epochs_to_frozen_until
from .base import LatentVariableModel, WakeSample, has_learnable_prior, prior_fit_loss

OBJECTIVES = ("reference", "elbo")
LIKELIHOODS = ("bernoulli", "gaussian")


@dataclasses.dataclass(frozen=True)
class DDVIConfig(Config):
    """Hyperparameters of DDVI; defaults are the reference's MNIST unsupervised setting.

    ``objective`` selects the stage-2 wake loss:

    * ``"reference"`` (default) reproduces the authors' code: the reverse chain is the
      deterministic DDIM map, and the denoising-matching term is an unweighted Huber loss between
      a chain state ``y^(k)`` and the forward-posterior mean ``mu_tilde_k(z, y^(k+1))`` at one random
      k per example. The loss is ``mean BCE + kl_weight * [KL(q(y^(T)|x) || N(0, I)) -
      prior_weight * log p(z)] + diff_weight * Huber``. It is a regularised surrogate, not a bound.
    * ``"elbo"`` makes each reverse step stochastic, ``N(mu_phi, btilde_k)`` (``beta_0`` at the last
      step), and minimises the exact auxiliary-variable bound per data dimension::

          ELBO = log p(x|z) + log p(z) + log r(y^(T)|z) + sum_{k=1}^{T-1} log r(y^(k)|y^(k+1), z)
                 - log q(y^(T)|x) - sum_{k=0}^{T-1} log q(y^(k)|y^(k+1), x)

      estimated with one reparameterised sample of the whole chain, so it is a true lower bound
      on log p(x) (``log r(y^(T)|z)`` is used instead of the reference's N(0, I), which the short
      linear schedule does not reach). ``kl_weight``, ``prior_weight`` and ``diff_weight`` do not
      apply to it.

    Both objectives share prior pre-training, stage 1 and the sleep term.
    """

    latent_dim: int = 2  # reference: conf/model/diff_vae_warmup.yaml latent_size
    prior: str = "pinwheel"  # reference: run.sh third argument
    likelihood: str = "bernoulli"  # reference: VAE.__init__ (BCE for MNIST, MSE otherwise)
    decoder_scale: float = 1.0  # Gaussian decoder std (only for likelihood="gaussian")
    hidden: tuple[int, ...] = (1000, 1000)  # reference: get_q_and_p MNIST, H = 1000
    dropout: float = 0.2  # reference: get_q_and_p MultiWayLinear dropout
    context_dim: int = 2  # reference: diff_vae_warmup.yaml context_size
    context_hidden: tuple[int, ...] = (1000, 1000)  # reference: DiffVAEWarmup Q2 (MNIST)
    context_dropout: float = 0.4  # reference: diff_vae_warmup.yaml dropout (Q2)
    denoiser_hidden: int = 128  # reference: models/simple.py ConditionalModel
    schedule: str = "linear"  # reference: diffusion/schedule.py get_schedule('linear')
    beta_start: float = 1e-4  # reference: linear schedule
    beta_end: float = 0.02  # reference: linear schedule
    objective: str = "reference"
    denoising_loss: str = "huber"  # reference: every call site passes loss_type="huber"
    # prior diffusion pre-training (algorithms/train_diffusion.py StandardDiffusion)
    prior_steps: int = 20  # reference: diff_vae.yaml T (G)
    prior_pretrain_epochs: int = 100  # reference: DiffusionConfig.num_epochs set by DiffVAE
    prior_pretrain_steps_per_epoch: int = 1000  # reference: StandardDiffusion epoch = 1000 its
    prior_pretrain_lr: float = 1e-3  # reference: StandardDiffusion Adam lr
    prior_pretrain_batch: int = 128  # reference: StandardDiffusion batch
    # stage 1 (conf/model/diff_vae.yaml)
    stage1_epochs: int = 100  # reference: diff_vae.yaml num_epochs
    stage1_lr: float = 1e-4  # reference: diff_vae.yaml lr
    stage1_kl_weight: float = 0.01  # reference: diff_vae.yaml kld_weight
    stage1_diff_weight: float = 1.0  # reference: diff_vae.yaml diff_weight
    # stage 2 (conf/model/diff_vae_warmup.yaml)
    n_steps: int = 40  # reference: diff_vae_warmup.yaml T (G2)
    epochs: int = 100  # reference: diff_vae_warmup.yaml num_epochs
    lr: float = 1e-4  # reference: diff_vae_warmup.yaml lr
    batch_size: int = 128  # reference: diff_vae_warmup.yaml batch_size
    kl_weight: float = 0.003  # reference: diff_vae_warmup.yaml kld_weight
    prior_weight: float = 1.0  # reference: diff_vae_warmup.yaml prior_z_weight
    diff_weight: float = 1.0  # reference: diff_vae_warmup.yaml diff_weight
    sleep_steps: int = 3  # reference: diff_vae_warmup.yaml diff_ct
    sleep_weight: float = 1.0  # reference: sleep loss uses diff_weight (= 1)
    decoder_frozen_fraction: float = 0.3  # reference: middle_optim for epochs 0-29 of 100
    sleep_grad_clip: float = 0.0  # 0 = none; reference clustering model clips the diffusion at 0.1
    prior_lr: float = 0.01  # learnable priors only: reference clustering head optimiser lr
    # False: the wake step trains only encoder and decoder, and the denoiser and context network
    # learn in the sleep step alone (the reference clustering model, diff_vae_autoclustering_mse)
    wake_trains_denoiser: bool = True

    def __post_init__(self):
        canonical_prior_name(self.prior)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("denoising_loss", self.denoising_loss, DENOISING_LOSSES)
        for name in (
            "latent_dim",
            "context_dim",
            "denoiser_hidden",
            "prior_steps",
            "n_steps",
            "batch_size",
            "prior_pretrain_batch",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "prior_pretrain_epochs",
            "prior_pretrain_steps_per_epoch",
            "stage1_epochs",
            "epochs",
            "sleep_steps",
            "dropout",
            "context_dropout",
        ):
            check_positive(name, getattr(self, name), allow_zero=True)
        if not 0.0 <= self.decoder_frozen_fraction <= 1.0:
            raise ValueError(
                f"decoder_frozen_fraction={self.decoder_frozen_fraction!r} is not allowed; "
                "it must lie in [0, 1]"
            )


class DDVI(LatentVariableModel):
    """Denoising diffusion variational inference with a diffusion posterior in latent space.

    Parameters
    ----------
    n_features : int
        Size of each (flattened) data vector x.
    config : DDVIConfig, optional
        Hyperparameters (reference defaults when None).
    encoder : nn.Module, optional
        ``x -> Normal`` for ``q(y^(T) | x)``; an MLP ``GaussianEncoder`` by default.
    decoder : nn.Module, optional
        ``z -> Distribution`` for ``p(x | z)``; an MLP Bernoulli or Gaussian decoder by default.
    context_net : nn.Module, optional
        ``x -> (n, context_dim)``, the context Q2(x); an MLP by default.
    **overrides
        Config fields to change, e.g. ``DDVI(64, prior="swiss_roll", epochs=10)``.

    Examples
    --------
    >>> model = DDVI(64, hidden=(32,), context_hidden=(32,), prior_pretrain_epochs=0,
    ...              stage1_epochs=0, epochs=1)
    >>> model.fit(torch.rand(100, 64), device="cpu", verbose=False).rows[-1]["phase"]
    'stage2'
    """

    config_class = DDVIConfig

    def __init__(
        self,
        n_features: int,
        config: DDVIConfig | None = None,
        *,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        context_net: nn.Module | None = None,
        **overrides,
    ):
        super().__init__(n_features, config, **overrides)
        cfg = self.config
        d = cfg.latent_dim
        self.prior = make_prior(cfg.prior, d, **self._prior_options())
        self.encoder = encoder or GaussianEncoder(n_features, cfg.hidden, d, dropout=cfg.dropout)
        if decoder is None:
            decoder_cls = BernoulliDecoder if cfg.likelihood == "bernoulli" else GaussianDecoder
            extra = {"scale": cfg.decoder_scale} if cfg.likelihood == "gaussian" else {}
            decoder = decoder_cls(d, cfg.hidden, n_features, dropout=cfg.dropout, **extra)
        self.decoder = decoder
        self.context_net = context_net or MLP(
            n_features, cfg.context_hidden, cfg.context_dim, dropout=cfg.context_dropout
        )
        sched = (
            {"beta_start": cfg.beta_start, "beta_end": cfg.beta_end}
            if cfg.schedule == "linear"
            else {}
        )
        # G and its diffusion (stage 1), G2 and its diffusion (stage 2 posterior)
        self.prior_diffusion = GaussianDiffusion(cfg.prior_steps, cfg.schedule, **sched)
        self.prior_denoiser = EpsilonNet(d, cfg.prior_steps, hidden=cfg.denoiser_hidden)
        self.diffusion = GaussianDiffusion(cfg.n_steps, cfg.schedule, **sched)
        self.denoiser = EpsilonNet(
            d, cfg.n_steps, context_dim=cfg.context_dim, hidden=cfg.denoiser_hidden
        )
        self.wake_sample = WakeSample()  # the wake step's z, for a learnable prior's fit

    # -- posterior ------------------------------------------------------------------------------

    def _sample_y(self, qy: D.Normal, generator) -> torch.Tensor:
        eps = torch.randn(qy.loc.shape, generator=generator, device=qy.loc.device)
        return qy.loc + qy.scale * eps

    def posterior_chain(self, x: torch.Tensor, generator=None, *, stochastic: bool | None = None):
        """Run ``q(z | x)``: returns ``(q(y^(T)|x), context, [y^(T), ..., y^(0) = z])``."""
        stochastic = self.config.objective == "elbo" if stochastic is None else stochastic
        qy = self.encoder(x)
        y_T = self._sample_y(qy, generator)
        context = self.context_net(x)
        states = self.diffusion.reverse_chain(
            self.denoiser, y_T, context, stochastic=stochastic, generator=generator
        )
        return qy, context, states

    # -- losses ---------------------------------------------------------------------------------

    def _reconstruction(self, px: D.Distribution, x: torch.Tensor) -> torch.Tensor:
        """Return the reference reconstruction: mean BCE (Bernoulli) or mean squared error."""
        if self.config.likelihood == "bernoulli":
            return -px.log_prob(x).mean()
        return (px.mean - x).square().mean()

    def _prior_diffusion_loss(self, batch, ctx: StepContext) -> LossOutput:
        z = self.prior.sample(
            ctx.local_rows(self.config.prior_pretrain_batch), generator=ctx.generator
        )
        loss = self.prior_diffusion.epsilon_loss(
            self.prior_denoiser,
            z.detach(),
            loss=self.config.denoising_loss,
            generator=ctx.generator,
        ).mean()
        return LossOutput(loss, {"diff": loss.detach()})

    def _stage1_loss(self, x: torch.Tensor, ctx: StepContext) -> LossOutput:
        cfg = self.config
        qy = self.encoder(x)
        y = self._sample_y(qy, ctx.generator)
        z = self.prior_diffusion.reverse_chain(self.prior_denoiser, y)[-1]
        rec = self._reconstruction(self.decoder(z), x)
        kl = _kl_standard_normal(qy).mean()
        z_prior = self.prior.sample(x.shape[0], generator=ctx.generator).detach()
        diff = self.prior_diffusion.epsilon_loss(
            self.prior_denoiser, z_prior, loss=cfg.denoising_loss, generator=ctx.generator
        ).mean()
        loss = rec + cfg.stage1_kl_weight * kl + cfg.stage1_diff_weight * diff
        return LossOutput(loss, {"rec": rec.detach(), "kl": kl.detach(), "diff": diff.detach()})

    def _wake_loss(self, x: torch.Tensor, ctx: StepContext) -> LossOutput:
        if self.config.objective == "elbo":
            elbo, terms, z = self._elbo_terms(x, ctx.generator)
            self._keep_wake_sample(z)
            loss = -elbo.mean() / self.n_features
            return LossOutput(loss, {"neg_elbo": -elbo.mean().detach(), **terms})
        cfg = self.config
        qy, _, states = self.posterior_chain(x, ctx.generator, stochastic=False)
        z = states[-1]
        self._keep_wake_sample(z)
        rec = self._reconstruction(self.decoder(z), x)
        kl = _kl_standard_normal(qy).mean()
        log_pz = self.prior.log_prob(z).mean()
        # denoising-matching surrogate: Huber(y^(k), mu_tilde_k(z, y^(k+1))) at a random k
        chain = torch.stack(states[::-1])  # chain[i] = y^(i), shape (T + 1, n, d)
        k = self.diffusion.random_steps(x.shape[0], ctx.generator, x.device)
        rows = torch.arange(x.shape[0], device=x.device)
        target = self.diffusion.q_posterior(z, chain[k + 1, rows], k)[0]
        diff = denoising_loss(chain[k, rows], target, cfg.denoising_loss).mean()
        loss = rec + cfg.kl_weight * (kl - cfg.prior_weight * log_pz) + cfg.diff_weight * diff
        terms = {
            "rec": rec.detach(),
            "kl": kl.detach(),
            "log_pz": log_pz.detach(),
            "diff": diff.detach(),
        }
        return LossOutput(loss, terms)

    def _sleep_loss(self, batch, ctx: StepContext) -> LossOutput:
        cfg = self.config
        z = self.prior.sample(ctx.local_rows(cfg.batch_size), generator=ctx.generator).detach()
        with torch.no_grad():
            x_fantasy = self.decoder(z).mean  # reference: decoder mean, no gradient to P
        context = self.context_net(x_fantasy)
        diff = self.diffusion.epsilon_loss(
            self.denoiser, z, context, loss=cfg.denoising_loss, generator=ctx.generator
        ).mean()
        return LossOutput(cfg.sleep_weight * diff, {"diff": diff.detach()})

    def _keep_wake_sample(self, z: torch.Tensor) -> None:
        """Keep the wake step's ``z`` (n, d) for the prior-fit step (when the prior learns)."""
        if has_learnable_prior(self):
            self.wake_sample.keep(z)

    def _prior_fit_loss(self, x: torch.Tensor, ctx: StepContext) -> LossOutput:
        """Learnable prior: fit it to posterior samples of the batch (``base.prior_fit_loss``).

        The samples are the wake step's, of the same batch (:class:`~.base.WakeSample`); a
        step run without a wake step before it draws its own.
        """
        z = self.wake_sample.take(x.shape[0])
        if z is None:
            with torch.no_grad():
                z = self.posterior_chain(x, ctx.generator)[2][-1]
        return LossOutput(*prior_fit_loss(self.prior, z))

    def _elbo_terms(
        self, x: torch.Tensor, generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Single-sample auxiliary-variable ELBO with stochastic reverse steps.

        Returns ``(elbo, terms, z)``: the bound (n,), its mean terms, and the sample z (n, d).
        """
        diffusion = self.diffusion
        qy = self.encoder(x)
        y = self._sample_y(qy, generator)
        context = self.context_net(x)
        log_q = qy.log_prob(y).sum(-1)  # log q(y^(T) | x)
        states = [y]
        denoiser = self.denoiser.unrolled()
        for k in range(diffusion.n_steps - 1, -1, -1):
            eps = denoiser(y, k, context)
            mean = diffusion.reverse_mean(y, k, eps)
            logvar = diffusion.reverse_variance[k].log()
            noise = torch.randn(y.shape, generator=generator, device=y.device)
            y = mean + (0.5 * logvar).exp() * noise
            log_q = log_q + gaussian_log_prob(y, mean, logvar.expand_as(y)).sum(-1)
            states.append(y)
        z = states[-1]
        chain = states[::-1]  # chain[i] = y^(i)
        last = diffusion.n_steps - 1
        log_r = gaussian_log_prob(
            chain[-1],
            diffusion.sqrt_alphas_cumprod[last] * z,
            torch.log1p(-diffusion.alphas_cumprod[last]).expand_as(z),
        ).sum(-1)
        for k in range(1, diffusion.n_steps):
            mean_r, _, logvar_r = diffusion.q_posterior(z, chain[k + 1], k)
            log_r = log_r + gaussian_log_prob(chain[k], mean_r, logvar_r.expand_as(z)).sum(-1)
        log_px = self.decoder(z).log_prob(x).sum(-1)
        log_pz = self.prior.log_prob(z)
        elbo = log_px + log_pz + log_r - log_q
        terms = {
            "log_px": log_px.mean().detach(),
            "log_pz": log_pz.mean().detach(),
            "log_r_minus_log_q": (log_r - log_q).mean().detach(),
        }
        return elbo, terms, z

    # -- training -------------------------------------------------------------------------------

    def _stage1_modules(self) -> list:
        """Return the stage-1 modules: encoder, decoder and G (the reference's ``endtoend True``)."""
        return [self.encoder, self.decoder, self.prior_denoiser]

    def training_phases(self) -> list[Phase]:
        """Prior-diffusion pre-training, stage 1 and stage 2 as :class:`Phase` objects."""
        cfg = self.config
        phases = []
        if cfg.prior_pretrain_epochs and cfg.prior_pretrain_steps_per_epoch:
            plan = OptimiserPlan(
                "prior_diffusion",
                [self.prior_denoiser],
                self._prior_diffusion_loss,
                lr=cfg.prior_pretrain_lr,
                uses_batch=False,
            )
            phases.append(
                Phase(
                    "prior_diffusion",
                    [plan],
                    cfg.prior_pretrain_epochs,
                    cfg.prior_pretrain_batch,
                    cfg.prior_pretrain_steps_per_epoch,
                )
            )
        if cfg.stage1_epochs:
            plan = OptimiserPlan(
                "stage1",
                self._stage1_modules(),
                self._stage1_loss,
                lr=cfg.stage1_lr,
            )
            phases.append(Phase("stage1", [plan], cfg.stage1_epochs, cfg.batch_size))
        if cfg.epochs:
            wake_modules = [self.decoder, self.encoder]
            if cfg.wake_trains_denoiser:
                wake_modules += [self.context_net, self.denoiser]
            wake = OptimiserPlan("wake", wake_modules, self._wake_loss, lr=cfg.lr)
            plans = [wake]
            if cfg.sleep_steps:
                plans.append(
                    OptimiserPlan(
                        "sleep",
                        [self.context_net, self.denoiser],
                        self._sleep_loss,
                        lr=cfg.lr,
                        repeats=cfg.sleep_steps,
                        uses_batch=False,
                        choose=self._sleep_choice,
                    )
                )
            if has_learnable_prior(self):
                plans.append(
                    OptimiserPlan("prior", [self.prior], self._prior_fit_loss, lr=cfg.prior_lr)
                )
            if cfg.sleep_grad_clip and cfg.sleep_steps:
                plans[1].grad_clip = cfg.sleep_grad_clip
            frozen_until = epochs_to_frozen_until(cfg.decoder_frozen_fraction, cfg.epochs)
            decoder = self.decoder
            phases.append(
                Phase(
                    "stage2",
                    plans,
                    cfg.epochs,
                    cfg.batch_size,
                    frozen=lambda epoch: (decoder,) if epoch < frozen_until else (),
                )
            )
        return phases

    #: ``OptimiserPlan.choose`` of the sleep plan: no host-side choice (DDVI-semi picks a class).
    _sleep_choice = None

    def _prior_options(self) -> dict:
        """Return constructor overrides of the prior (the semi family sets its class count)."""
        return {}

    def _training_data(self, x, labels):
        data, labels = super()._training_data(x, labels)
        if self.config.likelihood == "bernoulli" and not _within_unit_interval(data):
            raise ValueError(
                "x must lie in [0, 1] for likelihood='bernoulli'; rescale it or use 'gaussian'"
            )
        return data, labels

    # -- inference ------------------------------------------------------------------------------

    def draw_latent(self, x, generator=None) -> torch.Tensor:
        """One draw ``z = y_0`` of the posterior chain started at ``y_T ~ q(y_T | x)``, (n, d)."""
        return self.posterior_chain(x, generator)[2][-1]

    def elbo(
        self,
        x,
        *,
        n_samples: int = 1,
        generator: torch.Generator | None = None,
        batch_size: int = 512,
    ) -> torch.Tensor:
        """Per-example evidence lower bound in nats (summed over data dimensions).

        * ``objective="elbo"``: the auxiliary-variable bound of :class:`DDVIConfig`, one sample of
          the stochastic chain per draw.
        * ``objective="reference"``: q(z|x) is the push-forward of ``q(y^(T)|x)`` through the
          deterministic DDIM map, so ``log q(z|x) = log q(y^(T)|x) - log |det dz/dy^(T)|`` (exact
          when the map is injective, as it is for small steps) and the bound is
          ``log p(x|z) + log p(z) - log q(z|x)``; the Jacobian comes from d backward passes.

        Parameters
        ----------
        x : array_like, shape (n, n_features)
        n_samples : int
            Draws averaged per example.
        generator : torch.Generator, optional
        batch_size : int

        Returns
        -------
        torch.Tensor, shape (n,), CPU
        """
        data = self._check_input(x)
        signs: list[torch.Tensor] = []

        def one_batch(b):
            values = []
            for _ in range(n_samples):
                if self.config.objective == "elbo":
                    with torch.no_grad():
                        values.append(self._elbo_terms(b, generator)[0])
                else:
                    value, sign = self._pushforward_elbo(b, generator, return_sign=True)
                    values.append(value)
                    signs.append(sign.cpu())
            return torch.stack(values).mean(0)

        bound = self._map_batches(data, one_batch, batch_size)
        return bound if not signs else guard_folding(bound, torch.cat(signs))

    def _pushforward_elbo(self, x: torch.Tensor, generator, *, return_sign: bool = False):
        with torch.enable_grad():
            qy = self.encoder(x)
            context = self.context_net(x).detach()
            y_T = self._sample_y(qy, generator).detach().requires_grad_(True)
            z = self.diffusion.reverse_chain(self.denoiser, y_T, context)[-1]
            rows = [
                torch.autograd.grad(z[:, i].sum(), y_T, retain_graph=True)[0]
                for i in range(z.shape[1])
            ]
        jac = torch.stack(rows, dim=1)  # (n, d, d), d z_i / d y_j
        sign, log_det = torch.linalg.slogdet(jac)
        with torch.no_grad():
            z = z.detach()
            log_q = qy.log_prob(y_T.detach()).sum(-1) - log_det
            value = self.decoder(z).log_prob(x).sum(-1) + self.prior.log_prob(z) - log_q
        return (value, sign) if return_sign else value


class FoldingWarning(UserWarning):
    """The DDIM push-forward map folds, so its change-of-variables bound is not valid."""


def guard_folding(bound: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Return ``bound``, or NaNs with a :class:`FoldingWarning` when the map is not one-to-one.

    The push-forward density ``q(z|x) = q(y_T|x) / |det dz/dy_T|`` holds for an injective map.
    A continuous map whose Jacobian determinant takes both signs (or vanishes) over the draws
    folds space onto itself: points of z then have several preimages, ``q(z|x)`` is
    under-estimated and the "bound" can exceed ``log p(x)``. Such a result is not returned.

    Parameters
    ----------
    bound : torch.Tensor, shape (n,)
    signs : torch.Tensor
        ``sign(det dz/dy_T)`` of every draw (any shape; for class-wise chains, shape (K, m):
        each class's map is checked on its own).
    """
    signs = signs.reshape(signs.shape[0], -1) if signs.ndim > 1 else signs[None]
    positive, negative = (signs > 0).sum(1), (signs < 0).sum(1)
    folded = ((positive > 0) & (negative > 0)) | (signs == 0).any(1)
    if not bool(folded.any()):
        return bound
    import warnings

    warnings.warn(
        f"the DDIM push-forward map is not one-to-one: det dz/dy_T is positive for "
        f"{int(positive.sum())} and negative for {int(negative.sum())} draws; the push-forward "
        "bound is invalid and is returned as NaN (use objective='elbo' for a valid bound)",
        FoldingWarning,
        stacklevel=3,
    )
    return torch.full_like(bound, float("nan"))


def _within_unit_interval(data) -> bool:
    """Whether every value of a tensor or :class:`~..data.HostRows` lies in [0, 1]."""
    if isinstance(data, HostRows):
        return data.within(0.0, 1.0)
    return not bool(((data < 0) | (data > 1)).any())


def _kl_standard_normal(q: D.Normal) -> torch.Tensor:
    """``KL(q || N(0, I))`` summed over the last dimension, shape (n,).

    Closed form ``(sigma^2 + mu^2 - 1) / 2 - log sigma`` per dimension (what
    ``torch.distributions.kl_divergence`` computes, without building a second distribution).
    """
    return (0.5 * (q.scale.square() + q.loc.square() - 1) - q.scale.log()).sum(-1)


__all__ = ["DDVI", "DDVIConfig", "OBJECTIVES", "LIKELIHOODS", "PRIOR_NAMES"]
