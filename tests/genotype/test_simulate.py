import numpy as np
import pytest
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype.readers.panel import read_panel
from ddvi_genomics.genotype.readers.vcf import read_vcf

msprime = pytest.importorskip("msprime", reason="msprime is in the [test] and [sim] extras")


def test_msprime_vcf_round_trip__equals_genotype_matrix_summed_per_individual(tmp_path):
    ts = msprime.sim_ancestry(
        12, sequence_length=2e5, recombination_rate=1e-8, population_size=1e4, random_seed=3
    )
    ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=4)
    ts = ts.delete_sites([s.id for s in ts.sites() if len(s.mutations) > 1])
    assert ts.num_sites > 10
    with open(tmp_path / "sim.vcf", "w") as fh:
        ts.write_vcf(
            fh, contig_id="1", position_transform=lambda x: np.asarray(x, dtype=np.int64) + 1
        )
    gm = read_vcf(tmp_path / "sim.vcf")
    haplotypes = ts.genotype_matrix()  # (sites, sample nodes), nodes of individual i are 2i, 2i+1
    expected = haplotypes[:, 0::2] + haplotypes[:, 1::2]
    np.testing.assert_array_equal(gm.dosage, expected)


def test_simulate_command__out_of_africa_writes_vcf_and_panel(tmp_path):
    pytest.importorskip("stdpopsim", reason="stdpopsim is in the [test] and [sim] extras")
    result = CliRunner().invoke(
        main,
        [
            "simulate",
            "--out",
            str(tmp_path / "ooa"),
            "--n-per-pop",
            "4",
            "--length",
            "2e5",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    gm = read_vcf(tmp_path / "ooa.vcf.gz")
    assert (tmp_path / "ooa.vcf.gz").read_bytes()[12:14] == b"BC"  # BGZF, as bgzip writes
    panel = read_panel(tmp_path / "ooa.panel")
    assert gm.n_samples == 12 and sorted(panel["population"].unique()) == ["CEU", "CHB", "YRI"]
    bad = CliRunner().invoke(main, ["simulate", "--out", str(tmp_path / "x"), "--model", "Nope"])
    assert bad.exit_code == 2 and "unknown --model 'Nope'" in bad.output
