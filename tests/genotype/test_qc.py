import numpy as np
import pytest

from ddvi_genomics.genotype.contigs import normalize_contig
from ddvi_genomics.genotype.counts import (
    alt_allele_frequency,
    minor_allele_frequency,
    variant_missing_rate,
)
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.qc.ldprune import prune_pairwise
from ddvi_genomics.genotype.qc.recipe import QCOptions, run_qc
from ddvi_genomics.genotype.qc.sites import (
    is_autosome,
    is_in_contigs,
    is_listed,
    locate_duplicate_sites,
    locate_thinned,
    sort_order,
    variant_allele_classes,
)
from ddvi_genomics.genotype.readers.vcf import read_vcf


def test_variant_allele_classes__hand_written_vcf():
    gm = read_vcf("tests/data/tiny.vcf")
    assert list(variant_allele_classes(gm.variant_ref, gm.variant_alt)) == [
        "snp",
        "snp",
        "multiallelic",
        "snp",
        "indel",
        "snp",
        "snp",
        "symbolic",
        "snp",
        "no_alt",
    ]
    assert list(is_autosome(np.array(["1", "chr2", "X", "chr22", "23", "MT"]))) == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]


def test_frequencies_and_missingness__hand_computed():
    d = np.array([[0, 1, 2, -1], [2, 2, 2, 2], [-1, -1, 1, 0]], dtype=np.int8)
    np.testing.assert_allclose(alt_allele_frequency(d), [3 / 6, 1.0, 1 / 4])
    np.testing.assert_allclose(minor_allele_frequency(d), [0.5, 0.0, 0.25])
    np.testing.assert_allclose(variant_missing_rate(d), [0.25, 0.0, 0.5])


def test_run_qc__counts_equal_hand_computed():
    gm = read_vcf("tests/data/tiny.vcf")
    out, report = run_qc(gm, QCOptions(min_maf=0.0, max_variant_missing=0.3))
    steps = {name: n for name, n, _ in report.steps}
    # non-SNPs: rs3 multi-allelic, rs5 indel, rs8 symbolic, rs10 no ALT
    assert steps["not a biallelic SNP"] == 4
    assert "multiallelic 1, indel 1, symbolic 1, no_alt 1" in report.steps[0][2]
    assert steps["not on a human autosome (1-22; other genomes: --chr or --all-contigs)"] == 1
    assert steps["variant missingness > 0.3"] == 1  # rs6: 2 of 4 missing
    assert steps["monomorphic"] == 1  # rs4
    assert list(out.variant_id) == ["rs1", "rs2", "rs7"]
    assert report.n_variants_out == 3 and "QC output: 3 variants x 4 samples" in report.lines()[-1]


@pytest.mark.parametrize("hwe", [None, 1e-6])
def test_run_qc__nothing_left_is_an_input_error(hwe):
    """--extract of an absent ID leaves nothing; the HWE step after it meets zero variants."""
    gm = read_vcf("tests/data/tiny.vcf")
    with pytest.raises(InputError, match="nothing left after QC.*not in --extract: removed"):
        run_qc(gm, QCOptions(extract=frozenset({"rs_absent"}), hwe=hwe))


def test_qc_options__reject_out_of_range_values_by_option_name():
    with pytest.raises(InputError, match="--min-maf must be a number in"):
        QCOptions(min_maf=0.6)
    with pytest.raises(InputError, match="--mind must be a number in"):
        QCOptions(max_sample_missing=1.5)


def test_locate_thinned__naive():
    contig = np.array(["1", "1", "1", "2", "2"])
    pos = np.array([100, 150, 300, 100, 101])
    assert list(locate_thinned(contig, pos, 100)) == [True, False, True, True, False]


def test_prune_pairwise__drops_one_of_a_duplicated_pair_and_never_crosses_contigs():
    rng = np.random.default_rng(0)
    d = rng.integers(0, 3, size=(6, 200)).astype(np.int8)
    d[3] = d[1]  # perfect LD with variant 1
    contig = np.array(["1"] * 6)
    keep = prune_pairwise(d, contig, window=6, step=1, r2=0.5)
    assert keep.sum() == 5 and keep[1] and not keep[3]  # a tie in MAF prunes the later one
    # the same pair split over two contigs is not a pair
    assert prune_pairwise(d, np.array(["1"] * 2 + ["2"] * 4), window=6, step=1, r2=0.5).all()


def test_parse_contig_list__plink_ranges_and_names():
    from ddvi_genomics.genotype.qc.sites import parse_contig_list

    assert parse_contig_list("1-3,X") == ("1", "2", "3", "X")
    assert parse_contig_list("chr2L, 2R") == ("2L", "2R")
    with pytest.raises(InputError, match="runs backwards"):
        parse_contig_list("5-2")


def test_any_genome__drosophila_contigs_with_chr_or_all_contigs(tmp_path):
    from click.testing import CliRunner

    from ddvi_genomics.cli import main
    from tests.genotype.conftest import three_populations, write_vcf

    dosage, _ = three_populations(n_per_pop=10, n_variants=60)
    ids = [f"S{i}" for i in range(30)]
    write_vcf(tmp_path / "a.vcf", dosage[:30], ids, contig="2L")
    write_vcf(tmp_path / "b.vcf", dosage[30:], ids, contig="2R")
    # one file with both arms: header of a, records of a and b
    lines_b = [
        ln for ln in (tmp_path / "b.vcf").read_text().splitlines() if not ln.startswith("#")
    ]
    text = (
        (tmp_path / "a.vcf")
        .read_text()
        .replace("##contig=<ID=2L>", "##contig=<ID=2L>\n##contig=<ID=2R>")
    )
    (tmp_path / "fly.vcf").write_text(text + "\n".join(lines_b) + "\n")

    def run(*extra):
        args = ["infer", str(tmp_path / "fly.vcf"), "--out", str(tmp_path / "o"), "--method",
                "pca", "--force", "--n-pcs", "2", *extra]  # fmt: skip
        return CliRunner().invoke(main, args)

    default = run()
    assert default.exit_code == 2 and "not human chromosome names" in default.output
    assert "--chr" in default.output and "--all-contigs" in default.output
    assert run("--all-contigs").exit_code == 0
    assert "QC output: 60 variants" in (tmp_path / "o.log").read_text()
    assert run("--chr", "2L").exit_code == 0
    log = (tmp_path / "o.log").read_text()
    assert "not on --chr 2L: removed 30" in log and "QC output: 30 variants" in log


def _random_sites(n: int, seed: int):
    """Sites with many repeats: 4 contig spellings of 2 contigs, 30 positions, 2 x 2 alleles."""
    rng = np.random.default_rng(seed)
    contig = rng.choice(np.array(["chr1", "1", "CHR2", "2"], dtype=object), n)
    position = rng.integers(1, 31, n)
    ref = rng.choice(np.array(["A", "C"], dtype=object), n)
    alt = rng.choice(np.array(["G", "T"], dtype=object), n)
    return contig, position, ref, alt


def test_locate_duplicate_sites__equals_a_set_of_keys_in_file_order():
    contig, position, ref, alt = _random_sites(500, seed=1)
    seen, expected = set(), []
    for key in zip(map(normalize_contig, contig), position.tolist(), ref, alt, strict=True):
        expected.append(key in seen)
        seen.add(key)
    got = locate_duplicate_sites(contig, position, ref, alt)
    assert 0 < sum(expected) < 500  # the oracle has both firsts and repeats
    assert got.tolist() == expected
    assert not locate_duplicate_sites(contig[:1], position[:1], ref[:1], alt[:1]).any()


def test_sort_order__contigs_in_order_of_first_appearance_then_positions_stably():
    contig, position, *_ = _random_sites(300, seed=2)
    names = [normalize_contig(c) for c in contig]
    first = {name: i for i, name in reversed(list(enumerate(names)))}
    expected = sorted(range(300), key=lambda i: (first[names[i]], position[i], i))
    assert sort_order(contig, position).tolist() == expected


_ALLELE_POOL = ["A", "c", "G", "t", "N", "AT", "", ".", "<DEL>", "<*>", "*", "G[2:5[", "]1:9]T"]


def _naive_allele_class(ref: str, alt: str) -> str:
    """The per-site rule, written plainly: the oracle for the array version."""
    alts = [x for x in alt.split(",") if x not in ("", ".")]
    if not alts:
        return "no_alt"
    if any(x.startswith("<") or "[" in x or "]" in x or x == "*" for x in alts):
        return "symbolic"
    if len(alts) > 1:
        return "multiallelic"
    bases = set("ACGT")
    if len(ref) == 1 and len(alts[0]) == 1 and {ref.upper(), alts[0].upper()} <= bases:
        return "snp"
    return "indel"


def test_variant_allele_classes__equal_a_per_site_loop_on_odd_alleles():
    rng = np.random.default_rng(3)
    n = 4000
    ref = np.array([_ALLELE_POOL[i] for i in rng.integers(0, 6, n)], dtype=object)
    alt = np.array(
        [
            ",".join(_ALLELE_POOL[j] for j in rng.integers(0, len(_ALLELE_POOL), k))
            for k in rng.choice([1, 1, 1, 2, 3], n)
        ],
        dtype=object,
    )
    expected = [_naive_allele_class(r, a) for r, a in zip(ref, alt)]
    assert set(expected) == {"snp", "indel", "multiallelic", "symbolic", "no_alt"}
    assert variant_allele_classes(ref, alt).tolist() == expected
    as_numpy_strings = np.asarray(alt, dtype=np.dtypes.StringDType())
    assert variant_allele_classes(ref, as_numpy_strings).tolist() == expected


def test_contig_and_id_masks__equal_per_variant_loops():
    rng = np.random.default_rng(4)
    names = ["1", "chr1", "chr22", "22", "23", "X", "chrX", "MT", "2L", "chr2L", "Chr7", "10"]
    contig = np.array([names[i] for i in rng.integers(0, len(names), 3000)], dtype=object)
    assert is_autosome(contig).tolist() == [
        c.lower().removeprefix("chr") in {str(i) for i in range(1, 23)} for c in contig
    ]
    wanted = ("X", "2L", "7")
    assert is_in_contigs(contig, wanted).tolist() == [
        normalize_contig(c) in wanted for c in contig
    ]
    ids = np.array([f"rs{i}" for i in rng.integers(0, 500, 3000)], dtype=object)
    listed = frozenset(f"rs{i}" for i in range(0, 500, 7))
    assert is_listed(ids, listed).tolist() == [v in listed for v in ids]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 100\n", "line 1: '1 100' has 2 field(s); need CHR START END"),
        ("# header\n1 a 200\n", "line 2: START and END must be whole numbers; got 'a' '200'"),
        ("1 300 200 x\n", "line 1: need 0 <= START <= END (1-based, both included); got 300 200"),
        ("# only a comment\n\n", "lists no ranges"),
    ],
)
def test_read_ranges__bad_lines_are_one_line_errors_naming_file_and_line(tmp_path, text, message):
    from ddvi_genomics.genotype.ranges import read_ranges

    (tmp_path / "r.txt").write_text(text)
    with pytest.raises(InputError) as err:
        read_ranges(tmp_path / "r.txt", "--exclude-range")
    assert str(err.value).startswith(f"--exclude-range file {tmp_path / 'r.txt'}")
    assert message in str(err.value)


def test_variant_ranges__equal_a_per_variant_loop_with_mixed_contig_spellings():
    """Oracle: each variant checked against every range by hand; contigs spelled both ``6``
    and ``chr6`` (or ``23`` and ``X``) in one table must meet the same ranges."""
    from ddvi_genomics.genotype.ranges import VariantRanges

    rng = np.random.default_rng(8)
    spellings = ["6", "chr6", "2", "chr2", "23", "X", "9"]
    contig = np.array([spellings[i] for i in rng.integers(0, len(spellings), 5000)], object)
    position = rng.integers(1, 20_000, 5000)
    starts = rng.integers(1, 19_000, 12)
    ranges = VariantRanges(
        "random", tuple(rng.choice(["6", "2", "X", "7"], 12)), tuple(starts.tolist()),
        tuple((starts + rng.integers(0, 3000, 12)).tolist()),
    )  # fmt: skip
    expected = [
        any(normalize_contig(c) == rc and s <= p <= e
            for rc, s, e in zip(ranges.contig, ranges.start, ranges.end))
        for c, p in zip(contig, position)
    ]  # fmt: skip
    assert ranges.contains(contig, position).tolist() == expected
    assert 0 < sum(expected) < len(expected)


def test_built_in_long_range_ld_set__24_grch37_regions_with_the_mhc():
    from ddvi_genomics.genotype.ranges import read_ranges

    ranges = read_ranges("long-range-ld-grch37", "--exclude-range")
    assert len(ranges) == 24 and ranges.summary().startswith("24 ranges from ")
    # the MHC (chr6:25-35 Mb) and the chr8 inversion (7-13 Mb), ends included
    inside = ranges.contains(
        np.array(["chr6", "6", "6", "8", "8", "1"], object),
        np.array([25_000_000, 35_000_000, 35_000_001, 7_000_000, 13_000_001, 50_000_000]),
    )
    assert inside.tolist() == [True, True, False, True, False, True]


def test_infer_exclude_range__built_in_set_removes_the_example_snps_inside_it(tmp_path):
    """Oracle: the example's positions checked against the bundled file's lines by hand."""
    from click.testing import CliRunner

    from ddvi_genomics.cli import main
    from ddvi_genomics.genotype.mapping.ancestry_map import example_paths
    from ddvi_genomics.genotype.ranges import BUILT_IN_RANGES

    vcf, _ = example_paths()
    rows = [line.split() for line in (vcf.parent / BUILT_IN_RANGES["long-range-ld-grch37"])
            .read_text().splitlines() if line and not line.startswith("#")]  # fmt: skip
    gm = read_vcf(vcf)
    inside = sum(
        any(c == r[0] and int(r[1]) <= p <= int(r[2]) for r in rows)
        for c, p in zip(gm.variant_contig, gm.variant_position)
    )
    result = CliRunner().invoke(main, [
        "infer", "--example", "--out", str(tmp_path / "o"), "--method", "pca",
        "--exclude-range", "long-range-ld-grch37",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    log = (tmp_path / "o.log").read_text()
    assert f"in --exclude-range: removed {inside} (24 ranges from " in log
    assert '"exclude_ranges": "24 ranges from ' in log


def test_thin_fraction__keeps_about_p_the_same_draw_in_memory_and_out_of_core(tmp_path):
    pytest.importorskip("bio2zarr", reason="the out-of-core half needs the scale extra")
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.qc.recipe import QCOptions, run_qc
    from ddvi_genomics.genotype.readers import read_genotypes
    from ddvi_genomics.genotype.readers.convert import write_store
    from tests.genotype.conftest import three_populations, write_vcf

    dosage, _ = three_populations(n_per_pop=10, n_variants=2000, seed=8)
    write_vcf(tmp_path / "t.vcf", dosage, [f"S{i}" for i in range(30)])
    write_store([tmp_path / "t.vcf"], tmp_path / "t.vcz", variants_chunk_size=300)
    options = QCOptions(min_maf=0.0, thin_fraction=0.3, thin_seed=4)
    kept, report = run_qc(read_genotypes(tmp_path / "t.vcf"), options)
    thinned = dict((name, n) for name, n, _ in report.steps)["--thin 0.3: not drawn"]
    assert abs(thinned - 1400) < 4 * np.sqrt(2000 * 0.3 * 0.7)  # binomial(2000, 0.7) removed
    out_of_core = store_qc(tmp_path / "t.vcz", options)
    assert out_of_core.keep.sum() == kept.n_variants
    positions = read_genotypes(tmp_path / "t.vcf").variant_position[out_of_core.keep]
    assert np.array_equal(positions, kept.variant_position)
    again, _ = run_qc(read_genotypes(tmp_path / "t.vcf"), QCOptions(min_maf=0.0,
                      thin_fraction=0.3, thin_seed=5))  # fmt: skip
    assert not np.array_equal(again.variant_position, kept.variant_position)
