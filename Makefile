# bookpay — the two commands a newcomer needs: `make run` and `make test`.
# Everything they need is installed on first use into ignored folders (.cache/, .venv/).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
export UV_CACHE_DIR := $(CURDIR)/.cache/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
RUN := $(UV) run --frozen

.PHONY: help install run infra test test-unit test-pythons test-e2e lint format docs screenshots bench chaos clean

help:
	@echo "make run    start Kafka, PostgreSQL, the Stripe stand-in, an SMTP sink and the four services"
	@echo "make test   lint, type-check and run every test (unit, integration, end-to-end)"
	@echo "make lint   ruff, mypy --strict and the import rules"
	@echo "make test-pythons  the unit tests on each supported Python found (3.11 to 3.13)"
	@echo "make docs   regenerate docs/ from the event models and the HTTP APIs"
	@echo "make screenshots  the pages and emails people see, in docs/screenshots/ (Chromium)"
	@echo "make bench  throughput and latency on this machine, as JSON (make bench ARGS=--quick)"
	@echo "make chaos  charges under random faults, then every invariant checked (ARGS=\"--seed 7 --charges 1000\")"

$(UV):
	@mkdir -p $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

.venv/.synced: $(UV) pyproject.toml uv.lock shared/pyproject.toml devstack/pyproject.toml ops/pyproject.toml tools/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(UV) sync --frozen --all-packages
	@touch $@

install: .venv/.synced ## the Python environment (Java and Maven come with the machine)
	@bash devstack/install-system-deps.sh

run: install  ## make run ARGS=--keep-data keeps the previous run's data and demo
	$(RUN) bookpay-devstack run $(ARGS)

infra: install
	$(RUN) bookpay-devstack infra

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy shared/src devstack/src ops/src tools/src services/*/src
	$(RUN) mypy bench
	$(RUN) mypy chaos
	$(RUN) lint-imports --no-cache

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

test: lint
	$(RUN) pytest -q

test-unit: install
	$(RUN) pytest -q -m "not integration and not e2e"

test-pythons: install  ## the unit tests on each supported Python found (3.11, 3.12, 3.13)
	@bash devstack/test-pythons.sh

test-e2e: install
	$(RUN) pytest -q -m e2e

docs: install
	$(RUN) python -m bookpay_docs.contract_docs --write docs/
	$(RUN) python -m bookpay_docs.http_api --write docs/
	$(RUN) python -m bookpay_devstack.compose --write

screenshots: install
	$(RUN) pytest -q -p no:cacheprovider tests/e2e/screenshots.py

bench: install  ## make bench ARGS="--quick | --charges N | --only anchors,page"
	@bash devstack/install-system-deps.sh --bench
	$(RUN) python bench/run_bench.py $(ARGS)

chaos: install  ## make chaos ARGS="--seed 7 --charges 1000 [--duration S]"
	$(RUN) python -m chaos.run $(ARGS)

clean:
	rm -rf var .venv
