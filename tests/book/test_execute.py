"""book/execute.py runs the book's notebooks in parallel for the build to render: outputs land where myst-nb's
`execute_notebooks: cache` finds them, kernels run in the notebook's folder with the caller's environment, failures
and timeouts name the notebook and cell with the traceback, and nothing of an earlier build survives.

One scratch book of three tiny notebooks is executed once (about 5 s: three kernels start, one cell times out)."""
from __future__ import annotations

import copy
import importlib.util
import os
import re
import subprocess
import sys

import nbformat
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbformat import v4

from book_toc import ROOT

spec = importlib.util.spec_from_file_location("execute", ROOT / "book" / "execute.py")
execute = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute)

TOC = """format: jb-book
root: intro
chapters:
  - file: part/prints
  - file: notes
  - file: fails
  - file: sleeps
"""
CONFIG = """execute:
  execute_notebooks: {mode}
  timeout: 2
"""
md, code = v4.new_markdown_cell, v4.new_code_cell
NOTEBOOKS = {
    "part/prints": [md("# Prints"), code("import os\nprint(os.getcwd())\nprint(os.environ['BOOK_TEST_MARK'])")],
    "fails": [md("# Fails"), code("x = 1"), md("Some text."), code("raise ValueError('deliberate failure')")],
    "sleeps": [md("# Sleeps"), code("import time\ntime.sleep(60)")],
}


def notebook(cells):
    """A Python 3 notebook of (copies of) `cells`."""
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return v4.new_notebook(cells=copy.deepcopy(cells), metadata={"kernelspec": kernelspec})


def write_book(root, mode="cache"):
    (root / "_toc.yml").write_text(TOC)
    (root / "_config.yml").write_text(CONFIG.format(mode=mode))
    (root / "intro.md").write_text("# Intro\n")
    (root / "notes.md").write_text("# Notes\n")
    for name, sources in NOTEBOOKS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(sources), root / f"{name}.ipynb")


def run_script(root, *args):
    env = {**os.environ, "BOOK_TEST_MARK": "seen-by-the-kernel"}
    return subprocess.run([sys.executable, str(ROOT / "book" / "execute.py"), str(root), *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The scratch book executed two at a time, after an earlier build had cached outputs for `fails`."""
    root = tmp_path_factory.mktemp("book")
    write_book(root)
    stale = notebook(NOTEBOOKS["fails"])
    stale.cells[3].outputs = [v4.new_output("stream", name="stdout", text="an earlier build's output\n")]
    get_cache(root / "_build" / ".jupyter_cache").cache_notebook_bundle(
        CacheBundleIn(stale, str(root / "fails.ipynb")), check_validity=False)
    return root, run_script(root, "--jobs", "2")


def cached(root, name):
    """The notebook `name` with the outputs the build would render from the cache (KeyError: none cached)."""
    cache = get_cache(root / "_build" / ".jupyter_cache")
    return cache.merge_match_into_notebook(nbformat.read(root / f"{name}.ipynb", as_version=4))[1]


def test_toc_notebooks_lists_the_tocs_notebooks_in_order(tmp_path):
    write_book(tmp_path)
    assert execute.toc_notebooks(tmp_path) == [tmp_path / "part/prints.ipynb", tmp_path / "fails.ipynb",
                                               tmp_path / "sleeps.ipynb"]


def test_outputs_are_cached_for_the_build_and_kernels_run_in_the_notebooks_folder(executed):
    root, _ = executed
    outputs = cached(root, "part/prints").cells[1].outputs
    assert [o.text for o in outputs] == [f"{root / 'part'}\nseen-by-the-kernel\n"]


def test_a_failing_cell_is_reported_with_notebook_cell_and_traceback(executed):
    _, result = executed
    assert result.returncode == 1
    assert "FAILED fails.ipynb, cell 4 " in result.stderr
    assert "raise ValueError('deliberate failure')" in result.stderr
    assert "ValueError: deliberate failure" in re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)  # without colours
    assert "FAILED: fails.ipynb, sleeps.ipynb (tracebacks above)" in result.stderr  # in the order of the toc
    assert "executed part/prints.ipynb in " in result.stdout
    assert "executed 1 of 3 notebooks in " in result.stdout


def test_a_cell_over_the_timeout_is_reported(executed):
    _, result = executed
    assert "FAILED sleeps.ipynb, cell 2 " in result.stderr
    assert "CellTimeoutError: A cell timed out while it was being executed, after 2 seconds." in result.stderr


def test_an_earlier_builds_outputs_do_not_survive(executed):
    root, _ = executed
    with pytest.raises(KeyError):
        cached(root, "fails")


def test_a_config_that_would_execute_again_is_refused(tmp_path, capsys):
    write_book(tmp_path, mode="force")
    with pytest.raises(SystemExit, match="2"):
        execute.main([str(tmp_path)])
    assert "has execute_notebooks: force; set it to `cache`" in capsys.readouterr().err


def test_jobs_must_be_positive(tmp_path, capsys):
    write_book(tmp_path)
    with pytest.raises(SystemExit, match="2"):
        execute.main([str(tmp_path), "--jobs", "0"])
    assert "--jobs must be at least 1, got 0" in capsys.readouterr().err
