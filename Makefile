# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP  := $(VENV)/.installed-test
# Checkov (the scanner the terraform-json test runs) pins an older boto3 than moto needs: a venv of its own.
SCANNERS := .venv-checkov
CHECKOV  := $(SCANNERS)/bin/checkov
# Debian packages the tests use: a Docker engine (the harness runs its own dockerd), a registry for pull
# tests, busybox for the tiny test image, debootstrap for the SSH host image, systemd-analyze for the unit
# files in docs/, chromium for the HTML report test, graphviz for graph pictures.
SYSTEM_PACKAGES := docker.io docker-registry busybox-static debootstrap systemd chromium graphviz openssh-client iproute2

.PHONY: install install-runtime system-packages demo test fuzz bench check lint clean docs sandbox image dist

# The runtime package alone (what `make demo` needs): no test tools, no Dask, no moto.
install-runtime: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

# Everything the tests, the checks and the benchmarks use (the `test` extra).
install: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	test -x $(CHECKOV) || $(PYTHON) -m venv $(SCANNERS)
	$(SCANNERS)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $(STAMP) $(RUNTIME_STAMP)

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
demo: install-runtime
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
	$(BIN)/python bench/startup_bench.py
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
	$(BIN)/python bench/watch_soak.py 600 1000

# This machine's test services (Docker engine, two SSH hosts, moto) for the getting-started pages.
sandbox: install system-packages
	$(BIN)/python -m tests.harness.sandbox

# The module reference pages, generated from the schemas, and the architecture picture, drawn from the
# import graph (tests check both are fresh).
docs: install
	$(BIN)/reconcile docs --write docs/modules
	$(BIN)/python -m tools.import_graph

# Static checks, then every test: ruff, mypy --strict (setup.cfg), import rules (.importlinter). CI runs this.
check: lint test

# The sdist and the wheel (built from the sdist) in dist/.
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# reconcile's container image, reconcile:VERSION, on the engine DOCKER_HOST names (tools/image.py).
image: install
	$(BIN)/python -m tools.image

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy reconciler modules
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(SCANNERS) .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info
