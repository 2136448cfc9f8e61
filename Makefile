# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo

.PHONY: env browser demo test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

env: $(STAMP)

demo: env
	$(BIN)/fasciq simulate --preset als --duration 120 --grid GR08MM1305 --seed 1 \
		-o $(DEMO)/als.bdf --overwrite
	$(BIN)/fasciq info $(DEMO)/als.bdf --grid GR08MM1305
	$(BIN)/fasciq analyze $(DEMO)/als.bdf --grid GR08MM1305 -o $(DEMO)/als_fasciq --overwrite
	$(BIN)/fasciq evaluate $(DEMO)/als_fasciq $(DEMO)/als.truth.csv --overwrite
	@echo "report: $$(cd $(DEMO)/als_fasciq && pwd)/report.html"

# Headless Chromium for the report's browser test (Debian package); the test
# skips with a message where it cannot be installed.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: browser tests will be skipped"; \
	fi

test: env browser
	$(BIN)/python -m pytest -q

lint: env
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks

format: env
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: env
	$(BIN)/python benchmarks/bench_io.py

clean:
	rm -rf $(VENV) $(DEMO) build dist src/*.egg-info .pytest_cache .ruff_cache
