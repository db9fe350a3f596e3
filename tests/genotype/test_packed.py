"""Two-bit genotypes: packing, counts and LD planes by popcount, and a store's packed copy."""

import json
import shutil

import numpy as np
import pytest

from ddvi_genomics.genotype.packed import (
    pack_dosage,
    packed_counts,
    packed_planes,
    unpack_dosage,
)
from tests.genotype.conftest import three_populations, write_vcf

SAMPLE_COUNTS = (1, 3, 4, 5, 63, 64, 65, 130, 257)  # partial bytes, words and 16-byte rows


def random_dosage(n_variants, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-1, 3, (n_variants, n_samples)).astype(np.int8)


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
def test_pack_dosage__codes_by_hand_and_back(n_samples):
    """Oracle: each byte written out as sum(code << 2 slot), missing coded 3, padding 3."""
    d = random_dosage(6, n_samples)
    d[0, -1], d[-1, 0] = -2, -128  # any negative count is missing
    codes = pack_dosage(d)
    assert codes.shape == (6, -(-n_samples // 4)) and codes.dtype == np.uint8
    padded = np.full((6, 4 * codes.shape[1]), 3)
    padded[:, :n_samples] = np.where(d < 0, 3, d)
    by_hand = sum(padded[:, slot::4] << (2 * slot) for slot in range(4))
    np.testing.assert_array_equal(codes, by_hand)
    d = np.where(d < 0, -1, d)
    np.testing.assert_array_equal(unpack_dosage(codes, n_samples), d)
    for first in range(min(n_samples, 6)):  # a run of samples from any slot of a byte
        for n in (n_samples - first, max(n_samples - first - 3, 0)):
            np.testing.assert_array_equal(unpack_dosage(codes, n, first), d[:, first : first + n])


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
def test_packed_counts__the_calls_counted_by_numpy(n_samples):
    d = random_dosage(9, n_samples, seed=1)
    d[0] = -1  # nothing called
    expected = np.stack([(d == 0).sum(1), (d == 1).sum(1), (d == 2).sum(1)], axis=1)
    np.testing.assert_array_equal(packed_counts(pack_dosage(d)), expected)


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
def test_packed_planes__the_planes_np_packbits_makes(n_samples):
    """Oracle: each plane's mask packed by np.packbits (little bit order, zero padding)."""
    d = random_dosage(5, n_samples, seed=2)
    n_words = -(-n_samples // 64)
    expected = np.zeros((5, 3, n_words * 8), np.uint8)
    for plane, mask in enumerate((d >= 1, d == 2, d >= 0)):
        packed = np.packbits(mask, axis=1, bitorder="little")
        expected[:, plane, : packed.shape[1]] = packed
    np.testing.assert_array_equal(packed_planes(pack_dosage(d), n_samples), expected.view("<u8"))


@pytest.fixture(scope="module")
def packed_store(tmp_path_factory):
    """A converted store (2 % missing calls, a haploid-free VCF), chunks of 7 variants x 12 samples."""
    from ddvi_genomics.genotype.readers.convert import write_store

    d = tmp_path_factory.mktemp("packed")
    dosage, _ = three_populations(n_per_pop=15, n_variants=40, seed=3)
    dosage[np.random.default_rng(0).random(dosage.shape) < 0.02] = -1
    write_vcf(d / "g.vcf", dosage, [f"I{i}" for i in range(dosage.shape[1])])
    write_store([d / "g.vcf"], d / "g.vcz", variants_chunk_size=7, samples_chunk_size=12)
    return d / "g.vcz"


def test_convert__packed_copy_equals_the_calls(packed_store):
    """Oracle: the dosages read from call_genotype (dosage_from_calls), chunk by chunk."""
    import zarr

    from ddvi_genomics.genotype.readers.packed_store import PACKED_ARRAY
    from ddvi_genomics.genotype.readers.store import dosage_from_calls

    root = zarr.open_group(str(packed_store), mode="r")
    calls, packed = root["call_genotype"], root[PACKED_ARRAY]
    n_samples = calls.shape[1]
    assert packed.shape == (calls.shape[0], -(-n_samples // 4)) and packed.chunks == (7, 3)
    expected = dosage_from_calls(np.asarray(calls[:]))[0]
    assert (expected < 0).any()
    np.testing.assert_array_equal(unpack_dosage(np.asarray(packed[:]), n_samples), expected)


def without_packed_copy(store, folder):
    """The same store with no packed array (as bio2zarr or an older version writes it)."""
    from ddvi_genomics.genotype.readers.packed_store import PACKED_ARRAY
    from ddvi_genomics.genotype.readers.store_integrity import write_manifest

    copy = folder / "plain.vcz"
    shutil.copytree(store, copy)
    shutil.rmtree(copy / PACKED_ARRAY)
    meta = copy / ".zmetadata"
    if meta.exists():  # consolidated metadata lists the arrays
        listing = json.loads(meta.read_text())
        listing["metadata"] = {
            k: v for k, v in listing["metadata"].items() if not k.startswith(PACKED_ARRAY)
        }
        meta.write_text(json.dumps(listing))
    write_manifest(copy)
    return copy


def test_chunk_reads__the_same_from_the_packed_copy_and_from_the_calls(packed_store, tmp_path):
    """Oracle: the store without its packed copy (the int8 path). Chunk 7..14 of variants,
    every sample, a subset in a given order, blocks of samples, counts."""
    from ddvi_genomics.genotype.readers.packed_store import packed_array
    from ddvi_genomics.genotype.readers.store import zarr_module
    from ddvi_genomics.genotype.readers.store_tasks import (
        chunk_counts,
        chunk_dosage,
        chunk_dosage_blocks,
    )

    plain = str(without_packed_copy(packed_store, tmp_path))
    packed = str(packed_store)
    assert packed_array(zarr_module().open_group(plain, mode="r")) is None
    subset = np.array([30, 2, 17, 44, 3])
    for lo, hi in ((0, 7), (7, 14), (35, 40)):
        for samples in (None, subset):
            a, b = chunk_dosage(packed, lo, hi, samples), chunk_dosage(plain, lo, hi, samples)
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(chunk_counts(packed, lo, hi, samples),
                                          chunk_counts(plain, lo, hi, samples))  # fmt: skip
        blocks = [list(chunk_dosage_blocks(s, lo, hi, subset)) for s in (packed, plain)]
        for x, y in zip(*blocks, strict=True):
            np.testing.assert_array_equal(x, y)


def test_store_qc__ld_prune_and_hwe_the_same_without_the_packed_copy(packed_store, tmp_path):
    """Oracle: the int8 path on the same genotypes; windows of 10 span chunks of 7."""
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.qc.recipe import QCOptions

    plain = without_packed_copy(packed_store, tmp_path)
    for options in (QCOptions(ld_prune=(10, 2, 0.05), hwe=1e-3), QCOptions(ld_prune=(4, 1, 0.1))):
        a, b = store_qc(packed_store, options), store_qc(plain, options)
        assert a.steps == b.steps and a.prune_in == b.prune_in
        np.testing.assert_array_equal(a.allele_frequency, b.allele_frequency)
        assert 0 < len(a.prune_in) < 40


@pytest.mark.parametrize(
    "window, step, r2", [(20, 3, 0.05), (10, 2, 0.05), (4, 1, 0.1), (2, 1, 0.02)]
)
def test_store_prune__streamed_chunks_keep_what_the_whole_matrix_keeps(packed_store, window,
                                                                       step, r2):  # fmt: skip
    """Oracle: prune_pairwise on every genotype at once. Chunks of 7 variants, so a window
    spans up to 3 chunks and the rows held are dropped between chunks."""
    from ddvi_genomics.genotype.qc.ldprune import prune_pairwise
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.qc.recipe import QCOptions
    from ddvi_genomics.genotype.readers.store_tasks import chunk_dosage

    dosage = chunk_dosage(str(packed_store), 0, 40)
    expected = prune_pairwise(dosage, np.full(40, "1"), window=window, step=step, r2=r2)
    options = QCOptions(min_maf=0.0, max_variant_missing=1.0, ld_prune=(window, step, r2))
    qc = store_qc(packed_store, options)
    np.testing.assert_array_equal(qc.keep, expected)
    assert 0 < expected.sum() < 40


def test_read_codes__chunk_files_read_as_zarr_reads_them(packed_store, tmp_path):
    """Oracle: Zarr's own read (read_rows). Row ranges across chunks, byte runs and scattered
    bytes; an absent chunk reads as missing calls, a damaged one is a one-line error."""
    import zarr

    from ddvi_genomics.genotype.errors import InputError
    from ddvi_genomics.genotype.readers.packed_store import PACKED_ARRAY, read_codes
    from ddvi_genomics.genotype.readers.store_integrity import read_rows

    packed = zarr.open_group(str(packed_store), mode="r")[PACKED_ARRAY]
    for lo, hi in ((0, 40), (5, 9), (6, 22), (35, 40)):
        for columns in (None, np.array([0, 1, 2]), np.array([0, 2, 4, 5, 11]), np.array([11])):
            got = read_codes(packed, lo, hi, packed_store, columns)
            np.testing.assert_array_equal(got, read_rows(packed, lo, hi, packed_store, columns))
    copy = tmp_path / "copy.vcz"
    shutil.copytree(packed_store, copy)
    copied = zarr.open_group(str(copy), mode="r")[PACKED_ARRAY]
    (copy / PACKED_ARRAY / "1.2").unlink()  # variants 7-13, bytes 6-8
    assert (read_codes(copied, 7, 14, copy, np.array([6, 8])) == 0xFF).all()
    (copy / PACKED_ARRAY / "2.0").write_bytes(b"not a blosc frame")
    with pytest.raises(InputError, match=r"copy.vcz is damaged: .*variants 15-21"):
        read_codes(copied, 14, 21, copy)


def test_pack_command__adds_the_copy_convert_writes_to_an_older_store(packed_store, tmp_path):
    """Oracle: the copy ``convert`` wrote. ``pack`` on the store without it writes the same
    bytes and a manifest that verifies; run again it refuses in one line (exit 2) and leaves the
    store as it was, unless --force."""
    import zarr
    from click.testing import CliRunner

    from ddvi_genomics.cli import main
    from ddvi_genomics.genotype.readers.packed_store import PACKED_ARRAY
    from ddvi_genomics.genotype.readers.store_integrity import MANIFEST, verify_files

    plain = without_packed_copy(packed_store, tmp_path)
    result = CliRunner().invoke(main, ["pack", str(plain)])
    assert result.exit_code == 0, result.output
    added = np.asarray(zarr.open_group(str(plain), mode="r")[PACKED_ARRAY][:])
    expected = np.asarray(zarr.open_group(str(packed_store), mode="r")[PACKED_ARRAY][:])
    np.testing.assert_array_equal(added, expected)
    assert verify_files(plain) and f"{PACKED_ARRAY}/0.0" in (plain / MANIFEST).read_text()
    assert sorted(p.name for p in plain.iterdir()) == sorted(
        p.name for p in packed_store.iterdir()
    )
    again = CliRunner().invoke(main, ["pack", str(plain)])
    assert again.exit_code == 2 and "already has call_dosage_packed" in again.output
    assert len(again.output.strip().splitlines()) == 1  # one line
    assert CliRunner().invoke(main, ["pack", str(plain), "--force"]).exit_code == 0
    not_a_store = tmp_path / "folder"
    not_a_store.mkdir()
    refused = CliRunner().invoke(main, ["pack", str(not_a_store)])
    assert refused.exit_code == 2 and "not a Zarr store" in refused.output
