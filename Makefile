# The whole set-up on a fresh machine is `make demo` then `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.brainlike-installed

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[dev,ratinabox]"  # ratinabox: light (with shapely), so CI tests its trajectory source
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/brainlike demo

test: $(STAMP)
	$(VENV)/bin/pytest -q

test-all: $(STAMP)
	$(VENV)/bin/pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check brainlike tests benchmarks
	$(VENV)/bin/ruff format --check brainlike tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_parallel.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
