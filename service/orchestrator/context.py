"""The ports a step works with, and the few things every step shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from service.domain.manifest import Component, Manifest, ManifestError
from service.domain.names import InvalidName
from service.domain.redaction import redact
from service.domain.states import SessionMove, SessionMoves
from service.domain.validation import Finding, attention_message
from service.domain.waves import wave_numbers
from service.orchestrator.errors import BadInput, UnknownSession
from service.orchestrator.ports import (
    ChildRecord,
    Clock,
    Executor,
    Git,
    Host,
    ManifestParser,
    NotFound,
    NullReporter,
    Reporter,
    SessionRecord,
    Store,
    SystemClock,
    Verifier,
)

RETRY_HINT = "Fix what is named above (often the design doc), then run `{retry}`."


@dataclass
class Ports:
    """Everything outside the orchestrator that one repository's sessions talk to."""

    store: Store
    git: Git
    host: Host
    executor: Executor
    parse_manifest: ManifestParser
    verifier: Verifier | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    clock: Clock = field(default_factory=SystemClock)
    retry_command: str = "ccs retry {session}"
    # Every stored or posted text passes here: configured secrets and token shapes masked.
    redact: Callable[[str], str] = redact
    _manifests: dict[tuple[str, str], Manifest] = field(default_factory=dict, repr=False)

    def manifest(self, commit: str, path: str) -> Manifest:
        """Return the manifest at `commit`, or raise BadInput saying what is wrong."""
        key = (commit, path)
        if key not in self._manifests:
            text = self.git.read_file(commit, path)
            if text is None:
                raise BadInput(f"no manifest at {path} in commit {commit[:12]}; add one "
                               "(`ccs init` writes a starting point)", code="no_manifest")
            try:
                self._manifests[key] = self.parse_manifest(text, path)
            except (ManifestError, InvalidName) as error:
                raise BadInput(str(error), code="invalid_manifest") from None
        return self._manifests[key]

    def session_manifest(self, session: SessionRecord) -> Manifest:
        """Return the manifest at the session's base commit."""
        assert session.base_sha is not None
        return self.manifest(session.base_sha, session.manifest_path)

    def components(self, session: SessionRecord, base_sha: str | None = None) -> list[Component]:
        """Return the session's components as the manifest at `base_sha` resolves them."""
        commit = base_sha or session.base_sha
        assert commit is not None
        manifest = self.manifest(commit, session.manifest_path)
        try:
            return manifest.components(session.context, session.requested_components)
        except ManifestError as error:
            raise BadInput(str(error), code="unknown_component") from None

    def session(self, session_id: str, repository: str | None = None) -> SessionRecord:
        """Return the session, or raise UnknownSession (also for another repository's)."""
        try:
            return self.store.session(session_id, repository)
        except NotFound as error:
            raise UnknownSession(str(error)) from None

    def rest(self, session_id: str, move: SessionMove, message: str) -> None:
        """Move the session to a resting status with a message, log it and tell people."""
        message = self.redact(message)
        self.store.apply(move, session_id, message=message)
        self.store.log(session_id, move.target.value, "", message,
                       ok=move == SessionMoves.COMPLETE)
        self.reporter.session_changed(session_id)

    def attention(self, session: SessionRecord, findings: list[Finding]) -> str:
        """Return the needs-attention message for `findings`, ending with the retry hint."""
        hint = RETRY_HINT.format(retry=self.retry_command.format(session=session.id))
        return attention_message(session.context, findings, hint)


def spec_of(component: Component, description: str = "", wave: int = 0,
            waves: int = 1) -> dict:
    """Return what a child row keeps of its resolved component (its context's description,
    which the prompt shows, its dependency wave and how many waves its session has)."""
    return {"context": component.context, "name": component.name,
            "priority": component.priority, "design": component.design,
            "implementation": component.implementation, "test": component.test,
            "allow": list(component.allow), "needs": list(component.needs),
            "description": description, "wave": wave, "waves": waves}


def specs_of(components: list[Component], description: str) -> dict[str, dict]:
    """Return each component's child spec, its wave counted among these components only
    (a need left out of the session is already implemented on the base)."""
    waves = wave_numbers({c.name: c.needs for c in components})
    count = max(waves.values(), default=0) + 1
    return {c.name: spec_of(c, description, waves[c.name], count) for c in components}


def component_of(child: ChildRecord) -> Component:
    """Return the resolved component a child works on."""
    spec = dict(child.spec)
    for extra in ("description", "wave", "waves", "designs", "feedback", "rounds"):
        spec.pop(extra, None)
    spec["allow"] = tuple(spec.get("allow") or ())
    spec["needs"] = tuple(spec.get("needs") or ())
    return Component(**spec)
