# Rasad — run `make help` for the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-celery test-cluster es-start es-stop lint lock bench fuzz clean airflow airflow-stop

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --python $(BIN)/python --compile-bytecode requirements.txt
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned dependencies (reproducible)

demo: setup ## set everything up and run the offline demo end to end (Elasticsearch, demo site, Airflow, mail)
	$(BIN)/rasad demo

system-deps: ## Debian packages some tests use (chromium, docker-compose); idempotent
	bash scripts/install-system-deps.sh

test: setup system-deps lint ## lint, then the whole test suite (starts its own Elasticsearch, HTTP and SMTP servers)
	$(BIN)/python -m pytest -q

test-celery: setup system-deps ## only the live fault test under the CeleryExecutor (Redis, PostgreSQL, two workers; make test runs it too)
	$(BIN)/python -m pytest -q -m celery_service tests/service

test-cluster: setup ## indexing, search, event-state and work-queue tests on a local 3-node cluster, a node killed mid-bulk
	RASAD_TEST_ES_NODES=3 $(BIN)/python -m pytest -q tests/indexing tests/enrich/test_event_store.py tests/rasad/test_esnode.py tests/ingest/test_queue.py

es-start: setup ## start the local Elasticsearch node (RASAD_ES_URL, default 127.0.0.1:9200)
	$(BIN)/rasad es start

es-stop: setup ## stop the local Elasticsearch node
	$(BIN)/rasad es stop

airflow: setup ## start the local Airflow service on loopback (options: AIRFLOW_ARGS="--executor celery --db postgres")
	$(BIN)/rasad airflow start $(AIRFLOW_ARGS)

airflow-stop: setup ## stop the local Airflow service and every process it started
	$(BIN)/rasad airflow stop

lint: setup ## ruff and mypy on the code (rules and settings in pyproject.toml)
	$(BIN)/ruff check rasad ingest enrich indexing alerts dags tests bench scripts
	$(BIN)/python scripts/typecheck.py

lock: ## recompile requirements.txt (exact pins) from requirements.in
	$(BIN)/uv pip compile --python 3.11 --no-header --no-annotate requirements.in -o requirements.txt

bench: setup ## run the benchmarks under bench/
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

fuzz: setup ## long fuzz runs: 100,000 inputs per target (docs/reliability.md); T=feed to run one
	@for t in $${T:-feed page yaml text search mail}; do $(BIN)/python bench/fuzz_run.py --target $$t --inputs 100000 --workers 2 || exit 1; done

clean: ## remove var/ (mails, Airflow DB, type-check cache); the cache with Elasticsearch stays
	rm -rf var
