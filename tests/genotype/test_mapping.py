"""The in-memory API: infer() -> AncestryMap, AncestryModel save / load / project, RNG hygiene."""

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from ddvi_genomics.cli import main
from ddvi_genomics.genotype import (
    AncestryModel,
    InputError,
    example_paths,
    infer,
    read_genotypes,
    read_panel,
)
from ddvi_genomics.genotype.mapping.embed import preset_config
from ddvi_genomics.genotype.matrix import GenotypeMatrix
from tests.genotype.conftest import three_populations

FAST = preset_config("ddvi", 3)  # the genotype preset, 3 epochs


@pytest.fixture(scope="module")
def sim():
    dosage, labels = three_populations(n_per_pop=30, n_variants=200)
    ids = np.array([f"S{i}" for i in range(dosage.shape[1])])
    gm = GenotypeMatrix(
        dosage,
        np.full(200, "1"),
        np.arange(1, 201) * 1000,
        np.array([f"v{i}" for i in range(200)]),
        np.full(200, "A"),
        np.full(200, "G"),
        ids,
    )
    panel = pd.DataFrame({"population": labels}, index=pd.Index(ids, name="sample"))
    return gm, panel


@pytest.fixture(scope="module")
def ddvi_map(sim):
    gm, panel = sim
    return infer(gm, panel, n_pcs=8, config=FAST, seed=3, device="cpu", verbose=False)


def rng_states():
    """Snapshot the global RNGs after moving them to a state no seeding call would produce."""
    torch.rand(17)
    np.random.rand(17)
    return torch.get_rng_state().clone(), np.random.get_state()[1].copy()


def assert_rng_unchanged(before):
    torch_state, numpy_state = before
    assert torch.equal(torch.get_rng_state(), torch_state), "torch's global RNG was touched"
    assert np.array_equal(np.random.get_state()[1], numpy_state), "NumPy's global RNG was touched"


def test_infer__returns_a_complete_map_and_writes_nothing(ddvi_map, sim, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gm, panel = sim
    assert ddvi_map.coords.shape == (90, 2) and ddvi_map.sd.shape == (90, 2)
    assert (ddvi_map.sd > 0).all() and ddvi_map.pcs.shape == (90, 8)
    assert ddvi_map.reference_pcs.shape == (90, 50) and ddvi_map.model.n_pcs == 8
    np.testing.assert_allclose(ddvi_map.pcs, ddvi_map.reference_pcs[:, :8])
    assert ddvi_map.qc.n_variants_out == 200 and ddvi_map.metrics["n_populations"] == 3
    assert set(ddvi_map.timings) == {"qc", "pca", "embedding", "metrics"}
    table = ddvi_map.table()
    assert list(table.columns) == ["#IID", "DIM1", "DIM2", "DIM1_SD", "DIM2_SD", "POP"]
    assert list(table["POP"]) == list(panel["population"])
    assert not list(tmp_path.iterdir())


def test_infer__leaves_global_rngs_alone_and_is_reproducible(sim, ddvi_map):
    gm, panel = sim
    before = rng_states()
    again = infer(gm, panel, n_pcs=8, config=FAST, seed=3, device="cpu", verbose=False)
    assert_rng_unchanged(before)
    np.testing.assert_array_equal(again.coords, ddvi_map.coords)
    other = infer(gm, panel, n_pcs=8, config=FAST, seed=4, device="cpu", verbose=False)
    assert not np.allclose(other.coords, ddvi_map.coords)


def test_model__save_load_project_reproduces_training_coordinates(ddvi_map, sim, tmp_path):
    gm, _ = sim
    ddvi_map.model.save(tmp_path / "m.pt")
    loaded = AncestryModel.load(tmp_path / "m.pt")
    before = rng_states()
    projection = loaded.project(gm)
    assert_rng_unchanged(before)
    assert projection.alignment.matched == 200 and projection.alignment.overlap == 1.0
    np.testing.assert_allclose(projection.pcs, ddvi_map.pcs, atol=1e-5)
    np.testing.assert_allclose(projection.coords, ddvi_map.coords, atol=1e-4)
    np.testing.assert_allclose(projection.sd, ddvi_map.sd, atol=1e-4)


def test_model__projection_is_order_and_chr_prefix_invariant(ddvi_map, sim):
    gm, _ = sim
    order = np.random.default_rng(0).permutation(gm.n_variants)
    shuffled = gm.subset(variants=order)
    shuffled.variant_contig = np.full(gm.n_variants, "chr1")
    projection = ddvi_map.model.project(shuffled)
    assert projection.alignment.matched == 200
    np.testing.assert_allclose(projection.pcs, ddvi_map.pcs, atol=1e-5)


def test_model_file__a_crafted_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "ddvi-genomics/AncestryModel", "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="evil.pt cannot be read as a model file"):
        AncestryModel.load(tmp_path / "evil.pt")
    assert not marker.exists()
    result = CliRunner().invoke(
        main,
        [
            "project",
            "tests/data/tiny.vcf",
            "--model",
            str(tmp_path / "evil.pt"),
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert result.exit_code == 2 and "cannot be read as a model file" in result.output
    assert not marker.exists() and not (tmp_path / "p.embedding.tsv").exists()


def test_model_file__other_versions_and_damage_are_one_clear_error(ddvi_map, tmp_path):
    from ddvi_genomics.genotype.mapping.model_file import write_model_file

    payload = ddvi_map.model.to_payload()
    write_model_file({**payload, "format_version": 1}, tmp_path / "old.pt")
    with pytest.raises(InputError, match="format version 1.*re-run 'ddvi-genomics infer'"):
        AncestryModel.load(tmp_path / "old.pt")
    write_model_file({k: v for k, v in payload.items() if k != "pca"}, tmp_path / "cut.pt")
    with pytest.raises(InputError, match="cut.pt is damaged or incomplete"):
        AncestryModel.load(tmp_path / "cut.pt")
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="objects.npz cannot be read as a model file"):
        AncestryModel.load(tmp_path / "objects.npz")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.pt cannot be read"):
        AncestryModel.load(tmp_path / "junk.pt")


def test_infer__pca_map_projects_exactly_and_tsne_refuses(sim):
    gm, panel = sim
    amap = infer(gm, panel, n_pcs=5, method="pca", seed=0)
    assert amap.sd is None and "DIM1_SD" not in amap.table()
    np.testing.assert_allclose(amap.model.project(gm).coords, amap.coords, atol=1e-6)
    tsne = infer(gm, None, n_pcs=5, method="tsne", seed=0)
    assert tsne.metrics is None and tsne.labels is None
    with pytest.raises(InputError, match="cannot place new samples"):
        tsne.model.project(gm)


def test_infer__bad_arguments_are_input_errors(sim):
    gm, panel = sim
    with pytest.raises(InputError, match="method 'xyz' is not allowed"):
        infer(gm, method="xyz")
    with pytest.raises(InputError, match="--n-pcs must be an integer >= 1"):
        infer(gm, n_pcs=0, method="pca")
    with pytest.raises(InputError, match="none of its 1 IDs match"):
        infer(gm, pd.Series(["A"], index=["nobody"]), method="pca")


@pytest.mark.slow
def test_infer_api__matches_the_command_line_on_the_bundled_example(tmp_path):
    vcf, panel = example_paths()
    amap = infer(
        read_genotypes(vcf),
        read_panel(panel),
        config=preset_config("ddvi", 2),
        seed=5,
        device="cpu",
    )
    result = CliRunner().invoke(
        main,
        [
            "infer",
            "--example",
            "--epochs",
            "2",
            "--seed",
            "5",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "ex"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "ex.embedding.tsv", sep="\t")
    assert list(table["#IID"]) == list(amap.sample_id)
    # the TSV keeps 6 significant digits
    np.testing.assert_allclose(table[["DIM1", "DIM2"]], amap.coords, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table[["DIM1_SD", "DIM2_SD"]], amap.sd, rtol=1e-5, atol=1e-6)


def test_module_example__runs_as_documented():
    import doctest

    from ddvi_genomics.genotype.mapping import ancestry_map

    result = doctest.testmod(ancestry_map, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


def test_embed__neighbour_method_options_reach_the_estimator():
    from sklearn.manifold import TSNE

    from ddvi_genomics.genotype.mapping.embed import embed

    pcs = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    ours = embed(pcs, method="tsne", seed=3, options={"perplexity": 7}).coords
    oracle = TSNE(2, perplexity=7, random_state=3, init="pca").fit_transform(pcs)
    np.testing.assert_allclose(ours, oracle, rtol=1e-5, atol=1e-5)
    default = embed(pcs, method="tsne", seed=3).coords  # perplexity 100, capped at (n-1)/3
    assert not np.allclose(default, ours)
    with pytest.raises(ValueError, match="method 'tsne' has no option 'n_neighbors'"):
        embed(pcs, method="tsne", options={"n_neighbors": 5})
    with pytest.raises(ValueError, match="method 'pca' has no option 'perplexity'"):
        embed(pcs, method="pca", options={"perplexity": 5})


def test_infer__samples_choose_and_order_the_map_in_memory():
    from ddvi_genomics.genotype import example_paths, infer, read_genotypes
    from ddvi_genomics.genotype.errors import InputError

    gm = read_genotypes(example_paths()[0])
    chosen = [str(s) for s in gm.sample_id[[40, 3, 17, 99, 5]]]
    amap = infer(gm, method="pca", n_pcs=2, samples=chosen)
    assert list(amap.sample_id) == chosen  # a sequence keeps its own order
    amap = infer(gm, method="pca", n_pcs=2, samples=frozenset(chosen))
    assert list(amap.sample_id) == [str(s) for s in gm.sample_id[[3, 5, 17, 40, 99]]]
    with pytest.raises(InputError, match="scheduler applies to out-of-core runs only"):
        infer(gm, method="pca", scheduler="tcp://127.0.0.1:1")


def test_model_file__torch_era_files_still_load_and_give_the_same_model(ddvi_map, tmp_path):
    """A model written by torch.save (tensors), as before this format, projects the same."""
    payload = ddvi_map.model.to_payload()

    def as_tensors(value):
        if isinstance(value, np.ndarray):
            return torch.as_tensor(value)
        if isinstance(value, dict):
            return {k: as_tensors(v) for k, v in value.items()}
        return value

    torch.save(as_tensors(payload), tmp_path / "legacy.pt")
    ddvi_map.model.save(tmp_path / "new.pt")
    legacy, new = (
        AncestryModel.load(tmp_path / "legacy.pt"),
        AncestryModel.load(tmp_path / "new.pt"),
    )
    pcs = ddvi_map.pcs[:20]
    np.testing.assert_array_equal(legacy.embed_pcs(pcs)[0], new.embed_pcs(pcs)[0])
    np.testing.assert_array_equal(new.embed_pcs(pcs)[0], ddvi_map.model.embed_pcs(pcs)[0])
