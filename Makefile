# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench check lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Validate, plan and apply the example spec into a fresh temporary directory, then plan again: "No changes."
demo: install
	@export DEMO_ROOT=$$(mktemp -d) NO_COLOR=1; \
	set -e; \
	echo "== demo root: $$DEMO_ROOT"; \
	echo "== reconcile validate specs/examples/local"; $(BIN)/reconcile validate specs/examples/local; \
	echo "== reconcile plan specs/examples/local"; $(BIN)/reconcile plan specs/examples/local --state $$DEMO_ROOT/.reconcile/state.db; \
	echo "== reconcile apply --auto-approve specs/examples/local"; $(BIN)/reconcile apply --auto-approve specs/examples/local --state $$DEMO_ROOT/.reconcile/state.db; \
	echo "== reconcile plan specs/examples/local (again)"; $(BIN)/reconcile plan --detailed-exitcode specs/examples/local --state $$DEMO_ROOT/.reconcile/state.db; \
	echo "== files created:"; find $$DEMO_ROOT -not -path '*/.reconcile*' | sort

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q

bench: install
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/docker_bench.py
	$(BIN)/python bench/ssh_bench.py 5 20
	$(BIN)/python bench/aws_bench.py 200

check: lint test

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
