"""Read `.github/ccs.yml`: YAML with line numbers, JSON Schema, then the domain model (§3)."""

from __future__ import annotations

import difflib
import re
import shlex
import string
from pathlib import Path
from typing import Any

import yaml

from action.agents import PRESETS
from service.adapters.manifest.schema import manifest_schema, validate_schema
from service.adapters.manifest.yaml_lines import MAX_NODES, KeyPath, LineMap, compose, dotted
from service.domain.manifest import (
    DEFAULT_PATHS,
    MANIFEST_PATH,
    PATH_KINDS,
    Component,
    ComponentSpec,
    ContextSpec,
    IntegrationSpec,
    Manifest,
    ManifestError,
    SandboxSpec,
    check_context_names,
    check_distinct,
    check_repo_path,
)
from service.domain.names import NAME_PATTERN, InvalidName, check_name, check_ref_name
from service.domain.spend import Budget
from service.domain.waves import describe_cycle, find_cycle
from service.domain.wire import CoderSpec, CommandSpec

__all__ = ["MAX_NODES", "dotted", "load_manifest", "manifest_schema", "parse_manifest"]

MAX_MANIFEST_BYTES = 1 << 20
COMMAND_PLACEHOLDERS = (
    "context", "component", "design", "implementation", "test", "junit", "attempt", "prompt"
)
PATH_PLACEHOLDERS = ("context", "component")
DEFAULT_TIMEOUTS = {"setup": 900, "coder": 1800, "test": 600, "verify": 1800}
DEFAULT_ATTEMPTS = 3
DEFAULT_PARALLEL = 8
# The same tokens the child runner substitutes (action/commands.py): `{{`, `}}`, `{name}`.
_COMMAND_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_manifest(repo: Path, manifest_path: str | None = None) -> Manifest:
    """Read and parse the manifest from the working tree of `repo`."""
    relative = manifest_path or MANIFEST_PATH
    path = Path(repo) / relative
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}; run `ccs init` to create one")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise ManifestError(f"{relative}: cannot read the manifest ({error})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{relative}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ManifestError(f"{relative}: the manifest is not UTF-8 text ({error})") from None
    return parse_manifest(text, source=relative)


def parse_manifest(text: str, source: str = MANIFEST_PATH) -> Manifest:
    """Parse and validate manifest text; raise ManifestError naming file, line and key."""
    lines = LineMap(source)
    lines.index(compose(text, source))
    data = yaml.safe_load(text)
    validate_schema(data, lines)
    manifest = _build(data, lines)
    _resolve_all(manifest, lines)
    return manifest


def _build(data: dict[str, Any], lines: LineMap) -> Manifest:
    """Turn schema-valid data into a Manifest; check names, commands and templates."""
    base = data.get("base")
    if base is not None:
        try:
            check_ref_name(base)
        except InvalidName as error:
            lines.fail(("base",), str(error))
    paths = dict(DEFAULT_PATHS)
    for kind, template in data.get("paths", {}).items():
        paths[kind] = _check_template(template, ("paths", kind), lines)
    pull_request = data.get("pull_request", True)
    contexts = {
        name: _context(name, body, lines) for name, body in data["contexts"].items()
    }
    try:
        check_context_names(contexts)
    except InvalidName as error:
        lines.fail(_first_bad_name(data), str(error))
    coder = data["coder"]
    if "integration" in data and "verify" not in data:
        lines.fail(("integration",), "runs only when `verify` fails on the merged tree; add a "
                   "`verify` command or remove `integration`")
    return Manifest(
        source=lines.source,
        base=base,
        paths=paths,
        setup=_command(data, "setup", lines),
        coder=_coder(data, lines),
        test=_command(data, "test", lines),
        verify=_command(data, "verify", lines),
        attempts=coder.get("attempts", DEFAULT_ATTEMPTS),
        parallel=data.get("parallel", DEFAULT_PARALLEL),
        draft_pull_request=pull_request.get("draft", True)
        if isinstance(pull_request, dict) else True,
        push_pull_request=pull_request is not False,
        contexts=contexts,
        budget=_budget(data),
        sandbox=_sandbox(data.get("sandbox", True), lines),
        integration=IntegrationSpec(**data["integration"]) if "integration" in data else None,
    )


def _coder(data: dict[str, Any], lines: LineMap) -> CoderSpec:
    """Return the coder: exactly one of a command and an agent preset (DESIGN §3a)."""
    body = data["coder"]
    agent = body.get("agent")
    if ("command" in body) == (agent is not None):
        lines.fail(("coder",), "give exactly one of `command` (your own program, an argv list) "
                   f"and `agent` (a preset: {', '.join(sorted(PRESETS))})")
    if agent is not None and agent not in PRESETS:
        close = difflib.get_close_matches(agent, list(PRESETS), n=1)
        lines.fail(("coder", "agent"), f"unknown agent {agent!r}; use one of "
                   f"{', '.join(sorted(PRESETS))}" + (f" (did you mean {close[0]!r}?)"
                                                      if close else ""))
    if agent is None:
        for key in ("model", "max_turns"):
            if key in body:
                lines.fail(("coder", key), "applies only to an agent coder (`agent:`); a "
                           "command coder passes it in its own command")
    prompt = body.get("prompt")
    if prompt is not None:
        where = f"{lines.source}:{lines.line(('coder', 'prompt'))}"
        check_repo_path(prompt, "coder.prompt", where)
    command = _command(data, "coder", lines) if agent is None else None
    return CoderSpec(
        command=command.command if command else (),
        timeout=body.get("timeout", DEFAULT_TIMEOUTS["coder"]), agent=agent,
        model=body.get("model"), prompt=prompt, max_turns=body.get("max_turns"),
        budget_usd=body.get("budget_usd"), env=tuple(body.get("env", ())))


def _budget(data: dict[str, Any]) -> Budget | None:
    body = data.get("budget")
    return Budget(body.get("cost_usd"), body.get("minutes")) if body else None


def _sandbox(body: bool | dict[str, Any], lines: LineMap) -> SandboxSpec:
    """Return the sandbox setting; writable folders must be absolute or start with ~/."""
    if body is False:
        return SandboxSpec(enabled=False)
    writable = body.get("writable", []) if isinstance(body, dict) else []
    for index, path in enumerate(writable):
        if "\x00" in path or not (path.startswith("/") or path == "~" or path.startswith("~/")):
            lines.fail(("sandbox", "writable", index),
                       f"{path!r} must be an absolute folder or start with ~/ (such as "
                       "~/.m2 or /opt/cache)")
    return SandboxSpec(enabled=True, writable=tuple(writable))


def _context(name: str, body: dict[str, Any], lines: LineMap) -> ContextSpec:
    components = []
    seen: set[str] = set()
    for position, item in enumerate(body["components"]):
        where: KeyPath = ("contexts", name, "components", position)
        if item["name"] in seen:
            lines.fail((*where, "name"), f"duplicate component {item['name']!r} in context "
                       f"{name!r}; each component name may appear once")
        seen.add(item["name"])
        overrides = {
            kind: _check_template(template, (*where, "paths", kind), lines)
            for kind, template in item.get("paths", {}).items()
        }
        components.append(ComponentSpec(
            name=item["name"],
            priority=item.get("priority", 0),
            paths=overrides,
            allow=tuple(item.get("allow", ())),
            needs=tuple(item.get("needs", ())),
        ))
    _check_needs(name, components, lines)
    return ContextSpec(name=name, description=body.get("description", ""),
                       components=tuple(components))


def _check_needs(context: str, components: list[ComponentSpec], lines: LineMap) -> None:
    """Reject a `needs` that names no component of the context, or that closes a cycle."""
    position = {c.name: index for index, c in enumerate(components)}
    for spec in components:
        for index, need in enumerate(spec.needs):
            if need not in position:
                lines.fail(("contexts", context, "components", position[spec.name], "needs",
                            index),
                           f"{spec.name} needs {need!r}, which is not a component of context "
                           f"{context!r}; it has: {', '.join(sorted(position))}")
    cycle = find_cycle({c.name: c.needs for c in components})
    if cycle:
        lines.fail(("contexts", context, "components", position[cycle[0]], "needs"),
                   f"dependency cycle: {describe_cycle(cycle)}; a component can run only "
                   "after what it needs, so remove one of these needs")


def _first_bad_name(data: dict[str, Any]) -> KeyPath:
    """Return the key path of the first name, in file order, that check_name refuses."""
    for context, body in data["contexts"].items():
        if not NAME_PATTERN.match(context):
            return ("contexts", context)
        for position, item in enumerate(body["components"]):
            try:
                check_name("component", item["name"])
            except InvalidName:
                return ("contexts", context, "components", position, "name")
    return ("contexts",)


def _check_template(template: str, path: KeyPath, lines: LineMap) -> str:
    """Return a path template if it uses only plain {context} and {component}."""
    allowed = ", ".join("{" + name + "}" for name in PATH_PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as error:
        lines.fail(path, f"template {template!r} is malformed ({error}); it may use {allowed}")
    for _text, field, spec, conversion in fields:
        if field is not None and (field not in PATH_PLACEHOLDERS or spec or conversion):
            lines.fail(path, f"template {template!r} uses {{{field}}}; it may use only {allowed}")
    return template


def _command(data: dict[str, Any], key: str, lines: LineMap) -> CommandSpec | None:
    body = data.get(key)
    if body is None:
        return None
    raw = body["command"]
    path: KeyPath = (key, "command")
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as error:
            lines.fail(path, f"cannot split {raw!r} into arguments ({error}); "
                       "write the command as a list")
        if not argv:
            lines.fail(path, "must not be empty")
        paths = [path] * len(argv)
    else:
        argv = list(raw)
        paths = [(*path, position) for position in range(len(argv))]
    if not argv[0]:
        lines.fail(paths[0], "the program name is empty")
    for arg, where in zip(argv, paths, strict=True):
        _check_placeholders(arg, where, lines)
    return CommandSpec(command=tuple(argv), timeout=body.get("timeout", DEFAULT_TIMEOUTS[key]))


def _check_placeholders(arg: str, path: KeyPath, lines: LineMap) -> None:
    if "\x00" in arg:
        lines.fail(path, "an argument contains a NUL character")
    for match in _COMMAND_TOKEN.finditer(arg):
        name = match.group(1)
        if name is not None and name not in COMMAND_PLACEHOLDERS:
            allowed = " ".join("{" + p + "}" for p in COMMAND_PLACEHOLDERS)
            lines.fail(path, f"unknown placeholder {{{name}}} in {arg!r}; allowed: {allowed} "
                       f"(write {{{{{name}}}}} for literal braces)")


def _resolve_all(manifest: Manifest, lines: LineMap) -> None:
    """Resolve every context, so an unsafe path anywhere rejects the whole manifest."""
    everything: list[Component] = []
    for context in manifest.contexts.values():
        for position, spec in enumerate(context.components):
            _check_component_paths(manifest, context.name, position, spec, lines)
        everything.extend(manifest.components(context.name))
    owners: dict[str, Component] = {}
    for component in everything:
        for path in (component.design, component.implementation, component.test):
            owner = owners.setdefault(path, component)
            if owner is not component:
                position = [c.name for c in manifest.contexts[component.context].components]
                where = ("contexts", component.context, "components",
                         position.index(component.name))
                check_distinct([owner, component], lines.where(where).rstrip(": "))


def _check_component_paths(manifest: Manifest, context: str, position: int,
                           spec: ComponentSpec, lines: LineMap) -> None:
    """Check one component's resolved paths, pointing at the line the bad path comes from."""
    where: KeyPath = ("contexts", context, "components", position)
    for kind in PATH_KINDS:
        if kind in spec.paths:
            origin: KeyPath = (*where, "paths", kind)
        else:
            origin = ("paths", kind) if ("paths", kind) in lines.lines else where
        resolved = manifest.paths[kind] if kind not in spec.paths else spec.paths[kind]
        resolved = resolved.format(context=context, component=spec.name)
        check_repo_path(resolved, dotted((*where, "paths", kind)),
                        f"{lines.source}:{lines.line(origin)}")
    for index, allowed in enumerate(spec.allow):
        allow_path: KeyPath = (*where, "allow", index)
        check_repo_path(allowed, dotted(allow_path), f"{lines.source}:{lines.line(allow_path)}")
