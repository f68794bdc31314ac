# Leadline: `make run` starts the demo, `make test` runs the whole suite.
# Both set themselves up on a fresh machine that has Python 3.11+ and make.

PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000
HOST   ?= 127.0.0.1
BIN    := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
# Every machine installs the same versions: these locks, resolved from pyproject.toml by
# `make lock`, pin every package with its hashes (requirements.lock: production;
# requirements-dev.lock: production and the dev extras, at the same versions).
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock
LOCK_WITH = UV_CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet $(LOCK_ARGS)

.PHONY: run test lint typecheck contracts check audit lock bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Leadline needs Python 3.11 or newer: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)

# The project itself goes in without dependencies: the lock brought them all. pip check then
# names any dependency of pyproject.toml that the lock lacks (run `make lock`).
$(VENV)/.installed: pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check || { echo "pyproject.toml needs a package $(DEV_LOCK) lacks: run make lock." >&2; exit 1; }
	@touch $@

# Resolve the locks again from pyproject.toml, keeping every pin that still fits;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest versions allowed.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(LOCK_WITH) --extra dev -o $(DEV_LOCK)
	$(LOCK_WITH) --constraints $(DEV_LOCK) -o $(LOCK)

# Known vulnerabilities in the locked packages (PyPI's advisory data, through pip-audit).
audit: $(VENV)/.installed
	$(BIN)/pip-audit --progress-spinner off --disable-pip --require-hashes -r $(LOCK) -r $(DEV_LOCK)

.env:
	@sed "s/^# SECRET_KEY=.*/SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')/" .env.example > .env
	@echo "Wrote .env (DEBUG=true, a random SECRET_KEY)."

# The printed links follow PORT unless SITE_URL is set in the environment or in .env.
ifeq ($(origin SITE_URL)$(shell grep -s '^SITE_URL=' .env),undefined)
run: export SITE_URL = http://localhost:$(PORT)
endif

# The worker runs in a process group of its own and is stopped once, by the trap: a signal
# to the whole group (Ctrl-C) would also reach django-q's sentinel and hang its shutdown.
# When the web server stops, for whatever reason, the worker stops with it.
# `make run FAKE_TWILIO=1`: SMS through a local fake of Twilio (manage.py fake_twilio, on
# port 8025), which prints every text and calls back "delivered": agents' alerts, the instant
# reply to a demo-form lead with SMS consent, texts from the lead page. Text as a lead with
# `.venv/bin/python manage.py fake_twilio --text +13055551234 "Hi"` (same variables set).
ifdef FAKE_TWILIO
run: export TWILIO_ACCOUNT_SID = AC00000000000000000000000000000000
run: export TWILIO_AUTH_TOKEN = fake-twilio-demo-token
run: export TWILIO_FROM_NUMBER = +13055550000
run: export TWILIO_MESSAGING_SERVICE_SID =
run: export TWILIO_API_BASE_URL = http://127.0.0.1:8025
run: export LEAD_SMS_HOURS =
endif

run: $(VENV)/.installed .env
	$(MANAGE) migrate --no-input
	@$(MANAGE) demo
	@echo "  Starting the web server on $(HOST):$(PORT) and a task worker; Ctrl-C stops both."
	@$(if $(FAKE_TWILIO),echo "  SMS goes to a fake Twilio on 127.0.0.1:8025: its texts print here.";)
	@$(if $(FAKE_TWILIO),$(MANAGE) fake_twilio --port 8025 & fake=$$!;,fake=;) \
	$(BIN)/python -c 'import os, sys; os.setpgid(0, 0); os.execv(sys.executable, [sys.executable, "manage.py", "qcluster"])' & \
	worker=$$!; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	trap 'kill -TERM $$worker $$fake 2>/dev/null; wait $$worker' EXIT; \
	$(MANAGE) runserver $(HOST):$(PORT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's Django plugin imports the settings: DEBUG lets them load without production secrets.
typecheck: $(VENV)/.installed
	DEBUG=true $(BIN)/mypy .

# The import contracts in pyproject.toml ([tool.importlinter]): leads never imports an edge, the
# edge apps import each other only where a contract names the arrow.
contracts: $(VENV)/.installed
	$(BIN)/lint-imports

check: lint typecheck contracts

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
