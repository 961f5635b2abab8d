# Playhead: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run stop test lint unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## make run: install, then start Kafka, the warehouse, the gateway and a worker in the background
run: install
	$(BIN)/playhead up

stop: install
	$(BIN)/playhead down

## make test: install, lint, then the whole suite on a real broker and the real ClickHouse engine
test: install lint
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/processors tests/schemas

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy playhead ingest processors sinks schemas

clean:
	-$(BIN)/playhead down
	rm -rf .playhead
