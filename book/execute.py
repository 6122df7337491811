"""Execute the book's notebooks, several at a time, for `jupyter-book build` to render: `python book/execute.py`.

    usage: python book/execute.py [ROOT] [--jobs N]        (run by `make book` and `make test`, N = 2)

Every notebook that ROOT/_toc.yml lists (`.ipynb`; ROOT defaults to the current folder) is run from scratch by
nbclient, N at a time, each kernel in the notebook's own folder (the chapters read relative paths) with this
process's environment (PYTHONPATH included), the per-cell timeout `execute.timeout` of ROOT/_config.yml. They
start in the order of the table of contents, not longest first: on two cores both orders finish the course's
chapters within seconds of each other, and this one starts a chapter after most of the earlier ones whose
trainings it reads back from the results cache (book/setup.md); one that the chapter beside it is training, it
waits for (the cache's lock), so that nothing is trained twice.

The executed notebooks go into a jupyter-cache (ROOT/_build/.jupyter_cache, where the build looks), emptied first
so that nothing of an earlier build survives; `execute_notebooks: cache` in _config.yml makes the build render
them from there without executing them again. A cell that fails or times out is reported with its notebook, its
cell number and the traceback, the other notebooks still run, and the exit status is 1.
"""
import argparse
import concurrent.futures
import shutil
import sys
import time
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient
from sphinx_external_toc.parsing import parse_toc_yaml

CACHE = "_build/.jupyter_cache"  # myst-nb's default under jupyter-book: beside the HTML in _build/html


def toc_notebooks(root):
    """The `.ipynb` files that `root/_toc.yml` lists, in its order."""
    docs = parse_toc_yaml(root / "_toc.yml").keys()
    return [root / f"{doc}.ipynb" for doc in docs if (root / f"{doc}.ipynb").is_file()]


def execute(path, timeout):
    """Run the notebook at `path` in its folder. Returns `(executed notebook, seconds, failure)`, where `failure`
    is `None` or `(number of the failing cell, counted from 1 with Markdown cells, error with its traceback)`."""
    notebook = nbformat.read(path, as_version=4)
    current = {"cell": 0}
    client = NotebookClient(notebook, timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=lambda cell, cell_index: current.update(cell=cell_index + 1))
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as error:  # a cell's error, a timeout, a kernel that died: all reported, none raised here
        return notebook, time.perf_counter() - start, (current["cell"], f"{type(error).__name__}: {error}")
    return notebook, time.perf_counter() - start, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".", type=Path, help="the book's folder (_toc.yml, _config.yml)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time (default: 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    root = args.root.resolve()
    settings = yaml.safe_load((root / "_config.yml").read_text()).get("execute", {})
    if settings.get("execute_notebooks") != "cache":
        parser.error(f"{root / '_config.yml'} has execute_notebooks: {settings.get('execute_notebooks')}; set it to "
                     f"`cache` so that the build renders these executions instead of executing every notebook again")

    cache_path = root / CACHE
    shutil.rmtree(cache_path, ignore_errors=True)
    cache = get_cache(cache_path)
    notebooks = toc_notebooks(root)
    print(f"executing {len(notebooks)} notebooks, {args.jobs} at a time", flush=True)
    start = time.perf_counter()
    failed = []
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        runs = {pool.submit(execute, path, settings.get("timeout", 30)): path for path in notebooks}
        for run in concurrent.futures.as_completed(runs):
            path = runs[run]
            notebook, seconds, failure = run.result()
            name = path.relative_to(root)
            if failure:
                failed.append(name)
                print(f"FAILED {name}, cell {failure[0]} (after {seconds:.0f} s):\n{failure[1]}", file=sys.stderr,
                      flush=True)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"executed {name} in {seconds:.0f} s", flush=True)
    print(f"executed {len(notebooks) - len(failed)} of {len(notebooks)} notebooks in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        failed.sort(key=lambda name: notebooks.index(root / name))
        print(f"FAILED: {', '.join(map(str, failed))} (tracebacks above)", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
