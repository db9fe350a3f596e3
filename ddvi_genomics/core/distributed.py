"""Data-parallel training over ``torch.distributed`` (torchrun; gloo on CPU, NCCL on GPUs).

Every process (rank) holds the model and the whole training matrix; each global batch of ``B``
rows is cut into ``world_size`` equal slices, rank ``r`` computes the loss of slice ``r`` and the
gradients are averaged across ranks before every optimiser step. Since each family's loss is a
mean over rows, the average of the ranks' slice means is the global batch mean, so the update is
the one a single process takes on the whole batch.

The same has to hold for the noise. A family draws its noise with the shape of its (local) batch,
e.g. ``torch.randn(n, d, generator=g)``; inside a training step :class:`ShardedDraws` turns every
such draw into the draw one process would make for the whole global batch, ``(world_size * n,
d)``, and hands rank ``r`` its rows. All ranks start from the same generator states (the same
seed), consume them identically and stay in step, so two processes on the gloo back-end reproduce
one process with the same global batch up to the order of floating-point sums. Draws whose leading
dimension is not the batch (one class index for a sleep step) are drawn whole, identically on
every rank; dropout masks (torch's global RNG, the same seed on every rank) are sharded the same
way as the explicit draws.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence

import torch
from torch.overrides import TorchFunctionMode


@dataclasses.dataclass(frozen=True)
class Shard:
    """Where a process stands in a data-parallel run.

    Attributes
    ----------
    rank : int
        Index of this process, ``0 <= rank < world_size``.
    world_size : int
        Number of processes sharing every global batch.
    """

    rank: int = 0
    world_size: int = 1

    @property
    def active(self) -> bool:
        """True when more than one process shares the batches."""
        return self.world_size > 1

    def local_rows(self, n: int) -> int:
        """Rows of a global batch of ``n`` that this rank computes (``n / world_size``)."""
        if n % self.world_size:
            raise ValueError(
                f"a batch of {n} rows cannot be shared by {self.world_size} processes; "
                f"use a batch size divisible by {self.world_size}"
            )
        return n // self.world_size

    def rows(self, n_local: int) -> slice:
        """Return this rank's rows of a global draw of ``world_size * n_local`` rows."""
        return slice(self.rank * n_local, (self.rank + 1) * n_local)


def current_shard() -> Shard:
    """Return the :class:`Shard` of the initialised ``torch.distributed`` group (else one process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return Shard(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return Shard()


@contextlib.contextmanager
def process_group_from_environment(device: torch.device) -> Iterator[tuple[Shard, torch.device]]:
    """Join the process group that ``torchrun`` describes in the environment for a block of work.

    ``WORLD_SIZE`` > 1 (set by ``torchrun``) starts ``torch.distributed`` with NCCL on CUDA and
    gloo elsewhere; a CUDA rank takes the GPU numbered ``LOCAL_RANK``. Without ``WORLD_SIZE`` this
    is a single process and nothing is started. A group started here is left through
    :func:`leave_process_group` when the block ends, so no rank exits with the group's
    communication threads still running (gloo can abort the process at interpreter exit then).

    Yields
    ------
    shard : Shard
    device : torch.device
        ``device``, or this rank's GPU.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield Shard(), device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    started = not torch.distributed.is_initialized()
    if started:
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield current_shard(), device
    except BaseException:
        if started:
            # no barrier: the other ranks may be inside a collective this rank will never join
            torch.distributed.destroy_process_group()
        raise
    if started:
        leave_process_group()


def leave_process_group() -> None:
    """Wait until every rank is done, then destroy the default process group.

    The barrier keeps a rank from tearing its connections down while another rank still runs
    (rank 0 writing the outputs, say); destroying the group stops its communication threads
    while the interpreter is fully alive. Call it on every rank, after the last collective.
    """
    if not torch.distributed.is_initialized():
        return
    try:
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


# random factories whose first argument(s) give the output size
_SIZED = {torch.randn, torch.rand}
_LIKE = {torch.randn_like: torch.randn, torch.rand_like: torch.rand}
_UNSHARDABLE = {
    torch.randperm,
    torch.normal,
    torch.bernoulli,
    torch.poisson,
    torch.randint_like,
    torch.Tensor.normal_,
    torch.Tensor.uniform_,
    torch.Tensor.bernoulli_,
    torch.Tensor.random_,
    torch.Tensor.exponential_,
    torch.Tensor.geometric_,
    torch.Tensor.cauchy_,
    torch.Tensor.log_normal_,
}


class ShardedDraws(TorchFunctionMode):
    """Within a training step, make every per-row random draw a slice of the global draw.

    A draw whose leading dimension is one of ``local_rows`` (this rank's batch rows, and the rows
    of data-free draws a family asked for through ``StepContext.local_rows``) is drawn with
    ``world_size`` times as many rows and this rank's rows are returned; any other draw is made
    whole.
    Random operations that cannot be sliced this way raise, so a family that uses one is refused
    instead of silently diverging from the one-process run.

    Parameters
    ----------
    shard : Shard
    local_rows : set of int
        Leading dimensions that are per-row draws on this rank (read at every draw, so rows
        registered during the step count).
    """

    def __init__(self, shard: Shard, local_rows: set[int]):
        super().__init__()
        self.shard = shard
        self.local_rows = local_rows

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _SIZED:
            size = _size_of(args, kwargs)
            if size and size[0] in self.local_rows:
                return self._global(func, size, kwargs)
            return func(*args, **kwargs)
        if func in _LIKE:
            like = args[0]
            if like.ndim and like.shape[0] in self.local_rows:
                kwargs.setdefault("dtype", like.dtype)
                kwargs.setdefault("device", like.device)
                return self._global(_LIKE[func], tuple(like.shape), kwargs)
            return func(*args, **kwargs)
        if func is torch.randint:
            *bounds, size = args if "size" not in kwargs else (*args, kwargs.pop("size"))
            size = tuple(size)
            if size and size[0] in self.local_rows:
                grown = (self.shard.world_size * size[0], *size[1:])
                return func(*bounds, grown, **kwargs)[self.shard.rows(size[0])]
            return func(*bounds, size, **kwargs)
        if func is torch.multinomial:
            weights, n_draws, *rest = args
            if n_draws in self.local_rows and weights.ndim == 1:
                replacement = rest[0] if rest else kwargs.get("replacement", False)
                if not replacement:
                    raise RuntimeError("multinomial without replacement cannot be batch-sharded")
                draws = func(weights, self.shard.world_size * n_draws, *rest, **kwargs)
                return draws[self.shard.rows(n_draws)]
            return func(*args, **kwargs)
        if func in _UNSHARDABLE:
            raise RuntimeError(
                f"{getattr(func, '__name__', func)} inside a data-parallel training step cannot be "
                "sharded by rows; draw with torch.randn / rand / randint / multinomial instead"
            )
        return func(*args, **kwargs)

    def _global(self, factory, size: tuple[int, ...], kwargs) -> torch.Tensor:
        grown = (self.shard.world_size * size[0], *size[1:])
        return factory(grown, **kwargs)[self.shard.rows(size[0])]


def _size_of(args, kwargs) -> tuple[int, ...]:
    if "size" in kwargs:
        return tuple(kwargs.pop("size"))
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(args[0])
    return tuple(int(a) for a in args)


def average_gradients(params: Sequence[torch.nn.Parameter], shard: Shard) -> None:
    """Replace every gradient by its mean over the ranks (one all-reduce of a flat buffer)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not shard.active or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= shard.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: torch.nn.Module, shard: Shard) -> None:
    """Copy rank 0's parameters and buffers to every rank (identical starting weights)."""
    if not shard.active:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(tensor.data, src=0)


def mean_over_ranks(values: torch.Tensor, shard: Shard) -> torch.Tensor:
    """Average a tensor across the ranks (the epoch's loss terms)."""
    if not shard.active:
        return values
    values = values.clone()
    torch.distributed.all_reduce(values)
    return values / shard.world_size
