"""Package facades that import their modules on first use (PEP 562).

``from ddvi_genomics.genotype import read_plink`` should not cost the import of torch, which only
the network methods need. A facade lists where each public name lives; :func:`lazy_exports`
gives it the module-level ``__getattr__`` and ``__dir__`` that import the defining module when
the name is first used.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, sources: dict[str, str], namespace: dict):
    """Return ``(__getattr__, __dir__)`` for a package whose names load on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    sources : dict of str to str
        Public name -> the submodule (relative to ``package``) that defines it.
    namespace : dict
        The package's ``globals()``: a loaded name is cached there.
    """

    def __getattr__(name: str):
        if name in sources:
            value = getattr(importlib.import_module(f".{sources[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(sources))

    return __getattr__, __dir__
