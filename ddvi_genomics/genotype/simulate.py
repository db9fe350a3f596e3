"""Simulated genotypes from stdpopsim demographic models fitted to 1000 Genomes populations.

Also :data:`STAR_SPLIT_MODEL`, many closely related populations (fine-scale structure) simulated
with msprime directly. Needs the optional extra ``ddvi-genomics[sim]`` (msprime, stdpopsim). Uses a generic contig with
the species' mean mutation and recombination rates, so nothing is downloaded. Sites with more than
one mutation are removed (biallelic SNPs only), and positions are shifted by +1 because VCF
positions are 1-based (msprime's are 0-based).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import InputError
from .readers.vcf_text import BgzfWriter

#: Ten populations of 10,000 diploids that split from one ancestor 200 generations ago, no
#: migration: expected F_ST about 1 - exp(-200 / 20,000) = 0.01, the scale of neighbouring
#: populations within a continent (e.g. CHB-JPT, CEU-TSI in 1000 Genomes).
STAR_SPLIT_MODEL = "StarSplit10_T200"
STAR_SPLIT = {"n_populations": 10, "split_generations": 200, "population_size": 10_000}
HUMAN_MUTATION_RATE = 1.29e-8  # per bp per generation (stdpopsim HomSap default)
HUMAN_RECOMBINATION_RATE = 1e-8  # per bp per generation


def _simulate_star_split(n_per_population: int, length: float, seed: int):
    import msprime

    from ..core.runtime import derive_seed

    k = STAR_SPLIT["n_populations"]
    size = STAR_SPLIT["population_size"]
    demography = msprime.Demography()
    names = [f"P{i + 1:02d}" for i in range(k)]
    for name in names:
        demography.add_population(name=name, initial_size=size)
    demography.add_population(name="ANC", initial_size=size)
    demography.add_population_split(
        time=STAR_SPLIT["split_generations"], derived=names, ancestral="ANC"
    )
    ts = msprime.sim_ancestry(
        {name: n_per_population for name in names},
        demography=demography,
        sequence_length=length,
        recombination_rate=HUMAN_RECOMBINATION_RATE,
        random_seed=derive_seed(seed, "ancestry") % (2**31 - 1) + 1,
    )
    return msprime.sim_mutations(
        ts, rate=HUMAN_MUTATION_RATE, random_seed=derive_seed(seed, "mutations") % (2**31 - 1) + 1
    )


def simulate_tree_sequence(
    model_id: str = "OutOfAfrica_3G09",
    *,
    n_per_population: int = 50,
    length: float = 5e6,
    seed: int = 0,
):
    """Simulate ``n_per_population`` diploids from every sampled population of a HomSap model.

    Returns
    -------
    (tskit.TreeSequence, list of str, list of str)
        The tree sequence (biallelic sites only), individual names and their populations.
    """
    try:
        import stdpopsim
    except ImportError:
        raise InputError(
            "simulation needs the optional extra: pip install 'ddvi-genomics[sim]'"
        ) from None
    if model_id == STAR_SPLIT_MODEL:
        ts = _simulate_star_split(n_per_population, length, seed)
    else:
        species = stdpopsim.get_species("HomSap")
        try:
            model = species.get_demographic_model(model_id)
        except ValueError:
            ids = sorted(m.id for m in species.demographic_models) + [STAR_SPLIT_MODEL]
            raise InputError(f"unknown --model {model_id!r}; choose one of {ids}") from None
        contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
        sampled = [p.name for p in model.populations if p.allow_samples]
        ts = stdpopsim.get_engine("msprime").simulate(
            model, contig, {p: n_per_population for p in sampled}, seed=seed
        )
    ts = ts.delete_sites([s.id for s in ts.sites() if len(s.mutations) > 1])
    pops = [
        ts.population(ts.node(ind.nodes[0]).population).metadata["name"]
        for ind in ts.individuals()
    ]
    names = [f"{pop}_{ind.id}" for pop, ind in zip(pops, ts.individuals())]
    return ts, names, pops


def write_simulation(ts, names, populations, prefix) -> tuple[Path, Path]:
    """Write ``PREFIX.vcf.gz`` and ``PREFIX.panel`` (contig 1, 1-based positions).

    The VCF is BGZF-compressed, as ``bgzip`` writes it, so ``tabix`` can index it.
    """
    prefix = Path(prefix)
    vcf = prefix.with_name(prefix.name + ".vcf.gz")
    panel = prefix.with_name(prefix.name + ".panel")
    with (
        BgzfWriter(vcf) as raw,
        io.TextIOWrapper(io.BufferedWriter(_Unclosed(raw)), encoding="utf-8") as fh,
    ):
        ts.write_vcf(
            fh,
            individual_names=names,
            contig_id="1",
            position_transform=lambda x: np.asarray(x, dtype=np.int64) + 1,
        )
    panel.write_text(
        "sample\tpop\tsuper_pop\tgender\n"
        + "".join(f"{n}\t{p}\t{p}\tNA\n" for n, p in zip(names, populations))
    )
    return vcf, panel


class _Unclosed(io.RawIOBase):
    """A writable byte stream over a :class:`BgzfWriter` (closed by its own ``with``)."""

    def __init__(self, out: BgzfWriter):
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._out.write(bytes(data))
        return len(data)
