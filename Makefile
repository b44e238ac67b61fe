# AIPROD: `make run` runs the whole DAG on the demo corpus; `make test` runs the tests.
# Both set everything up on a fresh machine with Python 3.11 (no ffmpeg, no GPU needed).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
PREFECT_PORT ?= 4200
# Python may cache bytecode in .venv and the checkout (both ours): where PYTHONDONTWRITEBYTECODE
# is set (as on this project's machines) nothing is cached and pip installs with --no-compile,
# so every one of the DAG's ~25 stage processes would compile torch, prefect and pandas again
# at import (12 s a stage instead of 5). Each module now compiles once, at its first import.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup run test test-quick lint bench prefect-up prefect-down clean

# torch first, pinned: this machine's pip takes the 2.14.1 + torchvision 0.29.1 pair from disk.
$(BIN)/aiprod: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q --no-compile -e '.[dev]'
	touch $@

setup: $(BIN)/aiprod
	@test -d .dvc || $(BIN)/dvc init -q
	@$(BIN)/dvc config core.analytics false

# One Prefect server on loopback for the UI (http://127.0.0.1:4200); left running after `run`.
prefect-up: setup
	@scripts/prefect_server.sh start $(PREFECT_PORT)

prefect-down:
	@scripts/prefect_server.sh stop $(PREFECT_PORT)

run: prefect-up
	PATH=$(CURDIR)/$(BIN):$$PATH PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/dvc repro
	@echo "Prefect UI: http://127.0.0.1:$(PREFECT_PORT)  (stop it with: make prefect-down)"

test: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q

test-quick: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q -m quick

lint: setup
	$(BIN)/ruff check src flows tests benchmarks

bench: setup
	$(BIN)/python benchmarks/ingest_throughput.py
	$(BIN)/python benchmarks/curation_throughput.py

clean: prefect-down
	rm -rf datasets/raw/synthetic datasets/clips datasets/manifest .prefect
