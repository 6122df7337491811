"""Student and instructor editions (book/editions.py), and every exercise's checker against its stub and its
solution, both taken from the chapters themselves."""
import contextlib
import importlib.util
import io
import json
import math
import pathlib

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from minidgl.course.exercises import ch01, ch02, ch03, ch04, ch05, ch06, ch07

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("editions", ROOT / "book" / "editions.py")
editions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(editions)


def source(cell):
    return "".join(cell["source"])


def exercises():
    """`(chapter, stub source, solution source, checker-call source)` for every exercise of every chapter."""
    found = []
    for path in CHAPTERS:
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if editions.is_solution(cell):
                found.append(pytest.param(source(cells[i - 1]), source(cell), source(cells[i + 1]),
                                          id=f"{path.stem}:{i}"))
    return found


def run_cell(code, namespace):
    """Execute `code` in `namespace`; return what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)
    return printed.getvalue()


def namespace():
    return {"torch": torch, "F": F, "functional_call": functional_call, "math": math,
            "ch01": ch01, "ch02": ch02, "ch03": ch03, "ch04": ch04, "ch05": ch05,
            "ch06": ch06, "ch07": ch07}


def test_every_chapter_has_its_exercises():
    assert len(exercises()) == 17


@pytest.mark.parametrize("stub,solution,check", exercises())
def test_each_checker_passes_the_chapters_solution_and_calls_the_stub_not_solved(stub, solution, check):
    if "settings" in check:
        pytest.skip("exercise 1.3's checker needs the chapter's measurements (tested in test_ch12_helpers)")
    answers = namespace()
    assert "[PASS]" in run_cell(solution + "\n" + check, answers)
    stubs = namespace()
    printed = run_cell(stub + "\n" + check, stubs)
    assert "[FAIL]" in printed and "not solved yet" in printed and "[PASS]" not in printed


def test_the_student_edition_has_no_solution_and_keeps_every_stub(tmp_path):
    paths = editions.write_editions(tmp_path)
    for chapter in CHAPTERS:
        original = json.loads(chapter.read_text())
        student = json.loads((tmp_path / "student" / chapter.name).read_text())
        solutions = editions.solutions(original)
        text = "\n".join(source(cell) for cell in student["cells"])
        assert editions.MARKER not in text
        for solution in solutions:
            body = [line for line in solution.splitlines() if line.startswith("    ") and line.strip()]
            assert not any(line in text.splitlines() for line in body[-1:]), f"{chapter.name}: {body[-1]}"
        assert len(student["cells"]) == len(original["cells"]) - len(solutions) + 1
        assert editions.STUDENT_NOTE in source(student["cells"][1])
        assert all(not cell.get("outputs") for cell in student["cells"])
        instructor = json.loads((tmp_path / "instructor" / chapter.name).read_text())
        assert [source(c) for c in instructor["cells"]] == [source(c) for c in original["cells"]]
    answer_key = sorted(p.name for p in (tmp_path / "instructor" / "solutions").iterdir())
    assert len(answer_key) == 17 and "04_dgl_Solution_1.py" in answer_key
    assert "def dgl_logits" in (tmp_path / "instructor" / "solutions" / "04_dgl_Solution_1.py").read_text()
    assert len(paths) == 2 * len(CHAPTERS) + 17


def test_editions_overwrite_only_their_own_files(tmp_path):
    mine = tmp_path / "student" / "my_notes.md"
    mine.parent.mkdir()
    mine.write_text("keep me")
    editions.write_editions(tmp_path)
    editions.write_editions(tmp_path)
    assert mine.read_text() == "keep me"
