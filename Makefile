# One place for the commands the README and CI use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The demo needs ccs and pytest (the example's tests); the tests also need the lint tools.
# An editable install has no .pyc files of its own (a wheel does), and with
# PYTHONDONTWRITEBYTECODE set every `ccs` start would compile them again (~0.5 s).
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[demo]'
	$(PY) -m compileall -q service action
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m compileall -q service action
	touch $@ $(VENV)/.installed-run

setup: $(VENV)/.installed-test

lint: setup
	$(VENV)/bin/ruff check .
	@if [ -x .ci/lint-workflows ]; then .ci/lint-workflows; fi

# Four test processes, a file each (a file's fixtures stay together): most tests wait on
# processes (git, runners, servers), so even two cores run four at once well.
test: setup lint
	$(PY) -m pytest -q -n 4 --dist loadfile

demo: $(VENV)/.installed-run
	$(VENV)/bin/ccs demo
