"""PLINK 2 .pgen input and several input files in one run."""

import shutil
import subprocess

import numpy as np
import pgenlib  # a core dependency: its absence is a broken install, not a skip
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers import read_genotypes
from ddvi_genomics.genotype.readers.plink import read_pgen, read_plink
from ddvi_genomics.genotype.readers.vcf import read_vcf
from tests.genotype.conftest import three_populations, write_vcf


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write_pgen_by_hand(prefix, allele_codes, pvar_rows, iids, fids=None):
    """Write a .pgen with pgenlib's writer from allele codes (n_variants, 2 n_samples)."""
    n_var = len(pvar_rows)
    with pgenlib.PgenWriter(
        bytes(f"{prefix}.pgen", "utf8"),
        len(iids),
        variant_ct=n_var,
        nonref_flags=False,
        allele_ct_limit=3,
    ) as writer:
        for codes, row in zip(allele_codes, pvar_rows):
            writer.append_alleles(
                np.asarray(codes, dtype=np.int32), allele_ct=row[4].count(",") + 2
            )
    lines = ["##fileformat=PVCFv1.0", "#CHROM\tPOS\tID\tREF\tALT"]
    lines += ["\t".join(map(str, row)) for row in pvar_rows]
    prefix.with_suffix(".pvar").write_text("\n".join(lines) + "\n")
    head = "#FID\tIID\tSEX" if fids is not None else "#IID\tSEX"
    body = [
        "\t".join(([fids[i]] if fids is not None else []) + [iid, "NA"])
        for i, iid in enumerate(iids)
    ]
    prefix.with_suffix(".psam").write_text("\n".join([head, *body]) + "\n")


def test_read_pgen__hand_written_calls_missing_and_multiallelic(tmp_path):
    # 3 samples; per variant, pairs of allele codes (0 = REF, 1 = ALT1, 2 = ALT2, -9 = missing)
    codes = [
        [0, 0, 0, 1, 1, 1],  # 0/0 0/1 1/1 -> 0 1 2
        [0, 1, -9, -9, 1, 1],  # 0/1 ./. 1/1 -> 1 -1 2
        [0, 2, 1, 2, 0, 0],  # 0/2 1/2 0/0 -> 1 2 0 (non-reference alleles, as for VCF)
    ]
    rows = [
        ("1", 100, "rs1", "A", "G"),
        ("1", 200, "rs2", "C", "T"),
        ("2L", 300, "rs3", "G", "A,T"),
    ]
    write_pgen_by_hand(tmp_path / "x", codes, rows, ["S1", "S2", "S3"], fids=["F1", "F1", "F2"])
    gm = read_pgen(tmp_path / "x.pgen")
    assert gm.dosage.tolist() == [[0, 1, 2], [1, -1, 2], [1, 2, 0]]
    assert gm.variant_contig.tolist() == ["1", "1", "2L"]
    assert gm.variant_position.tolist() == [100, 200, 300]
    assert gm.variant_alt.tolist() == ["G", "T", "A,T"]
    assert gm.sample_family.tolist() == ["F1", "F1", "F2"]
    # a prefix works too, and --keep order is the order asked for
    kept = read_genotypes(tmp_path / "x", samples=["S3", "S1"])
    assert kept.sample_id.tolist() == ["S3", "S1"]
    assert kept.dosage.tolist() == [[2, 0], [2, 1], [0, 1]]


def test_read_pgen__blocks_give_the_same_matrix(tmp_path):
    dosage, _ = three_populations(n_per_pop=7, n_variants=50, seed=2)
    dosage[3, 4] = -1
    pairs = np.stack([dosage >= 2, dosage >= 1], axis=2).astype(np.int32)  # 2 -> 1/1, 1 -> 0/1
    pairs[dosage < 0] = -9
    codes = pairs.reshape(len(dosage), -1)
    rows = [("1", 10 * (i + 1), f"v{i}", "A", "C") for i in range(50)]
    write_pgen_by_hand(tmp_path / "b", codes, rows, [f"S{i}" for i in range(21)])
    whole = read_pgen(tmp_path / "b")
    assert np.array_equal(whole.dosage, dosage)
    assert np.array_equal(read_pgen(tmp_path / "b", block=7).dosage, dosage)
    assert whole.sample_family is None


def test_read_pgen__missing_companion_file_is_one_line(tmp_path):
    write_pgen_by_hand(tmp_path / "m", [[0, 1]], [("1", 5, "a", "A", "G")], ["S1"])
    (tmp_path / "m.psam").unlink()
    with pytest.raises(InputError, match=r"m.psam does not exist \(need .pgen, .pvar and .psam\)"):
        read_pgen(tmp_path / "m.pgen")


NEEDS_PLINK2 = pytest.mark.skipif(
    shutil.which("plink2") is None,
    reason="plink2 (Debian package plink2, the oracle) is not on PATH; .ci/run installs it as root",
)


@NEEDS_PLINK2
def test_write_plink__a_site_without_alt_is_a_bim_plink2_reads(tmp_path):
    gm = read_vcf("tests/data/tiny.vcf")  # its last site has ALT "."
    gm = gm.subset(variants=np.array([("," not in alt) for alt in gm.variant_alt]))
    write_plink(gm, tmp_path / "t")  # (a .bim holds biallelic sites only)
    rows = [line.split("\t") for line in (tmp_path / "t.bim").read_text().splitlines()]
    assert {len(row) for row in rows} == {6} and rows[-1][4] == "."
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "t"), "--make-pgen", "--out", str(tmp_path / "q"),
         "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert np.array_equal(read_pgen(tmp_path / "q").dosage, read_plink(tmp_path / "t").dosage)


@NEEDS_PLINK2
def test_read_pgen__equals_the_bed_plink2_converted(tmp_path):
    dosage, _ = three_populations(n_per_pop=10, n_variants=120, seed=5)
    dosage[[2, 40], [3, 7]] = -1
    n = dosage.shape[1]
    gm = GenotypeMatrix(
        dosage, np.full(120, "1", object), np.arange(1, 121) * 1000,
        np.array([f"rs{i}" for i in range(120)], object), np.full(120, "A", object),
        np.full(120, "G", object), np.array([f"I{i}" for i in range(n)], object),
        sample_family=np.array([f"F{i}" for i in range(n)], object),
    )  # fmt: skip
    write_plink(gm, tmp_path / "p")
    subprocess.run(
        ["plink2", "--bfile", str(tmp_path / "p"), "--make-pgen", "--out", str(tmp_path / "q"),
         "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    bed, pgen = read_plink(tmp_path / "p"), read_pgen(tmp_path / "q")
    assert np.array_equal(pgen.dosage, bed.dosage)
    assert pgen.sample_id.tolist() == bed.sample_id.tolist()
    assert pgen.sample_family.tolist() == bed.sample_family.tolist()
    assert pgen.variant_ref.tolist() == bed.variant_ref.tolist()
    # and infer gives the same PCs from either file
    for name in ("p.bed", "q.pgen"):
        result = invoke("infer", tmp_path / name, "--out", tmp_path / f"out_{name[0]}",
                        "--method", "pca", "--n-pcs", 3)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert (tmp_path / "out_p.eigenvec").read_text() == (tmp_path / "out_q.eigenvec").read_text()


def test_several_vcfs__one_per_chromosome_equal_one_file(sim_files, tmp_path):
    dosage, ids = sim_files["dosage"], sim_files["ids"]
    write_vcf(tmp_path / "c1.vcf", dosage[:200], ids, contig="1")
    write_vcf(tmp_path / "c2.vcf", dosage[200:], ids, contig="2")
    both = tmp_path / "both.vcf"
    text1 = (tmp_path / "c1.vcf").read_text()
    text2 = (tmp_path / "c2.vcf").read_text().splitlines(keepends=True)
    header = text1.replace("##contig=<ID=1>\n", "##contig=<ID=1>\n##contig=<ID=2>\n")
    both.write_text(header + "".join(ln for ln in text2 if not ln.startswith("#")))
    assert read_vcf(both).n_variants == 400
    for out, inputs in (("split", ["c1.vcf", "c2.vcf"]), ("one", ["both.vcf"])):
        result = invoke("infer", *(tmp_path / f for f in inputs), "--out", tmp_path / out,
                        "--method", "pca", "--n-pcs", 3, "--min-maf", 0)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert (tmp_path / "split.eigenvec").read_text() == (tmp_path / "one.eigenvec").read_text()
    assert "2 files" in (tmp_path / "split.log").read_text()


def test_several_vcfs__different_samples_refused_naming_the_file(sim_files, tmp_path):
    dosage, ids = sim_files["dosage"], sim_files["ids"]
    write_vcf(tmp_path / "c1.vcf", dosage[:200], ids, contig="1")
    swapped = [ids[1], ids[0], *ids[2:]]
    write_vcf(tmp_path / "c2.vcf", dosage[200:], swapped, contig="2")
    result = invoke("infer", tmp_path / "c1.vcf", tmp_path / "c2.vcf", "--out", tmp_path / "o",
                    "--method", "pca")  # fmt: skip
    assert result.exit_code == 2
    assert "c2.vcf does not hold the samples of" in result.output
    assert f"sample 1 is {ids[1]!r}, not {ids[0]!r}" in result.output
