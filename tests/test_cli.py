import json
import subprocess
import sys

import pytest

import minidgl

from minidgl.__main__ import main


def test_compare_prints_a_table_and_writes_the_json_schema(tmp_path, capsys):
    path = tmp_path / "out" / "compare.json"
    main(["compare", "--dataset", "gaussian-toy", "--methods", "unimodal", "joint", "dgl", "--dgl-alpha", "2",
          "--seeds", "0", "1", "--epochs", "2", "--quiet", "--json", str(path)])
    table = capsys.readouterr().out
    assert "| unimodal:a |" in table and "| dgl |" in table and "±" in table
    report = json.loads(path.read_text())
    assert list(report["results"]) == ["unimodal:a", "unimodal:b", "joint", "dgl"]
    row = report["results"]["dgl"]
    assert set(row["test_acc"]) == {"mean", "std", "per_seed"} and len(row["test_acc"]["per_seed"]) == 2
    assert set(row["unimodal_test_acc"]) == {"a", "b"}
    assert report["config"]["alpha"] == 2 and report["config"]["selection"] == "validation accuracy"


def test_train_command(tmp_path, capsys):
    main(["train", "--dataset", "gaussian-toy", "--method", "unimodal:a", "--epochs", "2", "--quiet",
          "--json", str(tmp_path / "h.json")])
    assert "unimodal:a: test accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "h.json").read_text())["method"] == "unimodal:a"


@pytest.mark.parametrize("argv,message", [
    (["train", "--method", "ogm-xx", "--epochs", "1"], "unknown method 'ogm-xx'"),
    (["train", "--dataset", "gaussian-toy", "--snr-db", "3"], "apply to av-digits only"),
    (["train", "--dataset", "gaussian-toy", "--fusion", "gated:a", "--method", "unimodal:c"], "unimodal training of 'c'"),
    (["probe", "--dataset", "gaussian-toy", "--methods", "joint", "ogm-xx"], "unknown method 'ogm-xx'"),
    (["probe", "--dataset", "gaussian-toy", "--image-noise", "1"], "apply to av-digits only"),
])
def test_errors_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--quiet"])
    assert exit_info.value.code == 2  # a usage error, found before any training
    assert message in capsys.readouterr().err


def test_python_dash_m_minidgl_runs_the_command_line():
    result = subprocess.run([sys.executable, "-m", "minidgl", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: python -m minidgl" in result.stdout


@pytest.mark.parametrize("command", [["train"], ["compare"], ["probe"]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--help"])
    assert stopped.value.code == 0 and f"usage: python -m minidgl {command[0]}" in capsys.readouterr().out


def test_a_bug_is_not_reported_as_a_user_error(monkeypatch):
    """Only minidgl's own errors become one-line messages; any other exception keeps its traceback."""
    import minidgl.__main__ as cli

    def broken(*args, **kwargs):
        raise TypeError("a bug inside a fusion")
    monkeypatch.setattr(cli, "run", broken)
    with pytest.raises(TypeError, match="a bug inside a fusion"):
        main(["train", "--dataset", "gaussian-toy", "--quiet"])


def test_debug_shows_the_traceback_of_a_user_error():
    with pytest.raises(minidgl.errors.InvalidValue, match="av-digits only"):
        main(["train", "--dataset", "gaussian-toy", "--image-noise", "1", "--debug"])
