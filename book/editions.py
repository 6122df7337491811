"""Student and instructor editions of the chapters: `python book/editions.py OUT` (or `make editions`).

Convention: Neuromatch Academy's. A solution is a code cell whose first line contains `to_remove`; the cell
before it is the exercise's stub (it raises `NotImplementedError`) and the cell after it calls the checker.

- `OUT/student/`: every chapter without its solution cells, outputs cleared. The stubs stay, so each checker
  prints "not solved yet" until the student's code passes, and "Run all" runs the whole chapter (a chapter
  that needs an exercise's function uses minidgl's own until the student's passes).
- `OUT/instructor/`: every chapter as the course ships it (solutions in place, folded in the book), outputs
  cleared, plus `OUT/instructor/solutions/<chapter>_Solution_<n>.py`, each solution as a file: the answer key.

Neuromatch rather than nbgrader: the chapters already follow stub -> solution -> checker with checkers that
print their own messages; nbgrader's markers, database and release steps add a dependency that a course
taken alone, in Colab or a plain JupyterLab, does not need. Files of the same name in `OUT/student` and
`OUT/instructor` are overwritten; nothing else is touched.
"""
import argparse
import copy
import json
import pathlib

MARKER = "to_remove"
ROOT = pathlib.Path(__file__).resolve().parent.parent
STUDENT_NOTE = ("**Student edition.** The solutions are not in this notebook. Write your code in each exercise's "
                "cell; its checker prints `[PASS]` when it is right and `not solved yet` until then.")


def is_solution(cell):
    """Whether `cell` is a solution: a code cell whose first line contains `to_remove`."""
    lines = "".join(cell["source"]).splitlines()
    return cell["cell_type"] == "code" and bool(lines) and MARKER in lines[0]


def cleared(notebook):
    """A copy of `notebook` with every output and execution count removed."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def student_edition(notebook):
    """`notebook` without its solution cells and outputs, with a note after the title."""
    notebook = cleared(notebook)
    cells = [cell for cell in notebook["cells"] if not is_solution(cell)]
    note = {"cell_type": "markdown", "id": "student-edition-note", "metadata": {}, "source": [STUDENT_NOTE]}
    notebook["cells"] = cells[:1] + [note] + cells[1:]
    return notebook


def solutions(notebook):
    """The source of each solution cell, in order, without its marker line."""
    return ["".join(cell["source"]).split("\n", 1)[1] for cell in notebook["cells"] if is_solution(cell)]


def write_editions(out, notebooks=ROOT / "notebooks"):
    """Write the student and instructor editions of every chapter in `notebooks` under `out`. Returns the
    paths written."""
    out = pathlib.Path(out)
    written = []
    for path in sorted(pathlib.Path(notebooks).glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        for edition, content in (("student", student_edition(notebook)), ("instructor", cleared(notebook))):
            target = out / edition / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")
            written.append(target)
        for n, solution in enumerate(solutions(notebook), start=1):
            target = out / "instructor" / "solutions" / f"{path.stem}_Solution_{n}.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(solution if solution.endswith("\n") else solution + "\n")
            written.append(target)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path, help="folder for student/ and instructor/ (e.g. editions)")
    args = parser.parse_args()
    paths = write_editions(args.out)
    print(f"wrote {len(paths)} files under {args.out}/student and {args.out}/instructor")
