"""The GitHub Actions OIDC token issuer of the test GitHub (RSA test key, JWKS)."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.fakes.oidc import FakeIssuer


@dataclass(frozen=True)
class OidcGrant:
    """What one job may ask a token for: its repository, run and ref."""

    repository: str
    run_id: int
    ref: str
    sha: str
    workflow: str
    actor: str


class OidcIssuer(FakeIssuer):
    """The issuer (key, tokens, JWKS) of tests/fakes/oidc.py, plus the grants a job may use."""

    def __init__(self, issuer: str) -> None:
        """Make a fresh RSA key for tokens issued as `issuer`."""
        super().__init__(issuer)
        self._grants: dict[str, OidcGrant] = {}

    def grant(self, grant: OidcGrant) -> str:
        """Return a request token that lets a job fetch ID tokens for `grant`."""
        request_token = secrets.token_urlsafe(24)
        self._grants[request_token] = grant
        return request_token

    def grant_for(self, request_token: str) -> OidcGrant | None:
        """Return the grant behind a request token, if any."""
        return self._grants.get(request_token)

    def token(self, grant: OidcGrant, audience: str, lifetime: int = 300,
              **overrides: Any) -> str:
        """Return a signed ID token for `grant` (claims as GitHub sends them)."""
        now = int(time.time())
        owner = grant.repository.split("/", 1)[0]
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": audience, "jti": str(uuid.uuid4()),
            "sub": f"repo:{grant.repository}:ref:{grant.ref}",
            "repository": grant.repository, "repository_owner": owner,
            "run_id": str(grant.run_id), "run_number": "1", "run_attempt": "1",
            "ref": grant.ref, "ref_type": "branch", "sha": grant.sha,
            "workflow": grant.workflow, "event_name": "workflow_dispatch",
            "actor": grant.actor, "repository_visibility": "private",
            "job_workflow_ref": f"{grant.repository}/.github/workflows/"
                                f"{grant.workflow}@{grant.ref}",
            "runner_environment": "github-hosted",
            "iat": now, "nbf": now - 5, "exp": now + lifetime,
        }
        claims.update(overrides)
        return self.issue(claims)

    def openid_configuration(self, jwks_uri: str) -> dict[str, Any]:
        """Return the discovery document."""
        return {"issuer": self.issuer, "jwks_uri": jwks_uri,
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf",
                                     "repository", "run_id", "ref", "sha", "actor"]}
