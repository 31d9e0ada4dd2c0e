# The README's two commands: `make up` runs the engine, `make test` runs the tests.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps test test-fast lint up bench migrate clean faults

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the browser and PostgreSQL tests need; installed only when missing.
system-deps:
	@missing=""; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium chromium-driver"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "installing:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing Debian packages:$$missing (run 'sudo make system-deps')"; exit 1; fi; \
	  fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install system-deps lint
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q tests/lifecycle

migrate: install
	$(BIN)/ilp migrate

# Everything on this machine (see README): ports from ILP_PREFECT_PORT / ILP_WEB_PORT /
# ILP_SINK_PORT, or flags, e.g. make up UP_ARGS="--web-port 8800 --no-sample".
UP_ARGS ?=
up: install
	$(BIN)/ilp up $(UP_ARGS)

# The fault suite at the issue's sizes (1,000 webhooks, 20 sweep kills...), one table at the
# end: fault, runs, lost, duplicated, errors shown to users. `make test` runs it small.
faults: install
	ILP_FAULTS=full $(BIN)/pytest -q tests/faults -m faults --timeout 1800

bench: install
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
