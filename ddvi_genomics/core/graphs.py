"""Whole optimiser steps recorded once and replayed: ``fit(compile="cuda-graph")``.

A DDVI step is hundreds of small kernels (a T-step reverse chain through small nets, its backward
pass, Adam), so on a GPU it is bound by kernel launches, not arithmetic. Here each plan's whole
step (``zero_grad``, loss, backward, gradient clipping, the Adam update, and the step's loss terms
stacked into one vector) is recorded as one CUDA graph and replayed for every later batch: one
launch per step instead of hundreds. The data batch is copied into a static buffer first.

What a replay cannot see
------------------------
A replay re-runs the recorded kernels and no Python, so whatever Python decides inside a step is
frozen when it is recorded. A graph is therefore kept per **key**:

- the plan;
- which of its parameters train (``requires_grad``: DDVI's decoder is frozen for the first 30 % of
  stage 2);
- its learning rates (a step schedule such as the AAE's);
- the plan's host-side choice for the step (:attr:`~.training.OptimiserPlan.choose`: DDVI-semi's
  sleep class, drawn from the NumPy stream before the step);
- the epoch, for plans whose loss reads ``ctx.epoch`` or ``ctx.n_epochs`` (a KL weight schedule).
  Which plans do is learnt by watching the context during their first step.

Random draws on the device replay correctly: the run's noise generator is registered with every
graph (torch's default generator, used by dropout, always is), so each replay advances it as an
eager step would.

A loss that draws from ``ctx.host_rng`` itself cannot be replayed: that plan runs eagerly, with a
warning. A step that fails while it is recorded (a read of a device value, a copy from pageable
host memory) stops the run with an error naming the plan: an aborted capture can leave CUDA's
random generators unusable, so there is no safe eager fallback then.

The first step of each key runs eagerly (on a side stream, as CUDA graph capture needs: it builds
Adam's state and the libraries' workspaces); the second is recorded and then replayed, and every
later one is a replay. With torch.compile-fused losses (``"cuda-graph-fused"``) a plan's first
step runs its loss eagerly while the context is watched, the second compiles it, and the third
is recorded. Every batch is still exactly one optimiser step of each plan.

:class:`EagerReplay` stands in for the CUDA backend in tests on the CPU: recording keeps a closure
over the recording-time context and static buffers, and a replay calls it, so a key that misses
something of the context (the epoch, the choice) gives different numbers from eager, as it would
on a GPU. Its replays do re-read the learning rates and ``requires_grad``, which a CUDA graph
would not; tests count the graphs made to guard those two parts of the key.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Hashable
from typing import Any

import torch

#: Context fields whose reads make a plan's recorded step depend on the epoch.
EPOCH_FIELDS = frozenset({"epoch", "n_epochs"})
#: Context fields a recorded step must not read (a host draw would be frozen).
HOST_FIELDS = frozenset({"host_rng"})


@dataclasses.dataclass
class StepRecord:
    """What one optimiser step reports.

    Attributes
    ----------
    tags : tuple of str
        Names of the tensor terms, ``"loss"`` first.
    order : tuple of str
        Every term's name, tensor or constant, in the order the loss function gave them.
    values : torch.Tensor, shape (len(tags) + 1,)
        The terms (float32, on the device), then 1.0 if the loss was not finite, else 0.0.
    constants : dict of str to float
        Terms that were plain Python numbers (a KL weight); fixed for a recorded key.
    """

    tags: tuple[str, ...]
    values: torch.Tensor
    constants: dict[str, float]
    order: tuple[str, ...] = ()


def make_record(loss: torch.Tensor, terms: dict[str, Any]) -> StepRecord:
    """Stack a step's loss and tensor terms into one device vector (no host read)."""
    loss = loss.detach()
    tensors = {"loss": loss}
    constants = {}
    for key, value in terms.items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach()
        else:
            constants[key] = float(value)
    stacked = [t.reshape(()).float() for t in tensors.values()]
    stacked.append((~torch.isfinite(loss)).any().float())
    return StepRecord(tuple(tensors), torch.stack(stacked), constants, ("loss", *terms))


class CudaGraphBackend:
    """Record with :class:`torch.cuda.CUDAGraph`; warm up on a side stream, as capture needs."""

    def __init__(self, device: torch.device, generators: list[torch.Generator]):
        self.device = device
        self.generators = [g for g in generators if g.device.type == "cuda"]
        self.side = torch.cuda.Stream(device)

    def warm(self, fn: Callable[[], StepRecord]) -> StepRecord:
        """Run ``fn`` eagerly on the side stream and wait for it (once per key)."""
        current = torch.cuda.current_stream(self.device)
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):
            record = fn()
        current.wait_stream(self.side)
        self.side.synchronize()  # the record's tensors were made on the side stream
        return record

    def capture(
        self, fn: Callable[[], StepRecord], like: StepRecord
    ) -> tuple[Callable[[], None], StepRecord]:
        """Record ``fn`` (no kernel runs yet) and return ``(replay, static record)``."""
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            record = fn()
        return graph.replay, record


class EagerReplay:
    """CPU stand-in for :class:`CudaGraphBackend`: a replay calls the recorded closure again.

    Its record is a static vector that every replay overwrites, as a CUDA graph's output is.
    """

    def __init__(self):
        self.captures = 0
        self.replays = 0

    def warm(self, fn: Callable[[], StepRecord]) -> StepRecord:
        """Run ``fn`` eagerly."""
        return fn()

    def capture(
        self, fn: Callable[[], StepRecord], like: StepRecord
    ) -> tuple[Callable[[], None], StepRecord]:
        """Keep ``fn``; each replay calls it and copies its terms into the static record."""
        self.captures += 1
        static = StepRecord(
            like.tags, torch.empty_like(like.values), dict(like.constants), like.order
        )

        def replay() -> None:
            self.replays += 1
            fresh = fn()
            static.values.copy_(fresh.values)
            static.constants.update(fresh.constants)

        return replay, static


StepFn = Callable[[Any, torch.optim.Optimizer, "torch.Tensor | None", Any], StepRecord]


class WatchedContext:
    """A step context that notes which of :data:`EPOCH_FIELDS` and :data:`HOST_FIELDS` its loss reads.

    It forwards every attribute to the wrapped :class:`~.training.StepContext`, which stays a
    plain dataclass, so that torch.compile traces a whole loss function through it (an override
    of ``__getattribute__`` on the context made torch.compile skip the loss's own frame and
    compile only the functions it calls, one graph each). A watched step runs its loss eagerly.
    """

    def __init__(self, ctx, reads: set[str]):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_reads", reads)

    def __getattr__(self, name: str):
        if name in EPOCH_FIELDS or name in HOST_FIELDS:
            self._reads.add(name)
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._ctx, name, value)


class RecordedSteps:
    """Runs each plan's steps as replays of recorded graphs, keyed as the module docstring says.

    Parameters
    ----------
    backend : CudaGraphBackend or EagerReplay
    run_step : callable
        ``run_step(plan, optimiser, data, ctx) -> StepRecord``: one eager optimiser step.
    traced : bool
        The loss functions go through torch.compile (``"cuda-graph-fused"``). A plan's first,
        watched step then runs its loss eagerly, the second is an unwatched warm-up that
        compiles it, and the third is recorded, so that nothing compiles during a recording
        (which a compiler's own allocations and synchronisations would break). The check that
        the recorded step reads nothing its first step did not is then not made.
    """

    def __init__(self, backend, run_step: StepFn, traced: bool = False):
        self.backend = backend
        self.run_step = run_step
        self.traced = traced
        self.graphs: dict[Hashable, tuple[Callable[[], None], StepRecord]] = {}
        self.warm_records: dict[Hashable, StepRecord] = {}
        self.epoch_dependent: dict[int, bool] = {}
        self.eager_only: set[int] = set()
        self.params: dict[int, list[torch.nn.Parameter]] = {}
        self.buffers: dict[tuple, torch.Tensor] = {}

    def stage(self, tensor: torch.Tensor | None, name: str) -> torch.Tensor | None:
        """Copy ``tensor`` into this run's static buffer of its shape (replays read it there)."""
        if tensor is None:
            return None
        key = (name, tuple(tensor.shape), tensor.dtype, tensor.device)
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = torch.empty_like(tensor)
        buffer.copy_(tensor, non_blocking=True)
        return buffer

    def step(self, plan, optimiser, data, ctx) -> StepRecord:
        """One optimiser step of ``plan`` on the staged ``data`` (eager, recorded or replayed)."""
        pid = id(plan)
        if pid in self.eager_only:
            return self.run_step(plan, optimiser, data, ctx)
        if pid not in self.epoch_dependent:  # the plan's first step: learn what it reads
            record, reads = self._watched_warm(plan, optimiser, data, ctx)
            if reads & HOST_FIELDS:
                self._give_up(plan, "its loss draws from ctx.host_rng (use OptimiserPlan.choose)")
                return record
            self.epoch_dependent[pid] = bool(reads & EPOCH_FIELDS)
            if not self.traced:  # traced: the next step of the key warms the compiled loss
                self.warm_records[self._key(plan, optimiser, ctx)] = record
            return record
        key = self._key(plan, optimiser, ctx)
        entry = self.graphs.get(key)
        if entry is None:
            if key not in self.warm_records:
                record = self.backend.warm(lambda: self.run_step(plan, optimiser, data, ctx))
                self.warm_records[key] = record
                return record
            entry = self._record(plan, optimiser, data, ctx, key)
            if entry is None:
                return self.run_step(plan, optimiser, data, ctx)
        replay, record = entry
        replay()
        return record

    def forget(self, plans) -> None:
        """Drop the graphs of ``plans`` (a finished phase's): their keys never come back."""
        ids = {id(plan) for plan in plans}
        for table in (self.graphs, self.warm_records):
            for key in [k for k in table if k[0] in ids]:
                del table[key]

    # -- internals ------------------------------------------------------------------------------

    def _watched_warm(self, plan, optimiser, data, ctx):
        reads: set[str] = set()
        watched = WatchedContext(ctx, reads)
        record = self.backend.warm(lambda: self.run_step(plan, optimiser, data, watched))
        return record, reads

    def _key(self, plan, optimiser, ctx) -> Hashable:
        pid = id(plan)
        params = self.params.get(pid)
        if params is None:
            params = self.params[pid] = plan.parameters()
        return (
            pid,
            tuple(p.requires_grad for p in params),
            tuple(group["lr"] for group in optimiser.param_groups),
            ctx.choice,
            (ctx.epoch, ctx.n_epochs) if self.epoch_dependent[pid] else None,
        )

    def _record(self, plan, optimiser, data, ctx, key):
        pid = id(plan)
        if self.epoch_dependent[pid]:  # keys of past epochs never come back: free their graphs
            for old in [k for k in self.graphs if k[0] == pid and k[4] != key[4]]:
                del self.graphs[old]
        frozen = dataclasses.replace(ctx, sharded_rows=set(ctx.sharded_rows))
        reads: set[str] = set()
        stepped = frozen if self.traced else WatchedContext(frozen, reads)
        try:
            entry = self.backend.capture(
                lambda: self.run_step(plan, optimiser, data, stepped), self.warm_records[key]
            )
        except Exception as err:
            # no eager fallback: an aborted capture can leave the device's random generators
            # registered with a dead graph, and every later draw of the process fails
            raise RuntimeError(
                f"plan {plan.name!r} could not be recorded as a CUDA graph "
                f"({type(err).__name__}: {str(err).splitlines()[0]}); train with compile='off'"
            ) from err
        if reads & HOST_FIELDS or (reads & EPOCH_FIELDS and not self.epoch_dependent[pid]):
            self._give_up(plan, f"its loss read {sorted(reads)} only after its first step")
            return None
        self.graphs[key] = entry
        return entry

    def _give_up(self, plan, why: str) -> None:
        self.eager_only.add(id(plan))
        warnings.warn(
            f"plan {plan.name!r} cannot be replayed as a CUDA graph: {why}; it runs eagerly",
            RuntimeWarning,
            stacklevel=4,
        )
