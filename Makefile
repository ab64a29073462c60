# One place for the commands the README and CI use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .
	@if [ -x .ci/lint-workflows ]; then .ci/lint-workflows; fi

test: setup lint
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/ccs demo
