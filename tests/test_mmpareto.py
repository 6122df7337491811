"""MMPareto's two-backward step against an independent re-implementation of the authors' four-backward step."""
import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import reference
from minidgl.methods.mmpareto import pareto_weight
from minidgl.reference import authors_min_norm_2, authors_mmpareto_grads
from tiny import make_batch, make_model





def minidgl_grads(model, inputs, labels, method, with_stats=False):
    grads, step = reference.method_gradients(model, method, inputs, labels)
    return (grads, step.stats) if with_stats else grads


def assert_same_grads(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")


def conflicting_case(modalities):
    """A (model, batch) where audio's multimodal and unimodal gradients point apart (cos <= 0), by construction.

    Two samples with identical inputs but different labels y1, y2. The visual input is scaled up most, so the
    fused prediction is visual's favourite class, y1: sample 1 is right (no multimodal error), sample 2 is
    wrong (error e_y1 - e_y2). Audio alone (scaled up too) is confident in y2, so its unimodal error
    2q - e_y1 - e_y2 is close to e_y2 - e_y1, the opposite of the multimodal one.
    """
    model = make_model(modalities)
    inputs, _ = make_batch(modalities, n=1)
    inputs = {m: x.repeat(2, 1) * {"audio": 10.0, "visual": 100.0}.get(m, 1.0) for m, x in inputs.items()}
    with torch.no_grad():
        out = model(inputs)
    y1 = int(out.unimodal_logits["visual"][0].argmax())
    audio = out.unimodal_logits["audio"][0].clone()
    audio[y1] = -float("inf")
    labels = torch.tensor([y1, int(audio.argmax())])
    _, cos = authors_mmpareto_grads(model, inputs, labels)
    return model, inputs, labels, cos


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_equals_authors_four_backward_without_conflict(modalities):
    model = make_model(modalities)
    inputs, labels = make_batch(modalities)
    expected, cos = authors_mmpareto_grads(model, inputs, labels)
    assert all(c > 0 for c in cos.values()), f"this case is meant to take the equal-weight branch, cos={cos}"
    assert_same_grads(minidgl_grads(model, inputs, labels, minidgl.MMPareto()), expected)


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_equals_authors_four_backward_with_conflict(modalities):
    model, inputs, labels, cos = conflicting_case(modalities)
    assert cos["audio"] <= 0, f"the construction should make audio's gradients conflict, cos={cos}"
    method = minidgl.MMPareto()
    grads, stats = minidgl_grads(model, inputs, labels, method, with_stats=True)
    assert_same_grads(grads, authors_mmpareto_grads(model, inputs, labels)[0])
    assert float(stats["conflict"]["audio"]) == 1.0
    assert float(stats["cos"]["audio"]) == pytest.approx(cos["audio"], abs=1e-6)


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated:visual", "film:text", "bilinear", "attention"])
def test_unimodal_gradient_is_total_minus_multimodal_on_each_encoder(fusion):
    """g_m = grad(L_mm + sum L) - grad(L_mm) on encoder m: other modalities' unimodal losses never reach it."""
    modalities = ["audio", "visual", "text"]
    model = make_model(modalities, fusion)
    inputs, labels = make_batch(modalities)
    out = model(inputs, minidgl.UNIFORM)
    losses = minidgl.routed_loss(out, labels, minidgl.UNIFORM)
    for m in modalities:
        params = list(model.encoders[m].parameters())
        total = torch.autograd.grad(losses.total, params, retain_graph=True)
        mm = torch.autograd.grad(losses.fused, params, retain_graph=True)
        own = torch.autograd.grad(losses.unimodal[m], params, retain_graph=True)
        for t, g, o in zip(total, mm, own):
            torch.testing.assert_close(t - g, o, atol=1e-6, rtol=1e-5)
        for other in set(modalities) - {m}:
            grads = torch.autograd.grad(losses.unimodal[other], params, retain_graph=True, allow_unused=True)
            assert all(g is None or not g.any() for g in grads), f"L_{other} reaches encoder {m}"


def test_head_keeps_the_plain_summed_gradient():
    modalities = ["audio", "visual"]
    model = make_model(modalities)
    inputs, labels = make_batch(modalities)
    grads = minidgl_grads(model, inputs, labels, minidgl.MMPareto())
    model.zero_grad(set_to_none=True)
    out = model(inputs)
    (F.cross_entropy(out.fused_logits, labels) + sum(F.cross_entropy(z, labels) for z in out.unimodal_logits.values())
     ).backward()
    for name, p in model.fusion.named_parameters():
        torch.testing.assert_close(grads[f"fusion.{name}"], p.grad)


@pytest.mark.parametrize("g_mm,g_uni", [
    ([1.0, 0.0], [-1.0, 1.0]),       # conflict: the min-norm point, a1 = 3/5
    ([2.0, 1.0], [-1.0, 3.0]),       # orthogonal (cos = 0): the min-norm branch too
    ([0.0, 0.0], [-1.0, 1.0]),       # corner <g1, g2> >= |g1|^2: a1 = 0.999
    ([1.0, -2.0], [0.0, 0.0]),       # corner <g1, g2> >= |g2|^2: a1 = 0.001
    ([1.0, 2.0], [2.0, 1.0]),        # agreement: equal weights
])
def test_pareto_weight_matches_the_authors_solver(g_mm, g_uni):
    g1, g2 = torch.tensor(g_mm), torch.tensor(g_uni)
    a1, cos = pareto_weight(g1, g2)
    expected = 0.5 if F.cosine_similarity(g1, g2, dim=0) > 0 else authors_min_norm_2([g1], [g2])[0]
    assert float(a1) == pytest.approx(expected, rel=1e-6)
    if g_mm == [1.0, 0.0]:
        assert float(a1) == pytest.approx(0.6)


def test_fit_by_name_records_cosines():
    data = minidgl.make_gaussian_toy(n=300, dim=8)
    model = minidgl.build_model(data, feature_dim=8)
    history = minidgl.fit(model, data, "mmpareto", epochs=2, progress=False)
    for m in data.modalities:
        assert len(history.method_stats["cos"][m]) == 2
        assert all(-1 <= c <= 1 for c in history.method_stats["cos"][m])


def test_bad_gamma_is_a_clear_error():
    with pytest.raises(ValueError, match="gamma"):
        minidgl.get_method("mmpareto", gamma=0)
