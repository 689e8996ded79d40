"""The command line's OAuth, audit-file and telemetry options: what stops the start, and with which words."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshot_mcp import cli, telemetry
from snapshot_mcp.settings import Settings

ISSUER = "https://idp.example.com"
PUBLIC = "https://mcp.example.com/mcp"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`cli.main` reconfigures logging; put it back afterwards."""
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


def settings_of(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return cli.settings_from(cli.parse_args(argv), environ or {})


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
