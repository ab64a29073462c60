"""The local log folder: attempts kept per session and component, capped, never via links."""

from __future__ import annotations

from pathlib import Path

import pytest

from action.logcap import HEAD_BYTES, TAIL_BYTES
from service.adapters.local.logs import LogFolder, render


def written(scratch: Path, attempts: int, **extra: str) -> Path:
    """Lay out what a runner writes with --logs: attempt-<k>/{prompt.md,coder.log,tests.log}."""
    for number in range(1, attempts + 1):
        folder = scratch / f"attempt-{number}"
        folder.mkdir(parents=True)
        for name in ("prompt.md", "coder.log", "tests.log"):
            (folder / name).write_text(f"{name} of attempt {number}\n")
    for name, text in extra.items():
        (scratch / name.replace("_", ".")).write_text(text)
    return scratch


def test_a_second_round_counts_on_and_renders_in_order(tmp_path: Path) -> None:
    folder = LogFolder(tmp_path / "logs")
    assert folder.keep("s1", "isbn", written(tmp_path / "r1", 2, setup_log="pip ok\n")) == [1, 2]
    assert folder.keep("s1", "isbn", written(tmp_path / "r2", 1)) == [3]
    assert folder.attempts("s1", "isbn") == [1, 2, 3]
    assert folder.components("s1") == ["isbn"]
    text = render(folder, "s1", "isbn")
    assert text.index("pip ok") < text.index("attempt 1 ---") < text.index("attempt 3 ---")
    assert "coder.log of attempt 1" in text
    only = render(folder, "s1", "isbn", [2])
    assert "attempt 2 ---" in only and "attempt 1 ---" not in only


def test_links_a_coder_planted_are_not_followed_and_big_files_are_capped(
        tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private\n")
    scratch = written(tmp_path / "r1", 1)
    (scratch / "attempt-1" / "tests.log").unlink()
    (scratch / "attempt-1" / "tests.log").symlink_to(secret)
    (scratch / "attempt-2").symlink_to(tmp_path)
    (scratch / "attempt-1" / "coder.log").write_bytes(b"x" * (HEAD_BYTES + TAIL_BYTES + 10))
    folder = LogFolder(tmp_path / "logs")
    assert folder.keep("s1", "isbn", scratch) == [1]
    kept = folder.component_dir("s1", "isbn") / "attempt-1"
    assert not (kept / "tests.log").exists()
    assert (kept / "coder.log").stat().st_size < HEAD_BYTES + TAIL_BYTES + 200
    assert "10 bytes of output cut" in (kept / "coder.log").read_text()


@pytest.mark.parametrize("name", ["..", "a/b", "", "."])
def test_names_that_are_not_one_plain_segment_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        LogFolder(tmp_path).component_dir("s1", name)


def test_remove_deletes_one_session_only(tmp_path: Path) -> None:
    folder = LogFolder(tmp_path / "logs")
    folder.keep("s1", "isbn", written(tmp_path / "a", 1))
    folder.keep("s2", "isbn", written(tmp_path / "b", 1))
    assert folder.remove("s1") and not folder.remove("s1")
    assert folder.attempts("s2", "isbn") == [1]
