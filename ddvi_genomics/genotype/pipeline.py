"""The file-level commands behind the CLI: each is read -> compute -> write.

``run_infer``   genotype file -> :func:`~.mapping.infer` -> :func:`~.outputs.write_map`
``run_project`` genotype file + model file -> :meth:`AncestryModel.project` -> TSV + log
``evaluate_table`` / ``plot_table``  an embedding TSV -> metrics / PNG
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.runtime import resolve_device
from .embed import NETWORK_FAMILIES, preset_config
from .errors import InputError
from .evaluate import evaluate_embedding
from .ids import SampleIdRule
from .io import GenotypeMatrix, read_genotypes, read_panel, read_samples_file, select_samples
from .mapping import QCOptions, check_range, infer
from .model import AncestryModel
from .outputs import (
    INFER_SUFFIXES,
    PROJECT_SUFFIXES,
    OutputSet,
    read_eigenvec,
    read_embedding_table,
    write_map_into,
    write_projection_into,
)
from .plots import plot_embedding


@dataclasses.dataclass(frozen=True)
class PanelColumns:
    """Where a panel keeps its sample IDs, population and super-population labels."""

    id_col: str = "sample"
    label_col: str = "pop"
    super_col: str = "super_pop"

    def read(self, path) -> pd.DataFrame:
        """Read the panel at ``path`` with these columns (see :func:`~.io.read_panel`)."""
        return read_panel(
            path, id_col=self.id_col, label_col=self.label_col, super_col=self.super_col
        )


@dataclasses.dataclass(frozen=True)
class InferOptions:
    """Options of :func:`run_infer` (the ``infer`` command's flags map one to one)."""

    panel: str | None = None
    columns: PanelColumns = PanelColumns()
    region: str | None = None
    samples_file: str | None = None
    remove_file: str | None = None
    id_rule: SampleIdRule = SampleIdRule()
    n_pcs: int = 20
    method: str = "ddvi"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    qc: QCOptions = QCOptions()
    min_confidence: float = 0.5
    force: bool = False
    verbose: bool | None = None

    def __post_init__(self):
        check_range("--n-pcs", self.n_pcs, 1, None, integer=True)
        if self.epochs is not None:
            check_range("--epochs", self.epochs, 1, None, integer=True)
        check_range("--seed", self.seed, 0, None, integer=True)

    def summary(self) -> dict:
        """Return the options for the log and provenance record (QC ID sets by their size)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {
            **out,
            "columns": dataclasses.asdict(self.columns),
            "id_rule": dataclasses.asdict(self.id_rule),
            "qc": self.qc.summary(),
        }

    def network_config(self):
        """Return the network's config (the preset, with ``--epochs``), or None for non-neural methods."""
        if self.method not in NETWORK_FAMILIES:
            return None
        return preset_config(self.method, self.epochs)


def read_input(
    path,
    *,
    region=None,
    samples_file=None,
    remove_file=None,
    verbose=None,
    id_rule: SampleIdRule | None = None,
) -> tuple[GenotypeMatrix, str]:
    """Read genotypes; return them and a log line.

    VCF names are split by ``id_rule`` first, then ``--keep`` / ``--remove`` apply by IID.
    """
    id_rule = id_rule or SampleIdRule()
    samples = read_samples_file(samples_file) if samples_file else None
    t0 = time.perf_counter()
    if id_rule.active:  # --keep names IIDs, which exist only after the split
        gm = id_rule.apply(read_genotypes(path, region=region, progress=verbose), str(path))
        if samples is not None:
            gm = gm.subset(samples=select_samples(list(gm.sample_id), samples, samples_file))
    else:
        gm = read_genotypes(path, region=region, samples=samples, progress=verbose)
    if remove_file:
        removed = set(read_samples_file(remove_file))
        gm = gm.subset(samples=np.array([s not in removed for s in gm.sample_id], dtype=bool))
        if gm.n_samples == 0:
            raise InputError(f"--remove {remove_file} removes every sample of {path}")
    if gm.n_variants == 0:
        raise InputError(f"{path} has no variants" + (f" in region {region}" if region else ""))
    line = (
        f"read {gm.n_variants:,} variants x {gm.n_samples:,} samples from {path} in "
        f"{time.perf_counter() - t0:.1f} s; haploid calls {gm.n_haploid_calls:,}; missing calls "
        f"{int((gm.dosage < 0).sum()):,} (mean-imputed in PCA)"
    )
    return gm, line


def run_infer(input_path, out_prefix, opts: InferOptions, *, command: str = "") -> dict:
    """Read genotypes, fit the map, write every output; return a summary dict.

    Raises
    ------
    InputError
        For bad input (the command line prints it as one line and exits with code 2).
    """
    started = _utc_now()
    with OutputSet(out_prefix, INFER_SUFFIXES, opts.force) as out:  # checked before any work
        gm, read_line = read_input(
            input_path,
            region=opts.region,
            samples_file=opts.samples_file,
            remove_file=opts.remove_file,
            verbose=opts.verbose,
            id_rule=opts.id_rule,
        )
        labels = opts.columns.read(opts.panel) if opts.panel else None
        amap = infer(
            gm,
            labels,
            qc=opts.qc,
            n_pcs=opts.n_pcs,
            method=opts.method,
            config=opts.network_config(),
            seed=opts.seed,
            device=opts.device,
            verbose=opts.verbose,
            min_confidence=opts.min_confidence,
        )
        run_info = {
            "command": command or " ".join(sys.argv),
            "started_utc": started,
            "input": str(input_path),
            "device": str(resolve_device(opts.device)),
            "torch_threads": _torch_threads(),
            "options": opts.summary(),
            "read": read_line,
        }
        title = f"{opts.method.upper()} embedding of {Path(input_path).name}"
        written = write_map_into(out, amap, title=title, run_info=run_info)
    return {"outputs": [str(p) for p in written], "metrics": amap.metrics, "map": amap}


def _utc_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def run_project(
    input_path,
    model_path,
    out_prefix,
    *,
    min_overlap: float = 0.5,
    samples_file=None,
    device: str = "auto",
    force: bool = False,
    command: str = "",
    min_confidence: float = 0.5,
) -> dict:
    """Place new samples on a saved map: ``PREFIX.embedding.tsv`` and ``PREFIX.log``.

    Returns
    -------
    dict
        The variant alignment report (matched, swapped, absent, overlap).
    """
    check_range("--min-overlap", min_overlap, 0.0, 1.0)
    check_range("--min-confidence", min_confidence, 0.0, 1.0)
    with OutputSet(out_prefix, PROJECT_SUFFIXES, force) as out:
        model = AncestryModel.load(model_path, device=device)
        gm, read_line = read_input(input_path, samples_file=samples_file)
        projection = model.project(gm, min_overlap=min_overlap)
        run_info = {
            "command": command or " ".join(sys.argv),
            "input": str(input_path),
            "model": str(model_path),
            "read": read_line,
        }
        write_projection_into(out, projection, run_info=run_info, min_confidence=min_confidence)
    return projection.alignment.to_dict()


def evaluate_table(
    embedding, panel, *, columns: PanelColumns = PanelColumns(), eigenvec=None, seed=0
) -> dict:
    """Metrics of an embedding TSV against a panel (and optionally a PLINK .eigenvec)."""
    df = read_embedding_table(embedding)
    labels = columns.read(panel)
    common = df.index.intersection(labels.index)
    if len(common) == 0:
        raise InputError(f"no sample of {embedding} is in panel {panel}")
    ref = None
    if eigenvec:
        ev = read_eigenvec(eigenvec)
        absent = common.difference(ev.index)
        if len(absent):
            raise InputError(f"{eigenvec} has no PCs for sample {absent[0]!r} of {embedding}")
        ref = ev.loc[common].to_numpy()
    sup = (
        labels.loc[common, "super_population"].to_numpy() if "super_population" in labels else None
    )
    return evaluate_embedding(
        df.loc[common, ["DIM1", "DIM2"]].to_numpy(),
        labels.loc[common, "population"].to_numpy(),
        sup,
        reference_pcs=ref,
        seed=seed,
    )


def plot_table(embedding, out_path, *, panel=None, columns: PanelColumns = PanelColumns()) -> None:
    """PNG of an embedding TSV, coloured by the panel's populations when given."""
    df = read_embedding_table(embedding)
    pop = sup = None
    if panel:
        labels = columns.read(panel).reindex(df.index)
        pop = labels["population"].fillna("NA").to_numpy()
        if "super_population" in labels:
            sup = labels["super_population"].fillna("NA").to_numpy()
    tmp = Path(f"{out_path}.tmp-{os.getpid()}")
    try:
        plot_embedding(
            df[["DIM1", "DIM2"]].to_numpy(np.float64),
            pop,
            sup,
            title=Path(embedding).name,
            path=tmp,
        )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
