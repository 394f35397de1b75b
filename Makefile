# fundwatch — two commands: `make run` (whole platform, embedded, demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test test-fast lint install schemas clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,lint]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/fundwatch up

test: install
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

# the pure tier: rules, postings, contracts, life cycle — no broker, no database (seconds)
test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider -m unit $(PYTEST_ARGS) tests

lint: install
	$(VENV)/bin/ruff check services contracts tests benchmarks
	$(VENV)/bin/mypy

schemas: install
	$(VENV)/bin/fundwatch schemas

clean:
	rm -rf $(VENV) var
