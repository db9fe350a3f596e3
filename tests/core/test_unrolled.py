"""The unrolled denoiser (per-step tables built once) against the network's own forward."""

import collections
import contextlib

import pytest
import torch

from ddvi_genomics.core.diffusion import GaussianDiffusion
from ddvi_genomics.core.nn import ClassBatchedEpsilonNet, EpsilonNet
from tests.conftest import gen
from workflows.bench.step_kernels import KernelCount, forward_layout

T = 6


def _chain(diffusion, eps_model, y, context, steps):
    """DDIM steps ``steps`` (Python ints, descending) from ``y``: the list of states visited."""
    states = [y]
    for k in steps:
        y = diffusion.ddim_step(y, k, eps_model(y, k, context))
        states.append(y)
    return states


def _values_and_grads(net, eps_model, y, context, steps):
    """States of the chain and the gradients of a fixed functional of them, float64."""
    net.zero_grad(set_to_none=True)
    states = _chain(GaussianDiffusion(T).double().to(y.device), eps_model, y, context, steps)
    weights = torch.randn(len(states), *y.shape, generator=gen(9), dtype=torch.float64)
    weights = weights.to(y.device)
    (torch.stack(states) * weights).sum().backward()
    return states, {name: p.grad for name, p in net.named_parameters()}


def _assert_same(unrolled, naive):
    (states_u, grads_u), (states_n, grads_n) = unrolled, naive
    for a, b in zip(states_u, states_n, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert grads_u.keys() == grads_n.keys()
    for name in grads_n:
        if grads_n[name] is None:  # a class network the chain never used
            assert grads_u[name] is None or not grads_u[name].any(), name
        else:
            torch.testing.assert_close(grads_u[name], grads_n[name], rtol=1e-10, atol=1e-12)


ALL_STEPS = list(range(T - 1, -1, -1))


@pytest.mark.parametrize("context_dim", [0, 3])
@pytest.mark.parametrize("steps", [ALL_STEPS, [4, 1]], ids=["whole-chain", "two-steps"])
def test_unrolled_denoiser__equals_forward_in_values_and_gradients(context_dim, steps, device):
    torch.manual_seed(0)
    net = EpsilonNet(2, T, context_dim=context_dim, hidden=8).double().to(device)
    y = torch.randn(5, 2, generator=gen(1), dtype=torch.float64).to(device)
    ctx = (
        torch.randn(5, 3, generator=gen(2), dtype=torch.float64).to(device)
        if context_dim
        else None
    )
    naive = _values_and_grads(net, lambda y, k, c: net(y, k, c), y, ctx, steps)
    unrolled = _values_and_grads(net, net.unrolled(), y, ctx, steps)
    _assert_same(unrolled, naive)


@pytest.mark.parametrize("classes", [None, [2], [3, 0]], ids=["all", "one", "two"])
def test_unrolled_class_batched_denoiser__equals_forward(classes, device):
    torch.manual_seed(0)
    net = ClassBatchedEpsilonNet(4, 2, T, context_dim=3, hidden=8).double().to(device)
    n_sel = 4 if classes is None else len(classes)
    y = torch.randn(n_sel, 5, 2, generator=gen(1), dtype=torch.float64).to(device)
    ctx = torch.randn(5, 3, generator=gen(2), dtype=torch.float64).to(device)
    naive = _values_and_grads(
        net, lambda y, k, c: net(y, k, c, classes=classes), y, ctx, ALL_STEPS
    )
    unrolled = _values_and_grads(net, net.unrolled(classes), y, ctx, ALL_STEPS)
    _assert_same(unrolled, naive)


def test_unrolled_denoiser__refuses_a_missing_context():
    net = EpsilonNet(2, T, context_dim=3, hidden=8)
    with pytest.raises(ValueError, match="context"):
        net.unrolled()(torch.zeros(1, 2), 0)


def _chain_kernels(use_unrolled: bool) -> collections.Counter:
    torch.manual_seed(0)
    steps = 20
    net = EpsilonNet(2, steps, context_dim=4, hidden=16)
    diffusion = GaussianDiffusion(steps)
    y = torch.randn(8, 2, generator=gen(1))
    ctx = torch.randn(8, 4, generator=gen(2)).requires_grad_()
    layout = contextlib.nullcontext() if use_unrolled else forward_layout()
    with layout, KernelCount() as counter:
        diffusion.reverse_chain(net, y, ctx)[-1].sum().backward()
    return collections.Counter({name: n for (_, name), n in counter.count.items()})


def test_reverse_chain__uses_the_unrolled_layout_and_launches_fewer_kernels():
    """A chain step of this net was 62 kernels (forward + backward) through forward(); unrolled 38.

    Guards the layout, not a time: no zero-filled embedding table per step in backward, and no
    per-step gradient accumulation of the shared weights.
    """
    naive, unrolled = _chain_kernels(False), _chain_kernels(True)
    assert naive["select_backward"] == 4 * 20  # one per layer and step through forward()
    assert unrolled["select_backward"] == 0
    assert sum(unrolled.values()) < 0.65 * sum(naive.values()), (unrolled, naive)


def test_conditional_denoiser__is_the_reference_g2_written_out():
    """Oracle for the shared layer rule: G2 (``ConditionalModelWAUX``) by hand, float64.

    h1 = relu(L1([y, c]) + e1[k]), h2 = relu(L2(h1) + e2[k]), h3 = relu(L3(h2) + e3[k]) + h1,
    h4 = relu(L4(h3) + e4[k]), eps = Lout(h4).
    """
    torch.manual_seed(0)
    net = EpsilonNet(2, T, context_dim=3, hidden=8).double()
    y = torch.randn(5, 2, generator=gen(1), dtype=torch.float64)
    ctx = torch.randn(5, 3, generator=gen(2), dtype=torch.float64)
    k = 4
    lin = [(m.linear.weight, m.linear.bias, m.embedding.weight[k]) for m in net.layers]

    def pre(h, i):
        w, b, e = lin[i]
        return h @ w.T + b + e

    h1 = torch.relu(pre(torch.cat([y, ctx], 1), 0))
    h2 = torch.relu(pre(h1, 1))
    h3 = torch.relu(pre(h2, 2)) + h1
    h4 = torch.relu(pre(h3, 3))
    expected = h4 @ net.out.weight.T + net.out.bias
    torch.testing.assert_close(net(y, k, ctx), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.unrolled()(y, k, ctx), expected, rtol=1e-10, atol=1e-12)
