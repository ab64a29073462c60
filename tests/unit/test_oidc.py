"""OIDC callback auth, per-child tokens and the API bearer token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from service.auth import AuthError, api_token, child_tokens
from service.auth.oidc import OidcClaims, OidcVerifier, check_binding
from service.config import Secret
from tests.fakes import oidc as fake
from tests.fakes.oidc import AUDIENCE, ISSUER, FakeIssuer, serve_jwks


def verifier(issuer: FakeIssuer = fake.DEFAULT, **options: Any) -> OidcVerifier:
    """Return a verifier that reads `issuer`'s JWKS through a callable."""
    return OidcVerifier(ISSUER, AUDIENCE, jwks_fetcher=issuer.jwks, **options)


def rejected(token: str, **options: Any) -> AuthError:
    """Return the AuthError verifying `token` raises."""
    with pytest.raises(AuthError) as caught:
        verifier(**options).verify(token)
    return caught.value


def unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """Return a hand-built JWT (PyJWT refuses to build the malicious ones)."""
    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing_input = part(header) + b"." + part(claims)
    signature = b""
    if key is not None:
        digest = hmac.new(key, signing_input, hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def test_valid_token() -> None:
    claims = verifier().verify(fake.issue())
    assert claims.repository == "octo-org/octo-repo"
    assert claims.run_id == 2202229078 and claims.run_attempt == 1
    assert claims.sub.startswith("repo:octo-org/octo-repo")
    assert claims.raw["event_name"] == "workflow_dispatch"


def test_valid_token_through_a_served_jwks() -> None:
    issuer = FakeIssuer()
    with serve_jwks(issuer) as url:
        check = OidcVerifier(ISSUER, AUDIENCE, url)
        assert check.verify(issuer.issue()).repository == "octo-org/octo-repo"
        check.verify(issuer.issue())
    assert issuer.jwks_requests == 1  # the key set is cached between tokens


def test_expired_token() -> None:
    now = int(time.time())
    error = rejected(fake.issue(iat=now - 900, nbf=now - 900, exp=now - 600))
    assert (error.status, error.code) == (401, "token_expired")


def test_expiry_within_leeway_is_accepted() -> None:
    now = int(time.time())
    claims = verifier(leeway=60).verify(fake.issue(exp=now - 30))
    assert claims.repository == "octo-org/octo-repo"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"aud": "https://evil.example"}, "wrong_audience"),
        ({"iss": "https://evil.example"}, "wrong_issuer"),
        ({"exp": None}, "missing_claim"),
        ({"iat": None}, "missing_claim"),
        ({"aud": None}, "missing_claim"),
        ({"jti": None}, "missing_claim"),
        ({"repository": None}, "missing_claim"),
        ({"nbf": int(time.time()) + 3600}, "token_not_yet_valid"),
    ],
)
def test_bad_claims(overrides: dict[str, Any], code: str) -> None:
    error = rejected(fake.issue(**overrides))
    assert (error.status, error.code) == (401, code)


def test_signed_by_another_key() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    error = rejected(fake.issue(key=other))
    assert (error.status, error.code) == (401, "bad_signature")


def test_unknown_kid() -> None:
    error = rejected(FakeIssuer().issue())
    assert (error.status, error.code) == (401, "unknown_key")


def test_alg_none_is_rejected() -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": fake.DEFAULT.kid},
                     fake.DEFAULT.claims(), None)
    error = rejected(token)
    assert (error.status, error.code) == (401, "bad_algorithm")


def test_hs256_signed_with_the_public_key_is_rejected() -> None:
    token = unsigned({"alg": "HS256", "typ": "JWT", "kid": fake.DEFAULT.kid},
                     fake.DEFAULT.claims(), fake.DEFAULT.public_pem())
    error = rejected(token)
    assert (error.status, error.code) == (401, "bad_algorithm")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", None])
def test_garbage_is_rejected(token: str | None) -> None:
    with pytest.raises(AuthError) as caught:
        verifier().verify(token)
    assert caught.value.status == 401


def test_replayed_jti() -> None:
    seen: set[str] = set()

    def seen_jti(jti: str) -> bool:
        if jti in seen:
            return True
        seen.add(jti)
        return False

    token = fake.issue()
    check = verifier()
    check.verify(token, seen_jti=seen_jti)
    with pytest.raises(AuthError) as caught:
        check.verify(token, seen_jti=seen_jti)
    assert (caught.value.status, caught.value.code) == (401, "token_replayed")
    assert "replayed" in caught.value.message


def test_invalid_tokens_do_not_burn_a_jti() -> None:
    calls: list[str] = []
    with pytest.raises(AuthError):
        verifier().verify(fake.issue(aud="https://evil.example"),
                          seen_jti=lambda jti: calls.append(jti) or False)
    assert calls == []


def test_unreachable_jwks_is_a_401() -> None:
    def broken() -> dict[str, Any]:
        raise OSError("connection refused")

    with pytest.raises(AuthError) as caught:
        OidcVerifier(ISSUER, AUDIENCE, jwks_fetcher=broken).verify(fake.issue())
    assert (caught.value.status, caught.value.code) == (401, "jwks_unavailable")


def test_rotated_key_is_fetched_again() -> None:
    issuers = [FakeIssuer(), FakeIssuer()]
    current = [issuers[0]]
    check = OidcVerifier(ISSUER, AUDIENCE, jwks_fetcher=lambda: current[0].jwks(),
                         min_refetch=0)
    check.verify(issuers[0].issue())
    current[0] = issuers[1]
    assert check.verify(issuers[1].issue()).repository == "octo-org/octo-repo"
    assert issuers[1].jwks_requests >= 1  # the new key was fetched, not guessed


def claims_for(repository: str = "octo-org/octo-repo", run_id: int | None = 5) -> OidcClaims:
    """Return claims as verify() would give them."""
    return OidcClaims(repository=repository, run_id=run_id, jti="j", sub="s")


def test_binding_to_repository_and_run() -> None:
    check_binding(claims_for(), "Octo-Org/Octo-Repo", 5)
    check_binding(claims_for(), "octo-org/octo-repo", None)
    for repository, run_id, code in [("octo-org/other", 5, "wrong_repository"),
                                     ("octo-org/octo-repo", 6, "wrong_run")]:
        with pytest.raises(AuthError) as caught:
            check_binding(claims_for(), repository, run_id)
        assert (caught.value.status, caught.value.code) == (403, code)
    with pytest.raises(AuthError):
        check_binding(claims_for(run_id=None), "octo-org/octo-repo", 5)


def test_child_tokens() -> None:
    token = child_tokens.issue(b"key", 17)
    assert child_tokens.verify(b"key", 17, token)
    assert child_tokens.verify(b"key", "17", token)
    assert not child_tokens.verify(b"key", 18, token)
    assert not child_tokens.verify(b"other", 17, token)
    assert not child_tokens.verify(b"key", 17, token[:-1])
    assert not child_tokens.verify(b"key", 17, None)
    assert not child_tokens.verify(b"key", 17, "é" * len(token))
    assert all(c.isalnum() or c in "-_" for c in token)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer  s3cret ", True),
        ("Bearer s3cre", False),
        ("Bearer s3cret2", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("Bearer ", False),
        ("", False),
        (None, False),
        ("Bearer sé", False),
    ],
)
def test_api_bearer_token(header: str | None, ok: bool) -> None:
    assert api_token.check_bearer(header, Secret("s3cret")) is ok


def test_api_bearer_token_without_a_configured_token() -> None:
    assert not api_token.check_bearer("Bearer x", None)
    assert not api_token.check_bearer("Bearer ", Secret(""))


def test_auth_error_repr_is_plain() -> None:
    assert repr(AuthError(401, "c", "m")) == "AuthError(401, 'c', 'm')"


def test_failed_refresh_keeps_the_known_keys() -> None:
    issuer = FakeIssuer()
    answers: list[Any] = [issuer.jwks(), OSError("down")]

    def fetch() -> Any:
        answer = answers.pop(0) if answers else OSError("down")
        if isinstance(answer, Exception):
            raise answer
        return answer

    check = OidcVerifier(ISSUER, AUDIENCE, jwks_fetcher=fetch, cache_ttl=0)
    check.verify(issuer.issue())
    assert check.verify(issuer.issue()).repository == "octo-org/octo-repo"
