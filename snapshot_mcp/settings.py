"""Settings: what the operator chose, from the environment and the command line.

One `Settings` model (pydantic) holds every option. Each field reads
`SNAPSHOT_MCP_<FIELD>` (e.g. `SNAPSHOT_MCP_LOG_LEVEL`), except the API token and
endpoint, which keep Genesis Cloud's own names, `GENESISCLOUD_TOKEN` and
`GENESISCLOUD_ENDPOINT` (a field's `validation_alias` names the variables read before
the prefixed one). The command line (`cli.py`) is generated from the same fields: a
field's description is its `--help` text and its README line. Reading the environment
is a dictionary look-up per field (`environment_values`), not pydantic-settings: importing
that alone costs about a twentieth of the server's start-up.

The secrets (API token, HTTP client token, state key) are `SecretStr`: they show as
`**********` in every repr and validation error, and are read with
`get_secret_value()` only where they are used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from .safe_text import url_secrets

DEFAULT_ENDPOINT = "https://api.genesiscloud.com/compute/v1"
TOKEN_ENV = "GENESISCLOUD_TOKEN"  # noqa: S105 - a variable name, not a secret
ENDPOINT_ENV = "GENESISCLOUD_ENDPOINT"
ENV_PREFIX = "SNAPSHOT_MCP_"
ENV_ONLY = ("token", "endpoint", "state_password")
"""Fields without a command-line flag: a token on the command line would show in `ps`."""

DeletePolicy = Literal["elicit", "token", "none"]
ChannelName = Literal["card", "form", "browser", "token"]

FORM_IGNORED_CLIENTS: tuple[str, ...] = ("claude-ai", "anthropic/claudeai", "local-agent-mode-*")
"""Clients that declare form elicitation but do not show it (Claude Desktop, claude.ai) or auto-decline it
(Cowork), as field reports name them in `initialize`; matched case-insensitively, `*` as a wildcard."""
Transport = Literal["stdio", "http"]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _flag(value: object) -> object:
    """Text booleans: true/false, 1/0, yes/no, on/off (any case); anything else is refused."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false (or 1/0, yes/no, on/off)")


def _comma_separated(value: object) -> object:
    """``"a, b"`` and ``["a,b", "c"]`` (a repeated flag) both become ``("a", "b", ...)``."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(part.strip() for item in value for part in item.split(",") if part.strip())
    return value


T = TypeVar("T")
Flag = Annotated[bool, BeforeValidator(_flag)]
CommaList = Annotated[tuple[T, ...], BeforeValidator(_comma_separated)]
"""A list given as comma-separated text (not as JSON)."""


def is_loopback_host(host: str) -> bool:
    """True for localhost names and loopback addresses."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_oauth_url(url: str, *, must_end_with: str | None = None) -> None:
    """Refuse what cannot be an issuer or resource URL: https (http only on loopback), no query, fragment or user."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError("must be an https URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an https URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("must use https (plain http only on a loopback address)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry a query, a fragment or credentials")
    if must_end_with is not None and not parts.path.rstrip("/").endswith(must_end_with):
        raise ValueError(f"must be this server's address, ending in {must_end_with}")


class Settings(BaseModel):
    """Everything the server needs to run, validated once at start-up; frozen and hashable.

    Where values come from:
    - ``Settings(**values)`` (and ``model_validate``): the values given and the defaults,
      nothing else. No environment is read, so tests and embedding code never pick up
      the developer's own ``SNAPSHOT_MCP_*`` variables.
    - ``Settings.from_env(environ, **overrides)``: the mapping `environ` (``SNAPSHOT_MCP_*``,
      ``GENESISCLOUD_TOKEN``, ``GENESISCLOUD_ENDPOINT``; blank values count as unset),
      with `overrides` winning. The CLI passes ``os.environ`` and the flags it was given;
      tests pass a plain dict.

    Unknown keyword arguments are refused (``extra="forbid"``); unknown ``SNAPSHOT_MCP_*``
    variables are ignored.
    """

    # hide_input_in_errors: a rejected endpoint may carry a password, a token field a secret.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True, validate_by_name=True)

    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(TOKEN_ENV),
        description="the Genesis Cloud API token (at least 8 characters)",
    )
    endpoint: str = Field(
        default=DEFAULT_ENDPOINT,
        validation_alias=AliasChoices(ENDPOINT_ENV),
        description="the API's base URL",
    )
    simulate: Flag = Field(default=False, description="use the embedded simulator instead of the API (no token needed)")
    transport: Transport = Field(default="stdio", description="stdio, or streamable HTTP at /mcp")
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port (0: any free port)")
    read_only: Flag = Field(
        default=False, description="offer only the reading tools (no create, copy, rename or delete)"
    )
    tools: CommaList[str] = Field(
        default=(),
        description=(
            "comma-separated tool names: offer only these (default: every tool the rest allows; "
            "an unknown name stops the start)"
        ),
    )
    allow_private_image_urls: Flag = Field(
        default=False,
        description="let image URLs name loopback, private, link-local or internal hosts (the API fetches them)",
    )
    delete_confirmation: DeletePolicy = Field(
        default="elicit",
        description="elicit: ask the person; token: a preview and a single-use token; none: delete without asking",
    )
    log_level: str = Field(
        default="WARNING",
        description="DEBUG, INFO, WARNING, ERROR or CRITICAL; logs go to stderr, stdout carries only JSON-RPC",
    )
    http_token: SecretStr | None = Field(
        default=None, description="bearer token HTTP clients must send; required for a non-loopback bind"
    )
    allow_unauthenticated: Flag = Field(
        default=False, description="allow a non-loopback HTTP bind without --http-token (a proxy authenticates)"
    )
    allowed_hosts: CommaList[str] = Field(
        default=(), description="comma-separated extra Host values accepted over HTTP"
    )
    allowed_origins: CommaList[str] = Field(
        default=(), description="comma-separated Origin values accepted over HTTP (browser clients get CORS for them)"
    )
    stateless: Flag = Field(default=False, description="stateless HTTP, for several instances behind a balancer")
    state_key: SecretStr | None = Field(
        default=None, description="shared secret (>= 32 bytes) sealing confirmations across --stateless instances"
    )
    state_url: SecretStr | None = Field(
        default=None,
        description="redis://host:port/db (or rediss://): keep shared state in Redis for several instances",
    )
    state_password: SecretStr | None = Field(default=None, description="the Redis password, if not in --state-url")
    confirm_channels: CommaList[ChannelName] = Field(
        default=("card", "form", "browser"),
        description="how a person is asked before a delete, in order of preference (card, form, browser, token)",
    )
    form_ignored_clients: CommaList[str] = Field(
        default=FORM_IGNORED_CLIENTS,
        description="client names (* wildcards) whose confirmation form is not trusted to be shown",
    )
    card_ignored_clients: CommaList[str] = Field(
        default=(), description="client names (* wildcards) whose confirmation card is not trusted to be shown"
    )
    elicitation_timeout: float = Field(
        default=40.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds a delete confirmation may stay unanswered; a later answer deletes nothing",
    )
    call_timeout: float = Field(
        default=55.0,
        gt=0,
        le=3600,
        description="seconds a tool call may take end to end, the person's answer and any wait included",
    )
    card_timeout: float = Field(
        default=300.0, gt=0, le=3600, description="seconds a confirmation card's deletion request stays open"
    )
    wait_timeout: float = Field(default=45.0, gt=0, le=600, description="seconds a wait=true call polls at most")
    rate_limit: float = Field(
        default=10.0, gt=0, description="API requests per second the server sends at most, shared by all calls"
    )
    simulate_latency: float = Field(
        default=0.0, ge=0, le=10, description="with --simulate: seconds each simulated API answer takes"
    )
    http_read_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds an HTTP client has to send a whole request (headers and body) before it is dropped",
    )
    http_max_connections: int = Field(
        default=1000, ge=1, description="open HTTP connections at most; requests beyond are answered 503"
    )
    auth_issuer: str | None = Field(
        default=None,
        description="OAuth 2.1/OIDC issuer whose JWT access tokens (RFC 9068) HTTP clients must send; "
        "not with --http-token",
    )
    public_url: str | None = Field(
        default=None,
        description="this server's public URL ending in /mcp: the OAuth resource and the tokens' expected audience",
    )
    auth_audience: str | None = Field(
        default=None, description="the audience access tokens must name, if not --public-url"
    )
    audit_file: str | None = Field(
        default=None,
        description="also append every audit record to this file as one JSON line (its directory must exist)",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            raise ValueError(f"{ENDPOINT_ENV} must be an http(s) URL, e.g. {DEFAULT_ENDPOINT}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{ENDPOINT_ENV} must be an http(s) URL, e.g. {DEFAULT_ENDPOINT}")
        if parts.username or parts.password:
            raise ValueError(f"{ENDPOINT_ENV} must not carry credentials; use {TOKEN_ENV}")
        return url

    @field_validator("token", "http_token", "state_key", "state_url", "state_password", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, SecretStr):  # the same rules, whether given as text or already wrapped
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            return value.strip()
        return value

    @field_validator("state_key")
    @classmethod
    def _state_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError(
                "the state key must be at least 32 bytes, e.g. python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return value

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value.get_secret_value())
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
            raise ValueError("the state URL must be redis://host:port/db, rediss://host:port/db or unix:///path")
        return value

    @field_validator("auth_issuer", "public_url", "auth_audience", "audit_file", mode="before")
    @classmethod
    def _blank_text_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("auth_issuer", "public_url")
    @classmethod
    def _oauth_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_oauth_url(value, must_end_with="/mcp" if info.field_name == "public_url" else None)
        return value.rstrip("/") if value is not None and info.field_name == "public_url" else value

    @field_validator("allowed_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in value:
            raise ValueError("name each origin (scheme://host[:port]); '*' would let any web page in")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("log level must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def ladder(self) -> tuple[str, ...]:
        """The confirmation channels in order (`--delete-confirmation token` is the token rung alone)."""
        if self.delete_confirmation == "none":
            return ("unconfirmed",)
        if self.delete_confirmation == "token":
            return ("token",)
        return self.confirm_channels

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The configured secrets in clear (API token, HTTP client token, state key, Redis passwords), for redaction.

        A Redis password counts wherever it was given: `--state-password`, or anywhere in
        `--state-url` (see `safe_text.url_secrets`).
        """
        given = (self.token, self.http_token, self.state_key, self.state_password)
        found = [s.get_secret_value() for s in given if s is not None]
        if self.state_url is not None:
            found += url_secrets(self.state_url.get_secret_value())
        return tuple(found)

    @property
    def endpoint_is_insecure(self) -> bool:
        """True when the token would travel in clear text to another machine."""
        parts = urlsplit(self.endpoint)
        return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from the variables in `environ` (not `os.environ`, unless passed); `overrides` win."""
        return cls.model_validate({**environment_values(environ), **overrides})


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return {"token": TOKEN_ENV, "endpoint": ENDPOINT_ENV}.get(field, ENV_PREFIX + field.upper())


def variable_names(field: str) -> tuple[str, ...]:
    """The environment variables that set `field`, the first found winning: its aliases, then the prefixed name."""
    alias = Settings.model_fields[field].validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
    return (*(choice for choice in choices if isinstance(choice, str)), ENV_PREFIX + field.upper())


def environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The fields `environ` sets, as text by field name: names match in any case, and a blank value is unset."""
    given = {name.upper(): value for name, value in environ.items() if value.strip()}
    found: dict[str, str] = {}
    for field in Settings.model_fields:
        value = next((given[name] for name in variable_names(field) if name in given), None)
        if value is not None:
            found[field] = value
    return found
