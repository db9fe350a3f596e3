"""Read genotypes (VCF, bgzipped VCF, BCF, PLINK 1 .bed) and sample panels.

Every reader returns a :class:`GenotypeMatrix`: alternate-allele dosages of shape
``(n_variants, n_samples)``, int8, with ``-1`` for a missing call (any allele missing), plus the
variant table and sample IDs. Calls are counted as non-reference alleles, so a multi-allelic site
gets the number of non-reference alleles (QC drops those sites by default). A haploid call counts
as homozygous (0 or 2), the PLINK convention; the number of haploid calls is reported.

VCF and BCF go through cyvcf2 (htslib), except the commonest form of text VCF (FORMAT ``GT`` only,
diploid one-digit calls), which :mod:`.vcf_text` decodes block-wise with byte comparisons and
threaded BGZF inflation. ``region`` uses the tabix/CSI index when there is one and
otherwise filters while streaming, so unindexed files work too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.progress import RateProgress
from .errors import InputError
from .vcf_text import read_simple_vcf

log = logging.getLogger("ddvi_genomics")

_REGION = re.compile(r"^(?P<contig>[^:\s]+)(:(?P<start>[\d,]+)(-(?P<end>[\d,]+))?)?$")


@dataclasses.dataclass
class GenotypeMatrix:
    """Dosages and their variant and sample tables.

    Attributes
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        Non-reference allele count per call; -1 = missing.
    variant_contig, variant_id, variant_ref, variant_alt : np.ndarray of str, shape (n_variants,)
        ``variant_alt`` joins several alternate alleles with commas ("" when there is none).
    variant_position : np.ndarray, int64, shape (n_variants,)
        1-based positions.
    sample_id : np.ndarray of str, shape (n_samples,)
    n_haploid_calls : int
        Haploid calls read (counted as homozygous).
    sample_family : np.ndarray of str, shape (n_samples,), optional
        PLINK family IDs (FID) where the input has them (a ``.fam``); None for VCF/BCF.
    """

    dosage: np.ndarray
    variant_contig: np.ndarray
    variant_position: np.ndarray
    variant_id: np.ndarray
    variant_ref: np.ndarray
    variant_alt: np.ndarray
    sample_id: np.ndarray
    n_haploid_calls: int = 0
    sample_family: np.ndarray | None = None

    @property
    def n_variants(self) -> int:
        """Number of variants (rows)."""
        return self.dosage.shape[0]

    @property
    def n_samples(self) -> int:
        """Number of samples (columns)."""
        return self.dosage.shape[1]

    def subset(self, variants=None, samples=None) -> GenotypeMatrix:
        """Select variants and/or samples by boolean mask or index array."""
        v = slice(None) if variants is None else variants
        s = slice(None) if samples is None else samples
        if variants is None or samples is None:
            dosage = self.dosage[v] if samples is None else self.dosage[:, s]
        else:  # one copy, not an intermediate one per axis
            dosage = self.dosage[np.ix_(_as_index(variants), _as_index(samples))]
        return GenotypeMatrix(
            dosage,
            self.variant_contig[v],
            self.variant_position[v],
            self.variant_id[v],
            self.variant_ref[v],
            self.variant_alt[v],
            self.sample_id[s],
            self.n_haploid_calls,
            None if self.sample_family is None else self.sample_family[s],
        )


def _as_index(selection) -> np.ndarray:
    selection = np.asarray(selection)
    return np.flatnonzero(selection) if selection.dtype == bool else selection


def parse_region(region: str) -> tuple[str, int, int | None]:
    """Parse ``CONTIG``, ``CONTIG:START`` or ``CONTIG:START-END`` (1-based, inclusive).

    Raises
    ------
    InputError
        For any other form, or END < START.
    """
    match = _REGION.match(region.strip()) if region else None
    if match is None:
        raise InputError(
            f"bad --region {region!r}: expected CONTIG, CONTIG:START or CONTIG:START-END (e.g. 1:1000-2000)"
        )
    start = int(match["start"].replace(",", "")) if match["start"] else 1
    end = int(match["end"].replace(",", "")) if match["end"] else None
    if end is not None and end < start:
        raise InputError(f"bad --region {region!r}: END {end} is before START {start}")
    return match["contig"], start, end


_PLINK_HUMAN_CONTIG_CODES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
"""PLINK's numeric codes for the human sex chromosomes, pseudo-autosomal region and
mitochondria (a ``.bim`` from PLINK 1.9 writes X as 23), and ``chrM``'s ``M``; plink2 reads each
code and its name as one contig."""


def normalize_contig(contig) -> str:
    """Return the name that identifies a contig when contigs are compared.

    The ``chr`` prefix is dropped (``chr1`` and ``1`` name the same contig), and PLINK's human
    codes name their contigs as plink2 reads them: 23 is X, 24 Y, 25 XY, 26 and M are MT. (A
    genome with more than 22 numbered chromosomes would need its 23 kept apart from X; plink2
    asks for a species flag then, and this tool does not offer one.)
    """
    name = str(contig)
    name = name[3:] if name.lower().startswith("chr") else name
    return _PLINK_HUMAN_CONTIG_CODES.get(name, name)


def contig_name_codes(contig) -> tuple[np.ndarray, np.ndarray]:
    """Code each row's contig by its :func:`normalize_contig` name.

    Names are normalised once per distinct contig, not once per variant.

    Parameters
    ----------
    contig : array-like of str, shape (n_variants,)

    Returns
    -------
    codes : np.ndarray, int64, shape (n_variants,)
        Numbered in order of first appearance; ``chr1`` and ``1`` share a code.
    names : np.ndarray of str, shape (n_contigs,)
        ``names[codes]`` is each row's normalised name.
    """
    raw_codes, raw_names = pd.factorize(np.asarray(contig, dtype=object), use_na_sentinel=False)
    normalized = np.array([normalize_contig(name) for name in raw_names], dtype=object)
    name_codes, names = pd.factorize(normalized, use_na_sentinel=False)  # first appearance kept
    return name_codes[raw_codes].astype(np.int64), np.asarray(names, dtype=object)


def _same_contig(a: str, b: str) -> bool:
    return normalize_contig(a) == normalize_contig(b)


def read_samples_file(path: str | os.PathLike) -> frozenset[str]:
    """Sample IDs from a PLINK 2 ``--keep`` / ``--remove`` style file, as a set.

    A set, because PLINK keeps the input's sample order whatever the order of the lines:
    :func:`select_samples` picks a set's samples in the file's order.

    One column means IIDs; two or more mean ``FID IID ...`` (the IID is used). A header line
    starting with ``#FID`` or ``#IID`` says which; other ``#`` lines are comments.
    """
    path = Path(path)
    if not path.exists() or path.is_dir():  # a pipe (<(cut -f1 keep.txt)) is fine
        raise InputError(f"samples file {path} does not exist or is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"samples file {path} cannot be read as text: {err}") from None
    column = None
    ids = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] in ("#FID", "#IID"):
            column = fields.index("IID") if "IID" in fields else 0
            continue
        if fields[0].startswith("#"):
            continue
        index = column if column is not None else (1 if len(fields) >= 2 else 0)
        if index >= len(fields):
            raise InputError(f"samples file {path}: line {line!r} has no IID column")
        ids.append(fields[index])
    if not ids:
        raise InputError(f"samples file {path} lists no sample IDs")
    seen: set[str] = set()
    for sample in ids:
        if sample in seen:
            raise InputError(f"samples file {path} lists sample {sample!r} more than once")
        seen.add(sample)
    return frozenset(ids)


def select_samples(
    all_ids: Sequence[str], wanted: Sequence[str] | frozenset[str] | None, path
) -> np.ndarray:
    """Column indices of ``wanted`` in ``all_ids`` (all columns when ``wanted`` is None).

    A sequence gives the columns in its own order, and each of its IDs must be present. A set
    (a ``--keep`` file, see :func:`read_samples_file`) is read as PLINK reads one: its samples
    come in the order of ``all_ids``, and IDs the file lacks are skipped with a warning.

    Raises
    ------
    InputError
        When ``all_ids`` is empty or holds duplicates, a sequence's ID is absent, or no ID of a
        set is present (``path`` named).
    """
    seen, dups = set(), []
    for s in all_ids:
        if s in seen:
            dups.append(s)
        seen.add(s)
    if dups:
        raise InputError(
            f"{path}: duplicate sample ID {dups[0]!r} ({len(dups)} duplicates); IDs must be unique"
        )
    if not all_ids:
        raise InputError(f"{path}: the file has no samples")
    if wanted is None:
        return np.arange(len(all_ids))
    index = {s: i for i, s in enumerate(all_ids)}
    missing = [s for s in wanted if s not in index]
    if isinstance(wanted, set | frozenset):
        missing = sorted(missing)  # a set has no order of its own: name the first in sort order
        chosen = [i for i, s in enumerate(all_ids) if s in wanted]
        if not chosen:
            raise InputError(
                f"{path}: none of the {len(wanted)} requested samples is in the file "
                f"(first absent {missing[0]!r})"
            )
        if missing:
            log.warning(
                "%s: %d requested sample(s) not in the file, skipped as PLINK does (first %r); "
                "%d kept", path, len(missing), missing[0], len(chosen),
            )  # fmt: skip
        return np.array(chosen, dtype=np.int64)
    if missing:
        raise InputError(
            f"{path}: {len(missing)} requested sample(s) not in the file, first {missing[0]!r}"
        )
    return np.array([index[s] for s in wanted], dtype=np.int64)


def read_vcf(
    path: str | os.PathLike,
    *,
    region: str | None = None,
    samples: Sequence[str] | None = None,
    chunk_size: int = 4096,
    progress: bool | None = None,
) -> GenotypeMatrix:
    """Read GT calls from a VCF, bgzipped VCF or BCF into dosages.

    Parameters
    ----------
    path : path
    region : str, optional
        ``CONTIG[:START[-END]]``; a ``chr`` prefix on either side is ignored.
    samples : sequence or set of str, optional
        Keep these samples, in this order (a set: in the file's order).
    chunk_size : int
        Variants decoded per vectorised block.
    progress : bool, optional
        Rows/s line on stderr (default: only on a terminal).

    Returns
    -------
    GenotypeMatrix

    Raises
    ------
    InputError
        Missing or unreadable file, not a VCF/BCF, no GT field, no samples, duplicate or unknown
        sample IDs, or a bad region.
    """
    path = _readable_file(path, "input file")
    with htslib_messages(path) as stderr:
        vcf = _open_vcf(path)
        keep = select_samples(list(vcf.samples), samples, path)
        reader = _GenotypeBlocks(path, np.asarray(vcf.samples, dtype=object), keep)
        reporter = RateProgress("read", progress, stream=stderr)
        if region is None and len(keep):
            simple = read_simple_vcf(path, len(vcf.samples), keep, on_rows=reporter.update)
            if simple is not None:
                reporter.update(len(simple[0]), final=True)
                return reader.matrix_of(*simple)
            log.debug("%s: not a GT-only diploid text VCF; reading it through cyvcf2", path)
            reporter = RateProgress("read", progress, stream=stderr)
        last = "the header"
        try:
            for rec in _iter_region(vcf, path, region):
                reader.add(rec)
                last = f"{rec.CHROM}:{rec.POS}"
                if reader.n_pending >= chunk_size:
                    reader.flush()
                    reporter.update(reader.n_read)
            reader.flush()
        except InputError:
            raise
        except Exception as err:  # htslib reports malformed records as bare exceptions
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputError(
                f"{path}: malformed record after {last} (record {reader.n_read + 1}): {message}"
            ) from None
        reporter.update(reader.n_read, final=True)
    return reader.matrix()


@contextlib.contextmanager
def htslib_messages(path):
    """Capture what htslib writes to file descriptor 2 while a block runs.

    htslib reports (``[E::idx_find_and_load] ...``, ``[W::vcf_parse] ...``) go straight to the
    process's stderr and would interleave with our one-line messages. They are collected and
    logged at INFO level (shown with ``-v``). Yields a text stream on the real stderr for
    progress lines.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        stream = os.fdopen(os.dup(saved), "w", buffering=1)
        try:
            yield stream
        finally:
            stream.flush()
            stream.close()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
    if text:
        for line in text.splitlines():
            log.info("htslib (%s): %s", Path(path).name, line)


def _readable_file(path, what: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} is not readable")
    return path


def _open_vcf(path: Path):
    """Open with cyvcf2 (htslib); check that the header declares FORMAT/GT."""
    import cyvcf2

    try:
        vcf = cyvcf2.VCF(str(path), lazy=True, threads=1)
    except Exception as err:  # cyvcf2 raises a bare Exception on a bad header
        header_samples = _text_header_samples(path)
        if header_samples:  # htslib refuses duplicate names; say which one
            select_samples(header_samples, None, path)
        raise InputError(f"{path} is not a readable VCF/BCF file ({err})") from None
    try:
        header_ids = [h["ID"] for h in vcf.header_iter() if h.type == "FORMAT"]
    except Exception:  # a header that cannot be iterated is broken
        header_ids = []
    if "GT" not in header_ids:
        raise InputError(
            f"{path} has no FORMAT/GT field in its header; genotype calls (GT) are required"
        )
    return vcf


class _GenotypeBlocks:
    """Collects records, validates their calls and converts them to dosages block by block.

    Each record's GT array (``cyvcf2``: ``(n_samples, ploidy + 1)``, allele indices with -1 for
    missing and -2 for the padding of a shorter call, last column the phase flag) is checked
    against the site: allele indices may not exceed the number of ALT alleles, and calls may be
    haploid or diploid only.
    """

    def __init__(self, path: Path, sample_id: np.ndarray, keep: np.ndarray):
        self.path, self.sample_id, self.keep = path, sample_id, keep
        self.block: list[np.ndarray] = []
        self.sites: list[str] = []
        self.n_alt: list[int] = []
        self.chunks: list[np.ndarray] = []
        self.columns: dict[str, list] = {k: [] for k in ("contig", "pos", "id", "ref", "alt")}
        self.n_haploid = 0
        self.n_read = 0

    @property
    def n_pending(self) -> int:
        return len(self.block)

    def add(self, rec) -> None:
        gt = rec.genotype
        if gt is None:
            raise InputError(f"{self.path}: record {rec.CHROM}:{rec.POS} has no GT values")
        arr = gt.array()
        if self.block and arr.shape[1] != self.block[0].shape[1]:
            self.flush()
        self.block.append(arr)
        self.sites.append(f"{rec.CHROM}:{rec.POS}")
        self.n_alt.append(len(rec.ALT))
        for key, value in zip(
            ("contig", "pos", "id", "ref", "alt"),
            (rec.CHROM, rec.POS, rec.ID or ".", rec.REF, ",".join(rec.ALT)),
        ):
            self.columns[key].append(value)
        self.n_read += 1

    def flush(self) -> None:
        if not self.block:
            return
        alleles = np.stack(self.block)[:, self.keep, :-1]  # (chunk, n_samples, ploidy)
        self._validate(alleles)
        missing = (alleles == -1).any(-1)
        if alleles.shape[-1] == 1:  # every call of the block is haploid
            haploid = np.ones(alleles.shape[:-1], dtype=bool)
        else:  # htslib pads the missing second allele of a haploid call with -2
            haploid = (alleles[..., 1:] == -2).all(-1)
        self.n_haploid += int((haploid & ~missing).sum())
        nonref = (alleles > 0).sum(-1)
        dosage = np.where(haploid, nonref * 2, nonref).astype(np.int8)
        dosage[missing] = -1
        self.chunks.append(dosage)
        self.block.clear()
        self.sites.clear()
        self.n_alt.clear()

    def _validate(self, alleles: np.ndarray) -> None:
        if alleles.shape[-1] > 2:
            called = (alleles[..., 2:] != -2).any(-1)
            if called.any():
                self._fail(called, "a call of ploidy > 2", "haploid and diploid calls")
        n_alt = np.asarray(self.n_alt)[:, None, None]
        bad = ((alleles > n_alt) | (alleles < -2)).any(-1)
        if bad.any():
            self._fail(bad, "an allele index beyond the site's ALT alleles", "GT indices 0..n_ALT")

    def _fail(self, mask: np.ndarray, problem: str, allowed: str) -> None:
        r, c = np.argwhere(mask)[0]
        sample = self.sample_id[self.keep[c]]
        raise InputError(
            f"{self.path}: record {self.sites[r]}, sample {sample!r}: {problem}; allowed: {allowed}"
        )

    def matrix(self) -> GenotypeMatrix:
        n = len(self.keep)
        dosage = np.concatenate(self.chunks) if self.chunks else np.zeros((0, n), dtype=np.int8)
        return self.matrix_of(dosage, self.columns)

    def matrix_of(self, dosage: np.ndarray, cols: dict) -> GenotypeMatrix:
        """Return the matrix of ``dosage`` (variants, kept samples) and its site columns.

        Raises
        ------
        InputError
            When a POS is negative (VCF positions are 1-based; 0 marks a telomere).
        """
        position = np.array(cols["pos"], dtype=np.int64)
        negative = np.flatnonzero(position < 0)
        if len(negative):
            i = int(negative[0])
            raise InputError(
                f"{self.path}: record {cols['contig'][i]}:{position[i]} (record {i + 1}) has a "
                "negative POS; allowed: 1-based positions, or 0 for a telomere"
            )
        return GenotypeMatrix(
            dosage,
            np.array(cols["contig"], dtype=object),
            position,
            np.array(cols["id"], dtype=object),
            np.array(cols["ref"], dtype=object),
            np.array(cols["alt"], dtype=object),
            np.array([self.sample_id[i] for i in self.keep], dtype=object),
            self.n_haploid,
        )


def _text_header_samples(path: Path) -> list[str]:
    """Sample names from the ``#CHROM`` line of a plain or gzipped text VCF ([] if none found)."""
    import gzip

    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rt", errors="replace") as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    return line.rstrip("\n").split("\t")[9:]
                if not line.startswith("#"):
                    break
    except OSError:
        pass
    return []


def _iter_region(vcf, path, region):
    if region is None:
        yield from vcf
        return
    contig, start, end = parse_region(region)
    names = list(vcf.seqnames) if hasattr(vcf, "seqnames") else []
    try:
        query = f"{contig}:{start}-{end}" if end is not None else f"{contig}:{start}"
        for name in names:
            if _same_contig(name, contig):
                query = query.replace(contig, name, 1)
                break
        yield from vcf(query)
        return
    except Exception:  # no index: fall back to filtering while streaming
        pass
    for rec in vcf:
        if (
            _same_contig(rec.CHROM, contig)
            and rec.POS >= start
            and (end is None or rec.POS <= end)
        ):
            yield rec


# -- PLINK 1 binary ------------------------------------------------------------------------------

# 2-bit code -> count of the .bim A1 allele (col 5); 01 = missing
_BED_CODE_TO_A1 = np.array([2, -1, 1, 0], dtype=np.int8)
_BED_LUT = np.stack([_BED_CODE_TO_A1[(np.arange(256) >> (2 * i)) & 3] for i in range(4)], axis=1)


def read_plink(
    prefix: str | os.PathLike, *, samples: Sequence[str] | None = None
) -> GenotypeMatrix:
    """Read PLINK 1 ``PREFIX.bed/.bim/.fam`` (variant-major) into dosages of the A1 allele.

    The A1 allele (``.bim`` column 5) is taken as ALT and A2 (column 6) as REF, as PLINK writes
    them when converting from VCF.
    """
    prefix = Path(str(prefix).removesuffix(".bed"))
    bed, bim, fam = (prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))
    for f in (bed, bim, fam):
        if not f.is_file():
            raise InputError(f"PLINK file {f} does not exist (need .bed, .bim and .fam)")
    bim_df = _read_plink_table(bim, ["chr", "id", "cm", "pos", "a1", "a2"])
    fam_df = _read_plink_table(fam, ["fid", "iid", "father", "mother", "sex", "pheno"], min_cols=2)
    n_var, n_samp = len(bim_df), len(fam_df)
    with open(bed, "rb") as fh:
        magic = np.frombuffer(fh.read(3), dtype=np.uint8)
    if magic.size < 3 or magic[0] != 0x6C or magic[1] != 0x1B:
        raise InputError(f"{bed} is not a PLINK 1 .bed file (bad magic number)")
    if magic[2] != 1:
        raise InputError(f"{bed} is sample-major; only variant-major .bed files are supported")
    per_variant = (n_samp + 3) // 4
    body_size = bed.stat().st_size - 3
    if body_size != n_var * per_variant:
        raise InputError(f"{bed} holds {body_size} bytes; .bim/.fam imply {n_var * per_variant}")
    # memory-mapped: only one block of packed rows is unpacked at a time
    packed = np.memmap(bed, dtype=np.uint8, mode="r", offset=3, shape=(n_var, per_variant))
    _check_bed_padding(packed, n_samp, bed, fam)
    _refuse_iids_shared_by_families(
        fam_df["fid"].to_numpy(object), fam_df["iid"].to_numpy(object), fam
    )
    keep = select_samples(list(fam_df["iid"]), samples, fam)
    dosage = _unpack_bed(packed, n_samp, keep)
    del packed
    return GenotypeMatrix(
        dosage,
        bim_df["chr"].to_numpy(object),
        bim_df["pos"].astype(np.int64).to_numpy(),
        bim_df["id"].to_numpy(object),
        bim_df["a2"].to_numpy(object),
        bim_df["a1"].to_numpy(object),
        fam_df["iid"].to_numpy(object)[keep],
        sample_family=fam_df["fid"].to_numpy(object)[keep],
    )


def _refuse_iids_shared_by_families(fid: np.ndarray, iid: np.ndarray, path: Path) -> None:
    """Refuse, with the way out, a sample table whose IIDs repeat in different families.

    PLINK tells such samples apart by ``(FID, IID)``; this tool names samples by IID alone.
    """
    seen: dict = {}
    for family, sample in zip(fid, iid):
        if sample in seen and seen[sample] != family:
            raise InputError(
                f"{path}: IID {sample!r} is in families {seen[sample]!r} and {family!r}; samples "
                "are named by IID here, so IIDs must be unique: e.g. write FID_IID as the IID "
                "(awk '{$2=$1\"_\"$2} 1' OLD.fam > NEW.fam, beside copies of the .bed and .bim)"
            )
        seen.setdefault(sample, family)


def _unpack_bed(packed: np.ndarray, n_samples: int, keep, block: int = 8192) -> np.ndarray:
    """Dosages of the kept samples from packed ``.bed`` rows, block by block.

    Parameters
    ----------
    packed : np.ndarray, uint8, shape (n_variants, ceil(n_samples / 4))
        May be a memory map.
    keep : np.ndarray of int or bool, or slice
        Samples to keep.

    Returns
    -------
    np.ndarray, int8, shape (n_variants, n_kept)
    """
    n_var = packed.shape[0]
    n_kept = len(np.arange(n_samples)[keep])
    out = np.empty((n_var, n_kept), dtype=np.int8)
    for lo in range(0, n_var, block):
        hi = min(lo + block, n_var)
        rows = _BED_LUT[np.asarray(packed[lo:hi])].reshape(hi - lo, -1)[:, :n_samples]
        out[lo:hi] = rows[:, keep]
    return out


def read_pgen(
    prefix: str | os.PathLike, *, samples: Sequence[str] | None = None, block: int = 8192
) -> GenotypeMatrix:
    """Read PLINK 2 ``PREFIX.pgen/.pvar/.psam`` through pgenlib, one block of variants at a time.

    Dosages count non-reference alleles (``2 -`` the REF count), as for VCF, so a
    multi-allelic site gets the number of non-reference alleles; hard calls only (stored
    dosages are ignored). A ``.pvar`` without a ``#CHROM`` header line is read as a ``.bim``
    and a ``.psam`` without header as a ``.fam``, as PLINK 2 does.
    """
    try:
        import pgenlib
    except ImportError:  # pragma: no cover - a dependency; absent only in broken installs
        raise InputError("reading .pgen needs the pgenlib package (pip install pgenlib)") from None
    prefix = Path(str(prefix).removesuffix(".pgen"))
    pgen, pvar, psam = (prefix.with_name(prefix.name + ext) for ext in (".pgen", ".pvar", ".psam"))
    for f in (pgen, pvar, psam):
        if not f.is_file():
            raise InputError(f"PLINK 2 file {f} does not exist (need .pgen, .pvar and .psam)")
    variants = _read_pvar(pvar)
    sample_table = _plink_sample_table(psam)
    if "IID" not in sample_table.columns:
        raise InputError(f"{psam} has no IID column (columns: {list(sample_table.columns)})")
    iid = sample_table["IID"].to_numpy(object)
    fid = sample_table["FID"].to_numpy(object) if "FID" in sample_table.columns else None
    if fid is not None:
        _refuse_iids_shared_by_families(fid, iid, psam)
    keep = select_samples(list(iid), samples, psam)
    order = np.argsort(keep, kind="stable")  # pgenlib reads an increasing subset
    n_alleles = variants["alt"].str.count(",").to_numpy() + 2
    offsets = np.concatenate([[0], np.cumsum(np.maximum(n_alleles, 2))]).astype(np.uintp)
    try:
        reader = pgenlib.PgenReader(
            bytes(pgen),
            raw_sample_ct=len(iid),
            variant_ct=len(variants),
            sample_subset=np.sort(keep).astype(np.uint32),
            allele_idx_offsets=offsets if (n_alleles > 2).any() else None,
        )
    except RuntimeError as err:
        raise InputError(f"{pgen} cannot be read with {pvar} and {psam}: {err}") from None
    dosage = np.empty((len(variants), len(keep)), dtype=np.int8)
    buffer = np.empty((min(block, max(len(variants), 1)), len(keep)), dtype=np.int8)
    try:
        for lo in range(0, len(variants), block):
            hi = min(lo + block, len(variants))
            rows = buffer[: hi - lo]
            reader.read_range(lo, hi, rows, allele_idx=0)  # REF counts; -9 = missing
            ref_count = rows[:, np.argsort(order)]
            dosage[lo:hi] = np.where(ref_count < 0, -1, 2 - ref_count)
    except RuntimeError as err:
        raise InputError(f"{pgen}: {err}") from None
    finally:
        reader.close()
    return GenotypeMatrix(
        dosage,
        variants["chrom"].to_numpy(object),
        variants["pos"].astype(np.int64).to_numpy(),
        variants["id"].to_numpy(object),
        variants["ref"].to_numpy(object),
        variants["alt"].replace(".", "").to_numpy(object),
        iid[keep],
        sample_family=None if fid is None else fid[keep],
    )


def _read_pvar(path: Path) -> pd.DataFrame:
    """Variant table of a ``.pvar`` (``#CHROM POS ID REF ALT ...``) or header-less ``.bim``."""
    header = None
    skip = 0
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.startswith("##"):
                skip += 1
                continue
            if line.startswith("#CHROM"):
                header = line.lstrip("#").split()
                skip += 1
            break
    if header is None:  # a .bim: CHROM ID CM POS ALT(A1) REF(A2)
        bim = _read_plink_table(path, ["chr", "id", "cm", "pos", "a1", "a2"])
        return pd.DataFrame(
            {"chrom": bim["chr"], "pos": bim["pos"], "id": bim["id"], "ref": bim["a2"],
             "alt": bim["a1"]}
        )  # fmt: skip
    missing = [c for c in ("CHROM", "POS", "ID", "REF", "ALT") if c not in header]
    if missing:
        raise InputError(f"{path}: header has no {missing[0]} column (header: {' '.join(header)})")
    table = pd.read_csv(path, sep="\t", skiprows=skip, header=None, names=header, dtype=str)
    table = table.rename(columns=str.lower)[["chrom", "pos", "id", "ref", "alt"]]
    bad = ~table["pos"].fillna("").str.fullmatch(r"\d+")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}, variant {row + 1}: position {table['pos'][row]!r} is not a non-negative integer"
        )
    return table


def _read_plink_table(path: Path, names: list[str], min_cols: int | None = None) -> pd.DataFrame:
    """Read a whitespace-separated ``.bim`` / ``.fam``; every row needs ``min_cols`` fields."""
    need = len(names) if min_cols is None else min_cols
    rows = []
    with open(path, errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < need:
                raise InputError(
                    f"{path}, line {line_no}: {len(fields)} columns; a {path.suffix} row has "
                    f"{len(names)} ({' '.join(names)})"
                )
            rows.append(fields[: len(names)] + [""] * (len(names) - len(fields)))
    table = pd.DataFrame(rows, columns=names, dtype=str)
    if "pos" in table:
        bad = ~table["pos"].str.fullmatch(r"\d+")
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise InputError(
                f"{path}, row {line}: position {table['pos'][line - 1]!r} is not a "
                "non-negative integer"
            )
    return table


def _check_bed_padding(packed: np.ndarray, n_samples: int, bed: Path, fam: Path) -> None:
    """Check that the bits after the last sample of each variant are zero and hide no sample.

    Non-zero padding means the ``.bed`` holds calls of samples the ``.fam`` does not list (a
    ``.fam`` row too few). A last sample that is homozygous A1 (code 00, what zero padding reads
    as) at every one of many variants is the signature of a ``.fam`` row too many.
    """
    used = n_samples % 4
    if used == 0 or packed.size == 0:
        return
    padding = packed[:, -1] >> np.uint8(2 * used)
    if padding.any():
        variant = int(np.flatnonzero(padding)[0]) + 1
        raise InputError(
            f"{bed}: variant {variant} has calls after the last of the {n_samples} samples in "
            f"{fam}; the .fam seems to lack rows (PLINK pads with zero bits)"
        )
    last_code = (packed[:, -1] >> np.uint8(2 * (used - 1))) & np.uint8(3)
    if packed.shape[0] >= 32 and not last_code.any():
        raise InputError(
            f"{bed}: the last sample of {fam} reads as homozygous A1 at all {packed.shape[0]} "
            "variants, which is what zero padding looks like; the .fam seems to have an extra row"
        )


def write_plink(gm: GenotypeMatrix, prefix: str | os.PathLike) -> None:
    """Write biallelic dosages as PLINK 1 ``.bed/.bim/.fam`` (ALT = A1, REF = A2).

    A site without an ALT allele gets PLINK's missing allele code ``.``, so that every ``.bim``
    row has six fields.
    """
    prefix = Path(prefix)
    codes = np.full(gm.dosage.shape, 1, dtype=np.uint8)  # missing
    for code, value in ((0, 2), (2, 1), (3, 0)):
        codes[gm.dosage == value] = code
    pad = (-gm.n_samples) % 4
    codes = np.pad(codes, ((0, 0), (0, pad)), constant_values=0).reshape(gm.n_variants, -1, 4)
    packed = (codes[..., 0] | codes[..., 1] << 2 | codes[..., 2] << 4 | codes[..., 3] << 6).astype(
        np.uint8
    )
    with open(prefix.with_name(prefix.name + ".bed"), "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        fh.write(packed.tobytes())
    bim = pd.DataFrame(
        {
            "chr": gm.variant_contig,
            "id": gm.variant_id,
            "cm": 0,
            "pos": gm.variant_position,
            "a1": _allele_or_missing_code(gm.variant_alt),
            "a2": _allele_or_missing_code(gm.variant_ref),
        }
    )
    bim.to_csv(prefix.with_name(prefix.name + ".bim"), sep="\t", header=False, index=False)
    fam = pd.DataFrame(
        {
            "fid": gm.sample_id if gm.sample_family is None else gm.sample_family,
            "iid": gm.sample_id,
            "f": 0,
            "m": 0,
            "sex": 0,
            "ph": -9,
        }
    )
    fam.to_csv(prefix.with_name(prefix.name + ".fam"), sep="\t", header=False, index=False)


def _allele_or_missing_code(alleles: np.ndarray) -> np.ndarray:
    alleles = np.asarray(alleles, dtype=object)
    return np.where(alleles == "", ".", alleles)


def read_genotypes(path: str | os.PathLike, **kwargs) -> GenotypeMatrix:
    """Dispatch: a VCF Zarr store, ``.bed`` / ``.pgen`` (or their prefix), else VCF/BCF."""
    p = Path(path)
    from .store import looks_like_store, read_store

    if looks_like_store(p):
        if kwargs.get("region"):
            raise InputError("--region is supported for VCF/BCF input only")
        return read_store(p, samples=kwargs.get("samples"))
    for suffix, reader in ((".bed", read_plink), (".pgen", read_pgen)):
        if p.suffix == suffix or (not p.exists() and p.with_name(p.name + suffix).exists()):
            if kwargs.get("region"):
                raise InputError("--region is supported for VCF/BCF input only")
            return reader(p, samples=kwargs.get("samples"))
    return read_vcf(p, **kwargs)


def stack_variants(parts: Sequence[GenotypeMatrix], names: Sequence[str]) -> GenotypeMatrix:
    """Stack the variants of several files that hold the same samples (e.g. one per chromosome).

    Raises
    ------
    InputError
        When a file's samples differ from the first file's (names the file and the first
        differing sample).
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    for gm, name in zip(parts[1:], names[1:]):
        if gm.n_samples != first.n_samples or not np.array_equal(gm.sample_id, first.sample_id):
            where = next(
                (i for i, (a, b) in enumerate(zip(first.sample_id, gm.sample_id)) if a != b),
                min(gm.n_samples, first.n_samples),
            )
            theirs = gm.sample_id[where] if where < gm.n_samples else "(none)"
            ours = first.sample_id[where] if where < first.n_samples else "(none)"
            raise InputError(
                f"{name} does not hold the samples of {names[0]} in the same order: sample "
                f"{where + 1} is {theirs!r}, not {ours!r} ({gm.n_samples} vs {first.n_samples} "
                "samples); several inputs must share one sample list"
            )
    return GenotypeMatrix(
        np.concatenate([gm.dosage for gm in parts]),
        *(
            np.concatenate([getattr(gm, name) for gm in parts])
            for name in (
                "variant_contig", "variant_position", "variant_id", "variant_ref", "variant_alt"
            )
        ),
        first.sample_id,
        sum(gm.n_haploid_calls for gm in parts),
        first.sample_family,
    )  # fmt: skip


# -- panels ---------------------------------------------------------------------------------------


#: Label columns looked for in a ``.psam`` (1000 Genomes releases use Population / SuperPop).
PSAM_POPULATION_COLUMNS = ("Population", "population", "pop", "POP")
PSAM_SUPER_COLUMNS = ("SuperPop", "super_pop", "superpopulation", "SUPERPOP")
FAM_COLUMNS = ["FID", "IID", "PAT", "MAT", "SEX", "PHENO1"]


def _plink_sample_table(path: Path) -> pd.DataFrame:
    """Read a ``.fam`` (no header) or ``.psam`` (``#FID``/``#IID`` header, or none) as strings."""
    with open(path, errors="replace") as fh:
        first = fh.readline()
    if first.startswith(("#FID", "#IID")):
        table = pd.read_csv(path, sep=r"\s+", dtype=str, engine="python")
        return table.rename(columns={table.columns[0]: table.columns[0].lstrip("#")})
    return _read_plink_table(path, FAM_COLUMNS, min_cols=2)


def _plink_label_columns(df, id_col, label_col, super_col, path):
    """Pick the ID, population and super-population columns of a PLINK sample file.

    IDs come from IID; the population from the named column, else a Population-like column,
    else the FID (the usual place for it in a ``.fam``).
    """
    if id_col not in df.columns:
        id_col = "IID"
    if label_col not in df.columns:
        found = [c for c in (*PSAM_POPULATION_COLUMNS, "FID") if c in df.columns]
        if not found:
            raise InputError(
                f"{path} has no population column (tried {label_col!r}, "
                f"{', '.join(PSAM_POPULATION_COLUMNS)}, FID); columns are {list(df.columns)}"
            )
        label_col = found[0]
    if super_col not in df.columns:
        super_col = next((c for c in PSAM_SUPER_COLUMNS if c in df.columns), None)
    return id_col, label_col, super_col


def read_panel(
    path: str | os.PathLike,
    *,
    id_col: str = "sample",
    label_col: str = "pop",
    super_col: str | None = "super_pop",
) -> pd.DataFrame:
    """Read a sample panel: 1000 Genomes layout, any TSV/CSV, or a PLINK ``.fam`` / ``.psam``.

    The 1000 Genomes layout is ``sample pop super_pop gender``. A ``.fam`` / ``.psam`` gives IDs
    from IID, the population from ``label_col`` when present, else a ``Population`` column,
    else the FID, and the super-population from ``SuperPop``.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample ID with column ``population`` and, when ``super_col`` exists,
        ``super_population``; ``attrs["source"]`` names the file for error messages.
    """
    path = _readable_file(path, "panel file")
    if path.suffix.lower() in (".fam", ".psam"):
        df = _plink_sample_table(path)
        id_col, label_col, super_col = _plink_label_columns(df, id_col, label_col, super_col, path)
    else:
        sep = "," if path.suffix.lower() == ".csv" else r"\s+"
        try:
            df = pd.read_csv(path, sep=sep, dtype=str, engine="python")
        except (ValueError, UnicodeDecodeError) as err:  # pandas' EmptyDataError, parser errors
            raise InputError(f"panel {path} cannot be read as a table: {err}") from None
    if df.empty:
        raise InputError(f"panel {path} lists no samples (a header line and one row per sample)")
    for col in (id_col, label_col):
        if col not in df.columns:
            raise InputError(f"panel {path} has no column {col!r}; columns are {list(df.columns)}")
    out = pd.DataFrame(
        {"population": df[label_col].to_numpy()}, index=pd.Index(df[id_col], name="sample")
    )
    if super_col and super_col in df.columns:
        out["super_population"] = df[super_col].to_numpy()
    if out.index.duplicated().any():
        dup = out.index[out.index.duplicated()][0]
        raise InputError(f"panel {path} lists sample {dup!r} more than once")
    out.attrs["source"] = f"panel {path}"  # named in later errors
    return out
