"""Gaussian diffusion in latent space: schedules, forward process, reverse steps, losses, KLs.

Index convention (as the reference ``diffusion/gaussian.py``). The chain has T + 1 states
``y^(0) = z, y^(1), ..., y^(T)``; code index ``k in {0..T-1}`` names the transition between
``y^(k+1)`` and ``y^(k)``::

    forward   r(y^(k+1) | z)        = N(sqrt(abar_k) z, (1 - abar_k) I)            (q_sample)
    posterior r(y^(k) | y^(k+1), z) = N(w0_k z + wt_k y^(k+1), btilde_k I)        (q_posterior)

with ``beta_k`` the schedule, ``alpha_k = 1 - beta_k``, ``abar_k = prod_{j<=k} alpha_j``,
``abar_{-1} = 1``, ``btilde_k = beta_k (1 - abar_{k-1}) / (1 - abar_k)`` (exactly 0 at k = 0),
``w0_k = beta_k sqrt(abar_{k-1}) / (1 - abar_k)`` and ``wt_k = sqrt(alpha_k) (1 - abar_{k-1}) /
(1 - abar_k)``. All derived quantities are computed in float64 and stored as float32 buffers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice

SCHEDULES = ("linear", "cosine")
DENOISING_LOSSES = ("huber", "mse", "l1")

EpsModel = Callable[..., torch.Tensor]


def linear_beta_schedule(
    n_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
    """Linear betas (Ho et al. 2020; the reference's only schedule), float64, shape (T,)."""
    return np.linspace(beta_start, beta_end, n_steps, dtype=np.float64)


def cosine_beta_schedule(n_steps: int, s: float = 0.008) -> np.ndarray:
    """Cosine schedule (Nichol & Dhariwal 2021), clipped to [1e-4, 0.9999] as the reference.

    Unlike the short linear schedule, ``abar_{T-1}`` is close to 0, so ``y^(T)`` is nearly N(0, I).
    """
    t = np.arange(n_steps + 1, dtype=np.float64) / n_steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - f[1:] / f[:-1]
    return np.clip(betas, 1e-4, 0.9999)


def make_betas(schedule: str, n_steps: int, **kwargs) -> np.ndarray:
    """Betas for a named schedule (``"linear"`` or ``"cosine"``), shape (T,), float64."""
    check_choice("schedule", schedule, SCHEDULES)
    if n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r} is not allowed; it must be >= 1")
    fn = linear_beta_schedule if schedule == "linear" else cosine_beta_schedule
    return fn(n_steps, **kwargs)


def gaussian_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """Elementwise ``KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2)))`` in nats."""
    return 0.5 * (
        logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2).square() * torch.exp(-logvar2)
        - 1.0
    )


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; mean, exp(logvar))."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean).square() * torch.exp(-logvar))


def denoising_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "huber") -> torch.Tensor:
    """Per-example denoising loss, mean over the last dimension; shape (batch,).

    ``"huber"`` is ``smooth_l1`` with beta 1 (the reference's choice at every call site).
    """
    if kind == "huber":
        per = F.smooth_l1_loss(pred, target, reduction="none", beta=1.0)
    elif kind == "mse":
        per = F.mse_loss(pred, target, reduction="none")
    elif kind == "l1":
        per = (pred - target).abs()
    else:
        check_choice("loss", kind, DENOISING_LOSSES)
    return per.mean(dim=-1)


class GaussianDiffusion(nn.Module):
    """Schedule buffers and the maths of one Gaussian diffusion (no network inside).

    Parameters
    ----------
    n_steps : int
        Number of transitions T.
    schedule : {"linear", "cosine"}
        Beta schedule. ``"linear"`` with 1e-4..0.02 is the reference's.
    **schedule_kwargs
        ``beta_start``/``beta_end`` (linear) or ``s`` (cosine).
    """

    def __init__(self, n_steps: int, schedule: str = "linear", **schedule_kwargs):
        super().__init__()
        betas = make_betas(schedule, n_steps, **schedule_kwargs)
        self.n_steps = int(n_steps)
        self.schedule = schedule
        alphas = 1.0 - betas
        abar = np.cumprod(alphas)
        abar_prev = np.append(1.0, abar[:-1])
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "sqrt_alphas_cumprod": np.sqrt(abar),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - abar),
            "sqrt_alphas_cumprod_prev": np.sqrt(abar_prev),
            "sqrt_one_minus_alphas_cumprod_prev": np.sqrt(1.0 - abar_prev),
            "posterior_variance": post_var,
            # log(btilde) with btilde_0 = 0 replaced by btilde_1 (as in DDPM) to stay finite
            "posterior_log_variance_clipped": np.log(np.append(post_var[1:2], post_var[1:]))
            if n_steps > 1
            else np.log(betas),
            "posterior_mean_coef_start": betas * np.sqrt(abar_prev) / (1.0 - abar),  # w0_k
            "posterior_mean_coef_noisy": np.sqrt(alphas)
            * (1.0 - abar_prev)
            / (1.0 - abar),  # wt_k
            # variance of the stochastic reverse step: btilde_k for k >= 1 and beta_0 for k = 0
            "reverse_variance": np.append(betas[:1], post_var[1:]),
        }
        for name, values in tables.items():
            self.register_buffer(
                name, torch.from_numpy(np.asarray(values, dtype=np.float64)).float()
            )
        # the DDIM step folded into y^(k) = a_k y^(k+1) + b_k eps, in float64 on the host: a
        # chain step with a Python-int k is then 2 kernels forward and 2 backward instead of 6
        # and 6, which is most of the chain's arithmetic (the kernels of a recorded CUDA graph)
        a = np.sqrt(abar_prev / abar)
        b = np.sqrt(1.0 - abar_prev) - np.sqrt(abar_prev) * np.sqrt(1.0 - abar) / np.sqrt(abar)
        self._ddim_coefficients = [(float(ak), float(bk)) for ak, bk in zip(a, b, strict=True)]

    # -- helpers --------------------------------------------------------------------------------

    def _at(self, table: torch.Tensor, k: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """Gather ``table[k]`` and shape it to broadcast against ``like`` (batch first)."""
        if isinstance(k, int):
            return table[k]
        # k has the leading (batch) shape of ``like``: (n,) for (n, d), (K, n) for (K, n, d)
        return table[k].reshape(*k.shape, *([1] * (like.ndim - k.ndim)))

    def random_steps(self, n, generator: torch.Generator | None = None, device=None):
        """Uniform step indices ``k ~ U{0..T-1}``, shape (n,) (or ``n`` when it is a shape tuple)."""
        device = device if device is not None else self.betas.device
        shape = tuple(n) if isinstance(n, (tuple, list, torch.Size)) else (n,)
        return torch.randint(self.n_steps, shape, generator=generator, device=device)

    # -- forward process ------------------------------------------------------------------------

    def q_sample(self, z: torch.Tensor, k, noise: torch.Tensor) -> torch.Tensor:
        """Sample ``y^(k+1) ~ r(. | z) = N(sqrt(abar_k) z, (1 - abar_k) I)`` given the noise."""
        return (
            self._at(self.sqrt_alphas_cumprod, k, z) * z
            + self._at(self.sqrt_one_minus_alphas_cumprod, k, z) * noise
        )

    def q_posterior(self, z: torch.Tensor, y_next: torch.Tensor, k):
        """Mean, variance and clipped log-variance of ``r(y^(k) | y^(k+1), z)``.

        Returns
        -------
        mean : torch.Tensor, shape like ``z``
        variance, log_variance : torch.Tensor
            Broadcastable against ``z``; the variance is exactly 0 at k = 0.
        """
        mean = (
            self._at(self.posterior_mean_coef_start, k, z) * z
            + self._at(self.posterior_mean_coef_noisy, k, z) * y_next
        )
        return (
            mean,
            self._at(self.posterior_variance, k, z),
            self._at(self.posterior_log_variance_clipped, k, z),
        )

    def predict_start_from_noise(self, y_next: torch.Tensor, k, eps: torch.Tensor) -> torch.Tensor:
        """``zhat = (y^(k+1) - sqrt(1 - abar_k) eps) / sqrt(abar_k)``."""
        return (y_next - self._at(self.sqrt_one_minus_alphas_cumprod, k, y_next) * eps) / self._at(
            self.sqrt_alphas_cumprod, k, y_next
        )

    # -- reverse steps --------------------------------------------------------------------------

    def ddim_step(self, y_next: torch.Tensor, k, eps: torch.Tensor) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) step ``y^(k+1) -> y^(k)`` (the reference's ``p_sample``).

        ``y^(k) = sqrt(abar_{k-1}) zhat + sqrt(1 - abar_{k-1}) eps``, with
        ``zhat = (y^(k+1) - sqrt(1 - abar_k) eps) / sqrt(abar_k)``; for a Python-int ``k`` the
        two are folded into ``a_k y^(k+1) + b_k eps`` with float64 coefficients.
        """
        if isinstance(k, int):
            a_k, b_k = self._ddim_coefficients[k]
            return torch.add(y_next * a_k, eps, alpha=b_k)
        z_hat = self.predict_start_from_noise(y_next, k, eps)
        return (
            self._at(self.sqrt_alphas_cumprod_prev, k, y_next) * z_hat
            + self._at(self.sqrt_one_minus_alphas_cumprod_prev, k, y_next) * eps
        )

    def reverse_mean(self, y_next: torch.Tensor, k, eps: torch.Tensor) -> torch.Tensor:
        """Mean of the stochastic reverse step: ``mu_tilde_k(zhat(y^(k+1), eps), y^(k+1))``."""
        z_hat = self.predict_start_from_noise(y_next, k, eps)
        return self.q_posterior(z_hat, y_next, k)[0]

    def ancestral_step(self, y_next: torch.Tensor, k, eps: torch.Tensor, noise: torch.Tensor):
        """Stochastic (DDPM ancestral) step ``y^(k) = mean + sqrt(var_k) * noise``.

        The variance is ``btilde_k`` for k >= 1 and ``beta_0`` at k = 0 (``btilde_0`` is 0).
        """
        mean = self.reverse_mean(y_next, k, eps)
        return mean + self._at(self.reverse_variance, k, y_next).sqrt() * noise

    def reverse_chain(
        self,
        eps_model: EpsModel,
        y_start: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        stochastic: bool = False,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Run the reverse chain from ``y^(T) = y_start`` down to ``z = y^(0)``.

        Parameters
        ----------
        eps_model : callable
            ``eps_model(y, k)`` or ``eps_model(y, k, context)`` returning predicted noise. A
            network with an ``unrolled()`` method (:class:`~.nn.EpsilonNet`) is called through
            it: the same function, laid out for one call per step.
        y_start : torch.Tensor, shape (n, d)
        context : torch.Tensor, shape (n, c), optional
        stochastic : bool
            Ancestral steps (with noise) instead of deterministic DDIM steps.
        generator : torch.Generator, optional
            Noise source for stochastic steps.

        Returns
        -------
        list of torch.Tensor
            ``[y^(T), y^(T-1), ..., y^(0)]`` (length T + 1).
        """
        states = [y_start]
        y = y_start
        unrolled = getattr(eps_model, "unrolled", None)
        if unrolled is not None:  # per-step tables built once: fewer kernels per step
            eps_model = unrolled()
        for k in range(self.n_steps - 1, -1, -1):
            eps = eps_model(y, k) if context is None else eps_model(y, k, context)
            if stochastic:
                noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
                y = self.ancestral_step(y, k, eps, noise)
            else:
                y = self.ddim_step(y, k, eps)
            states.append(y)
        return states

    # -- losses ---------------------------------------------------------------------------------

    def epsilon_loss(
        self,
        eps_model: EpsModel,
        z: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        loss: str = "huber",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Denoising loss ``loss(eps, eps_model(q_sample(z, k, eps), k[, context]))`` per example.

        ``k ~ U{0..T-1}`` independently per example. Returns shape (n,).
        """
        k = self.random_steps(z.shape[:-1], generator, z.device)
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        y = self.q_sample(z, k, noise)
        pred = eps_model(y, k) if context is None else eps_model(y, k, context)
        return denoising_loss(pred, noise, loss)

    def transition_kl(self, mean_q: torch.Tensor, z: torch.Tensor, y_next: torch.Tensor, k):
        """``KL(N(mean_q, var_k) || r(y^(k) | y^(k+1), z))`` summed over the last dim, shape (n,).

        ``var_k`` is the reverse-step variance (``btilde_k``; ``beta_0`` at k = 0 where the
        posterior variance is clipped to ``btilde_1``).
        """
        mean_r, _, logvar_r = self.q_posterior(z, y_next, k)
        logvar_q = self._at(self.reverse_variance, k, z).log()
        return gaussian_kl(
            mean_q, logvar_q.expand_as(mean_q), mean_r, logvar_r.expand_as(mean_r)
        ).sum(-1)
