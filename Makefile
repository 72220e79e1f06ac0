# Two commands for a newcomer: `make run` (the receiver on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CONSTRAINTS := .ci/constraints.txt

.PHONY: setup run test lint bench lock clean

# The environment installs the tested versions (.ci/constraints.txt); `make lock` moves them forward.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c $(CONSTRAINTS)
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/vodhook serve

test: setup lint
	$(BIN)/python -m tests.services ensure
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check receiver tests bench
	$(BIN)/ruff format --check receiver tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.ingest

# The newest versions pyproject.toml admits, resolved in a fresh environment, written to .ci/constraints.txt
# under its header; run `make test` after it.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[test]'
	{ grep '^#' $(CONSTRAINTS); .lock-venv/bin/pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) vodhook-data .pytest_cache .mypy_cache .ruff_cache
