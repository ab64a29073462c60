"""The transcript folder (the job's artifact) and finding the job's own page."""

from __future__ import annotations

from pathlib import Path

from action.commands import CommandOutcome
from action.joblink import pick_job
from action.transcript import Transcript, file_name


def outcome(stdout: str, exit_code: int = 0) -> CommandOutcome:
    return CommandOutcome(("claude", "-p"), exit_code, False, False, 1.5, stdout, "")


def test_each_command_becomes_a_file_named_after_its_step(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t")
    transcript.command("attempt 2/3: tests", ["python", "-m", "pytest"], outcome("1 failed", 1),
                       60)
    text = (tmp_path / "t" / "attempt-2-tests.log").read_text()
    assert text.startswith("$ python -m pytest\n# exited with code 1")
    assert "1 failed" in text
    assert file_name("setup") == "setup" and file_name("attempt 1/3: coder") == "attempt-1-coder"


def test_secrets_are_masked_before_anything_is_written(tmp_path: Path) -> None:
    secret = "sk-ant-api03-abcdefghijklmnop"
    transcript = Transcript(tmp_path, [secret, "", "abc"])  # too short to mask: ordinary text
    transcript.command("attempt 1/1: coder", ["claude"], outcome(f"key={secret} abc"), 60)
    prompt = tmp_path / "prompt-source.md"
    prompt.write_text(f"never {secret}")
    transcript.copy("attempt-1-prompt.md", prompt)
    written = "".join(p.read_text() for p in tmp_path.glob("attempt-*"))
    assert secret not in written and "key=*** abc" in written and "never ***" in written


def test_no_folder_writes_nothing(tmp_path: Path) -> None:
    Transcript(None).command("setup", ["x"], outcome("out"), 1)
    assert list(tmp_path.iterdir()) == []


def test_the_job_is_found_by_its_child_id_or_its_name() -> None:
    jobs = [{"id": 1, "name": "ccs isbn", "status": "in_progress"},
            {"id": 2, "name": "child (c-7, money)", "status": "in_progress"},
            {"id": 3, "name": "ccs money", "status": "completed"}]
    assert pick_job(jobs, "c-9", "isbn")["id"] == 1
    assert pick_job(jobs, "c-7", "money")["id"] == 2
    assert pick_job(jobs, "c-8", "pricing") is None
    twins = [{"id": 4, "name": "ccs isbn"}, {"id": 5, "name": "ccs isbn"}]
    assert pick_job(twins, "c-1", "isbn") is None  # ambiguous: keep the run's page
