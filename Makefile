# Two commands do all set-up on a fresh machine:  make demo   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.chainjudge-installed

.PHONY: install demo test lint docs bench clean chromium postgres

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: the CPU build on this machine's disk; a plain requirement would pull ~3 GB of CUDA wheels
	$(BIN)/pip install --quiet torch==2.13.0
	# [local] compiles llama-cpp-python (~13 min the first time on 2 cores; pip caches the wheel)
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/chainjudge demo

test: $(STAMP) chromium postgres
	$(BIN)/python -m pytest

# the linter and the type checker (their settings and what they do not yet enforce: pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the documentation site into site/; --strict: a broken link or a page missing from the build fails it
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# the browser tests drive Debian's Chromium (Playwright never downloads a browser): installed when we can,
# otherwise those tests are skipped with the command that installs it (under CI a missing browser fails)
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: Chromium is not installed; browser tests will be skipped (install: sudo apt-get install -y chromium)"; }

# the store tests start a real PostgreSQL server (Debian's package; the tests run it as the postgres user)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) || \
	  echo "note: PostgreSQL is not installed; its store tests will be skipped (install: sudo apt-get install -y postgresql)"; }

bench: $(STAMP)
	$(BIN)/python bench/judge_throughput.py

clean:
	rm -rf $(VENV) .chainjudge .pytest_cache
