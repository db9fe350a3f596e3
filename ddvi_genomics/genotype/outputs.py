"""Writing (and reading back) the files of ``infer`` and ``project``, as one whole set.

Outputs of ``infer``:

``PREFIX.embedding.tsv``       ``#IID DIM1 DIM2 DIM1_SD DIM2_SD [POP SUPER_POP]``
``PREFIX.eigenvec/.eigenval``  PLINK 2-compatible PCA front end
``PREFIX.png``                 scatter coloured by population
``PREFIX.metrics.json``        embedding metrics (when labels are known)
``PREFIX.model.pt``            the :class:`~.model.AncestryModel` (plain data, safe to load)
``PREFIX.log``                 command line, versions, options, counts, timings, device
``PREFIX.provenance.json``     the same facts, machine-readable

Every file is first written under a temporary name and the set is renamed into place at the
end, so a failed run leaves nothing half-written; with ``force``, outputs of an earlier run that
this run does not produce (a stale ``.metrics.json``) are removed, so the set stays consistent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ..provenance import provenance, versions_line
from .errors import InputError
from .mapping import AncestryMap
from .model import Projection
from .pca import write_eigenval, write_eigenvec
from .plots import plot_embedding

INFER_SUFFIXES = (
    ".embedding.tsv",
    ".eigenvec",
    ".eigenval",
    ".png",
    ".metrics.json",
    ".model.pt",
    ".log",
    ".provenance.json",
)
PROJECT_SUFFIXES = (".embedding.tsv", ".log")


class OutputSet:
    """Files ``PREFIX<suffix>`` written under temporary names and published together.

    Parameters
    ----------
    prefix : path
    suffixes : sequence of str
        Every output this command can write (checked for clobbering, cleaned on ``force``).
    force : bool
        Allow overwriting an existing set.

    Raises
    ------
    InputError
        When an output exists and ``force`` is False, or the folder does not exist.
    """

    def __init__(self, prefix, suffixes, force: bool):
        self.prefix, self.suffixes, self.force = Path(prefix), tuple(suffixes), force
        self.pending: list[tuple[Path, Path]] = []
        if not self.prefix.parent.is_dir():
            raise InputError(f"output folder {self.prefix.parent} does not exist")
        existing = [self.final(s) for s in self.suffixes if self.final(s).exists()]
        if existing and not force:
            raise InputError(f"output {existing[0]} exists; use --force to overwrite")

    def final(self, suffix: str) -> Path:
        """Return the published path of ``suffix``."""
        return Path(f"{self.prefix}{suffix}")

    def path(self, suffix: str) -> Path:
        """Return a temporary path to write ``suffix`` to (published by :meth:`publish`)."""
        tmp = Path(f"{self.prefix}{suffix}.tmp-{os.getpid()}")
        self.pending.append((tmp, self.final(suffix)))
        return tmp

    def publish(self) -> list[Path]:
        """Rename every pending file into place; remove stale outputs of an earlier run."""
        written = {final for _, final in self.pending}
        if self.force:
            for suffix in self.suffixes:
                stale = self.final(suffix)
                if stale not in written:
                    stale.unlink(missing_ok=True)
        for tmp, final in self.pending:
            os.replace(tmp, final)
        return [final for _, final in self.pending]

    def discard(self) -> None:
        """Remove every pending temporary file."""
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


def write_table(table: pd.DataFrame, path) -> None:
    """Write an embedding table as TSV with 6 significant digits."""
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")


def write_map(
    amap: AncestryMap,
    prefix,
    *,
    force: bool = False,
    title: str = "",
    run_info: dict | None = None,
) -> list[Path]:
    """Write every output of ``infer`` for ``amap`` (see the module docstring).

    Parameters
    ----------
    amap : AncestryMap
    prefix : path
    force : bool
    title : str
        Plot title.
    run_info : dict, optional
        What was run (``command``, ``input``, ``device``, ``options``...): the head of
        ``PREFIX.log`` and fields of ``PREFIX.provenance.json``.

    Returns
    -------
    list of Path
        The published files.
    """
    with OutputSet(prefix, INFER_SUFFIXES, force) as out:
        table = amap.table()
        write_table(table, out.path(".embedding.tsv"))
        write_eigenvec(out.path(".eigenvec"), amap.sample_id, amap.pcs)
        write_eigenval(out.path(".eigenval"), amap.model.pca.eigenvalues_)
        plot_embedding(
            amap.coords,
            table["POP"].to_numpy() if "POP" in table else None,
            table["SUPER_POP"].to_numpy() if "SUPER_POP" in table else None,
            title=title,
            path=out.path(".png"),
        )
        if amap.metrics is not None:
            out.path(".metrics.json").write_text(json.dumps(amap.metrics, indent=2) + "\n")
        amap.model.save(out.path(".model.pt"))
        info = dict(run_info or {})
        lines = [f"ddvi-genomics infer (log of {prefix})", *run_info_lines(info)]
        out.path(".log").write_text("\n".join(lines + map_summary(amap)) + "\n")
        info.update(qc=amap.qc.to_dict(), timings=amap.timings, method=amap.method)
        record = provenance(info, command=info.pop("command", None))
        out.path(".provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        return out.publish()


def run_info_lines(info: dict) -> list[str]:
    """``key: value`` log lines (dicts as JSON), then the versions line."""
    lines = [
        f"{k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}"
        for k, v in info.items()
    ]
    return lines + [versions_line()]


def map_summary(amap: AncestryMap) -> list[str]:
    """Log lines: QC steps, PCA, embedding and timings."""
    pca = amap.model.pca
    lines = amap.qc.lines()
    ratio = getattr(pca, "explained_variance_ratio_", None)
    lines.append(
        f"PCA: {amap.pcs.shape[1]} components used, {amap.reference_pcs.shape[1]} computed"
        + ("" if ratio is None else f"; variance explained by PC1-2 {ratio[:2].round(4).tolist()}")
    )
    lines.append(f"embedding: {amap.method}, {len(amap.sample_id):,} samples")
    lines.append("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in amap.timings.items()))
    return lines


def write_projection(
    projection: Projection, prefix, *, force: bool = False, run_info: dict | None = None
) -> list[Path]:
    """Write ``PREFIX.embedding.tsv`` and ``PREFIX.log`` for projected samples."""
    with OutputSet(prefix, PROJECT_SUFFIXES, force) as out:
        table = pd.DataFrame(
            {
                "#IID": projection.sample_id,
                "DIM1": projection.coords[:, 0],
                "DIM2": projection.coords[:, 1],
            }
        )
        if projection.sd is not None:
            table["DIM1_SD"], table["DIM2_SD"] = projection.sd[:, 0], projection.sd[:, 1]
        write_table(table, out.path(".embedding.tsv"))
        lines = [
            f"ddvi-genomics project (log of {prefix})",
            *run_info_lines(dict(run_info or {})),
            f"variants: {json.dumps(projection.alignment.to_dict())}",
            f"samples: {len(projection.sample_id)}",
        ]
        out.path(".log").write_text("\n".join(lines) + "\n")
        return out.publish()


def read_embedding_table(path) -> pd.DataFrame:
    """Read ``#IID DIM1 DIM2 ...`` (as written by infer / project), indexed by ``#IID``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"embedding file {path} does not exist")
    df = pd.read_csv(path, sep="\t", dtype={"#IID": str})
    for col in ("#IID", "DIM1", "DIM2"):
        if col not in df.columns:
            raise InputError(
                f"{path} has no column {col!r}; expected '#IID DIM1 DIM2' (columns: {list(df.columns)})"
            )
    return df.set_index("#IID")
