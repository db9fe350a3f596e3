"""A fitted ancestry map as one object: variants, PCA state and embedding network.

:class:`AncestryModel` is what ``ddvi-genomics infer`` saves as ``PREFIX.model.pt`` and what
``ddvi-genomics project`` loads. It owns

* the **model file format** (versioned; plain tensors, numbers, strings, lists and dicts only,
  read back with ``weights_only=True``, so a model file cannot run code when it is loaded);
* **variant alignment**: new genotypes are matched to the training variants by contig (``chr``
  prefix ignored), position and alleles; swapped REF/ALT are flipped; absent variants become
  missing and are imputed with the training mean in the PCA projection;
* the **PCA state** (:meth:`GenotypePCA.from_state`) and the **embedding** of PC scores by the
  trained DDVI / VAE network (posterior mean and standard deviation over draws).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.seeds import library_seed
from ..atomic import written_atomically
from ..contigs import normalize_contig
from ..display import count, html_summary, text_summary
from ..errors import InputError
from ..matrix import GenotypeMatrix, VariantTable, flip_alleles
from ..pca.decomposition import GenotypePCA, patterson_block
from ..pca.linkage import BandSums
from ..pca.projection import (
    DEFAULT_PROJECTION,
    ObservedSums,
    ProjectedScores,
    project_dosage,
    project_observed,
    space_for,
)
from ..readers.packed_store import read_dosage
from ..readers.store import (
    as_strings,
    open_root,
    sample_pedigree,
    variant_arrays,
    whole_array,
)
from ..readers.store_tasks import sample_blocks
from ..samples import select_samples
from .map_posterior import integrated_posterior, region_summary
from .model_file import read_model_file, write_model_file

if TYPE_CHECKING:
    import torch

log = logging.getLogger("ddvi_genomics")

MODEL_FORMAT = "ddvi-genomics/AncestryModel"
#: Version 2: plain data only (tensors instead of NumPy arrays), the method's network by family
#: name. Version 1 files (pickled NumPy arrays) are refused with a message to re-run ``infer``.
MODEL_FORMAT_VERSION = 2
#: Methods whose map can place new samples.
PROJECTABLE_METHODS = ("ddvi", "vae", "aae", "pca", "ddvi-semi")
#: Draws of an incomplete sample's map posterior (its cloud, region area and modes).
REGION_DRAWS = 100


@dataclasses.dataclass
class AlignmentReport:
    """How new genotypes matched a model's variants."""

    n_model_variants: int
    matched: int
    swapped_ref_alt: int
    absent: int

    @property
    def overlap(self) -> float:
        """Fraction of the model's variants found (matched or swapped)."""
        return (self.matched + self.swapped_ref_alt) / max(self.n_model_variants, 1)

    def to_dict(self) -> dict:
        """JSON-ready form, with the overlap."""
        return {**dataclasses.asdict(self), "overlap": self.overlap}


def align_variants(
    gm: GenotypeMatrix, variants: VariantTable
) -> tuple[np.ndarray, AlignmentReport]:
    """Reorder new dosages to ``variants``; flip swapped REF/ALT; mark absent variants missing.

    Parameters
    ----------
    gm : GenotypeMatrix
        New genotypes, dosage shape (n_new_variants, n_samples).
    variants : VariantTable
        The model's variants (n_model_variants,).

    Returns
    -------
    dosage : np.ndarray, int8, shape (n_model_variants, n_samples)
        -1 where the variant is absent.
    report : AlignmentReport
    """
    source, swapped, report = match_variants(
        gm.variant_contig, gm.variant_position, gm.variant_ref, gm.variant_alt, variants
    )
    out = np.full((len(variants), gm.n_samples), -1, dtype=np.int8)
    found = source >= 0
    out[found] = gm.dosage[source[found]]
    out[swapped] = flip_alleles(out[swapped])
    return out, report


def match_variants(
    contig, position, ref, alt, variants: VariantTable
) -> tuple[np.ndarray, np.ndarray, AlignmentReport]:
    """Find the model's variants in a new variant table (contig, position and alleles).

    Parameters
    ----------
    contig, position, ref, alt : np.ndarray, shape (n_new_variants,)
        The new table.
    variants : VariantTable
        The model's variants (n_model_variants,).

    Returns
    -------
    source : np.ndarray of int, shape (n_model_variants,)
        Row of the new table holding each model variant; -1 where it is absent.
    swapped : np.ndarray of bool, shape (n_model_variants,)
        Found with REF and ALT swapped (its dosage is ``2 - d``).
    report : AlignmentReport
    """
    index: dict[tuple[str, int], list[int]] = {}
    for i, (c, pos) in enumerate(zip(contig, position, strict=True)):
        index.setdefault((normalize_contig(c), int(pos)), []).append(i)
    source = np.full(len(variants), -1, dtype=np.int64)
    swapped = np.zeros(len(variants), dtype=bool)
    for j in range(len(variants)):
        key = (normalize_contig(variants.contig[j]), int(variants.position[j]))
        for i in index.get(key, []):
            alleles = (ref[i], alt[i])
            if alleles == (variants.ref[j], variants.alt[j]):
                source[j] = i
                break
            if alleles == (variants.alt[j], variants.ref[j]):
                source[j], swapped[j] = i, True
                break
    n_found, n_swapped = int((source >= 0).sum()), int(swapped.sum())
    report = AlignmentReport(
        len(variants), n_found - n_swapped, n_swapped, len(variants) - n_found
    )
    return source, swapped, report


@dataclasses.dataclass
class Projection:
    """New samples placed on a saved map.

    Attributes
    ----------
    sample_id : np.ndarray of str, shape (n,)
    coords : np.ndarray, shape (n, 2)
    sd : np.ndarray, shape (n, 2), or None
        Posterior standard deviations (DDVI, VAE).
    pcs : np.ndarray, shape (n, n_pcs)
    alignment : AlignmentReport
    class_probs : np.ndarray, shape (n, n_populations), or None
        Label-guided maps: population probabilities, columns in the order of ``class_names``.
    class_names : tuple of str
    scores : ProjectedScores, optional
        The PC-space projection: method, per-sample covariance, observed loci, placeability.
    map_draws : np.ndarray, shape (n_draws, n, 2), or None
        Draws of each sample's map posterior, integrated over its PC-score uncertainty (None
        when every sample is complete: then ``coords`` and ``sd`` are today's posterior summary).
    area90 : np.ndarray, shape (n,), or None
        Area of each sample's 90 % highest-density map region (from ``map_draws``).
    n_modes : np.ndarray of int, shape (n,), or None
        Separate pieces of that region: 2 or more means the sample may belong to several places.
    sample_family : np.ndarray of str, shape (n,), or None
        FIDs where the input has them (written beside the IIDs in every output table).
    """

    sample_id: np.ndarray
    coords: np.ndarray
    sd: np.ndarray | None
    pcs: np.ndarray
    alignment: AlignmentReport
    class_probs: np.ndarray | None = None
    class_names: tuple = ()
    scores: ProjectedScores | None = None
    map_draws: np.ndarray | None = None
    area90: np.ndarray | None = None
    n_modes: np.ndarray | None = None
    sample_family: np.ndarray | None = None

    @property
    def status(self) -> np.ndarray:
        """Per sample: ``ok``, ``sparse`` or ``unplaceable`` (:attr:`ProjectedScores.status`)."""
        if self.scores is None:
            return np.full(len(self.sample_id), "ok", dtype=object)
        return self.scores.status


@dataclasses.dataclass
class AncestryModel:
    """Everything needed to place samples on a fitted map.

    Attributes
    ----------
    method : {"ddvi", "vae", "aae", "pca", "tsne", "umap", "ddvi-semi"}
        Only the :data:`PROJECTABLE_METHODS` can place new samples.
    variants : VariantTable
        Training variants after QC, in the PCA's order.
    pca : GenotypePCA
        Fitted with the training allele frequencies; ``n_pcs`` components.
    input_scale : float
        PC scores are divided by it before entering the network.
    network : DDVI, VAE or DDVISemi, optional
        The trained embedding network (None for pca, tsne, umap).
    seed : int
        Seed of the ``"posterior"`` draws that summarise each sample.
    n_draws : int
        Posterior draws per sample for the mean and standard deviation.
    class_names : tuple of str
        Label-guided maps: the reference populations, in the order of the class head.
    """

    method: str
    variants: VariantTable
    pca: GenotypePCA
    input_scale: float = 1.0
    network: torch.nn.Module | None = None
    seed: int = 0
    n_draws: int = 20
    class_names: tuple = ()

    @property
    def n_pcs(self) -> int:
        """Number of PCs the map is built on."""
        return self.pca.components_.shape[0]

    @property
    def can_project(self) -> bool:
        """Whether new samples can be placed on this map."""
        return self.method in PROJECTABLE_METHODS

    def embed_pcs(self, pcs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Map PC scores ``(n, n_pcs)`` to coordinates ``(n, 2)`` and their sd (or None)."""
        self._check_can_project()
        if self.method == "pca":
            return np.asarray(pcs[:, :2], dtype=np.float64), None
        from .embed import posterior_summary  # torch: only maps with a network get here

        return posterior_summary(
            self.network, self._inputs(pcs), n_draws=self.n_draws, seed=self.seed
        )

    def class_probabilities(self, pcs: np.ndarray) -> np.ndarray | None:
        """Return population probabilities ``(n, n_populations)`` of a label-guided map, or None."""
        if not self.class_names or self.network is None:
            return None
        from .embed import class_probabilities  # torch: label-guided maps only

        return class_probabilities(self.network, self._inputs(pcs))

    def _inputs(self, pcs: np.ndarray) -> np.ndarray:
        return (np.asarray(pcs) / self.input_scale).astype(np.float32)

    def project(
        self,
        genotypes: GenotypeMatrix,
        *,
        min_overlap: float = 0.0,
        projection: str = DEFAULT_PROJECTION,
        region_draws: int = REGION_DRAWS,
    ) -> Projection:
        """Place new samples on the map.

        Parameters
        ----------
        genotypes : GenotypeMatrix
            Any variant order, any subset; matched to the model by contig, position and alleles.
        min_overlap : float
            Refuse (``InputError``) when fewer than this fraction of the model's variants are found.
        projection : {"bayes", "lsq", "mean-impute"}
            How PC scores are estimated from the observed calls
            (:mod:`~ddvi_genomics.genotype.pca.projection`); ``mean-impute`` is ``plink2
            --score``'s behaviour and the only one without a covariance.
        region_draws : int
            Draws of each incomplete sample's map posterior (its cloud, area and modes).

        Returns
        -------
        Projection
        """
        self._check_can_project()
        dosage, report = align_variants(genotypes, self.variants)
        self._check_overlap(report, min_overlap)
        scores = project_dosage(self.pca, dosage, projection)
        return self._place(
            np.asarray(genotypes.sample_id), scores, report, region_draws, genotypes.sample_family
        )

    def project_store(
        self,
        store,
        *,
        min_overlap: float = 0.0,
        samples=None,
        projection: str = DEFAULT_PROJECTION,
        region_draws: int = REGION_DRAWS,
    ) -> Projection:
        """:meth:`project` for a VCF Zarr store, read one block of samples x variants at a time.

        The sums over each sample's observed loci (:class:`~..pca.projection.ObservedSums`)
        are accumulated chunk by chunk over the model's variants found in the store (absent
        ones are missing in every sample). Samples are taken in blocks of the store's sample
        chunks (:func:`~..readers.store_tasks.sample_blocks`), each block projected on its own, so
        memory holds one variant chunk of one block and the block's sums, whatever the number
        of samples.

        Parameters
        ----------
        store : path
        min_overlap : float
        samples : sequence of str, optional
            Project these samples (in this order); default all.
        projection, region_draws
            As :meth:`project`.
        """
        self._check_can_project()
        root = open_root(store)
        v = variant_arrays(root)
        source, swapped, report = match_variants(v.contig, v.position, v.ref, v.alt, self.variants)
        self._check_overlap(report, min_overlap)
        sample_id = as_strings(whole_array(root, "sample_id"))
        family = sample_pedigree(root)[0]
        keep = select_samples(list(sample_id), samples, store, family)
        calls = root["call_genotype"]
        order = np.argsort(keep, kind="stable")  # blocks of increasing store columns
        parts = [
            self._project_store_block(root, store, source, swapped, columns, projection)
            for columns in sample_blocks(keep[order], calls.chunks[1])
        ]
        scores = ProjectedScores.concatenate(parts).subset(np.argsort(order, kind="stable"))
        return self._place(
            sample_id[keep], scores, report, region_draws, None if family is None else family[keep]
        )

    def _project_store_block(self, root, store, source, swapped, columns, projection):
        """Projected scores of one block of samples (``columns``: increasing store indices)."""
        pca = self.pca
        calls = root["call_genotype"]
        mean, inv_scale = 2 * pca.allele_frequency_, 1.0 / pca.scale_
        step = int(calls.chunks[0])
        space = space_for(pca, projection)
        sums = ObservedSums(len(columns), pca.components_.shape[0])
        mask = _observed_mask_for_band(pca, len(columns), projection)
        for lo in range(0, calls.shape[0], step):
            rows = np.flatnonzero((source >= lo) & (source < lo + step))  # model variants here
            if not len(rows):
                continue
            dosage = read_dosage(root, lo, lo + step, store, columns)[source[rows] - lo]
            dosage[swapped[rows]] = flip_alleles(dosage[swapped[rows]])
            x = patterson_block(dosage, mean[rows], inv_scale[rows])
            sums.add(x, dosage >= 0, pca.components_[:, rows].T)
            if mask is not None:
                mask[rows] = np.packbits(dosage >= 0, axis=1)
        if mask is not None and (sums.n_observed < len(self.variants)).any():
            n = len(columns)
            sums.band = BandSums.of(
                lambda lo, hi: np.unpackbits(mask[lo:hi], axis=1, count=n).astype(bool),
                n, pca.components_.T, pca.residual_band_,
            )  # fmt: skip
        return project_observed(sums, space, projection)

    def _check_can_project(self) -> None:
        if not self.can_project:
            raise InputError(
                f"a {self.method} map cannot place new samples; use --method "
                f"{', '.join(PROJECTABLE_METHODS)}"
            )

    @staticmethod
    def _check_overlap(report: AlignmentReport, min_overlap: float) -> None:
        if report.overlap < min_overlap:
            raise InputError(
                f"only {report.overlap:.1%} of the model's {report.n_model_variants} variants are "
                f"in the input (matched by contig, position and alleles); at least "
                f"{min_overlap:.0%} is required"
            )

    def _place(
        self, sample_id: np.ndarray, scores: ProjectedScores, report, region_draws: int,
        family: np.ndarray | None = None,
    ) -> Projection:  # fmt: skip
        """Embed projected PC scores and assemble the :class:`Projection`.

        Complete samples (zero covariance everywhere) get today's posterior summary. Otherwise
        every placeable sample's map posterior is integrated over its PC-score distribution
        (:func:`~.map_posterior.integrated_posterior`); unplaceable samples get NaN.
        """
        pcs, ok = scores.scores, scores.placeable
        n = len(sample_id)
        coords = np.full((n, 2), np.nan)
        sd_ok = None  # the placed samples' sd; a PCA map of complete samples has none
        draws = area = modes = None
        probs = None
        if ok.any():
            placed = scores.subset(ok)
            if not placed.has_spread():
                coords[ok], sd_ok = self.embed_pcs(placed.scores)
            else:
                cloud = self._map_draws(placed, region_draws)
                draws = np.full((region_draws, n, 2), np.nan)
                draws[:, ok] = cloud
                coords[ok], sd_ok = cloud.mean(0), cloud.std(0, ddof=1)
                area, modes = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
                area[ok], modes[ok] = region_summary(cloud)
            class_probs = self.class_probabilities(placed.scores)
            if class_probs is not None:
                probs = np.full((n, class_probs.shape[1]), np.nan)
                probs[ok] = class_probs
        sd = None
        if sd_ok is not None or (self.method != "pca" and not ok.any()):
            sd = np.full((n, 2), np.nan)
            if sd_ok is not None:
                sd[ok] = sd_ok
        return Projection(
            sample_id, coords, sd, pcs, report, probs, self.class_names, scores, draws, area,
            modes, None if family is None else np.asarray(family),
        )  # fmt: skip

    def _map_draws(self, scores: ProjectedScores, n_draws: int) -> np.ndarray:
        """Map-posterior draws ``(n_draws, n, 2)`` of samples with uncertain PC scores."""
        if self.method == "pca":  # the map is PC1-2: its posterior is the projection's
            rng = np.random.default_rng(library_seed(self.seed, "pc-draws"))
            return scores.draws(n_draws, rng, dims=2)
        return integrated_posterior(
            self.network, scores, self.input_scale, n_draws=n_draws, seed=self.seed
        )

    def to(self, device: str | torch.device) -> AncestryModel:
        """Move the network to ``device`` (``"auto"`` resolved); return self."""
        if self.network is not None:
            from ...core.runtime import resolve_device  # torch: a network is loaded already

            self.network.to(resolve_device(device)).eval()
        return self

    # -- the model file -------------------------------------------------------------------------

    def to_payload(self) -> dict:
        """Return the model as plain data (tensors, numbers, strings, lists, dicts)."""
        net = self.network
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "method": self.method,
            "variants": {
                "contig": self.variants.contig.tolist(),
                "position": np.asarray(self.variants.position, dtype=np.int64),
                "ref": self.variants.ref.tolist(),
                "alt": self.variants.alt.tolist(),
                "id": None if self.variants.id is None else self.variants.id.tolist(),
            },
            "pca": {
                "allele_frequency": np.asarray(self.pca.allele_frequency_),
                "components": np.asarray(self.pca.components_),
                "eigenvalues": np.asarray(self.pca.eigenvalues_),
                **_residual_state(self.pca),
            },
            "input_scale": float(self.input_scale),
            "seed": int(self.seed),
            "n_draws": int(self.n_draws),
            "class_names": list(self.class_names),
            "network": None
            if net is None
            else {
                "family": type(net).__name__,
                "n_features": net.n_features,
                "config": net.config.to_dict(),
                "state_dict": {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()},
            },
        }

    @classmethod
    def from_payload(cls, payload: dict, source: str = "model") -> AncestryModel:
        """Rebuild a model from :meth:`to_payload`'s output; ``source`` names it in errors."""
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise InputError(f"{source} is not a model written by 'ddvi-genomics infer'")
        version = payload.get("format_version")
        if version != MODEL_FORMAT_VERSION:
            raise InputError(
                f"{source} has model format version {version!r}; this ddvi-genomics reads "
                f"version {MODEL_FORMAT_VERSION} (re-run 'ddvi-genomics infer' to rebuild it)"
            )
        try:
            v, p = payload["variants"], payload["pca"]
            variants = VariantTable(
                np.asarray(v["contig"], dtype=str),
                np.asarray(v["position"]).astype(np.int64),
                np.asarray(v["ref"], dtype=str),
                np.asarray(v["alt"], dtype=str),
                None if v.get("id") is None else np.asarray(v["id"], dtype=str),
            )
            pca = GenotypePCA.from_state(
                np.asarray(p["allele_frequency"]),
                np.asarray(p["components"]),
                eigenvalues=np.asarray(p["eigenvalues"]),
                # absent from models written before projection with uncertainty
                singular_values=_optional_array(p.get("singular_values")),
                total_variance=p.get("total_variance"),
                n_fit_samples=p.get("n_fit_samples"),
            )
            band = p.get("residual_band")
            if band is not None:
                if tuple(band.shape[1:]) != (len(variants),):
                    raise ValueError(f"residual band of shape {tuple(band.shape)}")
                pca.residual_band_ = np.asarray(band)
            network = _network_from_payload(payload["network"])
            return cls(
                method=str(payload["method"]),
                variants=variants,
                pca=pca,
                input_scale=float(payload["input_scale"]),
                network=network,
                seed=int(payload["seed"]),
                n_draws=int(payload["n_draws"]),
                class_names=tuple(str(c) for c in payload.get("class_names", [])),
            )
        except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as err:
            raise InputError(f"{source} is damaged or incomplete: {err}") from None

    def _summary_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("method", self.method),
            ("variants", count(len(self.variants))),
            ("PCs", str(self.pca.components_.shape[0])),
            ("network", "none (PCA map)" if self.network is None else type(self.network).__name__),
        ]
        if self.class_names:
            rows.append(("populations", str(len(self.class_names))))
        return rows

    def __repr__(self) -> str:
        return text_summary("AncestryModel", self._summary_rows())

    def _repr_html_(self) -> str:
        return html_summary("AncestryModel", self._summary_rows())

    def save(self, path: str | os.PathLike) -> None:
        """Write the model file (:mod:`.model_file`: plain data, to a temporary name first)."""
        with written_atomically(path) as tmp:
            write_model_file(self.to_payload(), tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu") -> AncestryModel:
        """Read a model file safely (:mod:`.model_file`: no code can run while loading).

        Raises
        ------
        InputError
            When the file is missing, unreadable, not a model, of another format version, or
            damaged.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"model file {path} does not exist")
        try:
            payload = read_model_file(path)
        except MemoryError:
            raise InputError(
                f"{path} declares tensors larger than this machine's memory; it is damaged or "
                "not a model written by 'ddvi-genomics infer'"
            ) from None
        except (
            pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError,
            zipfile.BadZipFile,
        ) as err:  # fmt: skip
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputError(
                f"{path} cannot be read as a model file (only plain-data models written by "
                f"'ddvi-genomics infer' are accepted): {first}"
            ) from None
        return cls.from_payload(payload, source=str(path)).to(device)


#: Largest packed observed-call mask (variants x samples / 8 bytes) that a store projection
#: holds for the linkage correction; above it the residuals are taken as independent.
BAND_MASK_BYTES = 1 << 30


def _observed_mask_for_band(pca: GenotypePCA, n_samples: int, projection: str):
    """Return a zeroed packed mask ``(n_variants, ceil(n_samples / 8))``, or None.

    None when the linkage correction does not apply: no band, ``mean-impute``, or a mask over
    :data:`BAND_MASK_BYTES`.
    """
    band = getattr(pca, "residual_band_", None)
    if band is None or projection == "mean-impute":
        return None
    shape = (pca.components_.shape[1], (n_samples + 7) // 8)
    if shape[0] * shape[1] > BAND_MASK_BYTES:
        log.warning(
            "projection: %d samples x %d variants is too large to keep the observed-call mask "
            "for the linkage correction; residuals taken as independent (regions may be too "
            "narrow for read-like missingness)", n_samples, shape[0],
        )  # fmt: skip
        return None
    return np.zeros(shape, dtype=np.uint8)


def _residual_state(pca: GenotypePCA) -> dict:
    """Return what projection with uncertainty needs of the PCA (plain data for the model file)."""
    if not all(hasattr(pca, n) for n in ("singular_values_", "total_variance_", "n_fit_samples_")):
        return {}
    state = {
        "singular_values": np.asarray(pca.singular_values_),
        "total_variance": float(pca.total_variance_),
        "n_fit_samples": int(pca.n_fit_samples_),
    }
    if getattr(pca, "residual_band_", None) is not None:
        state["residual_band"] = np.asarray(pca.residual_band_)
    return state


def _optional_array(value):
    return None if value is None else np.asarray(value)


def _network_from_payload(net: dict | None):
    if net is None:
        return None
    import torch  # a network map: torch is needed from here on

    from ...core.runtime import seeded_global_rng
    from .embed import NETWORK_FAMILIES

    families = {family.__name__: family for family in NETWORK_FAMILIES.values()}
    family = families.get(net["family"])
    if family is None:
        raise ValueError(f"unknown network family {net['family']!r}; known: {sorted(families)}")
    with seeded_global_rng(None):  # the throw-away initialisation leaves the caller's RNG alone
        model = family(int(net["n_features"]), family.config_class.from_dict(net["config"]))
    model.load_state_dict(
        {k: torch.as_tensor(np.asarray(v)) for k, v in net["state_dict"].items()}
    )
    return model.eval()
