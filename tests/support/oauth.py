"""An OAuth issuer in the test process: locally generated keys, metadata and JWKS over an httpx MockTransport.

`LocalIssuer` mints RFC 9068 access tokens with its keys (`token(...)`, any claim
changed or dropped) and serves its metadata and key set to a `JwtVerifier` through
`transport()`, counting each fetch. `forge_none`, `forge_hs256` and `tamper` make the
classic forgeries from a real token. The slow tests use a real `oidc-provider` instead
(`tests/oidc/`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import select
import subprocess
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr

from snapshot_mcp.http import build_http_app
from snapshot_mcp.oauth.verifier import JwtVerifier
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import fast

ISSUER = "https://idp.example.com"
RESOURCE = "https://mcp.example.com/mcp"
METADATA_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
ALL_SCOPES = "snapshots:read snapshots:write snapshots:delete"
PUBLIC = "https://mcp.example.test/mcp"
"""The server's public URL, the resource a real identity provider issues tokens for."""


@dataclass(frozen=True)
class SigningKey:
    """A private key, its `kid` and the algorithm it signs with."""

    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        text = RSAAlgorithm.to_jwk(public) if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm.to_jwk(public)
        return {**json.loads(text), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_jwk(self) -> dict[str, Any]:
        text = (
            RSAAlgorithm.to_jwk(self.private)
            if isinstance(self.private, rsa.RSAPrivateKey)
            else ECAlgorithm.to_jwk(self.private)
        )
        return {**json.loads(text), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@functools.cache
def default_key() -> SigningKey:
    """The issuer's usual key, made once per test run (an RSA key takes a while to generate)."""
    return SigningKey.rsa("key-1")


@dataclass
class LocalIssuer:
    """An issuer whose metadata and JWKS a verifier fetches through `transport()`."""

    issuer: str = ISSUER
    keys: list[SigningKey] = field(default_factory=lambda: [default_key()])
    """The keys its JWKS publishes; the first signs by default."""
    metadata_path: str = "/.well-known/oauth-authorization-server"
    jwks_uri: str = ISSUER + "/jwks"
    down: bool = False
    """True: every fetch fails to connect (the issuer went away)."""
    fetched: list[str] = field(default_factory=list)
    """The paths fetched, in order."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the issuer is down", request=request)
        self.fetched.append(request.url.path)
        if str(request.url) == self.jwks_uri:
            return httpx.Response(200, json={"keys": [key.public_jwk() for key in self.keys]})
        if request.url.path == self.metadata_path:
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": self.jwks_uri})
        return httpx.Response(404)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def key_fetches(self) -> int:
        return sum(1 for path in self.fetched if path == httpx.URL(self.jwks_uri).path)

    def token(
        self,
        *,
        scope: str = ALL_SCOPES,
        sub: str = "alice",
        key: SigningKey | None = None,
        typ: str = "at+jwt",
        drop: Iterable[str] = (),
        **claims: Any,
    ) -> str:
        """A signed access token; `claims` override (or add to) the usual ones, `drop` removes some."""
        key = key or self.keys[0]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": RESOURCE,
            "sub": sub,
            "client_id": "test-client",
            "iat": now,
            "exp": now + 300,
            "jti": f"jti-{now}-{sub}",
            "scope": scope,
            **claims,
        }
        for name in drop:
            payload.pop(name, None)
        return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    decoded = [json.loads(base64.urlsafe_b64decode(part + "==")) for part in (header, payload)]
    return decoded[0], decoded[1], signature


def _encode(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


def forge_none(token: str) -> str:
    """`token`'s claims with ``alg: none`` and no signature."""
    header, payload, _ = _parts(token)
    return _encode({**header, "alg": "none"}, payload) + "."


def forge_hs256(token: str, public_pem: bytes) -> str:
    """`token`'s claims, signed HS256 with the issuer's public key as the HMAC secret (algorithm confusion)."""
    header, payload, _ = _parts(token)
    signing_input = _encode({**header, "alg": "HS256"}, payload)
    return signing_input + "." + _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())


def tamper(token: str, **claims: Any) -> str:
    """`token` with its payload changed (`claims`) and the original signature kept."""
    header, _, signature = token.split(".")
    _, payload, _ = _parts(token)
    return header + "." + _b64(json.dumps({**payload, **claims}).encode()) + "." + signature


# -- a real identity provider (slow tests) ------------------------------------------------

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENTS: dict[str, str] = {
    "reader": "snapshots:read",
    "writer": "snapshots:read snapshots:write",
    "admin": ALL_SCOPES,
    "admin-2": ALL_SCOPES,
    "nobody": "openid",
}
"""The provider's clients and the scopes each may have (client credentials: `sub` is the client's id)."""
SECRET = "client-secret-for-tests-0123456789"
START_SECONDS = 30.0


class OidcProvider:
    """panva's `oidc-provider` (tests/oidc/provider.mjs) on a free loopback port: a real RFC 9068 issuer."""

    def __init__(self, workdir: Path, keys: list[SigningKey], resource: str) -> None:
        self.workdir = workdir
        self.keys = keys
        self.resource = resource
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> OidcProvider:
        if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"oidc-provider is not installed: run `npm ci` in {OIDC_DIR} (.ci/run does)")
        clients = [{"client_id": name, "client_secret": SECRET, "scope": scope} for name, scope in CLIENTS.items()]
        config = {"resource": self.resource, "keys": [key.private_jwk() for key in self.keys], "clients": clients}
        path = self.workdir / f"oidc-{id(self)}.json"
        path.write_text(json.dumps(config))
        self._process = subprocess.Popen(
            ["node", str(OIDC_DIR / "provider.mjs"), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], START_SECONDS)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("oidc-provider did not start")
        self.issuer = json.loads(line)["issuer"]
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    async def token(self, client: str, *, scope: str | None = None, resource: str | None = None) -> str:
        """An access token by the client-credentials grant (`scope`: the client's own by default)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": SECRET,
            "scope": CLIENTS[client] if scope is None else scope,
            "resource": resource or self.resource,
        }
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.issuer}/token", data=form)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def shift_clock(self, seconds: int) -> None:
        """Issue tokens as if it were `seconds` later (negative: earlier)."""
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{self.issuer}/__test/clock", params={"offset": seconds})).status_code == 200

    async def sign_with(self, keys: list[SigningKey]) -> None:
        """Publish `keys` and sign with the first from now on (a key rotation)."""
        async with httpx.AsyncClient() as http:
            body = {"keys": [key.private_jwk() for key in keys]}
            assert (await http.post(f"{self.issuer}/__test/keys", json=body)).status_code == 200
        self.keys = keys


BASE = "http://127.0.0.1:8000"


APP_ORIGIN = "https://app.example.com"


LEGACY = "2025-06-18"


MODERN = "2026-07-28"


ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


READ = "snapshots:read"


def oauth_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(DEFAULT_TOKEN),
        "auth_issuer": ISSUER,
        "public_url": RESOURCE,
        "allowed_origins": (APP_ORIGIN,),
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def oauth_app(
    issuer: LocalIssuer, sim: Simulator, settings: Settings | None = None, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app `build_http_app` makes for `settings` (OAuth on), its session manager running."""
    settings = settings or oauth_settings()
    verifier = JwtVerifier(ISSUER, RESOURCE, transport=issuer.transport())
    await verifier.start()
    async with httpx.AsyncClient(transport=sim.transport()) as api:
        server = build_server(fast(settings), http=api)
        app = build_http_app(server, settings, verifier=verifier, **limits)
        async with (
            server.session_manager.run(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        ):
            yield client


def message_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response (a JSON body, or the data line of an SSE stream)."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return dict(json.loads(data[-1]))


class Legacy:
    """A 2025-era session over raw JSON-RPC: initialize once, then requests with the session id."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {**ACCEPT, "authorization": f"Bearer {token}"}
        self.next_id = 1

    async def open(self) -> Legacy:
        params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        response = await self.post("initialize", params)
        assert response.status_code == 200, response.text
        self.headers |= {"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": LEGACY}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await self.client.post("/mcp", json=note, headers=self.headers)).status_code == 202
        return self

    async def post(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        return await self.client.post("/mcp", json=body, headers=self.headers)

    async def tools(self) -> set[str]:
        response = await self.post("tools/list")
        assert response.status_code == 200, response.text
        return {tool["name"] for tool in message_of(response)["result"]["tools"]}

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> httpx.Response:
        return await self.post("tools/call", {"name": tool, "arguments": arguments or {}})


APPS_CAPABILITIES = {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}
"""What a host that shows MCP Apps (the confirmation card) declares."""


async def modern(
    client: httpx.AsyncClient,
    token: str,
    method: str,
    params: dict[str, Any],
    name: str | None = None,
    capabilities: dict[str, Any] | None = None,
) -> httpx.Response:
    """One self-contained 2026-07-28 request; `name` is the Mcp-Name header (the tool's own name by default)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities or {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {**ACCEPT, "authorization": f"Bearer {token}", "mcp-protocol-version": MODERN, "mcp-method": method}
    if method == "tools/call":
        headers["mcp-name"] = name or params["name"]
    return await client.post("/mcp", json=body, headers=headers)


def api_writes(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests if r.method != "GET"]
