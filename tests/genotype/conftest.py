import numpy as np
import pytest

#: A VCF header with one contig, GT and three samples S1 S2 S3 (for hand-written records).
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\n"
)


def write_vcf(path, dosage, sample_ids, contig="1", positions=None, ref="A", alt="G"):
    """Write dosages (n_variants, n_samples) as an unphased GT VCF (0/0, 0/1, 1/1, ./.)."""
    codes = {0: "0/0", 1: "0/1", 2: "1/1", -1: "./."}
    positions = positions if positions is not None else np.arange(1, len(dosage) + 1) * 1000
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={contig}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
        + "".join("\t" + s for s in ["FORMAT", *sample_ids] if sample_ids),
    ]
    for i, row in enumerate(dosage):
        calls = "\tGT\t" + "\t".join(codes[int(g)] for g in row) if len(sample_ids) else ""
        lines.append(f"{contig}\t{positions[i]}\tsnp{i}\t{ref}\t{alt}\t.\tPASS\t.{calls}")
    path.write_text("\n".join(lines) + "\n")


def three_populations(n_per_pop=50, n_variants=400, seed=0):
    """Binomial genotypes from three populations with diverged allele frequencies (Balding-Nichols-like)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, n_variants)
    freqs = [np.clip(rng.beta(p * 9, (1 - p) * 9), 0.01, 0.99) for _ in range(3)]  # F_ST about 0.1
    dosage = np.concatenate(
        [rng.binomial(2, f[:, None], size=(n_variants, n_per_pop)) for f in freqs], axis=1
    )
    labels = np.repeat(["POPA", "POPB", "POPC"], n_per_pop)
    return dosage.astype(np.int8), labels


@pytest.fixture(scope="session")
def sim_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    dosage, labels = three_populations()
    ids = [f"{lab}_{i}" for i, lab in enumerate(labels)]
    write_vcf(d / "sim.vcf", dosage, ids)
    panel = d / "sim.panel"
    panel.write_text(
        "sample\tpop\tsuper_pop\tgender\n"
        + "".join(
            f"{s}\t{lab}\t{'SUPA' if lab == 'POPA' else 'SUPBC'}\tNA\n"
            for s, lab in zip(ids, labels)
        )
    )
    return {
        "dir": d,
        "vcf": d / "sim.vcf",
        "panel": panel,
        "dosage": dosage,
        "labels": labels,
        "ids": ids,
    }
