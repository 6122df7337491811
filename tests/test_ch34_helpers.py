"""Chapters 3 and 4: exercise checkers, attenuation diagnostics, figures, the two-pass reference and the routing lab."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import minidgl
from minidgl import diagnostics
from minidgl.course import studies
from minidgl.course.exercises import ch03
from minidgl.experiments import initial_model, run
from minidgl.course.plots import attenuation


def test_other_modality_logits_are_the_other_encoders_contribution(toy):
    model = minidgl.build_model(toy)
    inputs, _ = next(toy.test.batches(16))
    out = model(inputs)
    W = model.fusion.fc_out.weight
    z_b = out.features["b"]
    expected = z_b @ W[:, model.fusion.feature_dims["a"]:].T
    u = diagnostics.other_modality_logits(out, "a")
    torch.testing.assert_close(u, expected.double(), rtol=1e-5, atol=1e-6)
    assert torch.equal(out.unimodal_logits["a"].double() + u, out.fused_logits.double())


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

    def with_autograd(f, y, W):
        f = f.clone().requires_grad_()
        (grad,) = torch.autograd.grad(F.cross_entropy(f, y), f)
        return grad @ W
    assert not ch03.check_feature_gradient(with_autograd)
    assert "autograd is off in this exercise" in capsys.readouterr().out


def test_margin_slider_has_one_precomputed_step_per_margin():
    fig = attenuation.margin_slider_figure(q_y=0.3, margins=np.linspace(-2, 4, 7))
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 7 and len(fig.data) == 3
    last = steps[-1].args[0]
    assert last["x"] == [[4.0]] and last["y"][0][0] < 0.7
    assert fig.data[1].y[0] == 0.7


def test_check_attenuation_condition_pass_and_fail(capsys):
    def log_space(f1, u, y):
        return u.gather(1, y[:, None]).squeeze(1) >= (f1.log_softmax(1) + u).logsumexp(1)
    assert ch03.check_attenuation_condition(log_space)
    assert "[PASS] Exercise 3.3" in capsys.readouterr().out

    def with_exp(f1, u, y):
        return u.exp().gather(1, y[:, None]).squeeze(1) >= (f1.softmax(1) * u.exp()).sum(1)
    assert not ch03.check_attenuation_condition(with_exp)
    assert "samples with u of std 100: exp overflows there" in capsys.readouterr().out
    assert not ch03.check_attenuation_condition(lambda f1, u, y: u.argmax(1) == y)
    assert "samples with u of std 3" in capsys.readouterr().out
    assert not ch03.check_attenuation_condition(lambda f1, u, y: (u.argmax(1) == y).float())
    assert "expected a bool tensor, got torch.float32" in capsys.readouterr().out


def test_attenuation_during_training_measures_every_epoch_and_the_checkpoints(toy):
    study = studies.attenuation_during_training(toy, epochs=3, checkpoints=(1, 3), progress=False)
    assert set(study["norms"]) == {"a", "b"}
    assert all(len(per_loss[loss]) == 3 for per_loss in study["norms"].values() for loss in ("fused", "unimodal"))
    assert list(study["checkpoints"]) == [1, 3] and set(study["checkpoints"][3]) == {"a", "b"}
    assert study["checkpoints"][3]["a"]["bound"].shape == (len(toy.train),)
    assert len(study["history"].val_acc) == 3


def test_attenuation_during_training_measures_the_untrained_model_without_changing_training(toy):
    study = studies.attenuation_during_training(toy, epochs=2, checkpoints=(0, 2), progress=False)
    assert study["epochs"] == [0, 1, 2] and list(study["checkpoints"]) == [0, 2]
    assert all(len(per_loss[loss]) == 3 for per_loss in study["norms"].values() for loss in ("fused", "unimodal"))
    untrained = diagnostics.attenuation_measurements(initial_model(toy, 0), toy.train.inputs, toy.train.labels, "a")
    torch.testing.assert_close(study["checkpoints"][0]["a"]["fused_error"], untrained["fused_error"])
    _, history = run(toy, "joint", epochs=2, progress=False)
    assert study["history"].val_acc == history.val_acc and study["history"].train_loss == history.train_loss


def test_attenuation_during_training_on_a_fixed_subset_of_samples(toy):
    order = torch.randperm(len(toy.train), generator=torch.Generator().manual_seed(studies.MEASURE_SEED))[:50]
    for seed in (0, 1):  # the same samples for every seed
        study = studies.attenuation_during_training(toy, epochs=1, checkpoints=(1,), seed=seed, samples=50,
                                                    progress=False)
        assert study["samples"] == 50 and study["checkpoints"][1]["b"]["bound"].shape == (50,)
        model, _ = run(toy, "joint", seed, epochs=1, progress=False)
        expected = diagnostics.attenuation_measurements(model, toy.train.inputs, toy.train.labels, "a")
        torch.testing.assert_close(study["checkpoints"][1]["a"]["fused_error"], expected["fused_error"][order])
    with pytest.raises(ValueError, match="samples must be in"):
        studies.attenuation_during_training(toy, epochs=1, samples=0, progress=False)


def test_attenuation_over_seeds_summarizes_each_checkpoint(toy):
    over = studies.attenuation_over_seeds(toy, seeds=(0, 1), epochs=2, checkpoints=(0, 2), progress=False)
    assert over["seeds"] == [0, 1] and set(over["studies"]) == {0, 1}
    assert list(over["summary"]) == [0, 2] and set(over["summary"][2]) == {"a", "b"}
    ratio = over["summary"][2]["b"]["gradient ratio"]
    expected = [s["norms"]["b"]["fused"][2] / s["norms"]["b"]["unimodal"][2] for s in over["studies"].values()]
    assert ratio["per_seed"] == pytest.approx(expected)
    assert ratio["mean"] == pytest.approx(sum(expected) / 2)
    right = over["summary"][2]["a"]["fused right"]["per_seed"]
    assert right == pytest.approx([s["checkpoints"][2]["a"]["fused_correct"].double().mean().item()
                                   for s in over["studies"].values()])
    table = attenuation.seeds_summary_table(over).splitlines()
    assert len(table) == 2 + 2 * 2 and table[0].startswith("| epoch | encoder | fused prediction right |")
    assert table[2].startswith("| 0 | a | ") and " ± " in table[2]
    assert all(line.count("|") == table[0].count("|") for line in table)
    table = attenuation.condition_factor_table(over).splitlines()
    assert len(table) == 6 and table[0].startswith("| epoch | encoder | other modality ranks y first")
    assert all(line.count("|") == table[0].count("|") for line in table)
    fig = attenuation.gradient_norms_over_seeds_figure(over)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].lines[1].get_xdata()) == [0, 1, 2]
    fused_a = np.array([s["norms"]["a"]["fused"] for s in over["studies"].values()]).mean(0)
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), fused_a)


def test_chapter3_figures_and_table(toy):
    study = studies.attenuation_during_training(toy, epochs=2, checkpoints=(1, 2), progress=False)
    fig = attenuation.factor_histograms(study)
    assert [len(ax.patches) for ax in fig.axes] == [2, 2]
    fig = attenuation.error_scatter_figure(study, (1, 2))
    assert len(fig.axes) == 4 and all(len(ax.collections) == 2 for ax in fig.axes)
    assert fig.axes[0].get_xlabel() == "1 − q_y: the joint model's a head"


# Chapter 4

from minidgl import reference  # noqa: E402
from minidgl.course import widgets  # noqa: E402
from minidgl.course.exercises import ch04  # noqa: E402
from minidgl.course.plots import routing as routing_plots  # noqa: E402


def _small_model(toy, fusion="concat", seed=0):
    torch.manual_seed(seed)
    return minidgl.build_model(toy, fusion=fusion, feature_dim=8), *next(toy.train.batches(16))


def test_authors_two_pass_reference_equals_one_backward_dgl(toy):
    for fusion in ["concat", "sum", "gated:a", "bilinear"]:
        model, inputs, labels = _small_model(toy, fusion)
        for alpha in [0.5, 3.0]:
            two = reference.authors_two_pass_gradients(model, inputs, labels, alpha)
            one = reference.method_gradients(model, minidgl.DGL(alpha), inputs, labels)[0]
            assert reference.gradient_mismatches(one, two) == [], fusion


def test_gradient_mismatches_names_the_parameter(toy):
    model, inputs, labels = _small_model(toy)
    joint = reference.routed_gradients(model, inputs, labels, minidgl.JOINT)
    dgl = reference.routed_gradients(model, inputs, labels, minidgl.dgl_routing(1.0))
    problems = reference.gradient_mismatches(joint, dgl)
    assert any("encoders.a" in p and "differs" in p for p in problems)
    assert reference.gradient_mismatches({}, dgl)[0].startswith("parameter '")


def _student_dgl(model, inputs):
    from torch.func import functional_call
    z = {m: e(inputs[m]) for m, e in model.encoders.items()}
    fused = model.fusion({m: t.detach() for m, t in z.items()})
    frozen = {n: p.detach() for n, p in model.fusion.named_parameters()}
    return fused, {m: functional_call(model.fusion, frozen, (z,), {"alone": m}) for m in z}


def test_check_dgl_logits_pass_and_fail(capsys):
    assert ch04.check_dgl_logits(_student_dgl)
    assert "[PASS] Exercise 4.1" in capsys.readouterr().out

    def no_feature_detach(model, inputs):
        out = model(inputs, minidgl.Routing(mm_to_encoders=True, uni_to_fusion=False))
        return out.fused_logits, out.unimodal_logits
    assert not ch04.check_dgl_logits(no_feature_detach)
    assert "encoder 'audio' received a gradient from L_mm" in capsys.readouterr().out

    def no_head_detach(model, inputs):
        out = model(inputs, minidgl.Routing(mm_to_encoders=False, uni_to_fusion=True))
        return out.fused_logits, out.unimodal_logits
    assert not ch04.check_dgl_logits(no_head_detach)
    assert "fusion parameter 'fc_out.weight' received a gradient from the unimodal losses" in capsys.readouterr().out

    assert not ch04.check_dgl_logits(lambda model, inputs: (_student_dgl(model, inputs)[0][:, :2], {}))
    assert "fused_logits: expected shape (32, 4), got (32, 2)" in capsys.readouterr().out


def test_check_two_pass_pass_and_fail(capsys):
    assert ch04.check_two_pass(reference.authors_two_pass_gradients)
    assert "[PASS] Exercise 4.2" in capsys.readouterr().out

    def forgot_the_wipe(model, inputs, labels, alpha):
        return reference.routed_gradients(model, inputs, labels, minidgl.Routing(False, True, alpha))
    assert not ch04.check_two_pass(forgot_the_wipe)
    assert "parameter 'fusion.fc_out.weight' gradient differs" in capsys.readouterr().out


def test_routing_lab_trains_the_routing_its_widgets_show(toy):
    lab = widgets.routing_lab(toy, epochs=2, lr=0.05)
    assert lab.routing() == minidgl.JOINT and lab.runs == []
    lab.mm_toggle.value = False
    lab.uni_toggle.value = False
    lab.alpha_slider.value = 2.0
    lab.train_button.click()
    label, history = lab.runs[-1]
    assert label == "DGL α=2" and lab.routing() == minidgl.dgl_routing(2.0)
    assert len(history.val_acc) == 2 and all(len(v) == 2 for v in history.grad_norm.values())
    acc_ax, grad_ax = lab.figure.axes
    assert len(acc_ax.lines) == 2 and len(grad_ax.lines) == 2
    assert list(acc_ax.lines[0].get_ydata()) == routing_plots.step_curves(history)["batch_acc"]
    assert list(acc_ax.lines[1].get_ydata()) == history.val_acc
    best = max(history.val_acc)
    assert "validation accuracy" in lab.status.value and "test" not in lab.status.value
    assert f"{best:.3f}" in lab.status.value and f"epoch {history.val_acc.index(best) + 1} of 2" in lab.status.value


def test_routing_lab_trains_as_many_epochs_as_the_chapters_by_default(toy):
    assert widgets.routing_lab(toy).epochs == minidgl.TrainConfig().epochs


def test_routing_lab_presets(toy):
    lab = widgets.routing_lab(toy, epochs=1)
    buttons = {b.description: b for b in lab.preset_buttons}
    buttons["uniform"].click()
    assert lab.routing() == minidgl.UNIFORM
    buttons["DGL"].click()
    assert lab.routing() == minidgl.dgl_routing(minidgl.methods.dgl.DEFAULT_ALPHA)
    lab.train()
    buttons["joint"].click()
    lab.train()
    assert [label for label, _ in lab.runs] == [f"DGL α={minidgl.methods.dgl.DEFAULT_ALPHA:g}", "joint"]
    assert len(lab.figure.axes[0].lines) == 4


def test_presets_figure_buttons_show_one_preset(toy):
    histories = {name: minidgl.experiments.run(toy, name, epochs=2, progress=False).history for name in ["joint", "dgl"]}
    fig = routing_plots.presets_figure(histories)
    assert len(fig.data) == 2 * (2 + len(toy.modalities))
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["all", "joint", "dgl"]
    assert buttons[2].args[0]["visible"] == [False] * 4 + [True] * 4
    curves = routing_plots.step_curves(histories["joint"])
    assert list(fig.data[0].y) == curves["batch_acc"] and list(fig.data[0].x) == curves["epoch"]
    assert list(fig.data[1].y) == histories["joint"].val_acc
    assert list(fig.data[2].y) == curves["grad_norm"]["a"]


def test_step_curves_average_windows_of_steps_against_epochs():
    from minidgl.train import History
    h = History("joint", ["a"], val_acc=[0.5, 0.6], step_acc=[0.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0],
                step_loss=[1.0] * 8, step_grad_norm={"a": [4.0, 2.0, 2.0, 2.0, 1.0, 3.0, 1.0, 1.0]})
    curves = routing_plots.step_curves(h, window=2)
    assert curves["batch_acc"] == [0.5, 0.5, 1.0, 0.0]
    assert curves["grad_norm"]["a"] == [3.0, 2.0, 2.0, 1.0]
    assert curves["epoch"] == [0.375, 0.875, 1.375, 1.875], "window centres (steps 1.5, 3.5, ...) / 4 steps"


def test_presets_table_reads_each_history(toy):
    from minidgl.train import History
    h = History("joint", ["a", "b"], val_acc=[0.5, 0.625], grad_norm={"a": [2.0, 1.0], "b": [0.5, 0.5]},
                train_unimodal_acc={"a": [0.25, 0.75], "b": [0.1, 0.2]})
    lines = routing_plots.presets_table({"joint": h}).splitlines()
    assert lines[0] == ("| routing | validation acc by epoch | a ‖∇‖, first → last epoch "
                        "| b ‖∇‖, first → last epoch | a logits alone, train acc | b logits alone, train acc |")
    assert lines[2] == ("| joint | 0.500 0.625 | 2.00 → 1.00 (×0.50) | 0.50 → 0.50 (×1.00) "
                        "| 0.250 → 0.750 | 0.100 → 0.200 |")


def _summary(mean, std=0.01):
    return {"mean": mean, "std": std, "per_seed": [mean - std, mean, mean + std]}


def _study(probed):
    alphas = [0.25, 0.5, 1.0, 2.0, 4.0]
    probes = [{"audio": _summary(0.8 + a / 100), "visual": _summary(0.7 + a / 100)} if a in probed else None
              for a in alphas]
    return {"alphas": alphas, "val_acc": [_summary(v) for v in (0.6, 0.7, 0.69, 0.65, 0.5)],
            "best_alpha": 0.5, "threshold": 0.69, "chosen_alpha": 1.0, "probe_acc": probes}


def test_alpha_sweep_figure_ticks_are_the_swept_values():
    fig = routing_plots.alpha_sweep_figure(_study(probed=()))
    (ax,) = fig.axes
    fig.canvas.draw()
    assert list(ax.get_xticks()) == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.25", "0.5", "1", "2", "4"]
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True)), "minor ticks must carry no labels"
    assert ax.get_ylabel() == "validation accuracy (fused)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["chosen α = 1 (one-standard-error rule)", "best mean α = 0.5",
                      "tied with the best above this line", "DGL, 3 seeds"]
    assert [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"] == [0.69]


def test_alpha_sweep_figure_plots_the_probed_alphas_and_references():
    fig = routing_plots.alpha_sweep_figure(_study(probed=(0.25, 0.5, 1.0)), references={"visual": 0.75})
    val_ax, probe_ax = fig.axes
    fig.canvas.draw()
    assert list(probe_ax.get_xticks()) == [0.25, 0.5, 1.0]
    data_lines = [container.lines[0] for container in probe_ax.containers]  # the error bars' central lines
    means = [np.asarray(line.get_ydata(), float) for line in data_lines]
    np.testing.assert_allclose(means, [[0.8025, 0.805, 0.81], [0.7025, 0.705, 0.71]])
    assert [line.get_ydata()[0] for line in probe_ax.lines if line.get_linestyle() == "--"] == [0.75]
    assert probe_ax.get_ylabel() == "linear-probe accuracy (test)"


def test_routing_lab_shows_each_toggles_state_and_the_active_preset(toy):
    lab = widgets.routing_lab(toy, epochs=1)
    assert lab.mm_toggle.description == "fused loss → encoders: on" and lab.mm_toggle.button_style == "success"
    active = {b.description: b.button_style for b in lab.preset_buttons}
    assert active == {"joint": "info", "uniform": "", "DGL": ""}
    lab.mm_toggle.value = False
    assert lab.mm_toggle.description.endswith(": off") and lab.mm_toggle.button_style == ""
    assert all(b.button_style == "" for b in lab.preset_buttons), "no preset matches these knobs"
    assert "set: <b>mm→enc off, uni→fusion on, α=0</b>" in lab.status.value


def test_routing_lab_explains_a_routing_that_trains_no_encoder_or_has_a_dead_knob(toy):
    lab = widgets.routing_lab(toy, epochs=1)
    assert "changes nothing" in lab.status.value, "joint: α = 0, so unimodal losses → fusion does nothing"
    lab.set_routing(minidgl.dgl_routing(0.0))
    assert "nothing trains the encoders" in lab.status.value
    history = lab.train()
    assert all(norm == 0 for m in toy.modalities for norm in history.grad_norm[m])
    assert "nothing trains the encoders" in lab.status.value
    legend = [text.get_text() for text in lab.figure.axes[1].get_legend().get_texts()]
    assert legend == [f"DGL α=0: {m}, no gradient (not trained)" for m in toy.modalities]
    lab.set_routing(minidgl.dgl_routing(1.0))
    assert "note:" not in lab.status.value


def test_routing_lab_disables_its_buttons_while_training_and_clears(toy, monkeypatch):
    lab = widgets.routing_lab(toy, epochs=1)
    seen = []
    real_run = widgets.run

    def watching_run(*args, **kwargs):
        seen.append([b.disabled for b in (lab.train_button, lab.clear_button, *lab.preset_buttons)])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(widgets, "run", watching_run)
    lab.train()
    assert seen == [[True] * (2 + len(lab.preset_buttons))]
    assert not lab.train_button.disabled and lab.runs and lab.figure is not None
    lab.clear_button.click()
    assert lab.runs == [] and lab.figure is None and lab.output.outputs == ()
