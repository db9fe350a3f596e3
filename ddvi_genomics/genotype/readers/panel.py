"""Read sample panels: population (and super-population) labels by sample ID."""

from __future__ import annotations

import io
import os

import pandas as pd

from ..errors import InputError
from ..samples import pair_keys
from ..textfile import read_user_text
from .files import readable_file
from .plink import _plink_sample_table

#: Label columns looked for in a ``.psam`` (1000 Genomes releases use Population / SuperPop).
PSAM_POPULATION_COLUMNS = ("Population", "population", "pop", "POP")


PSAM_SUPER_COLUMNS = ("SuperPop", "super_pop", "superpopulation", "SUPERPOP")


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
        Indexed by sample ID (IID) with column ``population``, ``super_population`` when
        ``super_col`` exists and ``family`` when the file has a FID column (then an IID may
        repeat in different families); ``attrs["source"]`` names the file for error messages.
    """
    path = readable_file(path, "panel file")
    if path.suffix.lower() in (".fam", ".psam"):
        df = _plink_sample_table(path)
        id_col, label_col, super_col = _plink_label_columns(df, id_col, label_col, super_col, path)
    else:
        sep = "," if path.suffix.lower() == ".csv" else r"\s+"
        text = read_user_text(path, "--panel file")
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, engine="python")
        except ValueError as err:  # pandas' EmptyDataError, parser errors
            raise InputError(f"--panel file {path} cannot be read as a table: {err}") from None
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
    family_col = next((c for c in ("FID", "#FID") if c in df.columns and c != id_col), None)
    if family_col is not None:  # PLINK's (FID, IID): an IID may repeat in different families
        out["family"] = df[family_col].astype(str).to_numpy()
        repeated = pd.Index(pair_keys(out["family"], out.index)).duplicated()
    else:
        repeated = out.index.duplicated()
    if repeated.any():
        dup = out.index[repeated][0]
        raise InputError(f"panel {path} lists sample {dup!r} more than once")
    out.attrs["source"] = f"panel {path}"  # named in later errors
    return out
