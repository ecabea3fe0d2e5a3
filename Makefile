# Every target delegates to a real command; `make help` lists them.
PYTHON ?= python3
VENV   := .venv
UV     := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help dev up test test-unit lint typecheck bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "trstctl needs Python 3.11 or newer; run with PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

dev: $(VENV)/.synced ## Create .venv and install everything from uv.lock

up: dev ## Start NATS, PostgreSQL and all five services on embedded defaults (Ctrl-C stops)
	$(VENV)/bin/trstctl up

test: dev ## Run every test (unit + integration on real NATS and PostgreSQL)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: dev ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev ## mypy --strict on libs and service domains
	$(VENV)/bin/mypy

bench: dev ## Run the benchmarks and print their figures
	$(VENV)/bin/python bench/events_bench.py
	$(VENV)/bin/python bench/egress_bench.py
	@if [ -f bench/issuer_bench.py ]; then $(VENV)/bin/python bench/issuer_bench.py; fi

clean: ## Remove the venv and local state
	rm -rf $(VENV) .trstctl
