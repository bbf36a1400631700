# ovdemo: the two fresh-machine commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
export OVDEMO_MODELS_DIR ?= $(if $(wildcard $(SHARED)/models),$(SHARED)/models,)
export OVDEMO_SAMPLES_DIR ?= $(if $(wildcard $(SHARED)/videos),$(SHARED)/videos,)
OMZ ?= $(SHARED)/omz
DEMO_SAMPLE ?= one-by-one-person-detection
DEMO_MODEL ?= person-detection-0202

.PHONY: install demo test quick bench soak lint clean catalog

# setuptools tells every editable install that a folder named like the package could shadow it: the
# repository root *is* the package here, so that note says nothing (PYTHONWARNINGS reaches the build backend).
$(BIN)/ovdemo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/ovdemo

# Person detection on an Intel sample video, headless: local copies from ../shared when present, else downloaded.
# Without either, one line says both ways out (the fetch's own messages are shown only when the fetch works).
# Then the folders it used are remembered ($OVDEMO_HOME/config.toml), so a new shell finds them too; so are the
# text family's default models (`ovdemo text -i text-sample.png`), or one line names what is missing.
demo: install
	@log=$$(mktemp) && trap 'rm -f "$$log"' EXIT && \
	if ! $(BIN)/ovdemo samples path $(DEMO_SAMPLE) >/dev/null 2>"$$log" || \
	   ! $(BIN)/ovdemo models path $(DEMO_MODEL) >/dev/null 2>>"$$log"; then \
		echo "make demo: the sample video $(DEMO_SAMPLE) and the model $(DEMO_MODEL) are not on disk and could" \
		     "not be downloaded: connect to the network, or set OVDEMO_SAMPLES_DIR and OVDEMO_MODELS_DIR to folders" \
		     "that hold them (run $(BIN)/ovdemo samples path $(DEMO_SAMPLE) to see why the download failed)" >&2; \
		exit 2; \
	fi; cat "$$log" >&2
	$(BIN)/ovdemo detect -m $(DEMO_MODEL) -i sample:$(DEMO_SAMPLE) --output out.mp4 --json out.jsonl \
		--no-show --max-frames 300
	@$(BIN)/python -m ovdemo.common.settings
	@log=$$(mktemp) && trap 'rm -f "$$log"' EXIT && \
	if ! $(BIN)/ovdemo models download --for text >/dev/null 2>"$$log"; then \
		echo "make demo: ovdemo text's default models are not all on disk and could not be downloaded:" \
		     "$$(grep '^error: ' "$$log" | tail -n 1 | cut -c8-)" >&2; \
	fi
	@echo "wrote out.mp4 and out.jsonl; in a new shell in this folder, first: . .venv/bin/activate" \
	      "(or run $(abspath $(BIN))/ovdemo)"

# Regenerate assets/catalog.json from the Open Model Zoo facts.
catalog:
	$(PYTHON) assets/build_catalog.py $(OMZ)

# Test workers: a module's tests stay on one worker (their module fixtures run once).
TEST_JOBS ?= 2
test: install
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile

# The quick subset for a development loop: everything but the long real-video runs (marked slow).
quick: install
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile -m "not slow"

# Benchmarks (not tests): each family's end-to-end FPS against raw OpenVINO throughput, measured side by side.
BENCH ?= $(sort $(wildcard tests/bench/bench_*.py))
bench: install
	@for b in $(BENCH); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Soak (not a test): a long looping run, resident memory sampled as it goes; its slope must be flat.
soak: install
	$(BIN)/python tests/bench/soak.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache out.mp4 out.jsonl
