# invoice-relay developer commands. Everything runs from a local virtualenv that `make` creates.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock test test-fast lint typecheck format run run-reset bench bench-quick clean

## make install: the project with its extras, every runtime dependency at the version requirements.txt pins
$(STAMP): pyproject.toml requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -c requirements.txt
	@touch $(STAMP)

install: $(STAMP)

## make lock: requirements.txt again, after pyproject.toml's dependencies changed (a test says when it is due)
lock:
	$(PYTHON) -m tools.lock

## make test: lint, type-check, then the whole suite (a bundled Valkey starts when REDIS_URL is unset). Test
## files run in parallel (pytest-xdist, one file per worker at a time so that a file's shared relay starts once):
## most of the suite waits on real processes and sockets, not on the CPU.
## The console's browser tests drive Debian's `chromium` (or the one RELAY_TEST_CHROMIUM names): without one
## they are skipped, and under CI=true they fail. Their screenshots go to tests/browser/artifacts/.
TEST_WORKERS ?= 4
test: $(STAMP) lint typecheck
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(PY) -m pytest -q -x

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

## make run: the relay with a bundled Valkey, the provider sandbox, and a sample subscriber; its state is kept in
## data/$PORT/ across runs. make run-reset: the same, from an empty data folder.
run: $(STAMP)
	$(PY) -m sandbox.demo

run-reset: $(STAMP)
	$(PY) -m sandbox.demo --reset

## make bench: every benchmark beside its ceiling (about 10 minutes); bench-quick: under 3 minutes
bench: $(STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
