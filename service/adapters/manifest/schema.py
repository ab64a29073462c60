"""The manifest's JSON Schema, and schema errors turned into messages that say what is allowed."""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from service.adapters.manifest.yaml_lines import KeyPath, LineMap, dotted
from service.domain.manifest import ManifestError


def manifest_schema() -> dict[str, Any]:
    """Return the manifest's JSON Schema (Draft 2020-12)."""
    return json.loads(_schema_text())


@cache
def _schema_text() -> str:
    return resources.files("service").joinpath("schemas/manifest.schema.json").read_text("utf-8")



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


def validate_schema(data: Any, lines: LineMap) -> None:
    """Raise ManifestError listing (up to MAX_REPORTED) schema problems with their lines."""
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
    if kind == "exclusiveMinimum":
        return [(path, f"must be more than {value} (got {instance})")]
    if kind == "pattern":
        return [(path, f"{_describe(instance)} is not allowed here; it must match {value}")]
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

