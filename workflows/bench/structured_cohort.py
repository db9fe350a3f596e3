"""A structured cohort for the scale benchmarks: msprime ancestry written straight to ``.bed``.

Eleven populations split one after another from a common lineage (a "ladder": P02 splits off
100 x 2 = 200 generations ago, ..., P11 at 1,100), each of 10,000 diploids, so F_ST between P01
and P02 is about 1 - exp(-200 / 20,000) = 0.01 (neighbours within a continent) and between P01
and P11 about 0.05; every population pair differs by a distinct amount of drift. Sample sizes fall as 1 / rank (P01 about 33 %, P11 about 3 %), as in a cohort
with one majority ancestry. Unequal drift and unequal sizes give the leading PCs distinct
eigenvalues, so PC-by-PC agreement between solvers is well defined.

Sites with one mutation whose derived-allele frequency is within [``min_maf``, 1 - ``min_maf``]
are kept, the first ``n_variants`` along the sequence (a genotyping array ascertains common
SNPs); a share ``missing`` of calls is set missing at random. Samples are shuffled, so the first
N of the written order are a random subset of the cohort.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

N_POPULATIONS = 11
POPULATION_SIZE = 10_000
SPLIT_STEP_GENERATIONS = 100
MUTATION_RATE = 1.29e-8  # per bp per generation, stdpopsim's HomSap default
RECOMBINATION_RATE = 1e-8  # per bp per generation
#: bp simulated per common (MAF >= 0.01) site kept, measured at 110,000 diploids: 4 Mb gave
#: 9,569 such sites; with a margin.
BP_PER_COMMON_SITE = 480.0
#: PLINK 1 2-bit codes (low bits first) of ALT-allele dosage 0, 1, 2: hom A2 (REF), het, hom A1.
BED_CODE_OF_DOSAGE = np.array([0b11, 0b10, 0b00], dtype=np.uint8)
BED_MISSING = 0b01


def population_names() -> list[str]:
    return [f"P{i + 1:02d}" for i in range(N_POPULATIONS)]


def sample_counts(n_samples: int) -> np.ndarray:
    """Diploids per population, proportional to 1 / rank, summing to ``n_samples``.

    Returns
    -------
    np.ndarray, shape (N_POPULATIONS,)
    """
    weight = 1.0 / np.arange(1, N_POPULATIONS + 1)
    counts = np.floor(weight / weight.sum() * n_samples).astype(int)
    counts[0] += n_samples - counts.sum()
    return counts


def simulate_ladder(n_samples: int, length: float, seed: int):
    """msprime ancestry and mutations of ``n_samples`` diploids on ``length`` bp."""
    import msprime

    demography = msprime.Demography()
    names = population_names()
    for name in names:
        demography.add_population(name=name, initial_size=POPULATION_SIZE)
    for i, name in enumerate(names[1:], start=1):
        # backwards in time, every lineage of population i moves into P01: the split
        demography.add_mass_migration(
            time=SPLIT_STEP_GENERATIONS * (i + 1), source=name, dest=names[0], proportion=1.0
        )
    demography.sort_events()
    counts = sample_counts(n_samples)
    ts = msprime.sim_ancestry(
        {name: int(c) for name, c in zip(names, counts)},
        demography=demography,
        sequence_length=length,
        recombination_rate=RECOMBINATION_RATE,
        random_seed=seed + 1,
    )
    return msprime.sim_mutations(ts, rate=MUTATION_RATE, random_seed=seed + 2)


def common_sites(ts, min_maf: float) -> np.ndarray:
    """IDs of sites with one mutation whose derived frequency is in [min_maf, 1 - min_maf].

    Counted from each mutation's subtree, without decoding genotypes.
    """
    n = ts.num_samples
    keep = []
    for tree in ts.trees():
        for site in tree.sites():
            if len(site.mutations) != 1:
                continue
            frequency = tree.num_samples(site.mutations[0].node) / n
            if min_maf <= frequency <= 1.0 - min_maf:
                keep.append(site.id)
    return np.asarray(keep, dtype=np.int64)


def pack_bed_rows(dosage: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """PLINK 1 ``.bed`` bytes of variant-major rows.

    Parameters
    ----------
    dosage : np.ndarray, shape (n_variants, n_samples), uint8
        ALT-allele counts 0, 1, 2.
    missing : np.ndarray, shape (n_variants, n_samples), bool

    Returns
    -------
    np.ndarray, shape (n_variants, ceil(n_samples / 4)), uint8
    """
    codes = BED_CODE_OF_DOSAGE[dosage]
    codes[missing] = BED_MISSING
    pad = (-codes.shape[1]) % 4
    codes = np.pad(codes, ((0, 0), (0, pad))).reshape(codes.shape[0], -1, 4)
    return codes[..., 0] | codes[..., 1] << 2 | codes[..., 2] << 4 | codes[..., 3] << 6


def write_structured_cohort(
    folder: Path,
    parts: dict[str, tuple[int, int]],
    *,
    n_variants: int,
    min_maf: float = 0.01,
    missing: float = 0.01,
    seed: int = 1,
    chunk: int = 2_000,
) -> dict:
    """Simulate ``max(stop)`` diploids and write one ``.bed/.bim/.fam`` per part, plus a panel.

    Parameters
    ----------
    folder : Path
    parts : dict of str to (start, stop)
        File prefix -> the range of shuffled samples it holds (e.g. the first 10,000 and the
        last 10,000 as new samples).
    n_variants : int
        Common SNPs written (the same ones in every part).

    Returns
    -------
    dict
        Seconds per step, sites simulated and kept, and sample counts per population.
    """
    folder = Path(folder)
    n_samples = max(stop for _, stop in parts.values())
    rng = np.random.default_rng(seed)
    timings = {}
    t0 = time.perf_counter()
    ts = simulate_ladder(n_samples, BP_PER_COMMON_SITE * n_variants, seed)
    timings["simulate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sites = common_sites(ts, min_maf)
    if len(sites) < n_variants:
        raise RuntimeError(
            f"{len(sites):,} common sites simulated, {n_variants:,} asked for: raise "
            "BP_PER_COMMON_SITE"
        )
    n_sites_simulated = ts.num_sites
    ts = ts.delete_sites(np.setdiff1d(np.arange(ts.num_sites), sites[:n_variants]))
    timings["select_sites_s"] = time.perf_counter() - t0

    nodes = np.array([ind.nodes for ind in ts.individuals()])  # (n_samples, 2) haplotype nodes
    if not np.array_equal(nodes.ravel(), ts.samples()):
        raise RuntimeError("sample nodes are not in individual order")
    names = population_names()
    population = np.array([names[ts.node(a).population] for a, _ in nodes])
    order = rng.permutation(n_samples)  # written sample j is simulated individual order[j]
    sample_id = np.array([f"{population[i]}_{i}" for i in order])

    t0 = time.perf_counter()
    handles = {name: open(folder / f"{name}.bed", "wb") for name in parts}
    for fh in handles.values():
        fh.write(bytes([0x6C, 0x1B, 0x01]))
    positions = np.empty(ts.num_sites, dtype=np.int64)
    block = np.empty((chunk, 2 * n_samples), dtype=np.uint8)

    def flush(rows: int) -> None:
        haplotypes = block[:rows]
        dosage = (haplotypes[:, 0::2] + haplotypes[:, 1::2])[:, order]
        absent = rng.random(dosage.shape, dtype=np.float32) < missing
        for name, (start, stop) in parts.items():
            packed = pack_bed_rows(dosage[:, start:stop], absent[:, start:stop])
            handles[name].write(np.ascontiguousarray(packed).tobytes())

    filled = 0
    for variant in ts.variants(copy=False):
        block[filled] = variant.genotypes
        positions[variant.site.id] = int(variant.site.position) + 1  # .bim is 1-based
        filled += 1
        if filled == chunk:
            flush(filled)
            filled = 0
    if filled:
        flush(filled)
    for fh in handles.values():
        fh.close()
    timings["write_bed_s"] = time.perf_counter() - t0

    bim = "".join(f"1\t1:{p}\t0\t{p}\tT\tC\n" for p in positions)  # A1 = ALT (derived)
    for name, (start, stop) in parts.items():
        (folder / f"{name}.bim").write_text(bim)
        (folder / f"{name}.fam").write_text(
            "".join(f"{s}\t{s}\t0\t0\t0\t-9\n" for s in sample_id[start:stop])
        )
    (folder / "panel.tsv").write_text(
        "sample\tpop\tsuper_pop\n"
        + "".join(f"{s}\t{population[i]}\t{population[i]}\n" for s, i in zip(sample_id, order))
    )
    counts = dict(zip(*np.unique(population, return_counts=True)))
    return {
        **timings,
        "sites_simulated": int(n_sites_simulated),
        "common_sites": int(len(sites)),
        "variants_written": int(ts.num_sites),
        "samples": int(n_samples),
        "per_population": {str(k): int(v) for k, v in counts.items()},
    }
