"""Settings: what the operator chose, from the environment and the command line.

The API token is a `SecretStr`: it shows as `**********` in every repr and is read
with `get_secret_value()` only where the `Authorization` header is built.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_ENDPOINT = "https://api.genesiscloud.com/compute/v1"
TOKEN_ENV = "GENESISCLOUD_TOKEN"  # noqa: S105 - a variable name, not a secret
ENDPOINT_ENV = "GENESISCLOUD_ENDPOINT"

DeletePolicy = Literal["elicit", "token", "none"]
ChannelName = Literal["card", "form", "token"]

FORM_IGNORED_CLIENTS: tuple[str, ...] = ("claude-ai", "anthropic/claudeai", "local-agent-mode-*")
"""Clients that declare form elicitation but do not show it (Claude Desktop, claude.ai) or auto-decline it
(Cowork), as field reports name them in `initialize`; matched case-insensitively, `*` as a wildcard."""
Transport = Literal["stdio", "http"]


def is_loopback_host(host: str) -> bool:
    """True for localhost names and loopback addresses."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    """Everything the server needs to run, validated once at start-up."""

    # hide_input_in_errors: a rejected endpoint may carry a password, a token field a secret.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    token: SecretStr | None = None
    endpoint: str = DEFAULT_ENDPOINT
    simulate: bool = False
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    read_only: bool = False
    tools: tuple[str, ...] = ()
    """Offer only these tools (empty: all that the other options allow)."""
    allow_private_image_urls: bool = False
    """Let image URLs name loopback, private, link-local or internal hosts (the API fetches them, not us)."""
    delete_confirmation: DeletePolicy = "elicit"
    log_level: str = "WARNING"
    http_token: SecretStr | None = None
    allow_unauthenticated: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    stateless: bool = False
    state_key: SecretStr | None = None
    confirm_channels: tuple[ChannelName, ...] = ("card", "form")
    """How a human is asked before a delete, in order of preference; the first the client can show is used."""
    form_ignored_clients: tuple[str, ...] = FORM_IGNORED_CLIENTS
    card_ignored_clients: tuple[str, ...] = ()
    elicitation_timeout: float = Field(default=40.0, gt=0, allow_inf_nan=False)
    call_timeout: float = Field(default=55.0, gt=0, le=3600)
    """The longest a tool call may take end to end, the user's answer and any wait included."""
    card_timeout: float = Field(default=300.0, gt=0, le=3600)
    """How long a confirmation card's deletion request stays open."""
    wait_timeout: float = Field(default=45.0, gt=0, le=600)
    rate_limit: float = Field(default=10.0, gt=0)
    simulate_latency: float = Field(default=0.0, ge=0, le=10)
    """Seconds the embedded simulator (`simulate`) waits before each answer, like a real API."""

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

    @field_validator("token", "http_token", "state_key", mode="before")
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
        """The configured secrets in clear (API token, HTTP client token, state key), for redaction."""
        return tuple(s.get_secret_value() for s in (self.token, self.http_token, self.state_key) if s is not None)

    @property
    def endpoint_is_insecure(self) -> bool:
        """True when the token would travel in clear text to another machine."""
        parts = urlsplit(self.endpoint)
        return parts.scheme == "http" and not is_loopback_host(parts.hostname or "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Read `GENESISCLOUD_TOKEN` and `GENESISCLOUD_ENDPOINT`; `overrides` win."""
        values: dict[str, object] = {}
        if environ.get(TOKEN_ENV):
            values["token"] = environ[TOKEN_ENV]
        if environ.get(ENDPOINT_ENV):
            values["endpoint"] = environ[ENDPOINT_ENV]
        values.update(overrides)
        return cls.model_validate(values)
