# Relais: `make run` sets everything up on a fresh machine and serves the demo;
# `make test` installs and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
# The demo leaves two-factor sign-in optional so that a newcomer can try every role at once;
# production (wsgi.py, flask without this) requires it of admins and coordinators.
DEMO_ENV := FLASK_TWO_FACTOR_REQUIRED_ROLES='[]'

.PHONY: run test install setup translations lint browser e2e-tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A secret key of its own for every installation, readable by its owner only.
instance/config.py:
	mkdir -p instance
	umask 077 && printf 'SECRET_KEY = "%s"\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(32))')" > $@

translations: install
	$(BIN)/pybabel compile --use-fuzzy -d app/translations -D messages >/dev/null

setup: install instance/config.py translations
	$(FLASK) keys init
	$(FLASK) db upgrade
	$(DEMO_ENV) $(FLASK) demo

# Plain http on 127.0.0.1: the session cookie cannot be "Secure" here (see docs/deployment.md).
run: setup
	@echo "Relais on http://$(HOST):$(PORT)/ (stop with Ctrl-C)"
	FLASK_SESSION_COOKIE_SECURE=false $(DEMO_ENV) $(FLASK) run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check app tests bench scripts

# The browser tests need the system Chromium; install it when missing and we may (root).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else echo "Chromium is missing at $(CHROMIUM): install it (apt-get install chromium)"; exit 1; fi; }

# axe-core for the accessibility checks, pinned by tests/e2e/package-lock.json; the app never serves it.
e2e-tools:
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error

test: install translations lint browser e2e-tools
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
