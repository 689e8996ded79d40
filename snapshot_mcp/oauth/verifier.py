"""`JwtVerifier`: RFC 9068 JWT access tokens, checked against the issuer's keys.

A token is accepted only when all of these hold (PyJWT checks the signature and the
registered claims; nothing cryptographic is written here):

- the header's `typ` is `at+jwt` (or `application/at+jwt`), so an ID token or any other
  JWT the issuer signs is never taken for an access token (RFC 9068 §4);
- the header's `alg` is one of `ALGORITHMS`, all asymmetric: `none` and the HS* family
  (an HMAC keyed with the public key is the classic forgery) never get as far as a key;
- the signature verifies with the issuer's key named by `kid` (whose own `alg`, if it
  states one, must agree);
- `iss` is the issuer exactly; `aud` names the audience; `exp` (required) and `nbf` hold,
  with `leeway` seconds for clock skew (at most `MAX_LEEWAY`); `sub`, `iat` and a client
  (`client_id`, or `azp`) are present.

Keys: fetched at `start()` and cached. A `kid` not in the cache fetches the set again,
at most once every `refetch_seconds`, whoever asks: a burst of tokens naming unknown
keys costs the issuer one fetch, and a rotated key is known within that time. The set
is also refreshed once it is `max_age` old. A fetch that fails keeps the cached keys,
so an issuer that goes away leaves tokens signed with known keys working until they
expire. A refused token is logged with its reason, never with the token, and the
`AccessToken` of an accepted one holds a digest of it (`fingerprint`), not the token.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import anyio
import httpx
import jwt
from mcp.server.auth.provider import AccessToken

from .discovery import IssuerUnreachable, discover_jwks_uri, fetch_jwks

__all__ = ["ACCESS_TOKEN_TYPES", "ALGORITHMS", "MAX_LEEWAY", "JwtVerifier", "TokenRefused"]

logger = logging.getLogger("snapshot_mcp.oauth")

ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
ACCESS_TOKEN_TYPES: Final = ("at+jwt", "application/at+jwt")
MAX_LEEWAY: Final = 60.0
REQUIRED_CLAIMS: Final = ["exp", "iss", "aud", "sub", "iat"]

_REASONS: Final[dict[type[jwt.PyJWTError], str]] = {
    jwt.ExpiredSignatureError: "it has expired",
    jwt.ImmatureSignatureError: "it is not valid yet",
    jwt.InvalidAudienceError: "it is not for this server (aud)",
    jwt.InvalidIssuerError: "another issuer made it (iss)",
    jwt.InvalidSignatureError: "its signature does not verify",
    jwt.MissingRequiredClaimError: "a required claim is missing",
    jwt.InvalidIssuedAtError: "its iat is not a time",
    jwt.exceptions.InvalidSubjectError: "its sub is not a string",
}


class TokenRefused(Exception):
    """Why a token is not accepted (words for the log; never the token)."""


class JwtVerifier:
    """The SDK's `TokenVerifier` for one issuer's JWT access tokens, meant for one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        resource: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        leeway: float = 30.0,
        refetch_seconds: float = 10.0,
        max_age: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
        self.issuer = issuer
        self.audience = audience
        self.resource = resource or audience
        self.leeway = leeway
        self.refetch_seconds = refetch_seconds
        self.max_age = max_age
        self.fetches = 0
        """How many times the key set was fetched (tests and the log read it)."""
        self._transport = transport
        self._monotonic = monotonic
        self._jwks_uri: str | None = None
        self._keys: list[dict[str, Any]] = []
        self._parsed: dict[tuple[str | None, str], jwt.PyJWK] = {}
        self._fetched = -float("inf")
        self._attempted = -float("inf")
        self._lock: anyio.Lock | None = None

    async def start(self) -> None:
        """Find the issuer's keys now; `IssuerUnreachable` if they cannot be had (the server must not start)."""
        self._jwks_uri = await discover_jwks_uri(self.issuer, self._transport)
        self._attempted = self._monotonic()
        self._install(await fetch_jwks(self._jwks_uri, self._transport))

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's `AccessToken` if it is valid here, else None (and one log line saying why)."""
        try:
            return await self._verify(token)
        except TokenRefused as exc:
            logger.info("refused a bearer token: %s", exc)
            return None

    async def _verify(self, token: str) -> AccessToken:
        alg, kid = _checked_header(token)
        key = await self._key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise TokenRefused(_reason(exc)) from None
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        subject, client = claims.get("sub"), claims.get("client_id") or claims.get("azp")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("its sub is not a string")
        if not isinstance(client, str) or not client:
            raise TokenRefused("it names no client (client_id or azp)")
        return AccessToken(
            token=fingerprint(token),
            client_id=client,
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self.resource,
            subject=subject,
            claims={name: claims[name] for name in ("iss", "client_id", "azp", "jti") if name in claims},
        )

    # -- keys ---------------------------------------------------------------------------

    async def _key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        if self._monotonic() - self._fetched >= self.max_age:
            await self._refresh("the cached keys are old")
        key = self._pick(kid, alg)
        if key is None:
            await self._refresh("a token names an unknown key")
            key = self._pick(kid, alg)
        if key is None:
            raise TokenRefused("no key of the issuer's fits it (kid or alg)")
        return key

    def _pick(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        """The cached key for `kid` (without one: the only signing key) that can check `alg`."""
        if (kid, alg) in self._parsed:
            return self._parsed[(kid, alg)]
        found = [
            jwk
            for jwk in self._keys
            if (kid is None or jwk.get("kid") == kid) and jwk.get("use", "sig") == "sig" and jwk.get("alg", alg) == alg
        ]
        if len(found) != 1:
            return None
        try:
            key = jwt.PyJWK(found[0], algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            return None
        self._parsed[(kid, alg)] = key
        return key

    async def _refresh(self, why: str) -> None:
        """Fetch the key set again, unless one was fetched (or tried) within `refetch_seconds`."""
        if self._monotonic() - self._attempted < self.refetch_seconds:
            return
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._monotonic() - self._attempted < self.refetch_seconds:
                return  # another request fetched while this one waited
            self._attempted = self._monotonic()
            try:
                if self._jwks_uri is None:
                    self._jwks_uri = await discover_jwks_uri(self.issuer, self._transport)
                self._install(await fetch_jwks(self._jwks_uri, self._transport))
                logger.info("fetched the issuer's keys again (%s): %d keys", why, len(self._keys))
            except IssuerUnreachable as exc:
                logger.warning("could not fetch the issuer's keys (%s); keeping %d cached keys", exc, len(self._keys))

    def _install(self, keys: list[dict[str, Any]]) -> None:
        self.fetches += 1
        self._keys = keys
        self._parsed = {}
        self._fetched = self._monotonic()


def fingerprint(token: str) -> str:
    """What `AccessToken.token` holds here: a digest that names the token without being usable as one.

    Nothing in this server passes a caller's token on (the MCP spec forbids it), so the
    token itself is not kept where a repr or a log line could show it.
    """
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def _checked_header(token: str) -> tuple[str, str | None]:
    """(alg, kid) of a token whose header says it is an access token signed with an allowed algorithm."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused("it is not a JWT") from None
    typ, alg, kid = header.get("typ"), header.get("alg"), header.get("kid")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise TokenRefused("its typ is not at+jwt (not an RFC 9068 access token)")
    if alg not in ALGORITHMS:
        raise TokenRefused("its alg is not an allowed asymmetric algorithm")
    if kid is not None and not isinstance(kid, str):
        raise TokenRefused("its kid is not a string")
    return str(alg), kid


def _reason(exc: jwt.PyJWTError) -> str:
    for kind, words in _REASONS.items():
        if isinstance(exc, kind):
            return words
    return "it does not decode as a signed JWT"


def _scopes(claims: dict[str, Any]) -> list[str]:
    """RFC 9068's space-separated `scope`; else `scp` (a list or a string), as some issuers send it."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
