# Two commands for a newcomer: `make run` (the receiver on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/vodhook serve

test: setup
	$(BIN)/python -m tests.services ensure
	$(BIN)/ruff check receiver tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check receiver tests bench
	$(BIN)/ruff format --check receiver tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) vodhook-data .pytest_cache .mypy_cache .ruff_cache
