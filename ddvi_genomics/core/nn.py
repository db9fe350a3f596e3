"""Networks: MLPs, time-conditioned noise predictors, encoder and decoder heads.

Networks know no losses. Dropout modules switch off under ``eval()``
(the reference calls ``F.dropout`` without ``training=``, leaving it on at evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import distributions as D
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout, identical in distribution to ``nn.Dropout`` and off under ``eval()``.

    On the CPU the keep-mask is drawn as ``rand >= p`` rather than with ``bernoulli_``: this is
    about twice as fast there, and dropout masks are a tenth of a DDVI training step at the
    reference sizes. On CUDA it is ``F.dropout`` (one fused kernel forward and one backward,
    against four and two), as the step there is bound by its number of kernels.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p={p!r} is not allowed; it must lie in [0, 1)")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero each element with probability p and rescale the rest by 1 / (1 - p)."""
        if not self.training or self.p == 0.0:
            return x
        if x.is_cuda:
            return torch.nn.functional.dropout(x, self.p, training=True)
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        """Show p in the module's repr."""
        return f"p={self.p}"


class MLP(nn.Module):
    """Linear -> [BatchNorm] -> LeakyReLU(0.2) -> Dropout blocks, then one or more linear heads.

    The reference's ``MultiWayLinear``.

    Parameters
    ----------
    n_input : int
    hidden : sequence of int
        Widths of the hidden layers.
    n_output : int or sequence of int
        Width of the single head, or widths of several heads (``forward`` then returns a tuple).
    dropout : float
        Dropout probability after every hidden layer.
    batch_norm : bool
        Insert BatchNorm1d after every hidden linear layer.
    """

    def __init__(
        self,
        n_input: int,
        hidden: Sequence[int],
        n_output: int | Sequence[int],
        *,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_input
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.LeakyReLU(0.2))
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.multi_head = not isinstance(n_output, int)
        outs = list(n_output) if self.multi_head else [n_output]
        self.heads = nn.ModuleList(nn.Linear(width, o) for o in outs)

    def forward(self, x: torch.Tensor):
        """Return the head output (n, n_output), or a tuple of them for several heads."""
        h = self.body(x)
        outs = tuple(head(h) for head in self.heads)
        return outs if self.multi_head else outs[0]


class StepConditionedLinear(nn.Module):
    """``Linear(x) + embedding[k]``: a learned per-step offset (reference ``ConditionalLinear``).

    The embedding is initialised U[0, 1) as in the reference.
    """

    def __init__(self, n_input: int, n_output: int, n_steps: int):
        super().__init__()
        self.linear = nn.Linear(n_input, n_output)
        self.embedding = nn.Embedding(n_steps, n_output)
        nn.init.uniform_(self.embedding.weight, 0.0, 1.0)

    def forward(self, x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
        """``x``: (n, n_input); ``k``: one int for the whole batch or (n,) indices."""
        emb = self.embedding.weight[k]  # (n_output,) broadcasts when k is one int
        return self.linear(x) + emb


class EpsilonNet(nn.Module):
    """Time-conditioned noise predictor ``eps(y, k[, context])``.

    With ``context_dim == 0`` this is the reference's unconditional ``ConditionalModel`` (G):
    four step-conditioned layers of width ``hidden`` with ReLU, then a linear output. With a
    context it is ``ConditionalModelWAUX`` (G2): the input is ``[y, context]`` and the third hidden
    layer adds a skip connection from the first (``h3 = relu(CL3(h2)) + h1``).

    Parameters
    ----------
    latent_dim : int
        d, the size of y and of the output.
    n_steps : int
        T, the number of step embeddings.
    context_dim : int
        Size of the context vector (0 for none).
    hidden : int
        Width of every hidden layer (reference: 128).
    n_layers : int
        Number of step-conditioned layers (reference: 4).
    """

    def __init__(
        self,
        latent_dim: int,
        n_steps: int,
        context_dim: int = 0,
        hidden: int = 128,
        n_layers: int = 4,
    ):
        super().__init__()
        if n_layers < 3 and context_dim > 0:
            raise ValueError(
                "the conditional denoiser needs n_layers >= 3 for its skip connection"
            )
        self.context_dim = int(context_dim)
        widths = [latent_dim + context_dim] + [hidden] * n_layers
        self.layers = nn.ModuleList(
            StepConditionedLinear(a, b, n_steps)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.out = nn.Linear(hidden, latent_dim)

    def forward(self, y: torch.Tensor, k, context: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise, shape (n, latent_dim)."""
        h = _denoiser_input(y, context, self.context_dim)
        layers = (lambda h, layer=layer: layer(h, k) for layer in self.layers)
        return self.out(_hidden_layers(h, layers, skip=bool(self.context_dim)))

    def unrolled(self) -> UnrolledEpsilonNet:
        """Return the network laid out for a chain that calls it once per Python-int step.

        See :class:`UnrolledEpsilonNet`: the same function, fewer kernels per step.
        """
        return UnrolledEpsilonNet(
            [
                (layer.linear.weight, layer.linear.bias, layer.embedding.weight)
                for layer in self.layers
            ],
            (self.out.weight, self.out.bias),
            self.context_dim,
        )


def _denoiser_input(y: torch.Tensor, context: torch.Tensor | None, context_dim: int):
    """``[y, context]`` along the last axis (y alone without a context).

    A 2-D context (n, c) is shared by every class slice of a class-batched ``y`` (C, n, d).
    """
    if not context_dim:
        return y
    if context is None:
        raise ValueError("this denoiser needs a context tensor")
    if y.ndim == 3 and context.ndim == 2:
        context = context.expand(y.shape[0], *context.shape)
    return torch.cat([y, context], dim=-1)


def _hidden_layers(h: torch.Tensor, layers, *, skip: bool) -> torch.Tensor:
    """ReLU after each of ``layers`` (callables giving pre-activations), in order.

    With ``skip`` the third hidden layer adds the first one's output (the reference
    ``ConditionalModelWAUX`` skip connection of the context-conditioned denoiser G2).
    """
    first = None
    for i, layer in enumerate(layers):
        h = torch.relu(layer(h))
        if i == 0:
            first = h
        elif i == 2 and skip:
            h = h + first
    return h


def _per_step(tensor: torch.Tensor, n_steps: int) -> tuple[torch.Tensor, ...]:
    """``n_steps`` views of ``tensor`` (one per chain step) whose gradients meet in two kernels.

    A parameter used at every step of a chain otherwise gets one gradient accumulation per step;
    through ``expand`` and ``unbind`` autograd stacks the T step gradients and sums them once.
    The stack holds T copies of the gradient for a moment (DDVI-semi on MNIST, T = 100 and 10
    classes of 128 x 128: 65 MB per layer, against gigabytes of saved activations).
    """
    return tensor.expand(n_steps, *tensor.shape).unbind(0)


class UnrolledEpsilonNet:
    """A step-conditioned denoiser laid out for a chain that visits steps one at a time.

    Each step-conditioned layer computes ``h W^T + (b + e_k)``: the bias ``b`` and the step
    embeddings ``e`` are added once for all T steps, and every weight and offset is split into
    per-step views whose gradients are stacked and summed once per chain, instead of indexed
    (a zero-filled table per step in backward) and accumulated step by step. A chain step then
    launches about 40 % fewer kernels than through :meth:`EpsilonNet.forward` (forward and
    backward; ``workflows/bench/step_kernels.py``), and kernels are what bound a recorded CUDA
    graph of the chain. Values equal ``forward``'s up to float rounding (the sum ``b + e_k`` is
    formed first).

    Parameters
    ----------
    layers : list of (weight, bias, embedding)
        Per step-conditioned layer: weight (out, in) or, class-batched, (C, in, out); bias
        (out,) or (C, out); embedding (T, out) or (C, T, out).
    head : (weight, bias)
        The output layer, laid out like ``layers``.
    context_dim : int
        Size of the context input (0 for none); with a context the third hidden layer adds a
        skip connection from the first (reference ``ConditionalModelWAUX``).
    batched : bool
        Class-batched layout (:class:`ClassBatchedEpsilonNet`): inputs (C, n, .) and batched
        matrix products.
    """

    def __init__(self, layers, head, context_dim: int, batched: bool = False):
        self.context_dim, self.batched = context_dim, batched
        step_dim = 1 if batched else 0  # where the step axis sits in an embedding table
        n_steps = layers[0][2].shape[step_dim]
        self.weights, self.offsets = [], []
        for weight, bias, embedding in layers:
            self.weights.append(_per_step(weight, n_steps))
            # b + e_k for every k at once, then one view per step: (out,) or (C, 1, out)
            offsets = (bias.unsqueeze(1) if batched else bias) + embedding
            self.offsets.append(offsets.unsqueeze(2).unbind(1) if batched else offsets.unbind(0))
        weight, bias = head
        self.head_weights = _per_step(weight, n_steps)
        self.head_bias = _per_step(bias.unsqueeze(1) if batched else bias, n_steps)

    def _linear(self, h: torch.Tensor, weight: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        if self.batched:
            return torch.baddbmm(offset, h, weight)
        return torch.nn.functional.linear(h, weight, offset)

    def __call__(self, y: torch.Tensor, k: int, context: torch.Tensor | None = None):
        """Predicted noise at step ``k`` (a Python int), shaped like ``y``."""
        h = _denoiser_input(y, context, self.context_dim)
        layers = (
            lambda h, w=weights[k], o=offsets[k]: self._linear(h, w, o)
            for weights, offsets in zip(self.weights, self.offsets, strict=True)
        )
        h = _hidden_layers(h, layers, skip=bool(self.context_dim))
        return self._linear(h, self.head_weights[k], self.head_bias[k])


class ClassBatchedEpsilonNet(nn.Module):
    """K independent :class:`EpsilonNet` s (one per class) evaluated in one batched pass.

    Weights are stacked along a class axis and every layer is a batched matrix product, so the
    reverse diffusions of all classes run together instead of in a Python loop over classes.

    Parameters
    ----------
    n_classes : int
    latent_dim, n_steps, context_dim, hidden, n_layers
        As :class:`EpsilonNet`.
    """

    def __init__(
        self,
        n_classes: int,
        latent_dim: int,
        n_steps: int,
        context_dim: int = 0,
        hidden: int = 128,
        n_layers: int = 4,
    ):
        super().__init__()
        self.n_classes, self.context_dim = int(n_classes), int(context_dim)
        widths = [latent_dim + context_dim] + [hidden] * n_layers + [latent_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.embeddings = nn.ParameterList()
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            ref = [nn.Linear(a, b) for _ in range(n_classes)]  # same initialisation as nn.Linear
            self.weights.append(nn.Parameter(torch.stack([m.weight.data.T for m in ref])))
            self.biases.append(nn.Parameter(torch.stack([m.bias.data for m in ref])))
            if i < n_layers:
                self.embeddings.append(nn.Parameter(torch.rand(n_classes, n_steps, b)))

    def forward(
        self, y: torch.Tensor, k, context: torch.Tensor | None = None, classes=None
    ) -> torch.Tensor:
        """Predicted noise for every class.

        Parameters
        ----------
        y : torch.Tensor, shape (C, n, d)
            One slice per selected class.
        k : int or torch.Tensor of shape (C, n)
        context : torch.Tensor, shape (n, c) or (C, n, c), optional
        classes : torch.Tensor of int, shape (C,), optional
            Which class networks to use (all, in order, when None).

        Returns
        -------
        torch.Tensor, shape (C, n, d)
        """
        idx = self._class_index(classes, y.device)
        h = _denoiser_input(y, context, self.context_dim)

        def layer(h, i):
            emb = self.embeddings[i][idx]  # (C, T, out)
            if isinstance(k, int):
                step = emb[:, k][:, None, :]
            else:
                step = torch.gather(emb, 1, k[..., None].expand(*k.shape, emb.shape[-1]))
            return torch.baddbmm(self.biases[i][idx][:, None, :], h, self.weights[i][idx]) + step

        layers = (lambda h, i=i: layer(h, i) for i in range(len(self.embeddings)))
        h = _hidden_layers(h, layers, skip=bool(self.context_dim))
        return torch.baddbmm(self.biases[-1][idx][:, None, :], h, self.weights[-1][idx])

    def unrolled(self, classes=None) -> UnrolledEpsilonNet:
        """Return the networks laid out for a chain of Python-int steps (:class:`UnrolledEpsilonNet`).

        ``classes`` selects class networks as in :meth:`forward`.
        """
        idx = self._class_index(classes, self.weights[0].device)
        layers = [
            (self.weights[i][idx], self.biases[i][idx], self.embeddings[i][idx])
            for i in range(len(self.embeddings))
        ]
        head = (self.weights[-1][idx], self.biases[-1][idx])
        return UnrolledEpsilonNet(layers, head, self.context_dim, batched=True)

    @staticmethod
    def _class_index(classes, device):
        """Index of the selected classes: a slice where possible, else a device tensor."""
        if classes is None:
            return slice(None)
        if isinstance(classes, (list, tuple)) and len(classes) == 1:
            if torch.compiler.is_compiling():
                # torch.compile specialises a slice at a symbolic class (one graph per class);
                # an index filled on the device keeps the class symbolic
                return torch.full((1,), classes[0], dtype=torch.long, device=device)
            # a slice is a view: no index tensor copied to the device (none may be, in a graph)
            return slice(classes[0], classes[0] + 1)
        return torch.as_tensor(classes, device=device)

    def class_net(self, c: int) -> EpsilonNet:
        """Return an :class:`EpsilonNet` holding a copy of class ``c``'s weights."""
        n_layers = len(self.embeddings)
        d = self.weights[-1].shape[-1]
        net = EpsilonNet(
            d, self.embeddings[0].shape[1], self.context_dim, self.weights[0].shape[-1], n_layers
        )
        with torch.no_grad():
            for i, layer in enumerate(net.layers):
                layer.linear.weight.copy_(self.weights[i][c].T)
                layer.linear.bias.copy_(self.biases[i][c])
                layer.embedding.weight.copy_(self.embeddings[i][c])
            net.out.weight.copy_(self.weights[-1][c].T)
            net.out.bias.copy_(self.biases[-1][c])
        return net


class GaussianEncoder(nn.Module):
    """Amortised Gaussian ``q(y | x) = N(loc(x), diag scale(x)^2)`` on an MLP (or any body).

    Parameters
    ----------
    n_input : int
    hidden : sequence of int
    latent_dim : int
    dropout : float
    variance : {"logvar", "sigmoid"}
        Head parametrisation: unconstrained log-variance (DDVI) or ``variance = sigmoid(head)``
        (the reference VAE baselines).
    body : nn.Module, optional
        Replaces the MLP; must map x to features of width ``hidden[-1]`` (e.g. a conv stack).
    """

    def __init__(
        self,
        n_input: int,
        hidden: Sequence[int],
        latent_dim: int,
        *,
        dropout: float = 0.0,
        variance: str = "logvar",
        body: nn.Module | None = None,
        n_classes: int = 0,
    ):
        super().__init__()
        if variance not in ("logvar", "sigmoid"):
            raise ValueError(
                f"variance={variance!r} is not allowed; choose one of ['logvar', 'sigmoid']"
            )
        self.variance = variance
        heads = (latent_dim, latent_dim) + ((n_classes,) if n_classes else ())
        if body is None:
            self.net = MLP(n_input, hidden, heads, dropout=dropout)
        else:
            self.net = nn.Sequential(body, MLP(hidden[-1], [], heads))

    def forward(self, x: torch.Tensor) -> D.Normal:
        """Return ``q(y | x)`` as a ``Normal`` with batch shape (n, latent_dim)."""
        return self.classify(x)[0]

    def classify(self, x: torch.Tensor) -> tuple[D.Normal, torch.Tensor | None]:
        """Return ``q(y | x)`` and the class logits (n, n_classes) (None without a class head)."""
        loc, raw, *logits = self.net(x)
        if self.variance == "logvar":
            scale = torch.exp(0.5 * raw)
        else:
            scale = torch.sigmoid(raw).sqrt()
        return D.Normal(loc, scale, validate_args=False), (logits[0] if logits else None)


class _Decoder(nn.Module):
    """A network ``z -> parameters of p(x | z)``: an MLP, or any ``body`` (e.g. transposed convs)."""

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int],
        n_output: int,
        *,
        dropout: float = 0.0,
        body: nn.Module | None = None,
    ):
        super().__init__()
        self.net = body if body is not None else MLP(latent_dim, hidden, n_output, dropout=dropout)


class BernoulliDecoder(_Decoder):
    """``p(x | z) = Bernoulli(sigmoid(net(z)))`` over data in [0, 1] (MNIST-style).

    ``log_prob`` of non-binary targets is the usual continuous relaxation (negative BCE).
    """

    def forward(self, z: torch.Tensor) -> D.Bernoulli:
        """Return ``p(x | z)`` with batch shape (n, n_output)."""
        return D.Bernoulli(logits=self.net(z), validate_args=False)


class GaussianDecoder(_Decoder):
    """``p(x | z) = N(net(z), scale^2 I)`` with a fixed scale (MSE reconstruction)."""

    def __init__(self, *args, scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if scale <= 0:
            raise ValueError(f"scale={scale!r} is not allowed; it must be > 0")
        self.scale = float(scale)

    def forward(self, z: torch.Tensor) -> D.Normal:
        """Return ``p(x | z)`` with batch shape (n, n_output)."""
        loc = self.net(z)
        return D.Normal(loc, torch.full_like(loc, self.scale), validate_args=False)
