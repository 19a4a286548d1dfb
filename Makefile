# Two entry points: `make demo` and `make test`. Both set up .venv on first use
# (torch's CPU build first, then this package) and are quick on a second run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz setup clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,spacy,dev,bench,notebook,serve,spark,mlflow]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/salesnlp demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# The property-based suite with many more examples than CI runs (SALESNLP_FUZZ_EXAMPLES each).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/test_properties.py

clean:
	rm -rf $(VENV)
