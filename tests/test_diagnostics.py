import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import diagnostics


def test_encoder_gradient_is_the_head_transposed_times_the_error_signal(digits):
    """dL_mm/dz_a = W_a^T (p - e_y) and dL_a/dz_a = W_a^T (q - e_y) for concat fusion (ALGORITHMS.md 1.3)."""
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(9))
    out = model(inputs)
    z = out.features["audio"]
    g_fused, = torch.autograd.grad(F.cross_entropy(out.fused_logits, labels, reduction="sum"), z, retain_graph=True)
    g_uni, = torch.autograd.grad(F.cross_entropy(out.unimodal_logits["audio"], labels, reduction="sum"), z)
    W_a = model.fusion.fc_out.weight[:, :64]
    e_y = F.one_hot(labels, 10).float()
    torch.testing.assert_close(g_fused, (out.fused_logits.softmax(1) - e_y) @ W_a)
    torch.testing.assert_close(g_uni, (out.unimodal_logits["audio"].softmax(1) - e_y) @ W_a)


def test_attenuation_factor_is_the_ratio_of_true_class_errors(digits):
    model = minidgl.build_model(digits)
    inputs, labels = next(digits.train.batches(16))
    out = model(inputs)
    p_y = out.fused_logits.softmax(1)[torch.arange(16), labels]
    q_y = out.unimodal_logits["visual"].softmax(1)[torch.arange(16), labels]
    torch.testing.assert_close(diagnostics.attenuation_factors(out, labels, "visual"), (1 - p_y) / (1 - q_y))
    errors = diagnostics.true_class_errors(out, labels)
    assert set(errors) == {"fused", "audio", "visual"}


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


def test_softmax_inequality_has_no_violations():
    assert diagnostics.softmax_inequality_check(draws=20_000) == {"draws": 20_000, "violations": 0}


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
    norms = diagnostics.encoder_grad_norms(model)
    assert norms["audio"] == 0 and norms["visual"] > 0


def test_linear_probe_reads_class_information(toy):
    model = minidgl.build_model(toy)
    trained = minidgl.build_model(toy)
    minidgl.fit(trained, toy, "unimodal:a", epochs=8, progress=False)
    assert diagnostics.linear_probe(trained, "a", toy.train, toy.test) > 0.85
    assert diagnostics.linear_probe(trained, "a", toy.train, toy.test) == \
        diagnostics.linear_probe(trained, "a", toy.train, toy.test)
    assert 0 <= diagnostics.linear_probe(model, "b", toy.train, toy.test) <= 1
