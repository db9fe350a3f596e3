"""The ``ddvi-genomics`` command line (a thin click layer over the library)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._version import __version__

force_option = click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (cuda, then mps, then cpu), cpu, cuda.",
)


class UsageError(click.ClickException):
    """A bad input: one line on stderr and exit code 2."""

    exit_code = 2


@click.group()
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
    return False if quiet else (True if verbose else None)


def _run(fn, *args, **kwargs):
    """Call the library; bad input becomes one line on stderr and exit code 2."""
    from .genotype.errors import InputError

    try:
        return fn(*args, **kwargs)
    except (InputError, ValueError) as err:
        raise UsageError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


verbose_option = click.option("-v", "--verbose", count=True, help="More logging and progress.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only errors.")


@main.command()
@click.argument("input_path", required=False, metavar="INPUT")
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
@click.option("--id-col", default="sample", show_default=True)
@click.option("--label-col", default="pop", show_default=True)
@click.option("--super-col", default="super_pop", show_default=True)
@click.option("--region", help="CONTIG[:START[-END]] (VCF/BCF only).")
@click.option(
    "--samples",
    "samples_file",
    type=click.Path(dir_okay=False),
    help="File of sample IDs to keep.",
)
@click.option("--n-pcs", default=20, show_default=True, type=int, help="PCs fed to the embedding.")
@click.option(
    "--method",
    type=click.Choice(["ddvi", "vae", "pca", "tsne", "umap"]),
    default="ddvi",
    show_default=True,
)
@click.option("--epochs", type=int, help="DDVI training epochs (default 150).")
@click.option("--min-maf", default=0.01, show_default=True, type=float)
@click.option(
    "--max-missing",
    default=0.1,
    show_default=True,
    type=float,
    help="Max fraction of missing calls per variant.",
)
@click.option("--thin", "thin_bp", type=int, help="Keep variants at least this many bp apart.")
@click.option("--ld-prune", nargs=3, type=(int, int, float), help="WINDOW STEP R2 for LD pruning.")
@click.option("--threads", type=int, help="CPU threads for torch.")
@force_option
@seed_option
@device_option
@verbose_option
@quiet_option
def infer(
    input_path,
    example,
    out_prefix,
    panel,
    id_col,
    label_col,
    super_col,
    region,
    samples_file,
    n_pcs,
    method,
    epochs,
    min_maf,
    max_missing,
    thin_bp,
    ld_prune,
    threads,
    force,
    seed,
    device,
    verbose,
    quiet,
):
    """Genotypes (VCF/BCF/PLINK) -> QC -> PCA -> 2-D ancestry map with uncertainty."""
    from .genotype.pipeline import InferOptions, example_paths, run_infer

    progress = _setup_logging(verbose, quiet)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if example:
        if input_path:
            raise UsageError("give INPUT or --example, not both")
        input_path, example_panel = example_paths()
        panel = panel or str(example_panel)
    elif not input_path:
        raise UsageError("missing INPUT (a VCF, BCF or PLINK .bed), or use --example")
    opts = InferOptions(
        panel=panel,
        id_col=id_col,
        label_col=label_col,
        super_col=super_col,
        region=region,
        samples_file=samples_file,
        n_pcs=n_pcs,
        method=method,
        seed=seed,
        device=device,
        epochs=epochs,
        min_maf=min_maf,
        max_missing=max_missing,
        thin_bp=thin_bp,
        ld_prune=ld_prune,
        force=force,
        verbose=progress,
    )
    result = _run(
        run_infer, input_path, out_prefix, opts, command=" ".join(["ddvi-genomics", *sys.argv[1:]])
    )
    if not quiet:
        m = result["metrics"]
        if m:
            click.echo(
                f"kNN accuracy (5-fold, k=20): population {m['knn20_cv_accuracy_population']:.3f}, "
                f"super-population {m.get('knn20_cv_accuracy_super_population', float('nan')):.3f}"
            )
        click.echo("wrote " + ", ".join(result["outputs"]))


@main.command()
@click.argument("input_path", metavar="NEW")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="PREFIX.model.pt from infer.",
)
@click.option("--out", "out_prefix", required=True)
@click.option("--samples", "samples_file", type=click.Path(dir_okay=False))
@click.option(
    "--min-overlap",
    default=0.5,
    show_default=True,
    type=float,
    help="Minimum fraction of model variants found.",
)
@force_option
@device_option
@verbose_option
@quiet_option
def project(
    input_path, model_path, out_prefix, samples_file, min_overlap, force, device, verbose, quiet
):
    """Place new samples on a map saved by infer."""
    from .genotype.pipeline import run_project

    _setup_logging(verbose, quiet)
    report = _run(
        run_project,
        input_path,
        model_path,
        out_prefix,
        min_overlap=min_overlap,
        samples_file=samples_file,
        device=device,
        force=force,
    )
    if not quiet:
        click.echo(
            f"variants: {report['matched']} matched, {report['swapped_ref_alt']} with REF/ALT swapped, "
            f"{report['absent']} absent (imputed from training frequencies); overlap {report['overlap']:.1%}"
        )


@main.command()
@click.argument("embedding", type=click.Path(dir_okay=False))
@click.option("--panel", required=True, type=click.Path(dir_okay=False))
@click.option("--id-col", default="sample", show_default=True)
@click.option("--label-col", default="pop", show_default=True)
@click.option("--super-col", default="super_pop", show_default=True)
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
def evaluate(embedding, panel, id_col, label_col, super_col, eigenvec, out_path, force, seed):
    """Score an embedding TSV (#IID DIM1 DIM2) against a panel."""
    import json

    from .genotype.pipeline import evaluate_table

    if out_path and Path(out_path).exists() and not force:
        raise UsageError(f"output {out_path} exists; use --force to overwrite")
    metrics = _run(
        evaluate_table,
        embedding,
        panel,
        id_col=id_col,
        label_col=label_col,
        super_col=super_col,
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
@click.option("--id-col", default="sample", show_default=True)
@click.option("--label-col", default="pop", show_default=True)
@click.option("--super-col", default="super_pop", show_default=True)
@force_option
def plot(embedding, out_path, panel, id_col, label_col, super_col, force):
    """Plot an embedding TSV coloured by population."""
    from .genotype.pipeline import plot_table

    if Path(out_path).exists() and not force:
        raise UsageError(f"output {out_path} exists; use --force to overwrite")
    _run(
        plot_table,
        embedding,
        out_path,
        panel=panel,
        id_col=id_col,
        label_col=label_col,
        super_col=super_col,
    )
    click.echo(f"wrote {out_path}")


@main.command()
@click.option("--out", "out_prefix", required=True, help="Writes PREFIX.vcf.gz and PREFIX.panel.")
@click.option(
    "--model",
    "model_id",
    default="OutOfAfrica_3G09",
    show_default=True,
    help="stdpopsim HomSap model.",
)
@click.option("--n-per-pop", default=50, show_default=True, type=int)
@click.option("--length", default=5e6, show_default=True, type=float, help="Contig length in bp.")
@force_option
@seed_option
def simulate(out_prefix, model_id, n_per_pop, length, force, seed):
    """Simulate genotypes from a 1000 Genomes-fitted stdpopsim model (needs the [sim] extra)."""
    from .genotype.simulate import simulate_tree_sequence, write_simulation

    for suffix in (".vcf.gz", ".panel"):
        if Path(out_prefix + suffix).exists() and not force:
            raise UsageError(f"output {out_prefix + suffix} exists; use --force to overwrite")
    ts, names, pops = _run(
        simulate_tree_sequence, model_id, n_per_population=n_per_pop, length=length, seed=seed
    )
    vcf, panel = write_simulation(ts, names, pops, out_prefix)
    click.echo(f"wrote {vcf} ({ts.num_sites:,} biallelic SNPs x {len(names)} samples) and {panel}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
