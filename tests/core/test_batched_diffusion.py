import torch

from ddvi_genomics.core.diffusion import GaussianDiffusion
from ddvi_genomics.core.nn import ClassBatchedEpsilonNet
from tests.conftest import gen


def test_batched_denoiser__equals_a_naive_loop_over_per_class_nets(device):
    torch.manual_seed(0)
    net = ClassBatchedEpsilonNet(5, 2, 12, context_dim=3, hidden=16).to(device)
    y = torch.randn(5, 7, 2, generator=gen(1)).to(device)
    ctx = torch.randn(7, 3, generator=gen(2)).to(device)
    k = torch.randint(12, (5, 7), generator=gen(3)).to(device)
    batched = net(y, k, ctx)
    naive = torch.stack([net.class_net(c).to(device)(y[c], k[c], ctx) for c in range(5)])
    assert torch.allclose(batched, naive, atol=1e-5)
    # a subset of classes, one step index for everyone
    sub = net(y[[1, 3]], 4, ctx, classes=[1, 3])
    assert torch.allclose(sub[1], net.class_net(3).to(device)(y[3], 4, ctx), atol=1e-5)


def test_batched_reverse_chain__equals_per_class_chains(device):
    torch.manual_seed(1)
    net = ClassBatchedEpsilonNet(4, 2, 10, context_dim=2, hidden=16).to(device)
    diffusion = GaussianDiffusion(10).to(device)
    y = torch.randn(6, 2, generator=gen(4)).to(device)
    ctx = torch.randn(6, 2, generator=gen(5)).to(device)
    batched = diffusion.reverse_chain(net, y.expand(4, 6, 2), ctx)[-1]
    for c in range(4):
        single = diffusion.reverse_chain(net.class_net(c).to(device), y, ctx)[-1]
        assert torch.allclose(batched[c], single, atol=1e-5)
    # per-(class, example) step indices broadcast through the schedule tables
    k = torch.randint(10, (4, 6), generator=gen(6)).to(device)
    noisy = diffusion.q_sample(batched, k, torch.zeros_like(batched))
    assert torch.allclose(noisy[2, 3], diffusion.sqrt_alphas_cumprod[k[2, 3]] * batched[2, 3])
