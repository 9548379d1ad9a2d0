# Two commands on a fresh clone: `make demo` (the main job) and `make test`.
# Both create the virtual environment in .venv on first use and reuse it after.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test clean

$(BIN)/tailor: pyproject.toml
	python3 -m venv $(VENV)
	# torch first, by exact version, so pip takes the machine's CPU wheel, not a CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/tailor
	$(BIN)/tailor demo

test: $(BIN)/tailor
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
