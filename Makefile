# The two set-up commands of the README are `make demo` and `make test`; each builds what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12: on PATH, or under pyenv (it is not the default python3 on these machines).
PY312 ?= $(shell scripts/find-python312)
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PUBLISHED_VENV := .venv-published
SEED_VENV := .venv-seed
# The browser tests drive this Chromium (Debian's package); Playwright's own browser download is not used.
CHROMIUM := /usr/bin/chromium
export UV_PYTHON := $(PY312)
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: reliability bench wrk help setup demo test lint format published-client seed-client browser clean

help:
	@echo "make demo         set up, start the service on the embedded default, run the main job"
	@echo "make test         set up and run the whole test suite (CI runs this)"
	@echo "make lint         ruff check, format check and mypy"
	@echo "make reliability  the slow reliability tests: fuzzing, database outage, V1 commits and compute deployments killed (CI runs them too)"
	@echo "make bench        the benchmarks (data path, open latency, API load, catalog scale, V1, compute, web pages, maintenance); not in make test"
	@echo "make published-client, make seed-client   venvs of the published 1.x and 0.15-era clients (for make test)"
	@echo "make browser      install Chromium from the system packages if missing (browser tests)"

$(UV):
	@test -n "$(PY312)" || { echo "Python 3.12 not found: install it or pass PY312=/path/to/python3.12" >&2; exit 1; }
	$(PY312) -m venv .tools
	.tools/bin/pip install --isolated --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --quiet
	@touch $@

setup: $(VENV)/.synced

# The hosted product's published client shares our import name, so it gets a venv of its own.
$(PUBLISHED_VENV)/.synced: $(UV) tests/published_client/requirements.txt
	$(UV) venv --quiet --allow-existing $(PUBLISHED_VENV)
	$(UV) pip install --quiet --python $(PUBLISHED_VENV)/bin/python --require-hashes -r tests/published_client/requirements.txt
	@touch $@

published-client: $(PUBLISHED_VENV)/.synced

# The seed-era client (the 0.15 line, V1 repos over zarr-python 2) also shares our import name: a venv of its own.
$(SEED_VENV)/.synced: $(UV) tests/seed_client/requirements.txt
	$(UV) venv --quiet --allow-existing $(SEED_VENV)
	$(UV) pip install --quiet --python $(SEED_VENV)/bin/python --require-hashes -r tests/seed_client/requirements.txt
	@touch $@

seed-client: $(SEED_VENV)/.synced

# Chromium from the system packages, as root or through sudo.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "$(CHROMIUM) is missing and neither root nor sudo is available to install it: install the chromium and chromium-driver packages" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null || { echo "$(CHROMIUM) is missing and there is no apt-get: install Chromium at $(CHROMIUM)" >&2; exit 1; }; \
	  echo "installing chromium (apt-get)"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	}
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing after installing chromium" >&2; exit 1; }

# wrk (HTTP load generator) from the system packages, for the API benchmark.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "wrk is missing and neither root nor sudo is available to install it: install the wrk package" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null || { echo "wrk is missing and there is no apt-get: install wrk" >&2; exit 1; }; \
	  echo "installing wrk (apt-get)"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	}

# BENCH_ARGS: e.g. --quick, --only api (see python -m benchmarks --help). Results: .bench/results.json
bench: setup wrk
	$(PY) -m benchmarks $(BENCH_ARGS)

demo: setup
	$(PY) examples/demo.py

lint: setup
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix src tests examples benchmarks
	$(VENV)/bin/ruff format src tests examples benchmarks

# The suite runs in PYTEST_WORKERS processes, a test module per worker at a time (its module-scoped services and
# browser stay in one process); most of a test's time is spent waiting on services, so more workers than cores pay.
PYTEST_WORKERS ?= 3

test: setup published-client seed-client browser lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

reliability: setup
	$(PY) -m pytest tests -m reliability -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf .tools $(VENV) $(PUBLISHED_VENV) $(SEED_VENV) .demo .pytest_cache .ruff_cache .mypy_cache
