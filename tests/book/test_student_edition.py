"""The student edition runs top to bottom: every stub's checker says "not solved yet", nothing crashes.

Run after the book build (`make test` does), so that the chapters' trainings come back from the results
cache the build filled; each chapter is executed in a fresh kernel, as a student's "Run all" would.
Chapter 4's student edition is run in a real JupyterLab instead, by `test_lab.py` (the routing lab's test),
with the same checks (`assert_student_run`)."""
import importlib.util
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import CHAPTERS_CACHE

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("editions", ROOT / "book" / "editions.py")
editions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(editions)
IN_JUPYTERLAB = "04_dgl.ipynb"  # run by test_lab.py
CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if p.name != IN_JUPYTERLAB)


def assert_student_run(chapter, notebook):
    """`notebook` (the student edition of `chapter`, executed) ran every cell without an error, and every
    exercise's checker said "not solved yet" (never PASS or FAIL)."""
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.get("output_type") == "error"]
    assert not errors, f"{chapter}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert all(cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code"), \
        f"{chapter}: not every cell ran"
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.get("name") == "stdout")
    checks = printed.count("[FAIL]") + printed.count("[PASS]")
    expected = len(editions.solutions(nbformat.read(ROOT / "notebooks" / chapter, as_version=4)))
    assert printed.count("not solved yet") == expected, f"{chapter}: {printed.count('not solved yet')} of {expected}"
    assert "[PASS]" not in printed and checks == printed.count("not solved yet")


@pytest.fixture(scope="module")
def student_edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    editions.write_editions(out)
    return out / "student"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_student_edition_runs_top_to_bottom(chapter, student_edition, monkeypatch):
    if CHAPTERS_CACHE is None:
        monkeypatch.delenv("MINIDGL_CACHE")
    else:
        monkeypatch.setenv("MINIDGL_CACHE", CHAPTERS_CACHE)
    notebook = nbformat.read(student_edition / chapter, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    assert_student_run(chapter, notebook)
