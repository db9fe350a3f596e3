"""``infer`` and ``project``: genotypes -> QC -> PCA -> 2-D embedding -> files.

Outputs of ``infer`` (all written to temporary names first and renamed together at the end, so a
failed run leaves nothing half-written):

``PREFIX.embedding.tsv``   ``#IID DIM1 DIM2 DIM1_SD DIM2_SD [POP SUPER_POP]``
``PREFIX.eigenvec/.eigenval``  PLINK 2-compatible PCA front end
``PREFIX.png``             scatter coloured by population
``PREFIX.metrics.json``    embedding metrics (when labels are known)
``PREFIX.model.pt``        everything ``project`` needs
``PREFIX.log``             command line, versions, options, counts, timings, device
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.models.ddvi import DDVI
from ..core.runtime import resolve_device
from .embed import GENOTYPE_DDVI_CONFIG, embed, posterior_summary
from .errors import InputError
from .evaluate import evaluate_embedding
from .io import GenotypeMatrix, read_genotypes, read_panel, read_samples_file
from .pca import GenotypePCA, clamp_n_components, write_eigenval, write_eigenvec
from .plots import plot_embedding
from .qc import run_qc

log = logging.getLogger("ddvi_genomics")

OUTPUT_SUFFIXES = (
    ".embedding.tsv",
    ".eigenvec",
    ".eigenval",
    ".png",
    ".metrics.json",
    ".model.pt",
    ".log",
)
MODEL_FORMAT = "ddvi-genomics/AncestryModel"


def example_paths() -> tuple[Path, Path]:
    """Return the bundled 1000 Genomes example: ``(vcf, panel)``."""
    base = resources.files("ddvi_genomics.genotype") / "data"
    return Path(str(base / "1kg_aisnp.vcf.gz")), Path(str(base / "1kg_phase3.panel"))


@dataclasses.dataclass
class InferOptions:
    """Options of :func:`run_infer` (command-line flags map one to one)."""

    panel: str | None = None
    id_col: str = "sample"
    label_col: str = "pop"
    super_col: str = "super_pop"
    region: str | None = None
    samples_file: str | None = None
    n_pcs: int = 20
    method: str = "ddvi"
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    min_maf: float = 0.01
    max_missing: float = 0.1
    thin_bp: int | None = None
    ld_prune: tuple[int, int, float] | None = None
    force: bool = False
    verbose: bool | None = None


class _Outputs:
    """Collects output files under temporary names and publishes them together."""

    def __init__(self, prefix: Path, suffixes, force: bool):
        self.prefix, self.pending = prefix, []
        existing = [str(prefix) + s for s in suffixes if Path(str(prefix) + s).exists()]
        if existing and not force:
            raise InputError(f"output {existing[0]} exists; use --force to overwrite")
        if not prefix.parent.exists():
            raise InputError(f"output folder {prefix.parent} does not exist")

    def path(self, suffix: str) -> Path:
        tmp = Path(f"{self.prefix}{suffix}.tmp-{os.getpid()}")
        self.pending.append((tmp, Path(f"{self.prefix}{suffix}")))
        return tmp

    def publish(self) -> list[Path]:
        for tmp, final in self.pending:
            os.replace(tmp, final)
        return [final for _, final in self.pending]

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


def _labels(panel_path, opts: InferOptions, sample_id) -> pd.DataFrame | None:
    if panel_path is None:
        return None
    panel = read_panel(
        panel_path, id_col=opts.id_col, label_col=opts.label_col, super_col=opts.super_col
    )
    matched = panel.index.intersection(pd.Index(sample_id))
    if len(matched) == 0:
        raise InputError(
            f"panel {panel_path}: none of its {len(panel)} IDs match the {len(sample_id)} genotype samples "
            f"(first sample {sample_id[0]!r}, first panel ID {panel.index[0]!r})"
        )
    if len(matched) < len(sample_id):
        log.warning(
            "panel labels %d of %d samples; the others are unlabelled",
            len(matched),
            len(sample_id),
        )
    return panel.reindex(pd.Index(sample_id))


def run_infer(input_path, out_prefix, opts: InferOptions, *, command: str = "") -> dict:
    """Run the whole pipeline and write the outputs; return a summary dict.

    Raises
    ------
    InputError
        For bad input (the command line prints it as one line and exits with code 2).
    """
    t_start = time.perf_counter()
    prefix = Path(out_prefix)
    outputs = _Outputs(prefix, OUTPUT_SUFFIXES, opts.force)
    device = resolve_device(opts.device)
    lines = [
        f"ddvi-genomics infer  (log of {prefix})",
        f"command: {command or ' '.join(sys.argv)}",
        _versions(),
        f"device: {device}",
        f"options: {json.dumps(dataclasses.asdict(opts), default=str)}",
    ]
    try:
        samples = read_samples_file(opts.samples_file) if opts.samples_file else None
        t0 = time.perf_counter()
        gm = read_genotypes(input_path, region=opts.region, samples=samples, progress=opts.verbose)
        lines.append(
            f"read {gm.n_variants:,} variants x {gm.n_samples:,} samples from {input_path} "
            f"in {time.perf_counter() - t0:.1f} s; haploid calls {gm.n_haploid_calls:,}; "
            f"missing calls {int((gm.dosage < 0).sum()):,} (mean-imputed in PCA)"
        )
        if gm.n_variants == 0:
            raise InputError(
                f"{input_path} has no variants"
                + (f" in region {opts.region}" if opts.region else "")
            )
        labels = _labels(opts.panel, opts, gm.sample_id)
        qc_gm, report = run_qc(
            gm,
            min_maf=opts.min_maf,
            max_variant_missing=opts.max_missing,
            thin_bp=opts.thin_bp,
            ld_prune=opts.ld_prune,
        )
        lines += report.lines()
        n_pcs, warning = clamp_n_components(opts.n_pcs, qc_gm.n_variants, qc_gm.n_samples)
        if warning:
            log.warning(warning)
            lines.append("warning: " + warning)
        t0 = time.perf_counter()
        pca = GenotypePCA(max(n_pcs, min(50, qc_gm.n_variants, qc_gm.n_samples)), seed=opts.seed)
        pcs_all = pca.fit_transform(qc_gm.dosage)
        pcs = pcs_all[:, :n_pcs]
        lines.append(
            f"PCA ({pca.solver_used_}): {pcs_all.shape[1]} components in {time.perf_counter() - t0:.1f} s; "
            f"using {n_pcs}; variance explained by PC1-2 {pca.explained_variance_ratio_[:2].round(4).tolist()}"
        )
        config = (
            GENOTYPE_DDVI_CONFIG
            if opts.epochs is None
            else GENOTYPE_DDVI_CONFIG.replace(epochs=opts.epochs)
        )
        t0 = time.perf_counter()
        emb = embed(
            pcs,
            method=opts.method,
            seed=opts.seed,
            device=str(device),
            config=config,
            verbose=opts.verbose,
        )
        lines.append(f"embedding ({opts.method}) in {time.perf_counter() - t0:.1f} s")
        table = pd.DataFrame(
            {"#IID": qc_gm.sample_id, "DIM1": emb.coords[:, 0], "DIM2": emb.coords[:, 1]}
        )
        if emb.sd is not None:
            table["DIM1_SD"], table["DIM2_SD"] = emb.sd[:, 0], emb.sd[:, 1]
        pop = sup = None
        if labels is not None:
            table["POP"] = labels["population"].fillna("NA").to_numpy()
            pop = table["POP"].to_numpy()
            if "super_population" in labels:
                table["SUPER_POP"] = labels["super_population"].fillna("NA").to_numpy()
                sup = table["SUPER_POP"].to_numpy()
        table.to_csv(outputs.path(".embedding.tsv"), sep="\t", index=False, float_format="%.6g")
        write_eigenvec(outputs.path(".eigenvec"), qc_gm.sample_id, pcs)
        write_eigenval(outputs.path(".eigenval"), pca.eigenvalues_[:n_pcs])
        plot_embedding(
            emb.coords,
            pop,
            sup,
            title=f"{opts.method.upper()} embedding of {Path(input_path).name}",
            path=outputs.path(".png"),
        )
        metrics = None
        if pop is not None:
            known = pop != "NA"
            metrics = evaluate_embedding(
                emb.coords[known],
                pop[known],
                None if sup is None else sup[known],
                reference_pcs=pcs_all[known],
                seed=opts.seed,
            )
            metrics["method"] = opts.method
            Path(outputs.path(".metrics.json")).write_text(json.dumps(metrics, indent=2))
        _save_model(outputs.path(".model.pt"), qc_gm, pca, n_pcs, emb, opts)
        lines.append(f"total {time.perf_counter() - t_start:.1f} s")
        Path(outputs.path(".log")).write_text("\n".join(lines) + "\n")
        written = outputs.publish()
    except BaseException:
        outputs.discard()
        raise
    return {"outputs": [str(p) for p in written], "metrics": metrics, "log": lines}


def _versions() -> str:
    import cyvcf2
    import sklearn

    from .. import __version__

    return (
        f"versions: ddvi-genomics {__version__}, python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, cyvcf2 {cyvcf2.__version__}"
    )


def _save_model(
    path, gm: GenotypeMatrix, pca: GenotypePCA, n_pcs: int, emb, opts: InferOptions
) -> None:
    model = emb.model
    payload = {
        "format": MODEL_FORMAT,
        "method": emb.method,
        "variant_contig": list(gm.variant_contig),
        "variant_position": gm.variant_position.tolist(),
        "variant_ref": list(gm.variant_ref),
        "variant_alt": list(gm.variant_alt),
        "allele_frequency": pca.allele_frequency_,
        "pca_components": pca.components_[:n_pcs],
        "n_pcs": n_pcs,
        "input_scale": emb.input_scale,
        "seed": opts.seed,
        "ddvi": None
        if model is None
        else {
            "family": type(model).__name__,
            "n_features": model.n_features,
            "config": model.config.to_dict(),
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        },
    }
    torch.save(payload, path)


def _norm_contig(c: str) -> str:
    c = str(c)
    return c[3:] if c.lower().startswith("chr") else c


def align_to_model(gm: GenotypeMatrix, model: dict) -> tuple[np.ndarray, dict]:
    """Reorder new dosages to the model's variants; flip swapped REF/ALT; mark absent as missing.

    Returns
    -------
    dosage : np.ndarray, int8, shape (n_model_variants, n_samples)
        Missing (-1) where the variant is absent; PCA projection imputes it with the training mean.
    report : dict
        Counts of matched, swapped and absent variants and the overlap fraction.
    """
    index = {}
    for i, (c, p, r, a) in enumerate(
        zip(gm.variant_contig, gm.variant_position, gm.variant_ref, gm.variant_alt)
    ):
        index.setdefault((_norm_contig(c), int(p)), []).append((i, r, a))
    n_model = len(model["variant_position"])
    out = np.full((n_model, gm.n_samples), -1, dtype=np.int8)
    matched = swapped = 0
    for j in range(n_model):
        key = (_norm_contig(model["variant_contig"][j]), int(model["variant_position"][j]))
        ref, alt = model["variant_ref"][j], model["variant_alt"][j]
        for i, r, a in index.get(key, []):
            if (r, a) == (ref, alt):
                out[j] = gm.dosage[i]
                matched += 1
                break
            if (r, a) == (alt, ref):
                row = gm.dosage[i]
                out[j] = np.where(row >= 0, 2 - row, -1)
                swapped += 1
                break
    found = matched + swapped
    return out, {
        "n_model_variants": n_model,
        "matched": matched,
        "swapped_ref_alt": swapped,
        "absent": n_model - found,
        "overlap": found / n_model,
    }


def run_project(
    input_path,
    model_path,
    out_prefix,
    *,
    min_overlap: float = 0.5,
    samples_file=None,
    n_draws: int = 20,
    device: str = "auto",
    force: bool = False,
) -> dict:
    """Place new samples on a saved map: ``PREFIX.embedding.tsv`` and ``PREFIX.log``."""
    prefix = Path(out_prefix)
    outputs = _Outputs(prefix, (".embedding.tsv", ".log"), force)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise InputError(f"model file {model_path} does not exist")
    payload = torch.load(model_path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise InputError(f"{model_path} is not a model written by 'ddvi-genomics infer'")
    samples = read_samples_file(samples_file) if samples_file else None
    gm = read_genotypes(input_path, samples=samples)
    dosage, report = align_to_model(gm, payload)
    if report["overlap"] < min_overlap:
        raise InputError(
            f"only {report['overlap']:.1%} of the model's {report['n_model_variants']} variants are in "
            f"{input_path} (matched by contig, position and alleles); at least {min_overlap:.0%} is required"
        )
    pca = GenotypePCA(payload["n_pcs"])
    pca.allele_frequency_ = payload["allele_frequency"]
    pca.scale_ = np.sqrt(pca.allele_frequency_ * (1 - pca.allele_frequency_))
    pca.components_ = payload["pca_components"]
    pcs = pca.transform(dosage)
    table = pd.DataFrame({"#IID": gm.sample_id})
    if payload["method"] == "pca":
        table["DIM1"], table["DIM2"] = pcs[:, 0], pcs[:, 1]
    elif payload["ddvi"] is not None:
        d = payload["ddvi"]
        from ..core.models.vae import VAE

        family = VAE if d.get("family") == "VAE" else DDVI
        model = family(d["n_features"], family.config_class.from_dict(d["config"]))
        model.load_state_dict(d["state_dict"])
        model.to(resolve_device(device)).eval()
        mean, sd = posterior_summary(
            model,
            (pcs / payload["input_scale"]).astype(np.float32),
            n_draws=n_draws,
            seed=payload["seed"],
        )
        table["DIM1"], table["DIM2"], table["DIM1_SD"], table["DIM2_SD"] = (
            mean[:, 0],
            mean[:, 1],
            sd[:, 0],
            sd[:, 1],
        )
    else:
        raise InputError(
            f"a {payload['method']} embedding cannot place new samples; use --method ddvi, vae or pca"
        )
    try:
        table.to_csv(outputs.path(".embedding.tsv"), sep="\t", index=False, float_format="%.6g")
        Path(outputs.path(".log")).write_text(
            f"ddvi-genomics project\ninput: {input_path}\nmodel: {model_path}\n"
            f"variants: {json.dumps(report)}\nsamples: {gm.n_samples}\n"
        )
        outputs.publish()
    except BaseException:
        outputs.discard()
        raise
    return report


def read_embedding_table(path) -> pd.DataFrame:
    """Read ``#IID DIM1 DIM2 ...`` (as written by infer / project)."""
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


def evaluate_table(
    embedding,
    panel,
    *,
    id_col="sample",
    label_col="pop",
    super_col="super_pop",
    eigenvec=None,
    seed=0,
) -> dict:
    """Metrics of an embedding TSV against a panel (and optionally a PLINK .eigenvec)."""
    df = read_embedding_table(embedding)
    labels = read_panel(panel, id_col=id_col, label_col=label_col, super_col=super_col)
    common = df.index.intersection(labels.index)
    if len(common) == 0:
        raise InputError(f"no sample of {embedding} is in panel {panel}")
    ref = None
    if eigenvec:
        ev = pd.read_csv(eigenvec, sep="\t", dtype={"#IID": str}).set_index("#IID")
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


def plot_table(
    embedding, out_path, *, panel=None, id_col="sample", label_col="pop", super_col="super_pop"
) -> None:
    """PNG of an embedding TSV, coloured by the panel's populations when given."""
    df = read_embedding_table(embedding)
    pop = sup = None
    if panel:
        labels = read_panel(
            panel, id_col=id_col, label_col=label_col, super_col=super_col
        ).reindex(df.index)
        pop = labels["population"].fillna("NA").to_numpy()
        if "super_population" in labels:
            sup = labels["super_population"].fillna("NA").to_numpy()
    tmp = Path(f"{out_path}.tmp-{os.getpid()}")
    plot_embedding(df[["DIM1", "DIM2"]].to_numpy(), pop, sup, title=Path(embedding).name, path=tmp)
    os.replace(tmp, out_path)
