"""PLINK's VCF sample-ID rules (--double-id, --const-fid, --id-delim) and .fam/.psam label files."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.ids import SampleIdRule
from ddvi_genomics.genotype.pipeline import read_input
from ddvi_genomics.genotype.readers.panel import read_panel
from tests.genotype.conftest import three_populations

NAMES = ["1_HG00096", "2_HG00097", "3_NA12878"]


def test_split__each_rule_by_hand():
    assert [a.tolist() for a in SampleIdRule(id_delim="_").split(NAMES)] == [
        ["1", "2", "3"],
        ["HG00096", "HG00097", "NA12878"],
    ]
    fid, iid = SampleIdRule(double_id=True).split(["A", "B"])
    assert fid.tolist() == iid.tolist() == ["A", "B"]
    fid, iid = SampleIdRule(const_fid="0").split(["A", "B"])
    assert fid.tolist() == ["0", "0"] and iid.tolist() == ["A", "B"]
    # a name without the delimiter falls back to --double-id when given
    fid, iid = SampleIdRule(double_id=True, id_delim="_").split(["F_I", "X"])
    assert fid.tolist() == ["F", "X"] and iid.tolist() == ["I", "X"]


@pytest.mark.parametrize(
    "rule, names, message",
    [
        (SampleIdRule(id_delim="_"), ["F_I", "X"], "sample 'X' has no '_'"),
        (SampleIdRule(id_delim="_"), ["A_B_C"], "sample 'A_B_C' does not split"),
        (SampleIdRule(id_delim="_"), ["_I"], "sample '_I' does not split"),
    ],
)
def test_split__bad_names_are_named(rule, names, message):
    with pytest.raises(InputError, match=message):
        rule.split(names, "x.vcf")


def test_rule__conflicting_or_bad_flags_are_refused():
    with pytest.raises(InputError, match="cannot be used together"):
        SampleIdRule(double_id=True, const_fid="0")
    with pytest.raises(InputError, match="one non-space character"):
        SampleIdRule(id_delim="__")


def write_vcf(path, names, n_variants=30, seed=0):
    dosage, _ = three_populations(n_per_pop=len(names) // 3, n_variants=n_variants, seed=seed)
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=1>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *names]
        ),
    ]
    gt = {0: "0/0", 1: "0/1", 2: "1/1"}
    for v in range(n_variants):
        calls = [gt[int(d)] for d in dosage[v]]
        lines.append(
            "\t".join(
                ["1", str(1000 * (v + 1)), f"rs{v}", "A", "G", ".", "PASS", ".", "GT", *calls]
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return dosage


def test_read_input__id_delim_then_keep_by_iid(tmp_path):
    names = [f"F{i}_S{i}" for i in range(6)]
    dosage = write_vcf(tmp_path / "x.vcf", names)
    (tmp_path / "keep.txt").write_text("F1 S1\nF4 S4\n")
    gm, _ = read_input(
        tmp_path / "x.vcf", samples_file=tmp_path / "keep.txt", id_rule=SampleIdRule(id_delim="_")
    )
    assert gm.sample_id.tolist() == ["S1", "S4"] and gm.sample_family.tolist() == ["F1", "F4"]
    np.testing.assert_array_equal(gm.dosage, dosage[:, [1, 4]])


def test_infer__id_delim_matches_a_panel_keyed_by_iid_and_writes_fid(tmp_path):
    names = [f"{i % 3}_S{i}" for i in range(30)]
    write_vcf(tmp_path / "x.vcf", names, n_variants=60)
    pops = ["A", "B", "C"]
    (tmp_path / "p.panel").write_text(
        "sample\tpop\n" + "".join(f"S{i}\t{pops[i // 10]}\n" for i in range(30))
    )
    args = ["infer", str(tmp_path / "x.vcf"), "--panel", str(tmp_path / "p.panel"),
            "--method", "pca", "--n-pcs", "3", "--all-contigs", "--out", str(tmp_path / "o")]  # fmt: skip
    result = CliRunner().invoke(main, [*args, "--id-delim"])
    assert result.exit_code == 0, result.output
    eigenvec = pd.read_csv(tmp_path / "o.eigenvec", sep="\t")
    assert eigenvec["#FID"].astype(str).tolist()[:3] == ["0", "1", "2"]
    assert eigenvec["IID"].tolist()[:2] == ["S0", "S1"]
    bad = CliRunner().invoke(main, [*args, "--id-delim", "-", "--force"])
    assert bad.exit_code == 2 and "sample '0_S0' has no '-'" in bad.output


@pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 is not installed (Debian plink2)"
)
@pytest.mark.parametrize(
    "flags, rule",
    [
        (["--id-delim", "_"], SampleIdRule(id_delim="_")),
        (["--double-id"], SampleIdRule(double_id=True)),
        (["--const-fid", "fam0"], SampleIdRule(const_fid="fam0")),
    ],
)
def test_split__equals_plink2_psam(tmp_path, flags, rule):
    names = ["1_HG00096", "2_HG00097", "3_NA12878"]
    write_vcf(tmp_path / "x.vcf", names, n_variants=5)
    subprocess.run(
        ["plink2", "--vcf", str(tmp_path / "x.vcf"), *flags, "--make-just-psam",
         "--out", str(tmp_path / "ref"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    psam = pd.read_csv(tmp_path / "ref.psam", sep="\t", dtype=str)
    fid, iid = rule.split(names)
    assert psam["IID"].tolist() == iid.tolist()
    assert psam["#FID"].tolist() == fid.tolist()


def test_read_panel__fam_gives_population_from_fid_and_psam_from_population(tmp_path):
    (tmp_path / "x.fam").write_text("GBR HG1 0 0 1 -9\nYRI HG2 0 0 2 -9\n")
    fam = read_panel(tmp_path / "x.fam")
    assert fam["population"].to_dict() == {"HG1": "GBR", "HG2": "YRI"}
    (tmp_path / "x.psam").write_text(
        "#FID\tIID\tSEX\tSuperPop\tPopulation\nf1\tHG1\t1\tEUR\tGBR\nf2\tHG2\t2\tAFR\tYRI\n"
    )
    psam = read_panel(tmp_path / "x.psam")
    assert psam["population"].to_dict() == {"HG1": "GBR", "HG2": "YRI"}
    assert psam["super_population"].to_dict() == {"HG1": "EUR", "HG2": "AFR"}
    (tmp_path / "y.psam").write_text("#IID\tSEX\nHG1\t1\n")
    with pytest.raises(InputError, match="no population column"):
        read_panel(tmp_path / "y.psam")


def test_panel_mismatch__hint_names_the_delimiter_that_would_match():
    from ddvi_genomics.genotype.mapping.ancestry_map import id_delimiter_hint

    names = [f"{i}_HG{i:05d}" for i in range(20)]
    panel = [f"HG{i:05d}" for i in range(20)]
    assert "--id-delim '_'" in id_delimiter_hint(names, panel)
    assert "matches 20 of 20" in id_delimiter_hint(names, panel)
    assert id_delimiter_hint(panel, panel) == ""  # already matching: no hint
    assert id_delimiter_hint([f"A_{i}" for i in range(20)], panel) == ""
