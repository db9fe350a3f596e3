"""PCA files in PLINK 2's exact semantics, checked against ``plink2 --pca`` (skips without plink2)."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers.plink import read_plink
from tests.genotype.conftest import three_populations

pytestmark = pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian package plink2)"
)


@pytest.fixture(scope="module")
def plink_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("plink")
    dosage, labels = three_populations(n_per_pop=50, n_variants=400, seed=4)
    n = dosage.shape[1]
    gm = GenotypeMatrix(
        dosage,
        np.full(400, "1", object),
        np.arange(1, 401) * 1000,
        np.array([f"rs{i}" for i in range(400)], object),
        np.full(400, "A", object),
        np.full(400, "G", object),
        np.array([f"I{i}" for i in range(n)], object),
        sample_family=np.array([f"F{i // 2}" for i in range(n)], object),
    )
    write_plink(gm, d / "p")
    subprocess.run(
        ["plink2", "--bfile", str(d / "p"), "--pca", "5", "--out", str(d / "ref"),
         "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    result = CliRunner().invoke(
        main,
        ["infer", str(d / "p.bed"), "--out", str(d / "ours"), "--method", "pca", "--n-pcs", "5"],
    )
    assert result.exit_code == 0, result.output
    return d


def test_read_plink__family_ids_round_trip(plink_set):
    gm = read_plink(plink_set / "p")
    assert gm.sample_family[:4].tolist() == ["F0", "F0", "F1", "F1"]
    assert gm.sample_id[:2].tolist() == ["I0", "I1"]


def test_eigenvec__same_layout_and_unit_eigenvectors_as_plink2(plink_set):
    ours = pd.read_csv(plink_set / "ours.eigenvec", sep="\t")
    ref = pd.read_csv(plink_set / "ref.eigenvec", sep="\t")
    assert (
        list(ours.columns)
        == list(ref.columns)
        == ["#FID", "IID", "PC1", "PC2", "PC3", "PC4", "PC5"]
    )
    assert (
        ours["IID"].tolist() == ref["IID"].tolist()
        and ours["#FID"].tolist() == ref["#FID"].tolist()
    )
    for k in range(1, 6):
        a, b = ours[f"PC{k}"].to_numpy(), ref[f"PC{k}"].to_numpy()
        sign = np.sign(a @ b)
        np.testing.assert_allclose(a, sign * b, atol=2e-4, err_msg=f"PC{k}")
        assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-3)  # unit vectors, not scores


def test_eigenval__equals_plink2(plink_set):
    ours = np.loadtxt(plink_set / "ours.eigenval")
    ref = np.loadtxt(plink_set / "ref.eigenval")
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_evaluate__reads_plink2_files(plink_set):
    panel = plink_set / "p.panel"
    ids = pd.read_csv(plink_set / "ref.eigenvec", sep="\t")["IID"]
    panel.write_text("sample\tpop\n" + "".join(f"{s}\tP{i // 50}\n" for i, s in enumerate(ids)))
    common = ["evaluate", str(plink_set / "ours.embedding.tsv"), "--panel", str(panel)]
    with_ref = CliRunner().invoke(main, [*common, "--eigenvec", str(plink_set / "ref.eigenvec")])
    with_ours = CliRunner().invoke(main, [*common, "--eigenvec", str(plink_set / "ours.eigenvec")])
    assert with_ref.exit_code == 0 and with_ours.exit_code == 0, with_ref.output
    import json

    a, b = json.loads(with_ref.output), json.loads(with_ours.output)
    # PLINK's and our files describe the same PC space: the same geometry metrics
    for key in ("trustworthiness_k10", "continuity_k10", "distance_spearman"):
        assert a[key] == pytest.approx(b[key], abs=1e-3), key


def test_plink_named_filters__keep_remove_extract_exclude_and_aliases(plink_set, tmp_path):
    (tmp_path / "keep.txt").write_text(  # lines in reverse: PLINK keeps the input's order
        "#FID\tIID\n"
        + "".join(f"F{i // 2}\tI{i}\n" for i in reversed(range(60)))
        + "F99\tABSENT\n"  # skipped by both tools
    )
    (tmp_path / "remove.txt").write_text("F0\tI0\nF0\tI1\n")  # FID IID, as plink2 reads it
    (tmp_path / "extract.txt").write_text("".join(f"rs{i}\n" for i in range(300)))
    (tmp_path / "exclude.txt").write_text("rs0\nrs1\nrs2\n")
    result = CliRunner().invoke(
        main,
        ["infer", str(plink_set / "p.bed"), "--out", str(tmp_path / "o"), "--method", "pca",
         "--keep", str(tmp_path / "keep.txt"), "--remove", str(tmp_path / "remove.txt"),
         "--extract", str(tmp_path / "extract.txt"), "--exclude", str(tmp_path / "exclude.txt"),
         "--maf", "0.05", "--geno", "0.2", "--mind", "0.5", "--n-pcs", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    log = (tmp_path / "o.log").read_text()
    assert "QC input: 400 variants x 58 samples" in log  # 60 kept, 2 removed
    assert "not in --extract: removed 100" in log and "in --exclude: removed 3" in log
    assert '"extract": "300 variant IDs"' in log and "rs299" not in log  # sizes, not lists
    eigenvec = pd.read_csv(tmp_path / "o.eigenvec", sep="\t")
    assert eigenvec["IID"].tolist() == [f"I{i}" for i in range(2, 60)]
    # oracle: plink2 with the same sample and variant filters keeps the same variants
    subprocess.run(
        ["plink2", "--bfile", str(plink_set / "p"), "--keep", str(tmp_path / "keep.txt"),
         "--remove", str(tmp_path / "remove.txt"), "--extract", str(tmp_path / "extract.txt"),
         "--exclude", str(tmp_path / "exclude.txt"), "--maf", "0.05", "--geno", "0.2",
         "--write-snplist", "--write-samples", "--out", str(tmp_path / "ref"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    kept = (tmp_path / "ref.snplist").read_text().split()
    assert f"QC output: {len(kept)} variants x 58 samples" in log
    plink_order = [line.split()[-1] for line in (tmp_path / "ref.id").read_text().splitlines()[1:]]
    assert eigenvec["IID"].tolist() == plink_order


def test_allele_weights_and_afreq__equal_plink2_and_project_with_plink_score(plink_set, tmp_path):
    subprocess.run(
        ["plink2", "--bfile", str(plink_set / "p"), "--freq", "--pca", "5", "allele-wts",
         "--out", str(tmp_path / "ref"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    ours = pd.read_csv(plink_set / "ours.eigenvec.allele", sep="\t")
    ref = pd.read_csv(tmp_path / "ref.eigenvec.allele", sep="\t")
    assert list(ours.columns) == list(ref.columns)
    assert ours[["ID", "A1"]].equals(ref[["ID", "A1"]])
    for k in range(1, 6):
        a, b = ours[f"PC{k}"].to_numpy(), ref[f"PC{k}"].to_numpy()
        np.testing.assert_allclose(a, np.sign(a @ b) * b, atol=2e-4, rtol=1e-3, err_msg=f"PC{k}")
    freq, ref_freq = (
        pd.read_csv(f, sep="\t") for f in (plink_set / "ours.afreq", tmp_path / "ref.afreq")
    )
    assert freq["OBS_CT"].tolist() == ref_freq["OBS_CT"].tolist()
    np.testing.assert_allclose(freq["ALT_FREQS"], ref_freq["ALT_FREQS"], atol=1e-5)
    # a PLINK user projects with PLINK: the scores are our PC scores up to one constant
    subprocess.run(
        ["plink2", "--bfile", str(plink_set / "p"), "--read-freq", str(plink_set / "ours.afreq"),
         "--score", str(plink_set / "ours.eigenvec.allele"), "2", "5", "header-read",
         "no-mean-imputation", "variance-standardize", "--score-col-nums", "6-10",
         "--out", str(tmp_path / "proj"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    scores = pd.read_csv(tmp_path / "proj.sscore", sep="\t")
    vectors = pd.read_csv(plink_set / "ours.eigenvec", sep="\t")
    for k in range(1, 6):
        col = next(c for c in scores.columns if c.startswith(f"PC{k}_"))
        r = np.corrcoef(scores[col], vectors[f"PC{k}"])[0, 1]
        assert r > 0.99999, (k, r)


def test_pcscores__are_eigenvectors_times_singular_values(plink_set):
    scores = pd.read_csv(plink_set / "ours.pcscores", sep="\t")
    vectors = pd.read_csv(plink_set / "ours.eigenvec", sep="\t")
    lam = np.loadtxt(plink_set / "ours.eigenval")
    # s_k = sqrt(2 M lambda_k) with PLINK's eigenvalues lambda_k (M = 400 variants)
    for k in range(1, 6):
        expected = vectors[f"PC{k}"] * np.sqrt(2 * 400 * lam[k - 1])
        np.testing.assert_allclose(scores[f"PC{k}"], expected, rtol=1e-3, atol=1e-3)


def test_chr__plink_human_codes_name_the_same_contigs_as_plink2(tmp_path):
    """Oracle: plink2 --chr on a .bim that mixes PLINK's numeric codes and names (23 and X,
    26 and MT, chrM), keeping the same variant IDs."""
    from ddvi_genomics.genotype.qc.sites import is_in_contigs, parse_contig_list

    contig = np.array(["1"] * 8 + ["23"] * 6 + ["X"] * 4 + ["24"] * 3 + ["25"] * 3 + ["26"] * 3
                      + ["MT"] * 3 + ["chrM"] * 2, dtype=object)  # fmt: skip
    n_var, n = len(contig), 30
    gm = GenotypeMatrix(
        np.random.default_rng(0).integers(0, 3, (n_var, n)).astype(np.int8), contig,
        np.arange(1, n_var + 1) * 1000, np.array([f"v{i}" for i in range(n_var)], object),
        np.full(n_var, "A", object), np.full(n_var, "G", object),
        np.array([f"S{i}" for i in range(n)], object),
    )  # fmt: skip
    write_plink(gm, tmp_path / "codes")
    for spec in ("X", "23", "chrX", "Y", "XY", "MT", "26", "1,X,MT"):
        subprocess.run(
            ["plink2", "--bfile", str(tmp_path / "codes"), "--chr", spec, "--write-snplist",
             "--out", str(tmp_path / "ref"), "--threads", "1"],
            check=True, capture_output=True,
        )  # fmt: skip
        expected = (tmp_path / "ref.snplist").read_text().split()
        ours = gm.variant_id[is_in_contigs(contig, parse_contig_list(spec))].tolist()
        assert ours == expected, spec


def test_extract_and_exclude_range__keep_the_variants_plink2_bed1_keeps(tmp_path):
    """Oracle: plink2 --extract/--exclude bed1 (1-based, both ends included) on the same file.
    The ranges touch variants at both ends, overlap, nest, name a contig by code and by
    chr-name, and one names a contig the data lack."""
    from ddvi_genomics.genotype.ranges import read_ranges

    rng = np.random.default_rng(1)
    contig = np.array(["1"] * 40 + ["2"] * 30 + ["23"] * 20, dtype=object)
    position = np.concatenate([np.sort(rng.choice(10_000, n, replace=False)) + 1
                               for n in (40, 30, 20)])  # fmt: skip
    n_var, n = len(contig), 20
    gm = GenotypeMatrix(
        rng.integers(0, 3, (n_var, n)).astype(np.int8), contig, position,
        np.array([f"v{i}" for i in range(n_var)], object), np.full(n_var, "A", object),
        np.full(n_var, "G", object), np.array([f"S{i}" for i in range(n)], object),
    )  # fmt: skip
    write_plink(gm, tmp_path / "g")
    p1, p2 = int(position[5]), int(position[12])  # range ends exactly on variants
    q1, q2 = int(position[45]), int(position[50])
    (tmp_path / "ranges.txt").write_text(
        f"1\t{p1}\t{p2}\tends-on-variants\n"
        f"2\t{q1}\t{q2}\tends-on-variants-alone\n"
        f"chr1\t{p2 - 50}\t{p2 + 3000}\toverlapping\n"
        f"1\t{p1 + 1}\t{p1 + 2}\tnested\n"
        "# a comment line\n"
        "chrX\t2000\t6000\tX-as-23\n"
        "7\t1\t100000\tabsent-contig\n"
    )
    ranges = read_ranges(tmp_path / "ranges.txt")
    inside = ranges.contains(contig, position)
    for mode, ours in (("extract", inside), ("exclude", ~inside)):
        subprocess.run(
            ["plink2", "--bfile", str(tmp_path / "g"), f"--{mode}", "bed1",
             str(tmp_path / "ranges.txt"), "--write-snplist", "--out", str(tmp_path / mode),
             "--threads", "1"],
            check=True, capture_output=True,
        )  # fmt: skip
        expected = (tmp_path / f"{mode}.snplist").read_text().split()
        assert gm.variant_id[ours].tolist() == expected, mode
        result = CliRunner().invoke(main, [
            "infer", str(tmp_path / "g.bed"), "--out", str(tmp_path / f"ours-{mode}"),
            f"--{mode}-range", str(tmp_path / "ranges.txt"), "--all-contigs", "--maf", "0",
            "--method", "pca", "--n-pcs", "2",
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert (
            f"QC output: {len(expected)} variants" in (tmp_path / f"ours-{mode}.log").read_text()
        )
    assert 0 < inside.sum() < n_var
