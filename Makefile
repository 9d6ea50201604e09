# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests use: a Docker engine (the harness runs its own dockerd), a registry for pull
# tests, busybox for the tiny test image, debootstrap for the SSH host image, systemd-analyze for the unit
# files in docs/, chromium for the HTML report test, graphviz for graph pictures.
SYSTEM_PACKAGES := docker.io docker-registry busybox-static debootstrap systemd chromium graphviz openssh-client iproute2

.PHONY: install system-packages demo test fuzz bench check lint clean docs sandbox

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Installs what is missing, when running as root (CI, a fresh machine); otherwise says what is missing.
system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "== installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -q && \
	  apt-get install -y -q --no-install-recommends $$missing; \
	else echo "missing Debian packages:$$missing (run make test as root, or install them)"; exit 1; fi

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

test: install system-packages
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 -q --dist worksteal --durations=15

# The property-based fuzz tests with many more examples than `make test` runs.
fuzz: install
	RECONCILE_FUZZ_EXAMPLES=$${RECONCILE_FUZZ_EXAMPLES:-5000} $(BIN)/pytest -q tests/fuzz

bench: install system-packages
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/docker_bench.py
	$(BIN)/python bench/fleet_bench.py 5 20 50 100
	$(BIN)/python bench/mixed_bench.py 5 20
	$(BIN)/python bench/scale_sim.py 100 1000 10000
	$(BIN)/python bench/aws_bench.py 200
	$(BIN)/python bench/aws_bench.py 500 mixed
	$(BIN)/python bench/webapp_bench.py
	$(BIN)/python bench/ssh_file_bench.py 20
	$(BIN)/python bench/state_bench.py 200

# This machine's test services (Docker engine, two SSH hosts, moto) for the getting-started pages.
sandbox: install system-packages
	$(BIN)/python -m tests.harness.sandbox

# The module reference pages, generated from the schemas (a test checks they are fresh).
docs: install
	$(BIN)/reconcile docs --write docs/modules

# Static checks, then every test: ruff, mypy --strict (setup.cfg), import rules (.importlinter).
check: lint test

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy reconciler modules
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
