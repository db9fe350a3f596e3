"""--fit-subset: the network trains on a stratified subset and places every sample."""

import numpy as np
import pandas as pd
import pytest

from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.mapping.ancestry_map import infer, stratified_rows
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from tests.genotype.conftest import three_populations


def test_stratified_rows__exact_size_hamilton_shares_and_reproducible():
    strata = np.array(["A"] * 20 + ["B"] * 30 + ["C"] * 50)
    rows = stratified_rows(100, 11, strata, np.random.default_rng(0))
    assert len(rows) == 11 and len(set(rows)) == 11 and np.all(np.diff(rows) > 0)
    # quotas 2.2, 3.3, 5.5 -> floors 2, 3, 5 and the one left over to C (largest remainder)
    assert [int((strata[rows] == s).sum()) for s in "ABC"] == [2, 3, 6]
    again = stratified_rows(100, 11, strata, np.random.default_rng(0))
    assert np.array_equal(rows, again)
    plain = stratified_rows(100, 7, None, np.random.default_rng(1))
    assert len(set(plain)) == 7 and plain.max() < 100


def test_infer__network_trains_on_the_subset_and_places_every_sample(monkeypatch):
    from ddvi_genomics.core.models.vae import VAE
    from ddvi_genomics.genotype.mapping.embed import preset_config

    dosage, labels = three_populations(n_per_pop=40, n_variants=200)
    ids = [f"s{i}" for i in range(len(labels))]
    panel = pd.DataFrame({"population": labels}, index=pd.Index(ids, name="sample"))
    seen = []
    real_fit = VAE.fit

    def spy(self, x, *args, **kwargs):
        seen.append(np.asarray(x).shape[0])
        return real_fit(self, x, *args, **kwargs)

    monkeypatch.setattr(VAE, "fit", spy)
    m = dosage.shape[0]
    gm = GenotypeMatrix(
        dosage, np.full(m, "1", object), np.arange(1, m + 1) * 1000,
        np.array([f"rs{i}" for i in range(m)], object), np.full(m, "A", object),
        np.full(m, "G", object), np.array(ids, object),
    )  # fmt: skip
    amap = infer(gm, panel, method="vae", config=preset_config("vae", 20), n_pcs=5,
                 device="cpu", fit_subset=30)  # fmt: skip
    assert seen == [30]
    assert amap.coords.shape == (120, 2) and np.isfinite(amap.coords).all()
    assert amap.metrics["embedding_fit_samples"] == 30
    assert amap.metrics["knn20_cv_accuracy_population"] > 0.9  # placed samples separate too
    with pytest.raises(InputError, match="--fit-subset applies to the network methods"):
        infer(gm, panel, method="tsne", fit_subset=30)
