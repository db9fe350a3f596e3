"""LD pruning against plink2 --indep-pairwise on an msprime simulation (skips without plink2)."""

import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from tests.genotype.ld_oracle import band_r2, prune_from_band

msprime = pytest.importorskip("msprime", reason="msprime is in the [test] and [sim] extras")


def simulated(n_samples=80, length=4e5, seed=5, missing=0.0, n_contigs=2):
    """Two contigs of linked SNPs (maf >= 0.05 after QC) as a GenotypeMatrix."""
    parts = []
    for c in range(n_contigs):
        ts = msprime.sim_ancestry(
            n_samples, sequence_length=length, recombination_rate=1e-8,
            population_size=1e4, random_seed=seed + c,
        )  # fmt: skip
        ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=seed + 10 + c)
        ts = ts.delete_sites([s.id for s in ts.sites() if len(s.mutations) > 1])
        hap = ts.genotype_matrix()
        dosage = (hap[:, 0::2] + hap[:, 1::2]).astype(np.int8)
        pos = np.array([int(s.position) + 1 for s in ts.sites()])
        keep = np.r_[True, np.diff(pos) > 0]
        parts.append((str(c + 1), dosage[keep], pos[keep]))
    dosage = np.concatenate([p[1] for p in parts])
    rng = np.random.default_rng(seed)
    dosage[rng.random(dosage.shape) < missing] = -1
    n = len(dosage)
    return GenotypeMatrix(
        dosage,
        np.concatenate([[c] * len(d) for c, d, _ in parts]).astype(object),
        np.concatenate([p for _, _, p in parts]),
        np.array([f"v{i}" for i in range(n)], object),
        np.full(n, "A", object),
        np.full(n, "G", object),
        np.array([f"S{i}" for i in range(dosage.shape[1])], object),
    )


@pytest.mark.parametrize("missing", [0.05, 0.0])  # the pairwise-complete and one-product paths
def test_band_r2__equals_pairwise_complete_correlation_by_hand(missing):
    gm = simulated(n_samples=30, length=5e4, missing=missing, n_contigs=1)
    d = gm.dosage[:12]
    band = band_r2(d, 5, chunk=4)
    for i in range(12):
        for k in range(4):
            j = i + k + 1
            if j >= 12:
                assert band[i, k] == 0
                continue
            both = (d[i] >= 0) & (d[j] >= 0)
            x, y = d[i, both].astype(float), d[j, both].astype(float)
            expected = np.corrcoef(x, y)[0, 1] ** 2 if x.std() > 0 and y.std() > 0 else 0.0
            assert band[i, k] == pytest.approx(expected, abs=1e-12)


def test_bit_planes__unpack_to_the_counts_and_calls():
    """Oracle: the planes read back bit by bit (130 samples: a partial last word)."""
    from ddvi_genomics.genotype.qc.ldprune import bit_planes

    rng = np.random.default_rng(2)
    d = rng.integers(-1, 3, (7, 130)).astype(np.int8)
    planes = bit_planes(d)
    assert planes.shape == (7, 3, 3) and planes.dtype == np.uint64
    bits = np.unpackbits(planes.view(np.uint8), axis=2, bitorder="little")[..., :130]
    np.testing.assert_array_equal(bits[:, 0] + bits[:, 1], np.where(d > 0, d, 0))
    np.testing.assert_array_equal(bits[:, 2], d >= 0)
    assert not np.unpackbits(planes.view(np.uint8), axis=2, bitorder="little")[..., 130:].any()


@pytest.mark.parametrize("missing", [0.05, 0.0])
def test_pair_r2__bit_for_bit_the_band_of_float_products(missing):
    """Oracle: band_r2 (float32 matrix products). 130 samples, variants with and without
    missing calls mixed, so both popcount paths meet; equal to the last bit, so the pruning
    decisions at the threshold are the same too."""
    from ddvi_genomics.genotype.kernels import pair_r2
    from ddvi_genomics.genotype.qc.ldprune import packed_genotypes

    gm = simulated(n_samples=65, length=5e4, missing=0.0, n_contigs=1)
    d = gm.dosage[:20].copy()
    rng = np.random.default_rng(4)
    d[::2][rng.random(d[::2].shape) < missing] = -1  # every other variant has missing calls
    counts, planes, complete, sums = packed_genotypes(d)
    # sums by hand: allele counts and their squares over the called samples
    assert sums[:, 0].tolist() == np.where(d > 0, d, 0).sum(1).tolist()
    assert sums[:, 1].tolist() == (np.where(d > 0, d, 0) ** 2).sum(1).tolist()
    band = band_r2(d, 8)
    for i in range(20):
        for k in range(min(7, 19 - i)):
            got = pair_r2(planes, complete, sums, i, i + k + 1, d.shape[1])
            assert got == band[i, k], (i, k)


def test_prune_pairwise__lazy_pairs_keep_what_the_full_band_keeps():
    """Oracle: the window passes over the whole band computed first (tests/genotype/ld_oracle),
    on linked variants with missing calls, two contigs, a kilobase window too."""
    from ddvi_genomics.genotype.counts import genotype_counts
    from ddvi_genomics.genotype.qc.ldprune import band_width, kb_window_ends, prune_pairwise

    gm = simulated(n_samples=60, missing=0.03)
    d, contig, pos = gm.dosage, gm.variant_contig, gm.variant_position
    counts = genotype_counts(d)
    n_called = counts.sum(1)
    alt = (counts[:, 1] + 2 * counts[:, 2]) / np.maximum(2 * n_called, 1)
    for window, step, r2, kb in [(20, 3, 0.3, False), (50, 5, 0.2, False), (10, 1, 0.5, True)]:
        ends = kb_window_ends(contig, pos, window) if kb else None
        width = band_width(window, ends)
        full = prune_from_band(band_r2(d, width) > r2, alt, n_called, contig, window=width,
                               step=step, window_ends=ends)  # fmt: skip
        lazy = prune_pairwise(d, contig, window=window, step=step, r2=r2, position=pos,
                              window_kb=kb)  # fmt: skip
        np.testing.assert_array_equal(lazy, full)
        assert 0.1 < full.mean() < 0.95, full.mean()  # the windows prune, but not everything


@pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian plink2)"
)
@pytest.mark.parametrize("missing, window", [(0.0, (50, 5, 0.2)), (0.02, (20, 3, 0.5))])
def test_ld_prune__prune_in_matches_plink2_indep_pairwise(tmp_path, missing, window):
    gm = simulated(missing=missing)
    write_plink(gm, tmp_path / "g")
    size, step, r2 = window
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "g"), "--maf", "0.05", "--geno", "0.1",
         "--indep-pairwise", str(size), str(step), str(r2), "--out", str(tmp_path / "ref"),
         "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    args = ["infer", str(tmp_path / "g.bed"), "--method", "pca", "--n-pcs", "2", "--maf", "0.05",
            "--ld-prune", size, step, r2, "--out", str(tmp_path / "ours")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    ours = set((tmp_path / "ours.prune.in").read_text().split())
    theirs = set((tmp_path / "ref.prune.in").read_text().split())
    pruned = set((tmp_path / "ours.prune.out").read_text().split())
    assert len(theirs) > 20 and len(pruned) > len(ours)  # a real pruning job
    jaccard = len(ours & theirs) / len(ours | theirs)
    print(f"prune.in: ours {len(ours)}, plink2 {len(theirs)}, Jaccard {jaccard:.4f}")
    assert jaccard >= 0.95, jaccard  # the bar; on plink2 2.00a3 the sets are identical
    # .prune.in and .prune.out split the variants that passed the same filters as PLINK's
    assert ours.isdisjoint(pruned)
    assert ours | pruned == theirs | set((tmp_path / "ref.prune.out").read_text().split())


@pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian plink2)"
)
@pytest.mark.parametrize("form", [["20kb", "0.3"], ["50", "kb", "1", "0.5"]])
def test_ld_prune_kb_window__same_sets_as_plink2_in_memory_and_out_of_core(tmp_path, form):
    gm = simulated()
    write_plink(gm, tmp_path / "g")
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "g"), "--maf", "0.05", "--indep-pairwise", *form,
         "--out", str(tmp_path / "ref"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    theirs = set((tmp_path / "ref.prune.in").read_text().split())
    args = ["infer", "--bfile", str(tmp_path / "g"), "--method", "pca", "--n-pcs", "2", "--maf",
            "0.05", "--indep-pairwise", *form, "--out", str(tmp_path / "ours")]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    ours = set((tmp_path / "ours.prune.in").read_text().split())
    pruned = set((tmp_path / "ours.prune.out").read_text().split())
    assert len(pruned) > 10 and ours == theirs
    pytest.importorskip("bio2zarr", reason="the out-of-core half needs the scale extra")
    convert = ["convert", str(tmp_path / "g.bed"), "--out", str(tmp_path / "g.vcz"),
               "--variants-chunk-size", "37"]  # fmt: skip
    assert CliRunner().invoke(main, convert).exit_code == 0
    args = [str(tmp_path / "g.vcz") if a == "--bfile" else a for a in args]
    args = [a for a in args if a != str(tmp_path / "g")] + ["--out-of-core", "--force"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert set((tmp_path / "ours.prune.in").read_text().split()) == theirs
