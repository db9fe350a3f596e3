"""Genotype pipeline: reading, QC, PCA and 2-D ancestry maps.

Functions work on dosage arrays of shape ``(n_variants, n_samples)`` (int8, -1 = missing). The
main job in memory::

    from ddvi_genomics.genotype import example_paths, infer, read_genotypes, read_panel

    vcf, panel = example_paths()
    amap = infer(read_genotypes(vcf), read_panel(panel), seed=0)   # writes nothing
    amap.table()                    # #IID DIM1 DIM2 DIM1_SD DIM2_SD POP SUPER_POP
    amap.model.save("1kg.model.pt")
    AncestryModel.load("1kg.model.pt").project(read_genotypes("new.vcf.gz")).coords
"""

from .errors import InputError
from .mapping.ancestry_map import AncestryMap, example_paths, infer
from .mapping.ancestry_model import AlignmentReport, AncestryModel, Projection, align_variants
from .mapping.embed import GENOTYPE_DDVI_CONFIG, GENOTYPE_VAE_CONFIG, METHODS, embed
from .mapping.evaluate import evaluate_embedding
from .matrix import GenotypeMatrix, stack_variants
from .outputs.files import read_embedding_table, write_map, write_projection
from .pca.decomposition import GenotypePCA
from .qc.recipe import QCOptions, QCReport, run_qc
from .readers import read_genotypes
from .readers.panel import read_panel
from .readers.plink import read_pgen, read_plink
from .readers.vcf import read_vcf

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
