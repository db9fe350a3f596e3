"""Latent priors p(z): the reference's 2-D toy priors, Gaussians, and mixtures.

Every prior shares one interface::

    prior.sample(n, *, generator=None, classes=None)  -> (n, d) tensor
    prior.log_prob(z)                                 -> (n,) tensor, nats
    prior.n_classes                                   -> number of class pieces (0: none)

Priors are ``nn.Module`` objects so that their constants (KDE reference points) and parameters
(learnable mixture centres) follow ``.to(device)`` and are saved in ``state_dict``.

Constants are those of the reference implementation (``priors.py`` and ``conf/prior/*.yaml`` of
topwasu/DDVI). Where no closed-form density exists (pinwheel, swiss roll, square) ``log_prob`` is
the reference's 5-bandwidth Gaussian KDE on 10,000 prior samples. Unlike the reference, those
samples come from a seeded generator (``kde_seed``), so the density is reproducible.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import nn

from .kde import REFERENCE_BANDWIDTHS, kde_log_prob
from .runtime import make_generator

ClassSpec = int | Sequence[int] | torch.Tensor | None


class Prior(nn.Module, abc.ABC):
    """Base class for latent priors.

    Parameters
    ----------
    latent_dim : int
        Dimension d of z.
    n_classes : int
        Number of class pieces for class-conditional sampling (0 when unsupported).
    """

    def __init__(self, latent_dim: int, n_classes: int = 0):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.n_classes = int(n_classes)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def device(self) -> torch.device:
        """Device that samples and densities live on."""
        return self._anchor.device

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        classes: ClassSpec = None,
        return_classes: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Draw ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : torch.Generator, optional
            Source of randomness; samples are drawn on its device, then moved to the prior's.
        classes : int or sequence of int or torch.Tensor, optional
            Class piece of every sample (one int for all, or ``n`` ints). Drawn uniformly when None.
        return_classes : bool
            Also return the classes drawn (classes given as a tensor are checked by reading
            them back; drawn ones need no check, so a training step asks for them here).

        Returns
        -------
        torch.Tensor, shape (n, latent_dim)
            With ``return_classes``: ``(samples, classes)``, classes of shape (n,) on the
            generator's device (None for a prior without classes).
        """
        device = generator.device if generator is not None else self.device
        labels = self._class_labels(n, classes, generator, device)
        z = self._sample(n, labels, generator, device).to(self.device)
        return (z, labels) if return_classes else z

    @abc.abstractmethod
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density at ``z`` (shape (n, d)); returns shape (n,)."""

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Class-conditional log-densities ``log p(z | c)`` for every class, shape (n, n_classes)."""
        raise ValueError(f"{type(self).__name__} has no classes, so no class-conditional density")

    def paired_class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z_c | c)`` of class-batched points: slice c under class c only.

        Parameters
        ----------
        z : torch.Tensor, shape (n_classes, n, d)

        Returns
        -------
        torch.Tensor, shape (n_classes, n)
            The diagonal of :meth:`class_log_prob` over the slices; priors whose classes are
            costly to evaluate (a per-class KDE) compute only that diagonal.
        """
        K, n, d = z.shape
        per = self.class_log_prob(z.reshape(K * n, d)).reshape(K, n, K)
        return per.diagonal(dim1=0, dim2=2).T

    @abc.abstractmethod
    def _sample(self, n, labels, generator, device) -> torch.Tensor:
        """Draw ``n`` samples on ``device`` given class labels (or None)."""

    def _class_labels(self, n, classes, generator, device) -> torch.Tensor | None:
        if classes is None:
            if self.n_classes == 0:
                return None
            return torch.randint(self.n_classes, (n,), generator=generator, device=device)
        if self.n_classes == 0:
            raise ValueError(
                f"{type(self).__name__} has no classes; call sample() with classes=None"
            )
        if isinstance(classes, int):  # checked here, without reading a tensor back
            if not 0 <= classes < self.n_classes:
                raise ValueError(f"classes must lie in 0..{self.n_classes - 1}")
            return torch.full((n,), classes, dtype=torch.long, device=device)
        labels = torch.as_tensor(classes, dtype=torch.long, device=device)
        if labels.ndim == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise ValueError(
                f"classes must be one int or {n} ints; got shape {tuple(labels.shape)}"
            )
        if bool(((labels < 0) | (labels >= self.n_classes)).any()):
            raise ValueError(f"classes must lie in 0..{self.n_classes - 1}")
        return labels

    def _check_z(self, z: torch.Tensor) -> None:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}); got {tuple(z.shape)}")


class KDEPrior(Prior):
    """A prior whose density is a multi-bandwidth KDE of its own samples.

    Parameters
    ----------
    latent_dim, n_classes : int
        As :class:`Prior`.
    kde_n_samples : int
        Reference points for the KDE (reference: 10,000).
    kde_bandwidths : sequence of float
        Kernel standard deviations (reference: 0.005, 0.008, 0.01, 0.03, 0.05).
    kde_seed : int
        Seed of the reference points.
    """

    def __init__(
        self,
        latent_dim: int,
        n_classes: int,
        *,
        kde_n_samples: int = 10_000,
        kde_bandwidths: Sequence[float] = REFERENCE_BANDWIDTHS,
        kde_seed: int = 0,
    ):
        super().__init__(latent_dim, n_classes)
        self.kde_n_samples = int(kde_n_samples)
        self.kde_seed = int(kde_seed)
        if not kde_bandwidths or min(kde_bandwidths) <= 0:
            raise ValueError(f"kde_bandwidths must be positive; got {list(kde_bandwidths)}")
        self.register_buffer("kde_bandwidths", torch.tensor(list(kde_bandwidths)))
        self.register_buffer("kde_reference", torch.empty(0, latent_dim))

    #: reference: BasePrior.evaluate_partition uses 2,000 samples per class and bandwidth 0.05
    class_kde_n_samples = 2000
    class_kde_bandwidth = 0.05

    def _build_reference(self) -> None:
        gen = make_generator(self.kde_seed, "cpu")
        points = self.sample(self.kde_n_samples, generator=gen)
        self.kde_reference = points.to(self.device)
        per_class = [
            self.sample(self.class_kde_n_samples, generator=gen, classes=c)
            for c in range(self.n_classes)
        ]
        self.register_buffer("class_kde_reference", torch.stack(per_class).to(self.device))

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Per-class KDE (2,000 class samples, bandwidth 0.05, no clamp), shape (n, n_classes)."""
        self._check_z(z)
        bw = self._class_bandwidth()
        return torch.stack([kde_log_prob(z, ref, bw) for ref in self.class_kde_reference], dim=1)

    def paired_class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Slice c of ``z`` (K, n, d) under class c's KDE alone, shape (K, n).

        A K-th of :meth:`class_log_prob`'s work on the same points: DDVI-semi's wake step needs
        only these K of the K x K class densities.
        """
        if z.ndim != 3 or z.shape[0] != self.n_classes:
            raise ValueError(
                f"z must have shape ({self.n_classes}, n, {self.latent_dim}); got {tuple(z.shape)}"
            )
        self._check_z(z[0])
        bw = self._class_bandwidth()
        return torch.stack(
            [
                kde_log_prob(z_c, ref, bw)
                for z_c, ref in zip(z, self.class_kde_reference, strict=True)
            ]
        )

    def _class_bandwidth(self) -> torch.Tensor:
        """Return the class KDEs' one bandwidth as a (1,) tensor on the prior's device.

        Filled on the device: a list would be copied from the host on every call (a wait per
        step, and not allowed inside a recorded CUDA graph).
        """
        return self.kde_bandwidths.new_full((1,), self.class_kde_bandwidth)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """KDE log-density at ``z`` (shape (n, d)); returns shape (n,)."""
        self._check_z(z)
        return kde_log_prob(z, self.kde_reference, self.kde_bandwidths)


class PinwheelPrior(KDEPrior):
    """Pinwheel: ``n_arc`` thin curved spokes at radius about 1 (reference ``PinWheelPrior``).

    For arc c: ``f_r ~ N(1, 0.15^2)``, ``f_t ~ N(0, 0.005^2)``, ``theta = 2 pi c / n_arc +
    0.25 exp(f_r)``, ``z = mult * R(-theta) (f_r, f_t)``. Class c is spoke c.
    """

    radial_std = 0.15  # reference: priors.py PinWheelPrior
    tangential_std = 0.005  # reference: priors.py PinWheelPrior
    rate = 0.25  # reference: priors.py PinWheelPrior

    def __init__(self, n_arc: int = 10, mult: float = 1.0, **kde_kwargs):
        super().__init__(2, n_arc, **kde_kwargs)
        self.mult = float(mult)
        self._build_reference()

    def _sample(self, n, labels, generator, device):
        noise = torch.randn(n, 2, generator=generator, device=device)
        f_r = 1.0 + self.radial_std * noise[:, 0]
        f_t = self.tangential_std * noise[:, 1]
        theta = 2 * math.pi * labels.to(noise.dtype) / self.n_classes + self.rate * f_r.exp()
        cos, sin = theta.cos(), theta.sin()
        z = torch.stack([f_r * cos + f_t * sin, -f_r * sin + f_t * cos], dim=1)
        return self.mult * z


class SwissRollPrior(KDEPrior):
    """Swiss roll (reference ``SwissRollPrior``): ``r = 3 sqrt(u)``, ``theta = 4.5 pi sqrt(u)``.

    ``u = (U(0, 1) + c) / n_classes`` so class c is the c-th tenth of the roll;
    ``z = mult * ((r cos theta, r sin theta) + noise * N(0, I))``.
    With ``noise=0`` the prior is a curve and its KDE density is what the reference uses.
    """

    def __init__(self, noise: float = 0.0, mult: float = 1.0, n_classes: int = 10, **kde_kwargs):
        super().__init__(2, n_classes, **kde_kwargs)
        self.noise = float(noise)
        self.mult = float(mult)
        self._build_reference()

    def _sample(self, n, labels, generator, device):
        u = (torch.rand(n, generator=generator, device=device) + labels) / self.n_classes
        root = u.sqrt()
        r, theta = 3.0 * root, 4.5 * math.pi * root
        z = torch.stack([r * theta.cos(), r * theta.sin()], dim=1)
        if self.noise > 0:
            z = z + self.noise * torch.randn(n, 2, generator=generator, device=device)
        return self.mult * z


class SquarePrior(KDEPrior):
    """Perimeter of the square [-1, 1]^2 with perpendicular noise (reference ``SquarePrior``).

    Position ``pos = (c + U(0, 1)) / n_classes`` runs clockwise from the top-left corner, a quarter
    per side; the perpendicular noise has std ``noise_level / 50`` (``less_noisy_square``: 3 ->
    0.06). The result is multiplied by ``mult``.
    """

    def __init__(
        self, noise_level: float = 1.0, mult: float = 1.0, n_classes: int = 10, **kde_kwargs
    ):
        super().__init__(2, n_classes, **kde_kwargs)
        self.noise_level = float(noise_level)
        self.mult = float(mult)
        self._build_reference()

    def _sample(self, n, labels, generator, device):
        pos = (labels + torch.rand(n, generator=generator, device=device)) / self.n_classes
        off = self.noise_level * torch.randn(n, generator=generator, device=device) / 50.0
        side = (pos * 4).floor().clamp(max=3).long()
        along = 8.0 * (pos - side * 0.25)  # 0..2 along the current side
        x = torch.stack([along - 1, 1 + off, 1 - along, -1 + off], dim=1)
        y = torch.stack([1 + off, 1 - along, -1 + off, along - 1], dim=1)
        pick = side[:, None]
        z = torch.cat([x.gather(1, pick), y.gather(1, pick)], dim=1)
        return self.mult * z


class GaussianPrior(Prior):
    """Isotropic Gaussian ``N(0, scale^2 I)`` with the exact log-density (any latent size)."""

    def __init__(self, latent_dim: int = 2, scale: float = 1.0):
        super().__init__(latent_dim, 0)
        if scale <= 0:
            raise ValueError(f"scale={scale!r} is not allowed; it must be > 0")
        self.scale = float(scale)

    def _sample(self, n, labels, generator, device):
        return self.scale * torch.randn(n, self.latent_dim, generator=generator, device=device)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact log-density, shape (n,)."""
        self._check_z(z)
        d = self.latent_dim
        return (
            -0.5 * (z / self.scale).square().sum(1)
            - d * math.log(self.scale)
            - 0.5 * d * math.log(2 * math.pi)
        )


class GaussianMixturePrior(Prior):
    """Mixture of full-covariance Gaussians with the exact log-density; class k is component k.

    Parameters
    ----------
    means : array_like, shape (K, d)
    covariances : array_like, shape (K, d, d)
    weights : array_like, shape (K,), optional
        Mixing weights (uniform when None).
    """

    def __init__(self, means, covariances, weights=None):
        means = torch.as_tensor(means, dtype=torch.float32)
        covs = torch.as_tensor(covariances, dtype=torch.float32)
        k, d = means.shape
        if covs.shape != (k, d, d):
            raise ValueError(f"covariances must have shape {(k, d, d)}; got {tuple(covs.shape)}")
        super().__init__(d, k)
        w = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights).float()
        if (
            w.shape != (k,)
            or bool((w < 0).any())
            or not math.isclose(float(w.sum()), 1, rel_tol=1e-5)
        ):
            raise ValueError("weights must be K non-negative numbers summing to 1")
        self.register_buffer("means", means)
        self.register_buffer("scale_tril", torch.linalg.cholesky(covs))
        self.register_buffer("log_weights", w.log())

    @classmethod
    def reference_aae(cls) -> GaussianMixturePrior:
        """Build the reference's 10-component AAE mixture (``GaussMixPrior``, ``gauss_mix``).

        Component i has mean ``1.4 (cos a_i, sin a_i)`` and covariance ``R diag(0.5^2, 0.1^2) R^T``
        with ``R`` the rotation by ``a_i = 2 pi i / 10``.
        """
        angles = torch.arange(10) * (2 * math.pi / 10)
        cos, sin = angles.cos(), angles.sin()
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        base = torch.diag(torch.tensor([0.5**2, 0.1**2]))
        covs = rot @ base @ rot.transpose(1, 2)
        return cls(1.4 * torch.stack([cos, sin], 1), covs)

    def _components(self):
        return torch.distributions.MultivariateNormal(self.means, scale_tril=self.scale_tril)

    def _sample(self, n, labels, generator, device):
        if not torch.allclose(self.log_weights, self.log_weights[:1]):
            labels = torch.multinomial(
                self.log_weights.exp().to(device), n, True, generator=generator
            )
        eps = torch.randn(n, self.latent_dim, 1, generator=generator, device=device).to(
            self.means.dtype
        )
        tril = self.scale_tril.to(device)[labels]
        return self.means.to(device)[labels] + (tril @ eps)[..., 0]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact log-density, shape (n,)."""
        return torch.logsumexp(self.class_log_prob(z) + self.log_weights, dim=1)

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact per-component log-densities, shape (n, K)."""
        self._check_z(z)
        return self._components().log_prob(z[:, None, :])


class LearnableMixturePrior(Prior):
    """Equal-weight mixture of isotropic Gaussians with learnable centres (1000 Genomes prior).

    This is the reference's clustering prior (``diff_vae_autoclustering_mse`` with ``tiny_gauss``):
    K = 20 components of std 0.125 whose centres ("cluster heads") are parameters initialised
    U(0, 0.1). :meth:`regularizer` adds the reference's repulsion hinge between centres and a
    penalty that keeps them inside a box.

    Parameters
    ----------
    n_components : int
        K (reference: 20).
    latent_dim : int
        d (reference: 2).
    scale : float
        Component std (reference: 0.125, the ``tiny_gauss`` std).
    margin : float
        Hinge margin eta: centres closer than this are pushed apart (reference: 1.5).
    box : float, optional
        Half-width of the box the centres are kept in. Default: ``margin * ceil(sqrt(K)) / 2``,
        the smallest box that holds a square grid of K centres ``margin`` apart with half a
        margin to spare (3.75 for K = 20), so the hinge and the box can both be satisfied. The
        reference's 2.5 cannot hold 20 centres 1.5 apart (the best spacing in a 5 x 5 box is
        about 1.43), so there its hinge and box always fight; pass ``box=2.5`` to reproduce it.
    box_weight : float
        Weight of the box penalty (reference: 100).
    generator : torch.Generator, optional
        Randomness of the initial centres.
    """

    def __init__(
        self,
        n_components: int = 20,
        latent_dim: int = 2,
        scale: float = 0.125,
        margin: float = 1.5,
        box: float | None = None,
        box_weight: float = 100.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(latent_dim, n_components)
        self.scale = float(scale)
        self.margin = float(margin)
        self.box = (
            float(box) if box is not None else margin * math.ceil(math.sqrt(n_components)) / 2
        )
        self.box_weight = float(box_weight)
        init = 0.1 * torch.rand(n_components, latent_dim, generator=generator)
        self.centres = nn.Parameter(init)

    def _sample(self, n, labels, generator, device):
        eps = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.centres[labels.to(self.device)].to(device) + self.scale * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact log-density, differentiable in ``z`` and in the centres; shape (n,)."""
        return torch.logsumexp(self.class_log_prob(z), dim=1) - math.log(self.n_classes)

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Exact per-component log-densities, shape (n, K)."""
        self._check_z(z)
        d = self.latent_dim
        sq = (z[:, None, :] - self.centres[None]).square().sum(-1)  # (n, K)
        return (
            -0.5 * sq / self.scale**2 - d * math.log(self.scale) - 0.5 * d * math.log(2 * math.pi)
        )

    def regularizer(self) -> torch.Tensor:
        """Repulsion hinge ``mean_{a<b} max(0, eta - |mu_a - mu_b|)`` plus the box penalty.

        The box penalty is ``box_weight * mean(max(0, |mu| - box))`` over all coordinates.
        """
        k = self.n_classes
        rows, cols = torch.triu_indices(k, k, offset=1, device=self.centres.device)
        dist = (self.centres[rows] - self.centres[cols]).norm(dim=1)
        hinge = torch.relu(self.margin - dist).mean() if k > 1 else self.centres.sum() * 0
        outside = torch.relu(self.centres.abs() - self.box).mean()
        return hinge + self.box_weight * outside


# name -> (factory, keyword arguments); names follow the reference's conf/prior/*.yaml files
_PRESETS: dict[str, tuple[type[Prior], dict]] = {
    "pinwheel": (PinwheelPrior, {"n_arc": 10}),  # reference: conf/prior/pin_wheel.yaml
    "four_pinwheel": (PinwheelPrior, {"n_arc": 4}),  # reference: conf/prior/four_pin_wheel.yaml
    "swiss_roll": (SwissRollPrior, {"noise": 0.0}),  # reference: conf/prior/swiss_roll.yaml
    "less_noisy_swiss_roll": (SwissRollPrior, {"noise": 0.1}),  # reference: less_noisy_swiss_roll
    "noisy_swiss_roll": (SwissRollPrior, {"noise": 0.2}),  # reference: noisy_swiss_roll.yaml
    "square": (SquarePrior, {"noise_level": 1.0}),  # reference: conf/prior/square.yaml
    "less_noisy_square": (SquarePrior, {"noise_level": 3.0}),  # reference: less_noisy_square
    "noisy_square": (SquarePrior, {"noise_level": 5.0, "mult": 1.5}),  # reference: noisy_square
    "gaussian": (GaussianPrior, {"scale": 1.0}),  # reference: conf/prior/gauss.yaml
    "mid_gaussian": (GaussianPrior, {"scale": 0.5}),  # reference: mid_gauss.yaml
    "small_gaussian": (GaussianPrior, {"scale": 0.3}),  # reference: small_gauss.yaml
    "tiny_gaussian": (GaussianPrior, {"scale": 0.125}),  # reference: tiny_gauss.yaml
    "gaussian_mixture": (GaussianMixturePrior, {}),  # reference: gauss_mix.yaml (AAE mixture)
    "learnable_mixture": (LearnableMixturePrior, {}),  # reference: autoclustering + tiny_gauss
}
_ALIASES = {
    "pin_wheel": "pinwheel",
    "four_pin_wheel": "four_pinwheel",
    "gauss": "gaussian",
    "mid_gauss": "mid_gaussian",
    "small_gauss": "small_gaussian",
    "tiny_gauss": "tiny_gaussian",
    "gauss_mix": "gaussian_mixture",
    "cluster_heads": "learnable_mixture",
}
PRIOR_NAMES = tuple(_PRESETS)


def canonical_prior_name(name: str) -> str:
    """Map a prior name or reference alias to its canonical name.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the allowed names.
    """
    key = _ALIASES.get(name, name)
    if key not in _PRESETS:
        allowed = sorted(set(_PRESETS) | set(_ALIASES))
        raise ValueError(f"unknown prior {name!r}; choose one of {allowed}")
    return key


def make_prior(name: str, latent_dim: int = 2, **kwargs) -> Prior:
    """Build a prior by name (reference config names are accepted as aliases).

    Parameters
    ----------
    name : str
        One of :data:`PRIOR_NAMES` or a reference alias (``pin_wheel``, ``gauss``, ``tiny_gauss``,
        ``gauss_mix``, ...).
    latent_dim : int
        Latent size d. The toy priors and the AAE mixture exist only for d = 2.
    **kwargs
        Overrides of the preset's constructor arguments (e.g. ``kde_seed``, ``mult``).

    Returns
    -------
    Prior

    Raises
    ------
    ValueError
        For an unknown name or a latent size the prior does not support.
    """
    key = canonical_prior_name(name)
    factory, preset = _PRESETS[key]
    if factory in (GaussianPrior, LearnableMixturePrior):
        return factory(latent_dim=latent_dim, **{**preset, **kwargs})
    if latent_dim != 2:
        raise ValueError(
            f"prior {name!r} supports latent_dim=2 only (got {latent_dim}); priors for any "
            f"latent size: ['gaussian', 'mid_gaussian', 'small_gaussian', 'tiny_gaussian', "
            f"'learnable_mixture']"
        )
    if factory is GaussianMixturePrior:
        if kwargs:
            return GaussianMixturePrior(**kwargs)
        return GaussianMixturePrior.reference_aae()
    return factory(**{**preset, **kwargs})
