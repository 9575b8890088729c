# The README's two commands are `make run` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DB ?= demo.sqlite3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := chromium fonts-liberation fonts-noto-cjk zbar-tools nginx

.PHONY: setup system-deps pg-deps run test test-pg lint typecheck unit browser lock clean messages screenshots bench datagen soak soak-pg

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock -r requirements-dev.lock
	touch $@

setup: $(VENV)/.installed

# Debian's Chromium (browser tests), zbarimg (an independent QR decoder), CJK fonts and nginx
# (`nginx -t` on deploy/nginx.conf in lint; the proxy of tests/deploy).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Debian's PostgreSQL server (the second engine CI runs the suite on; 15 on bookworm).
pg-deps:
	@ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || { \
	  echo "installing Debian packages: postgresql"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	}

run: setup
	DEMO_MODE=true DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/python -m webapp migrate
	DEMO_MODE=true DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/python -m webapp demo --if-empty
	DEMO_MODE=true DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/python -m webapp serve --host $(HOST) --port $(PORT)

lint: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile
	$(BIN)/python -m tools.deploy_lint

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q -m "not browser" -n 2

browser: setup system-deps
	$(BIN)/pytest -q -m browser

test: setup system-deps lint typecheck
	$(BIN)/pytest -q -n 2

# The whole suite a second time against PostgreSQL: a throwaway cluster on 127.0.0.1 (a free
# port, data in /tmp, removed afterwards: tools/pgcluster run); each test gets its own database
# cloned from a migrated template (tests/dbs.py).
test-pg: setup system-deps pg-deps
	tools/pgcluster run /tmp -- $(BIN)/pytest -q -n 2

# Regenerate the lock files from pyproject.toml (run by a developer, not by CI):
# requirements.lock is what the app needs (the Dockerfile installs only it),
# requirements-dev.lock adds the test and lint tools.
lock:
	rm -rf /tmp/lockvenv && $(PY) -m venv /tmp/lockvenv
	/tmp/lockvenv/bin/pip install --quiet --upgrade pip
	/tmp/lockvenv/bin/pip install --quiet -e .
	/tmp/lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock
	/tmp/lockvenv/bin/pip install --quiet -e '.[dev]'
	/tmp/lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e ' | grep -vxFf requirements.lock > requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Extract every message into the catalogue template and merge it into zh_CN's catalogue.
messages: setup
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -o webapp/translations/messages.pot .
	@if [ -f webapp/translations/zh_CN/LC_MESSAGES/messages.po ]; then \
	  $(BIN)/pybabel update --no-fuzzy-matching -i webapp/translations/messages.pot -d webapp/translations -l zh_CN; \
	else \
	  $(BIN)/pybabel init -i webapp/translations/messages.pot -d webapp/translations -l zh_CN; \
	fi

# Screenshots of the main pages (Chinese demo data) for the README.
screenshots: setup system-deps
	$(BIN)/python -m tests.browser.screenshots

# Figures, not tests: import rate, report times, ... (each printed as a ratio to its floor).
bench: setup
	PYTHONPATH=. $(BIN)/python -m bench $(BENCH)

# Synthetic data into a migrated, empty database (bench/datagen.py): SHAPE=county|city|province.
datagen: setup
	PYTHONPATH=. $(BIN)/python -m bench.datagen --shape $${SHAPE:-city} --database-url "$${DATABASE_URL:?set DATABASE_URL to a migrated, empty database}" $${SEED:+--seed $$SEED}

# The kill -9 loop at length (make test runs three cycles of it): bounded in count and time.
soak: setup
	SOAK_CYCLES=$${SOAK_CYCLES:-25} SOAK_SECONDS=$${SOAK_SECONDS:-300} $(BIN)/pytest -q -s -m soak

# The same loop on PostgreSQL (make test-pg runs three cycles of it): a throwaway cluster as in
# test-pg; the app runs as several uvicorn workers, killed one at a time or all at once (never
# the database server). Bounded to stay within CI's three minutes.
soak-pg: setup pg-deps
	SOAK_CYCLES=$${SOAK_CYCLES:-25} SOAK_SECONDS=$${SOAK_SECONDS:-90} \
	  tools/pgcluster run /tmp -- $(BIN)/pytest -q -s -m soak

# Lighthouse 13 (pinned in tools/audit/package-lock.json) on the main pages as a phone:
# performance, accessibility and best-practices scores and bytes transferred (first and repeat
# visit). Figures, not a test: not part of `make test`.
.PHONY: audit
audit: setup system-deps
	npm ci --prefix tools/audit --no-audit --no-fund
	CHROME_PATH=/usr/bin/chromium $(BIN)/python tools/audit/run.py
