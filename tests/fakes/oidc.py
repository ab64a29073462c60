"""A test OIDC issuer shaped like GitHub Actions: an RSA key, signed tokens and a JWKS."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "https://ccs.example.test"
_DELETE = object()


class FakeIssuer:
    """One signing key with a kid; issues tokens and publishes the matching JWKS."""

    def __init__(self, issuer: str = ISSUER, kid: str | None = None) -> None:
        self.issuer = issuer
        self.kid = kid or uuid.uuid4().hex[:16]
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self.private_key.public_key()
        self.jwks_requests = 0

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Return GitHub-like claims for a run of octo-org/octo-repo; overrides win."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
            "aud": AUDIENCE,
            "iss": self.issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "ref": "refs/heads/main",
            "repository": "octo-org/octo-repo",
            "repository_owner": "octo-org",
            "run_id": "2202229078",
            "run_attempt": "1",
            "actor": "octocat",
            "event_name": "workflow_dispatch",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/ccs.yml@refs/heads/main",
            "job_workflow_ref": "octo-org/octo-repo/.github/workflows/ccs.yml@refs/heads/main",
        }
        claims.update(overrides)
        return claims

    def issue(self, claims: Mapping[str, Any] | None = None, *, key: Any = None,
              kid: Any = _DELETE, **overrides: Any) -> str:
        """Return an RS256 token for `claims` (default: self.claims()) with `overrides`.

        An override of None removes that claim; `key` signs with another private key.
        """
        body = dict(claims) if claims is not None else self.claims()
        for name, value in overrides.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        headers = {"kid": self.kid if kid is _DELETE else kid}
        if headers["kid"] is None:
            headers = {}
        return jwt.encode(body, key or self.private_key, algorithm="RS256", headers=headers)

    def jwks(self) -> dict[str, Any]:
        """Return the JSON Web Key Set that publishes this issuer's public key."""
        self.jwks_requests += 1
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def public_pem(self) -> bytes:
        """Return the public key as PEM (what an algorithm-confusion attacker would use)."""
        from cryptography.hazmat.primitives import serialization

        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@contextlib.contextmanager
def serve_jwks(issuer: FakeIssuer) -> Iterator[str]:
    """Serve `issuer.jwks()` on 127.0.0.1 (a free port) and yield the JWKS URL."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(issuer.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks"
    finally:
        server.shutdown()
        server.server_close()


# The default issuer: the RSA key is generated once, at import.
DEFAULT = FakeIssuer()


def issue(claims: Mapping[str, Any] | None = None, **overrides: Any) -> str:
    """Return a token from the default issuer (see FakeIssuer.issue)."""
    return DEFAULT.issue(claims, **overrides)


def jwks() -> dict[str, Any]:
    """Return the default issuer's JWKS."""
    return DEFAULT.jwks()
