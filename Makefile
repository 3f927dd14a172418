# Edge Marketplace: the front door. `make demo` runs the marketplace locally; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NATIVE_SRC := $(wildcard native/bisuna_c/src/*.c native/bisuna_c/src/*.h native/bisuna_c/include/*.h) native/bisuna_c/build_ffi.py

.PHONY: install ensure-redis demo test test-deps test-c test-py bench fuzz soak lint contracts clean

install: $(VENV)/.installed node_modules/.installed bisuna/.built

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel cffi
	$(PIP) install -q -e '.[dev]'
	touch $@

# Rebuild the cffi extension in place when the C core changes.
bisuna/.built: $(VENV)/.installed $(NATIVE_SRC)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The demo runs a private redis-server, or uses a Redis answering on 6379; failing both, install it.
ensure-redis: install
	@command -v redis-server >/dev/null 2>&1 || $(PY) -c "import redis; redis.Redis(socket_timeout=1).ping()" 2>/dev/null || \
	  { echo "make: no Redis on 6379 and no redis-server: installing redis-server"; \
	    $(SUDO) apt-get install -y redis-server || { $(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; }; }

# The whole marketplace on this machine (DEMO_EXIT=1: exit after the payout).
demo: install ensure-redis
	$(VENV)/bin/edgemarket demo

test: install test-deps test-c test-py

# Debian packages the tests need (clang, chromium, redis-server, PostgreSQL, RabbitMQ): installed when
# missing, or make test stops and says which. No test is skipped for a missing tool.
test-deps:
	bash scripts/test-deps.sh

test-c:
	$(MAKE) -C native/bisuna_c test

# Most tests wait on chain windows rather than the CPU, so four pytest workers overlap those
# waits even on two cores (xdist; every fixture is per-test: own Redis prefix, database, ports,
# anvil per worker). Each test file runs whole in one worker (--dist loadfile), so a module's
# shared services (test_hosts.py's network hosts, the reliability matrices') are built once and
# its tests run in order. Not --dist loadgroup: with pytest 9.2 and xdist 3.8 it ignores
# xdist_group marks and spreads a module's tests over every worker (pytest-xdist issue 1386).
# TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 4
test-py: install test-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25 tests

# bench/api.py drives its load with wrk (Debian's package).
bench: install
	@command -v wrk >/dev/null 2>&1 || $(SUDO) apt-get install -y wrk || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b $(BENCH_ARGS) || exit 1; done

fuzz:
	$(MAKE) -C native/bisuna_c fuzz

soak: install
	$(PY) -m pytest -q -m soak tests --override-ini="addopts=-ra"

lint: install
	$(VENV)/bin/ruff check bisuna services tests bench
	$(VENV)/bin/mypy

contracts: install
	$(PY) contracts/compile.py

clean:
	$(MAKE) -C native/bisuna_c clean || true
	rm -rf build *.egg-info bisuna/_bisuna*.so bisuna/.built
