"""Tables of the fair-tuning protocol (:mod:`workflows.tune_genotype`): the search and the report.

``tuning.json`` holds every cell's record; ``tuning.md`` the search table (every configuration's
score on the tuning half, the winner marked) and the report table (selected and default
configurations over 5 seeds, mean ± 95 % t-interval); ``tuning.csv`` the report rows.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result
from workflows.summarise import GENOTYPE_METRICS

REPORT_METRICS = [(k, h) for k, h in GENOTYPE_METRICS if k != "total_seconds"] + [
    ("seconds", "fit s")
]


def _value(record: dict, key: str) -> float:
    return record["seconds"] if key == "seconds" else record["metrics"].get(key, float("nan"))


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def search_rows(search: list[dict], selected: dict) -> list[list]:
    """One row per searched configuration, best first within each method."""
    rows = []
    for method in dict.fromkeys(r["method"] for r in search):
        records = [r for r in search if r["method"] == method]
        records.sort(key=lambda r: -_value(r, "knn20_cv_accuracy_population"))
        for r in records:
            chosen = "**selected**" if r["params"] == selected.get(method) else ""
            rows.append([
                method, r["label"], f"{_value(r, 'knn20_cv_accuracy_population'):.3f}",
                f"{_value(r, 'distance_spearman'):.3f}", f"{r['seconds']:.0f}", chosen,
            ])  # fmt: skip
    return rows


def report_table(report: list[dict]) -> pd.DataFrame:
    """Mean and 95 % half-width per (dataset, method, configuration) and metric."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in report:
        groups[(r["dataset"], r["method"], r["label"], r.get("config", ""))].append(r)
    rows = []
    for (dataset, method, label, _), records in groups.items():
        row = {"dataset": dataset, "method": method, "configuration": label,
               "params": records[0]["params"], "seeds": len(records)}  # fmt: skip
        for key, _header in REPORT_METRICS:
            mean, half = mean_ci([_value(r, key) for r in records])
            row[key], row[f"{key}_ci95"] = mean, half
        rows.append(row)
    return pd.DataFrame(rows)


def write_tuning_results(out, record: dict) -> None:
    """Write ``tuning.json``, ``tuning.md`` and ``tuning.csv`` under ``out``."""
    out = Path(out)
    table = report_table(record["report"])
    table.to_csv(out / "tuning.csv", index=False)
    protocol = record["protocol"]
    lines = [
        "# Fair tuning of the 2-D ancestry maps",
        "",
        "Protocol (`workflows/tune_genotype.py`): the bundled 1000 Genomes example split once by "
        f"population (seed {protocol['split_seed']}) into a tuning half and a reporting half, each "
        "with its own QC and PCA. Every method's grid (same budget: 8 configurations; PCA-2D has "
        f"no knob) fitted once (seed {protocol['tuning_seed']}) on the tuning half; the best "
        "population kNN20 (5-fold CV) wins, distance Spearman breaks ties. Selected and default "
        f"configurations then run seeds {protocol['report_seeds']} on the reporting half and on "
        "simulations that took no part in the search. One CPU thread per fit.",
        *(
            [
                "",
                "`ddvi-extended` is a second search that only DDVI got (extra budget: 8 more "
                "configurations over objective, diffusion steps T and network width at the first "
                "search's KL weight and PCs, 150 epochs); it is not part of the equal-budget "
                "comparison, and shows whether the knobs the first grid left alone help DDVI.",
            ]
            if "ddvi-extended" in record["selected"]
            else []
        ),
        "",
        "## Search (tuning half, one fit per configuration)",
        "",
        *markdown_table(
            ["method", "configuration", "kNN20 pop", "dist. Spearman", "fit s", ""],
            search_rows(record["search"], record["selected"]),
        ),
        "",
        "## Report (data not used in the search; mean ± 95 % t-interval over seeds)",
        "",
    ]
    header = ["dataset", "method", "configuration", "seeds", *(h for _, h in REPORT_METRICS)]
    rows = []
    for _, row in table.iterrows():
        config = row["configuration"]
        if config == "selected" or row["method"] in ("pca-10d", "pca-2d"):
            params = ", ".join(f"{k}={_text(v)}" for k, v in sorted(row["params"].items()))
            config = f"{config} ({params})" if params else config
        cells = [format_mean_ci(row[k], row[f"{k}_ci95"], 1 if k == "seconds" else 3)
                 for k, _ in REPORT_METRICS]  # fmt: skip
        rows.append([row["dataset"], row["method"], config, int(row["seeds"]), *cells])
    lines += markdown_table(header, rows)
    lines += [
        "",
        f"Wall time of this invocation: {record['wall_seconds'] / 60:.1f} min "
        "(cells finished by an earlier, interrupted invocation are not counted).",
    ]
    write_result(out, "tuning", record, lines)
