"""`diagnostics.linear_probe`'s closed-form cross-entropy gradient: the same update as autograd."""
import torch
import torch.nn.functional as F

import minidgl
from minidgl import diagnostics


def test_cross_entropy_grads_match_autograd():
    g = torch.Generator().manual_seed(0)
    z, y = torch.randn(50, 7, generator=g, dtype=torch.float64), torch.randint(0, 4, (50,), generator=g)
    weight = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(F.linear(z, weight, bias), y).backward()
    dw, db = diagnostics.cross_entropy_grads(weight.detach(), bias.detach(), z.T.contiguous(),
                                             F.one_hot(y, 4).T.to(z.dtype))
    torch.testing.assert_close(dw, weight.grad)
    torch.testing.assert_close(db, bias.grad)


def autograd_probe(model, modality, train, test, steps=diagnostics.PROBE_STEPS, lr=diagnostics.PROBE_LR, seed=0):
    """The probe as it was written before the closed form: Adam through `F.cross_entropy(...).backward()`."""
    generator = torch.Generator().manual_seed(seed)
    z_train, z_test = diagnostics.standardize(diagnostics.encode(model, train, modality),
                                              diagnostics.encode(model, test, modality))
    probe = torch.nn.Linear(z_train.shape[1], train.num_classes)
    with torch.no_grad():
        probe.weight.copy_(0.01 * torch.randn(probe.weight.shape, generator=generator))
        probe.bias.zero_()
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(z_train), train.labels).backward()
        optimizer.step()
    with torch.no_grad():
        return (probe(z_test).argmax(1) == test.labels).float().mean().item()


def test_linear_probe_equals_the_autograd_probe(toy):
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = minidgl.build_model(toy)
        for m in toy.modalities:
            assert diagnostics.linear_probe(model, m, toy.train, toy.test) == autograd_probe(model, m, toy.train,
                                                                                             toy.test)
