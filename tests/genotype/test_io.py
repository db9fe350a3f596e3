import gzip
import shutil

import numpy as np
import pytest

from ddvi_genomics.genotype.contigs import parse_region
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers import read_genotypes
from ddvi_genomics.genotype.readers.panel import read_panel
from ddvi_genomics.genotype.readers.plink import read_plink
from ddvi_genomics.genotype.readers.vcf import read_vcf

TINY = "tests/data/tiny.vcf"

# tests/data/tiny.vcf written out by hand: non-reference allele counts, -1 = missing
EXPECTED = np.array(
    [
        [0, 1, 2, -1],  # rs1 unphased, ./. missing
        [1, 1, 2, 0],  # rs2 phased
        [1, 1, 2, 0],  # rs3 multi-allelic G>A,C: 0/1, 0/2, 1/2, 0/0
        [0, 0, 0, 0],  # rs4 monomorphic
        [1, 0, 2, 0],  # rs5 indel A>AT
        [-1, 1, -1, 2],  # rs6 chr2: ./1 partial missing, .|. missing
        [1, 0, 1, 2],  # rs7 mixed phasing
        [1, 0, 0, 0],  # rs8 symbolic <DEL>
        [2, 0, 1, -1],  # rs9 chrX haploid 1, 0, diploid 0/1, haploid missing
        [0, 0, 0, 0],  # rs10 no ALT
    ],
    dtype=np.int8,
)


def test_read_vcf__hand_written_file_parses_to_the_expected_matrix():
    gm = read_vcf(TINY)
    np.testing.assert_array_equal(gm.dosage, EXPECTED)
    assert gm.dosage.dtype == np.int8
    assert list(gm.sample_id) == ["S1", "S2", "S3", "S4"]
    assert list(gm.variant_contig[:6]) == ["1"] * 5 + ["chr2"]
    assert list(gm.variant_position[:3]) == [100, 200, 300]
    assert list(gm.variant_alt[[2, 7, 9]]) == ["A,C", "<DEL>", ""]
    assert gm.n_haploid_calls == 2


def test_read_vcf__gzip_and_bcf_give_the_same_matrix(tmp_path):
    gz = tmp_path / "tiny.vcf.gz"
    with open(TINY, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    np.testing.assert_array_equal(read_vcf(gz).dosage, EXPECTED)
    cyvcf2 = pytest.importorskip("cyvcf2")
    bcf = tmp_path / "tiny.bcf"
    reader = cyvcf2.VCF(TINY)
    writer = cyvcf2.Writer(str(bcf), reader, mode="wb")
    for rec in reader:
        writer.write_record(rec)
    writer.close()
    np.testing.assert_array_equal(read_vcf(bcf).dosage, EXPECTED)


def test_read_vcf__region_and_samples():
    gm = read_vcf(TINY, region="2:200-400", samples=["S4", "S2"])  # chr prefix ignored
    assert list(gm.variant_id) == ["rs7", "rs8"]
    np.testing.assert_array_equal(gm.dosage, EXPECTED[[6, 7]][:, [3, 1]])
    assert read_vcf(TINY, region="1").n_variants == 5
    assert read_vcf(TINY, region="1:250").n_variants == 3


@pytest.mark.parametrize("region", ["1:300-200", "1:abc", ""])
def test_parse_region__bad_forms(region):
    with pytest.raises(InputError, match="bad --region"):
        parse_region(region)


def test_plink_round_trip_equals_vcf_matrix(tmp_path):
    gm = read_vcf(TINY)
    biallelic = np.array([a.count(",") == 0 and a != "" for a in gm.variant_alt])
    gm = gm.subset(variants=biallelic)
    write_plink(gm, tmp_path / "tiny")
    back = read_plink(tmp_path / "tiny")
    np.testing.assert_array_equal(back.dosage, gm.dosage)
    assert list(back.sample_id) == list(gm.sample_id)
    assert list(back.variant_ref) == list(gm.variant_ref)
    np.testing.assert_array_equal(
        read_genotypes(tmp_path / "tiny.bed", samples=["S3"]).dosage, gm.dosage[:, [2]]
    )


def test_read_vcf__bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_vcf(tmp_path / "nope.vcf")
    junk = tmp_path / "junk.vcf"
    junk.write_text("this is not a vcf\n")
    with pytest.raises(InputError, match="not a readable VCF|no FORMAT/GT"):
        read_vcf(junk)
    lines = open(TINY).read().splitlines()
    no_gt = tmp_path / "nogt.vcf"
    no_gt.write_text("\n".join(ln for ln in lines if "ID=GT" not in ln) + "\n")
    with pytest.raises(InputError, match="no FORMAT/GT"):
        read_vcf(no_gt)
    dup = tmp_path / "dup.vcf"
    dup.write_text(
        "\n".join(ln.replace("S4", "S1") if ln.startswith("#CHROM") else ln for ln in lines) + "\n"
    )
    with pytest.raises(InputError, match="duplicate sample ID 'S1'"):
        read_vcf(dup)
    with pytest.raises(InputError, match="not in the file, first 'S9'"):
        read_vcf(TINY, samples=["S1", "S9"])


def test_read_panel__1000_genomes_layout_and_csv(tmp_path):
    p = tmp_path / "panel.tsv"
    p.write_text("sample\tpop\tsuper_pop\tgender\nS1\tGBR\tEUR\tmale\nS2\tYRI\tAFR\tfemale\n")
    df = read_panel(p)
    assert df.loc["S2", "population"] == "YRI" and df.loc["S1", "super_population"] == "EUR"
    c = tmp_path / "labels.csv"
    c.write_text("iid,group\nS1,a\nS2,b\n")
    assert list(read_panel(c, id_col="iid", label_col="group")["population"]) == ["a", "b"]
    with pytest.raises(InputError, match="no column 'sample'"):
        read_panel(c)
