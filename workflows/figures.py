"""Figures of the benchmark workflows, drawn from the run folders (first finished seed of each cell).

* vision: the paper-style grid of test latents (rows = priors, columns = prior samples then the
  methods), the grid of decoded prior samples, and learning curves (training loss per data epoch);
* ablation: kNN accuracy and ELBO against the number of diffusion steps T;
* genotype: the maps side by side (rows = data sets, columns = methods).

A cell without a finished run is drawn as an empty panel titled "missing" or "failed".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workflows import grid


def draw(workflow: str, cfg: dict, cells: list, runs: pd.DataFrame, out: Path) -> list[Path]:
    """Draw the workflow's figures into ``out``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    if workflow == "genotype":
        return [genotype_maps(cfg, cells, runs, out / "genotype_maps.png")]
    if workflow == "ablation":
        return [ablation_curves(runs, out / "ablation_T.png")]
    paths = []
    for dataset in dict.fromkeys(c.dataset for c in cells):
        for setting in dict.fromkeys(c.setting for c in cells if c.dataset == dataset):
            chosen = [c for c in cells if c.dataset == dataset and c.setting == setting]
            stem = f"{workflow}_{dataset}_{setting}"
            paths.append(latent_grid(cfg, chosen, out / f"{stem}_latents.png"))
            paths.append(decoded_grid(cfg, chosen, dataset, out / f"{stem}_samples.png"))
            paths.append(learning_curves(cfg, chosen, out / f"{stem}_curves.png"))
    return paths


def _first_finished(cfg: dict, cells: list) -> dict:
    """``(prior, method) -> run folder`` of the first seed with status ok (reference weights;
    semi-supervised: the M2 objective where the family has one)."""
    found: dict = {}
    for cell in sorted(cells, key=lambda c: c.seed):
        if cell.variant not in ("ref", "m2") or (cell.prior, cell.method) in found:
            continue
        if (grid.read_status(cfg, cell) or {}).get("status") == "ok":
            found[(cell.prior, cell.method)] = grid.run_folder(cfg, cell)
    return found


def _axes_grid(n_rows: int, n_cols: int, size: float = 2.2):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    return fig, axes


def latent_grid(cfg: dict, cells: list, path: Path) -> Path:
    """Rows = priors; columns = prior samples, then each method's test latents (coloured by class)."""
    import matplotlib.pyplot as plt

    priors = list(dict.fromkeys(c.prior for c in cells))
    methods = list(dict.fromkeys(c.method for c in cells))
    runs = _first_finished(cfg, cells)
    fig, axes = _axes_grid(len(priors), len(methods) + 1)
    for i, prior in enumerate(priors):
        prior_drawn = False
        for j, method in enumerate(methods, start=1):
            ax = axes[i, j]
            run = runs.get((prior, method))
            if run is None:
                ax.set_title(f"{method}: not finished", fontsize=8)
                continue
            arrays = np.load(run / "latents.npz")
            z, y = arrays["z_test"], arrays["y_test"]
            ax.scatter(z[:, 0], z[:, 1], c=y, cmap="tab10", s=1, rasterized=True)
            ax.set_title(method, fontsize=8)
            if not prior_drawn:
                pz = arrays["prior_z"]
                axes[i, 0].scatter(pz[:, 0], pz[:, 1], s=1, c="grey", rasterized=True)
                prior_drawn = True
        axes[i, 0].set_ylabel(prior, fontsize=8)
        axes[i, 0].set_title("prior samples", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def decoded_grid(cfg: dict, cells: list, dataset: str, path: Path) -> Path:
    """Rows = priors, columns = methods: 4 x 4 tiles of images decoded from prior samples."""
    import matplotlib.pyplot as plt

    priors = list(dict.fromkeys(c.prior for c in cells))
    methods = list(dict.fromkeys(c.method for c in cells))
    runs = _first_finished(cfg, cells)
    fig, axes = _axes_grid(len(priors), len(methods))
    for i, prior in enumerate(priors):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            ax.axis("off")
            run = runs.get((prior, method))
            if run is None:
                ax.set_title(f"{method}: not finished", fontsize=8)
                continue
            images = np.load(run / "latents.npz")["decoded"][:16]
            ax.imshow(_tile(images, dataset), cmap="gray" if dataset == "mnist" else None)
            ax.set_title(f"{method} / {prior}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _tile(images: np.ndarray, dataset: str, per_row: int = 4) -> np.ndarray:
    """``(16, n_features)`` images -> one (4h, 4w[, 3]) mosaic."""
    if dataset == "mnist":
        imgs = images.reshape(-1, 28, 28)
    else:
        imgs = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    rows = [
        np.concatenate(list(imgs[r : r + per_row]), axis=1) for r in range(0, len(imgs), per_row)
    ]
    return np.clip(np.concatenate(rows, axis=0), 0.0, 1.0)


def loss_column(history: pd.DataFrame) -> pd.Series:
    """The minimised training loss of each row: ``loss`` for one-optimiser phases, the first
    data-fitting optimiser's ``*/loss`` (wake, elbo, train...) otherwise."""
    candidates = [c for c in history.columns if c == "loss"] + [
        c
        for c in history.columns
        if c.endswith("/loss") and not c.startswith(("prior/", "sleep/", "disc"))
    ]
    values = pd.Series(np.nan, index=history.index)
    for column in candidates:
        values = values.fillna(history[column])
    return values


def learning_curves(cfg: dict, cells: list, path: Path) -> Path:
    """Training loss per data epoch, one panel per method, one line per prior (phases in order)."""
    import matplotlib.pyplot as plt

    priors = list(dict.fromkeys(c.prior for c in cells))
    methods = list(dict.fromkeys(c.method for c in cells))
    runs = _first_finished(cfg, cells)
    fig, axes = _axes_grid(1, len(methods), size=2.8)
    for j, method in enumerate(methods):
        ax = axes[0, j]
        for prior in priors:
            run = runs.get((prior, method))
            if run is None or not (run / "history.csv").is_file():
                continue
            history = pd.read_csv(run / "history.csv")
            history = history[history["phase"] != "prior_diffusion"].reset_index(drop=True)
            loss = loss_column(history)
            ax.plot(np.arange(1, len(loss) + 1), loss, marker=".", label=prior)
            for k in np.flatnonzero(history["phase"].ne(history["phase"].shift()).to_numpy())[1:]:
                ax.axvline(k + 0.5, color="grey", lw=0.5, ls=":")  # a new training stage
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("data epoch", fontsize=8)
    axes[0, 0].set_ylabel("training loss", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def ablation_curves(runs: pd.DataFrame, path: Path) -> Path:
    """kNN accuracy and ELBO against T (reference objective), mean and t interval over seeds."""
    import matplotlib.pyplot as plt

    from workflows.report import mean_ci

    fig, axes = _axes_grid(1, 2, size=3.2)
    ok = runs[(runs["state"] == "ok") & (runs["objective"] == "reference")]
    for ax, metric in zip(axes[0], ("knn_accuracy_k20", "elbo_per_example")):
        points = []
        for t, frame in ok.groupby("T"):
            values = frame[metric].dropna().to_numpy(float)
            if len(values):
                mean, half = mean_ci(values)
                points.append((t, mean, half or 0.0))
        if points:
            t, mean, half = map(np.array, zip(*points))
            ax.errorbar(t, mean, yerr=half, marker="o", capsize=3)
        ax.set_xlabel("diffusion steps T")
        ax.set_title(metric, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def genotype_maps(cfg: dict, cells: list, runs: pd.DataFrame, path: Path) -> Path:
    """Rows = data sets, columns = methods: the first finished seed's map coloured by population."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(c.dataset for c in cells))
    methods = [m for m in dict.fromkeys(c.method for c in cells) if m != "pca-10d"]
    fig, axes = _axes_grid(len(datasets), len(methods), size=2.6)
    ok = runs[runs["state"] == "ok"].sort_values("seed")
    for i, dataset in enumerate(datasets):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            done = ok[(ok["dataset"] == dataset) & (ok["method"] == method)]
            if done.empty:
                ax.set_title(f"{method}: not finished", fontsize=8)
                continue
            cell = grid.GenotypeCell(dataset, method, int(done["seed"].iloc[0]))
            table = pd.read_csv(grid.run_folder(cfg, cell) / "embedding.tsv", sep="\t")
            codes, names = pd.factorize(table["population"])
            cmap = plt.get_cmap("tab20", max(len(names), 1))
            ax.scatter(table["x"], table["y"], c=codes % 20, cmap=cmap, s=2, rasterized=True)
            ax.set_title(f"{method} ({dataset})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
