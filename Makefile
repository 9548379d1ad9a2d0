# Two commands on a fresh clone: `make demo` (the main job) and `make test`.
# Both create the virtual environment in .venv on first use and reuse it after.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/tailor: pyproject.toml
	python3 -m venv $(VENV)
	# torch first, by exact version, so pip takes the machine's CPU wheel, not a CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	# compat mode: a path entry, so packages added later import without reinstalling
	$(BIN)/pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	touch $@

demo: $(BIN)/tailor
	$(BIN)/tailor demo --out report

# The package layers and the torch-free netdesc / RTL (pyproject's import-linter contracts),
# then ruff: checked before the tests, so a broken contract fails CI at once.
lint: $(BIN)/tailor
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check --no-cache .

# pytest exits 5 when it collects nothing: for this project that means a broken suite, so say so.
# A worker per core (pytest-xdist), each taking whole files, so a file's module fixtures (a
# trained evaluator, measured cost rows) are built once.
test: lint
	@$(BIN)/python -m pytest -q -n auto --dist loadfile; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; the suite is misconfigured" >&2; fi; \
	exit $$rc

clean:
	rm -rf $(VENV) .pytest_cache
