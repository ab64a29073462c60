"""Check the test GitHub's requests and responses against tests/data/openapi-subset.json."""

from __future__ import annotations

import copy
import functools
import json
import threading
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "data" / "openapi-subset.json"
_DOC_URI = "urn:github-openapi"


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Return the parsed OpenAPI subset (read once per process)."""
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


def example(name: str) -> Any:
    """Return a deep copy of the named example value from the OpenAPI components."""
    return copy.deepcopy(openapi_document()["components"]["examples"][name]["value"])


def _nullable_to_jsonschema(node: Any) -> Any:
    """Turn OpenAPI 3.0 `nullable: true` into JSON Schema that also accepts null."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _nullable_to_jsonschema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


class OpenApiChecker:
    """Validate bodies against the operation a route implements; validators built lazily."""

    def __init__(self) -> None:
        """Prepare the registry; schemas are compiled on first use."""
        self._lock = threading.Lock()
        self._validators: dict[tuple[str, ...], Draft4Validator | None] = {}
        self._registry: Registry | None = None

    def _ready_registry(self) -> Registry:
        """Build the reference registry once (converting the whole document is slow)."""
        if self._registry is None:
            document = dict(openapi_document())
            document["components"] = _nullable_to_jsonschema(document["components"])
            resource = Resource(contents=document, specification=DRAFT4)
            self._registry = Registry().with_resource(_DOC_URI, resource)
        return self._registry

    def _operation(self, template: str, method: str) -> dict[str, Any] | None:
        """Return the OpenAPI operation for a path template and method, if documented."""
        return openapi_document()["paths"].get(template, {}).get(method.lower())

    @staticmethod
    def _deref(node: dict[str, Any]) -> dict[str, Any]:
        """Follow one `#/components/...` reference inside the document."""
        ref = node.get("$ref")
        if not ref:
            return node
        target: Any = openapi_document()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return target

    def _validator(self, key: tuple[str, ...], schema: Any) -> Draft4Validator | None:
        """Return a cached validator for `schema` (None when there is nothing to check)."""
        with self._lock:
            if key not in self._validators:
                if schema is None:
                    self._validators[key] = None
                else:
                    inline = _rebase_refs(_nullable_to_jsonschema(schema))
                    self._validators[key] = Draft4Validator(
                        inline, registry=self._ready_registry()
                    )
            return self._validators[key]

    def check_request(self, template: str, method: str, body: Any) -> list[str]:
        """Return the violations of a JSON request body."""
        operation = self._operation(template, method)
        if operation is None or "requestBody" not in operation:
            return []
        content = operation["requestBody"].get("content", {})
        schema = content.get("application/json", {}).get("schema")
        validator = self._validator(("req", template, method), schema)
        return _errors(validator, body, f"{method} {template} request")

    def check_response(self, template: str, method: str, status: int, body: Any) -> list[str]:
        """Return the violations of a response: undocumented 2xx status or a bad body."""
        operation = self._operation(template, method)
        if operation is None:
            return []
        documented = operation.get("responses", {})
        if str(status) not in documented:
            if status < 400:
                return [f"{method} {template}: status {status} not documented"]
            return []
        response = self._deref(documented[str(status)])
        content = response.get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None and body not in (None, b"", ""):
            if status < 300 and not content:
                return [f"{method} {template}: {status} must have an empty body"]
            return []
        validator = self._validator(("res", template, method, str(status)), schema)
        return _errors(validator, body, f"{method} {template} {status} response")


def _rebase_refs(node: Any) -> Any:
    """Point local `#/components/...` refs at the registered document."""
    if isinstance(node, list):
        return [_rebase_refs(item) for item in node]
    if isinstance(node, dict):
        rebased = {key: _rebase_refs(value) for key, value in node.items()}
        ref = rebased.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            rebased["$ref"] = _DOC_URI + ref
        return rebased
    return node


def _errors(validator: Draft4Validator | None, body: Any, where: str) -> list[str]:
    """Format a validator's errors for `body`, located by JSON path."""
    if validator is None:
        return []
    return [
        f"{where}: {'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:300]}"
        for error in validator.iter_errors(body)
    ]
