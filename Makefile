# Everything a developer or CI runs. Every target first makes sure `.venv` exists and holds
# the project as pyproject.toml describes it (reinstalled only when pyproject.toml changes).
#
#   make up        the whole service in the foreground (embedded servers, state in .data/);
#                  FOLLOW=1 also copies the worker's and the API's logs to the terminal
#   make up-deps   only the servers (PostgreSQL, Temporal, S3, fake Replicate)
#   make worker    the Temporal worker alone; make api: the API alone; make migrate
#   make test      every test, on a stack of its own (free ports, temporary data)
#   make lint      ruff and mypy

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mediagen-installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv up up-deps worker api migrate test lint bench record-histories

help:
	@sed -n 's/^#   //p' Makefile

venv:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@sum=$$(sha256sum pyproject.toml | cut -d' ' -f1); \
	if [ "$$(cat $(STAMP) 2>/dev/null)" != "$$sum" ]; then \
		echo "installing the project into $(VENV) (pyproject.toml changed)"; \
		$(PY) -m pip install --quiet -e '.[dev]' && \
		echo "$$sum" > $(STAMP); \
	fi

up: venv
	$(PY) -m devstack up $(if $(FOLLOW),--follow)

up-deps: venv
	$(PY) -m devstack up --deps-only

worker: venv
	$(PY) -m devstack run worker

api: venv
	$(PY) -m devstack run api

migrate: venv
	$(PY) -m devstack run migrate

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

bench: venv
	$(PY) -m bench
	$(PY) -m bench variants --write
	$(PY) -m bench uploads --write
	$(PY) -m bench progress --write
	$(PY) -m bench streams --write

record-histories: venv
	$(PY) -m tests.replay.record
	$(PY) -m tests.replay.record_reconcile
