"""Genotype pipeline: reading, QC, PCA (functions over ``(n_variants, n_samples)`` int8 arrays)."""
