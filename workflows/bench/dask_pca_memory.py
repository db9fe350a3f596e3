"""Peak memory of the out-of-core Dask PCA as the number of variants grows, against the in-memory
PCA on the same VCF Zarr stores.

For each variant count, a simulated VCF (``--samples`` samples from three populations with
diverged allele frequencies, binomial genotypes, 1 % missing calls) is converted to a VCF Zarr
store (bio2zarr, 10,000-variant chunks). Then, each in its own process so that the peak resident
memory is its own: ``store_pca`` (QC + exact PCA on Dask, local threads) and the in-memory path
(``read_store`` + QC + ``GenotypePCA``), both computing 10 PCs.

Usage: python -m workflows.bench.dask_pca_memory --out workflows/results/bench
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 10_000

_MEASURE = """
import json, resource, sys, time, tracemalloc
store, mode, traced = sys.argv[1], sys.argv[2], sys.argv[3] == "traced"
from ddvi_genomics.genotype.mapping.ancestry_map import apply_qc
from ddvi_genomics.genotype.pca import GenotypePCA
from ddvi_genomics.genotype.pca.outofcore import store_pca
from ddvi_genomics.genotype.qc.outofcore import store_qc
from ddvi_genomics.genotype.qc.recipe import QCOptions
from ddvi_genomics.genotype.readers.store import read_store

def peak_mib():  # tracemalloc's peak since the last reset (None when not tracing)
    return tracemalloc.get_traced_memory()[1] / 2**20 if traced else None

if traced:
    tracemalloc.start()
t0 = time.perf_counter()
if mode == "dask":
    qc = store_qc(store)
    qc_peak = peak_mib()
    tracemalloc.reset_peak()
    pca, scores, qc = store_pca(store, 10, qc=qc)
    kept = int(qc.keep.sum())
else:
    gm, _ = apply_qc(read_store(store), QCOptions())
    qc_peak = peak_mib()
    tracemalloc.reset_peak()
    GenotypePCA(10, solver="exact").fit_transform(gm.dosage)
    kept = gm.n_variants
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "kept": kept,
                  "traced_qc_peak_mib": qc_peak, "traced_pca_peak_mib": peak_mib()}))
"""


def write_vcf(path: Path, n_variants: int, n_samples: int, seed: int = 0) -> None:
    """Plain-text VCF of binomial genotypes from three populations (1 % missing calls)."""
    rng = np.random.default_rng(seed)
    codes = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    pops = np.arange(n_samples) % 3
    with open(path, "wb") as fh:
        fh.write(b"##fileformat=VCFv4.2\n##contig=<ID=1>\n"
                 b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')  # fmt: skip
        fh.write(("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                  + "\t".join(f"S{i}" for i in range(n_samples)) + "\n").encode())  # fmt: skip
        for start in range(0, n_variants, 2000):
            n = min(2000, n_variants - start)
            p = rng.uniform(0.05, 0.95, n)
            freq = np.clip(rng.beta(p[:, None] * 9, (1 - p[:, None]) * 9, size=(n, 3)), 0.01, 0.99)
            g = rng.binomial(2, freq[:, pops])
            g[rng.random(g.shape) < 0.01] = 3
            cells = codes[g]
            for i in range(n):
                fh.write(b"1\t%d\tv%d\tA\tG\t.\tPASS\t.\tGT\t" % (10 * (start + i) + 1, start + i))
                fh.write(b"\t".join(cells[i]) + b"\n")


def measure(store: Path, mode: str, traced: bool = False) -> dict:
    """Run one PCA in a fresh process; ``traced`` adds tracemalloc's peak (and its overhead)."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(store), mode,
                          "traced" if traced else "plain"],
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    from ddvi_genomics.genotype.readers.convert import write_store
    from ddvi_genomics.provenance import provenance
    from workflows.report import format_mean_ci, markdown_table, mean_ci, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="workflows/results/bench")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--variants", default="25000,100000,200000")
    parser.add_argument(
        "--repeats", type=int, default=3, help="Runs per cell (RSS varies ~50 MiB)."
    )
    args = parser.parse_args(argv)
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for m in (int(v) for v in args.variants.split(",")):
            vcf, store = Path(tmp) / f"s{m}.vcf", Path(tmp) / f"s{m}.vcz"
            t0 = time.perf_counter()
            write_vcf(vcf, m, args.samples)
            write_store([vcf], store, workers=2, variants_chunk_size=CHUNK)
            convert_s = time.perf_counter() - t0
            vcf.unlink()
            for mode in ("dask", "in-memory"):
                runs = [measure(store, mode) for _ in range(args.repeats)]
                traced = measure(store, mode, traced=True)
                records.append({"variants": m, "mode": mode, "convert_seconds": convert_s,
                                "runs": runs, "traced": traced})  # fmt: skip
                rss = mean_ci([r["peak_rss_mib"] for r in runs])
                secs = mean_ci([r["seconds"] for r in runs])
                rows.append([f"{m:,}", mode, f"{runs[0]['kept']:,}", format_mean_ci(*secs, 1),
                             format_mean_ci(*rss, 0), f"{traced['traced_qc_peak_mib']:.1f}",
                             f"{traced['traced_pca_peak_mib']:.1f}"])  # fmt: skip
                print(rows[-1], flush=True)
    lines = [
        f"# Out-of-core PCA peak memory: {args.samples:,} samples, growing variant counts",
        "",
        "Each run in its own process (peak resident memory of that process, including the "
        "Python/NumPy/Dask runtime); QC + exact PCA of 10 PCs from the same VCF Zarr store "
        f"({CHUNK:,}-variant chunks). 'dask' is `store_pca` on local threads; 'in-memory' reads "
        "the whole store into int8 dosages first.",
        "",
        f"Mean ± 95 % t-interval over {args.repeats} runs per cell (the same run's peak RSS "
        "varies by about 50 MiB). The traced peaks come from one more run under tracemalloc: the "
        "peak of the memory that Python and NumPy allocated (the runtime and the imported modules "
        "excluded) during the QC, then during the PCA (which starts holding the QC's result). "
        "They repeat to within a MiB and show what each step itself holds.",
        "",
        *markdown_table(
            [
                "variants",
                "path",
                "kept after QC",
                "seconds",
                "peak RSS MiB",
                "traced peak MiB: QC",
                "PCA",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Command: `python -m workflows.bench.dask_pca_memory --out workflows/results/bench "
        f"--samples {args.samples} --variants {args.variants} --repeats {args.repeats}`",
    ]
    record = {"rows": records, "samples": args.samples, "provenance": provenance()}
    write_result(args.out, "dask_pca_memory_cpu", record, lines)


if __name__ == "__main__":
    main()
