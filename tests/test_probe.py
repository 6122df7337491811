"""`probing.probe_compare` and the `probe` command; `studies.alpha_sweep` (DGL's alpha chosen on validation)."""
import json

import pytest

import minidgl
from minidgl import experiments, probing
from minidgl.course import studies
from minidgl.__main__ import main
from minidgl.diagnostics import linear_probe
from minidgl.train import History

SUMMARY = {"mean", "std", "per_seed"}
ROW = {"test_acc", "unimodal_test_acc", "probe_acc"}


def assert_summary(summary, seeds):
    assert set(summary) == SUMMARY and len(summary["per_seed"]) == seeds and 0 <= summary["mean"] <= 1


def assert_probe_report(report, labels, modalities, seeds):
    """The `probe` JSON schema: `compare`'s rows plus `probe_acc`, a `random_init` row, the probe protocol."""
    assert set(report) == {"results", "config"}
    assert list(report["results"]) == ["random_init", *labels]
    for label, row in report["results"].items():
        assert set(row) == ROW
        assert_summary(row["test_acc"], seeds)
        assert list(row["unimodal_test_acc"]) == modalities
        probed = [label.partition(":")[2]] if label.startswith("unimodal:") else modalities
        assert list(row["probe_acc"]) == probed
        for summary in [*row["unimodal_test_acc"].values(), *row["probe_acc"].values()]:
            assert_summary(summary, seeds)
    probe = report["config"]["probe"]
    assert probe["fit_split"] == "train" and probe["score_split"] == "test"
    assert report["config"]["selection"] == "validation accuracy" and report["config"]["modalities"] == modalities


def test_probe_compare_schema_and_random_init(toy):
    report = probing.probe_compare(toy, methods=("unimodal", "joint", "dgl"), seeds=(0, 1), epochs=1,
                                   device="cpu", progress=False)
    assert_probe_report(report, ["unimodal:a", "unimodal:b", "joint", "dgl"], ["a", "b"], seeds=2)
    untrained = experiments.initial_model(toy, seed=1)
    assert report["results"]["random_init"]["probe_acc"]["b"]["per_seed"][1] == \
        linear_probe(untrained, "b", toy.train, toy.test)
    assert report["results"]["random_init"]["test_acc"]["per_seed"][1] == \
        minidgl.evaluate(untrained, toy.test)["fused_acc"]


def test_probe_on_av_digits_prints_a_table_and_writes_the_json_schema(tmp_path, capsys):
    path = tmp_path / "probe.json"
    main(["probe", "--copies", "1", "--epochs", "1", "--seeds", "0", "--quiet", "--json", str(path)])
    table = capsys.readouterr().out
    assert "| random_init (untrained) |" in table and "| unimodal:visual |" in table and "audio probe" in table
    report = json.loads(path.read_text())
    labels = ["unimodal:audio", "unimodal:visual", "joint", "dgl"]
    assert_probe_report(report, labels, ["audio", "visual"], seeds=1)
    assert report["config"]["dataset"] == "av-digits" and report["config"]["methods"] == ["unimodal", "joint", "dgl"]


def test_probes_fit_on_train_and_score_on_test(toy, monkeypatch):
    splits = []
    monkeypatch.setattr(probing, "linear_probe", lambda model, m, train, test: splits.append((train, test)) or 0.5)
    probing.probe_compare(toy, methods=("joint",), seeds=(0,), epochs=1, progress=False)
    assert len(splits) == 4 and all(train is toy.train and test is toy.test for train, test in splits)


def test_trained_encoder_probes_better_than_random_init():
    """In 256 dimensions a random encoder's 64 features keep little of the class signal; training finds it."""
    easy = minidgl.make_gaussian_toy({"a": 4.0, "b": 2.0}, num_classes=4, dim=256, n=600)
    report = probing.probe_compare(easy, methods=("unimodal:a",), seeds=(0,), epochs=3, progress=False)
    trained = report["results"]["unimodal:a"]["probe_acc"]["a"]["mean"]
    untrained = report["results"]["random_init"]["probe_acc"]["a"]["mean"]
    assert trained > untrained + 0.2


def test_format_probe_table_marks_untrained_and_unprobed():
    s = {"mean": 0.5, "std": 0.1, "per_seed": [0.4, 0.6]}
    report = {"config": {"modalities": ["a", "b"]},
              "results": {"random_init": {"test_acc": s, "probe_acc": {"a": s, "b": s}},
                          "unimodal:a": {"test_acc": s, "probe_acc": {"a": s}}}}
    table = probing.format_probe_table(report)
    assert "| random_init (untrained) | 0.500 ± 0.100 | 0.500 ± 0.100 | 0.500 ± 0.100 |" in table
    assert "| unimodal:a | 0.500 ± 0.100 | 0.500 ± 0.100 | — |" in table


def fake_run(val, test):
    """A stand-in for `experiments.run`: DGL(alpha) on seed s reaches `val[alpha] + s / 100` on validation at
    its chosen epoch (1; epoch 0 is higher, to show that the chosen epoch is read) and `test[alpha]` on test."""
    def run(data, method, seed, encoder, fusion, config):
        history = History("dgl", ["a", "b"], val_acc=[1.0, val[method.alpha] + seed / 100, 0.0], best_epoch=1,
                          test_acc=test[method.alpha], test_unimodal_acc={"a": 0.5, "b": 0.25})
        return None, history
    return run


def test_alpha_sweep_chooses_on_validation_never_test(toy, monkeypatch):
    val = {0.5: 0.6, 1.0: 0.8, 2.0: 0.7, 4.0: 0.5}
    test = {0.5: 0.9, 1.0: 0.6, 2.0: 0.7, 4.0: 0.95}
    monkeypatch.setattr(studies, "run", fake_run(val, test))
    study = studies.alpha_sweep(toy, [2.0, 0.5, 4.0, 1.0], seeds=(0, 2))
    assert study["alphas"] == [2.0, 0.5, 4.0, 1.0]
    assert study["val_acc"][1]["per_seed"] == pytest.approx([0.6, 0.62])
    assert [s["mean"] for s in study["val_acc"]] == pytest.approx([0.71, 0.61, 0.51, 0.81])
    assert [s["mean"] for s in study["test_acc"]] == [0.7, 0.9, 0.95, 0.6]
    assert study["best_alpha"] == study["chosen_alpha"] == 1.0  # test accuracy would have chosen 4.0
    assert study["at_edge"] is False
    assert study["config"]["method"] == "dgl" and study["config"]["seeds"] == [0, 2]


def test_alpha_sweep_flags_a_choice_at_the_edge(toy, monkeypatch):
    monkeypatch.setattr(studies, "run", fake_run({0.5: 0.6, 1.0: 0.7, 2.0: 0.8}, {0.5: 0.9, 1.0: 0.8, 2.0: 0.7}))
    study = studies.alpha_sweep(toy, [0.5, 1.0, 2.0], seeds=(0,))
    assert study["best_alpha"] == study["chosen_alpha"] == 2.0 and study["at_edge"] is True
    with pytest.raises(ValueError, match="at least one alpha"):
        studies.alpha_sweep(toy, [])


def test_alpha_sweep_one_standard_error_rule_takes_the_largest_tied_alpha(toy, monkeypatch):
    # seeds 0 and 2 add 0 and 0.02: std 0.0141, standard error 0.01 around each mean
    val = {0.25: 0.800, 0.5: 0.805, 1.0: 0.796, 2.0: 0.790, 4.0: 0.7}
    monkeypatch.setattr(studies, "run", fake_run(val, dict.fromkeys(val, 0.5)))
    study = studies.alpha_sweep(toy, [0.25, 0.5, 1.0, 2.0, 4.0], seeds=(0, 2))
    assert study["best_alpha"] == 0.5 and study["at_edge"] is False
    assert study["chosen_alpha"] == 1.0  # means 0.810 0.815 0.806 0.800: within 0.815 - 0.01 are 0.25, 0.5, 1.0
    assert study["threshold"] == pytest.approx(0.805)
    assert "one-standard-error" in study["config"]["alpha_selection"]


def test_alpha_sweep_trains_each_alpha(toy):
    def make_method(alpha):
        made.append(alpha)
        return minidgl.DGL(alpha)

    made = []
    study = studies.alpha_sweep(toy, (0.5, 2.0), seeds=(0,), make_method=make_method, epochs=1, progress=False)
    assert made[:2] == [0.5, 2.0] and study["at_edge"] is True
    val_means = [s["mean"] for s in study["val_acc"]]
    assert study["best_alpha"] == study["alphas"][val_means.index(max(val_means))]
    assert_summary(study["val_acc"][0], 1)
    assert_summary(study["test_acc"][1], 1)
    _, history = experiments.run(toy, minidgl.DGL(2.0), seed=0, epochs=1, progress=False)
    assert study["test_acc"][1]["per_seed"] == [history.test_acc]


def test_alpha_sweep_probes_the_alphas_asked_for_with_probe_compares_protocol(toy, monkeypatch):
    calls = []
    monkeypatch.setattr(probing, "linear_probe",
                        lambda model, m, train, test: calls.append((m, train, test)) or len(calls) / 10)
    study = studies.alpha_sweep(toy, [0.5, 2.0], seeds=(0, 1), probe=[2.0], epochs=1, progress=False)
    assert study["probe_acc"][0] is None and list(study["probe_acc"][1]) == ["a", "b"]
    assert study["probe_acc"][1]["a"]["per_seed"] == [0.1, 0.2]  # encoder a of seeds 0 and 1, then b
    assert study["probe_acc"][1]["b"]["per_seed"] == [0.3, 0.4]
    assert all(train is toy.train and test is toy.test for _, train, test in calls) and len(calls) == 4
    assert study["config"]["probe"]["fit_split"] == "train" and study["config"]["probe"]["score_split"] == "test"
    assert "probe_acc" not in studies.alpha_sweep(toy, [0.5], seeds=(0,), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"probe names alphas \[3.0\]"):
        studies.alpha_sweep(toy, [0.5, 2.0], probe=[3.0])


def test_alpha_sweep_probe_true_probes_each_run_as_trained(toy):
    study = studies.alpha_sweep(toy, [1.0, 0.5], seeds=(0,), probe=True, epochs=1, progress=False)
    model, history = experiments.run(toy, minidgl.DGL(0.5), seed=0, epochs=1, progress=False)
    assert study["probe_acc"][1]["b"]["per_seed"] == [linear_probe(model, "b", toy.train, toy.test)]
    assert study["unimodal_test_acc"][1]["a"]["per_seed"] == [history.test_unimodal_acc["a"]]
    assert all(study["probe_acc"][i] is not None for i in range(2))


def test_sweep_row_is_a_probe_compare_row_of_one_alpha(toy, monkeypatch):
    monkeypatch.setattr(probing, "linear_probe", lambda model, m, train, test: 0.5)
    study = studies.alpha_sweep(toy, [0.5, 2.0], seeds=(0, 1), probe=[0.5], epochs=1, progress=False)
    row = studies.sweep_row(study, 0.5)
    assert set(row) == ROW and row["test_acc"] is study["test_acc"][0]
    assert_summary(row["probe_acc"]["a"], 2) and list(row["unimodal_test_acc"]) == ["a", "b"]
    with pytest.raises(ValueError, match="alpha 2.0 was not probed"):
        studies.sweep_row(study, 2.0)
    report = probing.probe_compare(toy, methods=("joint",), seeds=(0, 1), epochs=1, progress=False,
                                   random_init=False)
    assert list(report["results"]) == ["joint"]
    report["results"]["dgl"] = row
    table = probing.format_probe_table(report)
    assert "| dgl | " in table and "random_init" not in table


def test_format_alpha_sweep_marks_the_choice_and_states_the_threshold(toy, monkeypatch):
    val = {0.25: 0.800, 0.5: 0.805, 1.0: 0.796, 2.0: 0.790}
    monkeypatch.setattr(studies, "run", fake_run(val, dict.fromkeys(val, 0.5)))
    monkeypatch.setattr(probing, "linear_probe", lambda model, m, train, test: 0.75)
    study = studies.alpha_sweep(toy, [0.25, 0.5, 1.0, 2.0], seeds=(0, 2), probe=[0.5])
    lines = studies.format_alpha_sweep(study).splitlines()
    assert lines[0] == "| α | validation acc (chooses) | test acc (reported) | a probe (test) | b probe (test) |"
    assert lines[2] == "| 0.25 | 0.810 ± 0.014 | 0.500 ± 0.000 | — | — |"
    assert lines[3] == "| 0.5 (best mean) | 0.815 ± 0.014 | 0.500 ± 0.000 | 0.750 ± 0.000 | 0.750 ± 0.000 |"
    assert lines[4].startswith("| 1 (chosen) | 0.806 ± 0.014 |")
    assert lines[-1].endswith("0.8150 − 0.0141/√2 = 0.8050.")
