"""Sessions on a ServiceStage whose children report through the real callback route.

    session_id = start_running(stage)           # children dispatched, bound to a run
    report(stage, "isbn")                         # POST …/children/<id>/result with OIDC
"""

from __future__ import annotations

from tests.fakes.service_runtime import REPO, ServiceStage, bearer

RUN_ID = 2202229078  # the fake issuer's default run_id claim


def start_running(stage: ServiceStage) -> str:
    """Start a session whose children run in RUN_ID; return its id."""
    session = stage.project.start(repository=REPO, context="catalog", base="main")
    for child in stage.store.children(session.id):
        stage.store.update_child(child.id, run_id=RUN_ID)
    return session.id


def report(stage: ServiceStage, component: str, status: str = "succeeded") -> str:
    """Post the component's result as its job would (202 expected); return the child id."""
    child_id, result = stage.project.executor.result(component, status)
    answer = stage.app.test_client().post(
        f"/api/v1/children/{child_id}/result", json=result.to_json(),
        headers=bearer(stage.issuer.issue(repository=REPO)))
    assert answer.status_code == 202, answer.json
    return child_id
