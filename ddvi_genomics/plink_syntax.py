"""PLINK's own command-line forms, rewritten to this tool's options before click parses them.

A PLINK user types ``--bfile data --maf --hwe 1e-6 midp --pca 10``; every form below means here
what it means in PLINK 2 (https://www.cog-genomics.org/plink/2.0/), so such a line runs as is:

* inputs: ``--bfile P`` (``P.bed``), ``--pfile P`` (``P.pgen``), ``--vcf F``, ``--bcf F``;
* ``--pca [N] [approx] [meanimpute]``: ``N`` PCs, 10 when ``N`` is left out, PLINK 2's default
  (``--n-pcs``, this tool's own option, keeps its default of 20). The solver is chosen by size
  and missing calls are mean-imputed, so ``approx`` and ``meanimpute`` change nothing here;
* modifiers: ``--hwe P midp``, ``--extract range FILE`` / ``--extract bed1 FILE`` (and
  ``--exclude``), ``--indep-pairwise 500kb 1 0.2`` (a window in kilobases);
* a flag without its value takes PLINK's default: ``--maf`` 0.01, ``--geno`` 0.1, ``--mind`` 0.1.

Anything PLINK accepts but this tool does not (``--hwe P keep-fewhet``, ``bed0`` ranges) is
refused in one line naming it.
"""

from __future__ import annotations

#: PLINK 2's value for a flag given without one.
PLINK_DEFAULTS = {"--maf": "0.01", "--geno": "0.1", "--mind": "0.1"}
#: The number of PCs of a bare ``--pca`` (PLINK 2's default).
PLINK_PCA_DEFAULT = "10"
_INPUT_FLAGS = {"--bfile": ".bed", "--pfile": ".pgen", "--vcf": "", "--bcf": ""}
_PCA_MODIFIERS = {"approx", "meanimpute"}
_COMMANDS = {"infer", "project", "convert"}


def rewrite_plink_forms(args: list[str]) -> list[str]:
    """Return ``args`` with PLINK's forms (module docstring) rewritten to this tool's options.

    Only the arguments after an ``infer``, ``project`` or ``convert`` command are touched.

    Raises
    ------
    ValueError
        For a PLINK modifier this tool does not offer (one line, exit code 2).
    """
    if not any(a in _COMMANDS for a in args):
        return list(args)
    start = next(i for i, a in enumerate(args) if a in _COMMANDS) + 1
    head, rest = list(args[:start]), list(args[start:])
    out: list[str] = []
    inputs: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if arg in _INPUT_FLAGS and nxt is not None and not _is_flag(nxt):
            inputs.append(nxt + _INPUT_FLAGS[arg] if not nxt.endswith(_INPUT_FLAGS[arg]) else nxt)
            i += 2
        elif arg == "--pca":
            count = PLINK_PCA_DEFAULT
            i += 1
            if i < len(rest) and rest[i].isdigit():
                count, i = rest[i], i + 1
            while i < len(rest) and rest[i] in _PCA_MODIFIERS:
                i += 1
            if i < len(rest) and not _is_flag(rest[i]) and rest[i] in ("allele-wts", "vzs"):
                i += 1  # the allele weights are always written (PREFIX.eigenvec.allele)
            out += ["--n-pcs", count]
        elif arg == "--hwe" and nxt is not None and not _is_flag(nxt):
            out += ["--hwe", nxt]
            i += 2
            while i < len(rest) and rest[i] in ("midp", "keep-fewhet"):
                if rest[i] == "keep-fewhet":
                    raise ValueError("--hwe ... keep-fewhet is not offered; drop the modifier")
                out.append("--hwe-midp")
                i += 1
        elif arg in ("--extract", "--exclude") and nxt in ("range", "bed1", "bed0"):
            if nxt == "bed0":
                raise ValueError(
                    f"{arg} bed0 (0-based ranges) is not offered; give 1-based ranges "
                    f"({arg} range FILE or {arg} bed1 FILE)"
                )
            out.append(f"{arg}-range")
            i += 2
        elif arg == "--indep-pairwise":
            values, i = _values_after(rest, i + 1, 4)
            out += _indep_pairwise(values)
        elif arg in PLINK_DEFAULTS and (nxt is None or _is_flag(nxt)):
            out += [arg, PLINK_DEFAULTS[arg]]
            i += 1
        else:
            out.append(arg)
            i += 1
    return head + out + inputs


def _values_after(args: list[str], start: int, most: int) -> tuple[list[str], int]:
    """Up to ``most`` values from ``args[start:]`` before the next flag; the index after them."""
    values = []
    while start < len(args) and len(values) < most and not _is_flag(args[start]):
        values.append(args[start])
        start += 1
    return values, start


def _indep_pairwise(values: list[str]) -> list[str]:
    """``--indep-pairwise WINDOW[kb] [kb] [STEP] R2`` as ``--ld-prune WINDOW STEP R2``.

    PLINK 2: the step defaults to 1 and must be 1 for a window in kilobases.
    """
    kb = False
    if len(values) > 1 and values[1].lower() == "kb":
        values, kb = [values[0], *values[2:]], True
    if values and values[0].lower().endswith("kb"):
        values, kb = [values[0][:-2], *values[1:]], True
    values = [v for v in values if v]
    if len(values) == 2:
        values = [values[0], "1", values[1]]
    if len(values) != 3:
        raise ValueError(
            "--indep-pairwise takes WINDOW[kb] [STEP] R2 (e.g. --indep-pairwise 50 5 0.2 or "
            f"--indep-pairwise 500kb 0.2); got {' '.join(values) or 'nothing'}"
        )
    return (["--ld-prune-kb"] if kb else []) + ["--ld-prune", *values]


def _is_flag(arg: str) -> bool:
    """Whether ``arg`` is an option rather than a value (``-0.5`` is a value)."""
    if not arg.startswith("-") or arg == "-":
        return False
    try:
        float(arg)
    except ValueError:
        return True
    return False
