import torch

from ddvi_genomics.core.flows import IAF, MADE, GatedIAFStep
from tests.conftest import gen


def test_made__output_i_depends_only_on_inputs_before_i():
    torch.manual_seed(0)
    for d in (2, 3, 5):
        made = MADE(d, hidden=(16, 16), n_params=2, context_dim=3)
        z = torch.randn(1, d, requires_grad=True)
        ctx = torch.randn(1, 3, requires_grad=True)
        for k, out in enumerate(made(z, ctx)):
            for i in range(d):
                (g,) = torch.autograd.grad(out[0, i], z, retain_graph=True)
                assert torch.all(g[0, i:] == 0), (d, k, i)
                if i > 0:
                    assert torch.any(g[0, :i] != 0), (d, k, i)  # and does use them
            (gc,) = torch.autograd.grad(out[0, 0], ctx, retain_graph=True)
            assert torch.any(gc != 0)  # even the first output sees the context


def test_iaf__log_det_equals_autograd_jacobian():
    torch.manual_seed(1)
    for d in (2, 4):
        flow = IAF(d, n_steps=4, hidden=(32, 32), context_dim=5).double()
        ctx = torch.randn(3, 5, generator=gen(2), dtype=torch.float64)
        z = torch.randn(3, d, generator=gen(3), dtype=torch.float64)
        _, log_det = flow(z, ctx)
        for n in range(3):
            jac = torch.autograd.functional.jacobian(
                lambda v: flow(v[None], ctx[n : n + 1])[0][0], z[n]
            )
            assert torch.allclose(log_det[n], torch.linalg.slogdet(jac)[1], atol=1e-10)


def test_iaf__is_invertible():
    torch.manual_seed(2)
    flow = IAF(3, n_steps=4, hidden=(16,), context_dim=2).double()
    ctx = torch.randn(10, 2, generator=gen(4), dtype=torch.float64)
    z = torch.randn(10, 3, generator=gen(5), dtype=torch.float64)
    y, _ = flow(z, ctx)
    assert torch.allclose(flow.inverse(y, ctx), z, atol=1e-9)
    step = GatedIAFStep(2, (8,), reverse=True).double()
    assert torch.allclose(step.inverse(step(z[:, :2])[0]), z[:, :2], atol=1e-10)
