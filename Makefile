# Two set-up commands on a fresh machine (see README):
#   make seeds   install fhirconv into .venv and convert seeds/ into out/ (bundles + summary.json)
#   make test    install fhirconv with its test tools (and the local FHIR test server) and run the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APP    := $(VENV)/.installed-app

.PHONY: seeds test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `make seeds` installs fhirconv alone; `make test` adds the test tools (pytest, ruff, mypy, ...)
$(APP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $(APP)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP) $(APP)

tests/fhir_server/node_modules/.installed: tests/fhir_server/package-lock.json
	cd tests/fhir_server && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: $(if $(wildcard tests/fhir_server/package-lock.json),tests/fhir_server/node_modules/.installed,)

seeds: $(APP)
	$(BIN)/fhirconv convert seeds --out out

test: $(STAMP) node
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

bench: $(STAMP) node
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/linear.py
	$(BIN)/python benchmarks/validate_examples.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/push_bench.py

# the long fuzz run: 10,000 inputs per target (about 25 minutes on 2 cores)
fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz.py --n 10000

clean:
	rm -rf $(VENV) out build dist tests/fhir_server/node_modules
