"""Read `.github/ccs.yml`: YAML with line numbers, JSON Schema, then the domain model (§3)."""

from __future__ import annotations

import difflib
import json
import re
import shlex
import string
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import yaml

from service.domain.manifest import (
    DEFAULT_PATHS,
    PATH_KINDS,
    Component,
    ComponentSpec,
    ContextSpec,
    Manifest,
    ManifestError,
    check_context_names,
    check_distinct,
    check_repo_path,
)
from service.domain.names import NAME_PATTERN, InvalidName, check_name, check_ref_name
from service.domain.wire import CommandSpec

MANIFEST_PATH = ".github/ccs.yml"
MAX_MANIFEST_BYTES = 1 << 20
# Aliases can make a small file expand into a huge tree; cap what validation may walk.
MAX_NODES = 100_000
COMMAND_PLACEHOLDERS = (
    "context", "component", "design", "implementation", "test", "junit", "attempt"
)
PATH_PLACEHOLDERS = ("context", "component")
DEFAULT_TIMEOUTS = {"setup": 900, "coder": 1800, "test": 600, "verify": 1800}
DEFAULT_ATTEMPTS = 3
DEFAULT_PARALLEL = 8
# The same tokens the child runner substitutes (action/commands.py): `{{`, `}}`, `{name}`.
_COMMAND_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

KeyPath = tuple[str | int, ...]


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
    lines = _LineMap(source)
    lines.index(_compose(text, source))
    data = yaml.safe_load(text)
    _validate_schema(data, lines)
    manifest = _build(data, lines)
    _resolve_all(manifest, lines)
    return manifest


def manifest_schema() -> dict[str, Any]:
    """Return the manifest's JSON Schema (Draft 2020-12)."""
    return json.loads(_schema_text())


@cache
def _schema_text() -> str:
    return resources.files("service").joinpath("schemas/manifest.schema.json").read_text("utf-8")


def dotted(path: KeyPath) -> str:
    """Return a key path as written in messages, e.g. `contexts.accounts.components[1].name`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class _LineMap:
    """Line numbers of keys and nodes by key path, and a helper that raises located errors."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[KeyPath, int] = {}
        self._sizes: dict[int, int] = {}
        self._active: set[int] = set()
        self._total = 0

    def line(self, path: KeyPath) -> int:
        """Return the line of `path`, or of its nearest parent that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def fail(self, path: KeyPath, message: str) -> NoReturn:
        """Raise ManifestError for `path`."""
        raise ManifestError(self.where(path) + message)

    def where(self, path: KeyPath) -> str:
        """Return the `file:line: key: ` prefix for `path`."""
        return f"{self.source}:{self.line(path)}: {dotted(path)}: "

    def index(self, node: yaml.Node | None, path: KeyPath = ()) -> None:
        """Record lines under `node`; reject duplicate, non-string or merge keys and alias loops."""
        if node is None:
            return
        key = id(node)
        if key in self._active:
            self.fail(path, "an alias refers to itself; YAML loops are not allowed")
        if key in self._sizes:
            # A repeated alias: count its expanded size, keep the lines of its first use.
            self._count(path, self._sizes[key])
            return
        self._active.add(key)
        start = self._total
        self._count(path, 1)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                self.index(item, (*path, position))
        elif isinstance(node, yaml.MappingNode):
            self._index_mapping(node, path)
        self._active.discard(key)
        self._sizes[key] = self._total - start

    def _index_mapping(self, node: yaml.MappingNode, path: KeyPath) -> None:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                self.lines[(*path, "<<")] = line
                self.fail((*path, "<<"), "merge keys (<<) are not supported; write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                self.lines[(*path, "?")] = line
                self.fail((*path, "?"), "a key must be a plain string, not a list or mapping")
            if key_node.tag != _STR_TAG:
                text = key_node.value
                self.lines[(*path, text)] = line
                self.fail((*path, text), f"key {text!r} is not read as a string by YAML "
                          f"(it is a {key_node.tag.rsplit(':', 1)[-1]}); quote it: '{text}'")
            name = key_node.value
            if name in seen:
                self.lines[(*path, name)] = line
                self.fail((*path, name), "duplicate key; each key may appear once")
            seen.add(name)
            self.lines[(*path, name)] = line
            self.index(value_node, (*path, name))

    def _count(self, path: KeyPath, nodes: int) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            self.fail(path, f"the manifest expands to more than {MAX_NODES} values")


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = " ".join(str(p) for p in (error.context, error.problem) if p)
        raise ManifestError(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: invalid YAML: {error}") from None
    except RecursionError:
        raise ManifestError(f"{source}: invalid YAML: nested too deeply") from None


def _strict_int(_checker: Any, instance: Any) -> bool:
    # YAML reads `1.0` as a float and `yes` as a boolean; neither is an integer here.
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_int),
)
_TYPE_WORDS = {
    "integer": "an integer", "string": "a string", "array": "a list", "object": "a mapping",
    "boolean": "true or false", "number": "a number", "null": "nothing",
}
MAX_REPORTED = 10


def _validate_schema(data: Any, lines: _LineMap) -> None:
    if data is None:
        lines.fail((), "the manifest is empty; expected a mapping with `version: 1`, `coder`, "
                   "`test` and `contexts` (run `ccs init` for an example)")
    validator = _Validator(manifest_schema())
    problems = []
    for error in validator.iter_errors(data):
        problems.extend(_explain(error))
    if not problems:
        return
    problems.sort(key=lambda problem: (lines.line(problem[0]), dotted(problem[0])))
    messages = [lines.where(path) + message for path, message in problems[:MAX_REPORTED]]
    if len(problems) > MAX_REPORTED:
        messages.append(f"... and {len(problems) - MAX_REPORTED} more")
    raise ManifestError("\n".join(messages))


def _explain(error: jsonschema.ValidationError) -> list[tuple[KeyPath, str]]:
    """Turn one schema error into (key path, what is allowed) pairs."""
    path: KeyPath = tuple(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [key for key in instance if key not in allowed]
        return [((*path, key), _unknown_key(key, allowed)) for key in unknown]
    if kind == "required":
        missing = [key for key in value if key not in instance]
        return [(path, f"missing required key {key!r}") for key in missing]
    if kind == "type":
        types = [value] if isinstance(value, str) else value
        expected = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return [(path, f"expected {expected} (got {_describe(instance)})")]
    if kind == "const":
        return [(path, f"must be {json.dumps(value)} (got {_describe(instance)})")]
    if kind == "minimum":
        return [(path, f"must be at least {value} (got {instance})")]
    if kind == "maximum":
        return [(path, f"must be at most {value} (got {instance})")]
    if kind in ("minItems", "minLength", "minProperties"):
        return [(path, "must not be empty")]
    return [(path, error.message)]


def _unknown_key(key: str, allowed: list[str]) -> str:
    message = f"unknown key {key!r}; allowed: {', '.join(allowed)}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _build(data: dict[str, Any], lines: _LineMap) -> Manifest:
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
    return Manifest(
        source=lines.source,
        base=base,
        paths=paths,
        setup=_command(data, "setup", lines),
        coder=_command(data, "coder", lines),
        test=_command(data, "test", lines),
        verify=_command(data, "verify", lines),
        attempts=coder.get("attempts", DEFAULT_ATTEMPTS),
        parallel=data.get("parallel", DEFAULT_PARALLEL),
        draft_pull_request=pull_request.get("draft", True)
        if isinstance(pull_request, dict) else True,
        push_pull_request=pull_request is not False,
        contexts=contexts,
    )


def _context(name: str, body: dict[str, Any], lines: _LineMap) -> ContextSpec:
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
        ))
    return ContextSpec(name=name, description=body.get("description", ""),
                       components=tuple(components))


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


def _check_template(template: str, path: KeyPath, lines: _LineMap) -> str:
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


def _command(data: dict[str, Any], key: str, lines: _LineMap) -> CommandSpec | None:
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


def _check_placeholders(arg: str, path: KeyPath, lines: _LineMap) -> None:
    if "\x00" in arg:
        lines.fail(path, "an argument contains a NUL character")
    for match in _COMMAND_TOKEN.finditer(arg):
        name = match.group(1)
        if name is not None and name not in COMMAND_PLACEHOLDERS:
            allowed = " ".join("{" + p + "}" for p in COMMAND_PLACEHOLDERS)
            lines.fail(path, f"unknown placeholder {{{name}}} in {arg!r}; allowed: {allowed} "
                       f"(write {{{{{name}}}}} for literal braces)")


def _resolve_all(manifest: Manifest, lines: _LineMap) -> None:
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
                           spec: ComponentSpec, lines: _LineMap) -> None:
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
