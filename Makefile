# ovdemo: the two fresh-machine commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
export OVDEMO_MODELS_DIR ?= $(if $(wildcard $(SHARED)/models),$(SHARED)/models,)
export OVDEMO_SAMPLES_DIR ?= $(if $(wildcard $(SHARED)/videos),$(SHARED)/videos,)

.PHONY: install demo test bench lint clean

$(BIN)/ovdemo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/ovdemo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache out.mp4 out.jsonl
