"""The ``ddvi-genomics`` command line (a thin click layer over the library)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._version import __version__
from .clitools import GuardedGroup, UsageError, call_or_usage_error
from .core.config import COMPILE_MODES
from .plink_syntax import rewrite_plink_forms

force_option = click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
seed_option = click.option(
    "--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Random seed."
)
device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda, then mps, then cpu), cpu, cuda.",
)


def projection_option(what: str):
    """``--projection``: how PC scores come from a sample's observed calls (pca/projection.py)."""
    return click.option(
        "--projection",
        type=click.Choice(["bayes", "lsq", "mean-impute"]),
        default="bayes",
        show_default=True,
        help=f"{what}: bayes (least squares with a Gaussian prior; a covariance per sample, "
        "carried into the map posterior), lsq (smartpca lsqproject) or mean-impute (plink2 "
        "--score's behaviour; pulls sparse samples towards the origin).",
    )


class PlinkGroup(GuardedGroup):
    """The command line, which also takes PLINK's own forms (:mod:`.plink_syntax`)."""

    rewrite_args = staticmethod(rewrite_plink_forms)


@click.group(cls=PlinkGroup)
@click.version_option(__version__, prog_name="ddvi-genomics")
def main() -> None:
    """Latent ancestry and representation learning with DDVI."""


@main.command()
@click.option(
    "--out",
    "out_dir",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder.",
)
@force_option
@seed_option
@device_option
def demo(out_dir: str, force: bool, seed: int, device: str) -> None:
    """Fit DDVI (pinwheel prior) on scikit-learn's 8x8 digits; print kNN accuracy and latent NLL."""
    from .demo import run_digits_demo

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise UsageError(f"output folder {out} exists and is not empty; use --force to overwrite")
    try:
        metrics = run_digits_demo(out, seed=seed, device=device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    click.echo(
        f"kNN accuracy (k=20): {metrics['knn_accuracy']:.3f} (at init {metrics['knn_accuracy_at_init']:.3f})\n"
        f"latent NLL: {metrics['latent_nll']:.3f} (at init {metrics['latent_nll_at_init']:.3f})\n"
        f"fit: {metrics['fit_seconds']:.1f} s on {metrics['device']}\n"
        f"wrote {out / 'latents.png'}, {out / 'metrics.json'}, {out / 'model.pt'}"
    )


def _setup_logging(verbose: int, quiet: bool) -> bool | None:
    """Log level from -v/-q; returns the progress flag (None = only on a terminal)."""
    import logging

    level = logging.ERROR if quiet else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True
    )
    for handler in logging.getLogger().handlers:  # PREFIX.log may lower the loggers' level
        handler.setLevel(level)
    return False if quiet else (True if verbose else None)


verbose_option = click.option("-v", "--verbose", count=True, help="More logging and progress.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only errors.")


def sample_filter_options(keep_help: str, remove_help: str):
    """``--keep`` (alias ``--samples``) and ``--remove``: PLINK keep files of sample IDs."""

    def decorate(fn):
        fn = click.option(
            "--remove", "remove_file", type=click.Path(dir_okay=False), help=remove_help
        )(fn)
        return click.option(
            "--samples", "--keep", "samples_file", type=click.Path(dir_okay=False), help=keep_help
        )(fn)

    return decorate


def panel_options(fn):
    """``--id-col``, ``--label-col``, ``--super-col``: where a panel keeps IDs and labels."""
    for decorator in reversed(
        [
            click.option(
                "--id-col", default="sample", show_default=True, help="Sample ID column."
            ),
            click.option(
                "--label-col", default="pop", show_default=True, help="Population column."
            ),
            click.option(
                "--super-col",
                default="super_pop",
                show_default=True,
                help="Super-population column.",
            ),
        ]
    ):
        fn = decorator(fn)
    return fn


def _panel_columns(flags: dict):
    from .genotype.pipeline import PanelColumns

    return PanelColumns(flags.pop("id_col"), flags.pop("label_col"), flags.pop("super_col"))


threads_option = click.option(
    "--threads",
    default="auto",
    show_default=True,
    help="Threads for every engine (torch, BLAS, numba); auto = idle cores, at most 4.",
)


def _limit_threads(value) -> dict:
    from .threads import limit_threads, parse_threads

    try:
        return limit_threads(parse_threads(value))
    except ValueError as err:
        raise UsageError(str(err)) from None


@main.command()
@click.argument("input_paths", nargs=-1, metavar="INPUT...")
@click.option(
    "--example",
    is_flag=True,
    help="Use the bundled 1000 Genomes example (2,504 samples, 169 SNPs).",
)
@click.option(
    "--out",
    "out_prefix",
    required=True,
    help="Output prefix: writes PREFIX.embedding.tsv, .png, ...",
)
@click.option(
    "--panel",
    type=click.Path(dir_okay=False),
    help="Sample labels (1000 Genomes panel or TSV/CSV).",
)
@panel_options
@click.option("--region", help="CONTIG[:START[-END]] (VCF/BCF only).")
@sample_filter_options(
    "Keep these samples (PLINK keep file: IID, or FID IID, per line).",
    "Drop these samples (same format as --keep).",
)
@click.option("--double-id", is_flag=True, help="VCF names: FID = IID = the name (PLINK).")
@click.option(
    "--const-fid",
    is_flag=False,
    flag_value="0",
    default=None,
    help="VCF names: FID = this value (default 0), IID = the name (PLINK).",
)
@click.option(
    "--id-delim",
    is_flag=False,
    flag_value="_",
    default=None,
    help="VCF names: split FID<CHAR>IID at this character (default _), as plink --export vcf "
    "writes them (PLINK).",
)
@click.option(
    "--extract",
    type=click.Path(dir_okay=False),
    help="Keep only these variant IDs (one per line).",
)
@click.option("--exclude", type=click.Path(dir_okay=False), help="Drop these variant IDs.")
@click.option(
    "--extract-range",
    "extract_ranges",
    type=click.Path(dir_okay=False),
    help="Keep only variants in these ranges (CHR START END [LABEL] per line, 1-based, ends "
    "included: PLINK --extract range, plink2 bed1).",
)
@click.option(
    "--exclude-range",
    "exclude_ranges",
    type=click.Path(dir_okay=False),
    help="Drop variants in these ranges (same format); 'long-range-ld-grch37' names the bundled "
    "long-range LD regions (Price et al. 2008, GRCh37), to leave out of the PCA.",
)
@click.option(
    "--n-pcs",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="PCs fed to the embedding.",
)
@click.option(
    "--method",
    type=click.Choice(["ddvi", "vae", "aae", "pca", "tsne", "umap", "ddvi-semi"]),
    default="ddvi",
    show_default=True,
    help="vae / aae: baselines with DDVI's cluster-head prior (the AAE has no posterior spread). "
    "ddvi-semi: label-guided ancestry, trained with the --panel labels; adds population "
    "probabilities (PREFIX.proba.tsv) and calls (PRED_POP, PRED_PROB).",
)
@click.option(
    "--min-confidence",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="ddvi-semi: calls below this probability are 'unassigned'.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), help="DDVI / VAE / AAE training epochs (default 150)."
)
@click.option(
    "--recipe",
    type=click.Choice(["ours", "paper"]),
    default="ours",
    show_default=True,
    help="DDVI training recipe: ours, or the paper's clustering recipe (wake step on MSE + "
    "KL(y) only, denoiser trained sleep-style on the learned prior).",
)
@click.option(
    "--min-maf",
    "--maf",
    "min_maf",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 0.5),
    help="Minimum minor allele frequency (PLINK --maf).",
)
@click.option(
    "--max-missing",
    "--geno",
    "max_missing",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Max fraction of missing calls per variant (PLINK --geno).",
)
@click.option(
    "--mind",
    "max_sample_missing",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Max fraction of missing calls per sample (PLINK --mind; 1 = off).",
)
@click.option(
    "--hwe",
    type=click.FloatRange(0, 1),
    help="Drop variants whose Hardy-Weinberg exact-test p-value is below this (PLINK --hwe).",
)
@click.option("--hwe-midp", is_flag=True, help="Use the mid-p exact test for --hwe (PLINK midp).")
@click.option(
    "--nonfounders",
    is_flag=True,
    help="Allele frequencies, MAF, HWE, LD and PCA scaling over every sample; by default, as "
    "plink2, over the founders of a .fam/.psam with parents.",
)
@click.option(
    "--bp-space",
    "thin_bp",
    type=click.IntRange(min=1),
    help="Keep variants at least this many bp apart, the first of each contig first (plink2 "
    "--bp-space).",
)
@click.option(
    "--thin",
    "thin_fraction",
    type=float,
    help="Keep each variant with this probability, drawn from --seed (PLINK --thin).",
)
@click.option(
    "--chr",
    "contigs",
    help="Keep only these contigs, PLINK-style: 1-22,X or 2L,2R (default: human autosomes).",
)
@click.option(
    "--all-contigs",
    is_flag=True,
    help="Keep every contig (non-human genomes, sex chromosomes).",
)
@click.option(
    "--ld-prune",
    "--indep-pairwise",
    "ld_prune",
    nargs=3,
    type=(click.IntRange(min=1), click.IntRange(min=1), click.FloatRange(0, 1)),
    help="WINDOW STEP R2: LD pruning per contig as plink --indep-pairwise (writes "
    "PREFIX.prune.in/.prune.out); PLINK's 'WINDOWkb 1 R2' form too.",
)
@click.option(
    "--ld-prune-kb",
    is_flag=True,
    hidden=True,  # set by PLINK's "--indep-pairwise 500kb 1 0.2" form
    help="The --ld-prune window is in kilobases.",
)
@click.option(
    "--memory",
    "memory_mib",
    type=click.FloatRange(min=1),
    help="PCA workspace in MiB (PLINK --memory); the genotypes themselves stay 1 byte per call.",
)
@click.option(
    "--out-of-core",
    is_flag=True,
    help="INPUT is a VCF Zarr store: QC and PCA run chunk by chunk on Dask, genotypes never in "
    "memory (needs the scale extra).",
)
@click.option("--scheduler", help="--out-of-core on this dask.distributed scheduler (tcp://...).")
@click.option(
    "--pca-fit",
    "pca_fit_file",
    type=click.Path(dir_okay=False),
    help="Fit the PCA on these samples (keep-file format), e.g. unrelated references, and "
    "project the rest onto it.",
)
@projection_option("With --pca-fit: the other samples' PC scores from their observed calls")
@click.option(
    "--pca-solver",
    type=click.Choice(["auto", "exact", "randomized"]),
    default="auto",
    show_default=True,
    help="exact (an n x n matrix) or randomized subspace iteration (memory linear in the "
    "samples); auto: exact up to 5,000 samples.",
)
@click.option(
    "--fit-subset",
    type=click.IntRange(min=3),
    help="Network methods: train the map on N samples (stratified by population with a "
    "--panel) and place the rest through the encoder; bounds the training time of large "
    "cohorts.",
)
@click.option(
    "--compile",
    "compile",
    type=click.Choice(COMPILE_MODES),
    default="auto",
    show_default=True,
    help="cuda-graph: record each training step once as a CUDA graph and replay it; "
    "cuda-graph-fused: torch.compile the losses first (a minute of compiling); auto: "
    "cuda-graph on CUDA, eager elsewhere; default / reduce-overhead / max-autotune: "
    "torch.compile the loss functions (minutes of compiling, slower than eager on CPUs).",
)
@threads_option
@force_option
@seed_option
@device_option
@verbose_option
@quiet_option
def infer(input_paths, example, out_prefix, threads, verbose, quiet, **flags):
    """Genotypes -> QC -> PCA -> 2-D ancestry map with uncertainty.

    INPUT is a VCF/BCF, a PLINK 1 .bed or a PLINK 2 .pgen (or its prefix); several files holding
    the same samples (one per chromosome) are read as one.
    """
    from .genotype.pipeline import run_infer

    progress = _setup_logging(verbose, quiet)
    inputs, flags["panel"] = _resolve_input(input_paths, example, flags["panel"])
    opts = call_or_usage_error(_infer_options, flags, progress)
    used = _limit_threads(threads)
    command = " ".join(["ddvi-genomics", *sys.argv[1:]])
    result = call_or_usage_error(
        run_infer, inputs, out_prefix, opts, command=command, threads=used
    )
    if not quiet:
        m = result["metrics"] or {}
        if "knn20_cv_accuracy_population" in m:
            click.echo(
                f"kNN accuracy (5-fold, k=20): population {m['knn20_cv_accuracy_population']:.3f}, "
                f"super-population {m.get('knn20_cv_accuracy_super_population', float('nan')):.3f}"
            )
        click.echo("wrote " + ", ".join(result["outputs"]))


def _resolve_input(input_paths, example: bool, panel):
    """Return ``(inputs, panel)``: the bundled example's files under ``--example``."""
    if example:
        if input_paths:
            raise UsageError("give INPUT or --example, not both")
        from .genotype.mapping.ancestry_map import example_paths

        vcf, example_panel = example_paths()
        return [vcf], panel or str(example_panel)
    if not input_paths:
        raise UsageError("missing INPUT (a VCF, BCF, PLINK .bed or .pgen), or use --example")
    return list(input_paths), panel


def _infer_options(flags: dict, progress):
    """Turn the ``infer`` flags into :class:`~.genotype.pipeline.InferOptions`."""
    from .genotype.pipeline import InferOptions
    from .genotype.qc.recipe import QCOptions

    flags = dict(flags)
    columns = _panel_columns(flags)
    from .genotype.qc.sites import parse_contig_list, read_variant_ids
    from .genotype.ranges import read_ranges

    contigs, all_contigs = flags.pop("contigs"), flags.pop("all_contigs")
    extract, exclude = flags.pop("extract"), flags.pop("exclude")
    ranges = {
        name: None if path is None else read_ranges(path, "--" + name.replace("_", "-")[:-1])
        for name, path in (("extract_ranges", flags.pop("extract_ranges")),
                           ("exclude_ranges", flags.pop("exclude_ranges")))
    }  # fmt: skip
    qc = QCOptions(
        **ranges,
        extract=None if extract is None else read_variant_ids(extract, "--extract"),
        exclude=None if exclude is None else read_variant_ids(exclude, "--exclude"),
        max_sample_missing=flags.pop("max_sample_missing"),
        autosomes_only=not all_contigs,
        contigs=None if contigs is None else parse_contig_list(contigs),
        min_maf=flags.pop("min_maf"),
        max_variant_missing=flags.pop("max_missing"),
        thin_bp=flags.pop("thin_bp"),
        thin_fraction=flags["thin_fraction"],
        thin_seed=flags["seed"] if flags.pop("thin_fraction") is not None else 0,
        ld_prune_kb=flags.pop("ld_prune_kb"),
        ld_prune=flags.pop("ld_prune"),
        hwe=flags.pop("hwe"),
        hwe_midp=flags.pop("hwe_midp"),
        nonfounders=flags.pop("nonfounders"),
    )
    from .genotype.ids import SampleIdRule

    id_rule = SampleIdRule(flags.pop("double_id"), flags.pop("const_fid"), flags.pop("id_delim"))
    return InferOptions(columns=columns, qc=qc, id_rule=id_rule, verbose=progress, **flags)


@main.command()
@click.argument("input_paths", nargs=-1, required=True, metavar="NEW...")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="PREFIX.model.pt from infer.",
)
@click.option("--out", "out_prefix", required=True)
@sample_filter_options(
    "Place only these samples (PLINK keep file: IID, or FID IID, per line).",
    "Leave these samples out (same format as --keep).",
)
@click.option(
    "--min-overlap",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Minimum fraction of model variants found.",
)
@click.option(
    "--min-confidence",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Label-guided maps: calls below this probability are 'unassigned'.",
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False),
    help="Reference map (an infer PREFIX.embedding.tsv) drawn under the new samples in "
    "PREFIX.png; default: the one beside the model.",
)
@projection_option("New samples' PC scores from their observed calls")
@threads_option
@force_option
@device_option
@verbose_option
@quiet_option
def project(input_paths, model_path, out_prefix, threads, verbose, quiet, **flags):
    """Place new samples (VCF/BCF/.bed/.pgen; one file or one per chromosome) on a saved map."""
    from .genotype.pipeline import run_project

    _setup_logging(verbose, quiet)
    used = _limit_threads(threads)
    command = " ".join(["ddvi-genomics", *sys.argv[1:]])
    report = call_or_usage_error(
        run_project,
        list(input_paths),
        model_path,
        out_prefix,
        command=command,
        threads=used,
        **flags,
    )
    if not quiet:
        click.echo(
            f"variants: {report['matched']} matched, {report['swapped_ref_alt']} with REF/ALT swapped, "
            f"{report['absent']} absent (missing in every sample); overlap {report['overlap']:.1%}"
        )
        if report.get("unplaceable"):
            click.echo(
                f"{report['unplaceable']} sample(s) unplaceable: fewer than "
                f"{report['min_observed']} observed variants (STATUS column; coordinates NA)"
            )
        if report.get("sparse"):
            click.echo(
                f"{report['sparse']} sample(s) sparse: fewer than {report['sparse_below']} "
                "observed variants, placed with wide regions (STATUS column)"
            )


@main.command()
@click.argument("input_paths", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--out", "store", required=True, help="The VCF Zarr store to write (e.g. cohort.vcz)."
)
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Worker processes (0: this one).",
)
@click.option(
    "--variants-chunk-size",
    type=click.IntRange(min=1),
    help="Variants per chunk (bio2zarr default).",
)
@click.option(
    "--samples-chunk-size",
    type=click.IntRange(min=1),
    help="Samples per chunk (default: the fewest equal chunks of at most 10,000).",
)
@force_option
def convert(input_paths, store, workers, variants_chunk_size, samples_chunk_size, force):
    """Convert VCF/BCF files (one per chromosome is fine) or a PLINK .bed to a VCF Zarr store.

    Every command then reads the store (INPUT may be a store) one chunk at a time. Needs the
    scale extra: pip install 'ddvi-genomics[scale]'.
    """
    from .genotype.readers.convert import write_store

    out = call_or_usage_error(
        write_store,
        list(input_paths),
        store,
        force=force,
        workers=workers,
        variants_chunk_size=variants_chunk_size,
        samples_chunk_size=samples_chunk_size,
    )
    click.echo(f"wrote {out}")


@main.command()
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@force_option
def pack(store, force):
    """Add the two-bit genotypes to a STORE made by an older version, bio2zarr or sgkit.

    convert writes them into every new store: ALT counts at two bits a call, from which QC,
    PCA and project read several times faster than from call_genotype. Written in place,
    renamed into the store when complete; the checksum manifest is written again.
    """
    from .genotype.readers.packing import add_packed_copy

    out = call_or_usage_error(add_packed_copy, store, force=force)
    click.echo(f"added call_dosage_packed to {out}")


@main.command()
@click.argument("embedding", type=click.Path(dir_okay=False))
@click.option("--panel", required=True, type=click.Path(dir_okay=False))
@panel_options
@click.option(
    "--eigenvec",
    type=click.Path(dir_okay=False),
    help="PCs for trustworthiness and distance correlation.",
)
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), help="Write metrics JSON here."
)
@force_option
@seed_option
def evaluate(embedding, panel, eigenvec, out_path, force, seed, **flags):
    """Score an embedding TSV (#IID DIM1 DIM2) against a panel."""
    import json

    from .genotype.pipeline import evaluate_table

    if out_path and Path(out_path).exists() and not force:
        raise UsageError(f"output {out_path} exists; use --force to overwrite")
    metrics = call_or_usage_error(
        evaluate_table,
        embedding,
        panel,
        columns=_panel_columns(flags),
        eigenvec=eigenvec,
        seed=seed,
    )
    text = json.dumps(metrics, indent=2)
    if out_path:
        Path(out_path).write_text(text + "\n")
    click.echo(text)


@main.command()
@click.argument("embedding", type=click.Path(dir_okay=False))
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="PNG file."
)
@click.option("--panel", type=click.Path(dir_okay=False))
@panel_options
@force_option
def plot(embedding, out_path, panel, force, **flags):
    """Plot an embedding TSV coloured by population."""
    from .genotype.pipeline import plot_table

    if Path(out_path).exists() and not force:
        raise UsageError(f"output {out_path} exists; use --force to overwrite")
    call_or_usage_error(
        plot_table,
        embedding,
        out_path,
        panel=panel,
        columns=_panel_columns(flags),
    )
    click.echo(f"wrote {out_path}")


@main.command()
@click.option("--out", "out_prefix", required=True, help="Writes PREFIX.vcf.gz and PREFIX.panel.")
@click.option(
    "--model",
    "model_id",
    default="OutOfAfrica_3G09",
    show_default=True,
    help="stdpopsim HomSap model, or StarSplit10_T200 (10 closely related populations).",
)
@click.option("--n-per-pop", default=50, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--length",
    default=5e6,
    show_default=True,
    type=click.FloatRange(min=1e4),
    help="Contig length in bp.",
)
@force_option
@seed_option
def simulate(out_prefix, model_id, n_per_pop, length, force, seed):
    """Simulate genotypes from a 1000 Genomes-fitted stdpopsim model (needs the [sim] extra)."""
    from .genotype.simulate import simulate_tree_sequence, write_simulation

    for suffix in (".vcf.gz", ".panel"):
        if Path(out_prefix + suffix).exists() and not force:
            raise UsageError(f"output {out_prefix + suffix} exists; use --force to overwrite")
    ts, names, pops = call_or_usage_error(
        simulate_tree_sequence, model_id, n_per_population=n_per_pop, length=length, seed=seed
    )
    vcf, panel = write_simulation(ts, names, pops, out_prefix)
    click.echo(f"wrote {vcf} ({ts.num_sites:,} biallelic SNPs x {len(names)} samples) and {panel}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
