"""VCF Zarr stores: converted with bio2zarr, read back equal to the source file."""

# zarr, bio2zarr and dask come with the test extra (the README's `make test` installs them):
# a missing one is a broken test environment, so they are imported, never skipped.
import bio2zarr  # noqa: F401
import dask.array  # noqa: F401
import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.readers import read_genotypes
from ddvi_genomics.genotype.readers.convert import write_store
from ddvi_genomics.genotype.readers.store import dosage_from_calls, read_store, variant_arrays
from ddvi_genomics.genotype.readers.vcf import read_vcf
from tests.genotype.conftest import HEADER, three_populations, write_vcf


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_same_matrix(a, b):
    assert np.array_equal(a.dosage, b.dosage)
    assert a.sample_id.tolist() == b.sample_id.tolist()
    assert a.variant_position.tolist() == b.variant_position.tolist()
    assert [str(c) for c in a.variant_contig] == [str(c) for c in b.variant_contig]
    assert a.variant_ref.tolist() == b.variant_ref.tolist()
    assert a.variant_alt.tolist() == b.variant_alt.tolist()
    assert a.variant_id.tolist() == b.variant_id.tolist()
    assert a.n_haploid_calls == b.n_haploid_calls


def test_dosage_from_calls__hand_computed():
    calls = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1]],
                      [[0, 2], [1, 2], [1, -2], [0, -1]]], dtype=np.int8)  # fmt: skip
    dosage, haploid = dosage_from_calls(calls)
    # 1/-2 is a haploid ALT call (counted as homozygous); 0/-1 has a missing allele
    assert dosage.tolist() == [[0, 1, 2, -1], [1, 2, 2, -1]]
    assert haploid == 1


def test_variant_arrays__alt_joins_and_ids_equal_per_row_python():
    rng = np.random.default_rng(5)
    pool = np.array(["A", "C", "GT", "", "<DEL>"], dtype=object)
    alleles = pool[rng.integers(0, len(pool), (400, 4))]
    ids = np.array([f"rs{i}" if i % 3 else "" for i in range(400)], dtype=object)
    table = {
        "variant_allele": np.asarray(alleles, dtype=np.dtypes.StringDType()),
        "variant_id": np.asarray(ids, dtype="U"),  # a fixed-width store string array
        "contig_id": np.array([b"1", b"chr2"]),  # and a bytes one
        "variant_contig": rng.integers(0, 2, 400).astype(np.int8),
        "variant_position": np.arange(400, dtype=np.int32),
    }
    v = variant_arrays(table)
    assert v.alt.tolist() == [",".join(a for a in row[1:] if a) for row in alleles]
    assert v.ref.tolist() == alleles[:, 0].tolist()
    assert v.id.tolist() == [i or "." for i in ids]
    assert v.contig.tolist() == [["1", "chr2"][c] for c in table["variant_contig"]]
    assert all(type(x) is str for column in (v.alt, v.ref, v.id, v.contig) for x in column[:5])
    assert v.position.dtype == np.int64


def test_store__round_trip_of_a_hand_written_vcf(tmp_path):
    body = (
        "1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n"
        "1\t200\t.\tC\tT,G\t.\t.\t.\tGT\t0/2\t1/2\t./.\n"
        "1\t300\trs3\tG\tA\t.\t.\t.\tGT\t1\t0/1\t0|0\n"
    )
    (tmp_path / "x.vcf").write_text(HEADER + body)
    write_store([tmp_path / "x.vcf"], tmp_path / "x.vcz")
    assert_same_matrix(read_store(tmp_path / "x.vcz"), read_vcf(tmp_path / "x.vcf"))
    kept = read_genotypes(tmp_path / "x.vcz", samples=["S3", "S1"])  # dispatch + --keep order
    assert kept.sample_id.tolist() == ["S3", "S1"] and kept.dosage[:, 0].tolist() == [2, -1, 0]


def test_store__round_trip_of_a_simulation_read_in_small_chunks(tmp_path):
    dosage, _ = three_populations(n_per_pop=20, n_variants=500, seed=8)
    dosage[[3, 100], [5, 9]] = -1
    write_vcf(tmp_path / "s.vcf", dosage, [f"I{i}" for i in range(60)])
    write_store([tmp_path / "s.vcf"], tmp_path / "s.vcz", variants_chunk_size=64)
    source = read_vcf(tmp_path / "s.vcf")
    assert_same_matrix(read_store(tmp_path / "s.vcz"), source)
    assert_same_matrix(read_store(tmp_path / "s.vcz", block=7), source)


def test_balanced_samples_chunk__fewest_equal_chunks_at_most_the_target():
    from ddvi_genomics.genotype.readers.convert import balanced_samples_chunk

    # hand-computed: ceil(n / ceil(n / target))
    cases = {(25_000, 10_000): 8_334, (100_000, 10_000): 10_000, (10_001, 10_000): 5_001,
             (9_999, 10_000): 9_999, (1, 10_000): 1, (60, 25): 20}  # fmt: skip
    for (n, target), size in cases.items():
        assert balanced_samples_chunk(n, target) == size, (n, target)


def test_convert__samples_cut_into_equal_chunks_by_default(tmp_path, monkeypatch):
    """60 samples with a target of 25: three chunks of 20 in the store (bio2zarr alone would
    cut 25 + 25 + 10); the store still reads back the VCF's genotypes."""
    import zarr

    from ddvi_genomics.genotype.readers import convert

    monkeypatch.setattr(convert, "SAMPLES_CHUNK_TARGET", 25)
    dosage, _ = three_populations(n_per_pop=20, n_variants=50, seed=3)
    write_vcf(tmp_path / "s.vcf", dosage, [f"I{i}" for i in range(60)])
    write_store([tmp_path / "s.vcf"], tmp_path / "s.vcz")
    assert zarr.open_group(str(tmp_path / "s.vcz"))["call_genotype"].chunks[1] == 20
    assert_same_matrix(read_store(tmp_path / "s.vcz"), read_vcf(tmp_path / "s.vcf"))


def test_store__round_trip_of_an_msprime_simulation(tmp_path):
    from ddvi_genomics.genotype.simulate import simulate_tree_sequence, write_simulation

    ts, names, pops = simulate_tree_sequence(
        "StarSplit10_T200", n_per_population=3, length=2e5, seed=3
    )
    vcf, _ = write_simulation(ts, names, pops, tmp_path / "ms")
    plain = tmp_path / "ms.vcf"  # bio2zarr wants plain or bgzipped text; the writer uses gzip
    import gzip

    plain.write_bytes(gzip.decompress(vcf.read_bytes()))
    write_store([plain], tmp_path / "ms.vcz", variants_chunk_size=100)
    source = read_vcf(plain)
    assert source.n_variants > 100
    assert_same_matrix(read_store(tmp_path / "ms.vcz"), source)


def test_convert_then_infer__same_pcs_as_from_the_vcf(sim_files, tmp_path):
    result = invoke("convert", sim_files["vcf"], "--out", tmp_path / "sim.vcz")
    assert result.exit_code == 0, result.output
    for name, source in (("v", sim_files["vcf"]), ("z", tmp_path / "sim.vcz")):
        run = invoke("infer", source, "--out", tmp_path / name, "--method", "pca", "--n-pcs", 3)
        assert run.exit_code == 0, run.output
    assert (tmp_path / "v.eigenvec").read_text() == (tmp_path / "z.eigenvec").read_text()


def test_convert__refuses_clobbering_and_non_stores_and_leaves_nothing_on_failure(
    sim_files, tmp_path
):
    assert invoke("convert", sim_files["vcf"], "--out", tmp_path / "a.vcz").exit_code == 0
    again = invoke("convert", sim_files["vcf"], "--out", tmp_path / "a.vcz")
    assert again.exit_code == 2 and "exists; use --force" in again.output
    assert (
        invoke("convert", sim_files["vcf"], "--out", tmp_path / "a.vcz", "--force").exit_code == 0
    )
    (tmp_path / "plain").mkdir()
    refused = invoke("convert", sim_files["vcf"], "--out", tmp_path / "plain", "--force")
    assert refused.exit_code == 2 and "is not a Zarr store; not overwriting" in refused.output
    bad = tmp_path / "bad.vcf"
    bad.write_text(HEADER + "1\tabc\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/1\t0/0\n")
    failed = invoke("convert", bad, "--out", tmp_path / "b.vcz")
    assert failed.exit_code == 2 and len(failed.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("b.vcz*"))


def test_convert__a_pgen_is_refused_with_the_plink2_command_that_makes_a_bed(tmp_path):
    for name in ("x.pgen", "x.pvar", "x.psam"):
        (tmp_path / name).write_text("")
    result = invoke("convert", tmp_path / "x.pgen", "--out", tmp_path / "x.vcz")
    assert result.exit_code == 2
    assert f"plink2 --pfile {tmp_path / 'x'} --make-bed" in result.output
    assert not (tmp_path / "x.vcz").exists()


def test_read_store__a_store_without_genotypes_is_one_line(tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / "empty.vcz"), mode="w")
    root.create_array("sample_id", shape=(2,), dtype=str)
    with pytest.raises(InputError, match="is not a VCF Zarr store: it has no 'call_genotype'"):
        read_store(tmp_path / "empty.vcz")
    result = invoke("infer", tmp_path / "empty.vcz", "--out", tmp_path / "o", "--method", "pca")
    assert result.exit_code == 2 and "no 'call_genotype' array" in result.output


def test_dosage_from_calls__table_path_equals_the_per_slot_path_on_every_byte_pair():
    """Oracle: the per-slot computation (checked by hand above) on random and all-pair calls."""
    from ddvi_genomics.genotype.readers.store import _dosage_by_slots

    rng = np.random.default_rng(9)
    calls = rng.integers(-128, 128, size=(300, 400, 2)).astype(np.int8)
    calls[:, ::7, 1] = -2  # haploid calls
    calls[:, ::11, 0] = -1  # missing first allele
    fast, slow = dosage_from_calls(calls), _dosage_by_slots(calls)
    assert np.array_equal(fast[0], slow[0]) and fast[1] == slow[1] > 0
    every = np.arange(1 << 16, dtype=np.uint16).view(np.int8).reshape(256, 256, 2)
    assert np.array_equal(dosage_from_calls(every)[0], _dosage_by_slots(every)[0])
    assert dosage_from_calls(calls[:, :, :1])[0].shape == (300, 400)  # ploidy 1: per-slot path
