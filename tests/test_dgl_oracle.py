"""DGL's one-backward routing against an independent re-implementation of the authors' two-backward step.

The oracle follows shicaiwei123/ICCV2025-GDL main_dgl.py: the fused logits are computed
from detached features, `(alpha * sum_m L_m).backward(retain_graph=True)`, the fusion module's gradients are
wiped, then `L_mm.backward()`. Each fusion's logits are written out here with plain tensor algebra on the
model's parameters, the way the authors' fusion modules compute them, not through minidgl's fusion classes.
"""
import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import reference
from tiny import make_batch, make_model





def authors_logits(model, z, fusion, detached):
    """Fused logits from `detached` features and unimodal logits from live ones, as the authors' modules do."""
    f, names = model.fusion, list(z)
    if fusion == "concat":
        W, b = f.fc_out.weight, f.fc_out.bias
        fused = F.linear(torch.cat([detached[m] for m in names], 1), W, b)
        uni = {m: F.linear(torch.cat([z[k] if k == m else torch.zeros_like(z[k]) for k in names], 1), W, b)
               for m in names}
    elif fusion == "sum":
        fused = sum(F.linear(detached[m], f.fc[m].weight, f.fc[m].bias) for m in names)
        uni = {m: F.linear(z[m], f.fc[m].weight, f.fc[m].bias) for m in names}
    elif fusion.startswith("gated:"):
        x = fusion.split(":")[1]
        y = next(m for m in names if m != x)
        proj = {m: (lambda t, m=m: F.linear(t, f.fc[m].weight, f.fc[m].bias)) for m in names}
        out = lambda h: F.linear(h, f.fc_out.weight, f.fc_out.bias)
        fused = out(torch.sigmoid(proj[x](detached[x])) * proj[y](detached[y]))
        uni = {m: out(torch.sigmoid(proj[m](z[m])) * proj[m](z[m])) for m in names}
    elif fusion == "bilinear":
        x, y = names
        head = lambda a, b: F.linear(F.linear((a[:, :, None] * b[:, None, :]).flatten(1), f.fc.weight, f.fc.bias),
                                     f.fc_out.weight, f.fc_out.bias)
        fused = head(detached[x], detached[y])
        uni = {m: head(z[m], z[m]) for m in names}
    return fused, uni


def authors_two_pass_grads(model, inputs, labels, alpha, fusion):
    """The authors' two-pass step (`minidgl.reference`) with this file's tensor-algebra logits; for attention,
    whose logits take more than a line of algebra, through the fusion module itself (the step is still the
    authors' two backward passes, so the routing is checked)."""
    if fusion == "attention":
        return reference.authors_two_pass_gradients(model, inputs, labels, alpha)
    logits = lambda model, z, detached: authors_logits(model, z, fusion, detached)
    return reference.authors_two_pass_gradients(model, inputs, labels, alpha, logits=logits)


def minidgl_grads(model, inputs, labels, method):
    return reference.method_gradients(model, method, inputs, labels)[0]


def assert_same_grads(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        a, e = actual[name], expected[name]
        assert (a is None) == (e is None), f"{name}: one side has no gradient"
        if e is not None:
            torch.testing.assert_close(a, e, atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")


CASES = [("concat", ["audio", "visual"]), ("sum", ["audio", "visual"]), ("gated:audio", ["audio", "visual"]), ("gated:visual", ["audio", "visual"]),
         ("bilinear", ["audio", "visual"]), ("concat", ["audio", "visual", "text"]),
         ("sum", ["audio", "visual", "text"]), ("attention", ["audio", "visual"]),
         ("attention", ["audio", "visual", "text"])]


@pytest.mark.parametrize("fusion,modalities", CASES)
@pytest.mark.parametrize("alpha", [1.0, 4.0])
def test_one_backward_equals_authors_two_backward(fusion, modalities, alpha):
    model = make_model(modalities, fusion)
    inputs, labels = make_batch(modalities)
    expected = authors_two_pass_grads(model, inputs, labels, alpha, fusion)
    actual = minidgl_grads(model, inputs, labels, minidgl.DGL(alpha))
    assert_same_grads(actual, expected)
    assert all(g is not None for g in actual.values()), "under DGL every parameter learns from some loss"


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated:audio", "film:visual", "film:audio", "bilinear",
                                    "attention"])
def test_dgl_encoders_get_nothing_from_the_multimodal_loss(fusion):
    model = make_model(["audio", "visual"], fusion)
    inputs, labels = make_batch(["audio", "visual"])
    out = model(inputs, minidgl.dgl_routing(2.0))
    F.cross_entropy(out.fused_logits, labels).backward()
    for m, encoder in model.encoders.items():
        assert all(p.grad is None for p in encoder.parameters()), f"encoder {m} got a gradient from L_mm"
    assert all(p.grad is not None for p in model.fusion.parameters())


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated:audio", "film:visual", "film:audio", "bilinear",
                                    "attention"])
def test_dgl_fusion_gets_nothing_from_the_unimodal_losses(fusion):
    model = make_model(["audio", "visual"], fusion)
    inputs, labels = make_batch(["audio", "visual"])
    out = model(inputs, minidgl.dgl_routing(2.0))
    sum(F.cross_entropy(z, labels) for z in out.unimodal_logits.values()).backward()
    assert all(p.grad is None for p in model.fusion.parameters()), "the fusion got a gradient from L_uni"
    for m, encoder in model.encoders.items():
        assert all(p.grad is not None for p in encoder.parameters()), f"encoder {m} got no unimodal gradient"


def test_joint_and_uniform_are_plain_autograd_of_their_losses():
    modalities = ["audio", "visual"]
    model = make_model(modalities, "concat")
    inputs, labels = make_batch(modalities)
    for method, alpha in [("joint", 0.0), ("uniform", 1.0)]:
        model.zero_grad(set_to_none=True)
        z = {m: model.encoders[m](inputs[m]) for m in modalities}
        W, b = model.fusion.fc_out.weight, model.fusion.fc_out.bias
        loss = F.cross_entropy(F.linear(torch.cat([z["audio"], z["visual"]], 1), W, b), labels)
        loss = loss + alpha * (F.cross_entropy(F.linear(torch.cat([z["audio"], 0 * z["visual"]], 1), W, b), labels)
                               + F.cross_entropy(F.linear(torch.cat([0 * z["audio"], z["visual"]], 1), W, b), labels))
        loss.backward()
        expected = {n: p.grad.clone() for n, p in model.named_parameters()}
        assert_same_grads(minidgl_grads(model, inputs, labels, method), expected)


def test_unimodal_training_touches_only_its_encoder():
    model = make_model(["audio", "visual"], "concat")
    inputs, labels = make_batch(["audio", "visual"])
    grads = minidgl_grads(model, inputs, labels, "unimodal:audio")
    assert all(g is None for n, g in grads.items() if n.startswith("encoders.visual"))
    assert all(g is not None for n, g in grads.items() if n.startswith("encoders.audio"))
    W = model.fusion.fc_out.weight
    z = model.encoders["audio"](inputs["audio"])
    model.zero_grad(set_to_none=True)
    F.cross_entropy(F.linear(z, W[:, :8], model.fusion.fc_out.bias), labels).backward()
    torch.testing.assert_close(grads["encoders.audio.net.1.weight"], model.encoders["audio"].net[1].weight.grad)
