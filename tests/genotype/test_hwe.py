"""Hardy-Weinberg exact test: against Levene's distribution summed naively, and against plink2."""

import math
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.qc.hwe import hwe_exact_pvalue, hwe_pvalues, hwe_pvalues_from_counts
from ddvi_genomics.genotype.qc.recipe import QCOptions, run_qc


def naive_pvalue(n_het, n_hom1, n_hom2, midp=False):
    """Sum P(het | n, n_rare) = n! / (aa! het! bb!) 2^het na! nb! / (2n)! over as-likely counts."""
    n = n_het + n_hom1 + n_hom2
    n_a = 2 * n_hom1 + n_het
    n_b = 2 * n_hom2 + n_het

    def log_prob(het):
        aa, bb = (n_a - het) // 2, (n_b - het) // 2
        return (
            math.lgamma(n + 1) - math.lgamma(aa + 1) - math.lgamma(het + 1) - math.lgamma(bb + 1)
            + het * math.log(2) + math.lgamma(n_a + 1) + math.lgamma(n_b + 1)
            - math.lgamma(2 * n + 1)
        )  # fmt: skip

    hets = [h for h in range(min(n_a, n_b) + 1) if (n_a - h) % 2 == 0]
    probs = {h: math.exp(log_prob(h)) for h in hets}
    observed = probs[n_het]
    p = sum(q for q in probs.values() if q <= observed * (1 + 1e-8))
    return p - 0.5 * observed if midp else p


@pytest.mark.parametrize(
    "counts",
    [(57, 14, 29), (50, 25, 25), (0, 50, 50), (1, 0, 0), (3, 1, 96), (10, 45, 45), (7, 0, 3)],
)
@pytest.mark.parametrize("midp", [False, True])
def test_exact_test__equals_levene_distribution_summed_naively(counts, midp):
    assert hwe_exact_pvalue(*counts, midp=midp) == pytest.approx(
        naive_pvalue(*counts, midp=midp), rel=1e-9, abs=1e-300
    )


@pytest.mark.parametrize("midp", [False, True])
def test_hwe_pvalues_from_counts__many_variants_at_once_equal_the_naive_sum(midp):
    """Oracle: Levene's distribution from log-gamma terms, one variant at a time. The counts
    share sample sizes and rare-allele counts (the groups the array version builds once) and
    include the edges: nothing called, monomorphic, all heterozygous, one genotype."""
    rng = np.random.default_rng(11)
    n = rng.choice([1, 2, 7, 60, 301], 600)
    p = rng.uniform(0, 1, 600)
    hom1 = rng.binomial(n, (1 - p) ** 2)
    het = rng.binomial(
        n - hom1, np.clip(2 * p * (1 - p) / np.maximum(1 - (1 - p) ** 2, 1e-9), 0, 1)
    )
    counts = np.stack([hom1, het, n - hom1 - het], axis=1)
    counts[:6] = [[0, 0, 0], [9, 0, 0], [0, 9, 0], [0, 0, 9], [1, 0, 0], [4, 0, 5]]
    counts[6:30] = [[150 - k, 1 + k, 150] for k in range(24)]  # heterozygote deficits
    counts[30:36] = [[0, 301, 0], [1, 299, 1], [20, 250, 31], [2, 57, 1], [0, 60, 0], [30, 0, 30]]
    expected = [1.0] + [naive_pvalue(h, a, b, midp=midp) for a, h, b in counts[1:]]
    got = hwe_pvalues_from_counts(counts, midp=midp)
    np.testing.assert_allclose(got, np.minimum(expected, 1.0), rtol=1e-9, atol=1e-300)
    assert len(np.unique(counts, axis=0)) > 200 and (got < 1e-4).any()


def test_hwe_pvalues__ignores_missing_calls_and_matches_per_variant_test():
    dosage = np.array([[0, 1, 2, -1, 1, 1], [2, 2, 2, 2, 0, -1], [1, 1, 1, 1, 1, 1]], np.int8)
    expected = [hwe_exact_pvalue(3, 1, 1), hwe_exact_pvalue(0, 1, 4), hwe_exact_pvalue(6, 0, 0)]
    np.testing.assert_allclose(hwe_pvalues(dosage), expected)


def hwe_set(seed=0, n_samples=200, n_variants=300):
    """Variants in HWE, plus some with too many or too few heterozygotes."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, n_variants)
    dosage = rng.binomial(2, p[:, None], size=(n_variants, n_samples)).astype(np.int8)
    excess = rng.choice(n_variants, 40, replace=False)
    dosage[excess[:20], : n_samples // 2] = 1  # heterozygote excess
    dosage[excess[20:], : n_samples // 3] = rng.choice([0, 2], size=(20, n_samples // 3))
    dosage[rng.random(dosage.shape) < 0.02] = -1
    return GenotypeMatrix(
        dosage,
        np.full(n_variants, "1", object),
        np.arange(1, n_variants + 1) * 1000,
        np.array([f"rs{i}" for i in range(n_variants)], object),
        np.full(n_variants, "A", object),
        np.full(n_variants, "G", object),
        np.array([f"S{i}" for i in range(n_samples)], object),
    )


def test_run_qc__hwe_drops_the_disequilibrium_variants_and_reports_them():
    gm = hwe_set()
    kept, report = run_qc(gm, QCOptions(min_maf=0.0, max_variant_missing=1.0, hwe=1e-6))
    dropped = set(gm.variant_id) - set(kept.variant_id)
    assert len(dropped) >= 30
    p = hwe_pvalues(gm.dosage)
    assert dropped == set(gm.variant_id[p < 1e-6])
    assert any(step[0].startswith("HWE p < 1e-06") for step in report.steps)


@pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian plink2)"
)
@pytest.mark.parametrize("midp", [False, True])
def test_hwe__pvalues_and_filter_equal_plink2(tmp_path, midp):
    gm = hwe_set(seed=3)
    write_plink(gm, tmp_path / "h")
    modifier = ["midp"] if midp else []
    base = ["plink2", "--bfile", str(tmp_path / "h"), "--threads", "1"]
    subprocess.run(
        [*base, "--hardy", *modifier, "--out", str(tmp_path / "ref")],
        check=True,
        capture_output=True,
    )
    table = np.genfromtxt(
        tmp_path / "ref.hardy", names=True, dtype=None, encoding=None, comments=None
    )
    column = "MIDP" if midp else "P"
    ref = np.asarray(table[column], dtype=float)
    np.testing.assert_allclose(hwe_pvalues(gm.dosage, midp=midp), ref, rtol=1e-4, atol=1e-300)
    subprocess.run(
        [*base, "--hwe", "1e-4", *modifier, "--write-snplist", "--out", str(tmp_path / "kept")],
        check=True, capture_output=True,
    )  # fmt: skip
    theirs = (tmp_path / "kept.snplist").read_text().split()
    args = ["infer", str(tmp_path / "h.bed"), "--method", "pca", "--n-pcs", "2", "--maf", "0",
            "--geno", "1", "--hwe", "1e-4", "--out", str(tmp_path / "ours")]  # fmt: skip
    result = CliRunner().invoke(main, args + (["--hwe-midp"] if midp else []))
    assert result.exit_code == 0, result.output
    ours = (tmp_path / "ours.eigenvec.allele").read_text().splitlines()[1:]
    assert sorted({line.split("\t")[1] for line in ours}) == sorted(theirs)


def test_hwe_pvalues_from_counts__biobank_sized_groups_and_extreme_tails():
    """Oracle: the naive log-gamma sum. 2,000-2,504 called genotypes, from HWE to deficits and
    excesses whose p-values reach 1e-300: the windows that leave out the far tails must not
    change any p-value beyond rounding."""
    rng = np.random.default_rng(3)
    n = rng.integers(2000, 2505, 300)
    q = rng.uniform(0.005, 0.5, 300)
    het = rng.binomial(n, 2 * q * (1 - q))
    het[:100] = (het[:100] * rng.uniform(0, 1.8, 100)).astype(int)  # away from equilibrium
    rare_alleles = np.maximum(np.round(2 * n * q).astype(int), het)
    rare_alleles += (rare_alleles - het) % 2
    hom_rare = (rare_alleles - het) // 2
    keep = hom_rare + het <= n
    counts = np.stack([n - het - hom_rare, het, hom_rare], axis=1)[keep]
    expected = [naive_pvalue(h, a, b) for a, h, b in counts]
    got = hwe_pvalues_from_counts(counts)
    np.testing.assert_allclose(got, np.minimum(expected, 1.0), rtol=1e-9, atol=1e-300)
    assert (got < 1e-100).sum() > 5 and (got > 0.5).sum() > 20


def test_genotype_counts__equal_numpy_comparisons_on_strided_and_odd_inputs():
    """Oracle: ``(dosage == k).sum(1)``, on a column-strided view, with -1 and -9 as missing."""
    from ddvi_genomics.genotype.counts import genotype_counts

    rng = np.random.default_rng(5)
    dosage = rng.integers(-1, 3, (40, 301)).astype(np.int8)
    dosage[3, ::7] = -9
    for view in (dosage, dosage[:, ::3], dosage[::2]):
        expected = np.stack([(view == k).sum(1) for k in (0, 1, 2)], axis=1)
        np.testing.assert_array_equal(genotype_counts(view), expected)
    assert genotype_counts(dosage[:0]).shape == (0, 3)


def test_hwe_pvalues_from_counts__biobank_sample_sizes_far_tails():
    """Oracle: the naive log-gamma sum at 20,000-200,000 called genotypes, where the het
    distribution spans tens of thousands of counts and the sweeps stop after a few hundred."""
    cases = np.array([
        [50_000, 100_000, 50_000],  # q = 0.5, at equilibrium
        [81_000, 18_000, 1_000],  # q = 0.1, at equilibrium
        [81_300, 17_400, 1_300],  # q = 0.1, 600 hets short: p about 1e-24
        [82_000, 16_000, 2_000],  # q = 0.1, 2,000 hets short: p about 1e-223
        [9_000, 9_000, 2_000],  # 20,000 samples, q = 0.325: 225 hets too many
        [199_990, 10, 0],  # a rare variant
    ])  # fmt: skip
    for midp in (False, True):
        expected = [naive_pvalue(h, a, b, midp=midp) for a, h, b in cases]
        got = hwe_pvalues_from_counts(cases, midp=midp)
        np.testing.assert_allclose(got, np.minimum(expected, 1.0), rtol=1e-9, atol=1e-300)
    assert 1e-230 < got[3] < 1e-200 and 1e-30 < got[2] < 1e-20 and min(got[0], got[1]) > 0.5


def test_counts_and_pvalues__threaded_blocks_equal_one_pass(monkeypatch):
    """Oracle: the kernels run once over every row; blocks on 3 threads must stack the same."""
    from ddvi_genomics import threads
    from ddvi_genomics.genotype import kernels
    from ddvi_genomics.genotype.counts import genotype_counts

    rng = np.random.default_rng(9)
    dosage = rng.integers(-1, 3, (1000, 50)).astype(np.int8)
    monkeypatch.setattr(kernels, "MIN_ROWS_PER_THREAD", 100)
    monkeypatch.setattr(threads, "_budget", 3)
    used = []
    counts_kernel = kernels.genotype_counts_kernel
    monkeypatch.setattr(kernels, "genotype_counts_kernel",
                        lambda d: used.append(len(d)) or counts_kernel(d))  # fmt: skip
    counts = genotype_counts(dosage)
    assert used == [333, 333, 334]
    np.testing.assert_array_equal(counts, counts_kernel(dosage))
    p = hwe_pvalues_from_counts(counts, midp=True)
    np.testing.assert_array_equal(p, kernels.hwe_pvalues_kernel(counts, True))
