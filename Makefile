# Two commands set everything up on a fresh machine:
#   make demo   train a+b mod 97 until it groks and write the analysis report
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-slow bench clean

setup: $(VENV)/.installed

# torch is pinned in its own step: an unpinned torch would pull a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m grokscope.precompile   # numba kernels compiled here, not in the first run
	touch $@

demo: setup
	$(BIN)/grokscope train --task mod97 --out checkpoints
	$(BIN)/grokscope analyze fourier checkpoints/mod97-grok1l-s0 --out reports/mod97.html

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/analysis_speed.py
	$(BIN)/python benchmarks/lm_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
