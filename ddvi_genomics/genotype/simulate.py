"""Simulated genotypes from stdpopsim demographic models fitted to 1000 Genomes populations.

Needs the optional extra ``ddvi-genomics[sim]`` (msprime, stdpopsim). Uses a generic contig with
the species' mean mutation and recombination rates, so nothing is downloaded. Sites with more than
one mutation are removed (biallelic SNPs only), and positions are shifted by +1 because VCF
positions are 1-based (msprime's are 0-based).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .errors import InputError


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
    species = stdpopsim.get_species("HomSap")
    try:
        model = species.get_demographic_model(model_id)
    except ValueError:
        ids = sorted(m.id for m in species.demographic_models)
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
    """Write ``PREFIX.vcf.gz`` (contig 1, 1-based positions) and ``PREFIX.panel``."""
    prefix = Path(prefix)
    vcf = prefix.with_name(prefix.name + ".vcf.gz")
    panel = prefix.with_name(prefix.name + ".panel")
    with gzip.open(vcf, "wt") as fh:
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
