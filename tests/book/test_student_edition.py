"""The student edition runs top to bottom: every stub's checker says "not solved yet", nothing crashes.

Run after the book build (`make test` does), so that the chapters' trainings come back from the results
cache the build filled; each chapter is executed in a fresh kernel, as a student's "Run all" would."""
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
CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


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
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.get("name") == "stdout")
    checks = printed.count("[FAIL]") + printed.count("[PASS]")
    assert printed.count("not solved yet") == len(editions.solutions(nbformat.read(ROOT / "notebooks" / chapter,
                                                                                    as_version=4)))
    assert "[PASS]" not in printed and checks == printed.count("not solved yet")
