import inspect

import ddvi_genomics
import ddvi_genomics.core


def test_import_star__names_exist_and_are_documented():
    namespace = {}
    exec("from ddvi_genomics import *", namespace)
    for name in ddvi_genomics.__all__:
        assert name in namespace, name
    for module in (ddvi_genomics, ddvi_genomics.core):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


def test_public_methods_of_ddvi_are_documented():
    for name in ("fit", "encode", "sample", "elbo", "save", "load"):
        assert inspect.getdoc(getattr(ddvi_genomics.DDVI, name)), name


def test_reprs__short_summaries_for_a_terminal_and_a_notebook():
    import numpy as np

    from ddvi_genomics.genotype.mapping.ancestry_map import infer
    from ddvi_genomics.genotype.matrix import GenotypeMatrix
    from tests.genotype.conftest import three_populations

    dosage, _ = three_populations(n_per_pop=20, n_variants=150)

    gm = GenotypeMatrix(
        dosage, np.full(150, "1", object), np.arange(1, 151) * 100,
        np.full(150, ".", object), np.full(150, "A", object), np.full(150, "G", object),
        np.array([f"S{i}" for i in range(60)], object),
    )  # fmt: skip
    assert repr(gm) == "GenotypeMatrix(variants=150, samples=60, contigs=1, call rate=1.0000)"
    amap = infer(gm, method="pca", n_pcs=5)
    for obj, name in ((amap, "AncestryMap"), (amap.model, "AncestryModel")):
        text, page = repr(obj), obj._repr_html_()
        assert text.startswith(f"{name}(method=pca") and len(text) < 200 and "\n" not in text
        assert page.startswith("<table>") and f"<b>{name}</b>" in page and len(page) < 2000
    assert "samples=60" in repr(amap) and "variants=150" in repr(amap.model)
