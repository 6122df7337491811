"""DGL with every fusion, two and three modalities: minidgl's one backward against the authors' two backwards.

The oracle step is written out here, after shicaiwei123/ICCV2025-GDL `main_dgl.py`: fused logits from detached
features, unimodal logits from live ones through the same fusion, `(alpha * sum_m L_m).backward(retain_graph=True)`,
the fusion's gradients wiped, then `L_mm.backward()`. Each fusion's logits are plain tensor algebra on the model's
parameters, following the N-modal forms that `minidgl/models/fusion.py` documents (for attention, whose logits
take more than a line of algebra, `torch.func.functional_call` on the fusion module). minidgl's side is one
training step of `minidgl.DGL`.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import minidgl
from minidgl import reference
from tiny import make_batch, make_model

TWO, THREE = ["audio", "visual"], ["audio", "visual", "text"]
FUSIONS = ["concat", "sum", "gated:audio", "gated:visual", "film:audio", "film:visual", "bilinear", "attention"]
ALPHA = 3.0


def linear(layer, x):
    return F.linear(x, layer.weight, layer.bias)


def fused_logits(fusion_name, f, z):
    """The fused logits `(batch, classes)` of features `z` `{m: (batch, 8)}`, by plain tensor algebra."""
    kind, _, named = fusion_name.partition(":")
    names = list(z)
    others = [m for m in names if m != named]
    if kind == "concat":
        return linear(f.fc_out, torch.cat([z[m] for m in names], 1))
    if kind == "sum":
        return sum(linear(f.fc[m], z[m]) for m in names)
    if kind == "gated":
        gate = torch.sigmoid(linear(f.fc[named], z[named]))
        return linear(f.fc_out, sum(gate * linear(f.fc[m], z[m]) for m in others))
    if kind == "film":
        gamma, beta = linear(f.film, z[named]).chunk(2, dim=1)
        return linear(f.fc_out, gamma * torch.cat([z[m] for m in others], 1) + beta)
    if kind == "bilinear":
        outer = sum(z[a][:, :, None] * z[b][:, None, :] for a, b in itertools.combinations(names, 2))
        return linear(f.fc_out, linear(f.fc, outer.flatten(1)))
    raise AssertionError(f"no algebra for {fusion_name}")


def unimodal_logits(fusion_name, f, z, m):
    """Modality m's unimodal logits: the authors' own-projection forms for sum, gated and bilinear fusion, the
    other modalities zeroed for concat and FiLM."""
    kind = fusion_name.partition(":")[0]
    if kind == "sum":
        return linear(f.fc[m], z[m])
    if kind == "gated":
        h = linear(f.fc[m], z[m])
        return linear(f.fc_out, torch.sigmoid(h) * h)
    if kind == "bilinear":
        return linear(f.fc_out, linear(f.fc, (z[m][:, :, None] * z[m][:, None, :]).flatten(1)))
    return fused_logits(fusion_name, f, {k: v if k == m else torch.zeros_like(v) for k, v in z.items()})


def authors_two_backward(model, inputs, labels, fusion_name):
    """Every parameter's gradient `{name: tensor or None}` after the authors' two-backward DGL step."""
    model.zero_grad(set_to_none=True)
    z = {m: model.encoders[m](inputs[m]) for m in model.modalities}
    detached = {m: t.detach() for m, t in z.items()}
    if fusion_name == "attention":
        params = dict(model.fusion.named_parameters())
        fused = functional_call(model.fusion, params, (detached,))
        uni = {m: functional_call(model.fusion, params, (z,), {"alone": m}) for m in z}
    else:
        fused = fused_logits(fusion_name, model.fusion, detached)
        uni = {m: unimodal_logits(fusion_name, model.fusion, z, m) for m in z}
    (ALPHA * sum(F.cross_entropy(u, labels) for u in uni.values())).backward(retain_graph=True)
    for p in model.fusion.parameters():
        p.grad = None
    F.cross_entropy(fused, labels).backward()
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("modalities", [TWO, THREE], ids=["2", "3"])
def test_one_backward_equals_the_authors_two_backwards(fusion, modalities):
    model = make_model(modalities, fusion)
    inputs, labels = make_batch(modalities, scale={"visual": 3.0})
    expected = authors_two_backward(model, inputs, labels, fusion)
    actual = reference.method_gradients(model, minidgl.DGL(ALPHA), inputs, labels)[0]
    assert actual.keys() == expected.keys()
    for name, e in expected.items():
        assert (actual[name] is None) == (e is None), f"{name}: one side has no gradient"
        if e is not None:
            torch.testing.assert_close(actual[name], e, atol=1e-6, rtol=1e-5, msg=lambda msg: f"{name}: {msg}")
    assert all(g is not None for g in actual.values()), "under DGL every parameter learns from some loss"


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("modalities", [TWO, THREE], ids=["2", "3"])
def test_the_losses_reach_only_their_own_parameters(fusion, modalities):
    """Separate `autograd.grad` calls: L_mm reaches no encoder and every fusion parameter; each L_m reaches
    encoder m only and no fusion parameter."""
    model = make_model(modalities, fusion)
    inputs, labels = make_batch(modalities)
    out = model(inputs, minidgl.dgl_routing(ALPHA))
    fusion_params = list(model.fusion.parameters())
    encoder_params = {m: list(e.parameters()) for m, e in model.encoders.items()}
    every_encoder = [p for ps in encoder_params.values() for p in ps]

    def grads(loss, params):
        return torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)

    fused = F.cross_entropy(out.fused_logits, labels)
    assert all(g is None or not g.any() for g in grads(fused, every_encoder)), "an encoder got a gradient from L_mm"
    assert all(g is not None and g.any() for g in grads(fused, fusion_params)), "L_mm misses a fusion parameter"
    for m, logits in out.unimodal_logits.items():
        loss = F.cross_entropy(logits, labels)
        assert all(g is None or not g.any() for g in grads(loss, fusion_params)), f"L_{m} reached the fusion"
        for k, params in encoder_params.items():
            reached = [g is not None and bool(g.any()) for g in grads(loss, params)]
            assert any(reached) if k == m else not any(reached), f"L_{m} and encoder {k}"
