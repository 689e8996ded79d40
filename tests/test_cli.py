"""The command line: flags generated from `Settings`, the environment beneath them, the
start-up checks (loopback binds, tokens, OAuth, the state store, the audit file, the
warning for unconfirmed deletes), and how logging is set up.

Every test passes its environment explicitly (`cli.main(argv, environ)`,
`cli.settings_from(args, environ)`): the developer's own variables never matter.
"""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream
from pydantic import SecretStr

from snapshot_mcp import __version__, cli, safe_text, telemetry
from snapshot_mcp.cli import check_startup
from snapshot_mcp.settings import ENV_ONLY, TOKEN_ENV, Settings, env_name
from tests.support import MODEL_TOOLS, READING_TOOLS, WRITING_TOOLS
from tests.support.canaries import (
    API_CANARY,
    HTTP_CANARY,
    assert_clean,
)

CANARY = "canary-CLI-5e1f0a9b7c"


STATE_KEY = "k" * 32


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`cli.main` and `cli.configure_logging` reconfigure logging; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "httpcore2", "mcp", "uvicorn.access", "snapshot_mcp", "snapshot_mcp.startup")
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`cli.main` fails the test if it gets as far as building a server."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr("snapshot_mcp.server.build_server", refuse)


def settings_of(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return cli.settings_from(cli.parse_args(argv), environ or {})


# --------------------------------------------------------------------------- flags and variables

# (flag and its argument, the same as an environment variable's value, field, expected value)
OPTIONS: list[tuple[list[str], str, str, object]] = [
    (["--read-only"], "yes", "read_only", True),
    (["--delete-confirmation", "token"], "token", "delete_confirmation", "token"),
    (["--log-level", "debug"], "debug", "log_level", "DEBUG"),
    (["--allow-unauthenticated"], "on", "allow_unauthenticated", True),
    (["--allowed-hosts", "a.example, b.example"], "a.example,b.example", "allowed_hosts", ("a.example", "b.example")),
    (["--allowed-origins", "https://a.example"], "https://a.example", "allowed_origins", ("https://a.example",)),
    (["--stateless"], "1", "stateless", True),
    (["--elicitation-timeout", "12.5"], "12.5", "elicitation_timeout", 12.5),
    (["--rate-limit", "3"], "3", "rate_limit", 3.0),
    (["--simulate"], "TRUE", "simulate", True),
    (["--simulate-latency", "0.2"], "0.2", "simulate_latency", 0.2),
    (["--transport", "http"], "http", "transport", "http"),
    (["--host", "10.0.0.1"], "10.0.0.1", "host", "10.0.0.1"),
    (["--port", "9000"], "9000", "port", 9000),
    (["--confirm-channels", "form,token"], "form,token", "confirm_channels", ("form", "token")),
    (["--http-read-timeout", "2.5"], "2.5", "http_read_timeout", 2.5),
    (["--http-max-connections", "64"], "64", "http_max_connections", 64),
]


SECRETS: list[tuple[list[str], str, str]] = [
    (["--http-token", CANARY], CANARY, "http_token"),
    (["--state-key", STATE_KEY], STATE_KEY, "state_key"),
]


@pytest.mark.parametrize(("argv", "text", "field", "expected"), OPTIONS, ids=[row[2] for row in OPTIONS])
def test_each_flag_sets_its_setting(argv: list[str], text: str, field: str, expected: object) -> None:
    """The existing flag names reach their field."""
    assert getattr(settings_of(argv), field) == expected


@pytest.mark.parametrize(("argv", "text", "field", "expected"), OPTIONS, ids=[row[2] for row in OPTIONS])
def test_each_variable_sets_its_setting(argv: list[str], text: str, field: str, expected: object) -> None:
    """SNAPSHOT_MCP_<FIELD> sets the same field, with no flag given."""
    assert getattr(settings_of([], {env_name(field): text}), field) == expected


@pytest.mark.parametrize(("argv", "text", "field"), SECRETS, ids=[row[2] for row in SECRETS])
def test_secret_flags_and_variables(argv: list[str], text: str, field: str) -> None:
    """--http-token and --state-key, as flags or variables, become secrets."""
    for settings in (settings_of(argv), settings_of([], {env_name(field): text})):
        value = getattr(settings, field)
        assert isinstance(value, SecretStr)
        assert value.get_secret_value() == text
        assert text not in repr(settings)


def test_a_flag_beats_the_environment() -> None:
    """The command line wins over a variable; `--no-<switch>` turns off one the environment set."""
    environ = {"SNAPSHOT_MCP_PORT": "9001", "SNAPSHOT_MCP_READ_ONLY": "1", "SNAPSHOT_MCP_LOG_LEVEL": "INFO"}
    settings = settings_of(["--port", "9002", "--no-read-only"], environ)
    assert (settings.port, settings.read_only, settings.log_level) == (9002, False, "INFO")


def test_every_setting_has_a_flag_with_its_description() -> None:
    """Generated from the model: each field (but the env-only ones) is a --kebab-case flag helped by its description."""
    actions = {option: action for action in cli.build_parser()._actions for option in action.option_strings}
    for name, info in Settings.model_fields.items():
        assert info.description, f"{name} needs a description: it is the --help text and the README's"
        if name in ENV_ONLY:
            assert cli.flag_name(name) not in actions
            continue
        assert cli.flag_name(name) in actions, name
        assert (actions[cli.flag_name(name)].help or "").startswith(info.description)


@pytest.mark.parametrize("argv", [["--token", CANARY], ["--endpoint", "https://api.example.com"]])
def test_token_and_endpoint_are_variables_only(argv: list[str]) -> None:
    """No flag for the API token (it would show in `ps`) or the endpoint; their variables work."""
    with pytest.raises(SystemExit) as caught:
        cli.parse_args(argv)
    assert caught.value.code == 2  # argparse's usage error
    settings = settings_of([], {TOKEN_ENV: CANARY, "GENESISCLOUD_ENDPOINT": "https://api.example.com/v1"})
    assert settings.token is not None
    assert settings.token.get_secret_value() == CANARY
    assert settings.endpoint == "https://api.example.com/v1"


def test_genesis_cloud_names_win_over_snapshot_mcp_ones() -> None:
    """SNAPSHOT_MCP_TOKEN/_ENDPOINT work like every option's variable; GENESISCLOUD_* win when both are set."""
    prefixed = {"SNAPSHOT_MCP_TOKEN": "prefixed-token-1", "SNAPSHOT_MCP_ENDPOINT": "https://prefixed.example"}
    alone = settings_of([], prefixed)
    assert alone.token is not None
    assert (alone.token.get_secret_value(), alone.endpoint) == ("prefixed-token-1", "https://prefixed.example")
    both = settings_of([], {**prefixed, TOKEN_ENV: CANARY, "GENESISCLOUD_ENDPOINT": "https://genesis.example"})
    assert both.token is not None
    assert (both.token.get_secret_value(), both.endpoint) == (CANARY, "https://genesis.example")


def test_empty_variables_count_as_unset() -> None:
    """A bundle passes an empty string for each optional setting left blank: every field keeps its default."""
    for blank in ("", "  "):
        environ = {env_name(name): blank for name in Settings.model_fields}
        assert settings_of([], environ) == Settings()


@pytest.mark.parametrize("word", ["true", "false", "1", "0", "yes", "no", "on", "off", "True", " YES ", "Off"])
def test_switch_variables_take_the_usual_words(word: str) -> None:
    """true/false, 1/0, yes/no, on/off, in any case."""
    expected = word.strip().lower() in ("true", "1", "yes", "on")
    assert settings_of([], {"SNAPSHOT_MCP_READ_ONLY": word}).read_only is expected


@pytest.mark.parametrize("word", ["maybe", "t", "y", "2", "enabled", "-1"])
def test_other_switch_values_are_a_clear_error(word: str) -> None:
    """Anything else is refused, naming the flag and the variable, on one line."""
    with pytest.raises(SystemExit) as caught:
        settings_of([], {"SNAPSHOT_MCP_STATELESS": word})
    message = str(caught.value.code)
    assert message.startswith("snapshot-mcp: invalid configuration: --stateless (SNAPSHOT_MCP_STATELESS): must be")
    assert "true or false" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--http-token", CANARY, "--port", "99999"], {}),
        (["--state-key", CANARY], {}),
        ([], {"SNAPSHOT_MCP_STATE_KEY": CANARY, TOKEN_ENV: CANARY, "SNAPSHOT_MCP_LOG_LEVEL": CANARY}),
        ([], {"GENESISCLOUD_ENDPOINT": f"https://user:{CANARY}@api.example.com"}),
    ],
    ids=["bad-port", "short-state-key", "from-environment", "endpoint-credentials"],
)
def test_configuration_error_is_one_line_without_secrets(argv: list[str], environ: dict[str, str]) -> None:
    """A refused configuration is one line naming each problem, and no secret given with it."""
    with pytest.raises(SystemExit) as caught:
        settings_of(argv, environ)
    message = str(caught.value.code)
    assert message.startswith("snapshot-mcp: invalid configuration: ")
    assert "\n" not in message
    assert CANARY not in message


def test_an_error_in_an_env_only_setting_names_its_variable() -> None:
    """GENESISCLOUD_ENDPOINT has no flag: the message names the variable."""
    with pytest.raises(SystemExit, match=r"invalid configuration: GENESISCLOUD_ENDPOINT: .*http\(s\) URL"):
        settings_of([], {"GENESISCLOUD_ENDPOINT": "ftp://api.example.com"})


# --------------------------------------------------------------------------- commands


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    with pytest.raises(SystemExit) as caught:
        cli.parse_args(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"snapshot-mcp {__version__}"


def test_subcommands_keep_their_own_options() -> None:
    """`demo --yes` and `simulator --host --port`; the simulator's --host is not the server's."""
    demo = cli.parse_args(["demo", "--yes"])
    assert (demo.command, demo.yes) == ("demo", True)
    sim = cli.parse_args(["simulator", "--host", "127.0.0.2", "--port", "8090"])
    assert (sim.command, sim.sim_host, sim.sim_port) == ("simulator", "127.0.0.2", 8090)
    assert cli.settings_from(sim, {}).host == "127.0.0.1"
    server = cli.parse_args(["--read-only"])
    assert server.command is None


# --------------------------------------------------------------------------- start-up checks


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])  # noqa: S104 - never bound: main exits first
def test_non_loopback_bind_without_token_refuses_to_start(host: str, restore_logging: None, no_server: None) -> None:
    """`--host` off loopback without --http-token exits before binding, naming the fix."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--transport", "http", "--simulate", "--host", host], environ={})
    message = str(exit_info.value.code)
    assert "--http-token" in message
    assert "--allow-unauthenticated" in message


def test_non_loopback_bind_from_environment_refuses_too(restore_logging: None, no_server: None) -> None:
    """The same refusal when the bind comes from SNAPSHOT_MCP_HOST."""
    env = {"SNAPSHOT_MCP_TRANSPORT": "http", "SNAPSHOT_MCP_HOST": "0.0.0.0", "SNAPSHOT_MCP_SIMULATE": "1"}  # noqa: S104
    with pytest.raises(SystemExit, match="http-token"):
        cli.main([], environ=env)


@pytest.mark.parametrize(
    "extra", [["--http-token", CANARY], ["--allow-unauthenticated"]], ids=["token", "allow-unauthenticated"]
)
def test_non_loopback_bind_is_allowed_with_token_or_explicit_opt_out(extra: list[str]) -> None:
    """check_startup accepts a non-loopback bind with a token, or with --allow-unauthenticated."""
    cli.check_startup(settings_of(["--transport", "http", "--host", "0.0.0.0", *extra]))  # noqa: S104


@pytest.mark.parametrize("token", ["Q", "zq9", "Xy7#kQ7", "  Jw3!  "])
def test_issue12_item9_short_api_token_is_refused_at_start(
    token: str, restore_logging: None, no_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 9: a GENESISCLOUD_TOKEN under 8 characters stops start-up with one line that does not echo it."""
    with pytest.raises(SystemExit) as caught:
        cli.main([], environ={TOKEN_ENV: token})
    message = str(caught.value.code)
    assert message.startswith(f"snapshot-mcp: {TOKEN_ENV} is shorter than 8 characters")
    assert "\n" not in message
    assert token.strip() not in message.removeprefix("snapshot-mcp:")
    assert token.strip() not in capsys.readouterr().err


def test_short_token_is_allowed_with_simulate_and_eight_characters_suffice() -> None:
    """--simulate needs no real token; eight characters pass."""
    cli.check_token(Settings(token=SecretStr("abc"), simulate=True))
    cli.check_token(Settings(token=SecretStr("12345678")))
    cli.check_token(Settings())  # no token: a warning at start-up, and an error from each tool


def test_minimum_token_length_is_what_redaction_looks_for() -> None:
    """A token the redaction would skip (shorter than its minimum) is one the server refuses."""
    assert cli.MIN_TOKEN_LENGTH == safe_text.MIN_SECRET_LENGTH


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "CRITICAL"])
@pytest.mark.parametrize(
    ("settings", "warning"),
    [
        (Settings(delete_confirmation="none"), "delete confirmation is OFF"),
        (Settings(endpoint="http://api.example.com/v1", token=SecretStr(CANARY)), "plain http"),
    ],
    ids=["delete-confirmation-none", "insecure-endpoint"],
)
def test_issue12_item10_weakened_safety_warning_shows_at_every_log_level(
    level: str, settings: Settings, warning: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 10: the start-up warning for a safety switched off reaches stderr even at ERROR and CRITICAL."""
    cli.configure_logging(level)
    cli.check_startup(settings)
    captured = capsys.readouterr()
    assert warning in captured.err
    assert captured.out == ""
    assert CANARY not in captured.err


def test_ordinary_warnings_still_follow_the_log_level(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """At ERROR a missing token is not announced: only switched-off safety is unconditional."""
    cli.configure_logging("ERROR")
    cli.check_startup(Settings())
    assert "GENESISCLOUD_TOKEN is not set" not in capsys.readouterr().err


# --------------------------------------------------------------------------- logging


def test_configure_logging_keeps_httpcore_quiet_at_debug(restore_logging: None) -> None:
    """At DEBUG, httpx's request lines are on, httpcore's header dumps (both stacks) off."""
    cli.configure_logging("DEBUG")
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
    for name in ("httpcore", "httpcore.http11", "httpcore2.http11", "httpcore.connection"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name


@asynccontextmanager
async def api_on_loopback(header_value: str) -> AsyncIterator[str]:
    """A one-answer HTTP server on 127.0.0.1 whose response carries `X-Canary: <header_value>`; yields its URL."""

    async def answer(stream: SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive()
        body = b'{"snapshots":[]}'
        head = f"HTTP/1.1 200 OK\r\nX-Canary: {header_value}\r\nContent-Length: {len(body)}\r\n\r\n"
        await stream.send(head.encode() + body)
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, answer)
        port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio's typed attributes, not Django
        yield f"http://127.0.0.1:{port}/compute/v1/snapshots"
        tg.cancel_scope.cancel()


@pytest.mark.slow
async def test_issue12_item9_debug_logging_never_shows_api_headers(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12 item 9: at --log-level DEBUG a real request (httpx over httpcore, on loopback) logs its line,
    but neither the response's headers nor the request's Authorization reach stderr."""
    response_canary = "resp-header-canary-77f1"
    cli.configure_logging("DEBUG")
    cli.protect_logs([])  # as main does: redaction is not what keeps these out
    async with api_on_loopback(response_canary) as url, httpx.AsyncClient() as http:
        response = await http.get(url, headers={"Authorization": f"Bearer {CANARY}"})
    assert response.headers["x-canary"] == response_canary  # the header was there to be logged
    err = capsys.readouterr().err
    assert "HTTP Request: GET" in err  # DEBUG logging is on, httpx's line included
    assert response_canary not in err
    assert CANARY not in err
    assert "x-canary" not in err.lower()


def test_parse_args_returns_only_given_flags() -> None:
    """A flag not given is absent from the namespace, so the environment (or the default) decides."""
    args = cli.parse_args(["--port", "1234"])
    fields = {name for name in vars(args) if name in Settings.model_fields}
    assert fields == {"port"}
    assert isinstance(args, argparse.Namespace)


def test_a_tool_name_no_tool_has_stops_the_start_and_names_the_tools() -> None:
    """A misspelt --tools name would hide that tool without a word: the start is refused, naming every tool."""
    wanted = sorted(READING_TOOLS)[0]
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--simulate", "--tools", f"{wanted},list_snapshot"], environ={})
    message = str(stopped.value.code)
    assert message.startswith("snapshot-mcp: --tools (SNAPSHOT_MCP_TOOLS) names no tool called 'list_snapshot';")
    assert all(name in message for name in MODEL_TOOLS)
    with pytest.raises(SystemExit, match="names no tool called 'nope'"):
        cli.main(["--simulate"], environ={"SNAPSHOT_MCP_TOOLS": "nope"})


def test_named_tools_pass_and_read_only_says_which_it_removes(caplog: pytest.LogCaptureFixture) -> None:
    reading, writing = sorted(READING_TOOLS)[0], sorted(WRITING_TOOLS)[0]
    cli.check_tools(Settings(tools=(reading, writing)))
    assert not caplog.records
    cli.check_tools(Settings(tools=(reading, writing), read_only=True))
    [warning] = caplog.records
    assert warning.getMessage() == f"--read-only removes {writing}, which --tools names: they are not offered"


def test_an_unreachable_state_store_stops_the_start_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14: with --state-url and no Redis there, the server does not start; the message hides the password."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--simulate", "--state-url", "redis://:hunter2-secret@127.0.0.1:9/0"], environ={})
    message = str(stopped.value.code)
    assert message.startswith("snapshot-mcp: The shared state store (redis://:***@127.0.0.1:9/0) cannot be reached")
    assert "does not start without it" in message
    assert "hunter2-secret" not in message
    assert all("hunter2-secret" not in record.getMessage() for record in caplog.records)


def test_the_state_password_has_no_flag_and_is_redacted() -> None:
    """A password on the command line would show in `ps`: only SNAPSHOT_MCP_STATE_PASSWORD sets it."""
    assert "state_password" in ENV_ONLY
    with pytest.raises(SystemExit):
        cli.parse_args(["--state-password", "x"])
    settings = Settings.from_env(
        {"SNAPSHOT_MCP_STATE_PASSWORD": "pw-123456", "SNAPSHOT_MCP_STATE_URL": "redis://:in-url-pw@h/0"}
    )
    assert set(settings.secret_values) == {"pw-123456", "in-url-pw"}
    assert "pw-123456" not in repr(settings)
    assert "in-url-pw" not in repr(settings)


def test_a_password_anywhere_in_the_state_url_is_a_secret() -> None:
    """In the user information, `password=` or `ssl_password=`: each is redacted like the API token."""
    url = "redis://app:netloc-pw-1@h/0?password=query-pw-12&ssl_password=tls-pw-123&username=app"
    settings = Settings.from_env({"SNAPSHOT_MCP_STATE_URL": url})
    assert {"netloc-pw-1", "query-pw-12", "tls-pw-123"} <= set(settings.secret_values)
    assert "app" not in settings.secret_values


@pytest.mark.parametrize("query", ["?password=hunter2-secret", "?db=0&password=hunter2-secret&username=hunter2-user"])
def test_an_unreachable_state_store_stops_the_start_without_a_query_password(
    query: str, caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    """The same refusal for a password given as a query parameter: never shown, never logged."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--simulate", "--state-url", f"redis://127.0.0.1:9/0{query}"], environ={})
    message = str(stopped.value.code)
    assert message.startswith("snapshot-mcp: The shared state store (redis://127.0.0.1:9/0?")
    assert "password=***" in message
    assert "hunter2" not in message
    assert all("hunter2" not in record.getMessage() for record in caplog.records)


ISSUER = "https://idp.example.com"


PUBLIC = "https://mcp.example.com/mcp"


def test_the_oauth_flags_and_variables_set_their_settings(tmp_path: Path) -> None:
    argv = ["--auth-issuer", ISSUER, "--public-url", PUBLIC + "/", "--auth-audience", "api://snapshots"]
    settings = settings_of([*argv, "--audit-file", str(tmp_path / "a.jsonl")])
    assert (settings.auth_issuer, settings.public_url, settings.auth_audience) == (ISSUER, PUBLIC, "api://snapshots")
    assert settings.audit_file == str(tmp_path / "a.jsonl")
    environ = {"SNAPSHOT_MCP_AUTH_ISSUER": ISSUER, "SNAPSHOT_MCP_PUBLIC_URL": PUBLIC, "SNAPSHOT_MCP_AUDIT_FILE": "x"}
    from_env = settings_of([], environ)
    assert (from_env.auth_issuer, from_env.public_url, from_env.audit_file) == (ISSUER, PUBLIC, "x")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--auth-issuer", "http://idp.example.com"], "https"),
        (["--auth-issuer", "https://idp.example.com/?tenant=1"], "query"),
        (["--public-url", "https://mcp.example.com/"], "ending in /mcp"),
        (["--allowed-origins", "*"], "name each origin"),
    ],
)
def test_unusable_urls_are_a_configuration_error(argv: list[str], words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        settings_of(argv)


START: list[tuple[list[str], str]] = [
    (["--transport", "http", "--auth-issuer", ISSUER, "--public-url", PUBLIC, "--http-token", "t" * 16], "combined"),
    (["--transport", "http", "--auth-issuer", ISSUER], "needs --public-url"),
    (["--auth-issuer", ISSUER, "--public-url", PUBLIC], "--transport http"),
    (["--transport", "http", "--public-url", PUBLIC], "only with --auth-issuer"),
]


@pytest.mark.parametrize(("argv", "words"), START, ids=["with-http-token", "no-public-url", "stdio", "no-issuer"])
def test_oauth_options_that_cannot_work_stop_the_start(argv: list[str], words: str) -> None:
    with pytest.raises(SystemExit, match=words):
        cli.check_startup(settings_of(argv))


def test_an_issuer_lets_a_non_loopback_bind_start_without_a_static_token() -> None:
    cli.check_startup(
        settings_of(["--transport", "http", "--host", "0.0.0.0", "--auth-issuer", ISSUER, "--public-url", PUBLIC])  # noqa: S104
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_issuer_stops_the_start_with_a_clear_message(restore_logging: None) -> None:
    issuer = f"http://127.0.0.1:{_closed_port()}"
    argv = ["--simulate", "--transport", "http", "--auth-issuer", issuer, "--public-url", "http://127.0.0.1:1/mcp"]
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv, environ={})
    message = str(stopped.value.code)
    assert message.startswith(f"snapshot-mcp: the OAuth issuer {issuer} cannot be used: ")
    assert "could not be reached" in message
    assert "does not start without the issuer's keys" in message


def test_an_audit_file_in_a_missing_directory_stops_the_start(tmp_path: Path, restore_logging: None) -> None:
    missing = tmp_path / "nowhere" / "audit.jsonl"
    with pytest.raises(SystemExit, match=r"--audit-file .*does not exist"):
        cli.main(["--simulate", "--audit-file", str(missing)], environ={})
    assert not missing.parent.exists()


def test_telemetry_stays_off_without_an_endpoint() -> None:
    assert not telemetry.wanted({})
    assert not telemetry.wanted({"OTEL_SERVICE_NAME": "x"})
    assert not telemetry.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"})
    assert telemetry.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert telemetry.setup({}) is False
    assert not telemetry.enabled()


@pytest.mark.slow  # a fresh interpreter, so nothing another test imported counts
def test_the_default_path_imports_no_jose_library_and_no_telemetry_sdk() -> None:
    """A stdio server (what Claude Desktop starts) loads neither PyJWT nor OpenTelemetry's SDK: cold start matters."""
    script = (
        "import sys\n"
        "from snapshot_mcp import cli, http\n"
        "from snapshot_mcp.server import build_server\n"
        "from snapshot_mcp.settings import Settings\n"
        "build_server(Settings(simulate=True))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'jwt' or m.startswith('opentelemetry.sdk')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("chosen", "read_only", "warned"),
    [("none", False, True), ("elicit", False, False), ("token", False, False), ("none", True, False)],
)
def test_startup_warns_about_policy_none(
    caplog: pytest.LogCaptureFixture, chosen: str, read_only: bool, warned: bool
) -> None:
    """check_startup warns when deletes are unconfirmed (and only then)."""
    caplog.set_level(logging.WARNING, logger="snapshot_mcp")
    check_startup(Settings(token=SecretStr("t"), delete_confirmation=chosen, read_only=read_only))  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "confirmation is OFF" in r.getMessage()]
    assert len(warnings) == int(warned)


@pytest.mark.parametrize(
    "argv",
    [
        ["--state-key", "short-" + API_CANARY[:8]],
        ["--http-token", HTTP_CANARY, "--port", "99999"],
        ["--http-token", HTTP_CANARY, "--log-level", "LOUD"],
    ],
    ids=["short-state-key", "bad-port", "bad-level"],
)
def test_configuration_errors_do_not_echo_secrets(argv: list[str]) -> None:
    """A refused configuration names the problem, never a secret given with it."""
    with pytest.raises(SystemExit) as caught:
        cli.main(argv, environ={"GENESISCLOUD_TOKEN": API_CANARY})
    message = str(caught.value.code)
    assert "invalid configuration" in message
    assert_clean("a start-up error", message)
    assert "short-" + API_CANARY[:8] not in message


LOGGERS_MAIN_SETS = ("httpx", "httpcore", "httpcore2", "mcp", "uvicorn.access", "snapshot_mcp.startup")


def test_main_freezes_what_start_up_made_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects made while starting are moved out of the collector's sight before the server runs, so the
    first full collection does not scan the whole start-up heap in front of the first answer."""
    frozen: list[int] = []

    class Server:
        def run(self) -> None:
            frozen.append(gc.get_freeze_count())

    monkeypatch.setattr("snapshot_mcp.server.build_server", lambda settings: Server())
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {name: logging.getLogger(name).level for name in ("", *LOGGERS_MAIN_SETS)}
    before = gc.get_freeze_count()
    try:
        cli.main(["--simulate"], environ={})
    finally:
        gc.unfreeze()
        root.handlers[:] = handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert before == 0
    assert len(frozen) == 1
    assert frozen[0] > 1000  # the modules, classes and functions loaded so far, at least
