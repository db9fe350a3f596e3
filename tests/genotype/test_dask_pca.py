"""Out-of-core QC and PCA of a VCF Zarr store on Dask equal the in-memory QC and PCA."""

# zarr, bio2zarr and dask come with the test extra (the README's `make test` installs them):
# a missing one is a broken test environment, so they are imported, never skipped.
import bio2zarr  # noqa: F401
import dask
import dask.array  # noqa: F401
import numpy as np
import pytest

from ddvi_genomics.genotype.errors import InputError
from ddvi_genomics.genotype.mapping.ancestry_map import apply_qc
from ddvi_genomics.genotype.pca.decomposition import GenotypePCA
from ddvi_genomics.genotype.pca.projection import project_dosage
from ddvi_genomics.genotype.qc.recipe import QCOptions
from ddvi_genomics.genotype.readers.vcf import read_vcf
from tests.genotype.conftest import three_populations, write_vcf


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from ddvi_genomics.genotype.readers.convert import write_store

    d = tmp_path_factory.mktemp("dask")
    dosage, _ = three_populations(n_per_pop=25, n_variants=600, seed=11)
    rng = np.random.default_rng(0)
    dosage[rng.random(dosage.shape) < 0.02] = -1  # scattered missing calls
    dosage[:40][rng.random((40, 75)) < 0.3] = -1  # 40 variants with high missingness
    dosage[50:55] = 0  # monomorphic
    dosage[60:65] = 0
    dosage[60:65, 0] = 1  # MAF 1/150 < 0.01
    write_vcf(d / "s.vcf", dosage, [f"I{i}" for i in range(75)])
    write_store([d / "s.vcf"], d / "s.vcz", variants_chunk_size=64)
    return d


def test_store_qc__same_counts_and_variants_as_the_in_memory_qc(store):
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    qc = store_qc(store / "s.vcz")
    gm, report = apply_qc(read_vcf(store / "s.vcf"), QCOptions())
    assert int(qc.keep.sum()) == gm.n_variants
    assert qc.steps == report.steps  # every row: filter, count, detail
    assert dict((n, c) for n, c, _ in qc.steps)["monomorphic"] == 5
    assert qc.report().lines() == report.lines()
    # the HWE exact test (and its mid-p form) from per-chunk genotype counts
    for midp in (False, True):
        qc_h = store_qc(store / "s.vcz", QCOptions(hwe=0.05, hwe_midp=midp))
        gm_h, report_h = apply_qc(read_vcf(store / "s.vcf"), QCOptions(hwe=0.05, hwe_midp=midp))
        assert qc_h.steps == report_h.steps and int(qc_h.keep.sum()) == gm_h.n_variants
        assert qc_h.steps[-1][1] > 0  # the test removed something
    # position ranges (write_vcf places variant i at 1,000 (i + 1) on contig 1)
    from ddvi_genomics.genotype.ranges import VariantRanges

    ranges = VariantRanges("test", ("1", "1"), (50_000, 300_500), (120_000, 401_000))
    for field in ("extract_ranges", "exclude_ranges"):
        qc_r = store_qc(store / "s.vcz", QCOptions(**{field: ranges}))
        gm_r, report_r = apply_qc(read_vcf(store / "s.vcf"), QCOptions(**{field: ranges}))
        assert qc_r.steps == report_r.steps and int(qc_r.keep.sum()) == gm_r.n_variants
    assert ("in --exclude-range", 172, "2 ranges from test") in qc_r.steps  # 71 + 101 by hand
    # --thin on a sorted store (write_vcf spaces variants 1 kb apart)
    qc_t = store_qc(store / "s.vcz", QCOptions(thin_bp=2500))
    gm_t, report_t = apply_qc(read_vcf(store / "s.vcf"), QCOptions(thin_bp=2500))
    assert qc_t.steps == report_t.steps and qc_t.steps[-1][1] > 0
    assert int(qc_t.keep.sum()) == gm_t.n_variants


def test_store_qc__nothing_left_is_the_in_memory_message_naming_the_store(store):
    """Oracle: the fixture's 600 variants are all on contig 1, so --chr 7 removes all of them,
    and every later step (which removes nothing) is left out of the line."""
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    with pytest.raises(InputError) as in_memory:
        apply_qc(read_vcf(store / "s.vcf"), QCOptions(contigs=("7",)))
    with pytest.raises(InputError) as out_of_core:
        store_qc(store / "s.vcz", QCOptions(contigs=("7",)))
    expected = "nothing left after QC{} (600 variants in): not on --chr 7: removed 600"
    assert str(in_memory.value) == expected.format("")
    assert str(out_of_core.value) == expected.format(f" of {store / 's.vcz'}")


def test_store_pca__equals_the_in_memory_pca(store):
    from ddvi_genomics.genotype.pca.outofcore import store_pca

    pca, scores, _ = store_pca(store / "s.vcz", 5)
    gm, _ = apply_qc(read_vcf(store / "s.vcf"), QCOptions())
    ref = GenotypePCA(5, solver="exact")
    ref_scores = ref.fit_transform(gm.dosage)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-8 * np.abs(ref_scores).max())
    np.testing.assert_allclose(pca.components_, ref.components_, atol=1e-10)
    np.testing.assert_allclose(pca.eigenvalues_, ref.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio_, ref.explained_variance_ratio_)
    # projection with the store's PCA reproduces the scores
    np.testing.assert_allclose(pca.transform(gm.dosage), scores, atol=1e-8 * np.abs(scores).max())


def test_store_pca__a_scheduler_that_does_not_answer_is_one_line(store):
    from ddvi_genomics.genotype.readers.store_tasks import dask_scheduler

    with pytest.raises(InputError, match=r"Dask scheduler tcp://127.0.0.1:9 did not answer"):
        with dask_scheduler("tcp://127.0.0.1:9", timeout=1):
            pass


def test_infer_out_of_core__same_outputs_as_in_memory_on_the_vcf(store, tmp_path):
    from click.testing import CliRunner

    from ddvi_genomics.cli import main

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    common = ["--method", "pca", "--n-pcs", 4]
    a = run("infer", store / "s.vcf", "--out", tmp_path / "mem", *common)
    b = run("infer", store / "s.vcz", "--out", tmp_path / "ooc", "--out-of-core", *common)
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for suffix in (".eigenvec", ".eigenval", ".embedding.tsv", ".afreq"):
        mine = (tmp_path / f"ooc{suffix}").read_text()
        assert mine == (tmp_path / f"mem{suffix}").read_text(), suffix
    log = (tmp_path / "ooc.log").read_text()
    assert "out of core" in log and "QC output: " in log
    lone = run("infer", store / "s.vcf", "--out", tmp_path / "y", "--scheduler", "tcp://h:1")
    assert lone.exit_code == 2 and "--scheduler applies to --out-of-core runs only" in lone.output
    vcf = run("infer", store / "s.vcf", "--out", tmp_path / "z", "--out-of-core")
    assert vcf.exit_code == 2 and "--out-of-core reads one VCF Zarr store" in vcf.output
    refusals = {
        "--region": (["1:1-5000"], "select variants with --chr or --extract-range"),
    }
    for flag, (values, hint) in refusals.items():
        flag = [flag, *values]
        refused = run("infer", store / "s.vcz", "--out", tmp_path / "r", "--out-of-core", *flag)
        assert refused.exit_code == 2 and hint in refused.output, refused.output


def test_infer_out_of_core__keep_and_remove_give_the_in_memory_files(store, tmp_path):
    """Oracle: the in-memory run, which reads only the chosen samples; both keep the store's
    sample order whatever the order of the --keep file's lines, as PLINK does."""
    from click.testing import CliRunner

    from ddvi_genomics.cli import main

    ids = [f"I{i}" for i in range(75)]
    order = np.random.default_rng(7).permutation(75)[:50]
    (tmp_path / "keep.txt").write_text("".join(f"{ids[i]}\n" for i in order) + "NOBODY\n")
    (tmp_path / "remove.txt").write_text("".join(f"0 {ids[i]}\n" for i in order[:5]))
    common = ["--method", "pca", "--n-pcs", "3", "--mind", "0.05", "--keep",
              str(tmp_path / "keep.txt"), "--remove", str(tmp_path / "remove.txt")]  # fmt: skip

    def run(path, prefix, *extra):
        result = CliRunner().invoke(
            main, ["infer", str(path), "--out", str(tmp_path / prefix), *common, *extra]
        )
        assert result.exit_code == 0, result.output
        return result

    run(store / "s.vcf", "mem")
    run(store / "s.vcz", "ooc", "--out-of-core")
    for suffix in (".eigenvec", ".eigenval", ".pcscores", ".embedding.tsv", ".afreq"):
        assert (tmp_path / f"ooc{suffix}").read_text() == (tmp_path / f"mem{suffix}").read_text()
    rows = (tmp_path / "ooc.eigenvec").read_text().splitlines()[1:]
    assert 0 < len(rows) <= 45  # 50 kept, 5 removed, then --mind
    assert [row.split()[0] for row in rows] == [
        ids[i] for i in sorted(order[5:]) if ids[i] in {row.split()[0] for row in rows}
    ]  # the store's order, not the --keep file's
    assert "QC input: 600 variants x 45 samples" in (tmp_path / "ooc.log").read_text()
    # an ID the data lack is skipped with a warning, as plink2 does; none present is an error
    for prefix in ("mem", "ooc"):
        log = (tmp_path / f"{prefix}.log").read_text()
        assert (
            "1 requested sample(s) not in the file, skipped as PLINK does (first 'NOBODY')" in log
        )
    (tmp_path / "absent.txt").write_text("NOBODY\nNOONE\n")
    absent = CliRunner().invoke(main, [
        "infer", str(store / "s.vcz"), "--out-of-core", "--out", str(tmp_path / "x"), "--keep",
        str(tmp_path / "absent.txt"),
    ])  # fmt: skip
    assert absent.exit_code == 2
    assert (
        "none of the 2 requested samples is in the file (first absent 'NOBODY')" in absent.output
    )
    # --remove of every sample: one line, on both paths
    (tmp_path / "everyone.txt").write_text("".join(f"{i}\n" for i in ids))
    for path, extra in ((store / "s.vcf", []), (store / "s.vcz", ["--out-of-core"])):
        refused = CliRunner().invoke(main, [
            "infer", str(path), "--out", str(tmp_path / "y"), "--remove",
            str(tmp_path / "everyone.txt"), *extra,
        ])  # fmt: skip
        assert refused.exit_code == 2 and f"removes every sample of {path}" in refused.output


def test_store_qc_and_pca__mind_removes_the_same_samples_as_in_memory(store):
    from ddvi_genomics.genotype.counts import sample_missing_rate
    from ddvi_genomics.genotype.pca.outofcore import store_pca
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    source = read_vcf(store / "s.vcf")
    snp = apply_qc(source, QCOptions(max_variant_missing=1.0, min_maf=0.0))[0]
    threshold = float(np.median(sample_missing_rate(snp.dosage)))  # removes about half
    options = QCOptions(max_sample_missing=threshold)
    gm, report = apply_qc(source, options)
    qc = store_qc(store / "s.vcz", options)
    assert qc.steps == report.steps and qc.n_samples == gm.n_samples < source.n_samples
    assert qc.report().lines() == report.lines()
    _, scores, _ = store_pca(store / "s.vcz", 3, qc=qc)
    ref = GenotypePCA(3, solver="exact").fit_transform(gm.dosage)
    np.testing.assert_allclose(scores, ref, atol=1e-8 * np.abs(ref).max())


def test_store_pca__fit_on_a_subset_and_project_the_rest(store):
    from ddvi_genomics.genotype.pca.outofcore import store_pca

    gm, _ = apply_qc(read_vcf(store / "s.vcf"), QCOptions())
    fit = np.arange(0, gm.n_samples, 2)  # every other sample
    pca, scores, _ = store_pca(store / "s.vcz", 3, fit_samples=fit)
    ref = GenotypePCA(3, solver="exact")
    ref_fit = ref.fit_transform(gm.dosage[:, fit])
    ref_all = ref.transform(gm.dosage)
    scale = np.abs(ref_all).max()
    np.testing.assert_allclose(pca.allele_frequency_, ref.allele_frequency_, rtol=1e-12)
    np.testing.assert_allclose(scores, ref_all, atol=1e-8 * scale)  # projections of everyone
    np.testing.assert_allclose(scores[fit], ref_fit, atol=1e-8 * scale)  # = U s on the fit set


def test_infer_out_of_core__pca_fit_file_projects_the_other_samples(store, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from ddvi_genomics.cli import main

    gm, _ = apply_qc(read_vcf(store / "s.vcf"), QCOptions())
    fit = np.arange(0, gm.n_samples, 2)
    (tmp_path / "fit.txt").write_text("".join(f"{gm.sample_id[i]}\n" for i in fit))

    def run_out_of_core(out, *extra):
        result = CliRunner().invoke(main, [
            "infer", str(store / "s.vcz"), "--out", str(tmp_path / out), "--out-of-core",
            "--pca-fit", str(tmp_path / "fit.txt"), "--method", "pca", "--n-pcs", "3", *extra,
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
        return pd.read_csv(tmp_path / f"{out}.pcscores", sep="\t").set_index("#IID")

    ref = GenotypePCA(3, solver="exact")
    ref.fit_transform(gm.dosage[:, fit])
    expected = ref.transform(gm.dosage)  # PLINK's --score: missing calls mean-imputed
    tolerance = 1e-5 * np.abs(expected).max()
    plink_like = run_out_of_core("s", "--projection", "mean-impute")
    np.testing.assert_allclose(plink_like.loc[gm.sample_id].to_numpy(), expected, atol=tolerance)
    # the default: the other samples by the Gaussian-prior projection of their observed calls
    ours = run_out_of_core("o")
    others = np.setdiff1d(np.arange(gm.n_samples), fit)
    expected[others] = project_dosage(ref, gm.dosage[:, others], "bayes").scores
    np.testing.assert_allclose(ours.loc[gm.sample_id].to_numpy(), expected, atol=tolerance)
    assert not np.allclose(ours.to_numpy(), plink_like.to_numpy())  # the data have missing calls
    # in memory, the same fit file gives the same files (the exact solver below 5,000 samples)
    in_memory = CliRunner().invoke(main, [
        "infer", str(store / "s.vcf"), "--out", str(tmp_path / "m"), "--pca-fit",
        str(tmp_path / "fit.txt"), "--method", "pca", "--n-pcs", "3",
    ])  # fmt: skip
    assert in_memory.exit_code == 0, in_memory.output
    for suffix in (
        ".eigenvec",
        ".eigenval",
        ".pcscores",
        ".embedding.tsv",
        ".afreq",
        ".eigenvec.allele",
    ):
        assert (tmp_path / f"m{suffix}").read_text() == (tmp_path / f"o{suffix}").read_text()
    # a fit set in which a QC-passing variant is monomorphic: the same line on both paths
    (tmp_path / "one.txt").write_text(f"{gm.sample_id[0]}\n")
    for path, extra in ((store / "s.vcf", []), (store / "s.vcz", ["--out-of-core"])):
        refused = CliRunner().invoke(main, [
            "infer", str(path), "--out", str(tmp_path / "r"), "--pca-fit",
            str(tmp_path / "one.txt"), "--method", "pca", *extra,
        ])  # fmt: skip
        assert refused.exit_code == 2, refused.output
        assert "monomorphic or uncalled in the PCA fit samples" in refused.output


def test_store_pca__on_a_dask_distributed_cluster_equals_local(store):
    import distributed

    from ddvi_genomics.genotype.pca.outofcore import store_pca
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.readers.store_tasks import tasks_at_once

    local_qc = store_qc(store / "s.vcz", QCOptions(max_sample_missing=0.5))
    _, local, _ = store_pca(store / "s.vcz", 3, qc=local_qc)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=3, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        with distributed.Client(address):  # a batch of chunks gives every cluster thread one
            assert tasks_at_once() == 3
        remote_qc = store_qc(store / "s.vcz", QCOptions(max_sample_missing=0.5), scheduler=address)
        ran_by_qc = set(cluster.scheduler.task_prefixes)  # what it ran, by function name
        _, remote, _ = store_pca(store / "s.vcz", 3, qc=remote_qc, scheduler=address)
        ran = set(cluster.scheduler.task_prefixes)
    # the QC passes (--mind's and the counts) ran on the cluster too, not on local threads
    assert {"chunk_sample_missing", "chunk_counts"} <= ran_by_qc  # dask drops the leading "_"
    assert "chunk_gram" not in ran_by_qc and "chunk_gram" in ran
    assert "add" in ran  # the Gram products were added up on the cluster, not by the client
    np.testing.assert_array_equal(remote_qc.keep, local_qc.keep)
    np.testing.assert_allclose(remote, local, atol=1e-10 * np.abs(local).max())


def test_store_qc_and_pca__progress_counts_every_variant_read(store, capsys):
    """Oracle: the chunk layout (64 variants per chunk) and the QC's keep mask."""
    from ddvi_genomics.genotype.pca.outofcore import store_pca
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    qc = store_qc(store / "s.vcz")  # off a terminal: quiet
    store_pca(store / "s.vcz", 3, qc=qc)
    assert capsys.readouterr().err == ""
    store_qc(store / "s.vcz", QCOptions(max_sample_missing=0.5), verbose=True)
    store_pca(store / "s.vcz", 3, qc=qc, verbose=True)
    err = capsys.readouterr().err
    finals = dict(
        line.rsplit(" variants", 1)[0].split("] ")
        for line in err.replace("\r", "\n").splitlines()
        if line.startswith("[")
    )  # the last line of each pass wins
    chunks_read = sum(
        min(lo + 64, len(qc.keep)) - lo
        for lo in range(0, len(qc.keep), 64)
        if qc.keep[lo : lo + 64].any()
    )
    assert finals == {
        "[qc: missing calls per sample": f"{len(qc.keep):,}",
        "[qc: genotype counts": f"{len(qc.keep):,}",
        "[pca: X^T X": f"{chunks_read:,}",
        "[pca: loadings": f"{chunks_read:,}",
    }


@pytest.fixture(scope="module")
def linked_store(tmp_path_factory):
    """Two contigs of variants in LD (noisy copies of their neighbours), 16 variants per chunk."""
    from ddvi_genomics.genotype.readers.convert import write_store

    d = tmp_path_factory.mktemp("ld")
    rng = np.random.default_rng(5)
    dosage, _ = three_populations(n_per_pop=20, n_variants=240, seed=7)
    for i in range(1, len(dosage)):  # each variant copies the previous one in ~60 % of samples
        copy = rng.random(dosage.shape[1]) < 0.6
        dosage[i, copy] = dosage[i - 1, copy]
    dosage[rng.random(dosage.shape) < 0.02] = -1
    ids = [f"I{i}" for i in range(dosage.shape[1])]
    write_vcf(d / "c1.vcf", dosage[:130], ids, contig="1")
    write_vcf(d / "c2.vcf", dosage[130:], ids, contig="2")
    write_store([d / "c1.vcf", d / "c2.vcf"], d / "ld.vcz", variants_chunk_size=16)
    return d


def test_store_qc__ld_prune_keeps_what_the_in_memory_pruning_keeps(linked_store):
    """Oracle: the in-memory pruning (itself equal to plink2 --indep-pairwise, test_ldprune)."""
    from ddvi_genomics.genotype.matrix import stack_variants
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    source = stack_variants(
        [read_vcf(linked_store / f"c{i}.vcf") for i in (1, 2)], ["c1.vcf", "c2.vcf"]
    )
    for window, step, r2, mind in ((20, 3, 0.3, 1.0), (5, 1, 0.5, 0.02)):  # 20 > 16 per chunk
        options = QCOptions(ld_prune=(window, step, r2), max_sample_missing=mind)
        gm, report = apply_qc(source, options)
        qc = store_qc(
            linked_store / "ld.vcz",
            QCOptions(ld_prune=(window, step, r2), max_sample_missing=mind),
        )
        assert qc.steps == report.steps
        assert report.steps[-1][1] > 20  # the pruning removed many variants
        assert qc.prune_in == report.prune_in and qc.prune_out == report.prune_out
        assert qc.report().lines() == report.lines()
    removed = {name: count for name, count, _ in report.steps}
    assert removed["samples missing > 0.02"] > 0  # --mind removed samples in the second case


def test_infer_out_of_core__ld_prune_outputs_equal_in_memory(linked_store, tmp_path):
    from click.testing import CliRunner

    from ddvi_genomics.cli import main

    common = ["--method", "pca", "--n-pcs", "3", "--ld-prune", "20", "3", "0.3"]
    vcfs = [str(linked_store / f"c{i}.vcf") for i in (1, 2)]
    a = CliRunner().invoke(main, ["infer", *vcfs, "--out", str(tmp_path / "mem"), *common])
    b = CliRunner().invoke(
        main,
        ["infer", str(linked_store / "ld.vcz"), "--out", str(tmp_path / "ooc"), "--out-of-core"]
        + common,
    )
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for suffix in (".prune.in", ".prune.out", ".eigenvec", ".eigenval"):
        assert (tmp_path / f"ooc{suffix}").read_text() == (tmp_path / f"mem{suffix}").read_text()


def test_project_store__chunk_by_chunk_equals_projecting_the_vcf(store, tmp_path):
    """Oracle: ``project`` of the same genotypes from the VCF, read whole into memory.

    The new file swaps REF/ALT at every 5th variant (dosages flipped) and lacks every 7th.
    """
    from click.testing import CliRunner

    from ddvi_genomics.cli import main
    from ddvi_genomics.genotype.readers.convert import write_store

    def run(*args):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result

    run("infer", store / "s.vcf", "--out", tmp_path / "m", "--method", "pca", "--n-pcs", 4)
    flip = {"0/0": "1/1", "1/1": "0/0", "0/1": "0/1", "./.": "./."}
    lines, record = [], 0
    for line in (store / "s.vcf").read_text().splitlines():
        if not line.startswith("#"):
            record += 1
            if record % 7 == 0:
                continue
            if record % 5 == 0:
                f = line.split("\t")
                f[3], f[4] = f[4], f[3]
                line = "\t".join(f[:9] + [flip[g] for g in f[9:]])
        lines.append(line)
    (tmp_path / "new.vcf").write_text("\n".join(lines) + "\n")
    write_store([tmp_path / "new.vcf"], tmp_path / "new.vcz", variants_chunk_size=64)
    (tmp_path / "keep.txt").write_text("I9\nI3\nI40\nI41\n")
    (tmp_path / "remove.txt").write_text("I41\n")
    model = tmp_path / "m.model.pt"
    keep = ["--keep", tmp_path / "keep.txt", "--remove", tmp_path / "remove.txt"]
    run("project", tmp_path / "new.vcf", "--model", model, "--out", tmp_path / "a", *keep)
    run("project", tmp_path / "new.vcz", "--model", model, "--out", tmp_path / "b", *keep)
    import pandas as pd

    a = pd.read_csv(tmp_path / "a.pcscores", sep="\t")
    b = pd.read_csv(tmp_path / "b.pcscores", sep="\t")
    assert list(b["#IID"]) == list(a["#IID"]) == ["I3", "I9", "I40"]  # the input's order
    assert list(a.columns) == list(b.columns) and "PC1_SD" in a and "N_OBSERVED" in a
    numbers = a.select_dtypes("number").columns
    np.testing.assert_allclose(b[numbers].to_numpy(), a[numbers].to_numpy(), atol=1e-5)
    assert list(a["STATUS"]) == list(b["STATUS"]) == ["ok"] * 3
    log = (tmp_path / "b.log").read_text()
    assert "one chunk of variants at a time" in log
    assert '"swapped_ref_alt": 94' in log and '"absent": 79' in log  # of 550 QC-passing
    assert (tmp_path / "a.embedding.tsv").read_text() == (tmp_path / "b.embedding.tsv").read_text()


def test_infer_store__hands_the_scheduler_and_verbosity_to_qc_and_pca(monkeypatch):
    from ddvi_genomics.genotype.mapping import ancestry_map
    from ddvi_genomics.genotype.mapping.ancestry_map import infer_store

    seen = {}

    def spy_qc(store, options, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop after the QC call")

    monkeypatch.setattr(ancestry_map, "store_qc", spy_qc)
    monkeypatch.setattr(ancestry_map, "store_sample_names",
                        lambda store, rule: (np.array(["S1"], object), None))  # fmt: skip
    with pytest.raises(RuntimeError, match="stop after the QC call"):
        infer_store("s.vcz", scheduler="tcp://10.0.0.1:8786", verbose=True)
    assert seen["scheduler"] == "tcp://10.0.0.1:8786" and seen["verbose"] is True


@pytest.mark.parametrize("n_tasks", [1, 2, 5, 7])
def test_sum_over_chunks__equals_a_plain_sum(n_tasks, monkeypatch):
    """Oracle: a Python loop over the same tasks; batches of 3 leave odd tails for the tree."""
    from ddvi_genomics.genotype.readers import store_tasks

    monkeypatch.setattr(store_tasks, "tasks_at_once", lambda: 3)
    tasks = [("unused", 10 * i, 10 * i + 10, i) for i in range(n_tasks)]

    def square(_, lo, hi, i):
        return np.full((2, 2), float(i) ** 2) + lo

    expected = sum(square(*t) for t in tasks)
    np.testing.assert_array_equal(store_tasks.sum_over_chunks(square, tasks), expected)


def test_infer_out_of_core__id_delim_and_keep_by_iid_give_the_in_memory_files(tmp_path):
    """VCF names FID_IID split out of core as in memory; --keep names IIDs; FIDs written."""
    from click.testing import CliRunner

    from ddvi_genomics.cli import main
    from ddvi_genomics.genotype.readers.convert import write_store
    from tests.genotype.conftest import three_populations, write_vcf

    dosage, _ = three_populations(n_per_pop=15, n_variants=300, seed=6)
    names = [f"F{i // 3}_I{i}" for i in range(45)]
    write_vcf(tmp_path / "n.vcf", dosage, names)
    write_store([tmp_path / "n.vcf"], tmp_path / "n.vcz", variants_chunk_size=70)
    (tmp_path / "keep.txt").write_text("".join(f"I{i}\n" for i in range(0, 45, 2)))
    common = ["--method", "pca", "--n-pcs", "3", "--id-delim", "_", "--keep",
              str(tmp_path / "keep.txt")]  # fmt: skip
    outs = {}
    for name, extra in (("mem", [str(tmp_path / "n.vcf")]),
                        ("ooc", [str(tmp_path / "n.vcz"), "--out-of-core"])):  # fmt: skip
        result = CliRunner().invoke(
            main, ["infer", *extra, "--out", str(tmp_path / name), *common]
        )
        assert result.exit_code == 0, result.output
        outs[name] = {s: (tmp_path / f"{name}{s}").read_text() for s in (".eigenvec", ".pcscores")}
    assert outs["ooc"] == outs["mem"]
    lines = outs["ooc"][".eigenvec"].splitlines()
    assert (
        lines[0].startswith("#FID\tIID") and lines[1].startswith("F0\tI0\t") and len(lines) == 24
    )


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory):
    """1,500 samples of six populations x 600 variants, chunked 50 variants x 500 samples.

    Six populations give five structured PCs, so PC1-5 are defined (noise PCs beyond the
    structure have near-equal eigenvalues, and any two solvers may rotate them differently).
    """
    from ddvi_genomics.genotype.readers.convert import write_store

    d = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(21)
    p = rng.uniform(0.1, 0.9, 600)
    freqs = [np.clip(rng.beta(p * 9, (1 - p) * 9), 0.01, 0.99) for _ in range(6)]
    dosage = np.concatenate(
        [rng.binomial(2, f[:, None], size=(600, 250)) for f in freqs], axis=1
    ).astype(np.int8)
    dosage[rng.random(dosage.shape) < 0.01] = -1
    write_vcf(d / "w.vcf", dosage, [f"I{i}" for i in range(1500)])
    write_store([d / "w.vcf"], d / "w.vcz", variants_chunk_size=50, samples_chunk_size=500)
    return d / "w.vcz"


def test_store_pca__randomized_equals_exact_locally_and_on_a_two_worker_cluster(wide_store):
    """Oracle: the exact out-of-core solver (eigh of X^T X) on the same store."""
    import distributed

    from ddvi_genomics.genotype.pca.outofcore import store_pca
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    qc = store_qc(wide_store)
    exact, exact_scores, _ = store_pca(wide_store, 5, qc=qc, solver="exact")
    fast, fast_scores, _ = store_pca(wide_store, 5, qc=qc, solver="randomized", seed=3)
    assert fast.solver_used_.startswith("randomized") and exact.solver_used_.startswith("exact")
    for k in range(5):
        r = np.corrcoef(exact_scores[:, k], fast_scores[:, k])[0, 1]
        assert abs(r) >= 0.9999, (k, r)
    np.testing.assert_allclose(fast.eigenvalues_, exact.eigenvalues_, rtol=1e-4)
    assert fast.total_variance_ == pytest.approx(exact.total_variance_, rel=1e-5)  # float32 sums
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        _, remote, _ = store_pca(wide_store, 5, qc=qc, solver="randomized", seed=3,
                                 scheduler=cluster.scheduler_address)  # fmt: skip
    np.testing.assert_allclose(remote, fast_scores, atol=1e-8 * np.abs(fast_scores).max())


def test_store_pca__randomized_never_builds_an_n_by_n_matrix(wide_store):
    """tracemalloc (NumPy reports its buffers) bounds the peak well below one n x n float64."""
    import tracemalloc

    from ddvi_genomics.genotype.pca.outofcore import store_pca
    from ddvi_genomics.genotype.qc.outofcore import store_qc

    qc = store_qc(wide_store)
    n = qc.n_samples
    with dask.config.set(scheduler="synchronous"):  # every chunk in this thread, traced
        tracemalloc.start()
        store_pca(wide_store, 5, qc=qc, solver="randomized")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        store_pca(wide_store, 5, qc=qc, solver="exact")
        _, exact_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert exact_peak > n * n * 8  # the oracle can tell: the exact solver holds X^T X
    assert peak < n * n * 8 / 4, (peak, n * n * 8)


def test_project_store__blocks_of_samples_equal_projecting_in_memory(store, tmp_path, monkeypatch):
    """Oracle: ``project`` of the same samples read into memory. A store chunked by 5 samples,
    projected in blocks of at most 10, samples asked for out of order: scores, covariances and
    observed counts agree, in the order asked for."""
    from ddvi_genomics.genotype.mapping.ancestry_map import infer
    from ddvi_genomics.genotype.readers import packed_store, store_tasks
    from ddvi_genomics.genotype.readers.convert import write_store
    from ddvi_genomics.genotype.readers.store_tasks import sample_block_size

    assert sample_block_size(5, 75) == 75 and sample_block_size(10_000, 20_000) == 10_000
    write_store([store / "s.vcf"], tmp_path / "s.vcz", variants_chunk_size=64,
                samples_chunk_size=5)  # fmt: skip
    amap = infer(read_vcf(store / "s.vcf"), method="pca", n_pcs=4)
    model = amap.model
    wanted = [f"I{i}" for i in (70, 3, 41, 12, 0, 55, 33, 34, 9, 68, 21)]
    whole = model.project(read_vcf(store / "s.vcf", samples=wanted))
    monkeypatch.setattr(store_tasks, "SAMPLE_BLOCK", 10)
    read_columns = []
    original = packed_store.read_codes

    def spy(array, lo, hi, where, columns=None):
        read_columns.append(columns)
        return original(array, lo, hi, where, columns)

    monkeypatch.setattr(packed_store, "read_codes", spy)  # the two-bit copy: bytes of 4 samples
    blocked = model.project_store(tmp_path / "s.vcz", samples=wanted)
    # store columns 0 3 9 12 21 33 34 41 55 68 | 70: two blocks of at most 10 samples, read as
    # the bytes that hold them (column // 4)
    assert {tuple(c) for c in read_columns} == {(0, 2, 3, 5, 8, 10, 13, 17), (17,)}
    assert list(blocked.sample_id) == wanted
    np.testing.assert_allclose(blocked.pcs, whole.pcs, atol=1e-10)
    np.testing.assert_allclose(blocked.scores.covariance, whole.scores.covariance, atol=1e-12)
    assert (blocked.scores.n_observed == whole.scores.n_observed).all()
    assert (blocked.scores.n_observed < 600).any()  # missing calls: the covariances matter


def test_store_qc__blocks_of_samples_equal_the_in_memory_qc(store, tmp_path, monkeypatch):
    """Oracle: the in-memory QC of the same samples. A store chunked by 5 samples, read in
    blocks of 10, samples chosen out of order: the same steps, the same samples left by
    ``--mind``, and no read of more than one block of samples."""
    from ddvi_genomics.genotype.counts import sample_missing_rate
    from ddvi_genomics.genotype.qc.outofcore import store_qc
    from ddvi_genomics.genotype.readers import packed_store, store_tasks
    from ddvi_genomics.genotype.readers.convert import write_store

    write_store([store / "s.vcf"], tmp_path / "s.vcz", variants_chunk_size=64,
                samples_chunk_size=5)  # fmt: skip
    chosen = np.array([70, 3, 41, 12, 0, 55, 33, 34, 9, 68, 21, 5, 6, 7, 8, 60, 61, 62, 1, 2])
    source = read_vcf(store / "s.vcf").subset(samples=chosen)
    snp = apply_qc(source, QCOptions(max_variant_missing=1.0, min_maf=0.0))[0]
    options = QCOptions(max_sample_missing=float(np.median(sample_missing_rate(snp.dosage))))
    gm, report = apply_qc(source, options)
    monkeypatch.setattr(store_tasks, "SAMPLE_BLOCK", 10)
    widths = []
    original = packed_store.read_rows

    def spy(array, lo, hi, where, columns=None):
        widths.append(array.shape[1] if columns is None else len(columns))
        return original(array, lo, hi, where, columns=columns)

    def spy_codes(array, lo, hi, where, columns=None):
        widths.append(array.shape[1] if columns is None else len(columns))
        return original_codes(array, lo, hi, where, columns)

    original_codes = packed_store.read_codes
    monkeypatch.setattr(packed_store, "read_rows", spy)  # call_genotype
    monkeypatch.setattr(store_tasks, "read_codes", spy_codes)  # bytes of the two-bit copy
    monkeypatch.setattr(packed_store, "read_codes", spy_codes)
    qc = store_qc(tmp_path / "s.vcz", options, samples=chosen)
    assert qc.steps == report.steps and qc.n_samples == gm.n_samples < len(chosen)
    assert list(qc.samples) == [s for s in chosen if s in set(qc.samples)]  # the order asked
    assert sorted(qc.samples) == sorted(chosen[np.isin(source.sample_id, gm.sample_id)])
    assert 3 <= max(widths) <= 10 and len(widths) > 0  # at most 10 samples or their bytes
