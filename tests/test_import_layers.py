"""The package's import graph: no cycles, and no module imports a layer above its own.

Every ``import`` / ``from ... import`` is read from the source with ``ast`` (module level,
inside functions and under ``TYPE_CHECKING`` alike), resolved to a module of ``ddvi_genomics``,
and checked against the layer table below: a reader never imports QC, QC never imports PCA,
and so on up to the command line.
"""

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "ddvi_genomics"

# (module-name prefix, layer); the longest matching prefix decides a module's layer.
LAYERS = [
    ("ddvi_genomics._version", 0),
    ("ddvi_genomics.provenance", 1),
    ("ddvi_genomics.lazy", 1),
    ("ddvi_genomics.clitools", 1),
    ("ddvi_genomics.plink_syntax", 1),
    ("ddvi_genomics.threads", 1),
    ("ddvi_genomics.core", 2),
    ("ddvi_genomics.genotype.errors", 3),
    ("ddvi_genomics.genotype.atomic", 3),
    ("ddvi_genomics.genotype.textfile", 4),
    ("ddvi_genomics.genotype.display", 4),
    ("ddvi_genomics.genotype.contigs", 4),
    ("ddvi_genomics.genotype.kernels", 3),
    ("ddvi_genomics.genotype.counts", 4),
    ("ddvi_genomics.genotype.packed", 4),
    ("ddvi_genomics.genotype.matrix", 5),
    ("ddvi_genomics.genotype.samples", 5),
    ("ddvi_genomics.genotype.ranges", 5),
    ("ddvi_genomics.genotype.ids", 6),
    ("ddvi_genomics.genotype.readers", 7),
    ("ddvi_genomics.genotype.qc", 8),
    ("ddvi_genomics.genotype.pca", 9),
    ("ddvi_genomics.genotype.mapping", 10),
    ("ddvi_genomics.genotype.outputs", 11),
    ("ddvi_genomics.genotype.simulate", 12),
    ("ddvi_genomics.genotype.pipeline", 12),
    ("ddvi_genomics.genotype", 13),  # the package facade (__init__)
    ("ddvi_genomics.demo", 14),
    ("ddvi_genomics.cli", 15),
    ("ddvi_genomics.__main__", 16),
    ("ddvi_genomics", 17),  # the top facade (__init__)
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of ``ddvi_genomics`` that ``path`` imports, anywhere in its source."""
    name = module_name(path)
    package = name if is_package(path) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from pkg import submodule`` imports the submodule; otherwise the module itself
            targets = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def layer_of(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one module are cycles."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def graph():
    modules = all_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def test_the_graph_is_read(graph):
    # the reader finds both module-level and function-level edges (guards the walker itself)
    assert "ddvi_genomics.genotype.readers.vcf" in graph["ddvi_genomics.genotype.readers"]
    assert "ddvi_genomics.genotype.pipeline" in graph["ddvi_genomics.cli"]  # inside a function
    assert len(graph) > 60


def test_no_import_cycles(graph):
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_no_module_imports_a_higher_layer(graph):
    upward = sorted(
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    )
    assert upward == []


def test_the_checker_catches_a_cycle_and_an_upward_import():
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b"]]
    assert layer_of("ddvi_genomics.genotype.readers.vcf") < layer_of(
        "ddvi_genomics.genotype.qc.recipe"
    )
