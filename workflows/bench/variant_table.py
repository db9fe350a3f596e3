"""Seconds the QC spends on the variant table alone (no genotypes worth counting).

A synthetic table in the shape of a whole-genome call set: contigs chr1-22 and chrX in order,
rsIDs (5 % missing), and 88 % SNPs, 8 % indels, 3 % multi-allelic sites and 1 % symbolic
alleles, stored the way a VCF Zarr store holds them (a ``(n_variants, 3)`` allele matrix, ``""``
pads). Two stages are timed, each in this process, best of ``--repeats``:

* ``variant_arrays``: the store's arrays to the variant table (ALT lists joined, IDs filled);
* ``run_qc``: the in-memory QC with ``--extract`` of half the IDs, over 4 samples, so that the
  table steps (allele classes, duplicate sites, the ID list, autosomes) dominate.

Run it on two commits to compare them: it calls only functions both have.

Usage: python -m workflows.bench.variant_table --out workflows/results/bench --name NAME
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

SNP, INDEL, MULTI, SYMBOLIC = 0.88, 0.08, 0.03, 0.01


def synthetic_store_table(n_variants: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays named as in a VCF Zarr store; see the module docstring for their make-up."""
    rng = np.random.default_rng(seed)
    text = np.dtypes.StringDType()
    bases = np.array(list("ACGT"), dtype=object)
    kind = rng.choice(4, n_variants, p=[SNP, INDEL, MULTI, SYMBOLIC])
    alleles = np.full((n_variants, 3), "", dtype=object)
    alleles[:, 0] = bases[rng.integers(0, 4, n_variants)]
    alleles[:, 1] = bases[rng.integers(0, 4, n_variants)]
    alleles[kind == 1, 1] = "ATTG"
    alleles[kind == 2, 2] = "T"
    alleles[kind == 3, 1] = "<DEL>"
    ids = np.array([f"rs{i}" for i in range(n_variants)], dtype=object)
    ids[rng.random(n_variants) < 0.05] = ""
    contig = np.sort(rng.integers(0, 23, n_variants)).astype(np.int8)
    return {
        "variant_allele": np.asarray(alleles, dtype=text),
        "variant_id": np.asarray(ids, dtype=text),
        "contig_id": np.array([f"chr{c}" for c in range(1, 23)] + ["chrX"], dtype=text),
        "variant_contig": contig,
        "variant_position": np.arange(n_variants, dtype=np.int32) * 37 + 1,
    }


def best_seconds(run, repeats: int) -> tuple[float, object]:
    """Fastest of ``repeats`` calls of ``run()`` and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None) -> None:
    from ddvi_genomics.genotype.matrix import GenotypeMatrix
    from ddvi_genomics.genotype.qc.recipe import run_qc
    from ddvi_genomics.genotype.readers.store import variant_arrays
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--name", default="variant_table_cpu", help="Result file stem.")
    parser.add_argument("--variants", default="1000000,4000000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows, records = [], []
    for n in (int(v) for v in args.variants.split(",")):
        table = synthetic_store_table(n)
        arrays_s, v = best_seconds(functools.partial(variant_arrays, table), args.repeats)
        rng = np.random.default_rng(1)
        gm = GenotypeMatrix(
            rng.integers(0, 3, (n, 4)).astype(np.int8),
            v.contig, v.position, v.id, v.ref, v.alt,
            np.array([f"S{i}" for i in range(4)], dtype=object),
        )  # fmt: skip
        extract = frozenset(str(i) for i in v.id[::2])
        qc_s, (out, _) = best_seconds(
            functools.partial(run_qc, gm, extract=extract, min_maf=0.0), args.repeats
        )
        records.append({"variants": n, "variant_arrays_s": arrays_s, "run_qc_s": qc_s,
                        "kept": out.n_variants})  # fmt: skip
        rows.append([f"{n:,}", f"{arrays_s:.2f}", f"{qc_s:.2f}", f"{out.n_variants:,}"])
        print(rows[-1], flush=True)
    lines = [
        "# QC seconds on the variant table alone",
        "",
        "Synthetic whole-genome-shaped table (88 % SNPs, 8 % indels, 3 % multi-allelic, 1 % "
        f"symbolic; chr1-22 and chrX); best of {args.repeats} runs per stage, one process.",
        "",
        *markdown_table(["variants", "variant_arrays s", "run_qc s", "kept"], rows),
        "",
        "Command: `python -m workflows.bench.variant_table --out workflows/results/bench "
        f"--name {args.name} --variants {args.variants} --repeats {args.repeats}`",
    ]
    record = {"rows": records, "provenance": provenance()}
    write_result(args.out, args.name, record, lines)


if __name__ == "__main__":
    main()
