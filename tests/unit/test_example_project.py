"""The bundled demo project: its manifest, design docs and deterministic example coder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bookshop"
CONTEXT = "catalog"
COMPONENTS = ["isbn", "money", "inventory", "pricing"]
BUGGY = "pricing"
MARKER = "<!-- ccs-example: always-fail -->"


def clean_env(**extra: str) -> dict[str, str]:
    """Return the environment without CCS_* and pytest/python path settings, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CCS_") and key not in {"PYTEST_ADDOPTS", "PYTHONPATH"}
    }
    env.update(extra)
    return env


def copy_example(destination: Path) -> Path:
    """Copy the example project to `destination` and return it."""
    shutil.copytree(EXAMPLE, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def component_env(component: str, attempt: int, feedback: Path | None = None) -> dict[str, str]:
    """Return the coder environment ccs would give `component` on `attempt`."""
    extra = {
        "CCS_SESSION": "s1",
        "CCS_CONTEXT": CONTEXT,
        "CCS_COMPONENT": component,
        "CCS_DESIGN": f"docs/design/{CONTEXT}/{component}.md",
        "CCS_IMPLEMENTATION": f"src/{CONTEXT}/{component}.py",
        "CCS_TEST": f"tests/{CONTEXT}/test_{component}.py",
        "CCS_ATTEMPT": str(attempt),
    }
    if feedback is not None:
        extra["CCS_FEEDBACK"] = str(feedback)
    return clean_env(**extra)


def run_coder(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the example coder in `repo` the way the manifest says."""
    return subprocess.run(
        [sys.executable, "tools/example_coder.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_tests(repo: Path, test: str | None, junit: Path) -> subprocess.CompletedProcess[str]:
    """Run the manifest's test command (or verify when `test` is None) in `repo`."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if test is not None:
        command += [test, f"--junitxml={junit}"]
    return subprocess.run(
        command,
        cwd=repo,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def junit_counts(junit: Path) -> dict[str, int]:
    """Return tests/failures/errors/skipped summed over a JUnit XML report."""
    root = ET.parse(junit).getroot()  # noqa: S314 - our own pytest's report
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    return {key: sum(int(suite.get(key, 0)) for suite in suites) for key in keys}


def attempt(repo: Path, component: str, number: int, feedback: Path | None = None):
    """Run the coder and the component's tests; return (coder, tests, junit counts)."""
    coder = run_coder(repo, component_env(component, number, feedback))
    assert coder.returncode == 0, coder.stderr
    junit = repo.parent / f"junit-{component}-{number}.xml"
    tests = run_tests(repo, f"tests/{CONTEXT}/test_{component}.py", junit)
    return coder, tests, junit_counts(junit)


def load_coder_module():
    """Import tools/example_coder.py from the example as a module."""
    spec = importlib.util.spec_from_file_location(
        "example_coder", EXAMPLE / "tools" / "example_coder.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh copy of the example project."""
    return copy_example(tmp_path / "bookshop")


def test_example_has_no_git_dir_and_has_base_files():
    assert not (EXAMPLE / ".git").exists()
    for name in ("README.md", "pytest.ini", "src/catalog/__init__.py", "tools/example_coder.py"):
        assert (EXAMPLE / name).is_file(), name
    for component in COMPONENTS:
        assert not (EXAMPLE / f"src/{CONTEXT}/{component}.py").exists()
        assert not (EXAMPLE / f"tests/{CONTEXT}/test_{component}.py").exists()


def test_manifest_matches_the_contract():
    manifest = yaml.safe_load((EXAMPLE / ".github" / "ccs.yml").read_text())
    assert manifest["version"] == 1
    assert manifest["base"] == "main"
    assert manifest["paths"] == {
        "design": "docs/design/{context}/{component}.md",
        "implementation": "src/{context}/{component}.py",
        "test": "tests/{context}/test_{component}.py",
    }
    assert manifest["coder"] == {
        "command": ["python", "tools/example_coder.py"],
        "timeout": 60,
        "attempts": 3,
    }
    assert manifest["test"]["command"][-2:] == ["{test}", "--junitxml={junit}"]
    assert manifest["verify"]["command"][:3] == ["python", "-m", "pytest"]
    assert manifest["parallel"] == 4
    components = manifest["contexts"][CONTEXT]["components"]
    assert [c["name"] for c in components] == COMPONENTS
    priorities = [c["priority"] for c in components]
    assert len(set(priorities)) == len(priorities)
    for component in COMPONENTS:
        assert (EXAMPLE / f"docs/design/{CONTEXT}/{component}.md").is_file()


def test_each_design_doc_has_one_implementation_and_one_test_block():
    coder = load_coder_module()
    for component in COMPONENTS:
        text = (EXAMPLE / f"docs/design/{CONTEXT}/{component}.md").read_text()
        blocks = coder.parse_blocks(text)
        assert {"implementation", "test"} <= set(blocks), component
        assert blocks["test"].count("\ndef test_") >= 4, component
        assert MARKER not in text, "the normal demo must not use the always-fail marker"
    assert "fix" in coder.parse_blocks((EXAMPLE / f"docs/design/{CONTEXT}/{BUGGY}.md").read_text())


def test_demo_flow_all_pass_except_the_deliberate_bug_which_attempt_two_fixes(repo: Path):
    feedback = repo.parent / "feedback-1.txt"
    for component in COMPONENTS:
        coder, tests, counts = attempt(repo, component, 1)
        assert f"wrote src/{CONTEXT}/{component}.py" in coder.stdout
        assert (repo / f"src/{CONTEXT}/{component}.py").stat().st_size > 0
        assert (repo / f"tests/{CONTEXT}/test_{component}.py").stat().st_size > 0
        assert counts["tests"] >= 4, component
        if component == BUGGY:
            assert tests.returncode == 1, tests.stdout
            assert counts["failures"] >= 1
            feedback.write_text(tests.stdout + tests.stderr)
        else:
            assert tests.returncode == 0, tests.stdout + tests.stderr
            assert counts["failures"] == counts["errors"] == 0

    coder, tests, counts = attempt(repo, BUGGY, 2, feedback)
    assert "applied the fix to bulk_discount_percent" in coder.stdout
    assert tests.returncode == 0, tests.stdout
    assert counts["failures"] == counts["errors"] == 0 and counts["tests"] >= 4

    verify = run_tests(repo, None, repo.parent / "unused.xml")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert not (repo / ".pytest_cache").exists()


def test_attempt_two_without_failure_feedback_applies_no_fix(repo: Path, tmp_path: Path):
    _, tests, _ = attempt(repo, BUGGY, 2)  # no CCS_FEEDBACK at all
    assert tests.returncode == 1
    _, tests, _ = attempt(repo, BUGGY, 2, tmp_path / "missing.txt")
    assert tests.returncode == 1
    passing = tmp_path / "passing.txt"
    passing.write_text("Counts: passed 16, failed 0, errors 0\n16 passed in 0.02s\n")
    coder, tests, _ = attempt(repo, BUGGY, 3, passing)
    assert "applied the fix" not in coder.stdout
    assert tests.returncode == 1


@pytest.mark.parametrize(
    ("text", "failed"),
    [
        ("4 failed, 12 passed in 0.05s", True),
        ("Tests: 1 errors\nCounts: passed 0, failed 0, errors 1, skipped 0", True),
        ("FAILED tests/catalog/test_pricing.py::test_x - assert 0 == 10", True),
        ('<testsuite errors="0" failures="2" tests="16">', True),
        ("Tests: the test command timed out after 120 s", True),
        ("Counts: passed 16, failed 0, errors 0, skipped 0\n16 passed", False),
        ('<testsuite errors="0" failures="0" tests="16">', False),
        ("", False),
    ],
)
def test_feedback_failure_detection(tmp_path: Path, monkeypatch, text: str, failed: bool):
    coder = load_coder_module()
    feedback = tmp_path / "feedback.txt"
    feedback.write_text(text)
    monkeypatch.setenv("CCS_FEEDBACK", str(feedback))
    assert coder.feedback_shows_failure() is failed


def test_always_fail_marker_keeps_the_bug(repo: Path, tmp_path: Path):
    design = repo / f"docs/design/{CONTEXT}/{BUGGY}.md"
    design.write_text(MARKER + "\n" + design.read_text())
    feedback = tmp_path / "feedback.txt"
    feedback.write_text("FAILED tests/catalog/test_pricing.py::test_x\n4 failed, 12 passed\n")
    for number in (2, 3):
        coder, tests, counts = attempt(repo, BUGGY, number, feedback)
        assert "always-fail" in coder.stdout
        assert tests.returncode == 1 and counts["failures"] >= 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CCS_IMPLEMENTATION", "../x.py"),
        ("CCS_TEST", "../x.py"),
        ("CCS_DESIGN", "../x.md"),
        ("CCS_IMPLEMENTATION", "src/../../x.py"),
        ("CCS_TEST", ".git/hooks/pre-commit"),
        ("CCS_IMPLEMENTATION", "."),
    ],
)
def test_coder_refuses_paths_outside_the_repository(repo: Path, variable: str, value: str):
    (repo.parent / "x.md").write_text((repo / "docs/design/catalog/isbn.md").read_text())
    env = component_env("isbn", 1)
    env[variable] = value
    result = run_coder(repo, env)
    assert result.returncode == 2
    assert "refusing" in result.stderr
    assert not (repo.parent / "x.py").exists()
    assert not (repo / "src/catalog/isbn.py").exists()
    assert not (repo / "tests/catalog/test_isbn.py").exists()


def test_coder_refuses_absolute_and_symlinked_escapes(repo: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    env = component_env("isbn", 1)
    env["CCS_IMPLEMENTATION"] = str(outside / "x.py")
    assert run_coder(repo, env).returncode == 2
    (repo / "src" / "escape").symlink_to(outside, target_is_directory=True)
    env["CCS_IMPLEMENTATION"] = "src/escape/x.py"
    result = run_coder(repo, env)
    assert result.returncode == 2 and "refusing" in result.stderr
    assert list(outside.iterdir()) == []


def test_coder_exits_2_without_a_python_block(repo: Path):
    design = repo / "docs/design/catalog/empty.md"
    design.write_text("# empty\n\nProse only.\n\n```yaml\nkey: value\n```\n")
    env = component_env("empty", 1)
    result = run_coder(repo, env)
    assert result.returncode == 2
    assert "no ```python block" in result.stderr
    assert not (repo / "src/catalog/empty.py").exists()


def test_coder_exits_2_when_a_variable_is_missing(repo: Path):
    env = component_env("isbn", 1)
    del env["CCS_TEST"]
    result = run_coder(repo, env)
    assert result.returncode == 2 and "CCS_TEST is not set" in result.stderr


def test_apply_fix_replaces_only_the_named_definitions():
    coder = load_coder_module()
    source = (
        '"""M."""\n\n\nimport functools\n\n\n@functools.cache\ndef a():\n    return 1\n\n\n'
        "def b():\n    return 2\n"
    )
    fixed, names = coder.apply_fix(source, "def a():\n    return 10\n\n\ndef c():\n    return 3\n")
    assert names == ["a", "c"]
    namespace: dict[str, object] = {}
    exec(compile(fixed, "<fixed>", "exec"), namespace)  # noqa: S102 - test-owned source
    assert (namespace["a"](), namespace["b"](), namespace["c"]()) == (10, 2, 3)
    assert "@functools.cache" not in fixed
    with pytest.raises(coder.CoderError):
        coder.apply_fix(source, "x = 1\n")


def test_parse_blocks_rejects_duplicates_and_unclosed_fences():
    coder = load_coder_module()
    with pytest.raises(coder.CoderError, match="more than one"):
        coder.parse_blocks("```python\na = 1\n```\n```python\nb = 2\n```\n")
    with pytest.raises(coder.CoderError, match="never closed"):
        coder.parse_blocks("```python\na = 1\n")
    blocks = coder.parse_blocks("````python test\n```\n````\n~~~python\nx = 1\n~~~\n")
    assert blocks == {"test": "```\n", "implementation": "x = 1\n"}


def test_the_orders_context_needs_and_integrates():
    manifest = yaml.safe_load((EXAMPLE / ".github" / "ccs.yml").read_text())
    components = {c["name"]: c for c in manifest["contexts"]["orders"]["components"]}
    assert components["order_book"]["needs"] == ["order"]
    assert manifest["integration"] == {"attempts": 2}


def test_apply_seam_replaces_a_method_at_its_indentation():
    coder = load_coder_module()
    source = "class Book:\n    def export(self):\n        return 1\n\n    def other(self):\n" \
             "        return 2\n"
    fixed, names = coder.apply_seam(source, "def export(self):\n    return 3\n")
    assert names == ["export"]
    assert "    def export(self):\n        return 3\n" in fixed
    assert "return 2" in fixed
    with pytest.raises(coder.CoderError, match="lacks"):
        coder.apply_seam(source, "def nothing():\n    return 0\n")


def test_the_integration_coder_applies_the_seam_only_after_a_failure(repo: Path, tmp_path: Path):
    book = repo / "src" / "orders" / "order_book.py"
    blocks = load_coder_module().parse_blocks(
        (repo / "docs/design/orders/order_book.md").read_text())
    book.write_text(blocks["implementation"])
    env = clean_env(CCS_COMPONENT="_integration", CCS_CONTEXT="orders", CCS_ATTEMPT="1",
                    CCS_DESIGN="docs/design/orders/order.md",
                    CCS_IMPLEMENTATION="src/orders/order.py", CCS_TEST="tests/orders/t.py")
    feedback = tmp_path / "feedback.txt"
    feedback.write_text("verify passed: 13 passed\n")
    assert run_coder(repo, {**env, "CCS_FEEDBACK": str(feedback)}).returncode == 0
    assert "o.isbn},{o.quantity}" in book.read_text()
    feedback.write_text("verify failed: 1 failed (test_the_export_reads_back)\n")
    done = run_coder(repo, {**env, "CCS_FEEDBACK": str(feedback)})
    assert done.returncode == 0, done.stderr
    assert "applied the seam of order_book.md to src/orders/order_book.py" in done.stdout
    assert "return [order.to_line() for order in self._orders]" in book.read_text()
