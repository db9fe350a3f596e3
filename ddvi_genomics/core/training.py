"""The one training loop: phases of optimiser plans, devices, seeds, progress, checkpoints.

A model family describes *what* to optimise as a list of :class:`Phase` objects (for DDVI: prior
diffusion pre-training, stage 1, stage 2). Each phase holds :class:`OptimiserPlan` objects that
run in order on every batch, each with **its own optimiser state** (DDVI's wake and sleep plans
never share Adam moments, unlike the reference). This module owns everything else: moving data to
the device once, shuffling with a seeded generator, freezing modules, gradient clipping, per-epoch
progress with an ETA, history, optional held-out evaluation, checkpoint / resume, and
data-parallel runs over ``torch.distributed`` (:mod:`.distributed`).

Inside an epoch nothing waits for the device: loss terms stay device tensors, summed on the
device and read once per epoch, and every step has the same batch shape (see :func:`_batches`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import COMPILE_MODES
from .distributed import (
    Shard,
    ShardedDraws,
    average_gradients,
    broadcast_module,
    current_shard,
    mean_over_ranks,
)
from .graphs import CudaGraphBackend, RecordedSteps, StepRecord, WatchedContext, make_record
from .progress import EpochProgress
from .runtime import derive_seed, make_generator, resolve_device, seeded_global_rng


@dataclasses.dataclass
class LossOutput:
    """A loss to minimise and its named terms (detached 0-d tensors or floats, for logging).

    Terms stay on the device: the loop sums them there and reads them once per epoch, so a step
    never waits for the device to report a number.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor | float]


@dataclasses.dataclass
class StepContext:
    """What a loss function may need to know about where training is."""

    epoch: int
    n_epochs: int
    generator: torch.Generator | None  # None: torch's default generator (compiled losses)
    labels: torch.Tensor | None = None  # (batch,) int64 classes, -1 unlabelled (semi families)
    #: NumPy generator for draws whose value Python needs (DDVI-semi's sleep class), so that no
    #: tensor has to be read back from the device. ``fit`` passes the run's seeded stream; a
    #: context built by hand gets one seeded with 0.
    host_rng: np.random.Generator = dataclasses.field(
        default_factory=lambda: np.random.default_rng(0)
    )
    shard: Shard = Shard()
    sharded_rows: set[int] = dataclasses.field(default_factory=set)
    #: The plan's host-side choice for this step (:attr:`OptimiserPlan.choose`), else None.
    choice: Any = None

    def local_rows(self, n: int) -> int:
        """Rows this process draws of a data-free batch of ``n`` (all ``n`` on one process).

        Families call this for draws that do not come from the data batch (DDVI's sleep batch of
        prior samples); in a data-parallel run the draw is then sharded like the data batch.
        """
        rows = self.shard.local_rows(n)
        if self.shard.active:  # the set is read by ShardedDraws only; a compiled loss guards on it
            self.sharded_rows.add(rows)
        return rows


@dataclasses.dataclass
class OptimiserPlan:
    """One optimiser over some modules and the loss it minimises.

    Attributes
    ----------
    name : str
        Name used in logs and checkpoints (unique within a phase).
    modules : sequence of nn.Module
        Modules whose parameters this optimiser updates.
    loss_fn : callable
        ``loss_fn(batch, ctx) -> LossOutput``; ``batch`` is None for plans that need no data.
    lr : float
        Adam learning rate.
    repeats : int
        Steps of this plan per batch (DDVI's sleep steps: 3).
    uses_batch : bool
        Whether ``loss_fn`` receives the data batch.
    grad_clip : float, optional
        Clip the gradient norm of this plan's parameters.
    lr_factor : callable, optional
        ``lr_factor(epoch)`` multiplies ``lr`` at the start of each epoch (a step schedule).
    choose : callable, optional
        ``choose(ctx) -> hashable``, called before every step of this plan; the result is the
        step's ``ctx.choice``. A choice made on the host (DDVI-semi's sleep class) belongs here,
        not in ``loss_fn``: a replayed CUDA graph runs no Python, so it keeps one graph per choice.
    """

    name: str
    modules: Sequence[nn.Module]
    loss_fn: Callable[[torch.Tensor | None, StepContext], LossOutput]
    lr: float
    repeats: int = 1
    uses_batch: bool = True
    grad_clip: float | None = None
    lr_factor: Callable[[int], float] | None = None
    choose: Callable[[StepContext], Any] | None = None

    def parameters(self) -> list[nn.Parameter]:
        """Return the unique parameters of ``modules`` in a stable order."""
        seen, params = set(), []
        for module in self.modules:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params


@dataclasses.dataclass
class Phase:
    """A block of epochs with fixed plans.

    ``steps_per_epoch`` set means the phase draws no data (e.g. prior-diffusion pre-training on
    prior samples); ``frozen(epoch)`` lists modules whose parameters are held fixed at an epoch.
    """

    name: str
    plans: Sequence[OptimiserPlan]
    epochs: int
    batch_size: int
    steps_per_epoch: int | None = None
    frozen: Callable[[int], Sequence[nn.Module]] = lambda epoch: ()


@dataclasses.dataclass
class History:
    """One row per epoch: phase, epoch, seconds, mean loss terms and any evaluation results."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def for_phase(self, phase: str) -> list[dict[str, Any]]:
        """Rows of one phase."""
        return [r for r in self.rows if r["phase"] == phase]


def as_tensor_2d(x, name: str = "x") -> torch.Tensor:
    """Validate a data matrix (n, features): 2-D, floating, finite; return a float32 tensor."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_examples, n_features); got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    t = t.float()
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"{name} contains NaN or infinite values (first at row {bad}); allowed: finite numbers"
        )
    return t


def _save_atomic(obj: Any, path: str | os.PathLike) -> None:
    path = os.fspath(path)
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_plain(path: str | os.PathLike, map_location="cpu") -> Any:
    """Load a file written by ``torch.save`` that holds only plain data (never unpickles code).

    ``weights_only=True`` accepts tensors, numbers, strings, lists, tuples and dicts and refuses
    anything else, so a crafted file cannot run code when it is loaded.
    """
    return torch.load(path, map_location=map_location, weights_only=True)


@dataclasses.dataclass
class FitOptions:
    """How :func:`fit` runs (everything but the model, its phases and the data).

    Attributes
    ----------
    device : str or torch.device
        ``"auto"`` picks cuda, then mps, then cpu.
    seed : int, optional
        Split by :func:`~ddvi_genomics.core.runtime.derive_seed` into the ``"shuffle"`` (batch
        order), ``"noise"`` (every loss-function draw) and ``"dropout"`` (torch's global RNG,
        forked, so the caller's state is restored afterwards) streams. None: fresh entropy.
    verbose : bool, optional
        Progress lines on stderr; None means "only when stderr is a terminal".
    checkpoint : path, optional
        Written (atomically) after every epoch: model, optimiser states, generators, history.
    resume : bool
        Continue from ``checkpoint`` when it exists.
    eval_fn : callable, optional
        ``eval_fn(model) -> dict`` run every ``eval_every`` epochs and at the end of each phase;
        its results join that epoch's history row.
    eval_every : int
        Evaluation period in epochs (0: only at the end of each phase when ``eval_fn`` is set).
    batch_transform : callable, optional
        ``batch_transform(x_batch, generator)`` applied to every training batch of ``x`` (data
        augmentation; the generator is the seeded noise stream). Labels are not passed to it.
    compile : str
        ``"auto"`` (default): ``"cuda-graph"`` on CUDA, eager elsewhere (and in data-parallel
        runs); ``"off"``: eager; ``"cuda-graph"``: every plan's whole step (loss, backward,
        clipping, Adam) recorded once as a CUDA graph and replayed (:mod:`.graphs`; CUDA only,
        not data-parallel); ``"cuda-graph-fused"``: the same, with each loss function and its
        backward first fused by :func:`torch.compile` (fewer, larger kernels per step, after a
        compilation of a minute or more); or a :func:`torch.compile` mode (``"default"``,
        ``"reduce-overhead"``, ``"max-autotune"``) for every plan's loss function, its backward
        pass compiled with it. A loss function that fails to compile runs eagerly, with a
        warning, as does a plan whose loss draws from ``ctx.host_rng``; a step that fails while
        it is recorded stops the run with an error naming the plan. Under :func:`torch.compile`
        a loss function's random draws come from torch's default generator of the device
        (``ctx.generator`` is None), seeded from ``seed`` like dropout: torch.compile cannot
        trace a draw from an explicit ``torch.Generator``, and each one split the compiled
        loss into separate graphs. Such a run is reproducible on the same device, but its noise
        is not the eager run's.
    distributed : bool, optional
        Share every batch among the processes of the initialised ``torch.distributed`` group
        (:mod:`.distributed`); None: whenever such a group of more than one process exists.
        Every process must call :func:`fit` with the same model, data, phases and seed; only
        rank 0 writes the checkpoint.
    """

    device: str | torch.device = "auto"
    seed: int | None = 0
    verbose: bool | None = None
    checkpoint: str | os.PathLike | None = None
    resume: bool = False
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None
    eval_every: int = 0
    batch_transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    compile: str = "auto"
    distributed: bool | None = None


#: The modes that go through :func:`torch.compile`, and the torch.compile mode each uses.
TORCH_COMPILE_MODES = {
    "default": "default",
    "reduce-overhead": "reduce-overhead",
    "max-autotune": "max-autotune",
    "cuda-graph-fused": "default",
}
#: The modes that record whole steps as CUDA graphs (:mod:`.graphs`).
RECORDED_MODES = ("cuda-graph", "cuda-graph-fused")


def compile_mode(mode: str, device: torch.device) -> str:
    """Resolve ``compile="auto"``: recorded CUDA graphs on CUDA, eager elsewhere; check the name."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile={mode!r} is not allowed; choose one of {list(COMPILE_MODES)}")
    if mode == "auto":
        return "cuda-graph" if device.type == "cuda" else "off"
    return mode


def graph_backend(device: torch.device, generators: list[torch.Generator]):
    """Return the recorder of whole steps for ``compile="cuda-graph"`` (:mod:`.graphs`)."""
    if device.type != "cuda":
        raise ValueError(
            f"compile='cuda-graph' / 'cuda-graph-fused' needs a CUDA device; this run's "
            f"device is {device}"
        )
    return CudaGraphBackend(device, generators)


def fit(
    model: nn.Module,
    phases: Sequence[Phase],
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    **options,
) -> History:
    """Run ``phases`` on ``model`` with data ``x`` (and per-example ``labels``).

    Parameters
    ----------
    model : nn.Module
        Moved to the device.
    phases : sequence of Phase
    x : torch.Tensor or HostRows, shape (n, features)
        Training data; a tensor is copied to the device once (not per batch), the rows of a
        :class:`~.data.HostRows` (a memory-mapped matrix) are read and sent batch by batch.
    labels : torch.Tensor of int64, shape (n,), optional
        Semi-supervised classes (-1 for unlabelled); batched with ``x`` and handed to the loss
        functions as ``ctx.labels``.
    **options
        Fields of :class:`FitOptions`.

    Returns
    -------
    History
    """
    opts = FitOptions(**options)
    dev = resolve_device(opts.device)
    compile_mode(opts.compile, dev)  # a bad name fails before any work
    dropout_seed = None if opts.seed is None else derive_seed(opts.seed, "dropout")
    with seeded_global_rng(dropout_seed, dev):
        run = _Run.start(model, x, labels, dev, opts)
        for phase_idx in range(run.start_phase, len(phases)):
            _run_phase(run, phases, phase_idx)
    model.eval()
    return run.history


@dataclasses.dataclass
class _Run:
    """The state of one :func:`fit` call: data on the device, generators, history, resume point."""

    model: nn.Module
    data: torch.Tensor
    labels: torch.Tensor | None
    device: torch.device
    opts: FitOptions
    shuffle_gen: torch.Generator
    noise_gen: torch.Generator
    history: History
    shard: Shard = Shard()
    host_rng: np.random.Generator | None = None
    start_phase: int = 0
    start_epoch: int = 0
    saved_optimisers: dict = dataclasses.field(default_factory=dict)
    progress: EpochProgress | None = None
    loss_fns: dict = dataclasses.field(default_factory=dict)  # compiled loss per plan
    recorder: RecordedSteps | None = None  # compile="cuda-graph" / "cuda-graph-fused"

    def loss_fn(self, plan: OptimiserPlan):
        """Return ``plan``'s loss function, compiled once per fit when ``compile`` asks for it."""
        key = id(plan)
        if key not in self.loss_fns:
            mode = compile_mode(self.opts.compile, self.device)
            fn = plan.loss_fn
            if mode in TORCH_COMPILE_MODES:
                # dynamic=None: shapes stay static (every step has the same shapes), but an int
                # the loss reads that changes (the epoch of a KL warm-up, a sleep step's class)
                # becomes symbolic after one recompile; dynamic=False made one graph per value,
                # and eager after dynamo's recompile limit (8)
                fn = torch.compile(fn, mode=TORCH_COMPILE_MODES[mode], dynamic=None)
            self.loss_fns[key] = fn
        return self.loss_fns[key]

    def loss(self, plan: OptimiserPlan, data, ctx) -> LossOutput:
        """Evaluate ``plan``'s loss; a compiled one that cannot compile falls back to eager."""
        fn = self.loss_fn(plan)
        if fn is plan.loss_fn or isinstance(ctx, WatchedContext):  # a watched step is eager
            return plan.loss_fn(data, ctx)
        try:
            return fn(data, ctx)
        except Exception as err:  # a compiler failure (torch._dynamo / torch._inductor)
            if not type(err).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise
            warnings.warn(
                f"torch.compile failed for plan {plan.name!r} ({type(err).__name__}); "
                "running it eagerly",
                RuntimeWarning,
                stacklevel=2,
            )
            self.loss_fns[id(plan)] = plan.loss_fn
            return plan.loss_fn(data, ctx)

    @classmethod
    def start(cls, model, x, labels, dev, opts: FitOptions) -> _Run:
        seed = opts.seed
        shard = current_shard() if opts.distributed in (None, True) else Shard()
        if opts.distributed and not shard.active:
            raise ValueError(
                "distributed=True needs an initialised torch.distributed group of more than one "
                "process (start the run with torchrun)"
            )
        if shard.active and seed is None:
            raise ValueError("a data-parallel run needs a seed shared by every process")
        model.to(dev)
        broadcast_module(model, shard)
        run = cls(
            model=model,
            data=x.to(dev),
            labels=None if labels is None else labels.to(dev),
            device=dev,
            opts=opts,
            shuffle_gen=make_generator(None if seed is None else derive_seed(seed, "shuffle")),
            noise_gen=make_generator(None if seed is None else derive_seed(seed, "noise"), dev),
            history=History(),
            shard=shard,
            host_rng=np.random.default_rng(None if seed is None else derive_seed(seed, "host")),
        )
        if compile_mode(opts.compile, dev) in RECORDED_MODES:
            if shard.active and opts.compile != "auto":
                raise ValueError(f"compile={opts.compile!r} does not run data-parallel; use 'off'")
            if not shard.active:
                backend = graph_backend(dev, [run.noise_gen])
                run.recorder = RecordedSteps(
                    backend,
                    lambda *args: _optimiser_step(run, *args),
                    traced=compile_mode(opts.compile, dev) in TORCH_COMPILE_MODES,
                )
        if opts.resume and opts.checkpoint is not None and os.path.exists(opts.checkpoint):
            try:
                state = load_plain(opts.checkpoint, map_location=dev)
            except (RuntimeError, EOFError, OSError, MemoryError, pickle.UnpicklingError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
                raise ValueError(
                    f"checkpoint {opts.checkpoint} cannot be resumed from ({first}); it is "
                    "truncated or damaged: delete it to start over"
                ) from None
            run.restore(state)
        return run

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint_state`."""
        self.model.load_state_dict(state["model"])
        self.start_phase, self.start_epoch = state["phase"], state["epoch"]
        self.saved_optimisers = state["optimisers"]
        self.history.rows = state["history"]
        self.shuffle_gen.set_state(state["shuffle_generator"].cpu())
        self.noise_gen.set_state(state["noise_generator"].to(self.noise_gen.get_state().device))
        if state.get("host_rng") is not None:
            self.host_rng.bit_generator.state = state["host_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)

    def checkpoint_state(self, phase_idx: int, epoch: int, last: bool, optims) -> dict:
        """Everything needed to continue after ``epoch`` of phase ``phase_idx`` (plain data)."""
        return {
            "model": self.model.state_dict(),
            "phase": phase_idx + 1 if last else phase_idx,
            "epoch": 0 if last else epoch + 1,
            "optimisers": {} if last else {k: o.state_dict() for k, o in optims.items()},
            "history": self.history.rows,
            "shuffle_generator": self.shuffle_gen.get_state(),
            "noise_generator": self.noise_gen.get_state().cpu(),
            "host_rng": self.host_rng.bit_generator.state,  # plain dict of ints and strings
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }


def _run_phase(run: _Run, phases: Sequence[Phase], phase_idx: int) -> None:
    phase = phases[phase_idx]
    optims = build_optimisers(phase, capturable=run.recorder is not None)
    first_epoch = 0
    if phase_idx == run.start_phase:
        for name, state in run.saved_optimisers.items():
            optims[name].load_state_dict(state)
        first_epoch = run.start_epoch
    if run.progress is None:
        total = sum(p.epochs for p in phases[run.start_phase :]) - run.start_epoch
        run.progress = EpochProgress(total, run.opts.verbose)
    for epoch in range(first_epoch, phase.epochs):
        t0 = time.perf_counter()
        terms = _run_epoch(run, phase, optims, epoch)
        row: dict[str, Any] = {
            "phase": phase.name,
            "epoch": epoch,
            "seconds": time.perf_counter() - t0,
            **terms,
        }
        last = epoch == phase.epochs - 1
        opts = run.opts
        if opts.eval_fn is not None and (
            (opts.eval_every and (epoch + 1) % opts.eval_every == 0) or last
        ):
            row.update({f"eval/{k}": v for k, v in opts.eval_fn(run.model).items()})
        run.history.rows.append(row)
        run.progress.epoch(phase.name, epoch, phase.epochs, terms, row["seconds"])
        if opts.checkpoint is not None and run.shard.rank == 0:
            _save_atomic(run.checkpoint_state(phase_idx, epoch, last, optims), opts.checkpoint)
    _apply_freezing(phase, None)
    if run.recorder is not None:  # free the finished phase's graphs and their memory pools
        run.recorder.forget(phase.plans)


def _run_epoch(run: _Run, phase: Phase, optims, epoch: int) -> dict[str, float]:
    """One pass over the data (or ``steps_per_epoch`` data-free steps); return mean loss terms.

    Each step's terms come back as one device vector (:class:`~.graphs.StepRecord`), summed on
    the device and read back once, after the last step; a non-finite loss is caught then too,
    before the epoch is recorded.
    """
    run.model.train()
    _apply_freezing(phase, epoch)
    for plan in phase.plans:
        if plan.lr_factor is not None:
            for group in optims[plan.name].param_groups:
                group["lr"] = plan.lr * plan.lr_factor(epoch)
    totals: dict[str, _PlanTotals] = {}
    recorder = run.recorder
    for batch, labels in _batches(run.data, run.labels, phase, run.shuffle_gen, run.shard):
        if batch is not None and run.opts.batch_transform is not None:
            batch = run.opts.batch_transform(batch, run.noise_gen)
        if recorder is not None:  # replays read their inputs from fixed addresses
            batch, labels = recorder.stage(batch, "x"), recorder.stage(labels, "labels")
        ctx = StepContext(
            epoch,
            phase.epochs,
            _step_generator(run),
            labels,
            shard=run.shard,
            host_rng=run.host_rng,
        )
        for plan in phase.plans:
            data = batch if plan.uses_batch else None
            for _ in range(plan.repeats):
                ctx.choice = None if plan.choose is None else plan.choose(ctx)
                if recorder is None:
                    record = _optimiser_step(run, plan, optims[plan.name], data, ctx)
                else:
                    record = recorder.step(plan, optims[plan.name], data, ctx)
                totals.setdefault(plan.name, _PlanTotals()).add(record)
    return _epoch_means(run, totals, epoch, multi=len(phase.plans) > 1)


def _step_generator(run: _Run) -> torch.Generator | None:
    """Return the generator a step's loss draws its noise from (``StepContext.generator``).

    The run's seeded noise stream, except where loss functions go through :func:`torch.compile`
    (one process): there None, i.e. torch's default generator of the device, which the compiled
    code draws from inside its graphs. A draw from an explicit generator is a graph break
    (torch.compile does not trace ``torch.Generator`` arguments), and a DDVI step had one at
    every prior sample, diffusion time and noise draw.
    """
    traced = compile_mode(run.opts.compile, run.device) in TORCH_COMPILE_MODES
    return None if traced and not run.shard.active else run.noise_gen


@dataclasses.dataclass
class _PlanTotals:
    """One plan's step records summed over an epoch (the tensor part stays on the device)."""

    steps: int = 0
    record: StepRecord | None = None

    def add(self, record: StepRecord) -> None:
        if self.record is None:  # a replay's record is overwritten by the next replay: copy
            self.record = StepRecord(
                record.tags, record.values.clone(), dict(record.constants), record.order
            )
        else:
            self.record.values.add_(record.values)
            for key, value in record.constants.items():
                self.record.constants[key] += value
        self.steps += 1


def _epoch_means(run: _Run, totals: dict[str, _PlanTotals], epoch: int, multi: bool):
    """Read the device sums back once: mean terms over steps (and ranks); refuse non-finite.

    The vector read back holds, plan by plan, the mean tensor terms and the fraction of steps
    whose loss was not finite, then every plan's constant terms.
    """
    if not totals:
        return {}
    parts = [total.record.values / total.steps for total in totals.values()]
    constants = [
        value / total.steps
        for total in totals.values()
        for value in total.record.constants.values()
    ]
    values = torch.cat([*parts, torch.tensor(constants, device=run.device)])
    values = iter(mean_over_ranks(values, run.shard).tolist())
    per_plan, bad = {}, []
    for name, total in totals.items():
        per_plan[name] = {tag: next(values) for tag in total.record.tags}
        if next(values) > 0:
            bad.append(name)
    for name, total in totals.items():
        per_plan[name].update({key: next(values) for key in total.record.constants})
    means = {
        f"{name}/{key}" if multi else key: per_plan[name][key]
        for name, total in totals.items()
        for key in total.record.order
    }
    if bad:
        shown = {k: v for k, v in means.items() if not math.isfinite(v)}
        raise FloatingPointError(
            f"non-finite loss in plan {bad[0]!r} during epoch {epoch + 1}: {shown}"
        )
    return means


def build_optimisers(phase: Phase, capturable: bool = False) -> dict[str, torch.optim.Optimizer]:
    """One Adam optimiser per plan of ``phase``, each with its own state.

    Parameters that several plans share (DDVI's Q2 and G2 in wake and sleep) get separate moment
    estimates in each optimiser. ``capturable`` keeps Adam's step counts on the device, so a
    step can be recorded in a CUDA graph.
    """
    names = [plan.name for plan in phase.plans]
    if len(set(names)) != len(names):
        raise ValueError(f"plan names in phase {phase.name!r} must be unique; got {names}")
    return {plan.name: _adam(plan.parameters(), plan.lr, capturable) for plan in phase.plans}


def _adam(
    params: list[nn.Parameter], lr: float, capturable: bool = False
) -> torch.optim.Optimizer:
    """Adam with the fused kernel where the device supports it (same update, about 5x faster on CPU)."""
    extra = {"capturable": True} if capturable else {}
    try:
        return torch.optim.Adam(params, lr=lr, fused=True, **extra)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr, **extra)


def _apply_freezing(phase: Phase, epoch: int | None) -> None:
    frozen = set()
    if epoch is not None:
        for module in phase.frozen(epoch):
            frozen.update(id(p) for p in module.parameters())
    for plan in phase.plans:
        for p in plan.parameters():
            p.requires_grad_(id(p) not in frozen)


def _batches(data: torch.Tensor, labels, phase: Phase, generator: torch.Generator, shard: Shard):
    """Yield ``(x_batch, labels_batch)``; ``(None, None)`` for data-free phases.

    Every batch has the same shape: ``min(batch_size, n)`` rows, and the ragged remainder of a
    permutation (``n mod batch_size`` rows) is dropped. The permutation is fresh every epoch, so
    every example is left out with the same probability ``(n mod B) / n`` and the mean gradient
    over an epoch's batches stays an unbiased estimate of the full-data gradient; a static shape
    lets a compiled or captured step run every batch. In a data-parallel run each global batch is
    cut into equal slices, one per rank.
    """
    if phase.steps_per_epoch is not None:
        for _ in range(phase.steps_per_epoch):
            yield None, None
        return
    n = data.shape[0]
    global_batch = min(phase.batch_size, n)
    global_batch -= global_batch % shard.world_size
    local = shard.local_rows(global_batch) if global_batch else 0
    if local == 0:
        raise ValueError(f"{n} training rows cannot be shared by {shard.world_size} processes")
    on_device = isinstance(data, torch.Tensor)  # else HostRows: rows gathered on the host
    order = torch.randperm(n, generator=generator)
    order = order.to(data.device) if on_device else order
    for start in range(0, n - global_batch + 1, global_batch):
        idx = order[start : start + global_batch][shard.rows(local)]
        yield data[idx], None if labels is None else labels[idx.to(labels.device)]


def _optimiser_step(run: _Run, plan: OptimiserPlan, optim, data, ctx: StepContext) -> StepRecord:
    """One eager optimiser step of ``plan``: zero the gradients, loss, backward, clip, update.

    The backward pass computes the gradients of the plan's trainable parameters only: a loss
    that runs other plans' networks (DDVI's wake step reads the prior's log-density, the
    paper recipe's wake step runs the denoiser it does not train) passes gradients through
    them without computing their weight gradients, which no optimiser of this step would read.
    (A plan whose parameters are all frozen gets a full backward pass, as ``inputs`` must not
    be empty.)
    """
    run.model.zero_grad(set_to_none=True)
    trainable = [p for p in plan.parameters() if p.requires_grad]
    if run.shard.active:
        if data is not None:
            ctx.sharded_rows.add(data.shape[0])
        with ShardedDraws(run.shard, ctx.sharded_rows):
            out = run.loss(plan, data, ctx)
            out.loss.backward(inputs=trainable or None)
        average_gradients(plan.parameters(), run.shard)
    else:
        out = run.loss(plan, data, ctx)
        out.loss.backward(inputs=trainable or None)
    if plan.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(plan.parameters(), plan.grad_clip)
    optim.step()
    return make_record(out.loss, out.terms)


def epochs_to_frozen_until(fraction: float, epochs: int) -> int:
    """Return the number of leading epochs frozen for a fraction (30 % of 100 -> 30)."""
    return int(math.floor(fraction * epochs + 1e-9))


KL_SCHEDULES = ("constant", "linear")


def kl_weight_at(
    epoch: int,
    n_epochs: int,
    weight: float,
    schedule: str = "constant",
    warmup_fraction: float = 0.8,
) -> float:
    """KL weight at an epoch (reference ``get_kld_weights``).

    ``constant``: ``weight`` every epoch. ``linear``: ``weight * epoch / (warmup_fraction *
    n_epochs)`` while ``epoch < warmup_fraction * n_epochs``, then ``weight`` (a 160-epoch ramp for
    200 epochs).
    """
    if schedule == "constant":
        return weight
    if schedule != "linear":
        raise ValueError(
            f"kl_schedule={schedule!r} is not allowed; choose one of {list(KL_SCHEDULES)}"
        )
    ramp = warmup_fraction * n_epochs
    return weight * epoch / ramp if epoch < ramp else weight
