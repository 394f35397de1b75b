# fundwatch — two commands: `make run` (whole platform, embedded, demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test install schemas clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/fundwatch up

test: install
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

schemas: install
	$(VENV)/bin/fundwatch schemas

clean:
	rm -rf $(VENV) var
