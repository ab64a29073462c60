"""The local verifier: run the manifest's verify command on the merged tree in a worktree."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from action.runner import Runner, run_verify
from action.spec import VerifyEntry, parse_config
from service.adapters.db.models import ChildRow, SessionRow
from service.adapters.git_repo import GitRepository
from service.domain.wire import ChildResult, JobConfig, parse_result


class LocalVerifier:
    """Runs verify synchronously through the same runner code the Actions job uses."""

    def __init__(self, repo: GitRepository, log_dir: Path) -> None:
        self.repo = repo
        self.log_dir = log_dir

    def verify(self, session: SessionRow, commit: str, config: JobConfig,
               row: ChildRow) -> ChildResult:
        """Check the merged commit out in a worktree, run verify there, return the result."""
        scratch = Path(tempfile.mkdtemp(prefix=f"ccs-{session.id}-verify-"))
        worktree = scratch / "checkout"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        output = io.BytesIO()
        runner = None
        try:
            self.repo.add_worktree(worktree, commit)
            runner = Runner(session=session.id, workdir=worktree, echo=output)
            result = run_verify(VerifyEntry(child=row.id, ref=commit),
                                parse_config(config.to_json()), runner)
            return parse_result(result.to_json())
        finally:
            (self.log_dir / "verify.log").write_bytes(output.getvalue())
            if runner is not None:
                runner.close()
            self.repo.remove_worktree(worktree)
            with contextlib.suppress(OSError):
                scratch.rmdir()
