"""Damaged, truncated and foreign inputs: read whole and right, or refused in one line (exit 2).

One test per class of the third reliability review, each on files the test damages itself, then
a seeded fault test that truncates and corrupts the bundled example (gzip and BGZF) and a small
store at many offsets: every run either gives the clean run's PCs or one line and exit 2.
"""

import gzip
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from ddvi_genomics.genotype.outputs.plink_files import write_plink
from ddvi_genomics.genotype.readers.plink import read_plink
from ddvi_genomics.genotype.readers.store_integrity import MANIFEST
from ddvi_genomics.genotype.readers.vcf_text import BgzfWriter
from tests.genotype.conftest import three_populations, write_vcf

pytest.importorskip("bio2zarr", reason="stores need the scale extra (bio2zarr)")

EXAMPLE = Path(__file__).parents[2] / "ddvi_genomics" / "genotype" / "data" / "1kg_aisnp.vcf.gz"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *patterns):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for pattern in patterns:
        assert pattern in result.output, (pattern, result.output)


def published(folder, prefix):
    return sorted(p.name for p in folder.glob(f"{prefix}.*") if p.suffix != ".log")


def infer_pca(path, out, *extra):
    return invoke("infer", path, "--out", out, "--method", "pca", "--n-pcs", 4, "--min-maf", 0,
                  "--force", *extra)  # fmt: skip


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A 60-sample x 300-variant store in 6 x 3 chunks, beside the VCF it came from."""
    from ddvi_genomics.genotype.readers.convert import write_store

    folder = tmp_path_factory.mktemp("store")
    dosage, _ = three_populations(n_per_pop=20, n_variants=300, seed=3)
    write_vcf(folder / "s.vcf", dosage, [f"S{i}" for i in range(60)])
    write_store([folder / "s.vcf"], folder / "s.vcz", variants_chunk_size=50,
                samples_chunk_size=20)  # fmt: skip
    return folder


def copy_store(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


# -- stores: a lost or damaged chunk is never read as homozygous reference ------------------------


def test_store_with_a_missing_chunk__refused_in_memory_and_out_of_core(small_store, tmp_path):
    store = copy_store(small_store / "s.vcz", tmp_path / "m.vcz")
    (store / "call_genotype" / "2.1.0").unlink()
    for extra in ((), ("--out-of-core",)):
        result = infer_pca(store, tmp_path / "o", *extra)
        assert_one_line_error(result, "m.vcz is incomplete: call_genotype/2.1.0 is missing")
        assert published(tmp_path, "o") == []


def test_store_with_a_damaged_chunk_that_still_decodes__refused_by_its_checksum(
    small_store, tmp_path
):
    store = copy_store(small_store / "s.vcz", tmp_path / "d.vcz")
    chunk = store / "variant_position" / "1"
    chunk.write_bytes(chunk.read_bytes())  # same bytes: still verified
    assert infer_pca(store, tmp_path / "ok").exit_code == 0
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0x01
    chunk.write_bytes(bytes(data))
    assert_one_line_error(
        infer_pca(store, tmp_path / "o"), "d.vcz is damaged: variant_position/1 fails its checksum"
    )


def test_store_without_manifest__undecodable_chunk_is_one_line_and_absent_chunk_a_warning(
    small_store, tmp_path
):
    store = copy_store(small_store / "s.vcz", tmp_path / "n.vcz")
    (store / MANIFEST).unlink()
    chunk = store / "call_genotype" / "1.0.0"
    chunk.write_bytes(chunk.read_bytes()[:20])
    result = infer_pca(store, tmp_path / "o")
    assert_one_line_error(result, "n.vcz is damaged: array 'call_genotype', variants 51-100")
    chunk.unlink()  # absent: Zarr reads it as 0, which bio2zarr also relies on for empty chunks
    result = infer_pca(store, tmp_path / "o")
    assert result.exit_code == 0
    assert "1 of the 18 chunks of 'call_genotype' are absent" in result.output


# -- PLINK: a .fam a row off is found from the padding bits ----------------------------------------


def _bed(tmp_path, n_samples, n_variants=40, padding_bits=None):
    dosage = (
        np.random.default_rng(1).binomial(2, 0.4, size=(n_variants, n_samples)).astype(np.int8)
    )
    gm = GenotypeMatrix(
        dosage, np.full(n_variants, "1", object), np.arange(1, n_variants + 1) * 100,
        np.full(n_variants, ".", object), np.full(n_variants, "A", object),
        np.full(n_variants, "G", object), np.array([f"S{i}" for i in range(n_samples)], object),
    )  # fmt: skip
    write_plink(gm, tmp_path / "p")
    if padding_bits is not None:  # a foreign writer's non-zero padding in the last byte
        per_variant = (n_samples + 3) // 4
        data = bytearray((tmp_path / "p.bed").read_bytes())
        used = n_samples % 4
        for v in range(n_variants):
            data[3 + v * per_variant + per_variant - 1] |= (padding_bits[v] << (2 * used)) & 0xFF
        (tmp_path / "p.bed").write_bytes(bytes(data))
    return dosage


def test_fam_row_too_many_filling_the_last_byte__ghost_sample_refused(tmp_path):
    _bed(tmp_path, 11)  # 11 samples: one zero padding slot; a 12th .fam row fills the byte
    assert read_plink(tmp_path / "p").n_samples == 11
    with open(tmp_path / "p.fam", "a") as fam:
        fam.write("S11\tS11\t0\t0\t0\t-9\n")
    with pytest.raises(InputError, match="extra row"):
        read_plink(tmp_path / "p")


def test_fam_row_too_many_with_genotype_like_padding__refused(tmp_path):
    rng = np.random.default_rng(2)
    _bed(tmp_path, 9, padding_bits=rng.integers(1, 64, 40))  # slots 10-12 hold random codes
    with open(tmp_path / "p.fam", "a") as fam:
        fam.write("S9\tS9\t0\t0\t0\t-9\n")  # the ghost is slot 10; slots 11-12 still show
    with pytest.raises(InputError, match="calls after the last of the 10 samples"):
        read_plink(tmp_path / "p")


# -- compressed VCFs cut short or damaged ---------------------------------------------------------


def _bgzf_example(path):
    with BgzfWriter(path) as out:
        out.write(gzip.decompress(EXAMPLE.read_bytes()))
    return path


@pytest.mark.parametrize("cut", ["plain-gzip-mid", "bgzf-mid-block", "bgzf-without-eof"])
def test_truncated_vcf__one_line_naming_the_file(tmp_path, cut):
    if cut.startswith("bgzf"):
        data = _bgzf_example(tmp_path / "full.vcf.gz").read_bytes()
        data = data[: len(data) // 2] if cut == "bgzf-mid-block" else data[:-28]
    else:
        data = EXAMPLE.read_bytes()[: len(EXAMPLE.read_bytes()) // 2]
    (tmp_path / "cut.vcf.gz").write_bytes(data)
    result = infer_pca(tmp_path / "cut.vcf.gz", tmp_path / "o")
    assert_one_line_error(result, "cut.vcf.gz", "truncated")
    assert published(tmp_path, "o") == []


def test_vcf_row_with_an_extra_sample_column__refused(tmp_path):
    dosage, _ = three_populations(n_per_pop=4, n_variants=50)
    write_vcf(tmp_path / "x.vcf", dosage, [f"S{i}" for i in range(12)])
    lines = (tmp_path / "x.vcf").read_text().splitlines()
    lines[10] += "\t0/1"
    (tmp_path / "x.vcf").write_text("\n".join(lines) + "\n")
    result = infer_pca(tmp_path / "x.vcf", tmp_path / "o")
    assert_one_line_error(result, "x.vcf: record 7 (1:7000) has 22 columns; the header names 21")


# -- foreign genomes -------------------------------------------------------------------------------


def test_drosophila_contigs_without_chr__refused_with_the_way_out(tmp_path):
    rng = np.random.default_rng(0)
    header = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
              + "\t".join(f"S{i}" for i in range(20))]  # fmt: skip
    body = [
        f"{c}\t{1000 * (j + 1)}\t.\tA\tG\t.\tPASS\t.\tGT\t"
        + "\t".join(["0/0", "0/1", "1/1"][g] for g in rng.binomial(2, 0.4, 20))
        for c in ("2L", "2R", "3L", "3R", "4", "X")
        for j in range(30)
    ]
    (tmp_path / "fly.vcf").write_text("\n".join(header + body) + "\n")
    result = infer_pca(tmp_path / "fly.vcf", tmp_path / "o")
    assert_one_line_error(result, "contigs 2L, 2R, 3L, 3R are not human", "keep 30 of 180")
    assert infer_pca(tmp_path / "fly.vcf", tmp_path / "o", "--chr", "2L,2R,3L,3R").exit_code == 0


def test_human_scaffolds_and_chr_prefixes_are_still_human():
    from ddvi_genomics.genotype.contigs import foreign_contigs

    names = ["chr1", "22", "chrX", "MT", "chrM", "GL000192.1", "chr1_KI270706v1_random",
             "chrUn_GL000195v1", "hs37d5", "chr6_GL000250v2_alt", "NC_007605"]  # fmt: skip
    assert foreign_contigs(names) == []
    assert foreign_contigs(["1", "2L", "38", "scaffold_12"]) == ["2L", "38", "scaffold_12"]


# -- user files: encodings, binary files, truncated tables -----------------------------------------


def test_keep_file_with_a_byte_order_mark__first_id_kept(tmp_path, sim_files):
    first, second = sim_files["vcf"].read_text().splitlines()[3].split("\t")[9:11]
    (tmp_path / "keep.txt").write_bytes(f"\ufeff{first}\r\n{second}\r\n".encode())
    from ddvi_genomics.genotype.samples import read_samples_file

    assert read_samples_file(tmp_path / "keep.txt") == {first, second}


@pytest.mark.parametrize("option", ["--extract", "--exclude", "--extract-range", "--keep"])
def test_binary_file_given_as_a_list__one_line_naming_file_and_option(tmp_path, sim_files, option):
    (tmp_path / "ids.bed").write_bytes(bytes([0x6C, 0x1B, 0x01, 0x00, 0xFF, 0x00]))
    result = infer_pca(sim_files["vcf"], tmp_path / "o", option, tmp_path / "ids.bed")
    assert_one_line_error(result, f"{option} file", "ids.bed is not a text file")
    (tmp_path / "ids.bed").write_bytes("rs1\n".encode("utf-16"))
    assert_one_line_error(infer_pca(sim_files["vcf"], tmp_path / "o", option,
                                    tmp_path / "ids.bed"), "UTF-16")  # fmt: skip


@pytest.fixture
def embedding(tmp_path, sim_files):
    assert infer_pca(sim_files["vcf"], tmp_path / "e").exit_code == 0
    return tmp_path / "e.embedding.tsv"


@pytest.mark.parametrize("damage", ["cut-mid-line", "extra-column", "missing-column"])
def test_damaged_embedding_table__refused_by_plot_evaluate_and_project(
    tmp_path, sim_files, embedding, damage
):
    text = embedding.read_text()
    lines = text.splitlines()
    if damage == "cut-mid-line":
        bad = text[: len(text) - 7]
    elif damage == "extra-column":
        bad = "\n".join(lines[:5] + [lines[5] + "\t0.5"] + lines[6:]) + "\n"
    else:
        bad = "\n".join(lines[:5] + [lines[5].rsplit("\t", 1)[0]] + lines[6:]) + "\n"
    table = tmp_path / "bad.embedding.tsv"
    table.write_text(bad)
    panel = sim_files["panel"]
    for args, what in (
        (("plot", table, "--out", tmp_path / "p.png", "--panel", panel), "embedding table"),
        (("evaluate", table, "--panel", panel), "embedding table"),
        (("project", sim_files["vcf"], "--model", tmp_path / "e.model.pt", "--out",
          tmp_path / "pr", "--reference", table), "--reference table"),
    ):  # fmt: skip
        result = invoke(*args)
        assert_one_line_error(result, what, "bad.embedding.tsv")
    assert not (tmp_path / "p.png").exists() and published(tmp_path, "pr") == []


def test_plot_with_a_panel_sharing_no_sample__refused(tmp_path, embedding):
    (tmp_path / "other.panel").write_text("sample\tpop\tsuper_pop\nX1\tA\tSA\nX2\tB\tSB\n")
    result = invoke("plot", embedding, "--out", tmp_path / "p.png", "--panel",
                    tmp_path / "other.panel")  # fmt: skip
    assert_one_line_error(result, "no sample of", "is in --panel")
    assert not (tmp_path / "p.png").exists()


# -- options and outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["convert", "IN", "--out", "s.vcz", "--variants-chunk-size", 0],
         "'--variants-chunk-size': 0 is not in the range x>=1"),
        (["convert", "IN", "--out", "s.vcz", "--samples-chunk-size", -1],
         "'--samples-chunk-size': -1 is not in the range x>=1"),
        (["simulate", "--out", "sim", "--length", 0], "'--length': 0.0 is not in the range"),
        (["infer", "IN", "--out", "DIR/"], "--out DIR/ names a folder"),
    ],
)  # fmt: skip
def test_bad_option_values__one_line_naming_the_option(tmp_path, sim_files, args, pattern):
    args = [str(sim_files["vcf"]) if a == "IN" else a for a in args]
    args = [str(tmp_path / a) if a in ("s.vcz", "sim", "DIR/") else a for a in args]
    args = [a + "/" if a == str(tmp_path / "DIR/") else a for a in args]
    (tmp_path / "DIR").mkdir()
    result = invoke(*args)
    assert_one_line_error(result, pattern.replace("DIR/", str(tmp_path / "DIR") + "/"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR"]
    assert not list((tmp_path / "DIR").iterdir())


def test_truncated_pgen__one_line_naming_the_file(tmp_path):
    pgenlib = pytest.importorskip("pgenlib", reason="the .pgen reader needs pgenlib")
    dosage = np.random.default_rng(5).binomial(2, 0.3, size=(300, 12)).astype(np.int8)
    with pgenlib.PgenWriter(bytes(tmp_path / "g.pgen"), 12, 300, False) as writer:
        for row in dosage:
            writer.append_biallelic(2 - row)  # ALT counts -> the REF-based coding, as plink2
    (tmp_path / "g.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "".join(
        f"1\t{100 * (i + 1)}\tv{i}\tA\tG\n" for i in range(300)))  # fmt: skip
    (tmp_path / "g.psam").write_text("#IID\n" + "".join(f"S{i}\n" for i in range(12)))
    assert infer_pca(tmp_path / "g.pgen", tmp_path / "ok").exit_code == 0
    data = (tmp_path / "g.pgen").read_bytes()
    (tmp_path / "g.pgen").write_bytes(data[: len(data) * 2 // 3])
    result = infer_pca(tmp_path / "g.pgen", tmp_path / "o")
    assert_one_line_error(result, "g.pgen: cannot read variants", "truncated or damaged")


def test_model_declaring_a_huge_tensor__one_line(tmp_path):
    from ddvi_genomics.genotype.mapping.ancestry_model import AncestryModel

    (tmp_path / "m.pt").write_bytes(b"PK")
    with mock.patch("ddvi_genomics.genotype.mapping.ancestry_model.read_model_file",
                    side_effect=MemoryError()):  # fmt: skip
        with pytest.raises(InputError, match="m.pt declares tensors larger than this machine"):
            AncestryModel.load(tmp_path / "m.pt")


# -- convert takes what infer takes ------------------------------------------------------------------


def test_convert_unindexed_multi_contig_vcf_with_undeclared_filter_info_and_contig(
    tmp_path, caplog
):
    rng = np.random.default_rng(4)
    header = ["##fileformat=VCFv4.2", "##contig=<ID=1>", "##contig=<ID=2>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
              + "\t".join(f"S{i}" for i in range(24))]  # fmt: skip
    body = []
    for contig in ("1", "2", "3"):  # contig 3 is not declared
        for j in range(80):
            freq = rng.uniform(0.1, 0.9)
            calls = "\t".join(["0/0", "0/1", "1/1"][g] for g in rng.binomial(2, freq, 24))
            filt = "LowQual" if j % 7 == 0 else "PASS"
            info = f"DP={j};SOMATIC" if j % 5 == 0 else "."
            body.append(f"{contig}\t{1000 * (j + 1)}\trs{contig}_{j}\tA\tG\t50\t{filt}\t{info}"
                        f"\tGT\t{calls}")  # fmt: skip
    (tmp_path / "messy.vcf").write_text("\n".join(header + body) + "\n")
    with caplog.at_level("WARNING", logger="ddvi_genomics"):
        result = invoke("convert", tmp_path / "messy.vcf", "--out", tmp_path / "m.vcz")
    assert result.exit_code == 0, result.output
    said = caplog.text
    assert "rewrote it as 3 per-contig VCF(s)" in said
    for declared in ("FILTER LowQual", "contig 3", "INFO DP", "INFO SOMATIC"):
        assert declared in said
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert infer_pca(tmp_path / "messy.vcf", tmp_path / "mem").exit_code == 0
    assert infer_pca(tmp_path / "m.vcz", tmp_path / "ooc", "--out-of-core").exit_code == 0
    mem = (tmp_path / "mem.eigenvec").read_text()
    assert (tmp_path / "ooc.eigenvec").read_text() == mem and len(mem.splitlines()) == 25


def test_convert_removes_the_temporary_store_of_a_killed_run(tmp_path, sim_files):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    litter = tmp_path / f"s.vcz.tmp-{dead}"
    (litter / "call_genotype").mkdir(parents=True)
    result = invoke("convert", sim_files["vcf"], "--out", tmp_path / "s.vcz")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.vcz"]


# -- warnings and termination ---------------------------------------------------------------------


def test_warnings_reach_the_terminal_while_htslib_is_captured(tmp_path, sim_files):
    first = sim_files["vcf"].read_text().splitlines()[3].split("\t")[9]
    (tmp_path / "keep.txt").write_text(f"{first}\nNOT_THERE\n")
    run = subprocess.run(
        [sys.executable, "-m", "ddvi_genomics", "infer", str(sim_files["vcf"]), "--keep",
         str(tmp_path / "keep.txt"), "--out", str(tmp_path / "o"), "--method", "pca"],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert "requested sample(s) not in the file" in run.stderr, run.stderr


def test_no_publish_after_a_termination_request_even_if_its_exit_was_swallowed(tmp_path):
    import signal

    from ddvi_genomics import clitools
    from ddvi_genomics.genotype.outputs.files import OutputSet

    previous = signal.getsignal(signal.SIGTERM)
    clitools.terminate_cleanly()
    try:
        out = OutputSet(tmp_path / "o", (".log", ".png"), False)
        out.path(".png").write_text("done")
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # raises SystemExit here ...
        except SystemExit:
            pass  # ... which a finaliser or callback would drop
        with pytest.raises(SystemExit) as stop:
            out.publish()
        assert stop.value.code == 143
        out.discard()
    finally:
        signal.signal(signal.SIGTERM, previous)
        clitools.terminate_cleanly()  # forget the request
        signal.signal(signal.SIGTERM, previous)
    assert not list(tmp_path.iterdir())


# -- seeded fault test -------------------------------------------------------------------------------


def _mutations(data: bytes, rng, n: int):
    for _ in range(n):
        offset = int(rng.integers(0, len(data)))
        if rng.random() < 0.5:
            yield f"cut at {offset}", data[:offset]
        else:
            flipped = bytearray(data)
            flipped[offset] ^= int(rng.integers(1, 256))
            yield f"byte {offset} changed", bytes(flipped)


def _assert_same_or_refused(result, out, clean, what):
    if result.exit_code == 0:
        assert out.read_text() == clean, f"{what}: silently different PCs"
    else:
        assert result.exit_code == 2, f"{what}: exit {result.exit_code}: {result.output}"
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1, f"{what}: {result.output}"


def test_fault__damaged_example_and_store_give_the_clean_result_or_one_line(tmp_path, small_store):
    rng = np.random.default_rng(2026)
    sources = {"gzip": EXAMPLE.read_bytes(),
               "bgzf": _bgzf_example(tmp_path / "b.vcf.gz").read_bytes()}  # fmt: skip
    assert infer_pca(EXAMPLE, tmp_path / "clean").exit_code == 0
    clean = (tmp_path / "clean.eigenvec").read_text()
    for kind, data in sources.items():
        for what, damaged in _mutations(data, rng, 8):
            (tmp_path / "d.vcf.gz").write_bytes(damaged)
            result = infer_pca(tmp_path / "d.vcf.gz", tmp_path / "o")
            _assert_same_or_refused(result, tmp_path / "o.eigenvec", clean, f"{kind} {what}")
    assert infer_pca(small_store / "s.vcz", tmp_path / "sclean").exit_code == 0
    clean = (tmp_path / "sclean.eigenvec").read_text()
    files = sorted(p for p in (small_store / "s.vcz").rglob("*") if p.is_file())
    for i in range(16):
        store = copy_store(small_store / "s.vcz", tmp_path / f"s{i}.vcz")
        target = store / files[int(rng.integers(0, len(files)))].relative_to(small_store / "s.vcz")
        what, damaged = next(_mutations(target.read_bytes() or b"\0", rng, 1))
        target.write_bytes(damaged)
        for extra in ((), ("--out-of-core",)):
            result = infer_pca(store, tmp_path / "o", *extra)
            _assert_same_or_refused(result, tmp_path / "o.eigenvec", clean,
                                    f"{target.relative_to(store)} {what} {extra}")  # fmt: skip
