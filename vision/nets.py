"""Networks of the reference benchmarks (the authors' code, github.com/topwasu/DDVI).

MNIST uses the core MLPs (784-1000-1000, LeakyReLU 0.2, dropout 0.2; Q2 dropout 0.4). CIFAR-10
uses a conv encoder (3->16->32->64->128 channels with BatchNorm and ReLU, down to 1x1), a
transposed-conv decoder ending in a sigmoid (its [0, 1] range matches the inputs), and a context
net (the same conv stack, then an MLP 128 -> 24 -> 24 -> context). Inputs stay flattened
(n, 3072) at the model boundary and are reshaped inside the networks.
"""

from __future__ import annotations

import torch
from torch import distributions as D
from torch import nn

from ddvi_genomics.core.nn import MLP, Dropout

CIFAR_SHAPE = (3, 32, 32)
CIFAR_FEATURES = 3 * 32 * 32


def conv_stack() -> nn.Sequential:
    """Build the reference ``BareConvNet``: (n, 3072) -> (n, 128)."""
    return nn.Sequential(
        nn.Unflatten(1, CIFAR_SHAPE),
        nn.Conv2d(3, 16, 3, 1, 1),
        nn.BatchNorm2d(16),
        nn.ReLU(),  # 32x32
        nn.Conv2d(16, 32, 4, 2),
        nn.BatchNorm2d(32),
        nn.ReLU(),  # 15x15
        nn.Conv2d(32, 64, 5, 2),
        nn.BatchNorm2d(64),
        nn.ReLU(),  # 6x6
        nn.Conv2d(64, 128, 5, 2),
        nn.BatchNorm2d(128),
        nn.ReLU(),  # 1x1
        nn.Flatten(),
    )


def cifar_encoder_body(width: int = 1000, dropout: float = 0.2) -> nn.Sequential:
    """Build the reference CIFAR ``Q`` trunk: conv stack, then Linear 128 -> ``width`` (the heads follow)."""
    return nn.Sequential(conv_stack(), nn.Linear(128, width), nn.LeakyReLU(0.2), Dropout(dropout))


class TransposedConvDecoder(nn.Module):
    """Reference ``TransposedConvNet``: z -> 64x1x1 -> 5x5 -> 13x13 -> 29x29 -> 32x32, sigmoid.

    Returns ``p(x | z)`` over the 3,072 values in [0, 1] whose mean is the sigmoid output: a
    :class:`~torch.distributions.Bernoulli` (``likelihood="bernoulli"``) or a
    :class:`~torch.distributions.Normal` with a fixed ``scale`` (``likelihood="gaussian"``, the
    reference's mean-squared-error reconstruction for CIFAR), so ``elbo()`` scores the likelihood
    the model was trained with.
    """

    def __init__(self, latent_dim: int = 2, likelihood: str = "bernoulli", scale: float = 1.0):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(
                f"likelihood={likelihood!r} is not allowed; use bernoulli or gaussian"
            )
        self.likelihood = likelihood
        self.scale = float(scale)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 64),
            nn.ReLU(),
            nn.Unflatten(1, (64, 1, 1)),
            nn.ConvTranspose2d(64, 64, 5, 2),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 5, 2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 5, 2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 3, 4, 1),
            nn.Flatten(),
        )

    def forward(self, z: torch.Tensor) -> D.Distribution:
        """``p(x | z)`` with batch shape (n, 3072)."""
        logits = self.net(z)
        if self.likelihood == "gaussian":
            mean = torch.sigmoid(logits)
            return D.Normal(mean, torch.full_like(mean, self.scale), validate_args=False)
        return D.Bernoulli(logits=logits, validate_args=False)


def cifar_context_net(context_dim: int = 2, dropout: float = 0.2) -> nn.Sequential:
    """Build the reference CIFAR ``Q2``: conv stack, then MLP 128 -> 24 -> 24 -> context."""
    return nn.Sequential(conv_stack(), MLP(128, (24, 24), context_dim, dropout=dropout))
