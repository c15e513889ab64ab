# Two commands do all the set-up: `make demo` and `make test`.
# Each creates .venv when it is missing and installs smelend into it with the pinned versions.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/smelend demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[test,bench]"
	$(VENV)/bin/python benchmarks/schedule_batch.py
	$(VENV)/bin/python benchmarks/cob_book.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
