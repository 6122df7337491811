"""OGM-GE: scores, ratios and coefficients by hand and against the authors' loop; gradients are k x joint."""
import math

import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import reference
from minidgl.models import MultimodalNet, SmallCNNEncoder, build_fusion
from minidgl.reference import authors_ogm_coefficients
from tiny import make_batch, make_model





def joint_grads(model, inputs, labels):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(inputs).fused_logits, labels).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def method_grads(model, inputs, labels, method, epoch=0):
    """`(gradients, stats)` of one training step of `method`: `{name: tensor}` and `{stat: {modality: float}}`."""
    grads, step = reference.method_gradients(model, method, inputs, labels, epoch)
    return grads, {name: {m: float(v) for m, v in values.items()} for name, values in step.stats.items()}


def test_coefficients_by_hand():
    method = minidgl.OGMGE(strength=0.8)
    rho, k = method.coefficients({"audio": torch.tensor(3.0), "visual": torch.tensor(1.5)})
    assert float(rho["audio"]) == pytest.approx(2.0) and float(rho["visual"]) == pytest.approx(0.5)
    assert float(k["audio"]) == pytest.approx(1 - math.tanh(1.6)) == pytest.approx(0.0783, abs=1e-4)
    assert float(k["visual"]) == 1.0


def test_three_modalities_average_the_pairwise_one_to_other_ratios():
    """The maintainers' suggestion (OGM-GE#16): rho_m = mean over j != m of s_m / s_j."""
    method = minidgl.OGMGE(strength=0.1)
    rho, k = method.coefficients({"a": torch.tensor(6.0), "b": torch.tensor(2.0), "c": torch.tensor(3.0)})
    assert float(rho["a"]) == pytest.approx((6 / 2 + 6 / 3) / 2)
    assert float(rho["b"]) == pytest.approx((2 / 6 + 2 / 3) / 2)
    assert float(rho["c"]) == pytest.approx((3 / 6 + 3 / 2) / 2) == 1.0
    assert float(k["a"]) == pytest.approx(1 - math.tanh(0.25))
    assert float(k["b"]) == 1.0 and float(k["c"]) == 1.0, "rho = 1 is not > 1: no damping"


def test_two_modalities_are_the_authors_ratio_bit_for_bit_as_before():
    scores = {"audio": torch.tensor(0.7310586), "visual": torch.tensor(13.377)}
    rho, _ = minidgl.OGMGE().coefficients(scores)
    total = scores["audio"] + scores["visual"]
    assert torch.equal(rho["audio"], scores["audio"] / (total - scores["audio"]))
    assert torch.equal(rho["visual"], scores["visual"] / (total - scores["visual"]))
    assert float(rho["visual"]) == pytest.approx(13.377 / 0.7310586, rel=1e-6)


def test_concat_scores_use_half_the_bias_as_the_authors():
    modalities = ["audio", "visual"]
    model = make_model(modalities)
    with torch.no_grad():
        model.fusion.fc_out.bias.copy_(torch.linspace(-2, 2, 5))
    inputs, labels = make_batch(modalities, scale={"visual": 5.0})
    with torch.no_grad():
        out = model(inputs)
    W, b = model.fusion.fc_out.weight.detach(), model.fusion.fc_out.bias.detach()
    out_a = out.features["audio"] @ W[:, :8].T + b / 2
    out_v = out.features["visual"] @ W[:, 8:].T + b / 2
    coeff_a, coeff_v, ratio_v = authors_ogm_coefficients(out_a, out_v, labels, alpha=0.8)
    method = minidgl.OGMGE(strength=0.8)
    rho, k = method.coefficients(method.unimodal_scores(model, out, labels))
    assert float(rho["visual"]) == pytest.approx(ratio_v, rel=1e-5)
    assert float(rho["audio"]) == pytest.approx(1 / ratio_v, rel=1e-5)
    assert (float(k["audio"]), float(k["visual"])) == pytest.approx((coeff_a, coeff_v), rel=1e-5)
    assert min(coeff_a, coeff_v) < 1, "this batch should damp one modality"


def test_other_fusions_score_with_their_unimodal_logits():
    model = make_model(["audio", "visual"], fusion="sum")
    inputs, labels = make_batch(["audio", "visual"])
    with torch.no_grad():
        out = model(inputs)
    scores = minidgl.OGMGE().unimodal_scores(model, out, labels)
    for m, logits in out.unimodal_logits.items():
        expected = logits.softmax(1)[torch.arange(len(labels)), labels].sum()
        assert float(scores[m]) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("modalities", [["audio", "visual"], ["audio", "visual", "text"]])
def test_ogm_gradients_are_k_times_joint(modalities):
    model = make_model(modalities)
    inputs, labels = make_batch(modalities, scale={"visual": 5.0})
    expected = joint_grads(model, inputs, labels)
    method = minidgl.get_method("ogm")
    actual = method_grads(model, inputs, labels, method)[0]
    k = method.coefficients(method.unimodal_scores(model, model(inputs), labels))[1]
    assert any(float(v) < 1 for v in k.values()), "this batch should damp a modality"
    for name, grad in expected.items():
        modality = name.split(".")[1] if name.startswith("encoders.") else None
        factor = float(k[modality]) if modality and grad.ndim >= 2 else 1.0
        torch.testing.assert_close(actual[name], factor * grad, msg=lambda m: f"{name}: {m}")


def test_min_ndim_4_modulates_only_conv_weights():
    torch.manual_seed(0)
    shapes = {"audio": (1, 6, 6), "visual": (2, 6, 6)}
    encoders = {m: SmallCNNEncoder(s, out_dim=8, width=4) for m, s in shapes.items()}
    model = MultimodalNet(encoders, build_fusion("concat", {m: 8 for m in shapes}, 5), shapes)
    g = torch.Generator().manual_seed(1)
    inputs = {m: torch.randn(8, *s, generator=g) * (4.0 if m == "visual" else 1.0) for m, s in shapes.items()}
    labels = torch.randint(0, 5, (8,), generator=g)
    model.eval()
    expected = joint_grads(model, inputs, labels)
    method = minidgl.OGM(min_ndim=4)
    actual, stats = method_grads(model, inputs, labels, method)
    assert min(stats["k"]["audio"], stats["k"]["visual"]) < 1, "this batch should damp a modality"
    for name, grad in expected.items():
        if name.startswith("encoders.") and grad.ndim == 4:
            factor = stats["k"][name.split('.')[1]]
        else:
            factor = 1.0
        torch.testing.assert_close(actual[name], factor * grad, msg=lambda m: f"{name}: {m}")


def test_noise_only_inside_the_epoch_window():
    modalities = ["audio", "visual"]
    model = make_model(modalities)
    inputs, labels = make_batch(modalities, scale={"visual": 5.0})
    expected = joint_grads(model, inputs, labels)
    method = minidgl.OGMGE(start=2, end=3)
    for epoch in (0, 1, 4):
        actual = method_grads(model, inputs, labels, method, epoch)[0]
        for name, grad in expected.items():
            torch.testing.assert_close(actual[name], grad, msg=lambda m: f"epoch {epoch}, {name}: {m}")
    torch.manual_seed(0)
    actual, stats = method_grads(model, inputs, labels, method, epoch=2)
    k = stats["k"]
    for name, grad in expected.items():
        if not name.startswith("encoders."):
            torch.testing.assert_close(actual[name], grad)
        elif grad.ndim == 1:
            torch.testing.assert_close(actual[name], grad, msg=lambda m: f"{name}: biases are not modulated")
        else:
            noise = actual[name] - k[name.split('.')[1]] * grad
            assert noise.abs().max() > 0, f"{name}: no noise inside the window"
            assert 0.5 < float(noise.std() / grad.std()) < 1.5, f"{name}: noise std should be about std(grad)"


def test_each_step_reports_its_statistics_and_keeps_no_state():
    """Everything a step needs comes in its arguments: an extra call in between changes nothing."""
    modalities = ["audio", "visual"]
    model = make_model(modalities)
    method = minidgl.OGM()
    inputs, labels = make_batch(modalities, seed=1, scale={"visual": 5.0})
    grads, stats = method_grads(model, inputs, labels, method)
    expected = method.coefficients(method.unimodal_scores(model, model(inputs), labels))
    assert set(stats) == {"rho", "k"} and set(stats["k"]) == set(modalities)
    assert stats["k"]["visual"] == pytest.approx(float(expected[1]["visual"]), rel=1e-6)
    other, other_labels = make_batch(modalities, seed=2)
    out = model(other, method.routing)
    method.losses(out, other_labels)
    again, _ = method_grads(model, inputs, labels, method)
    for name, grad in grads.items():
        torch.testing.assert_close(again[name], grad, rtol=0, atol=0)


def test_fit_by_name():
    data = minidgl.make_gaussian_toy(n=300, dim=8)
    model = minidgl.build_model(data, feature_dim=8)
    history = minidgl.fit(model, data, "ogm-ge", epochs=2, progress=False)
    assert len(history.method_stats["k"]["a"]) == 2 and all(0 < k <= 1 for k in history.method_stats["k"]["a"])


@pytest.mark.parametrize("options,match", [({"strength": -0.1}, "strength"), ({"start": 5, "end": 2}, "start"),
                                           ({"start": -1}, "start"), ({"min_ndim": 0}, "min_ndim")])
def test_bad_options_are_clear_errors(options, match):
    with pytest.raises(ValueError, match=match):
        minidgl.get_method("ogm-ge", **options)
