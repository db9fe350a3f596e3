"""Summarise one benchmark workflow: tables (mean ± 95 % Student-t half-width over seeds) and figures.

Every run the profile expects is accounted for: a row whose seeds are not all finished says how
many are missing and which failed (with the error), so nothing is silently dropped. Writes, under
the profile's ``results`` folder:

* ``{workflow}.csv``: one row per group with ``{metric}_mean``, ``{metric}_ci95``, ``n_ok``,
  ``n_expected``, ``missing`` and ``failed``;
* ``{workflow}.md``: the protocol, the table, the figures and a provenance footer;
* ``{workflow}.json``: every run's metrics and the provenance;
* ``figures/{workflow}_*.png``.

Usage: ``python -m workflows.summarise WORKFLOW --config-json JSON`` (the Snakefile's call) or
``python -m workflows.summarise WORKFLOW --configfile workflows/config/cpu.yaml`` by hand.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ddvi_genomics.provenance import provenance
from workflows import figures, grid
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

#: Per workflow: the columns that identify a group, and the metrics (key, header) reported.
VISION_METRICS = [
    ("knn_accuracy_k20", "kNN acc (k=20)"),
    ("latent_nll", "latent NLL"),
    ("mmd_reference", "MMD (ref.)"),
    ("elbo_per_example", "ELBO / example"),
    ("train_seconds", "train s"),
]
SEMI_METRICS = [("class_head_accuracy", "class head acc")] + VISION_METRICS
GENOTYPE_METRICS = [
    ("knn20_cv_accuracy_population", "kNN20 pop"),
    ("knn5_cv_accuracy_population", "kNN5 pop"),
    ("knn20_cv_accuracy_super_population", "kNN20 super-pop"),
    ("gmm_nmi_population", "GMM NMI"),
    ("trustworthiness_k10", "trust. k10"),
    ("continuity_k10", "cont. k10"),
    ("distance_spearman", "dist. Spearman"),
    ("total_seconds", "wall s"),
]
LAYOUT = {
    "vision_unsupervised": (["dataset", "prior", "method", "weights"], VISION_METRICS),
    "vision_semi": (["dataset", "labels", "prior", "method", "objective"], SEMI_METRICS),
    "ablation": (["dataset", "prior", "T", "objective"], VISION_METRICS),
    "genotype": (["dataset", "method"], GENOTYPE_METRICS),
}


def read_cell(cfg: dict, cell) -> dict:
    """One expected run: its identifying columns, ``state`` (ok, failed, missing) and metrics."""
    row = cell_columns(cell)
    status = grid.read_status(cfg, cell)
    run = grid.run_folder(cfg, cell)
    if status is None:
        return {**row, "state": "missing"}
    if status.get("status") != "ok":
        return {**row, "state": "failed", "error": status.get("error", "unknown error")}
    metrics_file = run / "metrics.json"
    if not metrics_file.is_file():
        return {**row, "state": "failed", "error": f"{metrics_file} is missing"}
    metrics = json.loads(metrics_file.read_text())
    if isinstance(cell, grid.GenotypeCell):
        metrics = {**metrics["metrics"], "total_seconds": metrics["total_seconds"]}
    return {**row, "state": "ok", "wall_seconds": status.get("wall_seconds"), **metrics}


def cell_columns(cell) -> dict:
    """The identifying columns of a cell."""
    if isinstance(cell, grid.GenotypeCell):
        return {"dataset": cell.dataset, "method": cell.method, "seed": cell.seed}
    row = {
        "dataset": cell.dataset,
        "method": cell.method,
        "prior": cell.prior,
        "seed": cell.seed,
        "weights": "elbo" if cell.variant == "elbo" else "reference",
        "labels": int(cell.setting[4:]) if cell.setting.startswith("semi") else None,
        "T": int(cell.variant[1:])
        if cell.variant.startswith("T")
        else grid.DEFAULT_DIFFUSION_STEPS[cell.dataset]
        if cell.method == "ddvi"
        else None,
        "objective": _objective(cell),
    }
    return row


def _objective(cell) -> str:
    """``elbo``, ``reference`` or (semi-supervised) ``m2``; the AAE-semi's is ``adversarial``."""
    if cell.variant in ("elbo", "m2", "reference"):
        return cell.variant
    if cell.setting.startswith("semi") and cell.method == "aae":
        return "adversarial"
    return "reference"


def summarise_groups(runs: pd.DataFrame, keys: list[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per group of ``keys``: mean and 95 % t half-width of each metric over ok runs.

    A half-width is NaN with fewer than two values; ``n_ok`` / ``n_expected`` count runs and
    ``missing`` / ``failed`` list the seeds that did not finish (failed ones with their error).
    """
    rows = []
    for group, frame in runs.groupby(keys, sort=False, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        ok = frame[frame["state"] == "ok"]
        row = dict(zip(keys, group))
        row["n_ok"], row["n_expected"] = len(ok), len(frame)
        row["missing"] = " ".join(
            f"seed{s}" for s in frame.loc[frame["state"] == "missing", "seed"]
        )
        failed = frame[frame["state"] == "failed"]
        row["failed"] = "; ".join(f"seed{s}: {e}" for s, e in zip(failed["seed"], failed["error"]))
        for metric in metrics:
            values = ok[metric].dropna().to_numpy(float) if metric in ok else np.array([])
            if len(values):
                mean, half = mean_ci(values)
                row[f"{metric}_mean"], row[f"{metric}_ci95"] = (
                    mean,
                    np.nan if half is None else half,
                )
            else:
                row[f"{metric}_mean"] = row[f"{metric}_ci95"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _cell_text(row: pd.Series, metric: str, digits: int) -> str:
    mean, half = row[f"{metric}_mean"], row[f"{metric}_ci95"]
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    return format_mean_ci(mean, None if math.isnan(half) else half, digits)


def markdown_lines(table: pd.DataFrame, keys: list[str], metrics) -> list[str]:
    """The Markdown table, with a seeds column (``3/3``) and a note for incomplete groups."""
    header = [*keys, "seeds", *(label for _, label in metrics), "not finished"]
    body = []
    for _, row in table.iterrows():
        digits = [1 if key.endswith("seconds") else 3 for key, _ in metrics]
        note = "; ".join(
            text
            for text in (
                f"missing {row['missing']}" if row["missing"] else "",
                f"failed {row['failed']}" if row["failed"] else "",
            )
            if text
        )
        body.append(
            [
                *(("" if pd.isna(row[k]) else row[k]) for k in keys),
                f"{row['n_ok']}/{row['n_expected']}",
                *(_cell_text(row, key, d) for (key, _), d in zip(metrics, digits)),
                note or "",
            ]
        )
    return markdown_table(header, body)


def summarise(cfg: dict, workflow: str) -> pd.DataFrame:
    """Write the workflow's tables and figures; return the summary table."""
    keys, metrics = LAYOUT[workflow]
    cells = grid.cells(cfg, workflow)
    runs = pd.DataFrame([read_cell(cfg, c) for c in cells])
    for column in ("error", *(m for m, _ in metrics)):
        if column not in runs:
            runs[column] = np.nan
    table = summarise_groups(runs, keys, [m for m, _ in metrics])
    out = Path(cfg["results"])
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{workflow}.csv", index=False)
    figure_paths = figures.draw(workflow, cfg, cells, runs, out / "figures")
    lines = [
        f"# {workflow.replace('_', ' ')}: profile `{cfg['name']}`",
        "",
        f"Protocol: {cfg['protocol'] or 'see the profile config'}. Mean ± 95 % Student-t "
        "half-width over the seeds that finished; `seeds` counts finished/expected runs.",
        "",
        *markdown_lines(table, keys, metrics),
        "",
        *(f"![{p.stem}](figures/{p.name})" for p in figure_paths),
    ]
    record = {
        "workflow": workflow,
        "profile": cfg["name"],
        "config": cfg,
        "runs": runs.replace({np.nan: None}).to_dict(orient="records"),
        "provenance": provenance({"profile": cfg["name"]}),
    }
    write_result(out, workflow, record, lines)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow", choices=list(LAYOUT))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config-json", help="The merged config as JSON (the Snakefile's call).")
    source.add_argument("--configfile", help="A profile's YAML config.")
    args = parser.parse_args(argv)
    if args.config_json:
        cfg = grid.load(json.loads(args.config_json))
    else:
        import yaml

        cfg = grid.load(yaml.safe_load(Path(args.configfile).read_text()))
    summarise(cfg, args.workflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
