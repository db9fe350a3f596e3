"""Calibration of projections of incomplete samples, in PC space and on the map.

Protocol
--------
* **Data.** ``example``: the reporting half of the bundled 1000 Genomes example (1,252 samples,
  26 populations; the tuning half chose the network presets and took no part here), default
  QC. ``sim``: an msprime simulation of stdpopsim's ``AmericanAdmixture_4B18`` (African,
  European, East Asian and admixed American samples), common SNPs (MAF >= 0.05) thinned to
  one per 5 kb: chip density.
* **Split.** Per seed, a stratified 20 % of the samples is held out; the map (DDVI, VAE, PCA
  with ``--n-pcs 10``, presets unchanged) and its PCA are fitted on the other 80 %.
* **Truth.** A held-out sample's complete-data position: its PC scores and its map position
  (posterior mean) projected from all of its calls.
* **Down-sampling.** Each held-out sample keeps 50 / 20 / 10 / 5 / 2 / 1 % of the variants,
  either at random (``random``) or as runs of consecutive variants in genome order (``runs``,
  each 2 % of the variants long, placed at random: read-like missingness).
* **Methods.** PC space: ``mean-impute`` (today's ``project``, plink2 ``--score``),
  ``plink2-no-mean-imputation`` (the same sum rescaled by variants / observed variants, the
  ``no-mean-imputation`` modifier's arithmetic, computed here, not by plink2), ``lsq``
  (smartpca ``lsqproject``, with its analytic ellipses), ``bayes`` (the default). Map:
  ``ddvi`` and ``vae`` with the ``bayes`` projection carried into the posterior
  (``project``'s default), and ``ddvi-point`` / ``vae-point`` (today: mean-imputed PCs, the
  network's posterior only).
* **Metrics per level.** Bias: mean distance to the complete-data position (PC1-2; map).
  Coverage: share of complete-data positions inside the 50 % / 90 % region (PC1-2 Gaussian
  ellipses; map highest-density regions of 100 draws on a 48 x 48 grid). Sharpness: mean area
  of the 90 % region. Assignment: population (and super-population) from logistic regression
  on the reference PCs (PC space; for ``bayes`` averaged over 50 draws of the scores) or from
  a 20-nearest-neighbour vote on the reference map (averaged over the posterior draws):
  accuracy and log loss. AUROC of the 90 % area for a wrong population call, per level and
  pooled over all levels. Unplaceable samples count as wrong calls and are left out of bias,
  coverage and area (their share is listed).
* **Intervals.** Mean and 95 % Student-t interval over 3 seeds.

Usage: python -m workflows.bench.projection_calibration --out workflows/results/bench
       [--data example sim] [--seeds 0 1 2] [--epochs N] [--levels 0.5 0.2 ...]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ddvi_genomics.genotype import GenotypeMatrix
from ddvi_genomics.provenance import provenance
from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

LEVELS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)
PATTERNS = ("random", "runs")
PC_METHODS = ("mean-impute", "plink2-no-mean-imputation", "lsq", "bayes")
MAP_FAMILIES = ("ddvi", "vae")
N_PCS = 10
HELD_OUT = 0.2
RUN_FRACTION = 0.02
PC_DRAWS = 50
KNN = 20
#: Logistic regression's C: chosen on the tuning half of the example by
#: ``workflows.bench.label_guided_fair`` (log loss), not on the data reported here.
LOGISTIC_C = 0.1


# -- data ------------------------------------------------------------------------------------------


def load_example():
    """QC-passing genotypes and labels of the reporting half of the bundled example."""
    from ddvi_genomics.genotype import example_paths, read_genotypes, read_panel
    from ddvi_genomics.genotype.mapping.ancestry_map import align_labels, apply_qc
    from ddvi_genomics.genotype.qc.recipe import QCOptions
    from workflows.tune_genotype import split_example

    vcf, panel = example_paths()
    _, report = split_example()
    gm, _ = apply_qc(read_genotypes(vcf, samples=list(report)), QCOptions())
    return gm, align_labels(read_panel(panel), gm.sample_id)


def load_sim(seed: int = 2026, n_per_population: int = 150, length: float = 3e7):
    """An AmericanAdmixture_4B18 simulation at chip density (see the module docstring)."""
    import pandas as pd

    from ddvi_genomics.genotype.counts import minor_allele_frequency
    from ddvi_genomics.genotype.qc.sites import locate_thinned
    from ddvi_genomics.genotype.simulate import simulate_tree_sequence

    ts, names, pops = simulate_tree_sequence(
        "AmericanAdmixture_4B18", n_per_population=n_per_population, length=length, seed=seed
    )
    haplotypes = ts.genotype_matrix()  # (sites, 2 * individuals)
    dosage = (haplotypes[:, 0::2] + haplotypes[:, 1::2]).astype(np.int8)
    position = np.asarray(ts.tables.sites.position, dtype=np.int64) + 1
    keep = minor_allele_frequency(dosage) >= 0.05
    dosage, position = dosage[keep], position[keep]
    thin = locate_thinned(np.full(len(position), "1"), position, 5000)
    dosage, position = dosage[thin], position[thin]
    m = len(position)
    gm = GenotypeMatrix(
        dosage, np.full(m, "1"), position, np.array([f"v{i}" for i in range(m)]),
        np.full(m, "A"), np.full(m, "G"), np.asarray(names),
    )  # fmt: skip
    supers = {"AFR": "AFR", "EUR": "EUR", "ASIA": "EAS", "ADMIX": "AMR"}
    labels = pd.DataFrame(
        {"population": pops, "super_population": [supers.get(p, p) for p in pops]},
        index=pd.Index(names),
    )
    return gm, labels


# -- masks -----------------------------------------------------------------------------------------


def observed_mask(n_variants: int, n_samples: int, level: float, pattern: str, rng):
    """Which calls each held-out sample keeps, shape (n_variants, n_samples), bool."""
    keep_n = max(1, int(round(level * n_variants)))
    mask = np.zeros((n_variants, n_samples), dtype=bool)
    run = max(1, int(round(RUN_FRACTION * n_variants)))
    for j in range(n_samples):
        if pattern == "random":
            mask[rng.choice(n_variants, keep_n, replace=False), j] = True
            continue
        kept = np.zeros(n_variants, dtype=bool)
        while kept.sum() < keep_n:  # runs of consecutive variants at random starts
            start = int(rng.integers(n_variants))
            length = min(run, keep_n - int(kept.sum()))
            kept[np.arange(start, start + length) % n_variants] = True
        mask[:, j] = kept
    return mask


# -- scores ----------------------------------------------------------------------------------------


def gaussian_coverage(diff: np.ndarray, cov: np.ndarray, level: float) -> np.ndarray:
    """Whether ``diff`` (n, 2) lies in the central ``level`` ellipse of ``N(0, cov)`` (n, 2, 2)."""
    from ddvi_genomics.genotype.pca.projection import chi2_2d_radius

    d2 = np.einsum("ni,nij,nj->n", diff, np.linalg.pinv(cov), diff)
    return d2 <= chi2_2d_radius(level) ** 2


def ellipse_area(cov: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Area of the central ``level`` ellipse of each 2-D Gaussian (n, 2, 2)."""
    from ddvi_genomics.genotype.pca.projection import chi2_2d_radius

    return np.pi * chi2_2d_radius(level) ** 2 * np.sqrt(np.clip(np.linalg.det(cov), 0, None))


def assignment(probs: np.ndarray, truth: np.ndarray, placed: np.ndarray) -> dict:
    """Accuracy and log loss of probability rows (n, K) against class indices; NaN rows wrong."""
    p = np.where(placed[:, None], probs, 1.0 / probs.shape[1])
    correct = (p.argmax(1) == truth) & placed
    loss = -np.log(np.clip(p[np.arange(len(truth)), truth], 1e-6, 1.0))
    return {"accuracy": float(correct.mean()), "log_loss": float(loss.mean()), "wrong": ~correct}


def record_assignment(row: dict, level: str, scored: dict, area: np.ndarray) -> None:
    """Put accuracy and log loss into ``row``; at population level also the per-sample wrong
    calls and 90 % areas (for the pooled AUROC) and the level's AUROC."""
    row[f"{level}_accuracy"] = scored["accuracy"]
    row[f"{level}_log_loss"] = scored["log_loss"]
    if level == "population":
        row["wrong"] = scored["wrong"].tolist()
        row["area90_each"] = area.tolist()
        row["auroc_area"] = auroc(area, scored["wrong"])


def _mean(values) -> float:
    """Mean of ``values``; NaN for none (every sample unplaceable)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else float("nan")


def auroc(score: np.ndarray, wrong: np.ndarray) -> float:
    """AUROC of ``score`` for ``wrong`` (NaN scores and one-class sets give NaN)."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(score)
    if ok.sum() < 2 or wrong[ok].all() or not wrong[ok].any():
        return float("nan")
    return float(roc_auc_score(wrong[ok], score[ok]))


class Classifiers:
    """Population and super-population classifiers fitted on the reference samples."""

    def __init__(self, ref_pcs, ref_map: dict, labels, classes: dict):
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.classes = classes
        self.logistic, self.knn = {}, {}
        for level, names in classes.items():
            y = np.searchsorted(names, labels[level])
            self.logistic[level] = make_pipeline(
                StandardScaler(), LogisticRegression(C=LOGISTIC_C, max_iter=5000)
            ).fit(ref_pcs, y)
            self.knn[level] = {
                family: KNeighborsClassifier(KNN).fit(coords, y)
                for family, coords in ref_map.items()
            }

    def pc_probs(self, level: str, pcs: np.ndarray) -> np.ndarray:
        return _predict(self.logistic[level], pcs, len(self.classes[level]))

    def map_probs(self, level: str, family: str, coords: np.ndarray) -> np.ndarray:
        return _predict(self.knn[level][family], coords, len(self.classes[level]))


def _predict(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.full((len(x), n_classes), np.nan)
    ok = np.isfinite(x).all(1)
    if ok.any():
        out[np.ix_(ok, model.classes_)] = model.predict_proba(x[ok])  # classes absent: 0
        out[ok] = np.nan_to_num(out[ok])
    return out


def _mean_over_draws(draws: np.ndarray, predict) -> np.ndarray:
    """Average ``predict`` (n, 2 or k) -> (n, K) over draws (D, n, .)."""
    return np.mean([predict(d) for d in draws], axis=0)


# -- one seed --------------------------------------------------------------------------------------


def run_seed(gm, labels, seed: int, *, epochs: int | None, levels, patterns, device: str) -> list:
    """Every (pattern, level, method) row of one seed."""
    from sklearn.model_selection import train_test_split

    from ddvi_genomics.genotype import infer
    from ddvi_genomics.genotype.mapping.embed import preset_config
    from ddvi_genomics.genotype.mapping.map_posterior import region_contains, region_summary

    pops = labels["population"].to_numpy()
    ref_idx, test_idx = train_test_split(
        np.arange(gm.n_samples), test_size=HELD_OUT, stratify=pops, random_state=seed
    )
    ref_idx, test_idx = np.sort(ref_idx), np.sort(test_idx)
    ref, test = gm.subset(samples=ref_idx), gm.subset(samples=test_idx)
    ref_labels, test_labels = labels.iloc[ref_idx], labels.iloc[test_idx]
    maps, seconds = {}, {}
    for family in ("pca", *MAP_FAMILIES):
        config = None if family == "pca" else preset_config(family, epochs)
        t0 = time.perf_counter()
        maps[family] = infer(
            ref, ref_labels, method=family, n_pcs=N_PCS, config=config, seed=seed, device=device,
            verbose=False,
        )  # fmt: skip
        seconds[f"fit {family}"] = time.perf_counter() - t0
    model_pca = maps["pca"].model.pca  # the same PCA under every map (same seed, same data)
    classes = {
        "population": np.unique(pops),
        "super_population": np.unique(labels["super_population"].to_numpy()),
    }
    truth = {level: np.searchsorted(classes[level], test_labels[level]) for level in classes}
    ref_map = {family: maps[family].coords for family in MAP_FAMILIES}
    classifiers = Classifiers(maps["pca"].pcs, ref_map, ref_labels, classes)
    full_pcs = model_pca.transform(test.dosage)
    full_map = {f: maps[f].model.project(test).coords for f in MAP_FAMILIES}
    rng = np.random.default_rng(seed)
    rows = []
    for pattern in patterns:
        for level in levels:
            mask = observed_mask(test.n_variants, test.n_samples, level, pattern, rng)
            sparse = GenotypeMatrix(
                np.where(mask, test.dosage, -1).astype(np.int8), *[
                    getattr(test, name) for name in (
                        "variant_contig", "variant_position", "variant_id", "variant_ref",
                        "variant_alt", "sample_id",
                    )
                ],
            )  # fmt: skip
            common = {"seed": seed, "pattern": pattern, "level": level}
            rows += _pc_rows(common, model_pca, sparse, full_pcs, classifiers, truth, seed)
            for family in MAP_FAMILIES:
                model = maps[family].model
                extent = _extent(maps[family].coords)
                for variant in (family, f"{family}-point"):
                    t0 = time.perf_counter()
                    if variant == family:  # project's default: bayes, carried into the map
                        placed = model.project(sparse)
                    else:  # today: mean-imputed PCs, placed however few calls they have
                        placed = point_projection(model, sparse)
                    wall = time.perf_counter() - t0
                    ok = placed.status != "unplaceable"
                    row = {**common, "space": "map", "method": variant, "seconds": wall}
                    row["unplaceable"] = float((~ok).mean())
                    diff = placed.coords - full_map[family]
                    row["bias"] = _mean(np.hypot(*diff[ok].T))
                    if placed.map_draws is not None:
                        draws = placed.map_draws[:, ok]
                        area, _ = region_summary(draws, 0.9, extent)
                        for q in (0.5, 0.9):
                            inside = region_contains(draws, full_map[family][ok], q, extent)
                            row[f"cover{int(q * 100)}"] = _mean(inside)
                    else:  # today: the network's posterior sd as a Gaussian region
                        draws = placed.coords[None]
                        cov = np.zeros((len(ok), 2, 2))
                        cov[:, 0, 0], cov[:, 1, 1] = placed.sd[:, 0] ** 2, placed.sd[:, 1] ** 2
                        for q in (0.5, 0.9):
                            row[f"cover{int(q * 100)}"] = _mean(
                                gaussian_coverage(diff[ok], cov[ok], q)
                            )
                        area = ellipse_area(cov[ok])
                    row["area90"] = _mean(area)
                    area_all = np.full(len(ok), np.nan)
                    area_all[ok] = area
                    for lab, y in truth.items():
                        probs = np.full((len(ok), len(classes[lab])), np.nan)
                        probs[ok] = _mean_over_draws(
                            draws if placed.map_draws is not None else placed.coords[ok][None],
                            lambda c, lab=lab, family=family: classifiers.map_probs(
                                lab, family, c
                            ),
                        )
                        record_assignment(row, lab, assignment(probs, y, ok), area_all)
                    rows.append(row)
    for row in rows:
        row.update({f"seconds {k}": v for k, v in seconds.items()})
    return rows


def point_projection(model, sparse):
    """The map as ``project`` placed samples before: mean-imputed PCs through the network."""
    from ddvi_genomics.genotype.mapping.ancestry_model import Projection, align_variants

    dosage, report = align_variants(sparse, model.variants)
    scores = pc_projection(model.pca, dosage, "mean-impute")
    coords, sd = model.embed_pcs(scores.scores)
    return Projection(sparse.sample_id, coords, sd, scores.scores, report, scores=scores)


def _extent(coords: np.ndarray) -> tuple:
    """The map's box, widened by half its size on every side (holds the clouds)."""
    lo, hi = coords.min(0), coords.max(0)
    pad = 0.5 * (hi - lo)
    return (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])


def pc_projection(pca, dosage: np.ndarray, method: str):
    """Project as ``method`` does, placing every sample the method can place at all.

    The product refuses mean imputation and least squares below 2 observed variants per PC;
    here mean imputation places every sample with a call (as ``project`` did before) and least
    squares every sample with one call per PC, so their errors at low coverage are measured.
    """
    from ddvi_genomics.genotype.pca.projection import (
        observed_sums,
        project_observed,
        space_for,
    )

    base = "mean-impute" if method == "plink2-no-mean-imputation" else method
    floor = None if base == "bayes" else 1
    sums = observed_sums(pca, dosage)
    return project_observed(sums, space_for(pca, base), base, min_observed_loci=floor)


def _pc_rows(common, pca, sparse, full_pcs, classifiers, truth, seed) -> list:
    rows = []
    for method in PC_METHODS:
        t0 = time.perf_counter()
        projected = pc_projection(pca, sparse.dosage, method)
        scores = projected.scores.copy()
        if method == "plink2-no-mean-imputation":  # sum over observed variants, rescaled
            scores *= sparse.n_variants / np.maximum(projected.n_observed, 1)[:, None]
        wall = time.perf_counter() - t0
        ok = projected.status != "unplaceable"
        row = {**common, "space": "pc", "method": method, "seconds": wall}
        row["unplaceable"] = float((~ok).mean())
        diff = full_pcs[:, :2] - scores[:, :2]
        row["bias"] = _mean(np.hypot(*diff[ok].T))
        area_all = np.full(len(ok), np.nan)
        if projected.covariance is not None:
            cov = projected.covariance[ok][:, :2, :2]
            for q in (0.5, 0.9):
                row[f"cover{int(q * 100)}"] = _mean(gaussian_coverage(diff[ok], cov, q))
            area_all[ok] = ellipse_area(cov)
            row["area90"] = _mean(area_all[np.isfinite(area_all)])
        for lab, y in truth.items():
            if method == "bayes":  # the predictive probabilities, averaged over the scores
                draws = projected.subset(ok).draws(PC_DRAWS, np.random.default_rng(seed))
                probs = np.full((len(ok), len(classifiers.classes[lab])), np.nan)
                probs[ok] = _mean_over_draws(
                    draws, lambda s, lab=lab: classifiers.pc_probs(lab, s)
                )
            else:
                probs = classifiers.pc_probs(lab, np.where(ok[:, None], scores, np.nan))
            record_assignment(row, lab, assignment(probs, y, ok), area_all)
        rows.append(row)
    return rows


# -- report ----------------------------------------------------------------------------------------

#: Row keys holding one value per held-out sample (used for the pooled AUROC, not recorded).
PER_SAMPLE = ("wrong", "area90_each")

COLUMNS = (
    ("unplaceable", "unplaced"),
    ("bias", "bias"),
    ("cover50", "cover 50 %"),
    ("cover90", "cover 90 %"),
    ("area90", "area 90 %"),
    ("population_accuracy", "pop acc"),
    ("population_log_loss", "pop log loss"),
    ("super_population_accuracy", "super acc"),
    ("auroc_area", "AUROC area"),
    ("seconds", "s"),
)


def pooled_auroc(rows: list) -> dict:
    """AUROC of the 90 % area for a wrong population call over every level of each
    ``(space, method, seed)`` (from the rows' per-sample lists)."""
    out = {}
    for key in sorted({(r["space"], r["method"], r["seed"]) for r in rows}):
        group = [r for r in rows if (r["space"], r["method"], r["seed"]) == key]
        area = np.concatenate([r["area90_each"] for r in group]).astype(float)
        wrong = np.concatenate([r["wrong"] for r in group]).astype(bool)
        out[key] = auroc(area, wrong)
    return out


def summarise(rows: list, dataset: str) -> list[str]:
    """Markdown tables: mean ± 95 % t-interval over seeds per (pattern, level, method)."""
    lines = []
    for pattern in PATTERNS:
        chosen = [r for r in rows if r["pattern"] == pattern]
        if not chosen:
            continue
        lines += ["", f"### {dataset}, {pattern} missingness", ""]
        table = []
        keys = sorted({(r["level"], r["space"], r["method"]) for r in chosen},
                      key=lambda k: (-k[0], k[1] != "pc", k[2]))  # fmt: skip
        for level, space, method in keys:
            group = [
                r
                for r in chosen
                if (r["level"], r["space"], r["method"]) == (level, space, method)
            ]
            cells = [f"{level:.0%}", space, method]
            for key, _ in COLUMNS:
                values = [r[key] for r in group if key in r and np.isfinite(r[key])]
                cells.append(format_mean_ci(*mean_ci(values)) if values else "-")
            table.append(cells)
        lines += markdown_table(["kept", "space", "method", *(h for _, h in COLUMNS)], table)
        lines += [
            "",
            "AUROC of the 90 % area for a wrong population call, pooled over levels:",
            "",
        ]
        by_seed = pooled_auroc(chosen)
        pooled = []
        for space, method in sorted({(r["space"], r["method"]) for r in chosen}):
            finite = [v for (sp, m, _), v in by_seed.items() if (sp, m) == (space, method)]
            finite = [v for v in finite if np.isfinite(v)]
            pooled.append([space, method, format_mean_ci(*mean_ci(finite)) if finite else "-"])
        lines += markdown_table(["space", "method", "AUROC (all levels)"], pooled)
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--data", nargs="+", default=["example", "sim"], choices=["example", "sim"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--epochs", type=int, default=None, help="Network epochs (preset default)."
    )
    parser.add_argument("--levels", nargs="+", type=float, default=list(LEVELS))
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stem", default="projection_calibration_cpu")
    args = parser.parse_args(argv)
    lines = ["# Projection of incomplete samples: calibration, error and assignment", ""]
    lines += [line for line in __doc__.split("Usage:")[0].splitlines()[1:]]
    record = {
        "command": " ".join(["python -m workflows.bench.projection_calibration", *sys.argv[1:]])
    }
    all_rows = {}
    t0 = time.perf_counter()
    for dataset in args.data:
        gm, labels = load_example() if dataset == "example" else load_sim()
        lines += ["", f"## {dataset}: {gm.n_variants:,} variants x {gm.n_samples:,} samples", ""]
        rows = []
        for seed in args.seeds:
            print(f"{dataset} seed {seed} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            rows += run_seed(
                gm, labels, seed, epochs=args.epochs, levels=args.levels,
                patterns=args.patterns, device=args.device,
            )  # fmt: skip
        all_rows[dataset] = {  # per-sample lists stay out of the record (megabytes)
            "rows": [{k: v for k, v in r.items() if k not in PER_SAMPLE} for r in rows],
            "pooled_auroc": [
                {"pattern": pattern, "space": sp, "method": m, "seed": seed, "auroc": v}
                for pattern in args.patterns
                for (sp, m, seed), v in pooled_auroc(
                    [r for r in rows if r["pattern"] == pattern]
                ).items()
            ],
        }
        fits = {k: v for k, v in rows[0].items() if k.startswith("seconds fit")}
        lines += summarise(rows, dataset)
        lines += [
            "",
            "Fit seconds (seed 0): " + ", ".join(f"{k[12:]} {v:.0f}" for k, v in fits.items()),
        ]
    record["rows"] = all_rows
    record["provenance"] = provenance()
    write_result(args.out, args.stem, record, lines)


if __name__ == "__main__":
    main()
