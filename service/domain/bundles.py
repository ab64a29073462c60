"""A child's commit as a git bundle (DESIGN §6a): its header read and judged, purely."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The most a result's "bundle" may hold, base64-encoded; action/spec.py says the same.
MAX_BUNDLE_CHARS = 8 * 1024 * 1024
_SIGNATURES = (b"# v2 git bundle\n", b"# v3 git bundle\n")
_REF_NAME = re.compile(r"^refs/[A-Za-z0-9._/-]{1,240}$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_MAX_HEADER_BYTES = 64 * 1024


class BadBundle(ValueError):
    """A bundle that is not one ccs accepts; the message says why and what to do."""


@dataclass(frozen=True)
class BundleHeader:
    """What a bundle says it holds: its refs (sha, name) and the commits it assumes."""

    refs: tuple[tuple[str, str], ...]
    prerequisites: tuple[str, ...]


def read_header(data: bytes) -> BundleHeader:
    """Return the header of a v2/v3 bundle, or raise BadBundle."""
    signature = next((s for s in _SIGNATURES if data.startswith(s)), None)
    end = data.find(b"\n\n", 0, _MAX_HEADER_BYTES)
    if signature is None or end < 0:
        raise BadBundle("it is not a git bundle (v2 or v3)")
    refs: list[tuple[str, str]] = []
    prerequisites: list[str] = []
    for raw in data[len(signature):end].split(b"\n"):
        line = raw.decode("utf-8", "replace")
        if line.startswith("@"):
            continue  # v3 capabilities (object-format, filter) say nothing about history
        if line.startswith("-"):
            prerequisites.append(_sha(line[1:].split(" ", 1)[0]))
        else:
            sha, _, name = line.partition(" ")
            refs.append((_sha(sha), name))
    return BundleHeader(tuple(refs), tuple(prerequisites))


def _sha(text: str) -> str:
    if not _SHA.match(text):
        raise BadBundle(f"its header names {text[:80]!r}, which is not a commit sha")
    return text


def header_problem(header: BundleHeader, commit: str, start: str) -> str | None:
    """Return why a bundle cannot be the child's commit on top of `start`, or None."""
    if len(header.refs) != 1:
        return f"it holds {len(header.refs)} refs; a child's bundle holds exactly one"
    tip, name = header.refs[0]
    if not _REF_NAME.match(name) or ".." in name:
        return f"its ref is named {name[:80]!r}; expected refs/heads/<child branch>"
    if tip != commit:
        return f"its ref points at {tip[:12]}, not at the result's commit {commit[:12]}"
    strangers = [sha for sha in header.prerequisites if sha != start]
    if strangers:
        return (f"it builds on {strangers[0][:12]}, not on the session head {start[:12]} "
                "the job started from")
    return None
