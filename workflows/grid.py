"""The benchmark grids: which runs a profile asks for, where each lives, and how it is launched.

One module answers these questions for the Snakefile (which turns them into jobs) and for the
summariser (which reports every expected run, including the ones that are missing or failed), so
the rules hold no logic of their own.

A *cell* is one training run. Its key is the path of its folder under ``runs``:

* vision: ``vision/{dataset}/{setting}/{method}/{prior}/{variant}/seed{seed}`` with setting
  ``unsup`` or ``semi{labels}`` and variant ``ref`` (the reference weights), ``elbo`` (every
  family trains its exact bound) or ``T{n}`` (DDVI with n diffusion steps, reference weights);
  semi-supervised families with a choice of objective have the variant ``m2`` (Kingma et al.
  2014's objective) or ``reference`` (the authors'), the AAE-semi ``ref``;
* genotype: ``genotype/{dataset}/{method}/seed{seed}``.

The ablation's T equal to the preset's (40 on MNIST) is the main grid's ``ref`` run, not a
second copy.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from ddvi_genomics.core.models.ddvi_semi import SEMI_OBJECTIVES
from vision import presets

#: Every key a profile may set, with its default (the ``cpu`` profile's values).
DEFAULTS: dict = {
    "name": "custom",
    "protocol": "",  # one sentence shown above every table
    "runs": "workflows/runs/custom",  # run folders (models, logs): not committed
    "results": "workflows/results/custom",  # tables and figures
    "device": "cpu",
    "threads_per_run": 1,
    "vision": {
        "data_dirs": {"mnist": "../shared/data/mnist", "cifar10": None},
        "datasets": ["mnist"],
        "synthetic": False,  # random class-dependent images (the smoke profile)
        "smoke": False,  # seconds-long runs (1 epoch, few pre-training steps)
        "subset": None,
        "test_subset": None,
        "data_epochs": None,  # None: the reference epochs of each family
        "seeds": [0, 1, 2],
        "unsupervised": {
            "methods": list(presets.METHODS),
            "priors": list(presets.PRIORS),
            "elbo_weights_priors": [],  # priors that also get the weights="elbo" rows
        },
        "semi": {
            "methods": list(presets.SEMI_METHODS),
            "priors": ["pinwheel"],
            "labels": {"mnist": [1000], "cifar10": [10000]},
            # per family with a choice of objective (presets.SEMI_OBJECTIVE_METHODS): the
            # objectives it trains with; the M2 objective for all by default
            "objectives": {"ddvi": ["m2"], "vae": ["m2"], "iaf_vae": ["m2"]},
        },
        # prior None: no ablation cells
        "ablation": {"prior": "pinwheel", "diffusion_steps": [5, 10, 20, 40, 50]},
    },
    "genotype": {
        "datasets": {"1kg": {"genotypes": "example"}},
        "methods": ["ddvi", "vae", "pca-2d", "pca-10d", "tsne", "umap"],
        "seeds": [0, 1, 2, 3, 4],
        "epochs": None,  # data epochs of DDVI and the VAE (equal); None: the presets' 150
    },
}

#: DDVI's default T for each data set (the reference presets).
DEFAULT_DIFFUSION_STEPS = {"mnist": 40, "cifar10": 40}


def _merge(base: dict, override: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ValueError(f"unknown config key '{where}{key}'; allowed: {sorted(base)}")
        if isinstance(base[key], dict) and key not in (
            "data_dirs",
            "datasets",
            "labels",
            "objectives",
        ):
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load(config: dict) -> dict:
    """The full config: ``config`` (a profile's YAML, maybe with ``--config`` overrides) over
    :data:`DEFAULTS`. Unknown keys raise ``ValueError`` naming the key."""
    cfg = _merge(DEFAULTS, config)
    vision = cfg["vision"]
    for dataset in vision["datasets"]:
        if dataset not in presets.DATASETS:
            raise ValueError(f"vision.datasets: {dataset!r} is not one of {presets.DATASETS}")
    return cfg


@dataclasses.dataclass(frozen=True)
class VisionCell:
    """One vision training run."""

    dataset: str
    setting: str  # "unsup" or "semi{labels}"
    method: str
    prior: str
    variant: str  # "ref", "elbo" or "T{n}"
    seed: int

    @property
    def key(self) -> str:
        return (
            f"vision/{self.dataset}/{self.setting}/{self.method}/{self.prior}/"
            f"{self.variant}/seed{self.seed}"
        )

    @classmethod
    def from_key(cls, key: str) -> VisionCell:
        parts = key.split("/")
        if len(parts) != 7 or parts[0] != "vision" or not parts[6].startswith("seed"):
            raise ValueError(f"not a vision cell key: {key!r}")
        return cls(*parts[1:6], int(parts[6][4:]))

    def argv(self, cfg: dict) -> list[str]:
        """Arguments of ``python -m workflows.cell vision`` for this run (without ``--out``)."""
        v = cfg["vision"]
        args = ["--dataset", self.dataset, "--method", self.method, "--prior", self.prior]
        args += ["--seed", str(self.seed), "--device", cfg["device"]]
        if self.setting.startswith("semi"):
            args += ["--semi", "--labels", self.setting[4:]]
            if self.variant in SEMI_OBJECTIVES:
                args += ["--semi-objective", self.variant]
        if self.variant == "elbo":
            args += ["--weights", "elbo"]
        elif self.variant.startswith("T"):
            args += ["--diffusion-steps", self.variant[1:]]
        if v["synthetic"]:
            args += ["--synthetic"]
        else:
            data_dir = v["data_dirs"].get(self.dataset)
            if not data_dir:
                raise ValueError(f"vision.data_dirs.{self.dataset} is not set in the config")
            args += ["--data-dir", str(data_dir)]
        if v["smoke"]:
            args += ["--smoke"]
        for name in ("subset", "test_subset", "data_epochs"):
            if v[name] is not None:
                args += [f"--{name.replace('_', '-')}", str(v[name])]
        return args


@dataclasses.dataclass(frozen=True)
class GenotypeCell:
    """One genotype-benchmark run."""

    dataset: str
    method: str
    seed: int

    @property
    def key(self) -> str:
        return f"genotype/{self.dataset}/{self.method}/seed{self.seed}"

    @classmethod
    def from_key(cls, key: str) -> GenotypeCell:
        parts = key.split("/")
        if len(parts) != 4 or parts[0] != "genotype" or not parts[3].startswith("seed"):
            raise ValueError(f"not a genotype cell key: {key!r}")
        return cls(parts[1], parts[2], int(parts[3][4:]))

    def inputs(self, cfg: dict) -> dict[str, str]:
        """Files the run reads: the simulated VCF and panel, or nothing for a named input."""
        spec = cfg["genotype"]["datasets"][self.dataset]
        if "simulate" in spec:
            prefix = simulation_prefix(cfg, self.dataset)
            return {"genotypes": f"{prefix}.vcf.gz", "panel": f"{prefix}.panel"}
        return {}

    def argv(self, cfg: dict) -> list[str]:
        """Arguments of ``python -m workflows.cell genotype`` for this run (without ``--out``)."""
        spec = cfg["genotype"]["datasets"][self.dataset]
        files = self.inputs(cfg)
        genotypes = files.get("genotypes", spec.get("genotypes"))
        args = ["--genotypes", str(genotypes), "--method", self.method, "--seed", str(self.seed)]
        panel = files.get("panel", spec.get("panel"))
        if panel:
            args += ["--panel", str(panel)]
        if cfg["genotype"]["epochs"] is not None:
            args += ["--epochs", str(cfg["genotype"]["epochs"])]
        return args + ["--device", cfg["device"]]


def simulation_prefix(cfg: dict, dataset: str) -> str:
    """Where a simulated data set's ``.vcf.gz`` and ``.panel`` live."""
    return f"{cfg['runs']}/simulations/{dataset}"


def simulate_argv(cfg: dict, dataset: str) -> list[str]:
    """Arguments of ``ddvi-genomics simulate`` for a simulated data set (without ``--out``)."""
    spec = cfg["genotype"]["datasets"][dataset]
    return [
        "--model",
        spec["simulate"],
        "--n-per-pop",
        str(spec.get("n_per_pop", 40)),
        "--length",
        str(float(spec.get("length", 1e7))),
        "--seed",
        str(spec.get("seed", 1)),
    ]


def _over_seeds(cfg: dict, dataset, setting, method, prior, variant) -> list[VisionCell]:
    """The cell for every seed of the profile."""
    return [
        VisionCell(dataset, setting, method, prior, variant, seed)
        for seed in cfg["vision"]["seeds"]
    ]


def unsupervised_cells(cfg: dict) -> list[VisionCell]:
    v = cfg["vision"]
    grid = v["unsupervised"]
    cells = []
    for dataset in v["datasets"]:
        for prior in grid["priors"]:
            for method in grid["methods"]:
                variants = ["ref"] + (["elbo"] if prior in grid["elbo_weights_priors"] else [])
                for variant in variants:
                    if variant == "elbo" and method == "aae":
                        continue  # the AAE has no bound to train
                    cells += _over_seeds(cfg, dataset, "unsup", method, prior, variant)
    return cells


def semi_variants(cfg: dict, method: str) -> list[str]:
    """The objectives a semi-supervised family trains with (``["ref"]`` for the AAE-semi)."""
    if method not in presets.SEMI_OBJECTIVE_METHODS:
        return ["ref"]
    objectives = cfg["vision"]["semi"]["objectives"].get(method, ["m2"])
    for objective in objectives:
        if objective not in SEMI_OBJECTIVES:
            raise ValueError(
                f"vision.semi.objectives.{method}: {objective!r} is not one of {list(SEMI_OBJECTIVES)}"
            )
    return list(objectives)


def semi_cells(cfg: dict) -> list[VisionCell]:
    v = cfg["vision"]
    grid = v["semi"]
    cells = []
    for dataset in v["datasets"]:
        for labels in grid["labels"].get(dataset, []):
            for prior in grid["priors"]:
                for method in grid["methods"]:
                    for variant in semi_variants(cfg, method):
                        cells += _over_seeds(cfg, dataset, f"semi{labels}", method, prior, variant)
    return cells


def ablation_cells(cfg: dict) -> list[VisionCell]:
    """DDVI over T (reference weights) and over the objective (reference vs elbo)."""
    v = cfg["vision"]
    grid = v["ablation"]
    if grid["prior"] is None:  # a profile without the ablation
        return []
    cells = []
    for dataset in v["datasets"]:
        default = DEFAULT_DIFFUSION_STEPS[dataset]
        variants = ["ref" if t == default else f"T{t}" for t in grid["diffusion_steps"]]
        variants += [] if "ref" in variants else ["ref"]
        for variant in [*variants, "elbo"]:
            cells += _over_seeds(cfg, dataset, "unsup", "ddvi", grid["prior"], variant)
    return cells


def genotype_cells(cfg: dict) -> list[GenotypeCell]:
    g = cfg["genotype"]
    return [
        GenotypeCell(dataset, method, seed)
        for dataset in g["datasets"]
        for method in g["methods"]
        for seed in g["seeds"]
    ]


#: Workflow name -> the cells it needs.
WORKFLOWS = {
    "vision_unsupervised": unsupervised_cells,
    "vision_semi": semi_cells,
    "ablation": ablation_cells,
    "genotype": genotype_cells,
}


def cells(cfg: dict, workflow: str) -> list:
    """The cells of one workflow (empty when the profile leaves it out)."""
    return WORKFLOWS[workflow](cfg)


def cell_from_key(key: str):
    """A :class:`VisionCell` or :class:`GenotypeCell` from its key."""
    return (VisionCell if key.startswith("vision/") else GenotypeCell).from_key(key)


def status_path(cfg: dict, cell) -> Path:
    """The file a finished cell writes last (``ok`` or ``failed`` with the error)."""
    return Path(cfg["runs"]) / cell.key / "status.json"


def run_folder(cfg: dict, cell) -> Path:
    """The folder holding a cell's run (model, metrics, tables)."""
    return Path(cfg["runs"]) / cell.key / "run"


def read_status(cfg: dict, cell) -> dict | None:
    """A cell's ``status.json`` (None while the cell has not finished)."""
    path = status_path(cfg, cell)
    return json.loads(path.read_text()) if path.is_file() else None
