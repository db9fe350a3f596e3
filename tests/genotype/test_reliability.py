"""Bad input, faults and adversarial files: one line, exit code 2, nothing half-written.

A run that fails after claiming its prefix leaves exactly one file, ``PREFIX.log``, which ends
with the error and ``status: failed``; a run refused before that leaves nothing.

One test per failure class of the reliability review, on inputs the tests write themselves.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.outputs.files import OutputSet
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers.plink import read_plink
from ddvi_genomics.genotype.readers.vcf import read_vcf
from tests.genotype.conftest import HEADER, three_populations, write_vcf


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *patterns):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    for pattern in patterns:
        assert pattern in result.output, (pattern, result.output)


def assert_only_failure_log(folder, prefix, *patterns):
    """The failed run left only PREFIX.log, ending with its error and ``status: failed``."""
    assert sorted(p.name for p in folder.glob(f"{prefix}.*")) == [f"{prefix}.log"]
    lines = (folder / f"{prefix}.log").read_text().splitlines()
    assert lines[-1] == "status: failed"
    error = next(ln for ln in lines if ln.startswith("error: "))
    for pattern in patterns:
        assert pattern in error, (pattern, error)


def vcf_with(tmp_path, body, name="x.vcf"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def infer_pca(vcf, out, *extra):
    return invoke("infer", vcf, "--out", out, "--method", "pca", "--min-maf", 0, *extra)


# -- silent misreads become errors -----------------------------------------------------------------


def test_gt_allele_beyond_alt__names_file_record_and_sample(tmp_path):
    vcf = vcf_with(tmp_path, "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t2/3\t0/0\n")
    with pytest.raises(InputError, match=r"x.vcf: record 1:100, sample 'S2': an allele index"):
        read_vcf(vcf)
    assert_one_line_error(infer_pca(vcf, tmp_path / "o"), "x.vcf", "1:100", "S2")
    assert_only_failure_log(tmp_path, "o", "x.vcf", "1:100", "S2")


def test_triploid_call__refused(tmp_path):
    vcf = vcf_with(tmp_path, "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/1/1\t0/0\n")
    with pytest.raises(InputError, match=r"sample 'S2': a call of ploidy > 2"):
        read_vcf(vcf)


@pytest.mark.parametrize("samples", [["S2"], ["S3", "S2"], ["S1", "S2"]])
def test_bad_call_in_a_sample_subset__names_that_sample(tmp_path, samples):
    """Reading a subset, the message names the sample of the bad call, not the subset's c-th."""
    vcf = vcf_with(tmp_path, "1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/1/1\t0/0\n")
    with pytest.raises(InputError, match=r"sample 'S2': a call of ploidy > 2"):
        read_vcf(vcf, samples=samples)


def test_multiallelic_site__index_2_is_allowed(tmp_path):
    vcf = vcf_with(tmp_path, "1\t100\t.\tA\tG,C\t.\t.\t.\tGT\t0/2\t1/2\t0/0\n")
    assert read_vcf(vcf).dosage.tolist() == [[1, 2, 0]]  # non-reference allele counts


@pytest.mark.parametrize(
    "body, what",
    [
        ("1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/1\n", "a row with a missing column"),
        ("1\tabc\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/1\t0/0\n", "a non-numeric POS"),
        ("1\t100\t.\tA\tG\t.\t.\t.\tGT\tA/C\t0/1\t0/0\n", "GT A/C"),
        ("1\t100\t.\tA\tG\t.\t.\t.\n", "a row without GT"),
    ],
)
def test_malformed_record__one_line_naming_the_file(tmp_path, body, what):
    good = "1\t50\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\n"
    vcf = vcf_with(tmp_path, good + body)
    result = infer_pca(vcf, tmp_path / "o")
    assert_one_line_error(result, "x.vcf", "record 2")
    assert_only_failure_log(tmp_path, "o", "x.vcf", "record 2")


@pytest.mark.parametrize(
    "fmt, call", [("GT", "0/1"), ("GT:DP", "0/1:7")], ids=["fast-text-path", "htslib-path"]
)
def test_negative_pos__one_line_naming_the_record(tmp_path, fmt, call):
    """plink2 refuses it too ("Invalid POS"); a silent -5 would sort before every site."""
    body = (
        f"1\t50\t.\tA\tG\t.\t.\t.\t{fmt}\t{call}\t{call}\t{call}\n"
        f"1\t-5\t.\tA\tG\t.\t.\t.\t{fmt}\t{call}\t{call}\t{call}\n"
    )
    vcf = vcf_with(tmp_path, body)
    result = infer_pca(vcf, tmp_path / "o")
    assert_one_line_error(result, "x.vcf", "(record 2)")
    assert_only_failure_log(tmp_path, "o", "x.vcf", "(record 2)")


def test_truncated_gzip__one_line(tmp_path):
    dosage, _ = three_populations(n_per_pop=5, n_variants=300)
    write_vcf(tmp_path / "full.vcf", dosage, [f"S{i}" for i in range(15)])
    data = gzip.compress((tmp_path / "full.vcf").read_bytes())
    (tmp_path / "cut.vcf.gz").write_bytes(data[: len(data) // 2])
    assert_one_line_error(infer_pca(tmp_path / "cut.vcf.gz", tmp_path / "o"), "cut.vcf.gz")
    assert_only_failure_log(tmp_path, "o", "cut.vcf.gz")


def test_plink_same_fid_and_iid_twice__one_line(tmp_path):
    from ddvi_genomics.genotype.matrix import GenotypeMatrix

    # an IID may repeat in different families (tests/genotype/test_repeated_iids.py); the same
    # (FID, IID) twice is one sample listed twice, which plink2 refuses too
    dosage, _ = three_populations(n_per_pop=5, n_variants=200)
    gm = GenotypeMatrix(
        dosage, np.full(200, "1", object), np.arange(1, 201) * 1000,
        np.array([f"rs{i}" for i in range(200)], object), np.full(200, "A", object),
        np.full(200, "G", object), np.array(["1", "2", "3"] * 5, object),
        sample_family=np.array(["fam0"] * 4 + [f"fam{i}" for i in range(11)], object),
    )  # fmt: skip
    write_plink(gm, tmp_path / "trios")
    result = infer_pca(tmp_path / "trios.bed", tmp_path / "o")
    assert_one_line_error(result, "trios.fam: duplicate sample ID 'fam0 1'", "within a family")


def test_plink_fam_row_too_many_or_too_few(tmp_path):
    from ddvi_genomics.genotype.matrix import GenotypeMatrix

    # 10 samples fill 3 bytes per variant with 2 padding slots: one .fam row more or less keeps
    # the byte count, so only the padding can tell
    dosage = np.random.default_rng(0).binomial(2, 0.4, size=(40, 10)).astype(np.int8)
    ids = np.array([f"S{i}" for i in range(10)], dtype=object)
    gm = GenotypeMatrix(
        dosage, np.full(40, "1", object), np.arange(1, 41) * 100, np.full(40, ".", object),
        np.full(40, "A", object), np.full(40, "G", object), ids,
    )  # fmt: skip
    write_plink(gm, tmp_path / "p")
    assert np.array_equal(read_plink(tmp_path / "p").dosage, dosage)
    fam = (tmp_path / "p.fam").read_text()
    (tmp_path / "p.fam").write_text(fam + "S10\tS10\t0\t0\t0\t-9\n")
    with pytest.raises(InputError, match="extra row"):
        read_plink(tmp_path / "p")
    (tmp_path / "p.fam").write_text("".join(fam.splitlines(keepends=True)[:9]))
    with pytest.raises(InputError, match="seems to lack rows"):
        read_plink(tmp_path / "p")
    (tmp_path / "p.fam").write_text(fam)
    bim = (tmp_path / "p.bim").read_text().splitlines(keepends=True)
    bim[3] = "\t".join(bim[3].split("\t")[:5]) + "\n"
    (tmp_path / "p.bim").write_text("".join(bim))
    assert_one_line_error(
        infer_pca(tmp_path / "p.bed", tmp_path / "o"), "p.bim, line 4: 5 columns"
    )


def test_duplicate_sites_dropped_and_counted_and_unsorted_input_sorted_for_thinning(tmp_path):
    body = "".join(
        f"1\t{pos}\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\n" for pos in (300, 100, 100, 200, 450)
    )
    vcf = vcf_with(tmp_path, body)
    result = infer_pca(vcf, tmp_path / "o", "--bp-space", 150, "--n-pcs", 2)
    assert result.exit_code == 0, result.output
    log = (tmp_path / "o.log").read_text()
    assert "duplicate site (same contig, position and alleles; first kept): removed 1" in log
    assert "input not sorted: sorted by contig and position" in log
    # oracle: on sorted positions 100, 200, 300, 450, thinning at 150 bp keeps 100, 300, 450
    assert "thinned to >= 150 bp apart: removed 1" in log


def test_repeated_ids_in_samples_file(tmp_path, sim_files):
    keep = tmp_path / "keep.txt"
    keep.write_text("POPA_0\nPOPA_1\nPOPA_0\n")
    result = infer_pca(sim_files["vcf"], tmp_path / "o", "--samples", keep)
    assert_one_line_error(result, "keep.txt", "'POPA_0' more than once")


# -- every option range at the boundary ------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--min-maf", 0.7], "'--min-maf': 0.7 is not in the range 0<=x<=0.5"),
        (["--maf", 0.7], "'--maf': 0.7 is not in the range 0<=x<=0.5"),
        (["--geno", 2], "'--geno': 2.0 is not in the range 0<=x<=1"),
        (["--mind", -0.1], "'--mind': -0.1 is not in the range 0<=x<=1"),
        (["--bp-space", 0], "'--bp-space': 0 is not in the range x>=1"),
        (["--thin", 0], "--thin keeps each variant with probability P in (0, 1]"),
        (["--ld-prune", 1, 1, 0.2], "--ld-prune WINDOW must be an integer >= 2"),
        (["--ld-prune", 50, 5, 1.5], "'--ld-prune': 1.5 is not in the range 0<=x<=1"),
        (["--n-pcs", -3], "'--n-pcs': -3 is not in the range x>=1"),
        (["--n-pcs", 0], "'--n-pcs': 0 is not in the range x>=1"),
        (["--threads", -1], "--threads must be 'auto' or an integer in [1, "),
        (["--threads", 10000], "--threads must be 'auto' or an integer in [1, "),
        (["--epochs", 0], "'--epochs': 0 is not in the range x>=1"),
        (["--method", "nope"], "'--method': 'nope' is not one of"),
        (["--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_option_out_of_range__one_line_before_any_work(flags, message, sim_files, tmp_path):
    with mock.patch("ddvi_genomics.genotype.pipeline.read_genotypes") as read:
        result = invoke("infer", sim_files["vcf"], "--out", tmp_path / "o", *flags)
    assert_one_line_error(result, message, "infer --help')" if "'--" in message or "No such"
                          in message else "")  # fmt: skip
    read.assert_not_called()
    assert not list(tmp_path.iterdir())


def test_min_overlap_out_of_range(tmp_path):
    result = invoke("project", "tests/data/tiny.vcf", "--model", "m.pt", "--out", tmp_path / "p",
                    "--min-overlap", 1.5)  # fmt: skip
    assert_one_line_error(result, "'--min-overlap': 1.5 is not in the range 0<=x<=1")


def test_unwritable_output_folder__refused_before_reading(sim_files, tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(
        "ddvi_genomics.genotype.outputs.files.os.access",
        lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode),
    )
    with mock.patch("ddvi_genomics.genotype.pipeline.read_genotypes") as read:
        result = infer_pca(sim_files["vcf"], tmp_path / "o")
    assert_one_line_error(result, f"output folder {tmp_path} is not writable")
    read.assert_not_called()
    assert_one_line_error(infer_pca(sim_files["vcf"], tmp_path / "no" / "o"), "does not exist")


# -- the output set stays whole ------------------------------------------------------------------


def test_force_rerun_removes_outputs_the_new_run_does_not_write(sim_files, tmp_path):
    assert (
        infer_pca(sim_files["vcf"], tmp_path / "o", "--panel", sim_files["panel"]).exit_code == 0
    )
    assert json.loads((tmp_path / "o.metrics.json").read_text())["method"] == "pca"
    assert infer_pca(sim_files["vcf"], tmp_path / "o", "--force").exit_code == 0
    assert not (tmp_path / "o.metrics.json").exists()  # no panel, no metrics: none stale
    assert "POP" not in (tmp_path / "o.embedding.tsv").read_text().splitlines()[0]


def test_lock__a_live_run_blocks_the_prefix_a_dead_one_does_not(sim_files, tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "o.lock").write_text(f"{sleeper.pid}\n")
        assert_one_line_error(infer_pca(sim_files["vcf"], tmp_path / "o"), f"pid {sleeper.pid}")
    finally:
        sleeper.kill()
        sleeper.wait()
    (tmp_path / "o.png.tmp-999999999").write_text("left by a killed run")
    assert infer_pca(sim_files["vcf"], tmp_path / "o").exit_code == 0  # lock holder is dead
    assert not (tmp_path / "o.lock").exists()
    assert not list(tmp_path.glob("*.tmp-*"))


def test_sigterm_while_writing__temporary_files_removed(tmp_path):
    from ddvi_genomics.clitools import terminate_cleanly

    previous = signal.getsignal(signal.SIGTERM)
    terminate_cleanly()
    try:
        with pytest.raises(SystemExit) as stop:
            with OutputSet(tmp_path / "o", (".log", ".png"), False) as out:
                out.path(".log").write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
        assert stop.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not list(tmp_path.iterdir())  # no temp file, no lock, no output


# -- evaluation and the other commands degrade gracefully ------------------------------------------


def test_few_samples__metrics_skipped_with_reasons(tmp_path):
    dosage, labels = three_populations(n_per_pop=4, n_variants=100)
    ids = [f"S{i}" for i in range(12)]
    write_vcf(tmp_path / "few.vcf", dosage, ids)
    (tmp_path / "few.panel").write_text(
        "sample\tpop\n" + "".join(f"{s}\t{p}\n" for s, p in zip(ids, labels))
    )
    result = infer_pca(tmp_path / "few.vcf", tmp_path / "o", "--panel", tmp_path / "few.panel")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "o.metrics.json").read_text())
    assert "knn20_cv_accuracy_population" in metrics["skipped"]
    assert "gmm_nmi_population" in metrics["skipped"] and "silhouette_population" in metrics
    assert "trustworthiness_k10" in metrics["skipped"]


def test_evaluate_and_plot__bad_tables_are_one_line(tmp_path, sim_files):
    table = tmp_path / "e.tsv"
    table.write_text("#IID\tDIM1\tDIM2\nPOPA_0\t1\tnan\n")
    assert_one_line_error(
        invoke("evaluate", table, "--panel", sim_files["panel"]), "'POPA_0' has a non-numeric"
    )
    table.write_text("#IID\tDIM1\tDIM2\nPOPA_0\t1\t2\nPOPA_0\t3\t4\n")
    assert_one_line_error(
        invoke("evaluate", table, "--panel", sim_files["panel"]), "'POPA_0' more than once"
    )
    table.write_text("#IID\tDIM1\tDIM2\nPOPA_0\tx\t2\n")
    assert_one_line_error(invoke("plot", table, "--out", tmp_path / "p.png"), "non-numeric")
    assert not (tmp_path / "p.png").exists()
    table.write_text("#IID\tDIM1\tDIM2\nPOPA_0\t1\t2\nPOPA_1\t3\t4\n")
    assert_one_line_error(
        invoke("evaluate", table, "--panel", sim_files["panel"], "--eigenvec", tmp_path / "no"),
        "eigenvec file",
    )
    (tmp_path / "ev").write_text("#IID\tPC1\nPOPA_0\t0.1\n")
    assert_one_line_error(
        invoke("evaluate", table, "--panel", sim_files["panel"], "--eigenvec", tmp_path / "ev"),
        "no PCs for sample 'POPA_1'",
    )


def test_header_only_panel_and_directory_input(tmp_path, sim_files):
    (tmp_path / "h.panel").write_text("sample\tpop\tsuper_pop\n")
    result = infer_pca(sim_files["vcf"], tmp_path / "o", "--panel", tmp_path / "h.panel")
    assert_one_line_error(result, "lists no samples")
    assert_one_line_error(infer_pca(tmp_path, tmp_path / "o"), "is a directory")


def test_unexpected_exception__says_bug_and_hides_traceback_unless_verbose(tmp_path):
    boom = RuntimeError("kaput")
    with mock.patch("ddvi_genomics.genotype.pipeline.run_infer", side_effect=boom):
        result = invoke("infer", "x.vcf", "--out", tmp_path / "o")
        assert result.exit_code == 1 and "bug in ddvi-genomics" in result.output
        assert "RuntimeError: kaput" in result.output and "Traceback" not in result.output
        with mock.patch.object(sys, "argv", ["ddvi-genomics", "infer", "-v"]):
            verbose = invoke("infer", "x.vcf", "--out", tmp_path / "o", "-v")
        assert verbose.exit_code == 1 and verbose.exception is boom


def test_htslib_chatter_is_not_printed_on_a_successful_region_run(tmp_path, capfd, sim_files):
    result = infer_pca(sim_files["vcf"], tmp_path / "o", "--region", "1:1-200000")
    assert result.exit_code == 0, result.output
    assert "[E::" not in capfd.readouterr().err


# -- fuzz ----------------------------------------------------------------------------------------


def test_fuzz__mutated_vcfs_never_crash(tmp_path):
    """Seeded byte flips, truncations and line drops of a small VCF: exit 0 or 2, never 1."""
    dosage, _ = three_populations(n_per_pop=4, n_variants=30)
    write_vcf(tmp_path / "base.vcf", dosage, [f"S{i}" for i in range(12)])
    base = (tmp_path / "base.vcf").read_bytes()
    rng = np.random.default_rng(0)
    for i in range(60):
        data = bytearray(base)
        kind = i % 3
        if kind == 0:  # flip a few bytes anywhere
            for pos in rng.integers(0, len(data), 3):
                data[pos] = int(rng.integers(0, 256))
        elif kind == 1:  # truncate
            data = data[: int(rng.integers(1, len(data)))]
        else:  # drop a line, or a tab inside one
            lines = bytes(data).split(b"\n")
            j = int(rng.integers(0, len(lines)))
            lines[j] = lines[j].replace(b"\t", b"", 1) if rng.random() < 0.5 else b""
            data = bytearray(b"\n".join(lines))
        path = tmp_path / f"m{i}.vcf"
        path.write_bytes(bytes(data))
        result = infer_pca(path, tmp_path / f"o{i}", "--n-pcs", 2)
        assert result.exit_code in (0, 2), (i, result.output)
        assert "Traceback" not in result.output, (i, result.output)
        if result.exit_code == 2:
            assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1, result.output


def test_two_concurrent_runs_to_one_prefix__one_wins_one_is_refused(sim_files, tmp_path):
    cmd = [sys.executable, "-m", "ddvi_genomics", "infer", str(sim_files["vcf"]), "--out",
           str(tmp_path / "o"), "--method", "pca", "--panel", str(sim_files["panel"])]  # fmt: skip
    runs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another run" in refused or "use --force" in refused
    assert len(refused.strip().splitlines()) == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if ".tmp-" in n or n.endswith(".lock")]
    assert json.loads((tmp_path / "o.metrics.json").read_text())["method"] == "pca"
