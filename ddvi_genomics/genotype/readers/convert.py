"""``convert``: VCF/BCF files or a PLINK ``.bed`` to a VCF Zarr store (bio2zarr), atomically.

A store is the scale path, so it takes every input the in-memory readers take. bio2zarr is
stricter than htslib in two ways, both handled here by rewriting the input once into a
temporary folder and converting that:

* a VCF with several contigs must be indexed (bio2zarr partitions by the index): the records
  are split into one VCF per contig, which needs no index;
* a FILTER, INFO or contig used by a record but not declared in the header is refused
  ("Filter 'LowQual' was not defined in the header"; htslib warns and goes on): the rewrite
  declares them, as htslib assumes them (INFO as ``Number=.,Type=String``), and says so.

Genotypes are copied byte for byte, so the store reads as the input does. The finished store
gets a checksum manifest (:mod:`.store_integrity`) and is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import remove_dead_temporaries, temporary_path, written_atomically
from ..errors import InputError
from .files import INFLATE_ERRORS, check_bgzf_end, inflate_error
from .packing import write_packed_dosage
from .plink import read_plink_table
from .store import looks_like_store
from .store_integrity import write_manifest
from .vcf import htslib_messages

log = logging.getLogger("ddvi_genomics")

#: bio2zarr's refusals that a rewrite of the input cures.
#: Samples per chunk the default chunking aims at (bio2zarr's own default); the cohort is cut
#: into equal chunks no larger than this (:func:`balanced_samples_chunk`).
SAMPLES_CHUNK_TARGET = 10_000

_CURABLE = ("must be indexed", "not defined in the header", "contig")


def write_store(
    inputs: Sequence[str | os.PathLike], store: str | os.PathLike, *, force: bool = False, **kwargs
) -> Path:
    """:func:`convert_to_store` into a temporary directory, renamed into place when complete.

    The store gets a two-bit copy of its genotypes (:mod:`.packed_store`) for fast QC and PCA,
    then its checksum manifest. A failed or interrupted conversion leaves nothing (a killed one
    leaves ``STORE.tmp-PID``, removed by the next conversion to the same name); an existing
    store is replaced only with ``force`` (and only when it is a Zarr store, never another
    directory or file).
    """
    store = Path(store)
    if not store.parent.is_dir():
        raise InputError(f"output folder {store.parent} does not exist")
    remove_dead_temporaries(store)
    if store.exists():
        if not force:
            raise InputError(f"output {store} exists; use --force to overwrite")
        if not looks_like_store(store):
            raise InputError(f"{store} exists and is not a Zarr store; not overwriting it")
    with written_atomically(store) as tmp:
        convert_to_store(inputs, tmp, **kwargs)
        write_packed_dosage(tmp)
        write_manifest(tmp)
    return store


def convert_to_store(
    inputs: Sequence[str | os.PathLike],
    store: str | os.PathLike,
    *,
    workers: int = 0,
    variants_chunk_size: int | None = None,
    samples_chunk_size: int | None = None,
) -> Path:
    """Convert VCF/BCF files (one or several, e.g. per chromosome) or one PLINK ``.bed`` to a store.

    Parameters
    ----------
    inputs : sequence of path
    store : path
        The store directory to create (it must not exist).
    workers : int
        bio2zarr worker processes (0 = this process).
    variants_chunk_size, samples_chunk_size : int, optional
        Chunk shape of ``call_genotype``: bio2zarr's variant chunk by default, and samples in
        the fewest equal chunks of at most :data:`SAMPLES_CHUNK_TARGET`.

    Raises
    ------
    InputError
        When the store exists, the inputs mix formats or cannot be read.
    """
    store = Path(store)
    if store.exists():
        raise InputError(f"store {store} exists; remove it or choose another --out")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise InputError(f"input {p} does not exist")
    try:
        from bio2zarr import plink as b2z_plink
        from bio2zarr import vcf as b2z_vcf
    except ImportError:
        raise InputError(
            "converting to VCF Zarr needs bio2zarr: pip install 'ddvi-genomics[scale]'"
        ) from None
    plink2 = [p for p in paths if p.suffix in (".pgen", ".pvar", ".psam")]
    if plink2:
        raise InputError(
            f"convert reads VCF/BCF files or a PLINK 1 .bed, not {plink2[0]}; make a .bed first "
            f"(plink2 --pfile {plink2[0].with_suffix('')} --make-bed --out NEW) or read the .pgen "
            "directly (infer and project read it block by block)"
        )
    n_samples = _count_samples(paths) if samples_chunk_size is None else None
    if n_samples:
        samples_chunk_size = balanced_samples_chunk(n_samples)
        log.info("convert: %s samples in chunks of %s", f"{n_samples:,}",
                 f"{samples_chunk_size:,}")  # fmt: skip
    chunks = dict(variants_chunk_size=variants_chunk_size, samples_chunk_size=samples_chunk_size)
    if any(p.suffix == ".bed" for p in paths):
        if len(paths) != 1:
            raise InputError("convert one PLINK .bed at a time (or VCF/BCF files only)")
        source = str(paths[0].with_suffix(""))
        _bio2zarr(b2z_plink.convert, paths, source, str(store), workers, **chunks)
        _add_fam_columns(paths[0].with_suffix(".fam"), store)
        return store
    for p in paths:
        check_bgzf_end(p)
    try:
        sources = [str(p) for p in paths]
        _bio2zarr(b2z_vcf.convert, paths, sources, str(store), workers, curable=True, **chunks)
    except _Curable as refusal:
        shutil.rmtree(store, ignore_errors=True)
        with _rewritten(paths, store) as (rewritten, declared):
            log.warning(
                "convert: bio2zarr refused the input (%s); rewrote it as %d per-contig VCF(s)%s",
                refusal,
                len(rewritten),
                f", declaring {', '.join(declared)} absent from its header" if declared else "",
            )
            _bio2zarr(b2z_vcf.convert, paths, [str(p) for p in rewritten], str(store), workers,
                      **chunks)  # fmt: skip
    return store


def balanced_samples_chunk(n_samples: int, target: int | None = None) -> int:
    """Return the samples per chunk that cut the cohort into the fewest equal chunks.

    Chunks hold at most ``target`` samples.

    25,000 samples give three chunks of 8,334, not 10,000 + 10,000 + 5,000, so the tasks that
    read a store one sample block at a time (QC counts, ``--mind``, projection) are even.

    Parameters
    ----------
    n_samples : int
    target : int, optional
        Default :data:`SAMPLES_CHUNK_TARGET`.
    """
    target = SAMPLES_CHUNK_TARGET if target is None else target
    n_chunks = max(1, -(-n_samples // target))
    return max(1, -(-n_samples // n_chunks))


def _count_samples(paths: list[Path]) -> int | None:
    """Count the input's samples: the ``.fam``'s lines, or the first VCF/BCF header's names.

    None where they cannot be read: the conversion then says what is wrong with the input.
    """
    try:
        if paths[0].suffix == ".bed":
            with open(paths[0].with_suffix(".fam"), "rb") as fh:
                return sum(1 for line in fh if line.strip())
        from cyvcf2 import VCF

        with htslib_messages(paths[0]):
            reader = VCF(str(paths[0]))
            try:
                return len(reader.samples)
            finally:
                reader.close()
    except Exception:  # an unreadable input: bio2zarr's refusal names the problem
        return None


def _add_fam_columns(fam: Path, store: Path) -> None:
    """Store the ``.fam``'s FID, father and mother (bio2zarr keeps the IID only).

    Written as ``sample_family_id``, ``sample_paternal_id`` and ``sample_maternal_id`` (strings,
    ``0`` for an unknown parent, as in the ``.fam``), so that a store keeps PLINK's sample
    identity (``#FID IID`` outputs) and founders (frequencies over founders, as plink2).
    """
    import zarr

    table = read_plink_table(fam, ["fid", "iid", "father", "mother", "sex", "pheno"], min_cols=2)
    root = zarr.open_group(str(store), mode="a")
    chunks = root["sample_id"].chunks
    for name, column in (("sample_family_id", "fid"), ("sample_paternal_id", "father"),
                         ("sample_maternal_id", "mother")):  # fmt: skip
        values = table[column].fillna("0") if column in table else ["0"] * len(table)
        root.create_array(name, data=np.asarray(values, dtype=str), chunks=chunks)


class _Curable(Exception):
    """bio2zarr refused the input for a reason a rewrite cures (:data:`_CURABLE`)."""


def _bio2zarr(convert, paths, source, store: str, workers: int, curable=False, **chunks) -> None:
    """Run a bio2zarr conversion; its refusals become one-line errors naming the inputs.

    With ``curable``, a refusal that a rewrite of the input cures raises :class:`_Curable`.
    """
    chatter = logging.getLogger("bio2zarr")  # "Total records unknown ..." on unindexed input
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    try:
        with htslib_messages(paths[0]):
            convert(source, store, worker_processes=workers, **chunks)
    except Exception as err:  # bio2zarr and htslib raise many types for a bad input
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if curable and any(mark in message for mark in _CURABLE):
            raise _Curable(message) from None
        raise InputError(f"cannot convert {', '.join(map(str, paths))}: {message}") from None
    finally:
        chatter.setLevel(level)


@contextlib.contextmanager
def _rewritten(paths: Sequence[Path], store: Path):
    """Yield per-contig VCFs of ``paths`` (header declarations completed) in a temporary folder.

    Yields
    ------
    files : list of Path
        One plain-text VCF per contig, in order of first appearance.
    declared : list of str
        What the rewrite declared, e.g. ``["FILTER LowQual", "INFO DP"]``.
    """
    folder = temporary_path(Path(f"{store}.split"))
    folder.mkdir()
    try:
        started = time.perf_counter()
        header, bodies, undeclared = _split_by_contig(paths, folder)
        declared = [
            f"{'INFO' if kind == 'FLAG' else kind} {name}"
            for kind, names in undeclared.items()
            for name in names
        ]
        files = []
        for i, (contig, body) in enumerate(bodies.items()):
            path = folder / f"contig{i:05d}.split.vcf"
            with open(path, "wb") as out, open(body, "rb") as records:
                out.write(_completed_header(header, undeclared))
                shutil.copyfileobj(records, out, 1 << 22)
            body.unlink()
            files.append(path)
            log.debug("convert: contig %s -> %s", contig, path.name)
        log.info("convert: rewrote the input in %.1f s", time.perf_counter() - started)
        yield files, declared
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _split_by_contig(paths: Sequence[Path], folder: Path):
    """Stream the records of ``paths`` into one body file per contig; collect undeclared IDs.

    Returns
    -------
    header : list of bytes
        The first input's header lines.
    bodies : dict of str to Path
    undeclared : dict of str to list of str
        Per ``FILTER`` / ``INFO`` / ``FLAG`` (INFO without a value) / ``contig``, the IDs the
        records use and the header lacks.
    """
    header: list[bytes] = []
    bodies: dict[str, Path] = {}
    handles: dict[str, object] = {}
    used = {"FILTER": set(), "INFO": set(), "contig": set()}
    flags: set[str] = set()  # INFO keys written without a value
    try:
        for path in paths:
            lines = _text_lines(path)
            file_header = []
            for line in lines:
                if line.startswith(b"#"):
                    file_header.append(line)
                    continue
                fields = line.split(b"\t", 8)
                if len(fields) < 8:
                    raise InputError(f"{path}: a record has {len(fields)} columns; a VCF has 8+")
                contig = fields[0].decode()
                used["contig"].add(contig)
                if fields[6] not in (b".", b"PASS"):
                    used["FILTER"].update(fields[6].decode().split(";"))
                if fields[7] != b".":
                    for item in fields[7].decode().split(";"):
                        key, has_value, _ = item.partition("=")
                        used["INFO"].add(key)
                        if not has_value:
                            flags.add(key)
                if contig not in handles:
                    bodies[contig] = folder / f"contig{len(bodies):05d}.body"
                    handles[contig] = open(bodies[contig], "wb")
                handles[contig].write(line if line.endswith(b"\n") else line + b"\n")
            if not header:
                header = file_header
    finally:
        for handle in handles.values():
            handle.close()
    declared = _declared_ids(header)
    undeclared = {kind: sorted(used[kind] - declared[kind]) for kind in used}
    undeclared["FLAG"] = [key for key in undeclared.pop("INFO") if key in flags]
    undeclared["INFO"] = [key for key in used["INFO"] - declared["INFO"] if key not in flags]
    return header, bodies, {kind: sorted(ids) for kind, ids in undeclared.items() if ids}


def _text_lines(path: Path):
    """Lines (bytes, newline kept) of a plain, gzip or BGZF text VCF; BCF through cyvcf2."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic[:3] == b"BCF" or path.suffix == ".bcf":
        yield from _bcf_lines(path)
        return
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
    n_read = 0  # lines read: the failure names the line after them
    try:
        with opener(path, "rb") as handle:
            for line in handle:
                n_read += 1
                yield line
    except INFLATE_ERRORS as err:
        raise inflate_error(path, err, f"line {n_read + 1}") from None


def _bcf_lines(path: Path):
    """Yield a BCF's header and records as VCF text lines (htslib formats them)."""
    import cyvcf2

    vcf = cyvcf2.VCF(str(path))
    records = iter(vcf)
    first = next(records, None)  # htslib adds what the header lacks while reading
    header = vcf.raw_header.encode()
    yield from header.splitlines(keepends=True)
    if first is not None:
        yield str(first).encode()
    for record in records:
        yield str(record).encode()


_DECLARATION = re.compile(rb"^##(FILTER|INFO|contig)=<ID=([^,>]+)")


def _declared_ids(header: list[bytes]) -> dict[str, set]:
    declared = {"FILTER": {"PASS"}, "INFO": set(), "contig": set()}
    for line in header:
        match = _DECLARATION.match(line)
        if match:
            declared[match.group(1).decode()].add(match.group(2).decode())
    return declared


def _completed_header(header: list[bytes], undeclared: dict[str, list[str]]) -> bytes:
    """Return the header with declarations for ``undeclared`` added before ``#CHROM``."""
    note = "used in the input but absent from its header; declared by ddvi-genomics convert"
    added = []
    for contig in undeclared.get("contig", []):
        added.append(f"##contig=<ID={contig}>\n")
    for name in undeclared.get("FILTER", []):
        added.append(f'##FILTER=<ID={name},Description="{note}">\n')
    for name in undeclared.get("INFO", []):
        added.append(f'##INFO=<ID={name},Number=.,Type=String,Description="{note}">\n')
    for name in undeclared.get("FLAG", []):
        added.append(f'##INFO=<ID={name},Number=0,Type=Flag,Description="{note}">\n')
    lines = [line if line.endswith(b"\n") else line + b"\n" for line in header]
    return b"".join(lines[:-1]) + "".join(added).encode() + lines[-1]
