"""YAML with line numbers: which line each key path of a document is on."""

from __future__ import annotations

from typing import NoReturn

import yaml

from service.domain.manifest import ManifestError

# Aliases can make a small file expand into a huge tree; cap what validation may walk.
MAX_NODES = 100_000
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """Return a key path as written in messages, e.g. `contexts.accounts.components[1].name`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class LineMap:
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


def compose(text: str, source: str) -> yaml.Node | None:
    """Return the YAML node tree of `text`, or raise ManifestError with the line."""
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

