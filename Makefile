# Two commands do all set-up on a fresh machine (see README.md):
#   make course   build the environment, then run the course's main job
#   make test     build the environment, then run every test
# The virtual environment lives outside the clone, keyed by a hash of pyproject.toml, so clean clones
# share it; it is created when missing and re-installed only when the pins change. Override with VENV=...

PYTHON  ?= python3.11
PINS    := $(shell sha1sum pyproject.toml | cut -c1-12)
VENV    ?= $(HOME)/.cache/minidgl/venv-$(PINS)
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.minidgl-installed

.PHONY: env course test compare clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

compare: $(STAMP)
	$(BIN)/python -m minidgl compare --dataset av-digits --methods unimodal joint uniform dgl \
		--fusion concat --seeds 0 1 2 --json results/compare.json

course: compare

test: $(STAMP)
	$(BIN)/python -m pytest tests

clean-env:
	rm -rf $(VENV)
