# The two commands a newcomer needs are `make demo` and `make test`; both bootstrap
# the virtual environment on first use and do nothing extra on the next run.
PYTHON ?= python3
VENV   := .venv
UV     := .uv/bin/uv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9

# Faults, load, security and hostile input (issue 6); prints what they measured as a table.
# DATASPACE_LOAD=50x20 for the issue's full load (minutes), default 10x5.
reliability: $(STAMP)
	$(BIN)/pytest -m reliability

# The engines a province would operate (Kafka cluster with ACLs, MinIO, Ceph RGW, PostgreSQL,
# Airflow on Celery), installed and started by infra/production-like/stack, then the tier of
# tests that runs against them (infra/production-like/README.md).
test-production-like: $(STAMP)
	infra/production-like/stack up
	DATASPACE_PRODUCTION_LIKE_REQUIRED=1 $(BIN)/pytest -m production_like tests/production_like

# Issue 20's performance targets, every one from one command (benchmarks/scale.py); prints
# PASS/MISS per target, writes benchmark-results/scale-<stack>.json and its PNG curves.
# STACK=production-like measures on the engines above (`infra/production-like/stack up` first);
# BENCHMARK_ARGS=--quick for a smoke run. Not part of `make test`: the full run takes ~1 hour.
STACK ?= embedded
benchmark: $(STAMP)
	$(BIN)/python benchmarks/scale.py --stack $(STACK) $(BENCHMARK_ARGS)

.PHONY: demo test reliability test-production-like benchmark down up status lint format lock clean

demo: $(STAMP)
	$(BIN)/dataspace up
	$(BIN)/dataspace demo
	@echo "The stack is still running; stop it with: make down"

test: $(STAMP)
	$(BIN)/pytest

up: $(STAMP)
	$(BIN)/dataspace up

down: $(STAMP)
	$(BIN)/dataspace down

status: $(STAMP)
	$(BIN)/dataspace status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-pin every dependency after changing pyproject.toml (needs the package registry).
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 \
		--no-header --no-annotate --quiet -o constraints.txt

clean: down
	rm -rf $(VENV) .uv .dataspace .pytest_cache .mypy_cache .ruff_cache

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode is compiled at install, for the package too: where PYTHONDONTWRITEBYTECODE is set
# (as on these machines) nothing is cached at import, and every command would compile its
# modules anew (benchmarks/cli_startup.py).
$(STAMP): pyproject.toml constraints.txt | $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --python "$$(command -v $(PYTHON))" $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --compile-bytecode -c constraints.txt -e ".[dev]"
	$(BIN)/python -m compileall -q dataspace
	touch $(STAMP)
