"""PLINK 2's rules for turning VCF sample names into family and individual IDs (FID, IID).

A VCF has one name per sample; PLINK files have two IDs. ``plink2 --vcf`` keeps the name as the
IID unless told otherwise, and ``plink --export vcf`` writes ``FID_IID`` names, so a panel keyed
by IID only matches after splitting. The three flags, as in PLINK 2:

* ``--double-id``: FID = IID = the name;
* ``--const-fid [FID]``: FID = the given value ("0" by default), IID = the name;
* ``--id-delim [CHAR]``: split each name at the one ``CHAR`` ("_" by default) into FID and IID;
  a name without it falls back to ``--double-id`` or ``--const-fid`` when given, else is an error.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError
from .matrix import GenotypeMatrix


@dataclasses.dataclass(frozen=True)
class SampleIdRule:
    """How VCF sample names become (FID, IID); the default keeps the name as the IID, no FID."""

    double_id: bool = False
    const_fid: str | None = None
    id_delim: str | None = None

    def __post_init__(self):
        if self.double_id and self.const_fid is not None:
            raise InputError("--double-id and --const-fid cannot be used together")
        if self.id_delim is not None and (len(self.id_delim) != 1 or self.id_delim.isspace()):
            raise InputError(f"--id-delim takes one non-space character; got {self.id_delim!r}")
        if self.const_fid is not None and (
            not self.const_fid or any(c.isspace() for c in self.const_fid)
        ):
            raise InputError(f"--const-fid takes an ID without spaces; got {self.const_fid!r}")

    @property
    def active(self) -> bool:
        """True when any flag is set."""
        return self.double_id or self.const_fid is not None or self.id_delim is not None

    def split(self, names, source: str = "input") -> tuple[np.ndarray, np.ndarray]:
        """``(fid, iid)`` arrays of str, shape (n_samples,), for VCF sample ``names``.

        Raises
        ------
        InputError
            Naming the first sample that has no delimiter (without a fallback) or more than one,
            or that would get an empty ID.
        """
        names = [str(n) for n in names]
        fids, iids = [], []
        for name in names:
            if self.id_delim is not None and self.id_delim in name:
                parts = name.split(self.id_delim)
                if len(parts) != 2 or not all(parts):
                    raise InputError(
                        f"{source}: sample {name!r} does not split into FID{self.id_delim}IID at "
                        f"--id-delim {self.id_delim!r} (exactly one delimiter, both sides non-empty)"
                    )
                fid, iid = parts
            elif self.double_id:
                fid, iid = name, name
            elif self.const_fid is not None:
                fid, iid = self.const_fid, name
            elif self.id_delim is not None:
                raise InputError(
                    f"{source}: sample {name!r} has no {self.id_delim!r} for --id-delim; add "
                    "--double-id or --const-fid to keep such names whole"
                )
            else:
                fid, iid = None, name
            fids.append(fid)
            iids.append(iid)
        return np.array(fids, dtype=object), np.array(iids, dtype=str)

    def apply(self, gm: GenotypeMatrix, source: str = "input") -> GenotypeMatrix:
        """Return ``gm`` with IIDs as ``sample_id`` and FIDs as ``sample_family``.

        Raises
        ------
        InputError
            When the genotypes already carry FIDs (PLINK input), or two samples get the same
            (FID, IID).
        """
        if not self.active:
            return gm
        if gm.sample_family is not None:
            raise InputError(
                f"{source}: --double-id / --const-fid / --id-delim apply to VCF/BCF sample names; "
                "PLINK input already has FID and IID"
            )
        fid, iid = self.split_unique(gm.sample_id, source)
        return dataclasses.replace(gm, sample_id=iid, sample_family=fid.astype(str))

    def split_unique(self, names, source: str = "input") -> tuple[np.ndarray, np.ndarray]:
        """:meth:`split`, refusing two names that give the same (FID, IID).

        An IID may repeat in different families, as PLINK allows.

        Raises
        ------
        InputError
            When a name does not split, or two names give the same FID and IID.
        """
        fid, iid = self.split(names, source)
        seen: set = set()
        for name, pair in zip(names, zip(fid, iid)):
            if pair in seen:
                raise InputError(
                    f"{source}: sample {name!r} gives FID {pair[0]!r} and IID {pair[1]!r}, as an "
                    "earlier name does; each sample needs its own (FID, IID)"
                )
            seen.add(pair)
        return fid, iid
