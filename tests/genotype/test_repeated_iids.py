"""IIDs that repeat in different families, as PLINK allows: samples keyed by (FID, IID).

The data: 60 samples in 20 families, each family's members named ``1``, ``2`` and ``3`` (a
common ``.fam`` layout for trios). The oracles are plink2's ``--pca``, ``--keep`` and
``--remove`` on the same ``.bed`` (skipped without plink2), the in-memory run for the
out-of-core one, and hand-built expectations for key matching.
"""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.mapping.ancestry_map import align_labels
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers.plink import read_plink
from ddvi_genomics.genotype.samples import (
    read_samples_file,
    sample_keys,
    sample_mask,
    select_samples,
)
from tests.genotype.conftest import three_populations, write_vcf

needs_plink2 = pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian package plink2)"
)
FAMILIES = np.repeat([f"fam{i}" for i in range(20)], 3).astype(object)
IIDS = np.array(["1", "2", "3"] * 20, object)


@pytest.fixture(scope="module")
def trios(tmp_path_factory):
    """``t.bed/.bim/.fam``: 60 samples of 3 populations, IIDs 1-3 in each of 20 families."""
    folder = tmp_path_factory.mktemp("repeated")
    dosage, _ = three_populations(n_per_pop=20, n_variants=400, seed=5)
    gm = GenotypeMatrix(
        dosage, np.full(400, "1", object), np.arange(1, 401) * 1000,
        np.array([f"rs{i}" for i in range(400)], object), np.full(400, "A", object),
        np.full(400, "G", object), IIDS.copy(), sample_family=FAMILIES.copy(),
    )  # fmt: skip
    write_plink(gm, folder / "t")
    return folder


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def plink2(*args):
    subprocess.run(["plink2", *map(str, args), "--threads", "1"], check=True, capture_output=True)


def by_pair(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"#FID": str, "IID": str}).set_index(["#FID", "IID"])


def assert_same_up_to_sign(ours, ref, tol=2e-5):
    assert sorted(ours.index) == sorted(ref.index)
    ours = ours.loc[ref.index]
    for column in [c for c in ref.columns if c.startswith("PC")]:
        a, b = ours[column].to_numpy(), ref[column].to_numpy()
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < tol, column


# keys and matching, against hand-built expectations


def test_sample_keys__iids_when_unique_pairs_when_repeated():
    assert sample_keys(["a", "b"], ["f", "g"]) == ["a", "b"]
    assert sample_keys(["1", "1"], ["f", "g"]) == ["f 1", "g 1"]
    assert sample_keys(["1", "2"], None) == ["1", "2"]


def test_select_samples__pairs_from_a_file_with_fids(tmp_path):
    (tmp_path / "k.txt").write_text("fam1 2\nfam0 1\nfam7 3\n")
    wanted = read_samples_file(tmp_path / "k.txt")
    assert wanted.pairs == {"fam1 2", "fam0 1", "fam7 3"}
    assert select_samples(list(IIDS), wanted, "k", list(FAMILIES)).tolist() == [0, 4, 23]
    # unique IIDs with FIDs in data and file: matched on both, as plink2 does
    (tmp_path / "ab.txt").write_text("x a\nz b\n")
    picked = select_samples(["a", "b"], read_samples_file(tmp_path / "ab.txt"), "k", ["x", "y"])
    assert picked.tolist() == [0]


def test_select_samples__iid_that_names_one_sample_or_several(tmp_path):
    iid, fam = ["1", "1", "2"], ["f", "g", "g"]
    assert select_samples(iid, ["2", "f 1"], "k", fam).tolist() == [2, 0]
    with pytest.raises(InputError, match="IID '1' names samples in families 'f', 'g'"):
        select_samples(iid, ["1"], "k", fam)
    assert sample_mask(iid, frozenset({"2", "g 1"}), "r", fam).tolist() == [False, True, True]


def test_select_samples__a_pair_twice_is_refused():
    with pytest.raises(InputError, match="duplicate sample ID 'f 1'.*within a family"):
        select_samples(["1", "1"], None, "x.fam", ["f", "f"])


def test_read_samples_file__same_iid_in_two_families_is_two_samples(tmp_path):
    (tmp_path / "k.txt").write_text("#FID\tIID\nf\t1\ng\t1\n")
    assert read_samples_file(tmp_path / "k.txt").pairs == {"f 1", "g 1"}
    (tmp_path / "twice.txt").write_text("f 1\nf 1\n")
    with pytest.raises(InputError, match="lists sample 'f 1' more than once"):
        read_samples_file(tmp_path / "twice.txt")


def test_align_labels__by_pair_with_a_fid_column__by_iid_where_unambiguous():
    panel = pd.DataFrame(
        {"population": ["A", "B", "C"], "family": ["f", "g", "g"]},
        index=pd.Index(["1", "1", "2"]),
    )
    aligned = align_labels(panel, np.array(["1", "2", "1"]), np.array(["g", "g", "f"]))
    assert aligned["population"].tolist() == ["B", "C", "A"]
    no_fid = pd.DataFrame({"population": ["X", "Y"]}, index=pd.Index(["2", "1"]))
    with pytest.raises(
        InputError, match="IID '1' names samples in families 'g', 'f'; give the panel a FID"
    ):
        align_labels(no_fid, np.array(["1", "2", "1"]), np.array(["g", "g", "f"]))
    aligned = align_labels(no_fid.iloc[:1], np.array(["1", "2", "1"]), np.array(["g", "g", "f"]))
    assert aligned["population"].tolist()[1] == "X"


# end to end against plink2


def test_read_plink__repeated_iids_accepted(trios):
    gm = read_plink(trios / "t")
    assert gm.sample_id.tolist() == IIDS.tolist()
    assert gm.sample_family.tolist() == FAMILIES.tolist()


@needs_plink2
def test_pca__equals_plink2_with_fid_and_iid(trios, tmp_path):
    plink2("--bfile", trios / "t", "--pca", 5, "--out", tmp_path / "ref")
    run("infer", trios / "t.bed", "--method", "pca", "--n-pcs", 5, "--out", tmp_path / "ours")
    ours = by_pair(tmp_path / "ours.eigenvec")
    assert len(ours) == 60 and ours.index.is_unique
    assert_same_up_to_sign(ours, by_pair(tmp_path / "ref.eigenvec"))
    scores = by_pair(tmp_path / "ours.pcscores")
    assert list(scores.index) == list(zip(FAMILIES, IIDS))


@needs_plink2
@pytest.mark.parametrize("flag", ["--keep", "--remove"])
def test_keep_and_remove_by_fid_and_iid__equal_plink2(trios, tmp_path, flag):
    chosen = [(f"fam{i}", iid) for i in range(0, 20, 2) for iid in ("1", "3")]
    (tmp_path / "ids.txt").write_text("".join(f"{f}\t{i}\n" for f, i in chosen))
    # plink2's PCA of under 50 samples needs its frequencies given: those of the same samples
    plink2("--bfile", trios / "t", flag, tmp_path / "ids.txt", "--freq", "--out", tmp_path / "f")
    plink2("--bfile", trios / "t", flag, tmp_path / "ids.txt", "--read-freq",
           tmp_path / "f.afreq", "--pca", 4, "--out", tmp_path / "ref")  # fmt: skip
    run("infer", trios / "t.bed", "--method", "pca", "--n-pcs", 4, flag, tmp_path / "ids.txt",
        "--out", tmp_path / "ours")  # fmt: skip
    ours, ref = by_pair(tmp_path / "ours.eigenvec"), by_pair(tmp_path / "ref.eigenvec")
    assert len(ours) == (20 if flag == "--keep" else 40)
    assert_same_up_to_sign(ours, ref)


def test_vcf_names_split_by_id_delim__the_same_samples_as_the_bed(trios, tmp_path):
    dosage, _ = three_populations(n_per_pop=20, n_variants=400, seed=5)  # the fixture's
    write_vcf(tmp_path / "t.vcf", dosage, [f"{f}_{i}" for f, i in zip(FAMILIES, IIDS)],
              positions=np.arange(1, 401) * 1000)  # fmt: skip
    for name, source, extra in (("bed", trios / "t.bed", []),
                                ("vcf", tmp_path / "t.vcf", ["--id-delim", "_"])):  # fmt: skip
        run("infer", source, *extra, "--method", "pca", "--n-pcs", 4, "--out", tmp_path / name)
    assert (tmp_path / "vcf.eigenvec").read_text() == (tmp_path / "bed.eigenvec").read_text()


def test_keep_by_iid_alone__one_line_naming_the_families(trios, tmp_path):
    (tmp_path / "ids.txt").write_text("2\n")
    result = CliRunner().invoke(main, ["infer", str(trios / "t.bed"), "--method", "pca",
                                       "--keep", str(tmp_path / "ids.txt"), "--out",
                                       str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "IID '2' names samples in families 'fam0', 'fam1', 'fam2'" in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_out_of_core__same_eigenvec_as_in_memory(trios, tmp_path):
    pytest.importorskip("bio2zarr", reason="stores need the scale extra (bio2zarr)")
    run("convert", trios / "t.bed", "--out", tmp_path / "t.vcz")
    (tmp_path / "keep.txt").write_text("".join(f"fam{i} 2\nfam{i} 3\n" for i in range(12)))
    for name, source, extra in (("mem", trios / "t.bed", []),
                                ("ooc", tmp_path / "t.vcz", ["--out-of-core"])):  # fmt: skip
        run("infer", source, *extra, "--method", "pca", "--n-pcs", 4,
            "--keep", tmp_path / "keep.txt", "--out", tmp_path / name)  # fmt: skip
    mem = (tmp_path / "mem.eigenvec").read_text()
    assert (tmp_path / "ooc.eigenvec").read_text() == mem
    assert mem.count("\n") == 1 + 24


def test_panel_by_pair__evaluate_and_project_keep_fids(trios, tmp_path):
    pops = np.repeat(["P0", "P1", "P2"], 20)
    (tmp_path / "panel.tsv").write_text("FID\tsample\tpop\tsuper_pop\n" + "".join(
        f"{f}\t{i}\t{p}\tS{p[-1]}\n" for f, i, p in zip(FAMILIES, IIDS, pops)))  # fmt: skip
    run("infer", trios / "t.bed", "--method", "pca", "--n-pcs", 4, "--panel",
        tmp_path / "panel.tsv", "--out", tmp_path / "m")  # fmt: skip
    table = by_pair(tmp_path / "m.embedding.tsv")
    assert table.loc[("fam19", "3"), "POP"] == "P2" and table.loc[("fam0", "1"), "POP"] == "P0"
    metrics = run("evaluate", tmp_path / "m.embedding.tsv", "--panel", tmp_path / "panel.tsv",
                  "--out", tmp_path / "metrics.json")  # fmt: skip
    assert metrics.exit_code == 0
    run("project", trios / "t.bed", "--model", tmp_path / "m.model.pt", "--out", tmp_path / "p")
    placed = by_pair(tmp_path / "p.embedding.tsv")
    assert list(placed.index) == list(zip(FAMILIES, IIDS))
    assert np.allclose(placed[["DIM1", "DIM2"]], table[["DIM1", "DIM2"]], atol=1e-5)
    assert list(by_pair(tmp_path / "p.pcscores").index) == list(zip(FAMILIES, IIDS))
    for name in ("m", "p"):  # the HTML maps name a sample by FID and IID
        assert '["fam7 2",' in (tmp_path / f"{name}.html").read_text()
