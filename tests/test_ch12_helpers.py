"""Chapters 1-2 helpers: exercise checkers (PASS on right answers, precise FAIL on wrong ones), figures, studies."""
import statistics

import matplotlib.pyplot as plt
import plotly.graph_objects as go
import pytest
import torch

import minidgl
from minidgl import diagnostics, probing
from minidgl.course import studies
from minidgl.course.exercises import ch01, ch02
from minidgl.course.plots import curves, data as data_plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def per_class_by_loop(logits, labels, num_classes):
    predictions = logits.argmax(1)
    return torch.tensor([(predictions[labels == k] == k).float().mean().item() for k in range(num_classes)])


def test_per_class_reference_matches_a_plain_loop():
    logits, labels = torch.randn(300, 10), torch.randint(0, 10, (300,))
    assert torch.allclose(ch01.reference_per_class_accuracy(logits, labels, 10), per_class_by_loop(logits, labels, 10))


def test_per_class_checker(capsys):
    assert ch01.check_per_class_accuracy(per_class_by_loop)
    assert capsys.readouterr().out == "[PASS] Exercise 1.1 per_class_accuracy\n"
    assert not ch01.check_per_class_accuracy(lambda z, y, k: per_class_by_loop(z, y, k)[:5])
    assert "per-class accuracy: expected shape (10,), got (5,)" in capsys.readouterr().out
    assert not ch01.check_per_class_accuracy(
        lambda z, y, k: per_class_by_loop(z, y, k) * torch.bincount(y, minlength=k) / len(y))
    assert "divided by its own count" in capsys.readouterr().out


def test_mean_std_checker(capsys):
    assert ch01.check_mean_std(lambda v: (statistics.fmean(v), statistics.stdev(v)))
    assert not ch01.check_mean_std(lambda v: (statistics.fmean(v), statistics.pstdev(v)))
    assert "the population std (divide by n)" in capsys.readouterr().out
    assert not ch01.check_mean_std(lambda v: statistics.fmean(v))
    assert "expected a tuple (mean, std)" in capsys.readouterr().out


def test_dominant_modality_checker(capsys):
    ceilings = {-15: {"audio": 0.4, "visual": 0.7}, -5: {"audio": 0.95, "visual": 0.7}}
    assert ch01.check_dominant_modality({-15: "visual", -5: "audio"}, ceilings)
    assert not ch01.check_dominant_modality({-15: "audio"}, ceilings)
    out = capsys.readouterr().out
    assert "snr_db=-5: no prediction" in out
    assert "snr_db=-15: predicted 'audio', but visual is stronger (audio 0.400, visual 0.700)" in out


def test_standardize_checker(capsys):
    assert ch02.check_standardize(diagnostics.standardize)
    assert not ch02.check_standardize(lambda a, b: ((a - a.mean(0)) / a.std(0), (b - b.mean(0)) / b.std(0)))
    assert "z_test was standardised with its own mean and std" in capsys.readouterr().out
    assert not ch02.check_standardize(lambda a, b: (a[:, :8], b))
    assert "z_train: expected shape (200, 16), got (200, 8)" in capsys.readouterr().out


def test_concat_alone_checker(capsys):
    def right(weight, bias, features, modality):
        start = 0
        for m, z in features.items():
            if m == modality:
                return z @ weight[:, start:start + z.shape[1]].T + bias
            start += z.shape[1]

    assert ch02.check_concat_alone(right)
    assert not ch02.check_concat_alone(lambda w, b, f, m: right(w, b, f, m) - b)
    assert "the bias b is missing" in capsys.readouterr().out
    assert not ch02.check_concat_alone(lambda w, b, f, m: right(w, b, f, m)[:, :5])
    assert "expected shape (8, 10), got (8, 5)" in capsys.readouterr().out


def test_spectrogram_grid():
    fig = data_plots.spectrogram_grid(torch.randn(2, 3, 65, 32), ["clean", "noisy"], [1, 2, 3], 4000, 0.25,
                                      marks_hz={1: (697, 1209)})
    assert len(fig.axes) == 6 and len(fig.axes[0].lines) == 2


def test_mean_std_and_fusion_bars():
    summaries = {"x": {"mean": 0.5, "std": 0.1, "per_seed": [0.4, 0.6]}, "y": {"mean": 0.7, "std": 0.0, "per_seed": [0.7]}}
    fig = curves.mean_std_bars(summaries, reference=0.6)
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 2
    fig = curves.fusion_bars({"concat": 0.55, "sum": 0.7}, reference=0.66)
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    assert list(fig.data[0].marker.color) == ["#d62728", "#2ca02c"]


def test_sweep_rebuilds_the_data():
    study = studies.sweep("snr_db", [-25.0, 10.0], methods=("unimodal",), seeds=(0,), data_options={"copies": 1},
                          epochs=3, progress=False)
    noisy, clean = studies.sweep_means(study, "unimodal:audio")
    assert study["values"] == [-25.0, 10.0] and clean > noisy + 0.3


def test_joint_training_panels(toy):
    histories = [minidgl.fit(minidgl.build_model(toy), toy, "joint", epochs=3, seed=s, progress=False) for s in (0, 1)]
    fig = curves.joint_training_panels(histories, title="joint")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and len(loss_ax.lines) == 2
    assert list(loss_ax.lines[0].get_ydata()) == histories[0].train_loss
    assert len(acc_ax.lines) == 2 * 2 * 2  # seeds x modalities x (training, validation)
    assert list(acc_ax.lines[0].get_ydata()) == histories[0].train_unimodal_acc["a"]
    assert list(acc_ax.lines[1].get_ydata()) == histories[0].val_unimodal_acc["a"]
    assert acc_ax.lines[1].get_linestyle() == "--"
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == [
        "a head, training", "a head, validation", "b head, training", "b head, validation"]


def test_probe_compare_with_runs_returns_the_trained_runs(toy):
    report, runs = probing.probe_compare_with_runs(toy, methods=("unimodal:a", "joint"), seeds=(0, 1), epochs=1,
                                                   progress=False)
    assert list(runs) == ["unimodal:a", "joint"] and all(len(r) == 2 for r in runs.values())
    for label, trained in runs.items():
        assert [h.test_acc for _, h in trained] == report["results"][label]["test_acc"]["per_seed"]
    model, history = runs["joint"][1]
    test = minidgl.train.evaluate(model, toy.test)
    assert test["fused_acc"] == history.test_acc
    assert report == probing.probe_compare(toy, methods=("unimodal:a", "joint"), seeds=(0, 1), epochs=1,
                                           progress=False)


def test_joint_regime_summary_and_table(toy):
    report, runs = probing.probe_compare_with_runs(toy, methods=("unimodal", "joint"), seeds=(0, 1), epochs=2,
                                                   progress=False)
    summary = studies.joint_regime_summary(report, runs)
    rows, results = summary["rows"], report["results"]
    best = max(("a", "b"), key=lambda m: results[f"unimodal:{m}"]["test_acc"]["mean"])
    assert summary["best_alone"] == best and summary["train_size"] == len(toy.train) and summary["epochs"] == 2
    assert list(rows) == ["a alone, test acc", "b alone, test acc", "joint, test acc", "joint - best alone, test acc",
                          "a probe, alone - joint", "b probe, alone - joint", "joint's fused training loss, last epoch",
                          "joint's a head, training acc, last epoch", "joint's a head, test acc",
                          "joint's b head, training acc, last epoch", "joint's b head, test acc"]
    joint, alone = results["joint"], results[f"unimodal:{best}"]
    assert rows["joint - best alone, test acc"]["per_seed"] == pytest.approx(
        [j - a for j, a in zip(joint["test_acc"]["per_seed"], alone["test_acc"]["per_seed"])])
    assert rows["b probe, alone - joint"]["mean"] == pytest.approx(
        results["unimodal:b"]["probe_acc"]["b"]["mean"] - joint["probe_acc"]["b"]["mean"])
    assert rows["joint's fused training loss, last epoch"]["per_seed"] == [h.train_loss[-1] for _, h in runs["joint"]]
    assert rows["joint's a head, training acc, last epoch"]["per_seed"] == [
        h.train_unimodal_acc["a"][-1] for _, h in runs["joint"]]
    table = studies.format_regime_table({"toy": summary, "again": summary}).splitlines()
    assert table[0] == "| mean ± std over 2 seeds | toy | again |"
    assert table[2] == f"| training samples × epochs | {len(toy.train):,} × 2 | {len(toy.train):,} × 2 |"
    assert len(table) == 2 + 1 + len(rows) and f"(vs {best})" in table[6] and "joint − best alone" in table[6]
