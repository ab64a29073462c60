"""The bundled example's `setup` command installs its test dependencies on a runner that has
only a bare Python (issue 9).

Offline here: instead of PyPI, pip is pointed (PIP_NO_INDEX, PIP_FIND_LINKS, the settings a
runner may use for a mirror too) at a wheelhouse made from the distributions installed in
this interpreter. What this proves: in a fresh virtualenv without pytest, the manifest's
setup command installs pytest from requirements-test.txt through pip's ordinary settings,
and the example's tests then run. What it does not: that PyPI answers a hosted runner.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bookshop"
PYTEST_AND_ITS_DEPENDENCIES = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")


def wheel_of_installed(name: str, wheelhouse: Path) -> Path:
    """Pack an installed pure-Python distribution back into a wheel (its RECORD's files)."""
    dist = importlib.metadata.distribution(name)
    version = dist.version
    target = wheelhouse / f"{dist.metadata['Name'].replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as wheel:
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # console scripts live outside site-packages; `python -m` is enough
            wheel.write(file.locate(), file.as_posix())
    return target


def bare_python(tmp_path: Path) -> Path:
    """Return the python of a fresh virtualenv (pip, no pytest) from the base interpreter."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(tmp_path / "venv")], check=True,
                   capture_output=True)
    python = tmp_path / "venv" / "bin" / "python"
    assert subprocess.run([python, "-c", "import pytest"], capture_output=True).returncode != 0
    return python


def test_the_setup_command_installs_pytest_so_the_tests_run(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    for name in PYTEST_AND_ITS_DEPENDENCIES:
        wheel_of_installed(name, wheelhouse)
    python = bare_python(tmp_path)
    checkout = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, checkout)
    manifest = yaml.safe_load((checkout / ".github" / "ccs.yml").read_text())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))},
           "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}

    setup = subprocess.run(manifest["setup"]["command"], cwd=checkout, env=env,
                           capture_output=True, text=True, timeout=300)

    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "pip install" in setup.stdout
    paths = {"CCS_DESIGN": "docs/design/catalog/isbn.md",
             "CCS_IMPLEMENTATION": "src/catalog/isbn.py", "CCS_TEST": "tests/catalog/test_isbn.py",
             "CCS_ATTEMPT": "1"}
    coder = subprocess.run(manifest["coder"]["command"], cwd=checkout, env={**env, **paths},
                           capture_output=True, text=True, timeout=60)
    assert coder.returncode == 0, coder.stderr
    command = [arg.replace("{test}", paths["CCS_TEST"]).replace(
        "{junit}", str(tmp_path / "junit.xml")) for arg in manifest["test"]["command"]]
    tests = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True,
                           timeout=120)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
    # Run again (a retried child): nothing to install, nothing fetched.
    again = subprocess.run(manifest["setup"]["command"], cwd=checkout, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already installed" in again.stdout
