"""Webhook payloads built from the real ones in tests/data, signed and delivered."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# A webhook target is a loopback URL, or a callable(headers, body) -> status (e.g. a test client).
WebhookTarget = str | Callable[[dict[str, str], bytes], int]


@functools.cache
def _recorded(name: str) -> dict[str, Any]:
    """Return a recorded payload from tests/data (parsed once)."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def recorded_payload(name: str) -> dict[str, Any]:
    """Return a fresh copy of a recorded payload, e.g. `issue_comment.created.0.json`."""
    return copy.deepcopy(_recorded(name))


def signature(secret: str, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One webhook the fake sent, and the receiver's answer."""

    event: str
    delivery_id: str
    payload: dict[str, Any]
    status: int


def deliver(target: WebhookTarget, secret: str, event: str,
            payload: dict[str, Any]) -> Delivery:
    """Sign and POST `payload` as GitHub would; return what happened."""
    body = json.dumps(payload).encode()
    delivery_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake",
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": signature(secret, body),
        "X-GitHub-Hook-ID": "1", "X-GitHub-Hook-Installation-Target-Type": "repository",
    }
    if callable(target):
        return Delivery(event, delivery_id, payload, target(headers, body))
    host = urllib.parse.urlsplit(target).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the test GitHub only delivers to loopback, not {target}")
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0  # nobody listening (the service is down): GitHub records a failed delivery
    return Delivery(event, delivery_id, payload, status)


def edit_repository(payload: dict[str, Any], repo: dict[str, Any]) -> None:
    """Make a recorded payload's repository (and owner) the given rendered repository."""
    payload["repository"] = {**payload["repository"], **{
        key: repo[key] for key in ("id", "node_id", "name", "full_name", "owner", "private",
                                   "url", "html_url", "clone_url", "default_branch")
    }}
    payload.pop("organization", None)
    payload.pop("installation", None)


def edit_sender(payload: dict[str, Any], user: dict[str, Any]) -> None:
    """Make `user` the sender of a recorded payload."""
    payload["sender"] = {**payload["sender"], **user}
