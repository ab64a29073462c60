"""Verify GitHub Actions OIDC tokens: RS256 only, issuer, audience, expiry, replay, binding."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt

from service.auth import AuthError

ALGORITHM = "RS256"
MAX_TOKEN_CHARS = 16_384
_MAX_JWKS_BYTES = 1_048_576

TOKEN_REPLAYED = (401, "token_replayed", "token replayed: this token was used before")
_FETCH_ERRORS = (OSError, ValueError, TypeError, KeyError, jwt.PyJWKError, jwt.PyJWKSetError)

JwksFetcher = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class OidcClaims:
    """The claims ccs uses from a verified Actions token (`raw` keeps all of them)."""

    repository: str
    run_id: int | None
    jti: str
    sub: str
    repository_owner: str | None = None
    run_attempt: int | None = None
    workflow_ref: str | None = None
    job_workflow_ref: str | None = None
    ref: str | None = None
    actor: str | None = None
    event_name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def url_fetcher(url: str, timeout: float = 5.0) -> JwksFetcher:
    """Return a fetcher that GETs the JWKS document at `url`."""
    def fetch() -> Mapping[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"JWKS URL must be http(s): {url}")
        # The scheme is checked just above, so file: and custom schemes cannot get here.
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read(_MAX_JWKS_BYTES))
    return fetch


class _KeyCache:
    """The issuer's signing keys, refetched after `ttl` or (rate-limited) on an unknown kid."""

    def __init__(self, fetch: JwksFetcher, ttl: float, min_refetch: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> Any:
        """Return the public key for `kid`, or raise AuthError."""
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self._ttl
            # GitHub rotates keys: an unknown kid may be new, but refetching on every
            # unknown kid would let anyone make us hammer the JWKS endpoint.
            unknown = kid not in self._keys and now - self._fetched_at > self._min_refetch
            if stale or unknown:
                self._refresh(now)
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if kid not in self._keys:
                raise AuthError(401, "unknown_key", "token signed with a key the issuer "
                                                    "does not publish")
            return self._keys[kid]

    def _refresh(self, now: float) -> None:
        try:
            document = self._fetch()
            key_set = jwt.PyJWKSet.from_dict(dict(document))
        except _FETCH_ERRORS as error:
            # Network, JSON or key-set trouble: keep the keys we have (retry later), else 401.
            if self._keys:
                self._fetched_at = now
                return
            raise AuthError(401, "jwks_unavailable",
                            f"cannot load the issuer's keys: {type(error).__name__}") from None
        self._keys = {key.key_id: key.key for key in key_set.keys
                      if key.key_type == "RSA" and key.public_key_use in (None, "sig")}
        self._fetched_at = now


class OidcVerifier:
    """Check Actions OIDC tokens against one issuer and audience."""

    def __init__(self, issuer: str, audience: str, jwks_url: str | None = None, *,
                 jwks_fetcher: JwksFetcher | None = None, leeway: int = 60,
                 cache_ttl: float = 300.0, min_refetch: float = 30.0) -> None:
        if (jwks_url is None) == (jwks_fetcher is None):
            raise ValueError("give exactly one of jwks_url and jwks_fetcher")
        if not audience:
            raise ValueError("an OIDC audience (CCS_PUBLIC_URL) is required")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        fetch = jwks_fetcher if jwks_fetcher is not None else url_fetcher(str(jwks_url))
        self._keys = _KeyCache(fetch, cache_ttl, min_refetch)

    def verify(self, token: str | None,
               seen_jti: Callable[[str], bool] | None = None) -> OidcClaims:
        """Return the claims of a valid token, or raise AuthError(401).

        `seen_jti(jti)` must record the id and return True when it was already recorded;
        it is called only for otherwise valid tokens, so forged ones cannot burn ids.
        """
        if not token or not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise AuthError(401, "missing_token", "an OIDC bearer token is required")
        header = _peek_header(token)
        # Checked before any key lookup: 'none' and HS256-with-the-public-key must never pass.
        if header.get("alg") != ALGORITHM:
            raise AuthError(401, "bad_algorithm", f"only {ALGORITHM} tokens are accepted")
        kid = header.get("kid")
        key = self._keys.key(kid if isinstance(kid, str) else None)
        claims = self._decode(token, key)
        parsed = _claims(claims)
        if seen_jti is not None and seen_jti(parsed.jti):
            raise AuthError(*TOKEN_REPLAYED)
        return parsed

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, key=key, algorithms=[ALGORITHM], audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "jti", "repository"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "token_expired", "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, "wrong_audience", "the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError(401, "wrong_issuer", "the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise AuthError(401, "bad_signature", "the token signature is not valid") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(401, "missing_claim",
                            f"the token lacks the {error.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise AuthError(401, "token_not_yet_valid", "the token is not valid yet") from None
        except jwt.InvalidTokenError as error:
            raise AuthError(401, "invalid_token",
                            f"the token is not valid: {type(error).__name__}") from None


def _peek_header(token: str) -> dict[str, Any]:
    """Return the token's header, read only to pick the key (raises AuthError 401).

    PyJWT's `decode` parses and checks the whole token (the header again included), so it
    is parsed in full once; its `get_unverified_header` would parse all of it twice more
    (bench/callback_load.py: a tenth of a callback's CPU).
    """
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, TypeError):
        header = None
    if token.count(".") != 2 or not isinstance(header, dict):
        raise AuthError(401, "invalid_token", "the token is not a JWT")
    return header


def _claims(claims: dict[str, Any]) -> OidcClaims:
    repository, jti = claims.get("repository"), claims.get("jti")
    if not isinstance(repository, str) or not repository or not isinstance(jti, str) or not jti:
        raise AuthError(401, "invalid_token", "the token's repository or jti claim is not valid")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    return OidcClaims(
        repository=repository,
        run_id=_number(claims.get("run_id")),
        jti=jti,
        sub=text("sub") or "",
        repository_owner=text("repository_owner"),
        run_attempt=_number(claims.get("run_attempt")),
        workflow_ref=text("workflow_ref"),
        job_workflow_ref=text("job_workflow_ref"),
        ref=text("ref"),
        actor=text("actor"),
        event_name=text("event_name"),
        raw=MappingProxyType(dict(claims)),
    )


def _number(value: Any) -> int | None:
    # GitHub sends run_id and run_attempt as decimal strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def check_binding(claims: OidcClaims, repository: str, run_id: int | None) -> None:
    """Raise AuthError(403) unless the token came from `repository` (and `run_id` when known)."""
    # GitHub owner and repository names are case-insensitive.
    if claims.repository.lower() != repository.lower():
        raise AuthError(403, "wrong_repository",
                        f"the token is for {claims.repository}, not {repository}")
    if run_id is not None and claims.run_id != run_id:
        raise AuthError(403, "wrong_run", "the token comes from another workflow run")
