"""2-D embeddings of PCA coordinates: DDVI (the paper's clustering model) and baselines.

All methods go through :func:`embed` and return an :class:`Embedding` with per-sample coordinates
``(n_samples, 2)`` and, for DDVI, per-sample posterior standard deviations.

Input scaling. The reference divides 1,000 PC scores by 30 (a constant tuned to its data). Here
the PC scores are divided by the standard deviation of PC1 over the training samples, a
data-derived scale that puts the leading axis at unit variance and keeps the relative variances
of the other PCs. The scale is stored with the model and reused for projection.
"""

from __future__ import annotations

import numpy as np

from ...core.config import check_choice
from ...core.models.aae import AAE, AAEConfig
from ...core.models.ddvi import DDVI, DDVIConfig
from ...core.models.ddvi_semi import DDVISemi, DDVISemiConfig
from ...core.models.vae import VAE, VAEConfig
from ...core.runtime import derive_seed, seeded_global_rng, stream
from .classic import Embedding, classic_embedding, input_scale, method_options
from .methods import LABEL_GUIDED_METHODS, METHODS, NETWORK_METHODS

#: The reference clustering model (``diff_vae_autoclustering_mse`` with the ``tiny_gauss`` prior)
#: with CPU-sized networks and epochs; reference values are noted where they differ.
GENOTYPE_DDVI_CONFIG = DDVIConfig(
    prior="learnable_mixture",  # reference: 20 learnable cluster heads, std 0.125 (tiny_gauss)
    likelihood="gaussian",  # reference: MSE reconstruction for genomes
    hidden=(256, 256, 256),  # reference: 4 x 1000 on 1,000 PCs; smaller inputs here
    dropout=0.2,  # reference: 0.2 everywhere for genomes
    context_hidden=(256, 256),
    context_dropout=0.2,  # reference: non-MNIST Q2 dropout 0.2
    n_steps=20,  # reference: T = 20
    prior_pretrain_epochs=0,  # the prior is learned jointly, so there is nothing to pre-train on
    stage1_epochs=0,
    # reference: 200 epochs over the data repeated 5x. The fair-tuning search
    # (workflows/results/tuning) picked 300 on the tuning half; on the reporting half 300 gave
    # population kNN20 0.354 +- 0.019 against 0.340 +- 0.012 at twice the time, within the
    # intervals, so the default stays at 150 (--epochs 300 for the selected setting).
    epochs=150,
    batch_size=128,  # reference: 128
    lr=1e-3,  # reference: 1e-4 over 5x more steps
    # reference: autoclustering kld_weight 0.005; 0.001 won the fair-tuning search over
    # {0.001, 0.005} x PCs {10, 20} x epochs {150, 300} on the tuning half of the example
    # (the VAE's search over the same grid picked 0.001 too).
    kl_weight=0.001,
    sleep_steps=1,
    decoder_frozen_fraction=0.0,  # decoder is trained from scratch (no stage 1)
    sleep_grad_clip=0.1,  # reference: diffusion gradient clip 0.1
    prior_lr=0.01,  # reference: head optimiser lr 0.01
)


#: The paper's clustering recipe (``diff_vae_autoclustering_mse`` in the authors' code,
#: github.com/topwasu/DDVI) beside ours: the wake step trains encoder and decoder on MSE + KL(q(y|x) || N(0, I)) only (no
#: log p(z) and no denoising term, reference KL weight 0.005), and the denoiser learns sleep-style
#: on samples of the learned cluster-head prior. Our preset instead also trains the chain in the
#: wake step and rewards log p(z). Networks, epochs and learning rates as in our preset
#: (CPU-sized); the heads are fitted to the wake step's posterior samples as in ours (the
#: reference's head update is not documented).
GENOTYPE_DDVI_PAPER_CONFIG = GENOTYPE_DDVI_CONFIG.replace(
    kl_weight=0.005, prior_weight=0.0, diff_weight=0.0, wake_trains_denoiser=False
)
#: Named genotype recipes of the DDVI family: ``ours`` (the default) and ``paper``.
DDVI_RECIPES = {"ours": GENOTYPE_DDVI_CONFIG, "paper": GENOTYPE_DDVI_PAPER_CONFIG}


#: The VAE baseline with the same cluster-head prior and network sizes (the reference's
#: ``clustering_vae_mse`` counterpart), so the comparison isolates the posterior family.
GENOTYPE_VAE_CONFIG = VAEConfig(
    prior="learnable_mixture",
    likelihood="gaussian",
    hidden=(256, 256, 256),
    dropout=0.2,
    epochs=150,
    batch_size=128,
    lr=1e-3,
    # the reference's 0.005 until the fair-tuning search (same grid as DDVI) picked 0.001 on the
    # tuning half; on the reporting half it raised population kNN20 from 0.308 +- 0.016 to
    # 0.367 +- 0.010 (workflows/results/tuning)
    kl_weight=0.001,
    kl_schedule="constant",
    p_weight=1.0,
    prior_lr=0.01,
)


#: The adversarial autoencoder with the same cluster-head prior and network sizes (the
#: reference's ``aae_dim``, "AAE with cluster heads"): deterministic codes matched to the learned
#: mixture by a discriminator, the heads fitted to the codes. Learning rate as the AAE's reference
#: (2e-4, all three optimisers), epochs and batch as the other genotype presets; untuned.
GENOTYPE_AAE_CONFIG = AAEConfig(
    prior="learnable_mixture",
    likelihood="gaussian",
    hidden=(256, 256, 256),
    dropout=0.2,
    disc_hidden=(256, 256),
    epochs=150,
    lr_milestone=150,  # the reference decays at 3/4 of its epochs; kept off as in 150 of 150
    batch_size=128,
    prior_lr=0.01,
)


#: Label-guided ancestry: the semi-supervised DDVI (M2 objective) with one learnable prior
#: component per reference population. Settings from a search on one tuning split of the bundled
#: example (20 % of samples held out): held-out population accuracy 0.43 (logistic regression on
#: the same PCs: 0.42); see workflows/results/genotype for the cross-validated benchmark.
GENOTYPE_DDVI_SEMI_CONFIG = DDVISemiConfig(
    prior="learnable_mixture",  # one component per class (n_classes set from the labels)
    likelihood="gaussian",
    hidden=(256, 256),
    dropout=0.2,
    context_hidden=(256,),
    context_dropout=0.2,
    n_steps=10,  # K class chains per step: T = 10 keeps an epoch near 3 s for 26 populations
    prior_steps=10,
    prior_pretrain_epochs=0,
    stage1_epochs=0,
    epochs=30,
    batch_size=128,
    lr=1e-3,
    kl_weight=0.01,
    m2_cls_weight=100.0,  # M2's alpha; chosen among {30, 100} on the tuning split
    sleep_steps=1,
    decoder_frozen_fraction=0.0,
    sleep_grad_clip=0.1,
    prior_lr=0.01,
    n_classes=2,  # placeholder: replaced by the number of reference populations
)


def embed(
    pcs: np.ndarray,
    *,
    method: str = "ddvi",
    seed: int = 0,
    device: str = "auto",
    config: DDVIConfig | VAEConfig | None = None,
    n_draws: int = 20,
    verbose: bool | None = None,
    labels: np.ndarray | None = None,
    options: dict | None = None,
    compile: str = "auto",
    fit_rows: np.ndarray | None = None,
) -> Embedding:
    """Embed PCA coordinates ``(n_samples, n_pcs)`` in two dimensions.

    Parameters
    ----------
    pcs : np.ndarray, shape (n_samples, n_pcs)
    method : {"ddvi", "vae", "aae", "pca", "tsne", "umap", "ddvi-semi"}
        ``vae`` is the VAE baseline with the same prior (:data:`GENOTYPE_VAE_CONFIG`), ``aae``
        the adversarial autoencoder with it (:data:`GENOTYPE_AAE_CONFIG`); ``pca`` is PC1-PC2; ``tsne`` uses scikit-learn (perplexity
        100, the fair-tuning search's choice, capped at ``(n - 1) / 3``); ``umap`` needs the
        ``umap-learn`` package (15 neighbours, min_dist 0.5, the reference's settings).
    seed : int
    device : str
    config : DDVIConfig or VAEConfig, optional
        The network's configuration (default: the family's genotype preset).
    n_draws : int
        Posterior draws per sample for DDVI's mean and standard deviation.
    verbose : bool, optional
    labels : np.ndarray of int, shape (n_samples,), optional
        ``ddvi-semi`` only: class indices 0..K-1, -1 for unlabelled samples.
    options : dict, optional
        Knobs of the neighbour methods: ``perplexity`` (t-SNE, default 100), ``n_neighbors`` and
        ``min_dist`` (UMAP, defaults 15 and 0.5). Unknown keys are an error.
    compile : str
        Neural methods: :func:`ddvi_genomics.core.training.fit`'s ``compile`` (``"auto"``:
        recorded CUDA graphs on CUDA, eager elsewhere; ``"off"``: eager).
    fit_rows : np.ndarray of int, optional
        Neural methods: train on these rows only (``--fit-subset``); every row is then placed
        through the trained encoder. The input scale comes from the training rows.

    Returns
    -------
    Embedding
    """
    check_choice("method", method, METHODS)
    pcs = np.asarray(pcs, dtype=np.float32)
    if method not in NETWORK_METHODS:
        return classic_embedding(pcs, method, seed=seed, options=options)
    method_options(method, options, {})
    rows = slice(None) if fit_rows is None else np.asarray(fit_rows)
    scale = input_scale(pcs[rows])
    x = pcs / scale
    if method in LABEL_GUIDED_METHODS:
        if labels is None or not (np.asarray(labels) >= 0).any():
            raise ValueError(f"method {method!r} needs population labels (--panel)")
        n_classes = int(np.max(labels)) + 1
        if not isinstance(config, DDVISemiConfig):
            config = preset_config(method, None if config is None else config.epochs)
        config = config.replace(n_classes=n_classes)
    model = build_network(method, x.shape[1], config, seed=seed)
    train_labels = None if labels is None else np.asarray(labels)[rows]
    history = model.fit(
        x[rows], train_labels, device=device, seed=seed, verbose=verbose, compile=compile
    )
    mean, sd = posterior_summary(model, x, n_draws=n_draws, seed=seed)
    probs = class_probabilities(model, x)
    return Embedding(method, mean, sd, model, scale, history.rows, probs)


def class_probabilities(model, x: np.ndarray) -> np.ndarray | None:
    """``q(c | x)`` of a label-guided network, shape (n, K); None for other networks."""
    if not hasattr(model, "predict_proba"):
        return None
    return model.predict_proba(x).numpy().astype(np.float64)


#: The neural embedding families by method name, and by class name in model files.
NETWORK_FAMILIES = {"ddvi": DDVI, "vae": VAE, "aae": AAE, "ddvi-semi": DDVISemi}


def preset_config(method: str, epochs: int | None = None, recipe: str = "ours"):
    """Return the genotype preset of ``method``'s family, with ``epochs`` when given.

    ``recipe="paper"`` (``ddvi`` only) gives :data:`GENOTYPE_DDVI_PAPER_CONFIG`.
    """
    check_choice("method", method, tuple(NETWORK_FAMILIES))
    check_choice("recipe", recipe, tuple(DDVI_RECIPES))
    if recipe != "ours" and method != "ddvi":
        raise ValueError(f"recipe {recipe!r} exists for method 'ddvi' only; got {method!r}")
    preset = {
        "vae": GENOTYPE_VAE_CONFIG,
        "aae": GENOTYPE_AAE_CONFIG,
        "ddvi": DDVI_RECIPES[recipe],
        "ddvi-semi": GENOTYPE_DDVI_SEMI_CONFIG,
    }[method]
    return preset if epochs is None else preset.replace(epochs=epochs)


def build_network(method: str, n_features: int, config=None, *, seed: int = 0):
    """Build the (untrained) DDVI or VAE for ``n_features`` PCs, initialised from ``seed``.

    ``config`` of the other family is replaced by that family's genotype preset with the same
    number of epochs. Initialisation draws from the ``"init"`` stream of ``seed`` inside a
    forked global RNG, so the caller's RNG state is untouched.
    """
    family = NETWORK_FAMILIES[method]
    if config is None or not isinstance(config, family.config_class):
        config = preset_config(method, None if config is None else config.epochs)
    with seeded_global_rng(derive_seed(seed, "init")):
        return family(n_features, config)


def posterior_summary(model, x: np.ndarray, *, n_draws: int = 20, seed: int = 0):
    """Mean and standard deviation over ``n_draws`` posterior samples, each ``(n, 2)``.

    The draws come from the ``"posterior"`` stream of ``seed``: the same samples in the same
    order get the same summary, at training time and when projected from a saved model. A
    deterministic encoder (the AAE) has no posterior spread: its sd is None.
    """
    if getattr(model, "deterministic_encoder", False):
        return model.encode(x).numpy().astype(np.float64), None
    g = stream(seed, "posterior", model.device)
    draws = model.encode(x, n_samples=n_draws, generator=g).numpy()  # (draws, n, 2)
    return draws.mean(0).astype(np.float64), draws.std(0, ddof=1).astype(np.float64)
