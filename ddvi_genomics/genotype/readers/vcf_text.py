"""A fast reader for the commonest VCF: text, FORMAT ``GT`` only, diploid one-digit calls.

That is the form of 1000 Genomes releases and simulators' output (``0|1``, ``1/1``, ``./.``;
plain, gzip or BGZF). Such a record's genotype columns have a fixed width: ``n_samples`` calls of three bytes, each
followed by a tab (a newline after the last), so the calls of a block of records are one
``(records, n_samples, 4)`` byte array and dosages come from byte comparisons, with no per-call
Python and no per-record htslib objects. BGZF blocks are inflated by a pool of threads (zlib
releases the GIL) while the previous piece is parsed.

Anything else (another FORMAT, a haploid or multi-digit call, a malformed record, an allele index
beyond the site's ALT alleles) makes :func:`read_simple_vcf` return None, and the caller reads the
file through cyvcf2, which accepts every VCF and names the offending record and sample.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...threads import bgzf_threads
from ..errors import InputError
from .files import BGZF_EOF, BGZF_MAGIC, INFLATE_ERRORS, inflate_error, is_bgzf

_TAB, _NEWLINE, _DOT, _ZERO, _PIPE, _SLASH = 9, 10, ord("."), ord("0"), ord("|"), ord("/")


class NotSimple(Exception):
    """The file leaves the fast path's format (the caller falls back to cyvcf2)."""


def read_simple_vcf(
    path: Path,
    n_samples: int,
    keep: np.ndarray,
    *,
    threads: int | None = None,
    on_rows=None,
    piece_bytes: int = 1 << 24,
):
    """Read a GT-only, diploid, one-digit VCF; None when the file is not of that form.

    Parameters
    ----------
    path : Path
        ``.vcf``, ``.vcf.gz`` (BGZF or plain gzip).
    n_samples : int
        Samples in the header.
    keep : np.ndarray of int, shape (n_kept,)
        Sample columns to keep, in order.
    threads : int, optional
        Inflating threads (default: usable cores, at most 4).
    on_rows : callable, optional
        ``on_rows(n_records_so_far)`` after every parsed piece (progress).
    piece_bytes : int
        Decompressed bytes parsed at once.

    Returns
    -------
    tuple or None
        ``(dosage (n_variants, n_kept) int8, columns)`` with ``columns`` a dict of lists
        ``contig, pos, id, ref, alt`` as the cyvcf2 reader builds them; None to fall back.
    """
    width = 4 * n_samples  # bytes per record's genotype columns, with their separators
    chunks, columns = [], {k: [] for k in ("contig", "pos", "id", "ref", "alt")}
    n_rows = 0
    try:
        for text in _record_text(path, threads, piece_bytes):
            dosage = _parse_records(text, width, n_samples, keep, columns)
            chunks.append(dosage)
            n_rows += len(dosage)
            if on_rows is not None:
                on_rows(n_rows)
    except NotSimple:
        return None
    except INFLATE_ERRORS as err:
        where = f"its data past record {n_rows}" if n_rows else "its data"
        raise inflate_error(path, err, where) from None
    dosage = np.concatenate(chunks) if chunks else np.zeros((0, len(keep)), dtype=np.int8)
    return dosage, columns


def check_column_counts(path: Path, n_samples: int, piece_bytes: int = 1 << 24) -> None:
    """Refuse a text VCF whose records do not have 9 + ``n_samples`` columns.

    htslib reads a record with an extra sample column without a word (the call is dropped);
    this pass (tab counts per line, array-wide) names the first such record. BCF is skipped.

    Raises
    ------
    InputError
        Naming the file, the record and both column counts.
    """
    expected, n_rows = 9 + n_samples, 0
    try:
        for text in _record_text(path, None, piece_bytes):
            buf = np.frombuffer(text, dtype=np.uint8)
            ends = np.flatnonzero(buf == _NEWLINE)
            starts = np.r_[0, ends[:-1] + 1]
            tabs = np.add.reduceat((buf == _TAB).astype(np.int64), starts) if len(ends) else []
            bad = np.flatnonzero(np.asarray(tabs) + 1 != expected)
            if len(bad):
                row = int(bad[0])
                line = bytes(buf[starts[row] : ends[row]])
                site = b":".join(line.split(b"\t", 2)[:2]).decode(errors="replace")
                raise InputError(
                    f"{path}: record {n_rows + row + 1} ({site}) has {int(tabs[row]) + 1} "
                    f"columns; the header names {expected} (9 + {n_samples} samples)"
                )
            n_rows += len(ends)
    except NotSimple:  # BCF: binary records, no columns to count
        return
    except INFLATE_ERRORS as err:
        raise inflate_error(path, err, f"its data past record {n_rows}") from None


def _record_text(path: Path, threads: int | None, piece_bytes: int) -> Iterator[bytes]:
    """Yield the data records as pieces of whole lines (the header skipped)."""
    carry = b""
    in_header = True
    for piece in _inflate(path, threads, piece_bytes):
        if in_header and not carry and not piece.startswith(b"##fileformat=VCF"):
            raise NotSimple("not a text VCF (BCF, or no fileformat line)")
        text = carry + piece
        cut = text.rfind(b"\n") + 1
        text, carry = text[:cut], text[cut:]
        if in_header:
            start = _end_of_header(text)
            if start is None:  # the header runs past this piece
                carry, text = text + carry, b""
                continue
            text, in_header = text[start:], False
        if text:
            yield text
    if carry.strip():
        raise NotSimple("the last line has no newline")  # cyvcf2 reads it; keep one path


def _end_of_header(text: bytes) -> int | None:
    """Offset of the first data line (None when every line of ``text`` is a header line)."""
    pos = 0
    while pos < len(text):
        if text[pos] != ord("#"):
            return pos
        nl = text.find(b"\n", pos)
        if nl < 0:
            return None
        pos = nl + 1
    return None


def _inflate(path: Path, threads: int | None, piece_bytes: int) -> Iterator[bytes]:
    """Yield the decompressed file in pieces of about ``piece_bytes``."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if is_bgzf(head):
        yield from _inflate_bgzf(path, threads, piece_bytes)
    elif head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as handle:
            while piece := handle.read(piece_bytes):
                yield piece
    else:
        with open(path, "rb") as handle:
            while piece := handle.read(piece_bytes):
                yield piece


def _inflate_bgzf(path: Path, threads: int | None, piece_bytes: int) -> Iterator[bytes]:
    """Inflate BGZF blocks on a thread pool, a group of blocks per task, in file order."""
    workers = threads or bgzf_threads()
    # a BGZF block holds at most 64 KiB of text
    group = max(1, piece_bytes // (workers * 65536))
    with open(path, "rb") as handle, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending: list[concurrent.futures.Future] = []
        for blocks in _bgzf_block_groups(handle, group):
            pending.append(pool.submit(_inflate_blocks, blocks))
            if len(pending) > workers:  # keep `workers` tasks busy while one piece is parsed
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _bgzf_block_groups(handle, group: int) -> Iterator[list[bytes]]:
    """Yield lists of ``group`` BGZF blocks, each its bytes after the 18-byte header."""
    blocks = []
    while True:
        header = handle.read(18)
        if not header:
            break
        if len(header) < 18:
            raise EOFError("a BGZF block header is cut short")
        if not is_bgzf(header):
            raise zlib.error(f"bytes at offset {handle.tell() - 18} are not a BGZF block")
        (xlen,) = struct.unpack_from("<H", header, 10)
        (bsize,) = struct.unpack_from("<H", header, 16)
        rest = handle.read(bsize + 1 - 18)
        if len(rest) < bsize + 1 - 18 or xlen < 6:
            raise EOFError("a BGZF block is cut short")
        blocks.append(rest[xlen - 6 :])
        if len(blocks) == group:
            yield blocks
            blocks = []
    if blocks:
        yield blocks


def _inflate_blocks(blocks: list[bytes]) -> bytes:
    """Inflate BGZF blocks (payload, CRC32, ISIZE), checking each block's CRC32 and size."""
    out = []
    for block in blocks:
        text = zlib.decompress(block[:-8], -15)
        crc, size = struct.unpack("<II", block[-8:])
        if zlib.crc32(text) != crc or len(text) != size:
            raise zlib.error("a block fails its CRC32 check")
        out.append(text)
    return b"".join(out)


def _call_tables() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables from two bytes of a call to a code: the call's two halves, added.

    A call ``a s b t`` (allele, separator, allele, tab or newline) is read as two little-endian
    16-bit words, ``a | s << 8`` and ``b | t << 8``. Each table maps a word to bits: 0-1 the
    non-reference allele (1 for an index >= 1), 2-3 an index >= 2 (4), 4-5 a missing allele
    (16), 6-7 a byte out of place (64). The sum of the two halves keeps the fields apart:
    ``code & 3`` is the dosage, ``code & 48`` a missing call, ``code & 12`` a multi-allelic
    index, ``code >= 64`` a call the fast path cannot read.
    """
    word = np.arange(1 << 16)
    allele, after = word & 0xFF, word >> 8
    digit = allele - _ZERO
    code = np.where(
        allele == _DOT,
        16,
        np.where((digit >= 0) & (digit <= 9), (digit >= 1) * 1 + (digit >= 2) * 4, 64),
    )
    first = np.where((after == _PIPE) | (after == _SLASH), code, 64).astype(np.uint8)
    second = np.where((after == _TAB) | (after == _NEWLINE), code, 64).astype(np.uint8)
    return first, second


_FIRST_HALF, _SECOND_HALF = _call_tables()


def _parse_records(
    text: bytes, width: int, n_samples: int, keep: np.ndarray, columns
) -> np.ndarray:
    """Dosages of a piece of whole data lines, shape (records, n_kept); append the site columns."""
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.flatnonzero(buf == _NEWLINE)
    starts = np.r_[0, ends[:-1] + 1]
    calls_at = ends + 1 - width  # first byte of the first call
    if np.any(calls_at - 4 <= starts):
        raise NotSimple("a line too short for its samples' calls")
    if not (
        np.all(buf[calls_at - 1] == _TAB)
        & np.all(buf[calls_at - 2] == ord("T"))
        & np.all(buf[calls_at - 3] == ord("G"))
        & np.all(buf[calls_at - 4] == _TAB)
    ):
        raise NotSimple("FORMAT is not GT, or the calls are not all of three bytes")
    calls = np.empty((len(ends), width), dtype=np.uint8)
    for row, at in enumerate(calls_at.tolist()):  # one contiguous copy per record
        calls[row] = buf[at : at + width]
    if len(keep) != n_samples or not np.array_equal(keep, np.arange(n_samples)):
        calls = np.ascontiguousarray(calls.reshape(len(ends), n_samples, 4)[:, keep])
    halves = calls.view("<u2").reshape(len(ends), -1, 2)
    code = _FIRST_HALF[halves[..., 0]] + _SECOND_HALF[halves[..., 1]]
    if np.any(code >= 64):
        raise NotSimple("calls that are not of the form a|b or a/b with one-digit alleles")
    n_alt = _site_columns(text, starts, calls_at - 4, columns)
    multi = np.flatnonzero((code & 12).any(axis=1))  # records with an allele index >= 2
    if len(multi):
        digits = calls.reshape(len(ends), -1, 4)[multi][..., [0, 2]].astype(np.int16) - _ZERO
        if np.any(digits.max(axis=(1, 2)) > n_alt[multi]):
            raise NotSimple("an allele index beyond the site's ALT alleles")  # cyvcf2 names it
    dosage = (code & 3).astype(np.int8)
    dosage[(code & 48) != 0] = -1
    return dosage


def _site_columns(text: bytes, starts: np.ndarray, format_at: np.ndarray, columns) -> np.ndarray:
    """Append CHROM, POS, ID, REF, ALT of every line; return the ALT allele counts."""
    n_alt = np.empty(len(starts), dtype=np.int64)
    contig, pos, ids, ref, alt = (columns[k] for k in ("contig", "pos", "id", "ref", "alt"))
    for i, (start, stop) in enumerate(zip(starts.tolist(), format_at.tolist(), strict=True)):
        fields = text[start:stop].split(b"\t", 5)
        if len(fields) < 6:
            raise NotSimple("a line with fewer than 9 fields before the calls")
        contig.append(fields[0].decode())
        try:
            pos.append(int(fields[1]))
        except ValueError:
            raise NotSimple("a POS that is not an integer") from None
        ids.append(fields[2].decode())
        ref.append(fields[3].decode())
        alts = fields[4].decode()
        alt.append("" if alts == "." else alts)
        n_alt[i] = 0 if alts == "." else alts.count(",") + 1
    return n_alt


class BgzfWriter:
    """Write BGZF (blocked gzip, what ``bgzip`` writes): gzip that htslib can index and seek.

    Text is cut into blocks of at most 64 KiB, each compressed as its own gzip member with the
    ``BC`` extra field giving the block's size; the file ends with the empty EOF block. Any gzip
    reader reads the result; ``tabix`` indexes it.

    Parameters
    ----------
    path : path
    level : int
        zlib compression level (1: fastest).
    """

    _TEXT_PER_BLOCK = 0xFF00  # as bgzip: leaves room for incompressible input

    def __init__(self, path, level: int = 6):
        self._handle = open(path, "wb")
        self._level = level
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        """Buffer ``data``; write every full block."""
        self._pending += data
        size, done = self._TEXT_PER_BLOCK, 0
        with memoryview(self._pending) as view:
            while len(view) - done >= size:
                self._block(bytes(view[done : done + size]))
                done += size
        del self._pending[:done]

    def close(self) -> None:
        """Write the last partial block and the EOF block."""
        if self._pending:
            self._block(bytes(self._pending))
            self._pending.clear()
        self._handle.write(BGZF_EOF)
        self._handle.close()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _block(self, text: bytes) -> None:
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, -15)
        payload = compressor.compress(text) + compressor.flush()
        header = BGZF_MAGIC + struct.pack("<IBBHBBHH", 0, 0, 0xFF, 6, 66, 67, 2, len(payload) + 25)
        self._handle.write(header + payload + struct.pack("<II", zlib.crc32(text), len(text)))
