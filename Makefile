# The two commands a new user needs: `make demo` and `make test`. Each builds its own virtual
# environment (one per Airflow version) from nothing but Python 3.

PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venvs/airflow-$(AIRFLOW_VERSION)
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Quiet installs; the machine's pip may list extra local indexes that only produce warnings.
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: demo test test-unit test-integration test-dialects test-plugin test-py310 test-browser test-deployment lint dist-check bench emulator venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	touch $@

## The example pipeline end to end, against a local CDM emulator.
demo: venv
	$(PY) demo/demo.py

## The whole suite (unit and integration) on Airflow $(AIRFLOW_VERSION).
test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: venv
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

## The integration and chaos suites (chaos is marked integration too) under the emulator's other dialects:
## `reference` (the API reference's tables) and `sparse` (every sparse or odd answer shape the evidence allows).
## `make test` runs them under the default, `observed`. CDM_TEST_DIALECT sets the session emulator's dialect,
## CDM_EMULATOR_DIALECT the default of every other emulator the tests start (emulator/dialects.py).
TEST_DIALECTS ?= reference sparse
test-dialects: venv
	@set -e; for dialect in $(TEST_DIALECTS); do \
		echo "== integration and chaos suites under the $$dialect dialect"; \
		CDM_TEST_DIALECT=$$dialect CDM_EMULATOR_DIALECT=$$dialect $(PY) -m pytest -m "integration or chaos" $(PYTEST_ARGS); \
	done

## The pytest plugin (airflow_provider_cdm/pytest_plugin.py, tests/plugin): its quick tests, a whole plugin session
## in a subprocess, and the README's snippet in a new project outside the repository on the built wheel.
test-plugin: venv
	CDM_PLUGIN_TEST=1 $(PY) -m pytest tests/plugin $(PYTEST_ARGS)

## The suite on the oldest Python the package supports (3.10, where pip picks common-compat 1.20 and the
## provider's _compat bridge is used), in its own venv.
PYTHON310 ?= $(firstword $(wildcard /usr/bin/python3.10 /usr/local/bin/python3.10 $(HOME)/.pyenv/versions/3.10*/bin/python3.10))
test-py310:
	@test -n "$(PYTHON310)" || { echo "test-py310: no Python 3.10 found; set PYTHON310=/path/to/python3.10"; exit 1; }
	$(MAKE) test PYTHON=$(PYTHON310) VENV=.venvs/py3.10-airflow-$(AIRFLOW_VERSION)

## The connection form in Airflow 3's UI, driven in headless Chromium (Debian's /usr/bin/chromium, which
## .ci/run installs). SCREENSHOT=docs/img/connection-form.png refreshes the docs' picture of the form.
SCREENSHOT ?=
test-browser: venv $(VENV)/.browser-installed
	CDM_BROWSER_TEST=1 CDM_FORM_SCREENSHOT=$(SCREENSHOT) $(PY) -m pytest tests/browser $(PYTEST_ARGS)

$(VENV)/.browser-installed: $(VENV)/.installed tests/browser/requirements.txt
	$(PY) -m pip install $(PIP_FLAGS) -r tests/browser/requirements.txt
	touch $@

## A real Airflow 3 deployment (PostgreSQL, LocalExecutor, api-server, scheduler, dag-processor, triggerer
## processes on 127.0.0.1) running one DAG against the emulator with quotas; a triggerer is killed mid-run.
## Debian's PostgreSQL is installed when missing (as root). Full size: CDM_DEPLOYMENT_N=300 CDM_DEPLOYMENT_SENSORS=20.
test-deployment: venv $(VENV)/.deployment-installed
	scripts/ensure_postgresql.sh
	CDM_DEPLOYMENT_TEST=1 $(PY) -m pytest tests/deployment $(PYTEST_ARGS)

$(VENV)/.deployment-installed: $(VENV)/.installed tests/deployment/requirements.txt
	$(PY) -m pip install $(PIP_FLAGS) -r tests/deployment/requirements.txt
	touch $@

## ruff (lint and format) on everything, mypy --strict on the package.
lint: venv $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## The wheel and sdist as users get them: built, the wheel installed into a fresh venv, every module imported.
dist-check: venv $(VENV)/.dev-installed
	$(PY) scripts/check_dist.py --airflow $(AIRFLOW_VERSION)

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

## Benchmarks (figures for the README's performance section), markdown tables on stdout; the first four take
## under 10 minutes, the deployment one far longer at full size (BENCH_DEPLOYMENT_ARGS=--quick: a short run).
## The triggerer at N = 100 and 1,000 watched jobs under quotas (shared poller vs per-job polling), the
## DAG-parse cost of the provider, the hook per auth mode, the emulator's own capacity, and a real Airflow
## deployment (bench/deployment.py: N = 300 deferred starts and 20 sensors, 1 and 2 triggerers; long).
BENCH_DEPLOYMENT_ARGS ?=
bench: venv $(VENV)/.deployment-installed
	$(PY) bench/triggerer.py
	$(PY) bench/dag_parse.py
	$(PY) bench/hook_calls.py
	$(PY) bench/emulator_capacity.py
	scripts/ensure_postgresql.sh
	$(PY) bench/deployment.py $(BENCH_DEPLOYMENT_ARGS)

## A CDM emulator in the foreground, for your own DAG tests (Ctrl-C stops it).
emulator: venv
	$(PY) -m airflow_provider_cdm.emulator

clean:
	rm -rf .venvs .pytest_cache build dist
