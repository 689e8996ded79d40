"""`oauth.verifier`: `JwtVerifier`, with locally generated keys and an issuer behind an httpx MockTransport.

Each bad token is refused (None) with one log line saying why, never the token itself;
the key set is fetched at start, again for an unknown `kid` at most once per
`refetch_seconds`, and kept when the issuer goes away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import jwt
import pytest

from snapshot_mcp.oauth.verifier import JwtVerifier, fingerprint
from tests.support.oauth import ISSUER, RESOURCE, LocalIssuer, SigningKey, forge_hs256, forge_none, tamper


class Monotonic:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def started(issuer: LocalIssuer, clock: Monotonic | None = None, **options: Any) -> JwtVerifier:
    verifier = JwtVerifier(ISSUER, RESOURCE, transport=issuer.transport(), monotonic=clock or Monotonic(), **options)
    await verifier.start()
    return verifier


async def test_a_valid_token_names_its_subject_client_and_scopes() -> None:
    """A good token becomes an AccessToken: sub, client, scopes, resource; it keeps a digest, not the token."""
    issuer = LocalIssuer()
    verifier = await started(issuer)
    token = issuer.token(scope="snapshots:read snapshots:write", sub="alice", client_id="claude")
    access = await verifier.verify_token(token)
    assert access is not None
    assert (access.subject, access.client_id, access.scopes) == (
        "alice",
        "claude",
        ["snapshots:read", "snapshots:write"],
    )
    assert access.resource == RESOURCE
    assert access.token == fingerprint(token) != token
    assert token not in repr(access)
    assert access.claims is not None
    assert access.claims["iss"] == ISSUER


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_access_token_types_are_accepted(typ: str) -> None:
    issuer = LocalIssuer()
    verifier = await started(issuer)
    assert await verifier.verify_token(issuer.token(typ=typ)) is not None


async def test_an_ec_key_and_azp_and_scp_are_understood() -> None:
    """ES256 keys verify; `azp` stands in for a missing client_id, `scp` (a list) for `scope`."""
    issuer = LocalIssuer(keys=[SigningKey.ec("ec-1")])
    verifier = await started(issuer)
    token = issuer.token(drop=["client_id", "scope"], azp="web-app", scp=["snapshots:delete"])
    access = await verifier.verify_token(token)
    assert access is not None
    assert (access.client_id, access.scopes) == ("web-app", ["snapshots:delete"])


def _now() -> int:
    return int(time.time())


TIMED = frozenset({"exp", "nbf", "iat"})
"""Claims written below as seconds from the moment the test runs (not from collection: a whole run is long)."""

BAD_CLAIMS: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("expired", {"exp": -120, "iat": -600}, [], "expired"),
    ("not yet valid (nbf)", {"nbf": 300}, [], "not valid yet"),
    ("issued in the future (iat)", {"iat": 300}, [], "not valid yet"),
    ("wrong audience", {"aud": "https://other.example.com/mcp"}, [], "not for this server"),
    ("no audience", {}, ["aud"], "required claim"),
    ("wrong issuer", {"iss": "https://evil.example.com"}, [], "another issuer"),
    ("no expiry", {}, ["exp"], "required claim"),
    ("no subject", {}, ["sub"], "required claim"),
    ("no client", {}, ["client_id"], "names no client"),
    ("subject not a string", {"sub": 42}, [], "sub is not a string"),
]


@pytest.mark.parametrize(
    ("claims", "drop", "reason"), [case[1:] for case in BAD_CLAIMS], ids=[case[0] for case in BAD_CLAIMS]
)
async def test_bad_claims_are_refused_with_a_reason_and_never_logged(
    claims: dict[str, Any], drop: list[str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = LocalIssuer()
    verifier = await started(issuer)
    now = _now()
    token = issuer.token(drop=drop, **{k: now + v if k in TIMED else v for k, v in claims.items()})
    with caplog.at_level(logging.INFO, logger="snapshot_mcp.oauth"):
        assert await verifier.verify_token(token) is None
    assert reason in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


async def test_leeway_forgives_a_little_clock_skew_and_no_more_than_a_minute() -> None:
    issuer = LocalIssuer()
    verifier = await started(issuer, leeway=30)
    assert await verifier.verify_token(issuer.token(exp=_now() - 10, iat=_now() - 300)) is not None
    assert await verifier.verify_token(issuer.token(exp=_now() - 45, iat=_now() - 300)) is None
    with pytest.raises(ValueError, match="leeway"):
        JwtVerifier(ISSUER, RESOURCE, leeway=61)


FORGERIES: dict[str, Callable[[LocalIssuer, str], str]] = {
    "alg none": lambda issuer, token: forge_none(token),
    "HS256 keyed with the public key": lambda issuer, token: forge_hs256(token, issuer.keys[0].public_pem()),
    "tampered payload": lambda issuer, token: tamper(token, scope="snapshots:delete", sub="root"),
    "an ID token (typ JWT)": lambda issuer, token: issuer.token(typ="JWT"),
    "no typ": lambda issuer, token: _without_typ(issuer),
    "not a JWT": lambda issuer, token: "not-a-jwt",
}


def _without_typ(issuer: LocalIssuer) -> str:

    key = issuer.keys[0]
    claims = {"iss": ISSUER, "aud": RESOURCE, "sub": "a", "client_id": "c", "iat": _now(), "exp": _now() + 60}
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forgeries_are_refused(forgery: str, caplog: pytest.LogCaptureFixture) -> None:
    issuer = LocalIssuer()
    verifier = await started(issuer)
    forged = FORGERIES[forgery](issuer, issuer.token(scope="snapshots:read"))
    with caplog.at_level(logging.INFO, logger="snapshot_mcp.oauth"):
        assert await verifier.verify_token(forged) is None
    assert "refused a bearer token" in caplog.text
    assert forged not in caplog.text


async def test_a_token_signed_by_an_unknown_key_is_refused_after_one_refetch() -> None:
    issuer = LocalIssuer()
    clock = Monotonic()
    verifier = await started(issuer, clock)
    clock.now += 11
    stranger = SigningKey.rsa("key-1")  # even the same kid: the signature must verify with the published key
    assert await verifier.verify_token(issuer.token(key=stranger)) is None
    assert await verifier.verify_token(issuer.token(key=SigningKey.rsa("elsewhere"))) is None
    assert issuer.key_fetches == 2  # start, then one refetch for the unknown kid (the next is throttled)


async def test_a_rotated_key_is_accepted_after_one_refetch_and_a_burst_costs_one_fetch() -> None:
    """The issuer starts signing with a new key: the first token naming it fetches the keys again, once for all."""
    issuer = LocalIssuer()
    clock = Monotonic()
    verifier = await started(issuer, clock)
    new = SigningKey.rsa("key-2")
    issuer.keys.insert(0, new)
    clock.now += 10
    tokens = [issuer.token(key=new, sub=f"user-{n}") for n in range(20)]
    results: list[object] = []

    async def check(token: str) -> None:
        results.append(await verifier.verify_token(token))

    async with anyio.create_task_group() as tg:
        for token in tokens:
            tg.start_soon(check, token)
    assert all(result is not None for result in results)
    assert len(results) == 20
    assert issuer.key_fetches == 2
    assert await verifier.verify_token(issuer.token(key=issuer.keys[1])) is not None  # the old key still verifies


async def test_unknown_kids_within_the_refetch_interval_cost_no_fetch() -> None:
    issuer = LocalIssuer()
    clock = Monotonic()
    verifier = await started(issuer, clock)
    for n in range(5):
        clock.now += 1
        assert await verifier.verify_token(issuer.token(key=SigningKey.rsa(f"unknown-{n}"))) is None
    assert issuer.key_fetches == 1
    clock.now += 10
    assert await verifier.verify_token(issuer.token(key=SigningKey.rsa("unknown-late"))) is None
    assert issuer.key_fetches == 2


async def test_an_issuer_outage_keeps_the_cached_keys_working(caplog: pytest.LogCaptureFixture) -> None:
    issuer = LocalIssuer()
    clock = Monotonic()
    verifier = await started(issuer, clock, max_age=60)
    issuer.down = True
    clock.now += 3600  # old keys: a refresh is tried, fails, and the cached keys stay
    with caplog.at_level(logging.WARNING, logger="snapshot_mcp.oauth"):
        assert await verifier.verify_token(issuer.token()) is not None
    assert "keeping 1 cached keys" in caplog.text
    assert await verifier.verify_token(issuer.token(key=SigningKey.rsa("new"))) is None


async def test_old_keys_are_refreshed_after_max_age() -> None:
    issuer = LocalIssuer()
    clock = Monotonic()
    verifier = await started(issuer, clock, max_age=600)
    issuer.keys = [SigningKey.rsa("key-2")]  # key-1 withdrawn
    clock.now += 601
    assert await verifier.verify_token(issuer.token(key=SigningKey.rsa("key-1"))) is None
    assert issuer.key_fetches == 2
    assert await verifier.verify_token(issuer.token()) is not None


async def test_a_kid_less_token_uses_the_only_key_and_an_alg_mismatch_is_refused() -> None:
    issuer = LocalIssuer()
    verifier = await started(issuer)
    key = issuer.keys[0]

    claims = {"iss": ISSUER, "aud": RESOURCE, "sub": "a", "client_id": "c", "iat": _now(), "exp": _now() + 60}
    kid_less = jwt.encode(claims, key.private, algorithm="RS256", headers={"typ": "at+jwt"})
    assert await verifier.verify_token(kid_less) is not None
    other_alg = jwt.encode(claims, key.private, algorithm="PS256", headers={"typ": "at+jwt", "kid": key.kid})
    assert await verifier.verify_token(other_alg) is None  # the key says RS256
