"""Settings: the two environment variables, defaults, endpoint checks, the token kept secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from snapshot_mcp.settings import DEFAULT_ENDPOINT, ENDPOINT_ENV, TOKEN_ENV, Settings, is_loopback_host

CANARY = "canary-TOKEN-1234567890"


def test_env_variable_names_are_genesis_clouds() -> None:
    """The same variables as Genesis Cloud's Terraform provider."""
    assert (TOKEN_ENV, ENDPOINT_ENV) == ("GENESISCLOUD_TOKEN", "GENESISCLOUD_ENDPOINT")
    assert DEFAULT_ENDPOINT == "https://api.genesiscloud.com/compute/v1"


def test_from_env_reads_token_and_endpoint() -> None:
    """Both variables are read."""
    settings = Settings.from_env({TOKEN_ENV: CANARY, ENDPOINT_ENV: "https://api.example.com/compute/v1"})
    assert settings.token is not None
    assert settings.token.get_secret_value() == CANARY
    assert settings.endpoint == "https://api.example.com/compute/v1"


def test_from_env_defaults() -> None:
    """An empty environment: no token, the public endpoint, safe defaults."""
    settings = Settings.from_env({})
    assert settings.token is None
    assert settings.endpoint == DEFAULT_ENDPOINT
    assert settings.transport == "stdio"
    assert settings.host == "127.0.0.1"
    assert settings.delete_confirmation == "elicit"
    assert settings.read_only is False
    assert settings.simulate is False
    assert settings.rate_limit == 10.0
    assert 0 < settings.wait_timeout <= 45
    assert settings.endpoint_is_insecure is False


def test_from_env_ignores_unrelated_variables() -> None:
    """Only the two documented variables matter."""
    settings = Settings.from_env({"TOKEN": "x", "GENESIS_TOKEN": "y", "HOME": "/root"})
    assert settings.token is None


def test_overrides_win_over_the_environment() -> None:
    """Command-line values beat the environment."""
    settings = Settings.from_env(
        {TOKEN_ENV: "from-env", ENDPOINT_ENV: "https://env.example.com/v1"},
        token="from-cli",
        endpoint="https://cli.example.com/v1",
        read_only=True,
    )
    assert settings.token is not None
    assert settings.token.get_secret_value() == "from-cli"
    assert settings.endpoint == "https://cli.example.com/v1"
    assert settings.read_only is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="spaces"),
        pytest.param("\n\t", None, id="whitespace"),
        pytest.param(f"  {CANARY}\n", CANARY, id="trimmed"),
        pytest.param(CANARY, CANARY, id="as-is"),
    ],
)
def test_token_blank_is_none_and_trimmed(raw: str, expected: str | None) -> None:
    """A blank token means no token; a pasted one loses its surrounding whitespace."""
    for settings in (Settings.from_env({TOKEN_ENV: raw}), Settings(token=SecretStr(raw)), Settings(token=raw)):  # type: ignore[arg-type]
        got = None if settings.token is None else settings.token.get_secret_value()
        assert got == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("https://api.example.com/compute/v1/", "https://api.example.com/compute/v1", id="slash"),
        pytest.param("https://api.example.com/compute/v1///", "https://api.example.com/compute/v1", id="slashes"),
        pytest.param("  https://api.example.com/v1  ", "https://api.example.com/v1", id="spaces"),
        pytest.param("http://127.0.0.1:8089/compute/v1", "http://127.0.0.1:8089/compute/v1", id="loopback-port"),
        pytest.param("https://api.example.com", "https://api.example.com", id="no-path"),
    ],
)
def test_endpoint_is_normalized(raw: str, expected: str) -> None:
    """Trailing slashes and surrounding spaces are removed."""
    assert Settings.from_env({ENDPOINT_ENV: raw}).endpoint == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("api.genesiscloud.com/compute/v1", id="no-scheme"),
        pytest.param("ftp://api.example.com/v1", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("https://", id="no-host"),
        pytest.param("https:///compute/v1", id="empty-host"),
        pytest.param("not a url", id="words"),
        pytest.param("https://[::1/v1", id="broken-ipv6"),
        pytest.param("javascript:alert(1)", id="javascript"),
    ],
)
def test_bad_endpoint_is_rejected(raw: str) -> None:
    """Only http(s) URLs with a host are accepted, and the message names the variable."""
    with pytest.raises(ValidationError, match=ENDPOINT_ENV):
        Settings.from_env({ENDPOINT_ENV: raw})


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("https://user:hunter2-secret@api.example.com/v1", id="user-password"),
        pytest.param("https://hunter2-secret@api.example.com/v1", id="user-only"),
        pytest.param("https://:hunter2-secret@api.example.com/v1", id="password-only"),
    ],
)
def test_credentials_in_endpoint_are_rejected_without_echo(raw: str) -> None:
    """An endpoint with credentials is refused, and the error does not repeat them."""
    with pytest.raises(ValidationError, match="must not carry credentials") as info:
        Settings.from_env({ENDPOINT_ENV: raw})
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)


def test_invalid_settings_error_never_echoes_the_token() -> None:
    """A validation error elsewhere in the same settings does not show the token."""
    with pytest.raises(ValidationError) as info:
        Settings.from_env({TOKEN_ENV: CANARY}, port=-1, state_key=CANARY, http_token=CANARY, log_level=CANARY)
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)


@pytest.mark.parametrize(
    ("endpoint", "insecure"),
    [
        pytest.param("https://api.genesiscloud.com/compute/v1", False, id="https"),
        pytest.param("https://10.0.0.5/compute/v1", False, id="https-private"),
        pytest.param("http://api.example.com/compute/v1", True, id="http-remote"),
        pytest.param("http://10.0.0.5:8089/compute/v1", True, id="http-private-ip"),
        pytest.param("http://localhost:8089/compute/v1", False, id="http-localhost"),
        pytest.param("http://LOCALHOST:8089/compute/v1", False, id="http-localhost-upper"),
        pytest.param("http://sim.localhost/compute/v1", False, id="http-dot-localhost"),
        pytest.param("http://127.0.0.1:8089/compute/v1", False, id="http-127"),
        pytest.param("http://127.8.9.10/compute/v1", False, id="http-127-range"),
        pytest.param("http://[::1]:8089/compute/v1", False, id="http-ipv6-loopback"),
        pytest.param("http://localhost.evil.com/compute/v1", True, id="http-localhost-prefix-trick"),
        pytest.param("http://0.0.0.0/compute/v1", True, id="http-unspecified"),
    ],
)
def test_endpoint_is_insecure(endpoint: str, insecure: bool) -> None:
    """The token would cross the network in clear text only over http to a non-loopback host."""
    assert Settings(endpoint=endpoint).endpoint_is_insecure is insecure


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("[::1]", True), ("127.0.0.1", True), ("example.com", False), ("10.1.2.3", False)],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    """Loopback names and addresses, and nothing else."""
    assert is_loopback_host(host) is loopback


def test_token_never_in_repr_or_str() -> None:
    """repr, str and the JSON dump of Settings hide every secret."""
    settings = Settings(token=SecretStr(CANARY), http_token=SecretStr(CANARY), state_key=SecretStr(CANARY * 4))
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert CANARY not in text
    assert "**********" in repr(settings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"port": 70000}, "port", id="port-too-big"),
        pytest.param({"port": -1}, "port", id="port-negative"),
        pytest.param({"log_level": "LOUD"}, "log_level", id="log-level"),
        pytest.param({"transport": "carrier-pigeon"}, "transport", id="transport"),
        pytest.param({"delete_confirmation": "yolo"}, "delete_confirmation", id="delete-policy"),
        pytest.param({"rate_limit": 0}, "rate_limit", id="rate-limit-zero"),
        pytest.param({"wait_timeout": 3600}, "wait_timeout", id="wait-timeout-too-long"),
        pytest.param({"surprise": 1}, "surprise", id="extra-key"),
        pytest.param({"http_read_timeout": 0}, "http_read_timeout", id="read-timeout-zero"),
        pytest.param({"http_read_timeout": 3600}, "http_read_timeout", id="read-timeout-too-long"),
        pytest.param({"http_max_connections": 0}, "http_max_connections", id="no-connections"),
    ],
)
def test_other_settings_are_validated(changes: dict[str, object], field: str) -> None:
    """Out-of-range policies are refused at start-up."""
    with pytest.raises(ValidationError) as info:
        Settings.model_validate(changes)
    assert [str(error["loc"][0]) for error in info.value.errors()] == [field]


def test_log_level_is_upper_cased() -> None:
    """'debug' means DEBUG."""
    assert Settings(log_level=" debug ").log_level == "DEBUG"


def test_settings_are_frozen() -> None:
    """Settings do not change after start-up."""
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.endpoint = "https://other.example.com"


def test_settings_are_hashable() -> None:
    """Equal settings hash alike, so they can key a dict (tests cache servers by them)."""
    first = Settings(token=SecretStr(CANARY), allowed_hosts=("a.example",))
    second = Settings.from_env({TOKEN_ENV: CANARY, "SNAPSHOT_MCP_ALLOWED_HOSTS": "a.example"})
    assert first == second
    assert hash(first) == hash(second)
    assert {first: "server"}[second] == "server"
    assert hash(first.model_copy(update={"read_only": True})) != hash(first)


def test_only_from_env_reads_an_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Settings(...)` never reads os.environ, and `from_env` reads only the mapping it is given."""
    monkeypatch.setenv(TOKEN_ENV, CANARY)
    monkeypatch.setenv("SNAPSHOT_MCP_READ_ONLY", "1")
    monkeypatch.setenv("SNAPSHOT_MCP_PORT", "9999")
    for settings in (Settings(), Settings(host="127.0.0.2"), Settings.from_env({})):
        assert settings.token is None
        assert settings.read_only is False
        assert settings.port == 8000
    assert Settings.from_env({"SNAPSHOT_MCP_READ_ONLY": "1"}).read_only is True


def test_overrides_and_environment_do_not_leak_into_later_settings() -> None:
    """The mapping given to one `from_env` call is not seen by the next construction."""
    Settings.from_env({"SNAPSHOT_MCP_PORT": "9001"})
    assert Settings().port == 8000


def test_unknown_keyword_is_refused() -> None:
    """A misspelt keyword is an error (extra="forbid"), however the settings are built."""
    with pytest.raises(ValidationError) as by_constructor:
        Settings(read_onyl=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError) as by_from_env:
        Settings.from_env({}, read_onyl=True)
    for info in (by_constructor, by_from_env):
        assert [str(error["loc"][0]) for error in info.value.errors()] == ["read_onyl"]


def test_unknown_prefixed_variable_is_ignored() -> None:
    """SNAPSHOT_MCP_* variables of other versions or tools do not stop the server."""
    assert Settings.from_env({"SNAPSHOT_MCP_CACHE_URL": "redis://localhost", "SNAPSHOT_MCP_X": "1"}) == Settings()


def test_list_settings_from_the_environment_are_comma_separated() -> None:
    """Lists are plain comma-separated text, not JSON; blanks between commas are dropped."""
    settings = Settings.from_env(
        {
            "SNAPSHOT_MCP_ALLOWED_ORIGINS": " https://a.example ,, https://b.example ",
            "SNAPSHOT_MCP_CONFIRM_CHANNELS": "token",
        }
    )
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.confirm_channels == ("token",)
    with pytest.raises(ValidationError, match="confirm_channels"):
        Settings.from_env({"SNAPSHOT_MCP_CONFIRM_CHANNELS": "card,pigeon"})


@pytest.mark.parametrize("url", ["http://cache:6379/0", "cache:6379", "redis://", "memcached://cache"])
def test_a_state_url_must_name_a_redis(url: str) -> None:
    with pytest.raises(ValidationError, match="redis://host:port/db"):
        Settings.from_env({"SNAPSHOT_MCP_STATE_URL": url})


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://:pw@cache.internal/2", "unix:///run/redis.sock"])
def test_a_redis_state_url_is_taken(url: str) -> None:
    settings = Settings.from_env({"SNAPSHOT_MCP_STATE_URL": url})
    assert settings.state_url is not None
    assert settings.state_url.get_secret_value() == url
