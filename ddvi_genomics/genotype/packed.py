"""Genotypes at two bits a call, four calls a byte: the form plink2 computes on.

A call's code is its ALT allele count (0, 1, 2) or 3 when missing; sample ``s`` is bits
``2 (s % 4)`` of byte ``s // 4``, and the unused slots of the last byte are coded missing. At
2 bits a call, a block of variants is an eighth of VCF Zarr's two int8 alleles, so reading it
(:mod:`.readers.packed_store`) is bounded by memory bandwidth rather than by decompression, and
counts and LD bit planes come straight from the words by popcount, without unpacking.
"""

from __future__ import annotations

import numpy as np

#: Bytes a row is padded to before it is viewed as uint64 words (16: two words give one
#: 64-sample word of each LD bit plane).
WORD_ALIGN = 16
#: A padding byte: four missing calls.
MISSING_BYTE = 0xFF


def pack_dosage(dosage: np.ndarray) -> np.ndarray:
    """Pack allele counts two bits a call.

    Parameters
    ----------
    dosage : np.ndarray, int8, shape (n_variants, n_samples)
        ALT allele counts 0, 1, 2; any negative value is missing.

    Returns
    -------
    np.ndarray, uint8, shape (n_variants, ceil(n_samples / 4))
    """
    from .kernels import pack_dosage_kernel

    return pack_dosage_kernel(np.ascontiguousarray(dosage, dtype=np.int8))


def unpack_dosage(codes: np.ndarray, n_samples: int, first: int = 0) -> np.ndarray:
    """Allele counts of samples ``first`` to ``first + n_samples - 1`` of packed rows.

    Parameters
    ----------
    codes : np.ndarray, uint8, shape (n_variants, n_bytes)
    n_samples, first : int
        Samples to unpack, counted from the first call of byte 0.

    Returns
    -------
    np.ndarray, int8, shape (n_variants, n_samples)
        -1 for a missing call.
    """
    from .kernels import unpack_dosage_kernel

    if first + n_samples > 4 * codes.shape[1]:
        raise ValueError(
            f"{codes.shape[1]} bytes hold {4 * codes.shape[1]} calls, not {first + n_samples}"
        )
    return unpack_dosage_kernel(np.ascontiguousarray(codes), int(first), int(n_samples))


def as_words(codes: np.ndarray) -> np.ndarray:
    """View packed rows as little-endian uint64, padded with missing calls to 16-byte rows.

    Returns
    -------
    np.ndarray, uint64, shape (n_variants, 2 * ceil(n_bytes / 16))
    """
    n_variants, n_bytes = codes.shape
    width = -(-n_bytes // WORD_ALIGN) * WORD_ALIGN
    if width == n_bytes and codes.flags.c_contiguous and codes.dtype == np.uint8:
        padded = codes
    else:
        padded = np.full((n_variants, max(width, 0)), MISSING_BYTE, dtype=np.uint8)
        padded[:, :n_bytes] = codes
    return padded.view("<u8")


def packed_counts(codes: np.ndarray) -> np.ndarray:
    """Count called genotypes per variant: (hom ref, het, hom alt), shape (n_variants, 3).

    Equal to :func:`.counts.genotype_counts` of the unpacked calls; one popcount per 32 calls.
    """
    from .kernels import in_row_blocks, packed_counts_kernel

    if codes.shape[0] == 0:
        return np.zeros((0, 3), np.int64)
    return in_row_blocks(packed_counts_kernel, as_words(codes))


def packed_planes(codes: np.ndarray, n_samples: int) -> np.ndarray:
    """LD bit planes of packed rows (:func:`.qc.ldprune.bit_planes`), without unpacking.

    Parameters
    ----------
    codes : np.ndarray, uint8, shape (n_variants, ceil(n_samples / 4))
    n_samples : int

    Returns
    -------
    np.ndarray, uint64, shape (n_variants, 3, ceil(n_samples / 64))
        Plane 0: ALT count >= 1; plane 1: ALT count == 2; plane 2: called.
    """
    from .kernels import packed_planes_kernel

    n_plane_words = -(-n_samples // 64)
    if codes.shape[1] != -(-n_samples // 4):
        raise ValueError(
            f"{n_samples} samples take {-(-n_samples // 4)} bytes, not {codes.shape[1]}"
        )
    return packed_planes_kernel(as_words(codes), n_plane_words)
