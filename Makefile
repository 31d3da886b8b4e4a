# Spaces: `make run` sets up and serves the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint setup demo bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo

# Test-mode payments against the bundled fake Stripe (fakestripe/), so a newcomer can buy a ticket end to end.
run: export STRIPE_SECRET_KEY ?= sk_test_fakestripe_dev
run: export STRIPE_API_BASE ?= http://127.0.0.1:12111
run: export STRIPE_WEBHOOK_SECRET ?= whsec_dev_fakestripe
run: setup
	@echo "Spaces on http://127.0.0.1:8000 (web, Celery worker with beat, fake Stripe in test mode). Ctrl-C stops all."
	$(VENV)/bin/honcho -f Procfile.dev start

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/room_fanout.py
	$(PY) bench/audio_fanout.py

clean:
	rm -rf var staticfiles .pytest_cache
