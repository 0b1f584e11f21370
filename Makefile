# Chiplab: `make run` (embedded platform, no external services) and `make test` (full suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast install lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	MLFLOW_DISABLE_TELEMETRY=true $(PY) manage.py migrate --noinput
	MLFLOW_DISABLE_TELEMETRY=true $(PY) manage.py chiplab_registry_init
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py chiplab_bootstrap
	HOST=$(HOST) PORT=$(PORT) bash infra/run-embedded.sh

test: install
	$(PY) -m pytest

# the quick loop while editing: no real services' worker processes, browsers, faults or load
test-fast: install
	$(PY) -m pytest -m "not integration and not e2e" --ignore=tests/e2e --ignore=tests/faults --ignore=tests/load

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m workers.fewshot.bench --quick

clean:
	rm -rf var
