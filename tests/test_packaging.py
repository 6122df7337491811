import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_environment_yml_has_the_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | {p for group in project["optional-dependencies"].values() for p in group}
    conda = set(re.findall(r"^\s+- ([A-Za-z0-9_.-]+==[^\s]+)$", (ROOT / "environment.yml").read_text(), re.M))
    assert conda == pins
    assert all("==" in p for p in pins), "every dependency is pinned exactly"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make course" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_import_minidgl_loads_torch_only():
    """The core is light: plots, widgets and the data libraries load with `minidgl.course` or where used."""
    heavy = ["matplotlib", "plotly", "ipywidgets", "IPython", "sklearn", "torchaudio", "torchvision", "minidgl.course",
             "minidgl.reference"]
    code = f"import sys, minidgl; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"import minidgl also loads {loaded}"
