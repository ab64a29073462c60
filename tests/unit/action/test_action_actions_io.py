"""GitHub Actions runner I/O in action.actions_io, with monkeypatched env and tmp files."""

from __future__ import annotations

import io

import pytest

from action import actions_io
from action.spec import InputError
from tests.fakes.actions_env import parse_commands


def test_read_job_env_takes_inputs_and_github_variables(monkeypatch, tmp_path) -> None:
    for key, value in {
        "CCS_JOB_ENTRY": '{"child": "c"}', "CCS_JOB_CONFIG": "{}", "CCS_JOB_SESSION": "s1",
        "CCS_JOB_BRANCH": "ccs/a-1", "CCS_JOB_CALLBACK": "https://ccs.example/",
        "CCS_JOB_TOKEN": "ghs_x", "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_REPOSITORY": "octo/repo", "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": "https://ghe.example",
    }.items():
        monkeypatch.setenv(key, value)
    env = actions_io.read_job_env()
    assert env.callback == "https://ccs.example"
    assert env.mode == "component"
    assert env.repo_url == "https://ghe.example/octo/repo.git"
    assert env.run_id == 77 and env.workspace == tmp_path
    assert env.log_url == "https://ghe.example/octo/repo/actions/runs/77"
    assert "ghs_x" not in repr(env)


def test_repo_url_can_be_overridden_and_mode_is_checked(monkeypatch) -> None:
    monkeypatch.setenv("CCS_JOB_REPO_URL", "/srv/git/repo.git")
    monkeypatch.setenv("CCS_JOB_MODE", "verify")
    assert actions_io.read_job_env().repo_url == "/srv/git/repo.git"
    monkeypatch.setenv("CCS_JOB_MODE", "deploy")
    with pytest.raises(InputError, match="CCS_JOB_MODE must be one of component, verify"):
        actions_io.read_job_env()


def test_outputs_are_appended_with_heredoc_for_multiline(monkeypatch, tmp_path) -> None:
    out = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    actions_io.set_output("status", "succeeded")
    actions_io.set_output("message", "two\nlines")
    lines = out.read_text().splitlines()
    assert lines[0] == "status=succeeded"
    name, delimiter = lines[1].split("<<")
    assert name == "message" and lines[2:] == ["two", "lines", delimiter]


def test_outputs_and_summary_are_no_ops_outside_actions(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    actions_io.set_output("status", "x")
    actions_io.append_summary("# hi")
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere it could reach


def test_summary_is_appended(monkeypatch, tmp_path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    actions_io.append_summary("first")
    actions_io.append_summary("second\n")
    assert summary.read_text() == "first\nsecond\n"


def test_annotations_escape_data_and_properties() -> None:
    stream = io.StringIO()
    actions_io.annotate("error", "50% done\nline two", title="a:b,c", file="src/x.py",
                        line=3, stream=stream)
    assert stream.getvalue() == (
        "::error title=a%3Ab%2Cc,file=src/x.py,line=3::50%25 done%0Aline two\n")
    [command] = parse_commands(stream.getvalue())
    assert command.message == "50% done\nline two"
    assert command.properties == {"title": "a:b,c", "file": "src/x.py", "line": "3"}


def test_grouped_console_stops_commands_in_command_output() -> None:
    stream = io.StringIO()
    console = actions_io.GroupedConsole(stream)
    console.start("tests: pytest")
    stream.write("::error::injected by repository code")  # no trailing newline
    console.end()
    actions_io.annotate("error", "real", stream=stream)
    text = stream.getvalue()
    assert text.startswith("::group::ccs: tests: pytest\n::stop-commands::")
    assert [c.name for c in parse_commands(text)] == ["group", "endgroup", "error"]
    assert parse_commands(text)[-1].message == "real"


def test_markdown_cell_cannot_break_the_table() -> None:
    assert actions_io.markdown_cell("a|b\nc") == "a\\|b c"
