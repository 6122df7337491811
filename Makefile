# Two commands do all set-up on a fresh machine (see README.md):
#   make course   build the environment, then run the course's main job and build the book
#   make test     build the environment, then run every test (unit, notebooks, rendered book)
# The virtual environment lives outside the clone, keyed by a hash of pyproject.toml, so clean clones
# share it; it is created when missing and re-installed only when the pins change. Override with VENV=...

PYTHON  ?= python3.11
PINS    := $(shell sha1sum pyproject.toml | cut -c1-12)
VENV    ?= $(HOME)/.cache/minidgl/venv-$(PINS)
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.minidgl-installed

# The venv is shared by every clone and its editable install points at one of them: put this checkout
# first on the path so that every command below (and every notebook kernel) runs this checkout's code.
export PYTHONPATH := $(CURDIR)

.PHONY: env course test notebooks compare probe book browser editions clean-env clean-book

env: $(STAMP)

# pip byte-compiles what it installs on one core; compileall does it on all of them (30 s less on two cores).
# torch's py312_intrinsics.py is Python 3.12 syntax, which pip skips silently; compileall is told to skip it.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[course,data,dev]'
	$(BIN)/python -m compileall -q -j 0 -x py312_intrinsics $(VENV)/lib
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

compare: $(STAMP)
	$(BIN)/python -m minidgl compare --dataset av-digits --methods unimodal joint uniform ogm-ge mmpareto dgl \
		--fusion concat --seeds 0 1 2 --threads 1 --quiet --json results/compare.json

probe: $(STAMP)
	$(BIN)/python -m minidgl probe --dataset av-digits --methods unimodal joint uniform ogm-ge mmpareto dgl \
		--fusion concat --seeds 0 1 2 --threads 1 --quiet --json results/probe.json

course: probe book

# The Jupyter Book (HTML in _build/html): vendor the JavaScript the pages load (MathJax and the widget
# manager from npm, plotly.js from the plotly package) so that they render offline; execute every notebook
# of _toc.yml from scratch, BOOK_JOBS at a time, in the order of _toc.yml (book/execute.py: each kernel in
# its notebook's folder; a failing cell fails the build, with its notebook, cell and traceback); then render
# those executions (execute_notebooks: cache in _config.yml: nothing is executed twice); any error or warning
# fails. Trainings and probes come back from the results cache when they are exactly the same
# (book/setup.md); MINIDGL_CACHE=off recomputes everything. `probe` trains on one thread, as the chapters
# do, so that the book reads back the runs it trained.
BOOK_JOBS    ?= 2
EXECUTE_BOOK := $(BIN)/python book/execute.py --jobs $(BOOK_JOBS)
RENDER_BOOK  := $(BIN)/jupyter-book build . --all --warningiserror

book: $(STAMP)
	book/vendor.sh $(BIN)/python
	$(EXECUTE_BOOK)
	$(RENDER_BOOK)

# Headless Chromium for the render and lab tests (Debian package; CI runs as root).
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# The book build executes every chapter and fails on any error (the chapters' hidden assertions included), so
# it is the notebook test; nbval would execute them a second time for nothing. The unit tests run beside it,
# in one process, from the start (their report is printed at the end): cold, the chapters are the longer
# part and take both cores once the unit tests are done; warm (results cache full), the unit tests are, and
# go on beside the browser-side tests. Those start as soon as the book is built, side by side on two
# workers: the routing lab is driven in a real JupyterLab (chapter 4's student edition, run all there), the
# other chapters' student editions run top to bottom, and the render test checks the pages the build wrote
# (the chapters' trainings come back from the results cache the build filled). `make notebooks` runs the
# chapters under nbval alone.
AFTER_BOOK := tests/book/test_lab.py tests/book/test_student_edition.py tests/book/test_rendered.py
UNIT_LOG   := _build/unit-tests.log

test: $(STAMP) browser
	book/vendor.sh $(BIN)/python
	mkdir -p _build
	$(BIN)/python -m pytest tests $(AFTER_BOOK:%=--ignore=%) >$(UNIT_LOG) 2>&1 & units=$$!; \
	$(EXECUTE_BOOK) && $(RENDER_BOOK) && MINIDGL_REQUIRE_BOOK=1 $(BIN)/python -m pytest -n 2 --dist loadgroup \
		$(AFTER_BOOK); book=$$?; \
	wait $$units; unit_status=$$?; echo "== unit tests (run beside the book build and the browser tests)"; \
	cat $(UNIT_LOG); test $$book -eq 0 && test $$unit_status -eq 0

# Student and instructor editions of the chapters (Neuromatch's convention, see book/editions.py):
# editions/student (no solutions) and editions/instructor (solutions, and solutions/*.py as an answer key).
editions: $(STAMP)
	$(BIN)/python book/editions.py editions

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax notebooks

clean-env:
	rm -rf $(VENV)

clean-book:
	rm -rf _build book/_vendor book/node_modules
