"""Founders only, as plink2: allele frequencies, MAF, HWE, LD and the PCA's scaling.

A ``.fam`` with parents: plink2 computes frequencies over founders (both parent IDs ``0``) and
the PCA over every sample with those frequencies. The oracles are plink2's ``--freq``,
``--hardy``-based ``--hwe``, ``--indep-pairwise`` and ``--pca`` with and without
``--nonfounders`` (skips without plink2); the out-of-core run on the converted store must give
the same files, with the FIDs kept.
"""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers.plink import founder_mask, read_plink
from tests.genotype.conftest import three_populations

pytestmark = pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian package plink2)"
)


@pytest.fixture(scope="module")
def trios(tmp_path_factory):
    """90 parents and 30 children (the child's genotypes: one allele from each parent)."""
    folder = tmp_path_factory.mktemp("trios")
    rng = np.random.default_rng(11)
    parents, _ = three_populations(n_per_pop=30, n_variants=500, seed=12)
    father, mother = parents[:, 0:60:2], parents[:, 1:60:2]
    transmitted = [(g == 2) | ((g == 1) & (rng.random(g.shape) < 0.5)) for g in (father, mother)]
    children = (transmitted[0].astype(np.int8) + transmitted[1]).astype(np.int8)
    dosage = np.concatenate([parents, children], axis=1)
    n = dosage.shape[1]
    ids = np.array([f"I{i}" for i in range(n)], object)
    family = np.array([f"F{i // 2}" if i < 60 else f"U{i}" for i in range(n)], object)
    family[90:] = family[0:60:2]
    gm = GenotypeMatrix(
        dosage, np.full(500, "1", object), np.arange(1, 501) * 1000,
        np.array([f"rs{i}" for i in range(500)], object), np.full(500, "A", object),
        np.full(500, "G", object), ids, sample_family=family,
    )  # fmt: skip
    write_plink(gm, folder / "t")
    fam = [line.split() for line in (folder / "t.fam").read_text().splitlines()]
    for child in range(30):
        fam[90 + child][2], fam[90 + child][3] = f"I{2 * child}", f"I{2 * child + 1}"
    (folder / "t.fam").write_text("".join(" ".join(row) + "\n" for row in fam))
    return folder


def plink2(*args):
    subprocess.run(["plink2", *map(str, args), "--threads", "1"], check=True, capture_output=True)


def infer(*args):
    result = CliRunner().invoke(main, ["infer", *map(str, args), "--method", "pca", "--force"])
    assert result.exit_code == 0, result.output
    return result


def eigenvectors(path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t")
    return table.set_index(["#FID", "IID"])


def assert_same_up_to_sign(ours, ref, tol=2e-5):
    ours = ours.loc[ref.index]
    for column in ref.columns:
        a, b = ours[column].to_numpy(), ref[column].to_numpy()
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < tol, column


def test_founder_mask__both_parents_zero():
    assert founder_mask(["0", "A", "0", None], ["0", "0", "B", None]).tolist() == [
        True, False, False, True,
    ]  # fmt: skip


@pytest.mark.parametrize("nonfounders", [False, True], ids=["founders", "nonfounders"])
def test_qc_and_pca__equal_plink2_with_and_without_nonfounders(trios, tmp_path, nonfounders):
    flag = ["--nonfounders"] if nonfounders else []
    filters = ["--maf", 0.05, "--hwe", 0.01]
    plink2("--bfile", trios / "t", *filters, "--indep-pairwise", 50, 5, 0.3, *flag,
           "--out", tmp_path / "ref")  # fmt: skip
    plink2("--bfile", trios / "t", *filters, "--extract", tmp_path / "ref.prune.in", "--pca", 5,
           "--freq", *flag, "--out", tmp_path / "ref")  # fmt: skip
    infer(trios / "t.bed", "--out", tmp_path / "ours", "--n-pcs", 5, *filters,
          "--ld-prune", 50, 5, 0.3, *flag)  # fmt: skip
    assert sorted((tmp_path / "ours.prune.in").read_text().split()) == sorted(
        (tmp_path / "ref.prune.in").read_text().split()
    )
    ours_freq = pd.read_csv(tmp_path / "ours.afreq", sep="\t").set_index("ID")
    ref_freq = pd.read_csv(tmp_path / "ref.afreq", sep="\t").set_index("ID").loc[ours_freq.index]
    assert np.allclose(ours_freq["ALT_FREQS"], ref_freq["ALT_FREQS"], atol=1e-6)
    assert (ours_freq["OBS_CT"] == ref_freq["OBS_CT"]).all()
    assert (ours_freq["OBS_CT"] == (240 if nonfounders else 180)).all()
    assert_same_up_to_sign(eigenvectors(tmp_path / "ours.eigenvec"),
                           eigenvectors(tmp_path / "ref.eigenvec"))  # fmt: skip
    log = (tmp_path / "ours.log").read_text()
    assert ("over the 90 founders of 120 samples" in log) != nonfounders


def test_founders_differ_from_everyone__the_oracle_can_tell(trios, tmp_path):
    plink2("--bfile", trios / "t", "--pca", 5, "--out", tmp_path / "f")
    plink2("--bfile", trios / "t", "--pca", 5, "--nonfounders", "--out", tmp_path / "n")
    a, b = eigenvectors(tmp_path / "f.eigenvec"), eigenvectors(tmp_path / "n.eigenvec")
    assert np.abs(np.abs(a["PC3"]) - np.abs(b["PC3"])).max() > 1e-4


def test_out_of_core__same_files_with_fids_from_the_store(trios, tmp_path):
    pytest.importorskip("bio2zarr", reason="stores need the scale extra (bio2zarr)")
    result = CliRunner().invoke(main, ["convert", str(trios / "t.bed"), "--out",
                                       str(tmp_path / "t.vcz")])  # fmt: skip
    assert result.exit_code == 0, result.output
    filters = ["--n-pcs", 5, "--maf", 0.05, "--hwe", 0.01, "--ld-prune", 50, 5, 0.3]
    infer(trios / "t.bed", "--out", tmp_path / "mem", *filters)
    infer(tmp_path / "t.vcz", "--out-of-core", "--out", tmp_path / "ooc", *filters)
    for suffix in (".eigenvec", ".eigenval", ".afreq", ".prune.in"):
        assert (tmp_path / f"ooc{suffix}").read_text() == (tmp_path / f"mem{suffix}").read_text()
    assert (tmp_path / "ooc.eigenvec").read_text().startswith("#FID\tIID\t")
    (tmp_path / "pheno.txt").write_text("#FID\tIID\tY\n" + "".join(
        f"{f}\t{i}\t{k % 2 + 1}\n" for k, (f, i) in
        enumerate(eigenvectors(tmp_path / "ooc.eigenvec").index)))  # fmt: skip
    plink2("--bfile", trios / "t", "--pheno", tmp_path / "pheno.txt", "--covar",
           tmp_path / "ooc.eigenvec", "--glm", "hide-covar", "--out", tmp_path / "glm")  # fmt: skip
    assert "5 covariates loaded" in (tmp_path / "glm.log").read_text()


def test_read_plink__founders_kept_through_subsets(trios):
    gm = read_plink(trios / "t")
    assert gm.sample_founder.sum() == 90 and len(gm.founders) == 90
    assert gm.subset(samples=np.arange(85, 95)).sample_founder.tolist() == [True] * 5 + [False] * 5
