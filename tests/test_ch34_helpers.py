"""Chapters 3 and 4: exercise checkers, attenuation diagnostics, figures, the two-pass reference and the routing lab."""
import math

import numpy as np
import torch
import torch.nn.functional as F

import minidgl
from minidgl import diagnostics
from minidgl.exercises import ch03
from minidgl.plots import attenuation


def test_other_modality_logits_are_the_other_encoders_contribution(toy):
    model = minidgl.build_model(toy)
    inputs, _ = next(toy.test.batches(16))
    out = model(inputs)
    W = model.fusion.fc_out.weight
    z_b = out.features["b"]
    expected = z_b @ W[:, model.fusion.feature_dims["a"]:].T
    torch.testing.assert_close(diagnostics.other_modality_logits(out, "a"), expected)


def test_fused_error_vs_margin_matches_softmax():
    q = torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64)
    for margin in [-2.0, 0.0, 1.5]:
        u = torch.tensor([margin, 0.0, 0.0], dtype=torch.float64)
        p = (q.log() + u).softmax(0)
        got = diagnostics.fused_error_vs_margin(0.3, [margin])
        torch.testing.assert_close(got, 1 - p[:1])
    assert math.isclose(diagnostics.fused_error_vs_margin(0.3, [0.0]).item(), 0.7)


def test_check_fused_probs_pass_and_fail(capsys):
    assert ch03.check_fused_probs(lambda q, u: q * u.exp() / (q * u.exp()).sum(1, keepdim=True))
    assert "[PASS] Exercise 3.1" in capsys.readouterr().out
    assert not ch03.check_fused_probs(lambda q, u: q[:, :5])
    assert "expected shape (64, 10), got (64, 5)" in capsys.readouterr().out
    assert not ch03.check_fused_probs(lambda q, u: q)
    assert "p vs softmax(f1 + u): off by up to" in capsys.readouterr().out


def test_check_feature_gradient_pass_and_fail(capsys):
    def solution(f, y, W):
        return (f.softmax(1) - F.one_hot(y, f.shape[1])) @ W / f.shape[0]
    assert ch03.check_feature_gradient(solution)
    assert "[PASS] Exercise 3.2" in capsys.readouterr().out
    assert not ch03.check_feature_gradient(lambda f, y, W: solution(f, y, W) * f.shape[0])
    assert "64 times too large" in capsys.readouterr().out
    assert not ch03.check_feature_gradient(lambda f, y, W: W)
    assert "expected shape (64, 16), got (10, 16)" in capsys.readouterr().out


def test_margin_slider_has_one_precomputed_step_per_margin():
    fig = attenuation.margin_slider_figure(q_y=0.3, margins=np.linspace(-2, 4, 7))
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 7 and len(fig.data) == 3
    last = steps[-1].args[0]
    assert last["x"] == [[4.0]] and last["y"][0][0] < 0.7
    assert fig.data[1].y[0] == 0.7


def test_chapter3_matplotlib_figures(toy):
    model, history = minidgl.experiments.run(toy, "joint", epochs=2, progress=False)
    fig = attenuation.grad_norm_figure({"joint": history}, toy.modalities)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    with torch.no_grad():
        out = model(toy.test.inputs)
    errors = diagnostics.true_class_errors(out, toy.test.labels)
    right = diagnostics.other_modality_logits(out, "a").argmax(1) == toy.test.labels
    fig = attenuation.error_scatter_figure(errors, "a", right)
    assert len(fig.axes[0].collections) == 2
