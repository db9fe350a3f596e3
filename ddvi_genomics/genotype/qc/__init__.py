"""Variant and sample QC in the field's habit, written once for genotypes in memory and on Dask.

``sites``: steps decided by the variant table; ``hwe``: the Hardy-Weinberg exact test;
``ldprune``: PLINK's ``--indep-pairwise``; ``recipe``: the options, order and report
(:func:`run_qc`); ``outofcore``: the same recipe over a VCF Zarr store.
"""

from .recipe import QCOptions, QCReport, run_qc

__all__ = ["QCOptions", "QCReport", "run_qc"]
