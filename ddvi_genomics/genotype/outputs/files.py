"""Writing (and reading back) the files of ``infer`` and ``project``, as one whole set.

Outputs of ``infer``:

``PREFIX.embedding.tsv``       ``#IID DIM1 DIM2 DIM1_SD DIM2_SD [POP SUPER_POP]``
``PREFIX.eigenvec/.eigenval``  PLINK 2's ``--pca`` files (unit eigenvectors, PLINK's eigenvalues)
``PREFIX.pcscores``            PC scores (``#IID PC1 ..``, eigenvectors times singular values):
                               the embedding's input, before its scaling
``PREFIX.eigenvec.allele``     PLINK 2 allele weights and ``PREFIX.afreq`` training frequencies:
                               ``plink2 --score`` projects new samples with them
``PREFIX.png``                 scatter coloured by population
``PREFIX.html``                the same map, interactive (hover, toggle populations, uncertainty)
``PREFIX.metrics.json``        embedding metrics (when labels are known)
``PREFIX.model.pt``            the :class:`~.model.AncestryModel` (plain data, safe to load)
``PREFIX.log``                 command line, versions, options, counts, timings, device
``PREFIX.provenance.json``     the same facts, machine-readable
``PREFIX.proba.tsv``           label-guided maps: ``#IID`` and one probability per population
``PREFIX.prune.in`` / ``.out``  with ``--ld-prune``: variant IDs kept / pruned (PLINK's lists)

Every file is first written under a temporary name and the set is renamed into place at the
end, so a failed run leaves nothing half-written; with ``force``, outputs of an earlier run that
this run does not produce (a stale ``.metrics.json``) are removed, so the set stays consistent.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from ...clitools import termination_requested
from ...provenance import provenance
from ..atomic import is_alive, pid_in, remove_dead_temporaries, temporary_path
from ..errors import InputError
from ..mapping.ancestry_map import (
    AncestryMap,
    add_population_calls,
    embedding_table,
    id_columns,
    probability_table,
)
from ..mapping.ancestry_model import Projection
from ..samples import sample_keys
from ..textfile import read_user_text
from .html_map import write_html_map
from .plink_files import write_afreq, write_allele_weights, write_eigenval, write_eigenvec
from .plots import plot_embedding
from .runlog import RunLog, is_failure_log

log = logging.getLogger("ddvi_genomics")

INFER_SUFFIXES = (
    ".embedding.tsv",
    ".eigenvec",
    ".eigenval",
    ".png",
    ".metrics.json",
    ".model.pt",
    ".log",
    ".provenance.json",
    ".proba.tsv",
    ".eigenvec.allele",
    ".afreq",
    ".pcscores",
    ".prune.in",
    ".prune.out",
    ".html",
)
PROJECT_SUFFIXES = (".embedding.tsv", ".proba.tsv", ".pcscores", ".png", ".html", ".log")


@contextlib.contextmanager
def _termination_held():
    """Refuse to start after a termination request; hold SIGTERM back while the block runs."""
    if termination_requested():
        raise SystemExit(termination_requested())
    held = threading.current_thread() is threading.main_thread()
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        if held:  # a SIGTERM that came meanwhile is delivered now, after the set is whole
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


class OutputSet:
    """Files ``PREFIX<suffix>`` written under temporary names and published together.

    Opening the set (before any computation) checks that the folder exists and is writable,
    refuses to clobber an existing set without ``force``, removes temporary files left by dead
    runs, and takes ``PREFIX.lock`` so that two runs cannot write the same prefix at once. Use it
    as a context manager: on an exception the
    temporary files are removed and the lock released (the command line turns SIGTERM into
    ``SystemExit`` for this, see :func:`ddvi_genomics.clitools.terminate_cleanly`).

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
        When an output exists and ``force`` is False, the folder does not exist or is not
        writable, or another live run holds the prefix.
    """

    def __init__(self, prefix, suffixes, force: bool):
        if str(prefix).endswith(("/", os.sep)) or Path(prefix).is_dir():
            raise InputError(
                f"--out {prefix} names a folder; give a prefix (a folder and a file name start), "
                f"e.g. --out {Path(prefix) / 'run'}"
            )
        self.prefix, self.suffixes, self.force = Path(prefix), tuple(suffixes), force
        self.pending: list[tuple[Path, Path]] = []
        folder = self.prefix.parent
        if not folder.is_dir():
            raise InputError(f"output folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"output folder {folder} is not writable")
        self._remove_dead_temporaries()
        self._refuse_existing()
        self.lock = self._acquire_lock()
        try:  # again under the lock: a run that finished meanwhile has published its set
            self._refuse_existing()
        except InputError:
            self._release_lock()
            raise

    def _refuse_existing(self) -> None:
        existing = [self.final(s) for s in self.suffixes if self.final(s).exists()]
        if existing == [self.final(".log")] and is_failure_log(existing[0]):
            existing = []  # only the record of a failed run: replacing it loses no result
        if existing and not self.force:
            raise InputError(f"output {existing[0]} exists; use --force to overwrite")

    def final(self, suffix: str) -> Path:
        """Return the published path of ``suffix``."""
        return Path(f"{self.prefix}{suffix}")

    def path(self, suffix: str) -> Path:
        """Return a temporary path to write ``suffix`` to (published by :meth:`publish`)."""
        tmp = temporary_path(self.final(suffix))
        self.pending.append((tmp, self.final(suffix)))
        return tmp

    def publish(self) -> list[Path]:
        """Rename every pending file into place; remove stale outputs of an earlier run.

        Never after a termination request (SIGTERM); the renames run with SIGTERM held back, so
        a set is published whole or not at all.
        """
        with _termination_held():
            written = {final for _, final in self.pending}
            if self.force:
                for suffix in self.suffixes:
                    stale = self.final(suffix)
                    if stale not in written:
                        stale.unlink(missing_ok=True)
            for tmp, final in self.pending:
                os.replace(tmp, final)
            self._release_lock()
        return [final for _, final in self.pending]

    def publish_alone(self, suffix: str) -> Path:
        """Publish only ``suffix`` (a failed run's log); discard the rest.

        Under ``force`` the earlier run's other outputs are removed too, so every file beside
        the published one comes from the same run.
        """
        if termination_requested():
            raise SystemExit(termination_requested())
        final = self.final(suffix)
        tmp = next(t for t, f in self.pending if f == final)
        self.pending = [(t, f) for t, f in self.pending if f != final]
        for t, _ in self.pending:
            t.unlink(missing_ok=True)
        self.pending = []
        if self.force:
            for other in self.suffixes:
                if other != suffix:
                    self.final(other).unlink(missing_ok=True)
        os.replace(tmp, final)
        self._release_lock()
        return final

    def discard(self) -> None:
        """Remove every pending temporary file and release the lock."""
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self._release_lock()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()

    def _acquire_lock(self) -> Path:
        """Create ``PREFIX.lock`` holding our pid, atomically (written aside, then hard-linked).

        A lock whose pid no longer runs was left by a killed run and is taken over.
        """
        lock = Path(f"{self.prefix}.lock")
        mine = temporary_path(lock)
        mine.write_text(f"{os.getpid()}\n")
        try:
            for _ in range(3):
                try:
                    os.link(mine, lock)  # fails if the lock exists: no window with an empty file
                    return lock
                except FileExistsError:
                    text = lock.read_text(errors="replace") if lock.exists() else ""
                    owner = pid_in(text)
                    if owner is not None and is_alive(owner):
                        raise InputError(
                            f"another run (pid {owner}) is writing {self.prefix}.*; wait for it "
                            "or choose another --out"
                        ) from None
                    if lock.exists() and lock.read_text(errors="replace") == text:
                        lock.unlink(missing_ok=True)  # left by a run that died
            raise InputError(f"cannot take the lock {lock}; another run keeps taking it")
        finally:
            mine.unlink(missing_ok=True)

    def _release_lock(self) -> None:
        lock = getattr(self, "lock", None)
        if lock is not None:
            lock.unlink(missing_ok=True)
            self.lock = None

    def _remove_dead_temporaries(self) -> None:
        """Delete ``PREFIX.*.tmp-PID`` files whose process no longer runs (e.g. after SIGKILL)."""
        remove_dead_temporaries(f"{self.prefix}.")


def write_table(table: pd.DataFrame, path) -> None:
    """Write an embedding table as TSV with 6 significant digits."""
    table.to_csv(path, sep="\t", index=False, float_format="%.6g", na_rep="NA")


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
        with RunLog(out, "infer", dict(run_info or {})) as runlog:
            return write_map_into(out, runlog, amap, title=title, run_info=run_info)


def write_map_into(
    out: OutputSet, runlog, amap: AncestryMap, *, title: str = "", run_info=None
) -> list[Path]:
    """Write the files of :func:`write_map` into an open :class:`OutputSet` and publish it.

    ``runlog`` is the set's open :class:`~.runlog.RunLog`: the map's summary ends it.
    """
    table = amap.table()
    write_table(table, out.path(".embedding.tsv"))
    write_eigenvec(out.path(".eigenvec"), amap.sample_id, amap.eigenvectors, amap.sample_family)
    write_table(
        pc_score_table(amap.sample_id, amap.pcs, amap.sample_family), out.path(".pcscores")
    )
    pca, variants = amap.model.pca, amap.model.variants
    write_eigenval(out.path(".eigenval"), pca.eigenvalues_)
    write_allele_weights(out.path(".eigenvec.allele"), variants, pca.components_)
    write_afreq(out.path(".afreq"), variants, pca.allele_frequency_, pca.observed_allele_count_)
    plot_embedding(
        amap.coords,
        table["POP"].to_numpy() if "POP" in table else None,
        table["SUPER_POP"].to_numpy() if "SUPER_POP" in table else None,
        sd=amap.sd,
        title=title,
        path=out.path(".png"),
        axis_labels=map_axis_labels(amap.method),
    )
    write_html_map(
        out.path(".html"),
        sample_keys(amap.sample_id, amap.sample_family),  # "FID IID" where IIDs repeat
        amap.coords,
        amap.sd,
        table["POP"].to_numpy() if "POP" in table else None,
        table["SUPER_POP"].to_numpy() if "SUPER_POP" in table else None,
        title=title or "Ancestry map",
        axis_labels=map_axis_labels(amap.method),
    )
    if amap.metrics is not None:
        out.path(".metrics.json").write_text(json.dumps(amap.metrics, indent=2) + "\n")
    probabilities = amap.probability_table()
    if probabilities is not None:
        write_table(probabilities, out.path(".proba.tsv"))
    if amap.qc.prune_in is not None:  # --ld-prune: PLINK's variant lists
        out.path(".prune.in").write_text("".join(f"{v}\n" for v in amap.qc.prune_in))
        out.path(".prune.out").write_text("".join(f"{v}\n" for v in amap.qc.prune_out))
    amap.model.save(out.path(".model.pt"))
    info = dict(run_info or {})
    runlog.write(map_summary(amap))
    info.update(qc=amap.qc.to_dict(), timings=amap.timings, method=amap.method)
    record = provenance(info, command=info.pop("command", None))
    out.path(".provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return _publish_then_close(out, runlog)


def map_axis_labels(method: str) -> tuple[str, str]:
    """Axis names of a map: the first two PCs for ``pca``, the embedding's dimensions else."""
    return ("PC1", "PC2") if method == "pca" else ("DIM1", "DIM2")


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
    projection: Projection,
    prefix,
    *,
    force: bool = False,
    run_info: dict | None = None,
    min_confidence: float = 0.5,
) -> list[Path]:
    """Write ``PREFIX.embedding.tsv``, ``PREFIX.log`` (and ``.proba.tsv``) for projected samples."""
    with OutputSet(prefix, PROJECT_SUFFIXES, force) as out:
        with RunLog(out, "project", dict(run_info or {})) as runlog:
            return write_projection_into(out, runlog, projection, min_confidence=min_confidence)


def write_projection_into(
    out: OutputSet,
    runlog,
    projection: Projection,
    *,
    min_confidence: float = 0.5,
    reference: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the projected samples' files into an open :class:`OutputSet`; publish it.

    ``PREFIX.embedding.tsv`` (coordinates, sd, ``N_OBSERVED``, ``STATUS``, and for incomplete
    samples ``AREA90`` / ``MODES`` of their map posterior; label-guided calls),
    ``PREFIX.pcscores`` (the PC scores on the reference axes, with ``PC1_SD PC2_SD PC1_PC2_COV``
    when the projection has a covariance), ``PREFIX.png`` and ``PREFIX.html`` (the new samples
    over the reference map when ``reference``, an embedding table read by
    :func:`read_embedding_table`, is given; alone otherwise; 90 % regions as ellipses, and in
    the HTML each sample's posterior cloud on a click), ``PREFIX.proba.tsv`` for label-guided
    maps, and the end of ``PREFIX.log``.
    """
    table = projection_table(projection, min_confidence)
    names = projection.class_names
    probabilities = probability_table(
        projection.sample_id, projection.class_probs, names, projection.sample_family
    )
    if probabilities is not None:
        write_table(probabilities, out.path(".proba.tsv"))
    write_table(table, out.path(".embedding.tsv"))
    write_table(projected_score_table(projection), out.path(".pcscores"))
    status = projection.status
    placed = status != "unplaceable"
    calls = table["PRED_POP"].fillna("NA").astype(str).to_numpy() if "PRED_POP" in table else None
    regions = None if projection.map_draws is None else _draw_covariance(projection.map_draws)
    ref = None
    if reference is not None:
        ref = (
            reference[["DIM1", "DIM2"]].to_numpy(float),
            _labels(reference, "POP"),
            _labels(reference, "SUPER_POP"),
        )
    n_unplaced = int((~placed).sum())
    title = (
        f"{int(placed.sum())} projected samples"
        + (" over the reference map" if ref is not None else "")
        + (f"; {n_unplaced} unplaceable, not drawn (STATUS)" if n_unplaced else "")
    )
    plot_embedding(
        projection.coords[placed],
        None if calls is None else calls[placed],
        None,
        sd=None if projection.sd is None else projection.sd[placed],
        title=title,
        path=out.path(".png"),
        reference=ref,
        regions=None if regions is None else regions[placed],
    )
    _write_projection_html(out.path(".html"), projection, placed, ref, title)
    unplaceable = [str(s) for s in projection.sample_id[~placed]]
    scores = projection.scores
    runlog.write(
        [
            f"variants: {json.dumps(projection.alignment.to_dict())}",
            f"samples: {len(projection.sample_id)}",
            f"projection: {scores.method if scores is not None else 'mean-impute'}"
            + (
                f"; observed variants per sample: median {int(np.median(scores.n_observed))}, "
                f"min {int(scores.n_observed.min())}"
                if scores is not None and len(scores.n_observed)
                else ""
            ),
            f"unplaceable samples (too few observed variants): {len(unplaceable)}"
            + (f", first {unplaceable[0]!r}" if unplaceable else ""),
            f"sparse samples (placed; the prior dominates): {int((status == 'sparse').sum())}",
            "reference map: "
            + (
                "drawn under the new samples"
                if ref is not None
                else "not found (new samples alone)"
            ),
        ]
    )
    return _publish_then_close(out, runlog)


def projection_table(projection: Projection, min_confidence: float = 0.5) -> pd.DataFrame:
    """``#IID DIM1 DIM2 [DIM1_SD DIM2_SD] N_OBSERVED STATUS [AREA90 MODES] [PRED_POP ...]``.

    ``#FID IID`` in place of ``#IID`` where the projected samples have FIDs.
    """
    table = embedding_table(
        projection.sample_id, projection.coords, projection.sd, projection.sample_family
    )
    if projection.scores is not None:
        table["N_OBSERVED"] = projection.scores.n_observed
    table["STATUS"] = projection.status
    if projection.area90 is not None:
        table["AREA90"], table["MODES"] = projection.area90, projection.n_modes
        table.loc[projection.status == "unplaceable", "MODES"] = np.nan
    names = projection.class_names
    add_population_calls(table, projection.class_probs, names, min_confidence)
    return table


def projected_score_table(projection: Projection) -> pd.DataFrame:
    """``#IID PC1 ..`` (or ``#FID IID PC1 ..``) with ``PC1_SD .. N_OBSERVED STATUS`` when known."""
    table = pc_score_table(projection.sample_id, projection.pcs, projection.sample_family)
    scores = projection.scores
    if scores is not None and scores.covariance is not None and projection.pcs.shape[1] >= 2:
        cov = scores.covariance
        table["PC1_SD"] = np.sqrt(np.clip(cov[:, 0, 0], 0, None))
        table["PC2_SD"] = np.sqrt(np.clip(cov[:, 1, 1], 0, None))
        table["PC1_PC2_COV"] = cov[:, 0, 1]
    if scores is not None:
        table["N_OBSERVED"] = scores.n_observed
        table["STATUS"] = projection.status
    return table


def _draw_covariance(draws: np.ndarray) -> np.ndarray:
    """Covariance of each sample's draws ``(n_draws, n, 2)`` -> ``(n, 2, 2)``."""
    centred = draws - draws.mean(0)
    return np.einsum("dni,dnj->nij", centred, centred) / max(len(draws) - 1, 1)


def _write_projection_html(path, projection: Projection, placed, ref, title: str) -> None:
    """Write the interactive map: reference samples, then the placed new samples and clouds."""
    coords = projection.coords[placed]
    ids = list(np.asarray(sample_keys(projection.sample_id, projection.sample_family))[placed])
    pops = ["new samples"] * len(ids)
    sups = ["projected"] * len(ids)
    sd = projection.sd[placed] if projection.sd is not None else np.full((len(ids), 2), np.nan)
    clouds = [None] * len(ids)
    if projection.map_draws is not None:
        clouds = list(np.swapaxes(projection.map_draws[:, placed], 0, 1))
    if ref is not None:
        ref_coords, ref_pop, ref_sup = ref
        n_ref = len(ref_coords)
        ids = [f"reference {i + 1}" for i in range(n_ref)] + ids
        pops = list(ref_pop if ref_pop is not None else ["reference"] * n_ref) + pops
        sups = list(ref_sup if ref_sup is not None else ["reference"] * n_ref) + sups
        coords = np.concatenate([ref_coords, coords])
        sd = np.concatenate([np.full((n_ref, 2), np.nan), sd])
        clouds = [None] * n_ref + clouds
    write_html_map(path, ids, coords, sd, pops, sups, title=title, clouds=clouds)


def _labels(table: pd.DataFrame, column: str):
    """Return a label column as str (``NA`` for unlabelled samples), or None when absent."""
    return table[column].fillna("NA").astype(str).to_numpy() if column in table else None


def _publish_then_close(out: OutputSet, runlog) -> list[Path]:
    """Publish the set, then end its log.

    ``status: ok`` is written only once every file is in place (the open log follows its rename).
    """
    written = out.publish()
    runlog.close()
    return written


def pc_score_table(sample_id, pcs: np.ndarray, family=None) -> pd.DataFrame:
    """``#IID PC1 ..`` (``#FID IID PC1 ..`` with family IDs) table of PC scores ``U S``."""
    scores = pd.DataFrame(pcs, columns=[f"PC{k + 1}" for k in range(pcs.shape[1])])
    return pd.concat([id_columns(sample_id, family), scores], axis=1)


def read_embedding_table(path, what: str = "embedding table") -> pd.DataFrame:
    """Read ``#IID DIM1 DIM2 ...`` (as written by infer / project), indexed by ``#IID``.

    ``what`` names the file in messages (``"--reference table"``).

    Raises
    ------
    InputError
        Missing file or columns, repeated IDs, or coordinates that are not finite numbers.
    """
    df = _read_id_table(path, what, ("DIM1", "DIM2"))
    if "STATUS" in df:  # project's samples with too few observed variants have no coordinates
        unplaceable = (df["STATUS"] == "unplaceable").to_numpy()
        if unplaceable.any():
            log.warning(
                "%s: %d unplaceable sample(s) left out (first %r)",
                path, int(unplaceable.sum()), df.index[np.flatnonzero(unplaceable)[0]],
            )  # fmt: skip
            df = df[~unplaceable]
    coords = df[["DIM1", "DIM2"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(coords).all(1)
    if bad.any():
        sample = df.index[int(np.flatnonzero(bad)[0])]
        raise InputError(
            f"{path}: sample {sample!r} has a non-numeric or non-finite DIM1/DIM2; "
            "coordinates must be finite numbers"
        )
    df[["DIM1", "DIM2"]] = coords
    return df


def read_eigenvec(path) -> pd.DataFrame:
    """Read PC coordinates from a ``.eigenvec`` (``#IID PC1 ..`` or ``#FID IID PC1 ..``).

    PLINK 2 (and ``infer``) write unit eigenvectors; when ``.eigenval`` sits beside the file, each
    column is multiplied by the square root of its eigenvalue, which restores the relative scale
    of the PC scores (up to one common factor, which neighbour and rank metrics ignore).
    """
    df = _read_id_table(path, "--eigenvec file", ("PC1",))
    pcs = df[[c for c in df.columns if c.startswith("PC")]]
    values = pcs.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if not np.isfinite(values).all():
        raise InputError(f"{path}: PC columns must hold finite numbers")
    eigenval = Path(str(path)).with_suffix(".eigenval")
    if eigenval.is_file():
        lam = np.loadtxt(eigenval, ndmin=1)[: values.shape[1]]
        if len(lam) == values.shape[1] and (lam >= 0).all():
            values = values * np.sqrt(lam)
    return pd.DataFrame(values, index=df.index, columns=pcs.columns)


def _read_id_table(path, what: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a table this tool writes (``#IID`` first, tab-separated), complete and rectangular.

    Raises
    ------
    InputError
        Naming the file (as ``what``) when it is binary or not UTF-8, ends mid-line (a truncated
        copy), has a row with more or fewer fields than the header, or lacks a column.
    """
    path = Path(path)
    text = read_user_text(path, what)
    if text and not text.endswith("\n"):
        raise InputError(
            f"{what} {path} ends mid-line (a truncated copy?); tables written by ddvi-genomics "
            "end with a newline"
        )
    lines = text.splitlines()
    if lines:
        width = len(lines[0].split("\t"))
        for number, line in enumerate(lines[1:], start=2):
            if line and len(line.split("\t")) != width:
                raise InputError(
                    f"{what} {path}, line {number}: {len(line.split(chr(9)))} fields; the header "
                    f"has {width}"
                )
    try:
        df = pd.read_csv(io.StringIO(text), sep="\t", dtype={"#IID": str, "IID": str, "#FID": str})
    except ValueError as err:  # pandas' EmptyDataError and parser errors
        raise InputError(f"{what} {path} is not a tab-separated table ({err})") from None
    id_col = "#IID" if "#IID" in df.columns else ("IID" if "IID" in df.columns else None)
    missing = [c for c in required if c not in df.columns]
    if id_col is None or missing:
        raise InputError(
            f"{path} has no column {(missing or ['#IID'])[0]!r}; expected '#IID "
            f"{' '.join(required)}' (columns: {list(df.columns)})"
        )
    if "#FID" in df.columns and id_col == "IID":  # keyed by IID, or "FID IID" where IIDs repeat
        keys = sample_keys(df["IID"].astype(str), df["#FID"].astype(str))
        df = df.set_index(pd.Index(keys, name="IID"), drop=False)
    else:
        df = df.set_index(id_col)
    if df.index.duplicated().any():
        raise InputError(
            f"{path} lists sample {df.index[df.index.duplicated()][0]!r} more than once"
        )
    return df


def table_sample_ids(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """IIDs and FIDs (None without a ``#FID`` column) of a table read by :func:`read_embedding_table`.

    Returns
    -------
    iid : np.ndarray of str, shape (n_rows,)
    family : np.ndarray of str, shape (n_rows,), or None
    """
    if "#FID" in df.columns and "IID" in df.columns:
        return df["IID"].to_numpy(str), df["#FID"].to_numpy(str)
    return df.index.to_numpy(str), None
