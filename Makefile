# The two commands: `make demo` serves the demo county, `make test` runs every test.
# Both install what they need (Debian packages, a virtualenv) and are safe to re-run.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting acl pgbackrest \
                chromium chromium-driver fonts-wqy-microhei poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint deps venv db-stop clean

demo: deps venv
	$(BIN)/gridmap serve

test: deps venv
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .

# Debian packages: installed only when one is missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$p"; \
	done; \
	if $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then :; else missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The virtualenv, rebuilt when pyproject.toml changes.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

db-stop: venv
	$(BIN)/gridmap db stop

clean: db-stop
	rm -rf $(VENV) var
