"""The embedding methods by name, and which of them train a network (no torch needed here)."""

METHODS = ("ddvi", "vae", "aae", "pca", "tsne", "umap", "ddvi-semi")
#: Methods trained with the population labels (label-guided ancestry).
LABEL_GUIDED_METHODS = ("ddvi-semi",)
#: Methods whose map is a trained network (they need torch and a device).
NETWORK_METHODS = ("ddvi", "vae", "aae", "ddvi-semi")
