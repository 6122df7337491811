"""The book's table of contents covers every chapter notebook, and notebooks are committed without bulky outputs."""
from __future__ import annotations

import json

import pytest

from book_toc import ROOT, toc_files

MAX_OUTPUT_BYTES = 200_000  # committed notebooks are stripped; outputs only exist in the built book
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_toc_entries_exist():
    missing = [f for f in toc_files() if not any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_toc(notebook):
    assert f"notebooks/{notebook.stem}" in toc_files(), f"{notebook.name} is not in _toc.yml"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_bulky_outputs(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        size = len(json.dumps(cell.get("outputs", [])))
        assert size <= MAX_OUTPUT_BYTES, (
            f"{notebook.name} cell {i} stores {size / 1e3:.0f} kB of outputs: strip outputs before committing "
            "(jupyter nbconvert --clear-output --inplace)")


def test_fixture_notebook_first_cell_sets_the_book_renderer():
    """The render-test fixture does what every chapter's first code cell must do (see book/setup.md)."""
    nb = json.loads((ROOT / "tests" / "book" / "fixture.ipynb").read_text(encoding="utf-8"))
    first_code = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert 'pio.renderers.default = "plotly_mimetype"' in first_code


def test_no_chapter_installs_from_a_placeholder():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = path.read_text()
        assert "minidgl/minidgl" not in text and "%pip install" not in text and "git+" not in text, \
            f"{path.name}: the course has no public repository to install from (book/setup.md)"
