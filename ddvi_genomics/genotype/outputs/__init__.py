"""What a run writes: the file set (atomic, ``--force``), PLINK files, tables, plots, the log."""
