"""``python -m vision train|evaluate|download`` (see vision/README.md)."""

from __future__ import annotations

import json
import sys

import click

from ddvi_genomics.clitools import GuardedGroup, UsageError
from ddvi_genomics.core.models.ddvi_semi import SEMI_OBJECTIVES
from ddvi_genomics.core.training import COMPILE_MODES

from . import presets
from .benchmark import RunSpec, evaluate_run, train_run


@click.group(cls=GuardedGroup)
def main() -> None:
    """Run the paper's MNIST / CIFAR-10 benchmarks on ddvi_genomics.core."""


@main.command()
@click.option(
    "--dataset", required=True, help="mnist, cifar10 (aliases: cifar, mnist_semi, cifar_semi)"
)
@click.option(
    "--method",
    required=True,
    help="ddvi, vae, iaf_vae, h_iaf_vae, aae (aliases: diff_vae_warmup, *_semi)",
)
@click.option(
    "--prior",
    required=True,
    help="pinwheel, swiss_roll, less_noisy_square (aliases: pin_wheel, ...)",
)
@click.option("--semi", is_flag=True, help="Semi-supervised setting.")
@click.option(
    "--labels",
    type=click.IntRange(min=1),
    help="Labelled examples (default: 1,000 MNIST, 10,000 CIFAR-10).",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option(
    "--out", "out_dir", required=True, help="Run directory (resumes when it holds a checkpoint)."
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Shrink every stage to N epochs (reduced protocol).",
)
@click.option(
    "--data-epochs",
    type=click.IntRange(min=1),
    help="Equal budget: N passes over the data in all (DDVI: N//2 stage 1 + the rest stage 2).",
)
@click.option(
    "--weights",
    type=click.Choice(presets.WEIGHTINGS),
    default="reference",
    show_default=True,
    help="reference: the authors' loss weights; elbo: every family trains its exact bound.",
)
@click.option(
    "--diffusion-steps",
    type=click.IntRange(min=1),
    help="DDVI's number of diffusion steps T (ablation).",
)
@click.option(
    "--semi-objective",
    type=click.Choice(SEMI_OBJECTIVES),
    help="Semi-supervised DDVI, VAE and IAF-VAE: m2 (Kingma et al. 2014, the default) or "
    "reference (the authors' objective, whose class heads do not learn).",
)
@click.option("--subset", type=click.IntRange(min=1), help="Use the first N training images.")
@click.option("--test-subset", type=click.IntRange(min=1), help="Use the first N test images.")
@click.option("--data-dir", help="Folder with the MNIST IDX files or cifar-10-batches-py/.")
@click.option(
    "--synthetic", is_flag=True, help="Random class-dependent images instead of the data set."
)
@click.option(
    "--smoke", is_flag=True, help="Seconds-long run: 1 epoch, few pre-training and sleep steps."
)
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--compile",
    "compile_mode",
    type=click.Choice(COMPILE_MODES),
    default="auto",
    show_default=True,
    help="cuda-graph: record each training step as a CUDA graph and replay it; "
    "cuda-graph-fused: torch.compile the losses first; auto: cuda-graph on CUDA, eager "
    "elsewhere; the others torch.compile every loss function.",
)
@click.option("-v", "--verbose", is_flag=True)
def train(
    dataset,
    method,
    prior,
    semi,
    labels,
    seed,
    out_dir,
    epochs,
    data_epochs,
    weights,
    diffusion_steps,
    semi_objective,
    subset,
    test_subset,
    data_dir,
    synthetic,
    smoke,
    device,
    compile_mode,
    verbose,
):
    """Train one (dataset, method, prior, setting) and write its run directory."""
    try:
        d, m, p, s = presets.resolve(dataset, method, prior, semi)
        spec = RunSpec(
            d,
            m,
            p,
            s,
            labels,
            seed,
            epochs,
            subset,
            test_subset,
            data_dir,
            synthetic,
            smoke=smoke,
            data_epochs=data_epochs,
            weights=weights,
            diffusion_steps=diffusion_steps,
            semi_objective=semi_objective,
        )
        metrics = train_run(
            spec, out_dir, device=device, verbose=True if verbose else None, compile=compile_mode
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    click.echo(
        json.dumps({k: v for k, v in metrics.items() if k != "seconds_per_epoch"}, indent=2)
    )


@main.command()
@click.argument("run_dir")
@click.option("--device", default="auto", show_default=True)
def evaluate(run_dir, device):
    """Recompute a run's metrics from its saved model."""
    try:
        metrics = evaluate_run(run_dir, device=device)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    click.echo(json.dumps(metrics, indent=2))


@main.command()
@click.argument("dataset", type=click.Choice(["mnist", "cifar10"]))
@click.option("--data-dir", required=True)
def download(dataset, data_dir):
    """Fetch the canonical files (needs internet) and verify their checksums."""
    from .data import download as fetch

    fetch(dataset, data_dir)
    click.echo(f"{dataset} ready in {data_dir}")


if __name__ == "__main__":
    sys.exit(main())
