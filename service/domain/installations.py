"""GitHub App installations: what each installation event means, and the refusal ccs gives
for a repository whose installation was suspended or removed (no GitHub call would work)."""

from __future__ import annotations

ACTIVE, SUSPENDED, DELETED = "active", "suspended", "deleted"
# installation.<action> and installation_repositories.<action> → the installation's state.
_STATE_AFTER = {"deleted": DELETED, "suspend": SUSPENDED}


def state_after(action: str) -> str:
    """Return an installation's state after an event with `action` (any other: active)."""
    return _STATE_AFTER.get(action, ACTIVE)


def installation_refusal(state: str, account: str, installation_id: int,
                         repository: str) -> str | None:
    """Return why nothing can be started in `repository` through this installation, or None."""
    if state == SUSPENDED:
        return (f"the ccs GitHub App's installation on {account} (id {installation_id}) is "
                f"suspended, so ccs cannot work in {repository}; an owner of {account} can "
                "unsuspend it (Settings → GitHub Apps → Configure), then try again")
    if state == DELETED:
        return (f"the ccs GitHub App was uninstalled from {account} (installation "
                f"{installation_id}), so ccs cannot work in {repository}; install the App "
                "for this repository again, then try again")
    return None
