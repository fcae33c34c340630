# foundry-dr — every target sets up what it needs on a fresh machine (idempotent).
PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PLAN     ?= deployments/plans/sandbox.yaml
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: setup drill test test-all lint bench clean

setup: $(STAMP) $(NODE_STAMP)

# Python packages, pinned by constraints.txt (the versions the suite was run with).
$(STAMP): pyproject.toml sandbox/pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ./sandbox -e '.[dev]'
	touch $@

# Azurite from npm, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The main job: a DR drill against the local two-region sandbox on Prefect's embedded server.
drill: setup
	bash scripts/drill.sh $(PLAN)

# The test suite CI runs: lint, the layer contracts (import-linter), then unit + integration tests
# (sandbox started by the tests).
test: setup
	$(BIN)/ruff check .
	BIN=$(BIN) bash scripts/lint_imports.sh
	$(BIN)/pytest -m "not slow" -q --durations=25

# Everything, including the slow fault matrix.
test-all: setup
	$(BIN)/ruff check .
	BIN=$(BIN) bash scripts/lint_imports.sh
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	BIN=$(BIN) bash scripts/lint_imports.sh

clean:
	-$(BIN)/foundry-dr sandbox down --purge 2>/dev/null
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
