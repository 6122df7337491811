"""Chapter 5: exercise checkers, balancing figures, step timing and `compare_with_histories`."""
import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import experiments, timing
from minidgl.exercises import ch05
from minidgl.methods.ogm_ge import coefficient
from minidgl.plots import balancing


def right_k(rho, alpha):
    return torch.where(rho > 1, 1 - torch.tanh(alpha * rho), torch.ones_like(rho))


def right_weight(g_mm, g_uni):
    if F.cosine_similarity(g_mm, g_uni, dim=0) > 0:
        return 0.5
    return ((g_uni - g_mm) @ g_uni / (g_mm - g_uni).pow(2).sum()).item()


def right_damped(scores):
    (a, s_a), (b, s_b) = scores.items()
    return a if s_a > s_b else b if s_b > s_a else None


def test_coefficient_matches_eq10_by_hand():
    rho = torch.tensor([0.5, 1.0, 2.0])
    torch.testing.assert_close(coefficient(rho, 0.8), torch.tensor([1.0, 1.0, 1 - math.tanh(1.6)]))


def test_check_ogm_coefficient_pass_and_fail(capsys):
    assert ch05.check_ogm_coefficient(right_k)
    assert "[PASS] Exercise 5.1" in capsys.readouterr().out
    assert not ch05.check_ogm_coefficient(lambda rho, alpha: right_k(rho, alpha)[:3])
    assert "k (alpha=0.1): expected shape (10,), got (3,)" in capsys.readouterr().out
    assert not ch05.check_ogm_coefficient(lambda rho, alpha: torch.where(rho >= 1, 1 - torch.tanh(alpha * rho), 1.0))
    out = capsys.readouterr().out
    assert "[FAIL] Exercise 5.1: OGM-GE's coefficient k(rho): alpha=0.1: rho=1: expected k=1.0000, got 0.9003" in out
    assert "(only rho > 1 is damped; rho = 1 keeps k = 1)" in out
    assert not ch05.check_ogm_coefficient(lambda rho, alpha: 1 - torch.tanh(alpha * rho))
    assert "rho=0: expected k=1.0000, got 1.0000" not in capsys.readouterr().out


def test_check_pareto_weight_pass_and_fail(capsys):
    assert ch05.check_pareto_weight(right_weight)
    assert "[PASS] Exercise 5.2" in capsys.readouterr().out
    assert not ch05.check_pareto_weight(lambda g_mm, g_uni: 0.5)
    out = capsys.readouterr().out
    assert "[FAIL] Exercise 5.2: MMPareto's two-task weight: orthogonal pair (cos +0.00): a1: off by up to" in out
    assert "expected 0.1000, got 0.5000" in out
    assert "aligned" not in out
    assert not ch05.check_pareto_weight(lambda g_mm, g_uni: torch.tensor([0.5, 0.5]))
    assert "aligned: expected one number, got shape (2,)" in capsys.readouterr().out


def test_check_damped_pass_and_fail(capsys):
    assert ch05.check_damped(right_damped)
    assert "[PASS] Exercise 5.3" in capsys.readouterr().out
    assert not ch05.check_damped(lambda scores: min(scores, key=scores.get))
    out = capsys.readouterr().out
    assert "scores {'audio': 40.0, 'visual': 12.0}: expected 'audio', got 'visual'" in out
    assert "scores {'audio': 20.0, 'visual': 20.0}: expected None, got 'audio'" in out


def test_k_of_rho_figure_shows_the_jump():
    fig = balancing.k_of_rho_figure(alphas=(0.8,))
    ys = [line.get_ydata() for line in fig.axes[0].get_lines()]
    assert any(len(y) == 1 and math.isclose(y[0], 1 - math.tanh(0.8)) for y in ys)
    plt.close(fig)


@pytest.fixture(scope="module")
def small_comparison(toy):
    return experiments.compare_with_histories(toy, methods=("unimodal", "joint", "ogm-ge", "mmpareto"),
                                              seeds=(0, 1), epochs=2, progress=False)


def test_compare_with_histories_matches_compare(toy, small_comparison):
    report, histories = small_comparison
    assert list(histories) == ["unimodal:a", "unimodal:b", "joint", "ogm-ge", "mmpareto"]
    assert [h.test_acc for h in histories["ogm-ge"]] == report["results"]["ogm-ge"]["test_acc"]["per_seed"]
    assert experiments.compare(toy, methods=("joint",), seeds=(0, 1), epochs=2, progress=False)["results"]["joint"] \
        == report["results"]["joint"]


def test_dynamics_figure_has_a_trace_per_stat_modality_and_seed(small_comparison):
    _, histories = small_comparison
    fig = balancing.dynamics_figure(histories["ogm-ge"], histories["mmpareto"])
    assert len(fig.data) == 4 * 2 * 2  # (rho, k, cos, conflict) x modalities x seeds
    assert {trace.legendgroup for trace in fig.data} == {"a", "b"}
    assert all(len(trace.y) == 2 for trace in fig.data)


def test_inside_accuracy_figure_groups_modalities(small_comparison):
    fig = balancing.inside_accuracy_figure(small_comparison[0])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["joint", "ogm-ge", "mmpareto"]
    assert len(ax.patches) == 3 * 2
    plt.close(fig)


def test_step_cost_ratios_and_figure(toy):
    model = minidgl.build_model(toy)
    costs = timing.step_cost(model, toy, methods=("joint", "mmpareto"), repeats=2)
    assert costs["joint"]["ratio_to_joint"] == 1.0
    assert len(costs["mmpareto"]["all_seconds"]) == 2 and costs["mmpareto"]["seconds"] > 0
    fig = balancing.step_cost_figure(costs)
    assert len(fig.axes[0].patches) == 2
    plt.close(fig)
