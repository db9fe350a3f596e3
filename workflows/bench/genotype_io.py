"""Ingest and PCA speed: our reader against allel.read_vcf and a plain cyvcf2 loop; our PCA against
sklearn randomized PCA and allel.randomized_pca, on one simulated 2,504-sample VCF.

The VCF has ``--variants`` biallelic SNPs (default 100,000) for 2,504 samples drawn from three
populations with diverged allele frequencies (binomial genotypes, about 5 % of calls missing in
1 % of variants), written gzipped. Each reader runs in its own subprocess, so the reported peak
memory (max RSS) is its own.

Usage: python -m workflows.bench.genotype_io --out workflows/results/genotype [--variants 100000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


N_SAMPLES = 2504


def simulate_vcf(path: Path, n_variants: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    codes = np.array([b"0/0", b"0/1", b"1/1", b"./."], dtype="S3")
    pops = np.repeat(np.arange(3), [835, 835, 834])
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(
            b"##fileformat=VCFv4.2\n##contig=<ID=1>\n"
            b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        )
        fh.write(
            (
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                + "\t".join(f"S{i}" for i in range(N_SAMPLES))
                + "\n"
            ).encode()
        )
        for start in range(0, n_variants, 2000):
            n = min(2000, n_variants - start)
            p = rng.uniform(0.05, 0.95, n)
            freq = np.clip(rng.beta(p[:, None] * 9, (1 - p[:, None]) * 9, size=(n, 3)), 0.01, 0.99)
            g = rng.binomial(2, freq[:, pops])
            g[(rng.random(n) < 0.01)[:, None] & (rng.random((n, N_SAMPLES)) < 0.05)] = 3
            cells = codes[g]
            for i in range(n):
                fh.write(
                    b"1\t%d\tv%d\tA\tG\t.\tPASS\t.\tGT\t" % (1000 + 10 * (start + i), start + i)
                )
                fh.write(b"\t".join(cells[i]) + b"\n")


def reader(name: str, path: str) -> dict:
    t0 = time.perf_counter()
    if name == "ddvi_genomics.read_vcf":
        from ddvi_genomics.genotype.io import read_vcf

        gm = read_vcf(path, progress=False)
        shape = gm.dosage.shape
    elif name == "allel.read_vcf":
        import allel

        cs = allel.read_vcf(path, fields=["calldata/GT", "variants/POS"])
        gt = allel.GenotypeArray(cs["calldata/GT"])
        d = gt.to_n_alt(fill=-1)
        shape = d.shape
    else:  # plain cyvcf2 loop over gt_types
        import cyvcf2

        rows = [v.gt_types.copy() for v in cyvcf2.VCF(path, gts012=True)]
        d = np.stack(rows).astype(np.int8)
        d[d == 3] = -1
        shape = d.shape
    seconds = time.perf_counter() - t0
    return {
        "reader": name,
        "seconds": seconds,
        "genotypes_per_s": shape[0] * shape[1] / seconds,
        "shape": list(shape),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def pca_bench(path: str) -> list[dict]:
    import allel
    from sklearn.decomposition import PCA

    from ddvi_genomics.genotype.io import read_vcf
    from ddvi_genomics.genotype.pca import GenotypePCA
    from ddvi_genomics.genotype.qc import run_qc

    gm, _ = run_qc(read_vcf(path, progress=False))
    out = []
    for name in (
        "ours exact",
        "ours randomized",
        "sklearn randomized PCA",
        "allel.randomized_pca",
    ):
        t0 = time.perf_counter()
        if name.startswith("ours"):
            coords = GenotypePCA(10, solver=name.split()[1]).fit_transform(gm.dosage)
        elif name.startswith("sklearn"):
            pca = GenotypePCA(1)
            pca.fit_transform(gm.dosage[:50])  # frequencies only, for the same scaling
            from ddvi_genomics.genotype.qc import alt_allele_frequency

            p = alt_allele_frequency(gm.dosage)
            g = np.where(gm.dosage < 0, 2 * p[:, None], gm.dosage).astype(np.float32)
            x = ((g - 2 * p[:, None]) / np.sqrt(p * (1 - p))[:, None]).T
            coords = PCA(10, svd_solver="randomized", random_state=0).fit_transform(x)
        else:
            p = np.where(gm.dosage < 0, np.nan, gm.dosage)
            mean = np.nanmean(p, axis=1, keepdims=True)
            g = np.where(np.isnan(p), mean, p).astype(np.float32)
            coords, _ = allel.randomized_pca(
                g, n_components=10, scaler="patterson", random_state=0
            )
        out.append(
            {
                "method": name,
                "seconds": time.perf_counter() - t0,
                "matrix": list(gm.dosage.shape),
                "pc1_abs_mean": float(np.abs(coords[:, 0]).mean()),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--vcf", help="Reuse this simulated VCF instead of writing a new one.")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(pca_bench(args.vcf) if args.run == "pca" else reader(args.run, args.vcf)))
        return
    from ddvi_genomics.provenance import provenance
    from workflows.report import markdown_table, write_result

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vcf = Path(args.vcf) if args.vcf else Path("/tmp") / f"bench_{args.variants}.vcf.gz"
    if not vcf.exists():
        t0 = time.perf_counter()
        simulate_vcf(vcf, args.variants)
        print(f"simulated {vcf} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    results = {}
    for name in ("ddvi_genomics.read_vcf", "allel.read_vcf", "cyvcf2 gt_types loop", "pca"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "workflows.bench.genotype_io",
                "--out",
                args.out,
                "--vcf",
                str(vcf),
                "--run",
                name,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, results[name], file=sys.stderr)
    record = {
        "benchmark": "genotype_ingest_pca",
        "vcf": f"simulated, {args.variants} biallelic SNPs x {N_SAMPLES} "
        f"samples, gzip level 1, {vcf.stat().st_size / 2**20:.0f} MiB",
        "results": results,
        "provenance": provenance(),
    }
    readers = ("ddvi_genomics.read_vcf", "allel.read_vcf", "cyvcf2 gt_types loop")
    lines = [
        "# Genotype ingest and PCA (CPU)",
        "",
        record["vcf"] + ".",
        "",
        *markdown_table(
            ["reader", "seconds", "genotypes/s", "peak RSS (MB)"],
            (
                [
                    name,
                    f"{r['seconds']:.1f}",
                    f"{r['genotypes_per_s'] / 1e6:.1f} M",
                    f"{r['peak_rss_mb']:.0f}",
                ]
                for name, r in ((n, results[n]) for n in readers)
            ),
        ),
        "",
        *markdown_table(
            ["PCA (10 components, after QC)", "seconds"],
            (
                [f"{r['method']} ({r['matrix'][0]:,} x {r['matrix'][1]:,})", f"{r['seconds']:.1f}"]
                for r in results["pca"]
            ),
        ),
    ]
    write_result(out, "genotype_io_cpu", record, lines)


if __name__ == "__main__":
    main()
