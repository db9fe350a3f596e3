"""The file-level commands behind the CLI: each is read -> compute -> write.

``run_infer``   genotype file -> :func:`~.mapping.ancestry_map` -> :func:`~.outputs.write_map`
``run_project`` genotype file + model file -> :meth:`AncestryModel.project` -> TSV + log
``evaluate_table`` / ``plot_table``  an embedding TSV -> metrics / PNG
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.config import COMPILE_MODES, check_choice
from .errors import InputError, check_range
from .ids import SampleIdRule
from .mapping.ancestry_map import (
    infer,
    infer_store,
    labels_by_sample_key,
    resolved_device,
    store_sample_names,
)
from .mapping.ancestry_model import AncestryModel
from .mapping.evaluate import evaluate_embedding
from .mapping.methods import NETWORK_METHODS
from .matrix import GenotypeMatrix, stack_variants
from .outputs.files import (
    INFER_SUFFIXES,
    PROJECT_SUFFIXES,
    OutputSet,
    read_eigenvec,
    read_embedding_table,
    table_sample_ids,
    write_map_into,
    write_projection_into,
)
from .outputs.plots import plot_embedding
from .outputs.runlog import RunLog
from .pca.projection import (
    DEFAULT_PROJECTION,
    MIN_OBSERVED_PER_PC,
    PROJECTION_METHODS,
    min_observed,
)
from .qc.recipe import QCOptions
from .readers import read_genotypes
from .readers.panel import read_panel
from .readers.store import looks_like_store, store_sample_ids
from .samples import read_samples_file, sample_keys, sample_mask, select_samples

log = logging.getLogger("ddvi_genomics")


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
    compile: str = "auto"
    epochs: int | None = None
    recipe: str = "ours"
    qc: QCOptions = QCOptions()
    min_confidence: float = 0.5
    memory_mib: float | None = None
    out_of_core: bool = False
    scheduler: str | None = None
    pca_fit_file: str | None = None
    projection: str = DEFAULT_PROJECTION  # --pca-fit: scores of the other samples
    pca_solver: str = "auto"  # --pca-solver: exact up to 5,000 samples, randomized above
    fit_subset: int | None = None  # --fit-subset: the network trains on this many samples
    force: bool = False
    verbose: bool | None = None

    def __post_init__(self):
        check_range("--n-pcs", self.n_pcs, 1, None, integer=True)
        if self.memory_mib is not None:
            check_range("--memory", self.memory_mib, 1, None)
        if self.scheduler and not self.out_of_core:
            raise InputError("--scheduler applies to --out-of-core runs only")
        if self.out_of_core and self.region:
            raise InputError(
                "--region is not available with --out-of-core; select variants with --chr or "
                "--extract-range (CHR START END per line) instead"
            )
        if self.recipe != "ours" and self.method != "ddvi":
            raise InputError(f"--recipe {self.recipe} applies to --method ddvi only")
        if self.epochs is not None:
            check_range("--epochs", self.epochs, 1, None, integer=True)
        check_range("--seed", self.seed, 0, None, integer=True)
        check_choice("--projection", self.projection, PROJECTION_METHODS)
        if self.compile not in COMPILE_MODES:
            raise InputError(
                f"--compile {self.compile} is not allowed; choose one of {list(COMPILE_MODES)}"
            )

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
        if self.method not in NETWORK_METHODS:
            return None
        from .mapping.embed import preset_config  # torch: network methods only

        return preset_config(self.method, self.epochs, self.recipe)

    def map_arguments(self) -> dict:
        """Keyword arguments that :func:`~.mapping.ancestry_map` and ``infer_store`` share."""
        return dict(
            qc=self.qc,
            n_pcs=self.n_pcs,
            method=self.method,
            config=self.network_config(),
            seed=self.seed,
            device=self.device,
            compile=self.compile,
            verbose=self.verbose,
            min_confidence=self.min_confidence,
            projection=self.projection,
            pca_solver=self.pca_solver,
            fit_subset=self.fit_subset,
        )


def read_input(
    paths,
    *,
    region=None,
    samples_file=None,
    remove_file=None,
    verbose=None,
    id_rule: SampleIdRule | None = None,
) -> tuple[GenotypeMatrix, str]:
    """Read genotypes from one file or several (e.g. one per chromosome); return them and a log line.

    VCF names are split by ``id_rule`` first, then ``--keep`` / ``--remove`` apply by IID.
    Several files must hold the same samples in the same order; their variants are stacked.
    """
    paths = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    id_rule = id_rule or SampleIdRule()
    samples = read_samples_file(samples_file, "--keep") if samples_file else None
    t0 = time.perf_counter()
    parts = []
    for path in paths:
        if id_rule.active:  # --keep names IIDs, which exist only after the split
            gm = id_rule.apply(read_genotypes(path, region=region, progress=verbose), str(path))
            if samples is not None:
                gm = gm.subset(
                    samples=select_samples(
                        list(gm.sample_id), samples, samples_file, gm.sample_family
                    )
                )
        else:
            gm = read_genotypes(path, region=region, samples=samples, progress=verbose)
        parts.append(gm)
    gm = stack_variants(parts, [str(p) for p in paths])
    where = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files ({paths[0]} ...)"
    if remove_file:
        gm = gm.subset(samples=_not_removed(gm.sample_id, remove_file, where, gm.sample_family))
    if gm.n_variants == 0:
        raise InputError(f"{where} has no variants" + (f" in region {region}" if region else ""))
    line = (
        f"read {gm.n_variants:,} variants x {gm.n_samples:,} samples from {where} in "
        f"{time.perf_counter() - t0:.1f} s; haploid calls {gm.n_haploid_calls:,}; missing calls "
        f"{int((gm.dosage < 0).sum()):,}"
    )
    return gm, line


def run_infer(
    input_path, out_prefix, opts: InferOptions, *, command: str = "", threads: dict | None = None
) -> dict:
    """Read genotypes, fit the map, write every output; return a summary dict.

    ``PREFIX.log`` is written from the start; a failed run leaves only it (see
    :mod:`~.runlog`).

    Parameters
    ----------
    input_path : path or list of paths
        One genotype file, or several holding the same samples (e.g. one per chromosome).
    out_prefix : path
    opts : InferOptions
    command : str
        The command line, for the log.
    threads : dict, optional
        Threads per engine (from :func:`ddvi_genomics.threads.limit_threads`), for the log.

    Raises
    ------
    InputError
        For bad input (the command line prints it as one line and exits with code 2).
    """
    inputs = [input_path] if isinstance(input_path, str | os.PathLike) else list(input_path)
    if opts.method not in NETWORK_METHODS or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _run_infer(inputs, out_prefix, opts, command, threads, SINGLE_PROCESS)
    from ..core.distributed import process_group_from_environment  # torchrun: torch needed
    from ..core.runtime import resolve_device

    with process_group_from_environment(resolve_device(opts.device)) as (shard, device):
        if not shard.active:
            return _run_infer(inputs, out_prefix, opts, command, threads, shard)
        # under torchrun every rank reads, runs QC and PCA and trains its share of each batch;
        # rank 0 writes the outputs, the others write theirs to a scratch folder that is removed
        opts = dataclasses.replace(opts, device=str(device))
        if shard.rank == 0:
            return _run_infer(inputs, out_prefix, opts, command, threads, shard)
        with tempfile.TemporaryDirectory(prefix=f"ddvi-rank{shard.rank}-") as scratch:
            quiet = dataclasses.replace(opts, verbose=False, force=False)
            scratch_prefix = Path(scratch) / Path(out_prefix).name
            return _run_infer(inputs, scratch_prefix, quiet, command, threads, shard)


@dataclasses.dataclass(frozen=True)
class _SingleProcess:
    """The shard of a run outside ``torchrun`` (what :class:`~..core.distributed.Shard` says)."""

    active: bool = False
    rank: int = 0
    world_size: int = 1


SINGLE_PROCESS = _SingleProcess()


def _run_infer(inputs, out_prefix, opts: InferOptions, command, threads, shard) -> dict:
    header = {
        "command": command or " ".join(sys.argv),
        "input": ", ".join(str(p) for p in inputs),
        "seed": opts.seed,
        "threads": threads or {"torch": _torch_threads()},
        "device": resolved_device(opts.method, opts.device),
        "options": opts.summary(),
    }
    if shard.active:
        header["data_parallel"] = f"{shard.world_size} processes (torch.distributed)"
    with OutputSet(out_prefix, INFER_SUFFIXES, opts.force) as out:  # checked before any work
        with RunLog(out, "infer", header) as runlog:
            if opts.out_of_core:
                amap, read_line = _infer_out_of_core(inputs, opts)
            else:
                amap, read_line = _infer_in_memory(inputs, opts)
            run_info = {**header, "started_utc": runlog.started_utc, "read": read_line}
            title = map_title(opts.method, inputs, amap)
            written = write_map_into(out, runlog, amap, title=title, run_info=run_info)
    return {"outputs": [str(p) for p in written], "metrics": amap.metrics, "map": amap}


def map_title(method: str, inputs, amap) -> str:
    """Title of the PNG and HTML maps: method, data and size."""
    name = Path(inputs[0]).name + (f" (+{len(inputs) - 1} files)" if len(inputs) > 1 else "")
    return (
        f"{method.upper()} map of {name}: {len(amap.sample_id):,} samples, "
        f"{amap.qc.n_variants_out:,} variants"
    )


def _infer_in_memory(inputs, opts: InferOptions):
    """Read every input into memory, then :func:`~.mapping.ancestry_map`."""
    gm, read_line = read_input(
        inputs,
        region=opts.region,
        samples_file=opts.samples_file,
        remove_file=opts.remove_file,
        verbose=opts.verbose,
        id_rule=opts.id_rule,
    )
    log.info(read_line)
    labels = opts.columns.read(opts.panel) if opts.panel else None
    fit = read_samples_file(opts.pca_fit_file, "--pca-fit") if opts.pca_fit_file else None
    amap = infer(
        gm, labels, memory_mib=opts.memory_mib, pca_fit_samples=fit, **opts.map_arguments()
    )
    return amap, read_line


def _infer_out_of_core(inputs, opts: InferOptions):
    """QC and PCA on Dask straight from a VCF Zarr store (see :func:`~.mapping.infer_store`)."""
    if len(inputs) != 1 or not looks_like_store(inputs[0]):
        raise InputError(
            "--out-of-core reads one VCF Zarr store (make it with 'ddvi-genomics convert'); "
            f"got {', '.join(map(str, inputs))}"
        )
    labels = opts.columns.read(opts.panel) if opts.panel else None
    iid, fid = store_sample_names(inputs[0], opts.id_rule)
    amap = infer_store(
        inputs[0],
        labels,
        samples=_chosen_samples(iid, opts.samples_file, opts.remove_file, inputs[0], fid),
        scheduler=opts.scheduler,
        id_rule=opts.id_rule,
        pca_fit_samples=(
            read_samples_file(opts.pca_fit_file, "--pca-fit") if opts.pca_fit_file else None
        ),
        **opts.map_arguments(),
    )
    line = f"read {inputs[0]} out of core (Dask{', scheduler ' + opts.scheduler if opts.scheduler else ''})"
    log.info(line)
    return amap, line


def _chosen_samples(sample_ids, samples_file, remove_file, where, family=None) -> list | None:
    """Keys of the samples ``--keep`` and then ``--remove`` leave, in order; None: all of them.

    The same choice, and the same errors, as :func:`read_input` makes while reading. Keys are
    IIDs, or ``"FID IID"`` where IIDs repeat (:func:`~.samples.sample_keys`).
    """
    if not samples_file and not remove_file:
        return None
    keep = np.ones(len(sample_ids), dtype=bool)
    if samples_file:
        wanted = read_samples_file(samples_file, "--keep")
        keep[:] = False
        keep[select_samples(list(sample_ids), wanted, samples_file, family)] = True
    if remove_file:
        chosen = np.flatnonzero(keep)
        keep[chosen] = _not_removed(
            np.asarray(sample_ids)[chosen], remove_file, where,
            None if family is None else np.asarray(family)[chosen],
        )  # fmt: skip
    keys = sample_keys(sample_ids, family)
    return [keys[i] for i in np.flatnonzero(keep)]


def _not_removed(sample_ids, remove_file, where, family=None) -> np.ndarray:
    """Mark the samples ``--remove`` leaves, shape (n_samples,); refuse removing them all."""
    removed = read_samples_file(remove_file, "--remove")
    kept = ~sample_mask(sample_ids, removed, remove_file, family)
    if not kept.any():
        raise InputError(f"--remove {remove_file} removes every sample of {where}")
    return kept


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
    remove_file=None,
    device: str = "auto",
    force: bool = False,
    command: str = "",
    min_confidence: float = 0.5,
    threads: dict | None = None,
    reference=None,
    projection: str = DEFAULT_PROJECTION,
) -> dict:
    """Place new samples on a saved map: ``PREFIX.embedding.tsv``, ``.pcscores``, ``.png``, ``.log``.

    ``projection`` chooses how PC scores are estimated from each sample's observed calls
    (:mod:`~.pca.projection`).

    The PNG draws the new samples over the reference map: ``reference`` (an ``infer``
    embedding table), by default ``X.embedding.tsv`` beside a model ``X.model.pt``.

    Returns
    -------
    dict
        The variant alignment report (matched, swapped, absent, overlap), and
        ``unplaceable`` / ``min_observed``: samples with too few observed variants.
    """
    check_range("--min-overlap", min_overlap, 0.0, 1.0)
    check_choice("--projection", projection, PROJECTION_METHODS)
    check_range("--min-confidence", min_confidence, 0.0, 1.0)
    inputs = [input_path] if isinstance(input_path, str | os.PathLike) else list(input_path)
    header = {
        "command": command or " ".join(sys.argv),
        "input": ", ".join(str(p) for p in inputs),
        "model": str(model_path),
        "threads": threads or {"torch": _torch_threads()},
        "options": {
            "min_overlap": min_overlap,
            "min_confidence": min_confidence,
            "samples_file": samples_file,
            "remove_file": remove_file,
            "projection": projection,
        },  # fmt: skip
    }
    with OutputSet(out_prefix, PROJECT_SUFFIXES, force) as out:
        with RunLog(out, "project", header) as runlog:
            model = AncestryModel.load(model_path, device=device)
            reference_table = _reference_map(model_path, reference)
            placed = _project_inputs(
                model, inputs, samples_file, remove_file, min_overlap, projection
            )
            write_projection_into(
                out, runlog, placed, min_confidence=min_confidence, reference=reference_table
            )
    return {
        **placed.alignment.to_dict(),
        "unplaceable": int((placed.status == "unplaceable").sum()),
        "sparse": int((placed.status == "sparse").sum()),
        "min_observed": min_observed(projection, model.n_pcs),
        "sparse_below": MIN_OBSERVED_PER_PC * model.n_pcs,
    }


def _project_inputs(
    model: AncestryModel, inputs, samples_file, remove_file, min_overlap: float, projection: str
):
    """Project one VCF Zarr store chunk by chunk, or read the inputs into memory and project."""
    options = {"min_overlap": min_overlap, "projection": projection}
    if len(inputs) == 1 and looks_like_store(inputs[0]):
        ids = store_sample_ids(inputs[0])
        samples = _chosen_samples(ids, samples_file, remove_file, inputs[0])
        log.info("read %s one chunk of variants at a time", inputs[0])
        return model.project_store(inputs[0], samples=samples, **options)
    gm, read_line = read_input(inputs, samples_file=samples_file, remove_file=remove_file)
    log.info(read_line)
    return model.project(gm, **options)


def _reference_map(model_path, reference) -> pd.DataFrame | None:
    """Return the map to draw under projected samples (None when there is none).

    ``reference`` when given, else the table beside the model (``X.embedding.tsv`` for
    ``X.model.pt``).
    """
    if reference is not None:
        return read_embedding_table(reference, "--reference table")
    name = Path(model_path).name
    if name.endswith(".model.pt"):
        beside = Path(model_path).with_name(name.removesuffix(".model.pt") + ".embedding.tsv")
        if beside.is_file():
            log.info("reference map: %s", beside)
            return read_embedding_table(beside)
    log.warning("no reference map beside %s; the PNG shows the new samples alone", model_path)
    return None


def evaluate_table(
    embedding, panel, *, columns: PanelColumns = PanelColumns(), eigenvec=None, seed=0
) -> dict:
    """Metrics of an embedding TSV against a panel (and optionally a PLINK .eigenvec)."""
    df = read_embedding_table(embedding)
    labels = labels_by_sample_key(columns.read(panel), *table_sample_ids(df))
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
        table = labels_by_sample_key(columns.read(panel), *table_sample_ids(df))
        labelled = df.index.isin(table.index)
        if not labelled.any():
            raise InputError(
                f"no sample of {embedding} is in --panel {panel} (e.g. {df.index[0]!r} against "
                f"{table.index[0]!r}); check the sample IDs and --id-col"
            )
        if not labelled.all():
            log.warning(
                "%d of %d samples of %s are not in --panel %s; drawn as 'unlabelled'",
                int((~labelled).sum()), len(df), embedding, panel,
            )  # fmt: skip
        labels = table.reindex(df.index)
        pop = labels["population"].fillna("NA").to_numpy()
        if "super_population" in labels:
            sup = labels["super_population"].fillna("NA").to_numpy()
    tmp = Path(f"{out_path}.tmp-{os.getpid()}")
    try:
        sd = df[["DIM1_SD", "DIM2_SD"]].to_numpy(np.float64) if "DIM1_SD" in df else None
        plot_embedding(
            df[["DIM1", "DIM2"]].to_numpy(np.float64),
            pop,
            sup,
            sd=sd,
            title=Path(embedding).name,
            path=tmp,
        )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
