"""Chapter 5: exercise checkers, balancing figures, step timing and `compare_with_histories`."""
import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import experiments, probing, timing
from minidgl.course.exercises import ch05
from minidgl.methods.ogm_ge import coefficient
from minidgl.course.plots import balancing


def right_k(rho, alpha):
    return torch.where(rho > 1, 1 - torch.tanh(alpha * rho), torch.ones_like(rho))


def right_weight(g_mm, g_uni):
    if F.cosine_similarity(g_mm, g_uni, dim=0) > 0:
        return 0.5
    return ((g_uni - g_mm) @ g_uni / (g_mm - g_uni).pow(2).sum()).item()


def right_ratios(scores, alpha):
    (a, s_a), (b, s_b) = scores.items()
    rho = {a: s_a / s_b, b: s_b / s_a}
    return rho, {m: 1 - math.tanh(alpha * r) if r > 1 else 1.0 for m, r in rho.items()}


def stub(*args):
    raise NotImplementedError("Exercise: write me")


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


def test_check_ogm_ratios_pass_prints_who_is_damped(capsys):
    assert ch05.check_ogm_ratios(right_ratios)
    out = capsys.readouterr().out
    assert "[PASS] Exercise 5.3" in out
    assert "audio dominant: audio (rho 3.33, k 0.01)" in out
    assert "visual dominant: visual (rho 3.33, k 0.01)" in out
    assert "a tie: neither" in out
    assert "the jump at rho = 1: audio (rho 1.01, k 0.33)" in out


@pytest.mark.parametrize("wrong,message", [
    # compares the two scores but damps the weaker modality (ratio upside down)
    (lambda scores, alpha: right_ratios({m: 1 / s for m, s in scores.items()}, alpha),
     "rho['audio'] should be s_audio / s_other = 3.3333, got 0.3000"),
    # damps at a tie: rho >= 1 instead of rho > 1
    (lambda scores, alpha: (right_ratios(scores, alpha)[0],
                            {m: 1 - math.tanh(alpha * r) if r >= 1 else 1.0
                             for m, r in right_ratios(scores, alpha)[0].items()}),
     "a tie {'audio': 20.0, 'visual': 20.0}: k['audio'] should be 1.0000 (rho = 1.000 <= 1: not damped, k = 1)"),
    # damps both modalities
    (lambda scores, alpha: (right_ratios(scores, alpha)[0],
                            {m: 1 - math.tanh(alpha * r) for m, r in right_ratios(scores, alpha)[0].items()}),
     "k['visual'] should be 1.0000 (rho = 0.300 <= 1: not damped, k = 1), got 0.7645"),
    # the right modality, but a fixed factor instead of 1 - tanh(alpha * rho)
    (lambda scores, alpha: (right_ratios(scores, alpha)[0],
                            {m: 0.5 if r > 1 else 1.0 for m, r in right_ratios(scores, alpha)[0].items()}),
     "k['audio'] should be 0.0096 (rho = 3.333 > 1: damped, k = 1 - tanh(0.8 * rho)), got 0.5000"),
    # only the name of the damped modality, as the old exercise asked
    (lambda scores, alpha: max(scores, key=scores.get), "expected a pair (rho, k) of dicts, got str 'audio'"),
    (lambda scores, alpha: ({"audio": 1.0}, {"audio": 1.0}), "rho: expected a dict with keys ['audio', 'visual']"),
])
def test_check_ogm_ratios_fails_plausible_wrong_answers(wrong, message, capsys):
    assert not ch05.check_ogm_ratios(wrong)
    out = capsys.readouterr().out
    assert "[FAIL] Exercise 5.3: which encoder does OGM-GE slow?" in out
    assert message in out
    assert "damped:" not in out


@pytest.mark.parametrize("check", [ch05.check_ogm_coefficient, ch05.check_pareto_weight, ch05.check_ogm_ratios])
def test_stub_is_not_solved_yet_not_a_crash(check, capsys):
    assert not check(stub)
    out = capsys.readouterr().out
    assert "[FAIL] Exercise 5." in out
    assert "not solved yet: `stub` still raises NotImplementedError" in out


def test_other_errors_still_raise():
    with pytest.raises(ZeroDivisionError):
        ch05.check_ogm_ratios(lambda scores, alpha: 1 / 0)


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


def test_step_cost_ratios_and_figure(toy):
    model = minidgl.build_model(toy)
    costs = timing.step_cost(model, toy, methods=("joint", "mmpareto"), repeats=2)
    assert costs["joint"]["ratio_to_joint"] == 1.0
    assert len(costs["mmpareto"]["all_seconds"]) == 2 and costs["mmpareto"]["seconds"] > 0
    fig = balancing.step_cost_figure(costs)
    assert len(fig.axes[0].patches) == 2
    plt.close(fig)


@pytest.fixture(scope="module")
def small_probe_comparison(toy):
    report, runs = probing.probe_compare_with_runs(toy, methods=("unimodal", "joint", "ogm-ge", "mmpareto"),
                                                   seeds=(0, 1), epochs=2, progress=False)
    return report, {label: [history for _, history in pairs] for label, pairs in runs.items()}


def test_probe_compare_with_runs_matches_probe_compare(toy, small_probe_comparison):
    report, histories = small_probe_comparison
    assert list(report["results"]) == ["random_init", "unimodal:a", "unimodal:b", "joint", "ogm-ge", "mmpareto"]
    assert list(histories) == ["unimodal:a", "unimodal:b", "joint", "ogm-ge", "mmpareto"]
    assert [h.test_acc for h in histories["mmpareto"]] == report["results"]["mmpareto"]["test_acc"]["per_seed"]
    again = probing.probe_compare(toy, methods=("joint",), seeds=(0, 1), epochs=2, progress=False)
    assert again["results"]["joint"] == report["results"]["joint"]
    assert again["results"]["random_init"] == report["results"]["random_init"]


def test_method_steps_record_every_step_and_average_to_the_epoch_means(toy, small_probe_comparison):
    _, histories = small_probe_comparison
    steps = math.ceil(len(toy.train) / 64)
    for label, keys in (("ogm-ge", ("rho", "k")), ("mmpareto", ("cos", "conflict"))):
        for history in histories[label]:
            for key in keys:
                for m in toy.modalities:
                    values = history.method_steps[key][m]
                    assert len(values) == 2 * steps
                    assert balancing.steps_per_epoch(history, key, m) == steps
                    means = [sum(values[e * steps:(e + 1) * steps]) / steps for e in range(2)]
                    assert means == pytest.approx(history.method_stats[key][m], rel=1e-5)
    assert all(c in (0.0, 1.0) for c in histories["mmpareto"][0].method_steps["conflict"]["a"])
    assert histories["joint"][0].method_steps == {}


def test_window_means():
    assert balancing.window_means([1.0, 2.0, 3.0, 4.0, 5.0], 2) == ([1.5, 3.5, 5.0], [1.5, 3.5, 5.0])
    assert balancing.window_means([0.0, 1.0, 0.0], 3) == ([2.0], [pytest.approx(1 / 3)])
    with pytest.raises(ValueError, match="window"):
        balancing.window_means([1.0], 0)


def test_step_dynamics_figure_traces_and_epoch_axis(toy, small_probe_comparison):
    _, histories = small_probe_comparison
    fig = balancing.step_dynamics_figure(histories["ogm-ge"], histories["mmpareto"], window=3)
    assert len(fig.data) == 4 * 2 * 2  # (rho, k, cos, conflict) x modalities x seeds
    steps = math.ceil(len(toy.train) / 64)
    for trace in fig.data:
        assert len(trace.y) == math.ceil(2 * steps / 3)
        assert trace.x[0] == pytest.approx(2 / steps) and trace.x[-1] <= 2


def test_probe_figure_bars_lines_and_no_random_init(small_probe_comparison):
    report, _ = small_probe_comparison
    fig = balancing.probe_figure(report)
    left, right = fig.axes[:2]
    for ax in (left, right):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["joint", "ogm-ge", "mmpareto"]
        assert len(ax.patches) == 3 * 2
    results = report["results"]
    dashed = sorted(line.get_ydata()[0] for line in left.get_lines() if line.get_linestyle() == "--")
    assert dashed == pytest.approx(sorted(results[f"unimodal:{m}"]["probe_acc"][m]["mean"] for m in ("a", "b")))
    dashed = sorted(line.get_ydata()[0] for line in right.get_lines() if line.get_linestyle() == "--")
    assert dashed == pytest.approx(sorted(results[f"unimodal:{m}"]["test_acc"]["mean"] for m in ("a", "b")))
    heights = sorted(p.get_height() for p in left.patches)
    assert heights == pytest.approx(sorted(results[label]["probe_acc"][m]["mean"]
                                           for label in ("joint", "ogm-ge", "mmpareto") for m in ("a", "b")))
    plt.close(fig)


@pytest.mark.parametrize("clock", ["cpu", "thread"])
def test_step_cost_cpu_clocks(toy, clock):
    model = minidgl.build_model(toy)
    costs = timing.step_cost(model, toy, methods=("joint", "ogm", "ogm-ge"), repeats=3, clock=clock, stat="median")
    assert costs["joint"]["ratio_to_joint"] == 1.0
    assert all(len(c["all_seconds"]) == 3 and min(c["all_seconds"]) > 0 for c in costs.values())
    with pytest.raises(ValueError, match="clock must be one of"):
        timing.step_cost(model, toy, methods=("joint",), repeats=1, clock="gpu")


def test_span_summary_means_and_shares():
    h1 = minidgl.History("ogm-ge", ["a", "b"], method_steps={"k": {"a": [1.0, 0.5, 0.5, 1.0]}})
    h2 = minidgl.History("ogm-ge", ["a", "b"], method_steps={"k": {"a": [0.5, 0.5, 1.0, 1.0]}})
    assert balancing.span_summary([h1, h2], "k", "a", [(0, 2), (2, 4)]) == [0.625, 0.875]
    assert balancing.span_summary([h1, h2], "k", "a", [(0, 2), (2, 4)], below=1) == [0.75, 0.25]
    assert balancing.span_label(25, 100, 338) == "26–100 (epoch 1)"
    assert balancing.span_label(300, 400, 338) == "301–400 (epochs 1–2)"


def test_dynamics_table_rows_and_counts(toy, small_probe_comparison):
    _, histories = small_probe_comparison
    steps = math.ceil(len(toy.train) / 64)
    spans = [(0, 3), (3, 2 * steps)]
    table = balancing.dynamics_table(histories["ogm-ge"], histories["mmpareto"], spans)
    ogm, mmp = table.split("**MMPareto**")
    lines = [line for line in ogm.splitlines() if line.startswith("|")]
    assert lines[0] == "| steps | ρ a | ρ b | a damped (k < 1) | b damped (k < 1) |"
    assert len(lines) == 2 + len(spans)
    assert lines[2].startswith("| 1–3 (epoch 1) |")
    damped = balancing.span_summary(histories["ogm-ge"], "k", "a", spans, below=1)
    assert f"| {damped[0]:.0%} |" in lines[2]
    lines = [line for line in mmp.splitlines() if line.startswith("|")]
    assert lines[0] == "| steps | cos a | cos b | conflicting steps, a | conflicting steps, b |"
    assert lines[3].endswith(f" of {(2 * steps - 3) * 2} |") and lines[3].startswith("| 4–")


def test_twin_gaps_and_table(small_probe_comparison):
    report, _ = small_probe_comparison
    results = report["results"]
    gaps = balancing.twin_gaps(report)
    assert list(gaps) == ["joint", "ogm-ge", "mmpareto"]
    assert gaps["joint"]["probe"]["a"] == pytest.approx(
        results["joint"]["probe_acc"]["a"]["mean"] - results["unimodal:a"]["probe_acc"]["a"]["mean"])
    assert gaps["mmpareto"]["inside"]["b"] == pytest.approx(
        results["mmpareto"]["unimodal_test_acc"]["b"]["mean"] - results["unimodal:b"]["test_acc"]["mean"])
    table = balancing.format_twin_gaps(report).splitlines()
    assert table[0] == "| method | a probe | b probe | a logits inside | b logits inside |"
    assert table[-1].startswith("Gaps to the modality trained alone, in accuracy points")
    assert table[2].startswith(f"| joint | {100 * gaps['joint']['probe']['a']:+.1f} |")
