"""`ccs demo` says what to install when the example's test runner is missing."""

from __future__ import annotations

import importlib.util

import pytest

from service.cli import demo


def test_demo_without_pytest_exits_2_and_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pytest" else real_find_spec(name, *a))

    assert demo.run_demo() == 2
    assert "pip install 'ccs[demo]'" in capsys.readouterr().err
