# Leadline: `make run` starts the demo, `make test` runs the whole suite.
# Both set themselves up on a fresh machine that has Python 3.11+ and make.

PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000
BIN    := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test lint typecheck check bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Leadline needs Python 3.11 or newer: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

.env:
	@sed "s/^# SECRET_KEY=.*/SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')/" .env.example > .env
	@echo "Wrote .env (DEBUG=true, a random SECRET_KEY)."

run: $(VENV)/.installed .env
	$(MANAGE) migrate --no-input
	@$(MANAGE) demo
	@echo "  Starting the web server on port $(PORT) and a task worker; Ctrl-C stops both."
	@trap 'kill 0' INT TERM EXIT; \
	$(MANAGE) qcluster & \
	$(MANAGE) runserver 0.0.0.0:$(PORT) & \
	wait

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy .

check: lint typecheck

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
