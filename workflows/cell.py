"""Run one benchmark cell for the workflows and record how it ended in ``status.json``.

``python -m workflows.cell vision ARGS --out DIR`` trains through :func:`vision.benchmark.train_run`
(the same code as ``python -m vision train``); ``python -m workflows.cell genotype ARGS --out DIR``
runs :func:`workflows.genotype_cell.run_cell`. Either way ``DIR/status.json`` is written last:
``{"status": "ok", ...}`` or ``{"status": "failed", "error": ...}``. A run that raises is recorded
as failed (and the command exits 0), so the summary can report it instead of the workflow
stopping; delete the folder (or ``snakemake --forcerun``) to try it again. A run that is killed
writes no status, so Snakemake re-runs it, and a vision run resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import torch


def _vision(args: argparse.Namespace, out: Path) -> dict:
    from vision import presets
    from vision.benchmark import RunSpec, train_run

    d, m, p, semi = presets.resolve(args.dataset, args.method, args.prior, args.semi)
    spec = RunSpec(
        d,
        m,
        p,
        semi,
        labels=args.labels,
        seed=args.seed,
        subset=args.subset,
        test_subset=args.test_subset,
        data_dir=args.data_dir,
        synthetic=args.synthetic,
        smoke=args.smoke,
        data_epochs=args.data_epochs,
        weights=args.weights,
        diffusion_steps=args.diffusion_steps,
        semi_objective=args.semi_objective,
    )
    metrics = train_run(spec, out / "run", device=args.device, verbose=False)
    return {k: v for k, v in metrics.items() if k != "seconds_per_epoch"}


def _genotype(args: argparse.Namespace, out: Path) -> dict:
    from workflows.genotype_cell import run_cell

    record = run_cell(
        args.genotypes,
        args.panel,
        args.method,
        args.seed,
        out / "run",
        epochs=args.epochs,
        device=args.device,
    )
    return {"knn20_cv_accuracy_population": record["metrics"].get("knn20_cv_accuracy_population")}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    vis = sub.add_parser("vision")
    vis.add_argument("--dataset", required=True)
    vis.add_argument("--method", required=True)
    vis.add_argument("--prior", required=True)
    vis.add_argument("--semi", action="store_true")
    vis.add_argument("--labels", type=int)
    vis.add_argument("--weights", default="reference")
    vis.add_argument("--diffusion-steps", type=int)
    vis.add_argument("--semi-objective")
    vis.add_argument("--data-epochs", type=int)
    vis.add_argument("--subset", type=int)
    vis.add_argument("--test-subset", type=int)
    vis.add_argument("--data-dir")
    vis.add_argument("--synthetic", action="store_true")
    vis.add_argument("--smoke", action="store_true")
    gen = sub.add_parser("genotype")
    gen.add_argument("--genotypes", required=True)
    gen.add_argument("--panel")
    gen.add_argument("--method", required=True)
    gen.add_argument("--epochs", type=int)
    for p in (vis, gen):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out", required=True, help="Cell folder: run/ and status.json.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status_file = out / "status.json"
    status_file.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        summary = (_vision if args.kind == "vision" else _genotype)(args, out)
        status = {"status": "ok", "summary": summary}
    except Exception as err:  # recorded, reported by the summariser
        traceback.print_exc()
        status = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    status["wall_seconds"] = time.perf_counter() - t0
    status["threads"] = args.threads
    tmp = status_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(status, indent=2, default=float) + "\n")
    tmp.replace(status_file)
    print(f"{args.kind} cell {out}: {status['status']} in {status['wall_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
