# The whole set-up on a fresh machine is `make demo` then `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.brainlike-installed

.PHONY: demo test test-all lint bench clean services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[dev,ratinabox,postgres]"  # ratinabox: light (with shapely), so CI tests its trajectory source
	touch $(STAMP)

# The real components the tests use: Debian's Chromium (report tests) and PostgreSQL (results
# database and search studies on a server; tests/conftest.py starts a throwaway cluster). Installed
# here only when missing, and only as root (CI runs as root); elsewhere a line says how.
services:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing); their tests will be skipped"; \
		fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/brainlike demo

test: $(STAMP) services
	$(VENV)/bin/pytest -q

test-all: $(STAMP) services
	$(VENV)/bin/pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check brainlike tests benchmarks
	$(VENV)/bin/ruff format --check brainlike tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_parallel.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
