"""The manifest model: contexts, components and their resolved files (DESIGN §3)."""

from __future__ import annotations

import difflib
import posixpath
import re
from dataclasses import dataclass, field, replace

from service.domain.names import InvalidName, check_name
from service.domain.spend import Budget
from service.domain.wire import CoderSpec, CommandSpec, JobConfig

MANIFEST_PATH = ".github/ccs.yml"  # where a repository keeps its manifest (`--manifest` overrides)
DEFAULT_PATHS = {
    "design": "docs/design/{context}/{component}.md",
    "implementation": "src/{context}/{component}.py",
    "test": "tests/{context}/test_{component}.py",
}
PATH_KINDS = ("design", "implementation", "test")
# `{{` and `}}` are literal braces for the runner, so they are matched (and kept) first.
_CONTEXT_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{context\}")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message says where and what is allowed."""


@dataclass(frozen=True)
class ComponentSpec:
    """A component as the manifest declares it."""

    name: str
    priority: int = 0
    paths: dict[str, str] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # components of the same context it runs after (§3b)


@dataclass(frozen=True)
class ContextSpec:
    """A context as the manifest declares it."""

    name: str
    description: str
    components: tuple[ComponentSpec, ...]

    def needs(self) -> dict[str, tuple[str, ...]]:
        """Return component name -> the names it needs, in manifest order."""
        return {c.name: c.needs for c in self.components}


@dataclass(frozen=True)
class IntegrationSpec:
    """The manifest's `integration` key (§3b): coder rounds on the merged tree."""

    attempts: int = 1


@dataclass(frozen=True)
class Component:
    """A component with every path resolved; what a child session works on."""

    context: str
    name: str
    priority: int
    design: str
    implementation: str
    test: str
    allow: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    @property
    def own_files(self) -> frozenset[str]:
        """Return the files this component may change."""
        return frozenset((self.design, self.implementation, self.test, *self.allow))


@dataclass(frozen=True)
class SandboxSpec:
    """The manifest's `sandbox` key (DESIGN §8): on unless `false`; extra writable folders."""

    enabled: bool = True
    writable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A parsed, validated manifest."""

    source: str
    base: str | None
    paths: dict[str, str]
    setup: CommandSpec | None
    coder: CoderSpec
    test: CommandSpec
    verify: CommandSpec | None
    attempts: int
    parallel: int
    draft_pull_request: bool
    push_pull_request: bool
    contexts: dict[str, ContextSpec]
    budget: Budget | None = None
    sandbox: SandboxSpec = field(default_factory=SandboxSpec)
    integration: IntegrationSpec | None = None

    def job_config(self) -> JobConfig:
        """Return the `config` the child jobs receive."""
        return JobConfig(
            setup=self.setup,
            coder=self.coder,
            test=self.test,
            verify=self.verify,
            attempts=self.attempts,
        )

    def verify_config(self, context: str) -> JobConfig:
        """Return the `config` of a session's verify job: `{context}` in verify is its name."""
        config = self.job_config()
        if config.verify is None:
            return config
        command = tuple(_CONTEXT_PLACEHOLDER.sub(
            lambda m: context if m.group(0) == "{context}" else m.group(0), arg)
            for arg in config.verify.command)
        return replace(config, verify=replace(config.verify, command=command))

    def context(self, name: str) -> ContextSpec:
        """Return the named context, or raise ManifestError listing the known ones."""
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            close = difflib.get_close_matches(name, list(self.contexts), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ManifestError(
                f"{self.source}: unknown context {name!r}; the manifest defines: {known}{hint}"
            )
        return self.contexts[name]

    def components(self, context: str, only: list[str] | None = None) -> list[Component]:
        """Return the context's resolved components in spawn order, optionally a subset."""
        spec = self.context(context)
        resolved = [resolve_component(self, spec, c) for c in spec.components]
        if only:
            names = {c.name for c in resolved}
            unknown = [n for n in only if n not in names]
            if unknown:
                raise ManifestError(
                    f"{self.source}: context {context!r} has no component "
                    f"{', '.join(repr(n) for n in unknown)}; it has: {', '.join(sorted(names))}"
                )
            resolved = [c for c in resolved if c.name in set(only)]
        return spawn_order(resolved)


def spawn_order(components: list[Component]) -> list[Component]:
    """Return components by priority descending, then name ascending."""
    return sorted(components, key=lambda c: (-c.priority, c.name))


def resolve_component(manifest: Manifest, context: ContextSpec, spec: ComponentSpec) -> Component:
    """Resolve one component's paths from the templates and its overrides."""
    paths = {}
    for kind in PATH_KINDS:
        template = spec.paths.get(kind) or manifest.paths.get(kind) or DEFAULT_PATHS[kind]
        where = f"contexts.{context.name}.components[{spec.name}].paths.{kind}"
        raw = _fill(template, context.name, spec.name, where, manifest.source)
        paths[kind] = check_repo_path(raw, where, manifest.source)
    allow = tuple(
        check_repo_path(p, f"contexts.{context.name}.components[{spec.name}].allow",
                        manifest.source)
        for p in spec.allow
    )
    return Component(context.name, spec.name, spec.priority, allow=allow, needs=spec.needs,
                     **paths)


def _fill(template: str, context: str, component: str, where: str, source: str) -> str:
    try:
        return template.format(context=context, component=component)
    except (KeyError, IndexError, ValueError) as error:
        raise ManifestError(
            f"{source}: {where}: template {template!r} may use only {{context}} and "
            f"{{component}} ({error})"
        ) from None


def check_repo_path(path: str, where: str, source: str) -> str:
    """Return `path` normalised if it is a safe repository-relative file path, else raise."""
    problem = _path_problem(path)
    if problem:
        raise ManifestError(
            f"{source}: {where}: unsafe path {path!r}: {problem}; use a relative path inside "
            "the repository such as src/accounts/user.py"
        )
    return posixpath.normpath(path)


def _path_problem(path: str) -> str | None:
    if not isinstance(path, str) or not path.strip():
        return "it is empty"
    if "\x00" in path or any(ord(ch) < 32 for ch in path):
        return "it contains control characters"
    if "\\" in path:
        return "it contains a backslash"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "it is absolute"
    normal = posixpath.normpath(path)
    # Judge where the path lands before its spelling, so `a/../../x` is never
    # "fixed" into a suggestion that leaves the repository.
    if normal == "." or normal.startswith("../") or normal == "..":
        return "it leaves the repository"
    if any(is_git_dir_name(part) for part in normal.split("/")):
        return "it is inside .git/ (a folder named .git, in any case)"
    if normal != path.rstrip("/") and normal != path:
        return f"it is not normalised (write {normal!r})"
    if path.endswith("/"):
        return "it names a directory, not a file"
    return None


def is_git_dir_name(part: str) -> bool:
    """Return True for a path component git or a filesystem may take for `.git`."""
    # Case-insensitive filesystems (macOS, Windows), Windows' dropping of trailing dots and
    # spaces, NTFS streams and 8.3 names make `.GIT`, `.git.`, `.git::$DATA` and `GIT~1`
    # the same folder as `.git` (git's own core.protectNTFS list).
    name = part.split(":", 1)[0].rstrip(". ").lower()
    return name in (".git", "git~1")


def check_distinct(components: list[Component], source: str) -> None:
    """Raise ManifestError when two components resolve to the same file."""
    owners: dict[str, str] = {}
    for component in components:
        for path in (component.design, component.implementation, component.test):
            label = f"{component.context}.{component.name}"
            if path in owners and owners[path] != label:
                raise ManifestError(
                    f"{source}: components {owners[path]} and {label} both resolve to "
                    f"{path!r}; give one of them its own path under 'paths'"
                )
            owners[path] = label


def check_context_names(contexts: dict[str, ContextSpec]) -> None:
    """Raise InvalidName for a context or component name outside the allowed pattern."""
    for context in contexts.values():
        check_name("context", context.name)
        for component in context.components:
            check_name("component", component.name)


__all__ = [
    "Component",
    "ComponentSpec",
    "ContextSpec",
    "IntegrationSpec",
    "InvalidName",
    "Manifest",
    "ManifestError",
    "SandboxSpec",
    "check_distinct",
    "check_repo_path",
    "spawn_order",
]
