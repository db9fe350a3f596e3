"""MADE and gated inverse autoregressive flow (IAF) steps for the IAF-VAE baselines.

MADE (Germain et al. 2015) with natural input order: input i has degree i (1-based), hidden units
get degrees cycling through 1..d-1, and output i (for each of the ``n_params`` parameter sets)
may only see inputs of degree < i. A context vector (from the encoder) enters the first hidden
layer and the output layer unmasked (Kingma et al. 2016). The reference hard-codes a context width of 10 and, for
d = 2, gives every hidden unit degree 0 so one output is a constant; both are fixed here.

Gated IAF step: ``(s, m) = MADE(z, h)``, ``sigma = sigmoid(s)``, ``z' = sigma * z + (1 - sigma) * m``,
``log |det dz'/dz| = sum log sigma`` (the Jacobian is triangular in the autoregressive order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """Linear layer whose weight is multiplied by a fixed 0/1 mask (a buffer)."""

    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masked affine map."""
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Autoregressive network: output ``k * d + i`` depends only on inputs ``< i`` (and context).

    Parameters
    ----------
    n_dim : int
        d, the size of z.
    hidden : sequence of int
        Hidden widths.
    n_params : int
        Parameter sets per dimension (2 for the IAF's s and m).
    context_dim : int
        Width of the context vector (0 for none).
    """

    def __init__(self, n_dim: int, hidden=(128, 128), n_params: int = 2, context_dim: int = 0):
        super().__init__()
        self.n_dim, self.n_params = n_dim, n_params
        in_deg = torch.arange(1, n_dim + 1)
        degrees = [in_deg]
        for h in hidden:
            span = max(n_dim - 1, 1)
            degrees.append(torch.arange(h) % span + 1)
        layers = []
        for prev, cur in zip(degrees[:-1], degrees[1:], strict=True):
            layers.append(MaskedLinear(len(prev), len(cur), cur[:, None] >= prev[None, :]))
        self.hidden_layers = nn.ModuleList(layers)
        out_deg = in_deg.repeat(n_params)
        self.out = MaskedLinear(
            len(degrees[-1]), n_dim * n_params, out_deg[:, None] > degrees[-1][None, :]
        )
        self.context = nn.Linear(context_dim, len(degrees[1])) if context_dim and hidden else None
        # the context also reaches the outputs directly, so the first dimension (which may see no
        # input) is still conditioned on it
        self.context_out = nn.Linear(context_dim, n_dim * n_params) if context_dim else None

    def forward(
        self, z: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Return ``n_params`` tensors of shape (n, d)."""
        h = z
        for i, layer in enumerate(self.hidden_layers):
            h = layer(h)
            if i == 0 and self.context is not None and context is not None:
                h = h + self.context(context)
            h = torch.relu(h)
        out = self.out(h)
        if self.context_out is not None and context is not None:
            out = out + self.context_out(context)
        return tuple(out.split(self.n_dim, dim=1))


class GatedIAFStep(nn.Module):
    """One gated IAF step with an optional reversal of the dimension order (``reverse``)."""

    def __init__(self, n_dim: int, hidden=(128, 128), context_dim: int = 0, reverse: bool = False):
        super().__init__()
        self.made = MADE(n_dim, hidden, 2, context_dim)
        self.reverse = reverse

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None):
        """Return ``(z', log|det dz'/dz|)`` with shapes (n, d) and (n,)."""
        if self.reverse:
            z = z.flip(-1)
        s, m = self.made(z, context)
        s = s + 1.5  # start near the identity (gate mostly open), as Kingma et al. 2016
        gate = torch.sigmoid(s)
        out = gate * z + (1 - gate) * m
        log_det = F.logsigmoid(s).sum(-1)
        if self.reverse:
            out = out.flip(-1)
        return out, log_det

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Invert the step dimension by dimension (d passes; for tests and diagnostics)."""
        if self.reverse:
            y = y.flip(-1)
        z = torch.zeros_like(y)
        for i in range(y.shape[-1]):
            s, m = self.made(z, context)
            gate = torch.sigmoid(s[:, i] + 1.5)
            z = z.clone()
            z[:, i] = (y[:, i] - (1 - gate) * m[:, i]) / gate
        return z.flip(-1) if self.reverse else z


class IAF(nn.Module):
    """A stack of gated IAF steps with alternating order (the reference uses 4)."""

    def __init__(self, n_dim: int, n_steps: int = 4, hidden=(128, 128), context_dim: int = 0):
        super().__init__()
        self.steps = nn.ModuleList(
            GatedIAFStep(n_dim, hidden, context_dim, reverse=bool(i % 2)) for i in range(n_steps)
        )

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None):
        """Return ``(z_K, sum_k log|det|)``."""
        total = z.new_zeros(z.shape[0])
        for step in self.steps:
            z, log_det = step(z, context)
            total = total + log_det
        return z, total

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Invert the whole stack."""
        for step in reversed(self.steps):
            y = step.inverse(y, context)
        return y
