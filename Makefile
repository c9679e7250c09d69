# The two commands of the README: `make run` and `make test`. Both create .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch and torchvision first, pinned, so pip takes the builds that lie on this machine's disk.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: run test lint bench clean

$(VENV)/.base:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	touch $@

$(VENV)/.run: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e '.[local-llm]'
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(PIP) install -q -e '.[local-llm,langchain,dev]'
	touch $@

run: $(VENV)/.run
	$(VENV)/bin/mmrag demo

test: $(VENV)/.test
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/.test
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(VENV)/.test
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
