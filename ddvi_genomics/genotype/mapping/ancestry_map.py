"""The main job in memory: genotypes -> QC -> PCA -> 2-D ancestry map, writing nothing.

>>> from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel
>>> vcf, panel = example_paths()
>>> amap = infer(read_genotypes(vcf), read_panel(panel), method="pca")
>>> amap.coords.shape, amap.model.n_pcs
((2504, 2), 20)

:func:`infer` returns an :class:`AncestryMap` (coordinates, their posterior sd, the PCs, the QC
report, metrics, timings and the fitted :class:`~ddvi_genomics.genotype.mapping.ancestry_model.AncestryModel`).
Writing files is :mod:`ddvi_genomics.genotype.outputs`' job; the command line is read -> infer
-> write.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ...core.config import Config
from ...core.progress import StageTimer
from ...core.seeds import derive_seed, library_seed
from ..counts import alt_allele_frequency
from ..display import count, html_summary, text_summary
from ..errors import InputError, check_range
from ..ids import SampleIdRule
from ..matrix import GenotypeMatrix, VariantTable
from ..pca.decomposition import GenotypePCA, check_polymorphic_in_fit_samples, clamp_n_components
from ..pca.linkage import residual_band
from ..pca.outofcore import store_observed_sums, store_pca
from ..pca.projection import (
    DEFAULT_PROJECTION,
    min_observed,
    observed_sums,
    project_observed,
    space_for,
)
from ..qc.outofcore import store_qc
from ..qc.recipe import DEFAULT_QC, QCOptions, QCReport, frequency_samples
from ..readers import read_genotypes
from ..readers.store import open_root, read_store_variants, sample_pedigree, store_sample_ids
from ..readers.store_tasks import dask_scheduler
from ..samples import keys_are_pairs, pair_keys, sample_keys, select_samples, wanted_keys
from .ancestry_model import AncestryModel
from .classic import classic_embedding
from .evaluate import N_REFERENCE_PCS, evaluate_embedding
from .methods import LABEL_GUIDED_METHODS, METHODS, NETWORK_METHODS

log = logging.getLogger("ddvi_genomics")

#: Fewest samples a map is fitted on (PCA and the metrics need a few points).
MIN_SAMPLES = 3


def example_paths() -> tuple[Path, Path]:
    """Return the bundled 1000 Genomes example: ``(vcf, panel)``."""
    base = resources.files("ddvi_genomics.genotype") / "data"
    return Path(str(base / "1kg_aisnp.vcf.gz")), Path(str(base / "1kg_phase3.panel"))


@dataclasses.dataclass
class AncestryMap:
    """The result of :func:`infer`.

    Attributes
    ----------
    sample_id : np.ndarray of str, shape (n_samples,)
        Samples kept by QC, in input order.
    coords : np.ndarray, shape (n_samples, 2)
        Map coordinates (DDVI / VAE: posterior means).
    sd : np.ndarray, shape (n_samples, 2), or None
        Posterior standard deviations (DDVI, VAE).
    pcs : np.ndarray, shape (n_samples, n_pcs)
        The PC scores the map is built on.
    reference_pcs : np.ndarray, shape (n_samples, <= 50)
        Leading PCs for the embedding-quality metrics.
    labels : pandas.DataFrame or None
        ``population`` (and ``super_population``) per sample, NaN where unlabelled.
    qc : QCReport
    metrics : dict or None
        Embedding metrics (:func:`~.evaluate.evaluate_embedding`) when labels are known.
    timings : dict
        Seconds per step (``qc``, ``pca``, ``embedding``, ``metrics``).
    model : AncestryModel
        Saves, loads and projects new samples.
    history : list of dict or None
        Per-epoch training losses (DDVI, VAE).
    sample_family : np.ndarray of str or None
        PLINK family IDs when the input had them (written to ``.eigenvec`` as ``#FID IID``).
    class_probs : np.ndarray, shape (n_samples, n_populations), or None
        Label-guided methods: population probabilities ``q(c | x)``, columns in the order of
        ``model.class_names``.
    min_confidence : float
        A population call needs at least this probability; below it the call is "unassigned".
    """

    sample_id: np.ndarray
    coords: np.ndarray
    sd: np.ndarray | None
    pcs: np.ndarray
    reference_pcs: np.ndarray
    labels: pd.DataFrame | None
    qc: QCReport
    metrics: dict | None
    timings: dict
    model: AncestryModel
    history: list | None = None
    sample_family: np.ndarray | None = None
    class_probs: np.ndarray | None = None
    min_confidence: float = 0.5

    @property
    def method(self) -> str:
        """The embedding method."""
        return self.model.method

    def _summary_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("method", self.method),
            ("samples", count(len(self.sample_id))),
            ("variants", count(self.qc.n_variants_out)),
            ("PCs", str(self.pcs.shape[1])),
            ("uncertainty", "posterior sd" if self.sd is not None else "none"),
        ]
        if self.labels is not None:
            rows.append(("populations", str(self.labels["population"].nunique())))
        for key in ("knn20_cv_accuracy_population", "trustworthiness_k10"):
            if self.metrics and isinstance(self.metrics.get(key), int | float):
                rows.append((key, f"{self.metrics[key]:.3f}"))
        rows.append(("seconds", f"{sum(self.timings.values()):.1f}"))
        return rows

    def __repr__(self) -> str:
        return text_summary("AncestryMap", self._summary_rows())

    def _repr_html_(self) -> str:
        return html_summary("AncestryMap", self._summary_rows())

    @property
    def eigenvectors(self) -> np.ndarray:
        """Unit eigenvectors ``(n_samples, n_pcs)``: the PC scores over the singular values."""
        return self.pcs / self.model.pca.singular_values_[: self.pcs.shape[1]]

    def table(self) -> pd.DataFrame:
        """Return the embedding table: ``#IID DIM1 DIM2 [DIM1_SD DIM2_SD] [POP [SUPER_POP]]``.

        With PLINK family IDs (a ``.fam``/``.psam`` input) the table starts ``#FID IID``.
        Label-guided maps add ``PRED_POP PRED_PROB``.
        """
        table = embedding_table(self.sample_id, self.coords, self.sd, self.sample_family)
        if self.labels is not None:
            table["POP"] = self.labels["population"].fillna("NA").to_numpy()
            if "super_population" in self.labels:
                table["SUPER_POP"] = self.labels["super_population"].fillna("NA").to_numpy()
        add_population_calls(table, self.class_probs, self.model.class_names, self.min_confidence)
        return table

    def probability_table(self) -> pd.DataFrame | None:
        """``#IID`` (or ``#FID IID``) and one probability column per population (label-guided)."""
        return probability_table(
            self.sample_id, self.class_probs, self.model.class_names, self.sample_family
        )


def embedding_table(
    sample_id, coords: np.ndarray, sd: np.ndarray | None, family=None
) -> pd.DataFrame:
    """``#IID DIM1 DIM2 [DIM1_SD DIM2_SD]`` for coordinates ``(n, 2)`` (map and projection).

    With ``family`` (FIDs, shape (n,)) the ID columns are ``#FID IID``, as plink2 writes them.
    """
    table = id_columns(sample_id, family)
    table["DIM1"], table["DIM2"] = coords[:, 0], coords[:, 1]
    if sd is not None:
        table["DIM1_SD"], table["DIM2_SD"] = sd[:, 0], sd[:, 1]
    return table


def id_columns(sample_id, family=None) -> pd.DataFrame:
    """``#IID``, or ``#FID IID`` when there are family IDs: the first columns of every table."""
    if family is None:
        return pd.DataFrame({"#IID": np.asarray(sample_id, dtype=object)})
    return pd.DataFrame(
        {"#FID": np.asarray(family, dtype=object), "IID": np.asarray(sample_id, dtype=object)}
    )


def add_population_calls(table: pd.DataFrame, probs, class_names, min_confidence: float) -> None:
    """Add ``PRED_POP PRED_PROB`` to ``table`` in place when there are class probabilities."""
    if probs is not None:
        table["PRED_POP"], table["PRED_PROB"] = population_calls(
            probs, class_names, min_confidence
        )


def probability_table(sample_id, probs, class_names, family=None) -> pd.DataFrame | None:
    """``#IID`` (``#FID IID`` with ``family``) and one column per population, or None."""
    if probs is None:
        return None
    return pd.concat(
        [id_columns(sample_id, family), pd.DataFrame(probs, columns=list(class_names))], axis=1
    )


def population_calls(probs: np.ndarray, class_names, min_confidence: float):
    """Most probable population per row and its probability; "unassigned" below the threshold.

    Returns
    -------
    call : np.ndarray of str, shape (n,)
    probability : np.ndarray, shape (n,)
    """
    best = probs.argmax(1)
    prob = probs[np.arange(len(probs)), best]
    call = np.asarray(class_names, dtype=object)[best]
    return np.where(prob >= min_confidence, call, "unassigned"), prob


def infer(
    genotypes: GenotypeMatrix | str | os.PathLike,
    labels: pd.DataFrame | pd.Series | None = None,
    *,
    qc: QCOptions = DEFAULT_QC,
    n_pcs: int = 20,
    method: str = "ddvi",
    config: Config | None = None,
    seed: int = 0,
    device: str = "auto",
    n_draws: int = 20,
    verbose: bool | None = None,
    min_confidence: float = 0.5,
    memory_mib: float | None = None,
    compile: str = "auto",
    pca_fit_samples: Sequence[str] | frozenset[str] | None = None,
    projection: str = DEFAULT_PROJECTION,
    samples: Sequence[str] | frozenset[str] | None = None,
    out_of_core: bool = False,
    scheduler: str | None = None,
    id_rule: SampleIdRule | None = None,
    pca_solver: str = "auto",
    fit_subset: int | None = None,
) -> AncestryMap:
    """Fit a 2-D ancestry map of genotypes; write nothing.

    Parameters
    ----------
    genotypes : GenotypeMatrix or path
        Dosages ``(n_variants, n_samples)``, or a VCF / BCF / PLINK file or VCF Zarr store to
        read.
    labels : pandas.DataFrame or Series, optional
        Indexed by sample ID: a panel from :func:`~.io.read_panel` (``population`` and optionally
        ``super_population`` columns) or a Series of populations. Used for metrics and the
        table; samples without a label are kept, unlabelled.
    qc : QCOptions
    n_pcs : int
        PCs fed to the embedding (clamped to what the data allow, with a warning).
    method : {"ddvi", "vae", "aae", "pca", "tsne", "umap", "ddvi-semi"}
        ``ddvi-semi`` is label-guided ancestry: the semi-supervised DDVI trained with the labels
        (unlabelled samples are classified); the map then also gives population probabilities.
    config : DDVIConfig or VAEConfig, optional
        The network's configuration (default: the genotype preset of the method's family).
    seed : int
        Split into named streams (PCA, network initialisation, training, posterior draws,
        metrics); global RNGs are left untouched.
    device : {"auto", "cpu", "cuda", "mps"}
    n_draws : int
        Posterior draws per sample for the coordinates and their sd.
    verbose : bool, optional
        Progress on stderr (default: only on a terminal).
    min_confidence : float
        Label-guided calls below this probability are "unassigned".
    memory_mib : float, optional
        PCA workspace in MiB (PLINK's ``--memory``): the dosages are scaled block by block within
        it; default :data:`~.pca.DEFAULT_WORKSPACE_MIB`.
    compile : str
        How the network trains: ``"auto"`` records each step as a CUDA graph on CUDA and runs
        eagerly elsewhere; ``"off"``: eager; see :func:`ddvi_genomics.core.training.fit`.
    pca_fit_samples : sequence or set of str, optional
        Fit the PCA (allele frequencies included) on these samples only, e.g. an unrelated
        reference panel, and project every sample onto it (PLINK: ``--pca`` on the subset, then
        ``--score``). The QC still runs on every sample.
    projection : {"bayes", "lsq", "mean-impute"}
        How the samples outside ``pca_fit_samples`` get their scores from their observed calls
        (:mod:`~ddvi_genomics.genotype.pca.projection`; ``mean-impute`` is PLINK's ``--score``).
    samples : sequence or set of str, optional
        Map only these samples (``--keep``): a sequence in its own order, or a set in the
        input's order.
    out_of_core : bool
        ``genotypes`` is a VCF Zarr store whose QC counts and exact PCA run chunk by chunk on
        Dask (:mod:`~ddvi_genomics.genotype.qc.outofcore`,
        :mod:`~ddvi_genomics.genotype.pca.outofcore`), locally or on the ``dask.distributed``
        scheduler at ``scheduler``; the genotypes are never held in memory. The map equals the
        in-memory one on the same data for the QC filters both support (``--bp-space`` and
        ``--ld-prune`` need a store sorted by contig and position).
    id_rule : SampleIdRule, optional
        Out of core: split the store's sample names into FID and IID (PLINK's ``--id-delim``,
        ``--double-id``, ``--const-fid``); ``samples`` then name IIDs. (In memory, apply the
        rule to the matrix first: :meth:`~..ids.SampleIdRule.apply`.)
    pca_solver : {"auto", "exact", "randomized"}
        ``auto``: exact up to 5,000 (fit) samples, randomized above; out of core the randomized
        solver never holds an ``n x n`` matrix (:mod:`~..pca.outofcore`).
    fit_subset : int, optional
        Network methods: train the embedding on this many samples (stratified by population
        where labels are given, else uniform; the ``"fit-subset"`` stream) and place every
        sample through the trained encoder, so an epoch's work is bounded for large cohorts.
        The PCA and the metrics still use every sample.

    Returns
    -------
    AncestryMap
    """
    _check_arguments(method, n_pcs, n_draws, min_confidence, config)
    _check_fit_subset(method, fit_subset)
    device = resolved_device(method, device)
    stages = StageTimer(log)
    if out_of_core:
        front = _store_front_end(
            genotypes, qc, n_pcs, stages, scheduler=scheduler, verbose=verbose, samples=samples,
            pca_fit_samples=pca_fit_samples, projection=projection, id_rule=id_rule,
            pca_solver=pca_solver, seed=seed,
        )  # fmt: skip
    else:
        if scheduler:
            raise InputError("a scheduler applies to out-of-core runs only")
        front = _memory_front_end(
            genotypes, qc, n_pcs, stages, seed=seed, memory_mib=memory_mib, samples=samples,
            pca_fit_samples=pca_fit_samples, projection=projection, pca_solver=pca_solver,
        )  # fmt: skip
    sample_id, family, variants, report, pca, reference_pcs = front
    aligned = align_labels(labels, sample_id, family)
    return _finish_map(
        stages, sample_id, family, variants, report, pca, reference_pcs, aligned,
        method=method, config=config, seed=seed, device=device, n_draws=n_draws,
        verbose=verbose, min_confidence=min_confidence, compile=compile, fit_subset=fit_subset,
    )  # fmt: skip


def resolved_device(method: str, device: str) -> str:
    """Return the device a network method trains on (``auto`` resolved); ``cpu`` otherwise.

    PCA, t-SNE and UMAP maps need no torch device, so they never import torch for it.
    """
    if method not in NETWORK_METHODS:
        return "cpu"
    from ...core.runtime import resolve_device  # torch: only network methods get here

    return str(resolve_device(device))


def infer_store(store, labels=None, **options) -> AncestryMap:
    """:func:`infer` with ``out_of_core=True``: QC and PCA of a VCF Zarr store on Dask."""
    return infer(store, labels, out_of_core=True, **options)


def _memory_front_end(
    genotypes, qc, n_pcs, stages, *, seed, memory_mib, samples, pca_fit_samples, projection,
    pca_solver="auto",
):  # fmt: skip
    """Read, QC and PCA in memory; return what :func:`_finish_map` needs of them."""
    gm = genotypes if isinstance(genotypes, GenotypeMatrix) else read_genotypes(genotypes)
    if samples is not None:
        gm = gm.subset(
            samples=select_samples(list(gm.sample_id), samples, "--keep", gm.sample_family)
        )
    with stages("qc", f"{gm.n_variants:,} variants x {gm.n_samples:,} samples"):
        gm, report = apply_qc(gm, qc)
    fit = None
    if pca_fit_samples is not None:
        fit = select_samples(list(gm.sample_id), pca_fit_samples, "--pca-fit", gm.sample_family)
    with stages("pca", f"{gm.n_variants:,} variants x {gm.n_samples:,} samples"):
        pca, reference_pcs = fit_pca(
            gm, n_pcs, seed=seed, memory_mib=memory_mib, fit_samples=fit, projection=projection,
            frequency_samples=frequency_samples(gm, qc), solver=pca_solver,
        )  # fmt: skip
    variants = VariantTable.of(gm)
    return np.asarray(gm.sample_id), gm.sample_family, variants, report, pca, reference_pcs


def _store_front_end(
    store, qc, n_pcs, stages, *, scheduler, verbose, samples, pca_fit_samples, projection,
    id_rule=None, pca_solver="auto", seed=0,
):  # fmt: skip
    """QC and PCA of a store out of core; return what :func:`_finish_map` needs of them."""
    iid, fid = store_sample_names(store, id_rule)
    chosen = None
    if samples is not None:
        chosen = select_samples(list(iid), samples, store, fid)
    with stages("qc", f"out of core, {store}"):
        store_report = store_qc(store, qc, scheduler=scheduler, verbose=verbose, samples=chosen)
    n_var, n_samp = int(store_report.keep.sum()), store_report.n_samples
    n_pcs, warning = clamp_n_components(n_pcs, n_var, n_samp)
    if warning:
        log.warning(warning)
    n_fit = max(n_pcs, min(N_REFERENCE_PCS, n_var, n_samp))
    _, variants = read_store_variants(store, store_report.keep)
    kept = np.arange(len(iid)) if store_report.samples is None else store_report.samples
    sample_id = iid[kept]  # chosen, or --mind removed some
    family = None if fid is None else fid[kept]
    fit = None
    if pca_fit_samples is not None:
        fit = select_samples(list(sample_id), pca_fit_samples, "--pca-fit", family)
        n_fit = min(n_fit, len(fit))
    with stages("pca", f"out of core, {n_var:,} variants x {n_samp:,} samples"):
        full, reference_pcs, _ = store_pca(
            store, n_fit, qc=store_report, scheduler=scheduler, fit_samples=fit, verbose=verbose,
            solver=pca_solver, seed=library_seed(seed, "pca"),
        )  # fmt: skip
        others = (
            np.array([], dtype=np.int64) if fit is None else np.setdiff1d(np.arange(n_samp), fit)
        )
        if projection != "mean-impute" and len(others):
            map_pca = full.truncated(n_pcs)
            kept = np.arange(n_samp) if store_report.samples is None else store_report.samples
            with dask_scheduler(scheduler):
                sums = store_observed_sums(
                    store, map_pca, store_report, np.asarray(kept)[others], verbose=verbose
                )
            reference_pcs[others, :n_pcs] = _projected_outside_fit(
                map_pca, sums, projection, sample_id[others]
            )
    report = store_report.report()
    return sample_id, family, variants, report, full.truncated(n_pcs), reference_pcs


def store_sample_names(store, id_rule: SampleIdRule | None = None):
    """IIDs and FIDs of a store's samples: the ``.fam``'s, or the names split by ``id_rule``.

    Returns
    -------
    iid : np.ndarray of str, shape (n_samples,)
    fid : np.ndarray of str, shape (n_samples,), or None
    """
    names = store_sample_ids(store)
    family = sample_pedigree(open_root(store))[0]
    if id_rule is None or not id_rule.active:
        return np.asarray(names, dtype=object), family
    if family is not None:
        raise InputError(
            f"{store}: --double-id / --const-fid / --id-delim apply to VCF sample names; this "
            "store (from a .bed) already has FID and IID"
        )
    fid, iid = id_rule.split_unique(names, str(store))
    return np.asarray(iid, dtype=object), np.asarray(fid, dtype=object)


def _finish_map(
    stages, sample_id, family, variants, report, pca, reference_pcs, aligned, *, method, config,
    seed, device, n_draws, verbose, min_confidence, compile="auto", fit_subset=None,
) -> AncestryMap:  # fmt: skip
    """Embed the PCs, score the map and assemble the :class:`AncestryMap` (after QC and PCA)."""
    pcs = reference_pcs[:, : pca.n_components]
    fit_rows = _fit_rows(len(pcs), fit_subset, aligned, seed)
    trained_on = (
        "" if fit_rows is None else f", trained on {len(fit_rows):,} of {len(pcs):,} samples"
    )
    with stages("embedding", f"{method} on {pcs.shape[1]} PCs, device {device}{trained_on}"):
        class_names, class_index = training_classes(aligned, method)
        if method not in NETWORK_METHODS:
            emb = classic_embedding(pcs, method, seed=seed)
        else:
            from .embed import embed  # torch: loaded only when a map trains a network

            emb = embed(
                pcs, method=method, seed=seed, device=device, config=config, n_draws=n_draws,
                verbose=verbose, labels=class_index, compile=compile, fit_rows=fit_rows,
            )  # fmt: skip
    model = AncestryModel(
        method, variants, pca, emb.input_scale, emb.model, seed, n_draws, class_names
    )
    with stages("metrics"):
        metrics = score_map(emb.coords, aligned, reference_pcs, method=method, seed=seed)
        if metrics is not None and class_names:
            metrics["labels_used_in_training"] = True  # label-guided: these metrics are optimistic
        if metrics is not None and fit_rows is not None:
            metrics["embedding_fit_samples"] = len(fit_rows)
    return AncestryMap(
        sample_id, emb.coords, emb.sd, pcs, reference_pcs, aligned, report, metrics,
        stages.seconds, model, emb.history, family, emb.class_probs, min_confidence,
    )  # fmt: skip


def _check_fit_subset(method: str, fit_subset: int | None) -> None:
    if fit_subset is None:
        return
    check_range("--fit-subset", fit_subset, MIN_SAMPLES, None, integer=True)
    if method not in NETWORK_METHODS:
        raise InputError(
            f"--fit-subset applies to the network methods ({', '.join(NETWORK_METHODS)}), which "
            f"place the other samples through their encoder; method {method!r} has none"
        )


def _fit_rows(n: int, fit_subset: int | None, labels, seed: int) -> np.ndarray | None:
    """Rows the embedding trains on (sorted), or None for every row.

    Stratified by population where ``labels`` has any (unlabelled samples form one more
    stratum), else uniform; drawn from the ``"fit-subset"`` stream of ``seed``.
    """
    if fit_subset is None or fit_subset >= n:
        return None
    strata = None
    if labels is not None and labels["population"].notna().any():
        strata = labels["population"].fillna("").to_numpy(dtype=str)
    return stratified_rows(
        n, fit_subset, strata, np.random.default_rng(derive_seed(seed, "fit-subset"))
    )


def stratified_rows(n: int, size: int, strata, rng: np.random.Generator) -> np.ndarray:
    """``size`` of ``n`` row indices (sorted), in proportion to ``strata`` (n,) when given.

    Each stratum gets ``floor(size * share)`` rows, and the rows left over go to the strata with
    the largest remainders (Hamilton's method), so the total is exactly ``size``.
    """
    if strata is None:
        return np.sort(rng.choice(n, size, replace=False))
    names, index, counts = np.unique(strata, return_inverse=True, return_counts=True)
    quota = size * counts / n
    take = np.floor(quota).astype(int)
    extra = np.argsort(-(quota - take), kind="stable")[: size - take.sum()]
    take[extra] += 1
    rows = [
        rng.choice(np.flatnonzero(index == k), take[k], replace=False) for k in range(len(names))
    ]
    return np.sort(np.concatenate(rows))


def _check_arguments(method, n_pcs, n_draws, min_confidence, config) -> None:
    if method not in METHODS:
        raise InputError(f"method {method!r} is not allowed; choose one of {list(METHODS)}")
    check_range("--n-pcs", n_pcs, 1, None, integer=True)
    check_range("n_draws", n_draws, 2, None, integer=True)
    check_range("--min-confidence", min_confidence, 0.0, 1.0)
    if config is not None:
        check_range("--epochs", config.epochs, 1, None, integer=True)


def apply_qc(gm: GenotypeMatrix, qc: QCOptions) -> tuple[GenotypeMatrix, QCReport]:
    """Run ``qc`` on ``gm``; refuse a result with too few samples for a map."""
    gm, report = qc.apply(gm)
    if gm.n_samples < MIN_SAMPLES:
        raise InputError(
            f"{gm.n_samples} sample(s) after QC; a map needs at least {MIN_SAMPLES} samples"
        )
    return gm, report


def training_classes(labels: pd.DataFrame | None, method: str):
    """Class names and per-sample indices (-1 unlabelled) for label-guided methods.

    Returns ``((), None)`` for the other methods.
    """
    if method not in LABEL_GUIDED_METHODS:
        return (), None
    if labels is None or labels["population"].notna().sum() == 0:
        raise InputError(f"method {method!r} needs population labels: give --panel")
    pops = labels["population"]
    names = tuple(sorted(pops.dropna().unique()))
    if len(names) < 2:
        raise InputError(f"method {method!r} needs at least 2 labelled populations; got {names}")
    index = np.full(len(pops), -1, dtype=np.int64)
    known = pops.notna().to_numpy()
    index[known] = np.searchsorted(names, pops[known].to_numpy())
    return names, index


def fit_pca(
    gm: GenotypeMatrix,
    n_pcs: int,
    *,
    seed: int = 0,
    memory_mib: float | None = None,
    fit_samples: np.ndarray | None = None,
    projection: str = DEFAULT_PROJECTION,
    frequency_samples: np.ndarray | None = None,
    solver: str = "auto",
) -> tuple[GenotypePCA, np.ndarray]:
    """Fit the PCA front end.

    Parameters
    ----------
    frequency_samples : np.ndarray of int, optional
        Columns of ``gm`` whose allele frequencies centre and scale the genotypes (the
        founders, as plink2); default the fit samples.
    fit_samples : np.ndarray of int, optional
        Columns of ``gm`` to fit on; the other samples are then projected, their first
        ``n_pcs`` scores by ``projection`` (:mod:`~..pca.projection`) from their observed calls.
    projection : {"bayes", "lsq", "mean-impute"}
    solver : {"auto", "exact", "randomized"}
        :class:`~..pca.GenotypePCA`'s solver (``auto``: exact up to 5,000 fit samples).

    Returns
    -------
    pca : GenotypePCA
        Truncated to ``n_pcs`` components (clamped to ``min(n_variants, n_fit_samples)``).
    scores : np.ndarray, shape (n_samples, max(n_pcs, min(50, ...)))
        PC scores, with the reference space's 50 PCs where the data allow.
    """
    n_fitted = gm.n_samples if fit_samples is None else len(fit_samples)
    n_pcs, warning = clamp_n_components(n_pcs, gm.n_variants, n_fitted)
    if warning:
        log.warning(warning)
    n_fit = max(n_pcs, min(N_REFERENCE_PCS, gm.n_variants, n_fitted))
    pca = GenotypePCA(n_fit, solver=solver, seed=library_seed(seed, "pca"), memory_mib=memory_mib)
    fitted = gm.dosage if fit_samples is None else gm.dosage[:, np.asarray(fit_samples)]
    if fit_samples is not None:
        check_polymorphic_in_fit_samples(alt_allele_frequency(fitted))
    if frequency_samples is not None and fit_samples is not None:  # founders within the fit
        position = {int(c): i for i, c in enumerate(np.asarray(fit_samples))}
        frequency_samples = np.array([position[c] for c in frequency_samples if c in position])
    fit_scores = pca.fit_transform(fitted, frequency_samples)
    map_pca = pca.truncated(n_pcs)
    map_pca.residual_band_ = residual_band(
        map_pca, fitted, fit_scores[:, :n_pcs], gm.variant_contig
    )
    if fit_samples is None:
        return map_pca, fit_scores
    scores = pca.transform(gm.dosage)  # the fit samples' scores are U S
    others = np.setdiff1d(np.arange(gm.n_samples), fit_samples)
    if projection != "mean-impute" and len(others):
        sums = observed_sums(map_pca, gm.dosage[:, others], memory_mib=memory_mib)
        scores[others, :n_pcs] = _projected_outside_fit(
            map_pca, sums, projection, gm.sample_id[others]
        )
    return map_pca, scores


def _projected_outside_fit(pca: GenotypePCA, sums, projection: str, sample_id) -> np.ndarray:
    """Scores ``(n, k)`` of the samples outside ``--pca-fit``; refuse any that cannot be placed."""
    projected = project_observed(sums, space_for(pca, projection), projection)
    if not projected.placeable.all():
        first = sample_id[int(np.flatnonzero(~projected.placeable)[0])]
        raise InputError(
            f"--pca-fit: {int((~projected.placeable).sum())} sample(s) outside the fit set have "
            f"fewer than {min_observed(projection, pca.n_components)} called variants (first "
            f"{first!r}); remove them (--mind) or use --projection mean-impute"
        )
    log.info(
        "--pca-fit: %d samples outside the fit set projected (%s) on %d PCs; called variants "
        "per sample: median %d", len(sample_id), projection, pca.n_components,
        int(np.median(projected.n_observed)),
    )  # fmt: skip
    return projected.scores


def align_labels(labels, sample_id: np.ndarray, family=None) -> pd.DataFrame | None:
    """Reindex a panel (or Series of populations) to the samples; NaN where unlabelled.

    Samples are matched by IID, or by (FID, IID) where IIDs repeat in the genotypes or in a
    panel that has FIDs (a ``family`` column, see :func:`~..readers.panel.read_panel`).

    Parameters
    ----------
    sample_id, family : np.ndarray of str, shape (n_samples,)
        IIDs and FIDs (``family`` None where the input has none).

    Returns
    -------
    pandas.DataFrame or None
        One row per sample, in order, indexed by sample key (see
        :func:`~..samples.sample_keys`).

    Raises
    ------
    InputError
        When no sample has a label (the usual cause: the wrong ID column), or the panel's IIDs
        cannot be matched one to one.
    """
    if labels is None:
        return None
    if isinstance(labels, pd.Series):
        labels = labels.rename("population").to_frame()
    if "population" not in labels.columns:
        raise InputError(
            f"labels need a 'population' column (read_panel makes one); got {list(labels.columns)}"
        )
    source = labels.attrs.get("source", "labels")
    keys = pd.Index(sample_keys(sample_id, family))
    labels = labels_by_sample_key(labels, sample_id, family)
    matched = labels.index.intersection(keys)
    if len(matched) == 0:
        raise InputError(
            f"{source}: none of its {len(labels)} IDs match the {len(sample_id)} genotype samples "
            f"(first sample {keys[0]!r}, first ID {labels.index[0]!r})"
            + id_delimiter_hint(sample_id, labels.index)
        )
    if len(matched) < len(sample_id):
        log.warning(
            "%s gives a label to %d of %d samples; the others are unlabelled%s",
            source, len(matched), len(sample_id), id_delimiter_hint(sample_id, labels.index),
        )  # fmt: skip
    return labels.reindex(keys)


def labels_by_sample_key(labels: pd.DataFrame, sample_id, family=None) -> pd.DataFrame:
    """``labels`` (a panel) indexed by the samples' keys (IIDs, or ``"FID IID"``).

    Panel rows of samples the genotypes lack keep their IID (or ``"FID IID"``) and match nothing.

    Raises
    ------
    InputError
        A panel IID that could label several samples (the panel has no FIDs, or the genotypes
        have none), or a (FID, IID) listed twice.
    """
    source = labels.attrs.get("source", "labels")
    panel_repeats = labels.index.duplicated().any()
    if not keys_are_pairs(sample_id, family) and not panel_repeats:
        return labels
    if family is None:
        raise InputError(
            f"{source} names IID {labels.index[labels.index.duplicated()][0]!r} in more than one "
            "family; the genotypes have no FIDs to tell them apart"
        )
    if "family" in labels.columns:  # match on (FID, IID), as PLINK does
        pairs = pd.Index(pair_keys(labels["family"], labels.index))
        if pairs.duplicated().any():
            raise InputError(f"{source} lists sample {pairs[pairs.duplicated()][0]!r} twice")
        return labels.set_axis(pairs)
    if not keys_are_pairs(sample_id, family):  # panel IIDs repeat, genotype IIDs do not
        raise InputError(
            f"{source} lists sample {labels.index[labels.index.duplicated()][0]!r} more than once"
        )
    # an IID-only panel: each IID must name one sample of the genotypes
    keys = wanted_keys(
        [str(i) for i in labels.index], sample_keys(sample_id, family), source,
        hint="give the panel a FID column (FID or #FID) to say which sample it labels",
    )  # fmt: skip
    return labels.set_axis(pd.Index(keys))


def id_delimiter_hint(sample_id, panel_ids) -> str:
    """Return a hint when the genotype names are ``FID<d>IID`` of panel IDs (``1_HG00096``).

    Returns ``"; ... use --id-delim _"`` when splitting the names at the first ``_``, ``-``,
    ``.`` or ``:`` matches more panel IDs than the names do; "" otherwise.
    """
    panel = set(map(str, panel_ids))
    names = [str(s) for s in sample_id]
    direct = sum(name in panel for name in names)
    for delimiter in ("_", "-", ".", ":"):
        split = sum(name.split(delimiter, 1)[-1] in panel for name in names if delimiter in name)
        if split > max(direct, len(names) // 10):
            example = next(
                n for n in names if delimiter in n and n.split(delimiter, 1)[-1] in panel
            )
            return (
                f"; the genotype names look like FID{delimiter}IID ({example!r}): "
                f"--id-delim '{delimiter}' splits them and matches {split} of {len(names)}"
            )
    return ""


def score_map(
    coords: np.ndarray,
    labels: pd.DataFrame | None,
    reference_pcs: np.ndarray,
    *,
    method: str,
    seed: int = 0,
) -> dict | None:
    """Embedding metrics on the labelled samples (None without labels)."""
    if labels is None:
        return None
    known = labels["population"].notna().to_numpy()
    sup = labels["super_population"].to_numpy()[known] if "super_population" in labels else None
    metrics = evaluate_embedding(
        coords[known],
        labels["population"].to_numpy()[known],
        sup,
        reference_pcs=reference_pcs[known],
        seed=seed,
    )
    metrics["method"] = method
    return metrics
