"""Shared machinery of the model families: construction from configs, batching, save / load."""

from __future__ import annotations

import abc
import os
import pickle
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..._version import __version__
from ..config import Config
from ..data import HostRows
from ..training import _save_atomic, as_tensor_2d, load_plain
from ..training import fit as run_phases

FORMAT_VERSION = 1


class LatentVariableModel(nn.Module, abc.ABC):
    """Base of every model family: ``n_features`` + a frozen config, saved and loaded together.

    Subclasses set ``config_class`` and build their networks in ``__init__(n_features, config,
    **overrides)``.
    """

    config_class: type[Config] = Config

    def __init__(self, n_features: int, config: Config | None = None, **overrides):
        super().__init__()
        if int(n_features) < 1:
            raise ValueError(f"n_features={n_features!r} is not allowed; it must be >= 1")
        base = config if config is not None else self.config_class()
        self.config = base.replace(**overrides) if overrides else base
        self.n_features = int(n_features)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    def _check_input(self, x) -> torch.Tensor:
        t = as_tensor_2d(x)
        if t.shape[1] != self.n_features:
            raise ValueError(
                f"x has {t.shape[1]} features but this model was built for {self.n_features}"
            )
        return t

    def _map_batches(
        self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int
    ) -> torch.Tensor:
        """Apply ``fn`` to device batches of ``x`` in eval mode; concatenate results on the CPU."""
        was_training = self.training
        self.eval()
        try:
            outs = [fn(b.to(self.device)).cpu() for b in _split(x, batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(outs, dim=-2 if outs[0].ndim == 3 else 0)

    # -- training -------------------------------------------------------------------------------

    @abc.abstractmethod
    def training_phases(self):
        """Return the model's phases of optimiser plans (see :mod:`ddvi_genomics.core.training`)."""

    def _training_data(self, x, labels) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the validated training matrix and labels (None for unsupervised families)."""
        if labels is not None:
            raise ValueError(f"{type(self).__name__} is unsupervised; fit it without labels")
        return self._check_training_input(x), None

    def _check_training_input(self, x):
        """Validate ``x``; a ``np.memmap`` stays on the host as :class:`~..data.HostRows`."""
        if not isinstance(x, np.memmap):
            return self._check_input(x)
        rows = HostRows(x)
        if rows.shape[1] != self.n_features:
            raise ValueError(
                f"x has {rows.shape[1]} features but this model was built for {self.n_features}"
            )
        return rows

    def fit(
        self,
        x,
        labels=None,
        *,
        device="auto",
        seed: int | None = 0,
        verbose: bool | None = None,
        checkpoint=None,
        resume: bool = False,
        eval_fn=None,
        eval_every: int = 0,
        batch_transform=None,
        compile: str = "auto",
    ):
        """Train every phase on ``x`` (n, n_features).

        Parameters
        ----------
        x : array_like, shape (n, n_features)
            Training data (finite).
        labels : array_like of int, shape (n,), optional
            Semi-supervised families only: classes, with -1 for unlabelled examples.
        device : str
            ``"auto"`` (cuda, then mps, then cpu), ``"cpu"``, ``"cuda"``, ...
        seed : int, optional
            Seeds shuffling and every noise draw (global RNGs are restored afterwards).
        verbose : bool, optional
            Per-epoch progress on stderr; default: only when stderr is a terminal.
        checkpoint, resume, eval_fn, eval_every, batch_transform, compile
            See :func:`ddvi_genomics.core.training.fit`.

        Returns
        -------
        History
            One row per epoch and phase with the mean loss terms.
        """
        data, label_tensor = self._training_data(x, labels)
        return run_phases(
            self,
            self.training_phases(),
            data,
            label_tensor,
            device=device,
            seed=seed,
            verbose=verbose,
            checkpoint=checkpoint,
            resume=resume,
            eval_fn=eval_fn,
            eval_every=eval_every,
            batch_transform=batch_transform,
            compile=compile,
        )

    # -- inference ------------------------------------------------------------------------------

    #: True for families whose encoder is a deterministic map (the AAE): one draw is enough.
    deterministic_encoder: bool = False

    @abc.abstractmethod
    def draw_latent(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One posterior draw ``z ~ q(z | x)`` for a device batch ``x`` (n, n_features): (n, d)."""

    @torch.no_grad()
    def encode(
        self,
        x,
        *,
        n_samples: int | None = None,
        mean: bool = False,
        generator: torch.Generator | None = None,
        batch_size: int = 1024,
    ) -> torch.Tensor:
        """Posterior samples ``z ~ q(z | x)`` (eval mode: dropout off).

        Parameters
        ----------
        x : array_like, shape (n, n_features)
        n_samples : int, optional
            Number of draws per example; None means one draw returned without a sample axis.
        mean : bool
            Return the average of the draws (10 when ``n_samples`` is None), shape (n, d).
        generator : torch.Generator, optional
            Noise source (on the model's device) for reproducible draws.
        batch_size : int

        Returns
        -------
        torch.Tensor (CPU)
            Shape (n, d), or (n_samples, n, d) when ``n_samples`` is given and ``mean`` is False.
        """
        data = self._check_input(x)
        draws = n_samples if n_samples is not None else (10 if mean else 1)
        if self.deterministic_encoder:
            z = self._map_batches(data, lambda b: self.draw_latent(b, generator), batch_size)
            zs = z.expand(draws, *z.shape).clone()
        else:
            zs = self._map_batches(
                data,
                lambda b: torch.stack([self.draw_latent(b, generator) for _ in range(draws)]),
                batch_size,
            )
        if mean:
            return zs.mean(0)
        return zs[0] if n_samples is None else zs

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate data: ``z ~ p(z)``, return ``E[x | z]``, shape (n, n_features), on the CPU."""
        was_training = self.training
        self.eval()
        try:
            z = self.prior.sample(n, generator=generator).to(self.device)
            return self.decoder(z).mean.cpu()
        finally:
            self.train(was_training)

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write config, feature count and all weights and buffers to ``path`` (atomically)."""
        _save_atomic(
            {
                "format": f"ddvi-genomics/{type(self).__name__}",
                "format_version": FORMAT_VERSION,
                "package_version": __version__,
                "n_features": self.n_features,
                "config": self.config.to_dict(),
                "state_dict": self.state_dict(),
            },
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike, map_location="cpu", **networks):
        """Rebuild a model saved by :meth:`save`; the result gives identical outputs.

        Parameters
        ----------
        path : path
        map_location : str or torch.device
        **networks
            Custom networks passed to the constructor when the model was built with them.

        Raises
        ------
        ValueError
            If the file is not a checkpoint of this model family.
        """
        try:
            payload = load_plain(path, map_location=map_location)
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as err:
            raise ValueError(
                f"{os.fspath(path)} cannot be read as a {cls.__name__} checkpoint: "
                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from None
        expected = f"ddvi-genomics/{cls.__name__}"
        if not isinstance(payload, dict) or payload.get("format") != expected:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise ValueError(
                f"{os.fspath(path)} is not a {cls.__name__} checkpoint (found {found!r})"
            )
        config = cls.config_class.from_dict(payload["config"])
        model = cls(payload["n_features"], config, **networks)
        model.load_state_dict(payload["state_dict"])
        return model.to(map_location).eval()


def prior_fit_loss(prior, z: torch.Tensor):
    """Loss of a learnable prior on posterior samples ``z`` (no gradient to the posterior).

    ``-mean log p(z)`` plus the prior's regulariser (the reference's cluster-head update: centres
    follow the encoded data, a hinge keeps them apart, a penalty keeps them in a box).
    Returns ``(loss, terms)``.
    """
    nll = -prior.log_prob(z.detach()).mean()
    reg = prior.regularizer() if hasattr(prior, "regularizer") else nll * 0
    return nll + reg, {"nll": nll.detach(), "reg": reg.detach()}


class WakeSample:
    """The wake step's posterior sample, kept for the prior-fit step of the same batch.

    A learnable prior is fitted to samples ``z ~ q(z | x)`` after every wake step
    (:func:`prior_fit_loss`). The wake step has just drawn such a sample on the same batch, with
    the parameters of one Adam step earlier; drawing a fresh one would run DDVI's T-step reverse
    chain again (a quarter of a genotype batch's kernels). :meth:`keep` copies the wake sample
    (detached) into one fixed buffer and :meth:`take` hands it to the prior-fit step, once.

    The buffer keeps its address for the whole run, so a recorded prior-fit step (a CUDA graph,
    :mod:`..graphs`) reads every replay's new sample, however often the wake step is re-recorded.
    """

    def __init__(self):
        self.buffer: torch.Tensor | None = None
        self.fresh = False  # set by keep, cleared by take: a sample is used by one step only

    def keep(self, z: torch.Tensor) -> None:
        """Store ``z`` of shape (n, d) for the next :meth:`take`."""
        buffer = self.buffer
        if buffer is None or buffer.shape != z.shape or buffer.device != z.device:
            buffer = self.buffer = torch.empty_like(z)
        buffer.copy_(z.detach())
        self.fresh = True

    def take(self, n_rows: int) -> torch.Tensor | None:
        """Return the kept sample of ``n_rows`` rows, or None when no wake step left one."""
        if not self.fresh or self.buffer.shape[0] != n_rows:  # fresh: keep made the buffer
            return None
        self.fresh = False
        return self.buffer


def has_learnable_prior(model) -> bool:
    """Return True when the model's prior has trainable parameters (learnable centres)."""
    return any(p.requires_grad for p in model.prior.parameters())


def _split(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size]
