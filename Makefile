# Two commands set everything up on a fresh machine:
#   make demo   train a+b mod 97 until it groks and write the analysis report
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A second, test-only environment with TransformerLens 4.x: the suite runs under both versions.
TL4     := .venv-tl4
TL4_BIN := $(TL4)/bin

.PHONY: setup setup-tl4 demo check check-code check-docs docs test test-slow bench clean

setup: $(VENV)/.installed

# torch is pinned in its own step: an unpinned torch would pull a CUDA build of several GB.
# transformer-lens is installed before grokscope, which keeps whatever version it finds (>= 3.9).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 transformer-lens==3.9.0
	$(BIN)/pip install -q -e '.[dev,ray,lint,docs]'
	$(BIN)/python -m grokscope.precompile   # numba kernels compiled here, not in the first run
	touch $@

setup-tl4: $(TL4)/.installed

$(TL4)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TL4)
	$(TL4_BIN)/pip install -q --upgrade pip
	$(TL4_BIN)/pip install -q torch==2.13.0 transformer-lens==4.3.0
	$(TL4_BIN)/pip install -q -e '.[dev]'
	$(TL4_BIN)/python -m grokscope.precompile
	touch $@

demo: setup
	$(BIN)/grokscope train --task mod97 --out checkpoints
	$(BIN)/grokscope analyze fourier checkpoints/mod97-grok1l-s0 --out reports/mod97.html

# Style, types, the docstrings' examples and the documentation site (built with --strict: a broken reference fails).
check: check-code check-docs

check-code: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check-docs: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules src/grokscope   # the docstrings' examples
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d build/site

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d build/site
	@echo "open build/site/index.html"

# The whole suite under TransformerLens 3.9, then under 4.x; each compares checkpoints with the other.
# Two pytest workers, one compute thread each (tests/conftest.py): this machine has 2 cores.
PYTEST := pytest -q -n 2 --durations=15
# The two environments are built side by side (pip keeps about one core busy each); the checks start
# as soon as the first is ready.
test:
	$(MAKE) -j2 setup setup-tl4 check
	GROKSCOPE_OTHER_PYTHON=$(abspath $(TL4_BIN))/python GROKSCOPE_EXPECT_TL=3 $(BIN)/python -m $(PYTEST)
	GROKSCOPE_OTHER_PYTHON=$(abspath $(BIN))/python GROKSCOPE_EXPECT_TL=4 $(TL4_BIN)/python -m $(PYTEST)

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/analysis_speed.py
	$(BIN)/python benchmarks/lm_speed.py

clean:
	rm -rf $(VENV) $(TL4) build *.egg-info
