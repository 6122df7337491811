"""The command line checks everything before training (usage errors: one line, exit status 2), records its whole
configuration, and `compare` keeps every finished run: interrupted, it resumes to the same JSON."""
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import minidgl
import minidgl.__main__ as cli
from minidgl.__main__ import build_parser, main
from minidgl.errors import InvalidValue

TOY = ["--dataset", "gaussian-toy", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any training starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the options were checked")
    for name in ("run", "compare", "probe_compare"):
        monkeypatch.setattr(cli, name, refuse)


def usage_error(argv, capsys):
    """The one-line message of a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "0"], "--epochs 0: epochs must be an integer >= 1, got 0"),
    (["train", "--epochs", "-3"], "--epochs -3: epochs must be an integer >= 1"),
    (["train", "--lr", "0"], "--lr 0.0: lr must be a number > 0 and <= 1e6"),
    (["train", "--batch-size", "-5"], "--batch-size -5: batch_size must be an integer >= 1"),
    (["train", "--batch-size", "0"], "--batch-size 0: batch_size must be an integer >= 1"),
    (["train", "--clip-grad-norm", "-1"], "--clip-grad-norm -1.0: clip_grad_norm must be None (no clipping) or a"),
    (["train", "--clip-grad-norm", "0"], "--clip-grad-norm 0.0: clip_grad_norm must be None"),
    (["train", "--micro-batches", "0"], "--micro-batches 0: micro_batches must be an integer >= 1"),
    (["train", "--device", "cuda:99"], "--device cuda:99: device 'cuda:99' is not available on this machine"),
    (["train", "--device", "gpu"], "--device gpu: unknown device 'gpu': use cpu, cuda or cuda:<index>"),
    (["train", "--seed", "99999999999"], "--seed 99999999999: seed must be an integer from 0 to 4294967295"),
    (["train", "--data-seed", "-1"], "--data-seed -1: seed must be an integer from 0 to 4294967295"),
    (["train", "--threads", "0"], "--threads 0: need an integer >= 1"),
    (["train", "--method", "ogm-ge", "--dgl-alpha", "2"], "--dgl-alpha 2.0: DGL's weight, but --method is ogm-ge"),
    (["compare", "--methods", "joint", "--dgl-alpha", "1"], "--dgl-alpha 1.0: DGL's weight, but --methods joint do "
                                                            "not include dgl"),
    (["compare", "--methods", "joint", "dgl", "--dgl-alpha", "inf"], "--dgl-alpha inf: alpha weighs the unimodal "
                                                                      "losses and must be a finite"),
    (["compare", "--methods", "joint", "dgl", "--dgl-alpha", "-1"], "--dgl-alpha -1.0: alpha weighs the unimodal"),
    (["compare", "--seeds", "0", "0"], "--seeds 0 0: seeds [0, 0] repeat [0]"),
    (["compare", "--methods", "joint", "joint"], "--methods joint joint: methods ['joint', 'joint'] run ['joint'] "
                                                 "more than once"),
    (["compare", "--methods", "unimodal", "unimodal:a"], "run ['unimodal:a'] more than once"),
    (["probe", "--fusion", "film"], "--encoder/--fusion mlp/film: film fusion needs the modality"),
    (["train", "--method", "unimodal:c"], "--method unimodal:c: unimodal training of 'c'"),
])
def test_usage_errors_name_the_option_and_value_before_training(argv, message, capsys, no_training):
    line = usage_error(argv + TOY, capsys)
    assert line.startswith(f"python -m minidgl {argv[0]}: error: ") and message in line


@pytest.mark.parametrize("argv,message", [
    (["--image-noise", "nan"], "--image-noise nan: image_noise (a standard deviation) must be a finite number"),
    (["--snr-db", "nan"], "--snr-db nan: snr_db must be a finite number >= -200 and <= 200"),
    (["--snr-db=-inf"], "--snr-db -inf: snr_db must be"),
    (["--copies", "0"], "--copies 0: copies (noisy versions of each image) must be an integer >= 1"),
])
def test_data_knobs_are_checked_before_the_data_is_made(argv, message, capsys, no_training, monkeypatch):
    monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: pytest.fail("the data was made before the check"))
    assert message in usage_error(["train", "--quiet", *argv], capsys)


def test_the_json_target_is_checked_before_training(tmp_path, capsys, no_training):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "it is a folder" in usage_error(["train", *TOY, "--json", str(tmp_path)], capsys)
    assert "cannot write JSON to" in usage_error(["compare", *TOY, "--json", str(a_file / "out.json")], capsys)


def test_debug_shows_the_traceback():
    with pytest.raises(InvalidValue, match="--epochs 0: epochs must be"):
        main(["train", *TOY, "--epochs", "0", "--debug"])


def test_train_json_records_its_configuration(tmp_path, capsys):
    path = tmp_path / "train.json"
    main(["train", *TOY, "--method", "dgl", "--dgl-alpha", "0.25", "--epochs", "1", "--clip-grad-norm", "40",
          "--json", str(path)])
    record = json.loads(path.read_text())
    config = record["config"]
    assert record["method"] == "dgl" and config["method"] == "DGL(alpha=0.25)" and config["seed"] == 0
    assert config["dataset"] == "gaussian-toy" and config["data"] == {"seed": 0}
    assert (config["epochs"], config["clip_grad_norm"], config["amp"]) == (1, 40.0, False)
    assert config["device"] == str(minidgl.default_device())
    assert config["versions"]["minidgl"] == minidgl.__version__ and set(config["versions"]) == {"minidgl", "torch",
                                                                                                "python"}


def test_the_data_record_fills_in_the_av_digits_defaults():
    args = build_parser().parse_args(["compare", "--snr-db", "-10", "--data-seed", "3"])
    assert cli._data_record(args) == {"dataset": "av-digits",
                                      "data": {"seed": 3, "image_noise": 0.5, "snr_db": -10.0, "copies": 20}}


COMPARE = ["compare", *TOY, "--methods", "joint", "dgl", "--seeds", "0", "1", "--epochs", "1"]


def test_an_interrupted_compare_keeps_finished_runs_and_resumes_to_the_same_json(tmp_path, capsys, monkeypatch):
    whole = tmp_path / "whole.json"
    main([*COMPARE, "--json", str(whole)])
    expected = json.loads(whole.read_text())
    config = expected["config"]
    assert {"data", "dataset", "clip_grad_norm", "amp", "device", "micro_batches", "versions", "data_digest"} <= \
        set(config) and config["data"] == {"seed": 0}
    assert [(r["method"], r["seed"]) for r in expected["runs"]] == [("joint", 0), ("joint", 1), ("dgl", 0), ("dgl", 1)]

    real_run, calls = minidgl.experiments.run, []
    def interrupted_on_the_third(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 3:
            raise KeyboardInterrupt  # as Ctrl-C during the third training
        return real_run(*args, **kwargs)
    monkeypatch.setattr(minidgl.experiments, "run", interrupted_on_the_third)
    partial = tmp_path / "partial.json"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*COMPARE, "--json", str(partial)])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == (f"interrupted: 2 finished run(s) are saved in {partial}; continue with "
                                       f"--resume {partial}\n")
    saved = json.loads(partial.read_text())
    assert list(saved["results"]) == ["joint"] and len(saved["runs"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial.json", "whole.json"]  # no temporary file left

    calls.clear()
    main([*COMPARE, "--resume", str(partial)])
    assert calls == [0, 1]  # only dgl's two seeds trained again
    assert json.loads(partial.read_text()) == expected


def test_resume_refuses_other_settings(tmp_path, capsys):
    path = tmp_path / "c.json"
    main(["compare", *TOY, "--methods", "joint", "--seeds", "0", "--epochs", "1", "--json", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", *TOY, "--methods", "joint", "--seeds", "0", "--epochs", "2", "--resume", str(path)])
    assert "was run with other settings: epochs=1 (now 2)" in str(exit_info.value.code)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(epochs=st.sampled_from(["-1", "0", "1", "2.5", "x"]), lr=st.sampled_from(["0", "-0.1", "nan", "inf", "0.05"]),
       batch_size=st.sampled_from(["-5", "0", "1", "64"]), clip=st.sampled_from([None, "-1", "0", "nan", "40"]),
       seeds=st.lists(st.sampled_from(["0", "1", "-1", "4294967296"]), min_size=1, max_size=3),
       methods=st.lists(st.sampled_from(["joint", "dgl", "unimodal", "unimodal:a", "ogm-ge", "nope"]), min_size=1,
                        max_size=3),
       alpha=st.sampled_from([None, "0.5", "-1", "nan"]), device=st.sampled_from([None, "cpu", "cuda:3", "mps", "?"]),
       threads=st.sampled_from([None, "0", "1"]))
def test_any_compare_command_is_run_with_sound_options_or_refused_in_one_line(
        epochs, lr, batch_size, clip, seeds, methods, alpha, device, threads, monkeypatch, capsys):
    calls = []
    def record(data, methods, seeds, encoder, fusion, alpha, **options):
        calls.append(options)
        return {"results": {}, "config": {"modalities": data.modalities}}
    monkeypatch.setattr(cli, "compare", record)
    argv = ["compare", *TOY, "--epochs", epochs, "--lr", lr, "--batch-size", batch_size, "--seeds", *seeds,
            "--methods", *methods]
    for flag, value in (("--clip-grad-norm", clip), ("--dgl-alpha", alpha), ("--device", device),
                        ("--threads", threads)):
        argv += [flag, value] if value is not None else []
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code == 2 and not calls
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        return
    options = calls[0]
    minidgl.train.make_config(**{k: v for k, v in options.items() if k not in ("save", "resume", "record")})
    assert len(set(seeds)) == len(seeds) and "nope" not in methods
