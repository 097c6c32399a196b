# Quantum Trader — the two commands first: `make run` and `make test`.
# Two virtual environments: .venv holds the runtime only (what `make run` serves from, what the
# dev-dependency guard inspects), .venv-dev adds the test and lint tools (what `make test` uses).

# Any Python >= 3.11 on the PATH (the first of these that is one), or PYTHON=/path/to/python.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; exit 0; }; done)
VENV := .venv
DEV_VENV := .venv-dev
PY := $(VENV)/bin/python
DEV_PY := $(DEV_VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --quiet
# The locked, hashed requirement sets (`make lock` refreshes them from backend/requirements*.txt).
LOCK := backend/requirements.lock
DEV_LOCK := backend/requirements-dev.lock
# uv writes the locks and installs them (8x faster than pip here: 54 s against 433 s for the
# runtime set on a loaded 2-core machine); the one on the PATH, else one installed into .venv-tools.
UV := $(or $(shell command -v uv 2>/dev/null),.venv-tools/bin/uv)
UV_COMPILE = $(UV) pip compile --universal --python-version 3.11 --generate-hashes --no-header --no-annotate --quiet
# install(python, lockfile): exactly the locked versions, every file checked against its hash, no
# resolution, compiled to bytecode as pip does (uv skips it by default, and where
# PYTHONDONTWRITEBYTECODE is set every process would compile pandas, SQLAlchemy and the rest anew:
# 2.3 s of each backtest's start-up); pip does the same, slower, if uv cannot be had
install_locked = if [ -x "$(UV)" ] || { $(PYTHON) -m venv .venv-tools && \
		.venv-tools/bin/python -m pip install $(PIP_FLAGS) uv; } >/dev/null 2>&1; then \
		$(UV) pip install --quiet --compile-bytecode --python $(1) --require-hashes --no-deps -r $(2); \
	else \
		$(1) -m pip install $(PIP_FLAGS) --require-hashes --no-deps -r $(2); \
	fi

.PHONY: python-check
python-check:
	@test -n "$(PYTHON)" || { echo "no Python >= 3.11 on the PATH (tried python3.11, python3.12, python3.13, python3.14, python3); install one or run make PYTHON=/path/to/python3.x" >&2; exit 2; }

.PHONY: run test install install-dev lock migrate revision lint lint-venv typecheck bench freqtrade-venv check-dev-deps clean help fuzz load crash screenshots backtest

help:
	@echo "make run        set up .venv, migrate, train a default model if none, serve on 127.0.0.1:8000"
	@echo "make test       set up .venv-dev and run the whole test suite"
	@echo "make lint | typecheck | migrate | revision m=\"msg\" | bench | backtest ARGS=... | fuzz | load | screenshots | check-dev-deps"

$(VENV)/.installed: $(LOCK)
	@$(MAKE) --no-print-directory python-check
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(call install_locked,$(PY),$(LOCK))
	@touch $@

$(DEV_VENV)/.installed: $(LOCK) $(DEV_LOCK)
	@$(MAKE) --no-print-directory python-check
	@test -x $(DEV_PY) || $(PYTHON) -m venv $(DEV_VENV)
	@$(call install_locked,$(DEV_PY),$(DEV_LOCK))
	@touch $@

# Refresh the locks after changing backend/requirements*.txt (pins kept unless a requirement moved;
# `make lock LOCK_ARGS=--upgrade` takes the newest allowed versions).
lock: $(if $(shell command -v uv 2>/dev/null),,.venv-tools/bin/uv)
	$(UV_COMPILE) $(LOCK_ARGS) backend/requirements.txt -o $(LOCK)
	$(UV_COMPILE) $(LOCK_ARGS) backend/requirements-dev.txt -c $(LOCK) -o $(DEV_LOCK)

.venv-tools/bin/uv:
	@$(MAKE) --no-print-directory python-check
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install $(PIP_FLAGS) uv

install: $(VENV)/.installed
install-dev: $(DEV_VENV)/.installed

# --check first: it refuses (one line, exit 2) a busy port or a bad configuration before anything
# touches the database. QT_AUTO_MIGRATE=1 (unless set otherwise) lets --check accept an unmigrated
# database, which the next step migrates.
run: export QT_AUTO_MIGRATE ?= 1
run: $(VENV)/.installed
	$(PY) -m backend.bootstrap --admin-token
	$(PY) -m backend --check
	$(VENV)/bin/alembic upgrade head
	$(PY) -m backend.bootstrap
	$(PY) -m backend

# The suite on every core (pytest-xdist; each worker has its own databases and ports);
# `make test PYTEST_WORKERS=` runs it in one process.
PYTEST_WORKERS ?= -n auto --dist worksteal
test: $(DEV_VENV)/.installed
	$(DEV_PY) -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

migrate: $(VENV)/.installed
	$(VENV)/bin/alembic upgrade head

revision: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/alembic revision --autogenerate -m "$(m)"

# `make lint` uses the isolated linters venv when `make lint-venv` has created it, else .venv-dev.
LINT_VENV := .venv_linters
LINT_BIN := $(if $(wildcard $(LINT_VENV)/bin/ruff),$(LINT_VENV)/bin,$(DEV_VENV)/bin)

lint: $(if $(wildcard $(LINT_VENV)/bin/ruff),,$(DEV_VENV)/.installed)
	$(LINT_BIN)/ruff check .
	$(LINT_BIN)/ruff format --check .

# Linters and scanners in their own venv (as CI does), so their dependencies never reach the runtime.
# --system-site-packages plus a .pth pointing at .venv's site-packages lets mypy import the runtime.
lint-venv: $(LINT_VENV)/.installed

$(LINT_VENV)/.installed:
	@test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV) --system-site-packages
	$(LINT_VENV)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(LINT_VENV)/bin/python -m pip install $(PIP_FLAGS) ruff mypy black bandit safety
	@if [ -x $(PY) ]; then \
		$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > \
			"$$($(LINT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/quantum-trader-runtime.pth"; \
	fi
	@touch $@

# Development-only packages installed in the runtime venv (.venv, else python3): listed, exit 1.
check-dev-deps:
	$(firstword $(wildcard $(PY)) python3) backend/scripts/check_dev_deps_in_runtime.py

typecheck: $(DEV_VENV)/.installed
	$(DEV_VENV)/bin/mypy

# the project's own sources compiled first (as an installed package would be), so no process of
# the benchmark measures the compiler
bench: $(DEV_VENV)/.installed
	$(DEV_PY) -m compileall -q backend ai_engine config database scripts >/dev/null
	$(DEV_PY) -m scripts.bench

# freqtrade from PyPI in a venv of its own, for the backtest benchmark's side-by-side row
# (scripts/bench/freqtrade.py; BENCH_MEMORY_100=1 make bench adds the 1-year x 100-symbol memory row)
freqtrade-venv: .venv-freqtrade/bin/freqtrade
.venv-freqtrade/bin/freqtrade:
	$(PYTHON) -m venv .venv-freqtrade
	.venv-freqtrade/bin/pip install --quiet freqtrade

# `make backtest ARGS="--source replay:DIR --out out/bt"`: see docs/backtest.md
backtest: $(VENV)/.installed
	@$(PY) -m compileall -q backend ai_engine config database >/dev/null
	$(PY) -m backend.backtest $(ARGS)

# API fuzzing with more examples per operation than `make test` (FUZZ_EXAMPLES, default 100;
# FUZZ_STATEFUL_STEPS calls per linked sequence, default 10); with QT_TEST_DATABASE_URL set it
# runs on SQLite and PostgreSQL.
FUZZ_EXAMPLES ?= 100
FUZZ_STATEFUL_STEPS ?= 10
fuzz: $(DEV_VENV)/.installed
	QT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) QT_FUZZ_STATEFUL_STEPS=$(FUZZ_STATEFUL_STEPS) $(DEV_PY) -m pytest backend/tests/proving/test_fuzz.py \
		backend/tests/security/test_hostile_fuzz.py -q --timeout 3600

# The real service under concurrent clients while its jobs run (LOAD_SECONDS, LOAD_CLIENTS).
LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 16
load: $(DEV_VENV)/.installed
	$(DEV_PY) -m scripts.load --seconds $(LOAD_SECONDS) --clients $(LOAD_CLIENTS)

# SIGKILL the real service mid-cycle CRASH_ROUNDS times per exchange (paper, local Binance), checking
# after every restart that exchange, ledger and risk records agree; then FAILOVER_ROUNDS leader
# takeovers between save and send with two service processes (needs QT_TEST_DATABASE_URL: PostgreSQL;
# skipped, with the reason printed, without it).
CRASH_ROUNDS ?= 20
FAILOVER_ROUNDS ?= 6
crash: $(DEV_VENV)/.installed
	QT_CRASH_ROUNDS=$(CRASH_ROUNDS) QT_FAILOVER_ROUNDS=$(FAILOVER_ROUNDS) $(DEV_PY) -m pytest -q -rs \
		backend/tests/proving/test_crash_consistency.py backend/tests/proving/test_failover_fencing.py

# A PNG of every page of the operator page (desktop and narrow) in artifacts/ui/; needs Debian's chromium.
screenshots: $(DEV_VENV)/.installed
	$(DEV_PY) -m scripts.screenshots

clean:
	rm -rf $(VENV) $(DEV_VENV) .venv-tools .mypy_cache .ruff_cache
