# fundwatch — two commands: `make run` (whole platform, embedded, demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test test-fast lint install schemas clean browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,lint]"
	touch $@

# the browser libraries the console and every /docs serve locally (npm registry, at install time)
VENDORED := services/console/static/vendor/echarts.min.js
$(VENDORED): services/console/vendor.sh services/console/vendor_geo.mjs
	sh services/console/vendor.sh

# the console's browser tests drive Debian's chromium; without apt they skip, saying why
browser:
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) || echo "no chromium: the console's browser tests will skip")

install: $(VENV)/.installed $(VENDORED)

run: install
	$(VENV)/bin/fundwatch up

test: install browser
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

# the pure tier: rules, postings, contracts, life cycle — no broker, no database (seconds)
test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider -m unit $(PYTEST_ARGS) tests

lint: install
	$(VENV)/bin/ruff check services contracts
	$(VENV)/bin/mypy

schemas: install
	$(VENV)/bin/fundwatch schemas

clean:
	rm -rf $(VENV) var
