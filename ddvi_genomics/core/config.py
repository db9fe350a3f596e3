"""Frozen-dataclass configuration base with a dict round trip.

Every model family has a ``<Family>Config`` that subclasses :class:`Config`. Defaults are the
reference hyperparameters (each with a comment naming its source), configs are immutable, and
they round-trip through plain dicts so they can be stored inside checkpoints and output folders.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

C = TypeVar("C", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: immutable, validated, convertible to and from a dict."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (tuples become lists)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build a config from a dict made by :meth:`to_dict`.

        Raises
        ------
        ValueError
            If ``data`` holds a key that is not a field of this config.
        """
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(names)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            hint = str(hints.get(key, ""))
            if isinstance(value, list) and hint.startswith("tuple"):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    def replace(self: C, **changes: Any) -> C:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


def check_choice(name: str, value: Any, allowed: typing.Iterable[Any]) -> None:
    """Raise ``ValueError`` naming ``name``, ``value`` and the allowed values."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {list(allowed)}")


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is positive (or zero when allowed)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is not allowed; it must be {bound}")


#: Values of ``compile`` on :func:`~.training.fit` (and ``--compile`` on the runners).
COMPILE_MODES = (
    "off",
    "auto",
    "cuda-graph",
    "cuda-graph-fused",
    "default",
    "reduce-overhead",
    "max-autotune",
)
