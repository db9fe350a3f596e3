"""The fast text-VCF reader equals the cyvcf2 (htslib) reader, and hands every other form to it.

Oracle: ``read_vcf`` with the fast path switched off, which decodes each record through htslib.
"""

import gzip

import numpy as np
import pytest

from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.readers import vcf as vcf_reader
from ddvi_genomics.genotype.readers.vcf_text import BgzfWriter, read_simple_vcf
from tests.genotype.conftest import HEADER

FIELDS = ("variant_contig", "variant_position", "variant_id", "variant_ref", "variant_alt")


def through_htslib(path, **kwargs):
    saved = vcf_reader.read_simple_vcf
    vcf_reader.read_simple_vcf = lambda *a, **k: None
    try:
        return vcf_reader.read_vcf(path, **kwargs)
    finally:
        vcf_reader.read_simple_vcf = saved


def assert_same(a, b):
    assert np.array_equal(a.dosage, b.dosage) and a.dosage.dtype == b.dosage.dtype
    for name in (*FIELDS, "sample_id"):
        assert list(getattr(a, name)) == list(getattr(b, name)), name
    assert a.n_haploid_calls == b.n_haploid_calls


def random_records(n_records=300, n_samples=3, seed=0):
    """Phased and unphased calls, half-missing calls, multi-allelic sites, IDs and ALT '.'."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_records):
        alts = ["G", "G,T", "G,T,C", "."][rng.integers(4) if i % 7 == 0 else 0]
        top = 0 if alts == "." else alts.count(",") + 1
        calls = []
        for _ in range(n_samples):
            a, b = (str(x) for x in rng.integers(0, top + 1, 2))
            if rng.random() < 0.05:
                a = "."
            if rng.random() < 0.05:
                b = "."
            calls.append(a + "|/"[int(rng.integers(2))] + b)
        vid = "." if i % 5 == 0 else f"rs{i}"
        lines.append(
            f"1\t{100 + 7 * i}\t{vid}\tA\t{alts}\t50\tPASS\tDP=3;AF=0.5\tGT\t" + "\t".join(calls)
        )
    return HEADER + "\n".join(lines) + "\n"


@pytest.mark.parametrize("form", ["plain", "gzip", "bgzf"])
def test_read_vcf__fast_path_equals_htslib(tmp_path, form):
    text = random_records().encode()
    path = tmp_path / ("x.vcf" if form == "plain" else "x.vcf.gz")
    if form == "plain":
        path.write_bytes(text)
    elif form == "gzip":
        path.write_bytes(gzip.compress(text))
    else:
        with BgzfWriter(path, level=1) as out:
            out.write(text)
    fast = read_simple_vcf(
        path, 3, np.arange(3), piece_bytes=100
    )  # pieces cut mid-header and mid-record
    assert fast is not None and len(fast[0]) == 300
    assert_same(vcf_reader.read_vcf(path), through_htslib(path))
    subset = ["S3", "S1"]  # a subset, in the order asked for
    assert_same(vcf_reader.read_vcf(path, samples=subset), through_htslib(path, samples=subset))


def test_bgzf_writer__htslib_and_gzip_read_it_back(tmp_path):
    import cyvcf2

    text = random_records(n_records=3000).encode()  # several 64 KiB blocks
    with BgzfWriter(tmp_path / "b.vcf.gz", level=1) as out:
        for i in range(0, len(text), 10_000):
            out.write(text[i : i + 10_000])
    raw = (tmp_path / "b.vcf.gz").read_bytes()
    assert gzip.decompress(raw) == text
    assert raw.count(b"\x1f\x8b\x08\x04") >= len(text) // 0xFF00 + 1  # one member per block
    assert sum(1 for _ in cyvcf2.VCF(str(tmp_path / "b.vcf.gz"))) == 3000


@pytest.mark.parametrize(
    "record, why",
    [
        ("1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1\t0|0", "a haploid call"),
        ("1\t5\t.\tA\tG\t.\t.\t.\tGT:DP\t0/1:3\t1/1:2\t0|0:1", "another FORMAT"),
        ("1\t5\t.\tA\t" + ",".join("CGTN" * 3) + "\t.\t.\t.\tGT\t0/1\t10/1\t0|0", "two digits"),
        ("1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0/1\t0|0", "ploidy 3"),
    ],
)
def test_read_vcf__other_forms_go_through_htslib(tmp_path, record, why):
    body = random_records(n_records=20) + record + "\n"
    path = tmp_path / "o.vcf"
    path.write_text(body)
    assert read_simple_vcf(path, 3, np.arange(3)) is None, why
    if why == "ploidy 3":
        with pytest.raises(InputError, match="ploidy > 2"):
            vcf_reader.read_vcf(path)
    else:
        assert_same(vcf_reader.read_vcf(path), through_htslib(path))


def test_read_vcf__an_allele_beyond_alt_is_still_named(tmp_path):
    path = tmp_path / "bad.vcf"
    path.write_text(HEADER + "1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/2\t0|0\n")
    assert read_simple_vcf(path, 3, np.arange(3)) is None
    with pytest.raises(InputError, match=r"record 1:5, sample 'S2': an allele index beyond"):
        vcf_reader.read_vcf(path)
