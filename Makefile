# susmap: `make demo` sets up and runs the demo, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: setup demo test test-all lint bench clean

# The core (what the demo needs) and, on top, the extras the tests use (pytest, ruff, torch CPU, mealpy, ...).
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --prefer-binary -e .
	touch $@

$(VENV)/.extras: $(VENV)/.core
	$(BIN)/pip install --quiet --prefer-binary -e '.[test,deep]'
	touch $@

setup: $(VENV)/.extras

demo: $(VENV)/.core
	$(BIN)/susmap demo $(DEMO_OUT)

test: $(VENV)/.extras
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest -q -m "not slow"

test-all: $(VENV)/.extras
	$(BIN)/pytest -q

lint: $(VENV)/.extras
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.core
	$(BIN)/python benchmarks/predict.py --size 2000
	$(BIN)/python benchmarks/bench_predict.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
