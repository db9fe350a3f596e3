import allel
import numpy as np
import pytest

from ddvi_genomics.genotype.outputs.plink_files import write_eigenval, write_eigenvec
from ddvi_genomics.genotype.pca.decomposition import GenotypePCA, clamp_n_components


def simulated_dosage(n_var=300, n_samp=60, seed=0):
    """Two populations with different allele frequencies (binomial draws)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, size=(n_var, 1))
    shift = rng.normal(0, 0.15, size=(n_var, 1))
    freq = np.clip(
        np.concatenate(
            [np.repeat(p + shift, n_samp // 2, 1), np.repeat(p - shift, n_samp // 2, 1)], 1
        ),
        0.02,
        0.98,
    )
    return rng.binomial(2, freq).astype(np.int8)


def test_pca__agrees_with_allel_patterson_up_to_sign():
    d = simulated_dosage()
    ours = GenotypePCA(5, solver="exact").fit_transform(d)
    ref, _ = allel.pca(d.astype(float), n_components=5, scaler="patterson")
    for i in range(5):
        sign = np.sign(ours[:, i] @ ref[:, i])
        np.testing.assert_allclose(ours[:, i], sign * ref[:, i], rtol=1e-4, atol=1e-4)


def test_pca__randomized_matches_exact_on_leading_components():
    d = simulated_dosage()
    exact = GenotypePCA(3, solver="exact").fit_transform(d)
    rand = GenotypePCA(3, solver="randomized", seed=1).fit_transform(d)
    np.testing.assert_allclose(np.abs(rand[:, 0]), np.abs(exact[:, 0]), rtol=1e-3, atol=1e-3)
    assert np.sign(rand[:, 0] @ exact[:, 0]) == 1  # same sign convention


def test_pca__sign_convention_is_stable_across_runs_and_sample_order():
    d = simulated_dosage()
    a = GenotypePCA(4).fit_transform(d)
    b = GenotypePCA(4).fit_transform(d[:, ::-1].copy())[::-1]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_projection__held_out_samples_close_to_fitting_on_all():
    d = simulated_dosage(n_var=2000, n_samp=200, seed=2)
    full = GenotypePCA(2, solver="exact").fit_transform(d)
    pca = GenotypePCA(2, solver="exact")
    pca.fit_transform(d[:, :180])
    held = pca.transform(d[:, 180:])
    # PC1 carries the two-population structure (PC2 is noise in this simulation)
    corr = np.corrcoef(held[:, 0], full[180:, 0])[0, 1]
    assert corr > 0.99
    # projecting the training samples reproduces their coordinates exactly
    np.testing.assert_allclose(pca.transform(d[:, :180]), pca.fit_transform(d[:, :180]), atol=1e-6)


def test_pca__missing_calls_are_mean_imputed():
    d = simulated_dosage()
    d_miss = d.copy()
    d_miss[5, 3] = -1
    pca = GenotypePCA(2)
    coords = pca.fit_transform(d_miss)
    assert np.isfinite(coords).all()
    p = (d_miss[5][d_miss[5] >= 0]).sum() / (2 * (d_miss[5] >= 0).sum())
    assert pca.allele_frequency_[5] == pytest.approx(p)


def test_clamp_and_writers(tmp_path):
    assert clamp_n_components(50, 20, 100) == (20, clamp_n_components(50, 20, 100)[1])
    assert "larger than possible" in clamp_n_components(50, 20, 100)[1]
    assert clamp_n_components(5, 20, 100) == (5, None)
    write_eigenvec(tmp_path / "x.eigenvec", ["a", "b"], np.array([[1.0, 2.0], [3.0, 4.5]]))
    assert (tmp_path / "x.eigenvec").read_text().splitlines() == [
        "#IID\tPC1\tPC2",
        "a\t1\t2",
        "b\t3\t4.5",
    ]
    write_eigenval(tmp_path / "x.eigenval", np.array([2.5, 1.0]))
    assert (tmp_path / "x.eigenval").read_text() == "2.5\n1\n"


def dense_patterson(d):
    """The scaled matrix built naively, samples x variants (oracle for the block operator)."""
    x = d.astype(float)
    p = np.array([row[row >= 0].sum() / (2 * (row >= 0).sum()) for row in x])
    x = np.where(d < 0, 2 * p[:, None], x)
    return ((x - 2 * p[:, None]) / np.sqrt(p * (1 - p))[:, None]).T


@pytest.mark.parametrize("solver", ["exact", "randomized"])
def test_pca__tiny_workspace_blocks_give_the_dense_svd(solver):
    d = simulated_dosage(n_var=500, n_samp=80, seed=3)
    d[7, 11] = d[200, 3] = -1
    x = dense_patterson(d)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    pca = GenotypePCA(4, solver=solver, seed=2, memory_mib=0.01)  # blocks of ~5 variants
    coords = pca.fit_transform(d)
    from ddvi_genomics.genotype.pca.decomposition import ScaledGenotypes

    assert pca._operator(d).block_variants < 10
    # randomized subspace iteration is exact on the separated PC1, close on the flat noise tail
    np.testing.assert_allclose(pca.singular_values_[0], s[0], rtol=1e-9)
    np.testing.assert_allclose(
        pca.singular_values_, s[:4], rtol=1e-9 if solver == "exact" else 1e-2
    )
    for k in range(1 if solver == "randomized" else 2):
        sign = np.sign(coords[:, k] @ u[:, k])
        np.testing.assert_allclose(coords[:, k], sign * u[:, k] * s[k], atol=1e-6 * s[0])
    np.testing.assert_allclose(pca.explained_variance_ratio_[0], s[0] ** 2 / (x**2).sum())
    op = ScaledGenotypes(d, pca.allele_frequency_, pca.scale_, memory_mib=0.01)
    w = np.random.default_rng(0).normal(size=(500, 3))
    np.testing.assert_allclose(op.matmul(w), x @ w, atol=1e-9)
    np.testing.assert_allclose(op.gram(), x @ x.T, atol=1e-8)


def test_pca__more_samples_than_variants_uses_the_dense_branch():
    d = simulated_dosage(n_var=30, n_samp=120, seed=4)
    x = dense_patterson(d)
    s = np.linalg.svd(x, compute_uv=False)
    pca = GenotypePCA(5, solver="exact")
    pca.fit_transform(d)
    np.testing.assert_allclose(pca.singular_values_, s[:5], rtol=1e-8)
