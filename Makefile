# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Python that makes .venv: python3.11 when it is on the PATH, else python3 when it is 3.11 or newer.
# PYTHON_BIN=/path/to/python3.x chooses another.
PYTHON_BIN ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PG_URL ?= postgres://postgres@127.0.0.1:5432/primepre
PYTEST_ARGS ?=

# The service is production-safe by default (DEBUG off, a real SECRET_KEY required);
# the local targets ask for development mode, with this machine's own generated key
# (.run/development-secret-key). Set DEBUG=false and SECRET_KEY to try production mode.
migrate admin run lint: export DEBUG ?= true

.PHONY: help run test check test-sqlite test-postgres lint postgres bench bench-attack migrate admin install install-dev clean chromium screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON_BIN) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "ERROR: Primepre Import needs Python 3.11 or newer; '$(PYTHON_BIN)' is $$($(PYTHON_BIN) --version 2>/dev/null || echo not installed). Install Python 3.11 (e.g. apt-get install python3.11-venv) or run make with PYTHON_BIN=/path/to/python3.x." >&2; \
		exit 1; }
	$(PYTHON_BIN) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## install production dependencies into .venv
install-dev: $(VENV)/.installed-dev ## install test and tooling dependencies into .venv

migrate: install ## apply migrations to the configured database (SQLite by default)
	$(PY) manage.py migrate --noinput

admin: migrate ## create an admin login unless one exists (prints a generated password once)
	$(PY) manage.py ensure_admin

run: admin ## install, migrate, create an admin, then serve web + worker on http://127.0.0.1:8000
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Serving on http://127.0.0.1:8000  (admin: /$${ADMIN_URL:-admin/}, imports: /imports/, health: /health). Ctrl+C stops."
	GUNICORN_BIND=$${GUNICORN_BIND:-127.0.0.1:8000} $(PY) -m primepre.supervisor

lint: install-dev ## ruff, and a check that models and migrations agree
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run --verbosity 0

postgres: ## make sure the machine's PostgreSQL answers on 127.0.0.1:5432, starting it if needed
	@if ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it"; \
		version=$$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1); \
		if [ -z "$$version" ]; then echo "ERROR: no PostgreSQL cluster found in /etc/postgresql" >&2; exit 1; fi; \
		pg_ctlcluster --skip-systemctl-redirect $$version main start || true; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@pg_isready -h 127.0.0.1 -p 5432 || { echo "ERROR: PostgreSQL can't be reached on 127.0.0.1:5432; the PostgreSQL half of the suite can't run" >&2; exit 1; }

# The two halves run side by side (each is mostly one core: the suite's real processes wait on each other), and
# each half's output is printed whole when it ends. `make test-sqlite` or `make test-postgres` runs one alone.
test: lint ## ruff, then the whole suite on SQLite and on PostgreSQL, side by side
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

# The inner loop: no browser, no real-process or large-file tests, one database, both cores. `make test` is the truth.
check: lint ## ruff, migrations, and the fast half of the suite on SQLite (about a minute)
	env -u DATABASE_URL $(VENV)/bin/pytest -q -m "not slow and not browser" -n 2 $(PYTEST_ARGS)

test-sqlite: install-dev chromium ## the suite on SQLite
	env -u DATABASE_URL $(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: install-dev chromium postgres ## the suite on PostgreSQL
	DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

$(VENV)/.installed-bench: requirements-bench.txt requirements-dev.txt requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements-bench.txt
	@touch $@

# The browser tests (tests/web, marker `browser`) drive Debian's chromium; Playwright can't download its own here.
chromium: ## make sure Debian's chromium is installed for the browser tests (installs it when run as root)
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		fi; \
	fi
	@command -v chromium >/dev/null 2>&1 || { \
		echo "ERROR: the browser tests need Debian's chromium, which is not installed." >&2; \
		echo "       Install it with: sudo apt-get install -y chromium   (.ci/run does this)" >&2; \
		echo "       (to run the rest without it: .venv/bin/pytest -m 'not browser')" >&2; \
		exit 1; }

screenshots: install-dev chromium ## retake the import page's screenshots into docs/img (README)
	SCREENSHOT_DIR=docs/img TEST_DB_SUFFIX=_screenshots env -u DATABASE_URL $(VENV)/bin/pytest tests/web -m browser -q

bench: install-dev $(VENV)/.installed-bench postgres ## benchmark the import pipeline (docs/performance.md): make bench BENCH_ARGS="--engines postgres"
	$(PY) bench/run.py $(BENCH_ARGS)

# cProfile tables of an import (bench/profile_import.py): where each second goes. PROFILE_ARGS="--sizes 100000 --top 40".
.PHONY: profile bench-compare
profile: install-dev postgres ## profile an import of 100,000 and 1,048,575 rows on PostgreSQL (cProfile tables)
	$(PY) bench/profile_import.py $(PROFILE_ARGS)

bench-compare: install-dev $(VENV)/.installed-bench postgres ## django-import-export 4.4 (bulk) against import_customers, same files
	$(PY) bench/import_export_compare.py $(BENCH_ARGS)

bench-attack: install-dev ## hostile request bodies against the real service: each one's cost to the web worker
	$(PY) bench/attack_memory.py $(BENCH_ARGS)

# The Check step on the largest sheet (docs/architecture.md): keys recorded by the check, rows paged, corrections.
.PHONY: bench-corrections bench-undo
bench-undo: install-dev postgres ## undo of a 100,000-row import on PostgreSQL, against the import (docs/performance.md)
	$(PY) bench/undo.py $(BENCH_ARGS)

bench-corrections: install-dev ## what choosing columns and correcting rows cost on a 1,048,575-row file
	$(PY) bench/corrections.py $(BENCH_ARGS)

# Separate web and task workers on one PostgreSQL (docs/deploy.md, "Scaling out"): 1, 2 and 3 workers, 4 imports.
.PHONY: bench-scale-out
bench-scale-out: install-dev postgres ## throughput of one, two and three task workers on four concurrent imports
	$(PY) bench/scale_out.py $(BENCH_ARGS)

clean: ## remove the virtualenv, the SQLite database and caches
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* .pytest_cache .ruff_cache staticfiles

# Mutation fuzzing of the file readers (tests/hostile/fuzz.py). A new seed each run unless FUZZ_SEED is given;
# the summary names it, and a failing input is saved in tests/hostile/fuzz_cases/ for the regression test.
.PHONY: fuzz
FUZZ_CASES ?= 20000
FUZZ_SEED ?= $(shell date +%s)
fuzz: install-dev ## fuzz the file readers: make fuzz FUZZ_CASES=20000 FUZZ_SEED=42 (about 25 ms a case)
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_SEED=$(FUZZ_SEED) LOG_LEVEL=WARNING TEST_DB_SUFFIX=_fuzz env -u DATABASE_URL \
		$(VENV)/bin/pytest tests/hostile/test_fuzz.py -k mutated -q -s
