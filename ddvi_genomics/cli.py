"""The ``ddvi-genomics`` command line (a thin click layer over the library)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
