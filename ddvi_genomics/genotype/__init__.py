"""Genotype pipeline: reading, QC, PCA and 2-D ancestry maps.

Functions work on dosage arrays of shape ``(n_variants, n_samples)`` (int8, -1 = missing). The
main job in memory::

    from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel

    vcf, panel = example_paths()
    amap = infer(read_genotypes(vcf), read_panel(panel), seed=0)   # writes nothing
    amap.table()                    # #IID DIM1 DIM2 DIM1_SD DIM2_SD POP SUPER_POP
    amap.model.save("1kg.model.pt")
    AncestryModel.load("1kg.model.pt").project(read_genotypes("new.vcf.gz")).coords

The names load their modules on first use (PEP 562): reading, QC and PCA never import torch;
the network methods do when they run.
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: Public name -> the submodule that defines it.
_SOURCES = {
    "InputError": "errors",
    "AncestryMap": "mapping.ancestry_map",
    "example_paths": "mapping.ancestry_map",
    "infer": "mapping.ancestry_map",
    "AlignmentReport": "mapping.ancestry_model",
    "AncestryModel": "mapping.ancestry_model",
    "Projection": "mapping.ancestry_model",
    "align_variants": "mapping.ancestry_model",
    "GENOTYPE_DDVI_CONFIG": "mapping.embed",
    "GENOTYPE_VAE_CONFIG": "mapping.embed",
    "METHODS": "mapping.methods",
    "embed": "mapping.embed",
    "evaluate_embedding": "mapping.evaluate",
    "GenotypeMatrix": "matrix",
    "stack_variants": "matrix",
    "read_embedding_table": "outputs.files",
    "write_map": "outputs.files",
    "write_projection": "outputs.files",
    "GenotypePCA": "pca.decomposition",
    "QCOptions": "qc.recipe",
    "QCReport": "qc.recipe",
    "run_qc": "qc.recipe",
    "read_genotypes": "readers",
    "read_panel": "readers.panel",
    "read_pgen": "readers.plink",
    "read_plink": "readers.plink",
    "read_vcf": "readers.vcf",
}

__all__ = [
    "GENOTYPE_DDVI_CONFIG",
    "GENOTYPE_VAE_CONFIG",
    "METHODS",
    "AlignmentReport",
    "AncestryMap",
    "AncestryModel",
    "GenotypeMatrix",
    "GenotypePCA",
    "InputError",
    "Projection",
    "QCOptions",
    "QCReport",
    "align_variants",
    "embed",
    "evaluate_embedding",
    "example_paths",
    "infer",
    "read_embedding_table",
    "read_genotypes",
    "read_panel",
    "read_pgen",
    "read_plink",
    "read_vcf",
    "run_qc",
    "stack_variants",
    "write_map",
    "write_projection",
]


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, globals())
