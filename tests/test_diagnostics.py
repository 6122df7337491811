import math

import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import diagnostics


def _random_logits(n, classes, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    f1 = scale * torch.randn(n, classes, generator=g, dtype=torch.float64)
    u = scale * torch.randn(n, classes, generator=g, dtype=torch.float64)
    return f1, u, torch.randint(0, classes, (n,), generator=g)


def _true_class_prob(logits, labels):
    return logits.softmax(1).gather(1, labels[:, None]).squeeze(1)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_feature_gradient_is_the_head_block_transposed_times_the_error_signal(digits, fusion):
    """dL_mm/dz_a = W_a^T (p - e_y) and dL_a/dz_a = W_a^T (q - e_y), row by row, for concat and sum fusion."""
    model = minidgl.build_model(digits, fusion=fusion)
    inputs, labels = next(digits.train.batches(9))
    fused, unimodal = diagnostics.per_sample_feature_gradients(model, inputs, labels, "audio")
    out = model(inputs)
    block = diagnostics.head_block(model.fusion, "audio")
    assert block.shape == (10, 64)
    torch.testing.assert_close(fused.double(), diagnostics.feature_gradient(out.fused_logits, labels, block))
    torch.testing.assert_close(unimodal.double(),
                               diagnostics.feature_gradient(out.unimodal_logits["audio"], labels, block))


def test_per_sample_feature_gradients_are_each_samples_own_gradient(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(6))
    fused, unimodal = diagnostics.per_sample_feature_gradients(model, inputs, labels, "visual")
    assert fused.shape == unimodal.shape == (6, 64)
    for i in (0, 3, 5):
        one = {m: x[i:i + 1] for m, x in inputs.items()}
        out = model(one)
        z = out.features["visual"]
        alone, = torch.autograd.grad(F.cross_entropy(out.fused_logits, labels[i:i + 1]), z, retain_graph=True)
        own, = torch.autograd.grad(F.cross_entropy(out.unimodal_logits["visual"], labels[i:i + 1]), z)
        torch.testing.assert_close(fused[i:i + 1], alone)
        torch.testing.assert_close(unimodal[i:i + 1], own)
    assert all(p.grad is None for p in model.parameters())


def test_head_block_is_the_weight_slice_of_the_modality():
    fusion = minidgl.models.build_fusion("concat", {"a": 2, "b": 3}, 4)
    torch.testing.assert_close(diagnostics.head_block(fusion, "b"), fusion.fc_out.weight[:, 2:])
    z = {"a": torch.randn(5, 2), "b": torch.randn(5, 3)}
    out = minidgl.Output(fusion(z), {m: fusion(z, alone=m) for m in z}, z)
    torch.testing.assert_close(diagnostics.other_modality_logits(out, "a"),
                               (z["b"] @ diagnostics.head_block(fusion, "b").T).double(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="only concat and sum"):
        diagnostics.head_block(minidgl.models.build_fusion("gated:a", {"a": 2, "b": 3}, 4), "a")


def test_sum_fusion_other_modality_logits_keep_the_other_bias():
    fusion = minidgl.models.build_fusion("sum", {"a": 2, "b": 3}, 4)
    z = {"a": torch.randn(5, 2), "b": torch.randn(5, 3)}
    out = minidgl.Output(fusion(z), {m: fusion(z, alone=m) for m in z}, z)
    torch.testing.assert_close(diagnostics.other_modality_logits(out, "a"), fusion.fc["b"](z["b"]).double(),
                               rtol=1e-5, atol=1e-6)


def test_true_class_error_stays_exact_when_p_y_rounds_to_one():
    logits, labels = torch.tensor([[50.0, 0.0, 0.0]]), torch.tensor([0])
    assert 1 - _true_class_prob(logits.double(), labels).item() == 0
    expected = 2 * math.exp(-50) / (1 + 2 * math.exp(-50))
    assert diagnostics.true_class_error(logits, labels).item() == pytest.approx(expected, rel=1e-12)
    torch.testing.assert_close(diagnostics.error_signal(logits, labels),
                               torch.tensor([[-expected, expected / 2, expected / 2]], dtype=torch.float64))


def test_attenuation_factor_is_the_ratio_of_true_class_errors(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(16))
    out = model(inputs)
    p_y = _true_class_prob(out.fused_logits.double(), labels)
    q_y = _true_class_prob(out.unimodal_logits["visual"].double(), labels)
    torch.testing.assert_close(diagnostics.attenuation_factors(out, labels, "visual"), (1 - p_y) / (1 - q_y))


def test_exact_condition_is_p_y_at_least_q_y_on_random_logits():
    f1, u, labels = _random_logits(50_000, 10, seed=0)
    holds = _true_class_prob(f1 + u, labels) >= _true_class_prob(f1, labels)
    assert 0.2 < holds.double().mean() < 0.8
    assert torch.equal(diagnostics.attenuation_condition(f1, u, labels), holds)
    assert torch.equal(diagnostics.fused_at_least_as_sure(f1 + u, f1, labels), holds)


def test_exact_condition_does_not_overflow():
    f1, u, labels = _random_logits(2_000, 10, seed=1)
    big_u = 300 * u
    expected = diagnostics.fused_at_least_as_sure(f1 + big_u, f1, labels)
    assert torch.equal(diagnostics.attenuation_condition(f1.float(), big_u.float(), labels), expected)


def test_sufficient_condition_implies_the_exact_one():
    f1, u, labels = _random_logits(50_000, 10, seed=2)
    right = diagnostics.other_modality_right(u, labels)
    assert 0.05 < right.double().mean() < 0.2
    assert diagnostics.attenuation_condition(f1, u, labels)[right].all()


def test_attenuation_is_at_most_one_when_the_other_modality_is_right():
    """Construct features where visual alone ranks the true class first: audio's factor must be <= 1."""
    fusion = minidgl.models.build_fusion("concat", {"audio": 3, "visual": 3}, 3)
    with torch.no_grad():
        fusion.fc_out.weight.copy_(torch.eye(3).repeat(1, 2))
        fusion.fc_out.bias.zero_()
    g = torch.Generator().manual_seed(0)
    z = {"audio": torch.randn(500, 3, generator=g), "visual": 3 * torch.randn(500, 3, generator=g)}
    labels = z["visual"].argmax(1)
    out = minidgl.Output(fusion(z), {m: fusion(z, alone=m) for m in z}, z)
    assert diagnostics.attenuation_factors(out, labels, "audio").max() <= 1 + 1e-6


def test_attenuation_factor_exceeds_one_where_the_condition_fails():
    f1, u, labels = _random_logits(5_000, 10, seed=3)
    out = minidgl.Output(f1 + u, {"a": f1}, {})
    factors = diagnostics.attenuation_factors(out, labels, "a")
    fails = ~diagnostics.attenuation_condition(f1, u, labels)
    assert fails.any() and (factors[fails] > 1).all() and (factors[~fails] <= 1).all()


def test_counterexample_fused_error_smaller_but_fused_feature_gradient_larger():
    """K = 3, q = (0.1, 0.89, 0.01), u = (3, 0, 2.9), W_1 rows (0, 0, 10) on a 1-d feature, y = 0 (book/theory.md)."""
    f1 = torch.tensor([[0.1, 0.89, 0.01]], dtype=torch.float64).log()
    u = torch.tensor([[3.0, 0.0, 2.9]], dtype=torch.float64)
    W1, y = torch.tensor([[0.0], [0.0], [10.0]]), torch.tensor([0])
    assert diagnostics.attenuation_condition(f1, u, y).item() and diagnostics.other_modality_right(u, y).item()
    assert round(diagnostics.true_class_error(f1 + u, y).item(), 2) == 0.35
    assert round(diagnostics.true_class_error(f1, y).item(), 2) == 0.90
    assert round(diagnostics.feature_gradient(f1 + u, y, W1).norm().item(), 2) == 0.59
    assert round(diagnostics.feature_gradient(f1, y, W1).norm().item(), 2) == 0.10


def test_feature_gradient_bound_holds_and_is_attained():
    f1, u, labels = _random_logits(20_000, 10, seed=4)
    W1 = torch.randn(10, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    norms = diagnostics.feature_gradient(f1 + u, labels, W1).norm(dim=1)
    bound = diagnostics.feature_gradient_bound(f1 + u, labels, W1)
    assert (norms <= bound).all() and (norms > 0.3 * bound).any()
    opposite, y = torch.tensor([[-1.0], [1.0]]), torch.tensor([0])
    logits = torch.tensor([[0.4, -0.2]])
    torch.testing.assert_close(diagnostics.feature_gradient(logits, y, opposite).norm(dim=1),
                               diagnostics.feature_gradient_bound(logits, y, opposite))


def test_softmax_inequality_check_counts_violations_and_larger_fused_gradients():
    check = diagnostics.softmax_inequality_check(draws=20_000)
    assert check["draws"] == 20_000 and check["violations"] == 0 and check["bound_violations"] == 0
    assert 0.2 < check["fused_gradient_larger"] < 0.26


def test_attenuation_measurements_and_summary(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(64))
    measured = diagnostics.attenuation_measurements(model, inputs, labels, "visual")
    assert all(v.shape == (64,) for v in measured.values())
    out = model(inputs)
    torch.testing.assert_close(10 ** measured["log10_factor"], diagnostics.attenuation_factors(out, labels, "visual"))
    summary = diagnostics.attenuation_summary(measured)
    assert summary["exact condition agrees"] == 1.0 and summary["bound holds"] == 1.0
    assert summary["argmax u = y but p_y < q_y"] == 0
    assert all(0 <= summary[k] <= 1 for k in ("p_y >= q_y", "argmax u = y", "fused feature gradient larger"))
    assert summary["median factor"] == pytest.approx(float(10 ** measured["log10_factor"].median()))


def test_loss_gradient_norms_are_the_norms_of_loss_gradients(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(32))
    g_fused, g_uni = diagnostics.loss_gradients(model, inputs, labels, "audio")
    norms = diagnostics.loss_gradient_norms(model, inputs, labels, "audio")
    assert norms == {"fused": pytest.approx(g_fused.norm().item()), "unimodal": pytest.approx(g_uni.norm().item())}


def test_gradient_cosine_matches_a_manual_computation(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(32))
    g_fused, g_uni = diagnostics.loss_gradients(model, inputs, labels, "audio")
    assert g_fused.shape == g_uni.shape == (sum(p.numel() for p in model.encoders["audio"].parameters()),)
    manual = torch.dot(g_fused, g_uni) / (g_fused.norm() * g_uni.norm())
    torch.testing.assert_close(diagnostics.gradient_cosine(model, inputs, labels, "audio"), manual)
    assert all(p.grad is None for p in model.parameters())


def test_encoder_grad_norms_after_backward(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(8))
    F.cross_entropy(model(inputs).unimodal_logits["visual"], labels).backward()
    norms = minidgl.train.encoder_grad_norms(model)
    assert norms["audio"] == 0 and norms["visual"] > 0


def test_linear_probe_reads_class_information(toy):
    model = minidgl.build_model(toy)
    trained = minidgl.build_model(toy)
    minidgl.fit(trained, toy, "unimodal:a", epochs=8, progress=False)
    assert diagnostics.linear_probe(trained, "a", toy.train, toy.test) > 0.85
    assert diagnostics.linear_probe(trained, "a", toy.train, toy.test) == \
        diagnostics.linear_probe(trained, "a", toy.train, toy.test)
    assert 0 <= diagnostics.linear_probe(model, "b", toy.train, toy.test) <= 1


def test_attenuation_measurements_per_encoder_match_one_encoder_at_a_time(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(48))
    together = diagnostics.attenuation_measurements_per_encoder(model, inputs, labels)
    assert set(together) == {"audio", "visual"}
    for m, measured in together.items():
        alone = diagnostics.attenuation_measurements(model, inputs, labels, m)
        assert measured.keys() == alone.keys()
        for key, value in alone.items():
            torch.testing.assert_close(measured[key], value, msg=f"{m} {key}")


def test_attenuation_summary_counts_right_predictions_and_conditional_medians():
    measured = {
        "fused_at_least_as_sure": torch.tensor([True, True, False, True]),
        "exact_condition": torch.tensor([True, True, False, True]),
        "sufficient_condition": torch.tensor([True, True, False, False]),
        "fused_gradient": torch.tensor([1.0, 1.0, 3.0, 1.0], dtype=torch.float64),
        "unimodal_gradient": torch.tensor([2.0, 2.0, 2.0, 2.0], dtype=torch.float64),
        "bound": torch.tensor([4.0, 4.0, 4.0, 4.0], dtype=torch.float64),
        "log10_factor": torch.tensor([-3.0, -1.0, 0.5, -0.2], dtype=torch.float64),
        "fused_error": torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64),
        "unimodal_error": torch.tensor([0.5, 0.6, 0.7, 0.8], dtype=torch.float64),
        "fused_correct": torch.tensor([True, True, True, False]),
        "unimodal_correct": torch.tensor([True, False, False, False]),
    }
    summary = diagnostics.attenuation_summary(measured)
    assert summary["fused right"] == 0.75 and summary["head right"] == 0.25
    assert summary["fused feature gradient larger"] == 0.25 and summary["argmax u = y"] == 0.5
    assert summary["argmax u = y but p_y < q_y"] == 0
    # torch's median of an even count is the lower middle value
    assert summary["median factor | argmax u = y"] == pytest.approx(10 ** -3.0)
    assert summary["median factor | argmax u != y"] == pytest.approx(10 ** -0.2)
    assert summary["median 1 - p_y"] == pytest.approx(0.2) and summary["median 1 - q_y"] == pytest.approx(0.6)
    measured["sufficient_condition"] = torch.ones(4, dtype=torch.bool)
    assert math.isnan(diagnostics.attenuation_summary(measured)["median factor | argmax u != y"])


def test_encoder_loss_gradient_norms_match_one_encoder_at_a_time(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(32))
    norms = diagnostics.encoder_loss_gradient_norms(model, inputs, labels)
    for m in ("audio", "visual"):
        expected = diagnostics.loss_gradient_norms(model, inputs, labels, m)
        assert norms[m] == {k: pytest.approx(v, rel=1e-5) for k, v in expected.items()}
    assert all(p.grad is None for p in model.parameters())
