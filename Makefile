# Two commands (see README): `make run` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON_FOR_VENV := $(shell command -v python3.11 || command -v python3)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Test services (PostgreSQL with trust auth, Redis) on this machine.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flywheel
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test lint translations install install-test system-test-deps sandbox-deps services bench bench-peers clean

## run: set up and run the whole loop on demo data (SQLite, in-process jobs), then serve the UI.
run: install
	-@$(MAKE) --no-print-directory sandbox-deps || echo "bubblewrap could not be installed: code verification will be refused (see SECURITY.md)"
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py demo --serve

## test: install what tests need, start PostgreSQL and Redis if they are down, run the suite.
test: install-test services lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest

## lint: ruff's lint rules and formatting (pyproject.toml), as CI checks them.
lint: install-test
	$(PY) -m ruff check flywheel training tests bench
	$(PY) -m ruff format --check flywheel training tests bench

## translations: gather marked strings into flywheel/locale/*.po and compile them (docs/engineers.md).
translations: install-test
	$(PY) manage.py translations

$(PY):
	$(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch is pinned in pyproject.toml and installed in the same pip command as everything else.
install: $(PY)
	$(PY) -m pip install --quiet -e .
	npm ci --no-audit --no-fund --loglevel=error

install-test: $(PY) system-test-deps sandbox-deps
	$(PY) -m pip install --quiet -e ".[test]"
	npm ci --no-audit --no-fund --loglevel=error

# Debian's Chromium (browser tests), a CJK font (Chinese text), an emoji font (thumbs) and GNU
# gettext (the test that the translation catalogs hold every marked string runs makemessages).
system-test-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wenquanyi || ! fc-list 2>/dev/null | grep -qi "color emoji" || ! command -v xgettext >/dev/null; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-zenhei fonts-noto-color-emoji gettext >/dev/null; \
	fi

# bubblewrap: the code verifier's sandbox (no sandbox, no code run). libseccomp2 builds its
# syscall filter; Debian ships it with apt, this makes sure.
sandbox-deps:
	@if ! command -v bwrap >/dev/null || ! ldconfig -p 2>/dev/null | grep -q libseccomp.so.2; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap libseccomp2 >/dev/null; \
	fi

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

services:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
	  if ! command -v pg_ctlcluster >/dev/null; then \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; fi; \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -1) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='flywheel'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE flywheel"
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  if ! command -v redis-server >/dev/null; then \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; fi; \
	  $(SUDO) mkdir -p /var/lib/redis /var/log/redis; \
	  $(SUDO) redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/flywheel.log; \
	  for i in $$(seq 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 1; done; \
	fi

## bench: the benchmarks (each prints ratios against a baseline measured in the same run).
bench: install-test services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/ingest.py

## bench-peers: Data-Juicer and datatrove, pinned, in their own venv (bench/.peers-venv) for bench/cleaning.py.
bench-peers: $(PY)
	$(PY) bench/setup_peers.py

clean:
	rm -rf var staticfiles
