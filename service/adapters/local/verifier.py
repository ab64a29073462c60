"""The local verifier: run the manifest's verify command on the merged tree, sealed off."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.git_repo import GitError, GitRepository
from service.adapters.local.executor import child_environment, log_hint, runner_argv
from service.adapters.local.launch import run_runner, with_temp_dir
from service.adapters.local.logs import LogFolder
from service.adapters.local.sandbox import refused_write_message, sandboxed, session_sandbox
from service.domain.wire import ChildResult, InvalidResult, JobConfig, TestCounts, parse_result


class LocalVerifier:
    """Runs verify through the same runner (a process, in its own checkout and sandbox)."""

    def __init__(self, repo: GitRepository, log_dir: Path) -> None:
        self.repo = repo
        self.logs = LogFolder(log_dir)

    def resend(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> None:
        """Nothing to resend: local verify runs inside the step and ends with it."""

    def verify(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> ChildResult:
        """Check the merged commit out in a fresh clone, run verify there, return the result."""
        scratch = Path(tempfile.mkdtemp(prefix=f"ccs-{session.id}-verify-"))
        checkout, result_file = scratch / "checkout", scratch / "result.json"
        log_path = self.logs.runner_log(session.id, row.component)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        where = log_hint(session.id, row.component, log_path.parent)
        try:
            plan = session_sandbox(self.repo, session, os.environ)
            self.repo.add_checkout(checkout, commit)
            argv = runner_argv("verify", "--entry", json.dumps({"child": row.id, "ref": commit}),
                               "--config", json.dumps(config.to_json()), "--session", session.id,
                               "--workdir", str(checkout), "--result", str(result_file),
                               "--logs", str(scratch / "logs"))
            home = Path(os.environ.get("HOME") or Path.home())
            ended = run_runner(sandboxed(argv, plan, scratch, home),
                               env=with_temp_dir(child_environment(), scratch),
                               log_path=log_path)
            if not result_file.exists():
                return _failed(row, f"the verify runner exited {ended.returncode} without a "
                               f"result; {where}")
            result = parse_result(json.loads(result_file.read_text(encoding="utf-8")))
            if not result.succeeded:
                refused = f"; {refused_write_message(ended.refused)}" if ended.refused else ""
                result = replace(result, message=f"{result.message}{refused}; {where}")
            return result
        except (OSError, ValueError, InvalidResult, GitError) as error:
            return _failed(row, f"could not run verify: {error}; {where}")
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.logs.keep(session.id, row.component, scratch / "logs")
            shutil.rmtree(scratch, ignore_errors=True)


def _failed(row: ChildRow, message: str) -> ChildResult:
    return ChildResult(status="failed", commit=None, branch=None, attempts=1,
                       tests=TestCounts(), message=message)
