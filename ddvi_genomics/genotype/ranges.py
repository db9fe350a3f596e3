"""Position ranges for ``--extract-range`` / ``--exclude-range`` (PLINK's ``range`` files).

A range file lists ``CHR START END [LABEL ...]`` per line, 1-based with both ends included: PLINK
1.9's ``--extract range`` / ``--exclude range`` format and plink2's ``bed1``. The usual use is
to leave the long-range LD regions (the MHC, inversions) out of an ancestry PCA; the package ships
them as the built-in set ``long-range-ld-grch37`` (:data:`BUILT_IN_RANGES`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .contigs import contig_name_codes, normalize_contig
from .errors import InputError
from .textfile import read_user_text

BUILT_IN_RANGES = {"long-range-ld-grch37": "long_range_ld_grch37.txt"}
"""Range sets bundled in ``ddvi_genomics/genotype/data`` (name -> file); see its README."""


@dataclasses.dataclass(frozen=True)
class VariantRanges:
    """Closed position ranges, by contig (names as :func:`~.io.normalize_contig` gives them).

    Attributes
    ----------
    source : str
        The file the ranges came from (for logs and messages).
    contig : tuple of str, shape (n_ranges,)
    start, end : tuple of int, shape (n_ranges,)
        1-based, both included.
    """

    source: str
    contig: tuple[str, ...]
    start: tuple[int, ...]
    end: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.contig)

    def summary(self) -> str:
        """One phrase for logs: how many ranges, from which file."""
        return f"{len(self)} ranges from {self.source}"

    def contains(self, contig: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Return True for variants inside any range, shape (n_variants,).

        Each contig's ranges are merged into disjoint intervals; a variant is then located
        among their starts by binary search, so the cost is ``O(n log r)``.

        Parameters
        ----------
        contig : np.ndarray of str, shape (n_variants,)
        position : np.ndarray of int, shape (n_variants,)
        """
        position = np.asarray(position, dtype=np.int64)
        inside = np.zeros(len(position), dtype=bool)
        codes, names = contig_name_codes(contig)  # chr6 and 6 share a code
        wanted = np.asarray(self.contig, dtype=object)
        for name in dict.fromkeys(self.contig):
            code = np.flatnonzero(names == name)
            if not len(code):
                continue  # a contig the data lack
            rows = np.flatnonzero(codes == code[0])
            starts, ends = _merged(
                np.asarray(self.start)[wanted == name], np.asarray(self.end)[wanted == name]
            )
            at = np.searchsorted(starts, position[rows], side="right") - 1
            inside[rows] = (at >= 0) & (position[rows] <= ends[np.maximum(at, 0)])
        return inside


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted intervals covering the same integer positions as ``[starts, ends]``."""
    order = np.argsort(starts, kind="stable")
    merged_starts, merged_ends = [], []
    for s, e in zip(starts[order].tolist(), ends[order].tolist()):
        if merged_ends and s <= merged_ends[-1] + 1:
            merged_ends[-1] = max(merged_ends[-1], e)
        else:
            merged_starts.append(s)
            merged_ends.append(e)
    return np.array(merged_starts, dtype=np.int64), np.array(merged_ends, dtype=np.int64)


def read_ranges(path, flag: str = "--extract-range") -> VariantRanges:
    """Read a range file (``CHR START END [LABEL ...]`` per line; ``#`` lines are comments).

    ``path`` may also name a built-in set (:data:`BUILT_IN_RANGES`) when no such file exists.

    Raises
    ------
    InputError
        For a missing file, a line with fewer than three fields, a START or END that is not a
        non-negative integer, END before START, or a file without ranges (one line, naming the
        file and line).
    """
    path = Path(path)
    if not path.is_file() and str(path) in BUILT_IN_RANGES:
        from importlib import resources

        path = Path(str(resources.files(__package__) / "data" / BUILT_IN_RANGES[str(path)]))
    if not path.is_file():
        raise InputError(
            f"{flag} file {path} does not exist (built-in sets: {', '.join(BUILT_IN_RANGES)})"
        )
    contig, start, end = [], [], []
    text = read_user_text(path, f"{flag} file")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"{flag} file {path}, line {number}"
        if len(fields) < 3:
            raise InputError(
                f"{where}: {line.strip()!r} has {len(fields)} field(s); need CHR START END"
            )
        try:
            lo, hi = int(fields[1]), int(fields[2])
        except ValueError:
            raise InputError(
                f"{where}: START and END must be whole numbers; got {fields[1]!r} {fields[2]!r}"
            ) from None
        if lo < 0 or hi < lo:
            raise InputError(
                f"{where}: need 0 <= START <= END (1-based, both included); got {lo} {hi}"
            )
        contig.append(normalize_contig(fields[0]))
        start.append(lo)
        end.append(hi)
    if not contig:
        raise InputError(f"{flag} file {path} lists no ranges")
    return VariantRanges(str(path), tuple(contig), tuple(start), tuple(end))
