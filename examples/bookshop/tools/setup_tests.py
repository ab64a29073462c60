"""The manifest's `setup` command: install the test dependencies unless they are there.

On a runner with only a bare Python (actions/setup-python), this installs pytest from
requirements-test.txt with pip, which honours the usual PIP_* settings (PIP_INDEX_URL for
a mirror, PIP_FIND_LINKS and PIP_NO_INDEX for a wheelhouse). Where pytest is already
importable (`ccs demo`, a developer's checkout) it installs nothing, so it never needs
the network there.
"""

import importlib.util
import subprocess
import sys
import sysconfig
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements-test.txt"


def main() -> int:
    """Install the test requirements into this Python when pytest is missing."""
    if importlib.util.find_spec("pytest") is not None:
        print("setup: pytest is already installed; nothing to do")
        return 0
    marker = Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED"
    if marker.exists() and sys.prefix == sys.base_prefix:
        print(f"setup: {sys.executable} is managed by the system (PEP 668) and refuses "
              "pip installs; run the job with actions/setup-python or in a virtualenv",
              file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
    print("setup: " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
