"""The paper's 1000 Genomes protocol: inputs, cluster scores and one tiny end-to-end run."""

import json

import numpy as np
import pytest
from sklearn import metrics

from workflows import paper_genotype as pg


def test_cluster_scores__hand_made_labelling():
    """Three populations, four clusters: every cluster pure, population B split in two."""
    true = np.array(["A", "A", "A", "B", "B", "B", "B", "C", "C"])
    pred = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3])
    scores = pg.cluster_scores(true, pred)
    assert scores["purity"] == 1.0  # every cluster's majority is all of it
    assert scores["homogeneity"] == pytest.approx(1.0)  # each cluster holds one population
    # completeness = 1 - H(K|C) / H(K): only B's split (4 of 9 samples, two halves) is uncertain
    h_k = -sum(p * np.log(p) for p in (3 / 9, 2 / 9, 2 / 9, 2 / 9))
    h_k_given_c = 4 / 9 * np.log(2)
    assert scores["completeness"] == pytest.approx(1 - h_k_given_c / h_k)
    assert scores["nmi"] == pytest.approx(metrics.normalized_mutual_info_score(true, pred))
    assert scores["v_measure"] == pytest.approx(metrics.v_measure_score(true, pred))
    merged = pg.cluster_scores(true, np.array([0, 0, 0, 0, 0, 0, 0, 1, 1]))
    assert merged["purity"] == pytest.approx(6 / 9)  # A+B merged: its majority B has 4, C 2
    assert merged["completeness"] == pytest.approx(1.0) and merged["homogeneity"] < 1


def test_paper_scores__well_separated_blobs_score_perfectly():
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20, 20, size=(4, 2)) * np.array([[1], [2], [3], [4]])
    labels = np.repeat(np.arange(4), 60)
    coords = centres[labels] + 0.05 * rng.standard_normal((240, 2))
    scores = pg.paper_scores(coords, labels)
    assert scores["purity"] == 1.0 and scores["homogeneity"] == pytest.approx(1.0)
    assert scores["knn20_same_points"] == 1.0 and np.isfinite(scores["gmm_lower_bound"])


def test_paper_inputs__top_pc_scores_divided_by_30():
    rng = np.random.default_rng(1)
    dosage = rng.integers(0, 3, size=(40, 25)).astype(float)
    dosage[3, 4] = np.nan  # mean-imputed
    x = pg.paper_inputs(dosage, n_pcs=5)
    filled = np.where(np.isnan(dosage), np.nanmean(dosage, 0), dosage)
    centred = filled - filled.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    oracle = u[:, :5] * s[:5] / 30.0
    np.testing.assert_allclose(np.abs(x), np.abs(oracle), rtol=1e-4, atol=1e-6)  # up to sign
    assert pg.paper_inputs(dosage).shape == (40, 25)  # capped at min(n - 1, variants)


def test_network_config__the_papers_widths_and_recipe():
    ddvi = pg.network_config("ddvi", 7)
    assert ddvi.hidden == pg.PAPER_HIDDEN and ddvi.epochs == 7
    assert (ddvi.kl_weight, ddvi.n_steps, ddvi.wake_trains_denoiser) == (0.005, 20, False)
    assert pg.network_config("vae", 7).kl_weight == 0.005
    aae = pg.network_config("aae", 7)
    assert aae.disc_hidden == (1000, 1000) and aae.prior == "learnable_mixture"


def test_main__smoke_run_writes_the_table_and_record(tmp_path):
    argv = ["--smoke", "--epochs", "1", "--datasets", "example", "--methods", "pca", "aae"]
    assert pg.main([*argv, "--jobs", "1", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "paper_protocol_smoke.json").read_text())
    assert {(r["method"], r["seed"]) for r in record["rows"]} == {
        (m, s) for m in ("pca", "aae") for s in (0, 1)
    }
    assert all(r["n_pcs"] == 169 for r in record["rows"])
    text = (tmp_path / "paper_protocol_smoke.md").read_text()
    assert "| example | aae | 2 |" in text and "Provenance" in text
