"""Read VCF, bgzipped VCF and BCF genotypes (GT) into a :class:`~..matrix.GenotypeMatrix`.

Calls are counted as non-reference alleles, so a multi-allelic site gets the number of
non-reference alleles (QC drops those sites by default). A haploid call counts as homozygous (0
or 2), the PLINK convention; the number of haploid calls is reported.

VCF and BCF go through cyvcf2 (htslib), except the commonest form of text VCF (FORMAT ``GT`` only,
diploid one-digit calls), which :mod:`.vcf_text` decodes block-wise with byte comparisons and
threaded BGZF inflation. ``region`` uses the tabix/CSI index when there is one and otherwise
filters while streaming, so unindexed files work too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...core.progress import RateProgress
from ...threads import thread_budget
from ..contigs import _same_contig, parse_region
from ..errors import InputError
from ..matrix import GenotypeMatrix
from ..samples import select_samples
from .files import check_bgzf_end, readable_file
from .vcf_text import check_column_counts, read_simple_vcf

log = logging.getLogger("ddvi_genomics")


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
    path = readable_file(path, "input file")
    check_bgzf_end(path)
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
            check_column_counts(path, len(vcf.samples))
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
    """Capture what htslib writes to file descriptor 2 while a block runs; nothing else.

    htslib reports (``[E::idx_find_and_load] ...``, ``[W::vcf_parse] ...``) go straight to the
    process's stderr and would interleave with our one-line messages. They are collected and
    logged at INFO level (shown with ``-v``). Python's own writers (``sys.stderr``, logging
    handlers on it: the project's warnings) are pointed at the real stderr meanwhile, so only C
    code's output is captured. Yields a text stream on the real stderr for progress lines.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        stream = os.fdopen(os.dup(saved), "w", buffering=1)
        redirected = _point_python_stderr_at(stream)
        try:
            yield stream
        finally:
            redirected()
            stream.flush()
            stream.close()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
    if text:
        for line in text.splitlines():
            log.info("htslib (%s): %s", Path(path).name, line)


def _point_python_stderr_at(stream):
    """Send ``sys.stderr`` and logging handlers writing to fd 2 to ``stream``; return the undo."""
    original = sys.stderr
    handlers = []
    loggers = [logging.getLogger(), *map(logging.getLogger, ("ddvi_genomics", "py.warnings"))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and _writes_to_fd2(handler.stream):
                handlers.append((handler, handler.setStream(stream)))
    sys.stderr = stream

    def undo():
        sys.stderr = original
        for handler, previous in handlers:
            handler.setStream(previous)

    return undo


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a StringIO, a closed file
        return stream is sys.stderr


def _open_vcf(path: Path):
    """Open with cyvcf2 (htslib); check that the header declares FORMAT/GT."""
    import cyvcf2

    try:
        vcf = cyvcf2.VCF(str(path), lazy=True, threads=thread_budget())
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
