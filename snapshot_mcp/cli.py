"""The `snapshot-mcp` command.

    snapshot-mcp [options]          run the MCP server (stdio by default)
    snapshot-mcp demo [--yes]       drive the server against the simulator, readably
    snapshot-mcp simulator [...]    serve the embedded simulator API over HTTP

Every server option can also be set as `SNAPSHOT_MCP_<OPTION>` (e.g.
`SNAPSHOT_MCP_LOG_LEVEL=DEBUG`); the API token and endpoint come from
`GENESISCLOUD_TOKEN` and `GENESISCLOUD_ENDPOINT`. Only JSON-RPC reaches stdout in
stdio mode: logs go to stderr. Heavy modules (the HTTP stack, the simulator, the demo)
are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from . import __version__
from .settings import Settings, is_loopback_host

logger = logging.getLogger("snapshot_mcp")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _env(environ: Mapping[str, str], option: str) -> str | None:
    """`SNAPSHOT_MCP_<OPTION>`; an empty value counts as unset (bundles pass empty optional settings)."""
    value = environ.get("SNAPSHOT_MCP_" + option.upper().replace("-", "_"))
    return value if value is not None and value.strip() else None


def _env_flag(environ: Mapping[str, str], option: str) -> bool:
    value = _env(environ, option)
    if value is None:
        return False
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise SystemExit(f"snapshot-mcp: SNAPSHOT_MCP_{option.upper().replace('-', '_')} must be true or false")


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    def env(option: str, default: str | None = None) -> str | None:
        value = _env(environ, option)
        return default if value is None else value

    parser = argparse.ArgumentParser(
        prog="snapshot-mcp",
        description="MCP server for Genesis Cloud compute snapshots. Token: GENESISCLOUD_TOKEN; "
        "endpoint: GENESISCLOUD_ENDPOINT. Each option may be set as SNAPSHOT_MCP_<OPTION>.",
    )
    parser.add_argument("--version", action="version", version=f"snapshot-mcp {__version__}")
    parser.add_argument("--transport", choices=("stdio", "http"), default=env("transport", "stdio"))
    parser.add_argument("--host", default=env("host", "127.0.0.1"), help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=env("port", "8000"), help="HTTP port (default 8000)")
    parser.add_argument("--read-only", action="store_true", default=_env_flag(environ, "read-only"))
    parser.add_argument(
        "--delete-confirmation",
        choices=("elicit", "token", "none"),
        default=env("delete-confirmation", "elicit"),
        help="elicit (default): ask the user; token: two-step preview+token; none: no confirmation",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        default=_env_flag(environ, "simulate"),
        help="use the embedded simulator",
    )
    parser.add_argument("--log-level", default=env("log-level", "WARNING"))
    parser.add_argument("--http-token", default=env("http-token"), help="bearer token HTTP clients must send")
    parser.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        default=_env_flag(environ, "allow-unauthenticated"),
        help="allow a non-loopback HTTP bind without --http-token",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=env("allowed-hosts", ""),
        help="comma-separated Host values (non-loopback bind)",
    )
    parser.add_argument("--allowed-origins", default=env("allowed-origins", ""), help="comma-separated Origin values")
    parser.add_argument("--stateless", action="store_true", default=_env_flag(environ, "stateless"))
    parser.add_argument("--state-key", default=env("state-key"), help="shared secret for --stateless instances")
    parser.add_argument(
        "--elicitation-timeout",
        type=float,
        default=env("elicitation-timeout", "120"),
        metavar="SECONDS",
        help="how long a delete confirmation may stay unanswered (default 120); later answers delete nothing",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=env("rate-limit", "10"),
        metavar="PER_SECOND",
        help="API requests per second this server sends at most (default 10)",
    )
    parser.add_argument(
        "--simulate-latency",
        type=float,
        default=env("simulate-latency", "0"),
        metavar="SECONDS",
        help="with --simulate: delay each simulated API answer (load tests)",
    )

    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="a guided tour against the embedded simulator")
    demo.add_argument("--yes", action="store_true", help="answer the delete prompt yourself (no terminal needed)")
    sim = commands.add_parser("simulator", help="serve the embedded snapshot API simulator over HTTP")
    sim.add_argument("--host", dest="sim_host", default="127.0.0.1")
    sim.add_argument("--port", dest="sim_port", type=int, default=8089)
    return parser


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed arguments and the environment; errors never echo secrets."""
    try:
        return Settings.from_env(
            environ,
            transport=args.transport,
            host=args.host,
            port=args.port,
            read_only=args.read_only,
            delete_confirmation=args.delete_confirmation,
            simulate=args.simulate,
            log_level=args.log_level,
            http_token=args.http_token,
            allow_unauthenticated=args.allow_unauthenticated,
            allowed_hosts=_csv(args.allowed_hosts),
            allowed_origins=_csv(args.allowed_origins),
            stateless=args.stateless,
            state_key=args.state_key,
            elicitation_timeout=args.elicitation_timeout,
            rate_limit=args.rate_limit,
            simulate_latency=args.simulate_latency,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"snapshot-mcp: invalid configuration: {problems}") from None


def configure_logging(level: str) -> None:
    """Everything to stderr; httpx's per-request lines only at DEBUG."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if level != "DEBUG":
        for noisy in ("httpx", "httpcore", "mcp", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def protect_logs(secrets: Sequence[str]) -> None:
    """Every handler writing our logs (the root's, the audit line's) drops the secrets from each record."""
    from .redact import RedactingFilter

    guard = RedactingFilter(secrets)
    for handler in [*logging.getLogger().handlers, *logging.getLogger("snapshot_mcp.audit").handlers]:
        handler.addFilter(guard)


def check_startup(settings: Settings) -> None:
    """Refuse unsafe combinations; warn about weak but chosen ones."""
    exposed = settings.transport == "http" and not is_loopback_host(settings.host)
    if exposed and settings.http_token is None and not settings.allow_unauthenticated:
        raise SystemExit(
            f"snapshot-mcp: refusing to serve HTTP on {settings.host} without a client token: set "
            "--http-token (SNAPSHOT_MCP_HTTP_TOKEN), or pass --allow-unauthenticated if something in "
            "front of this server authenticates clients"
        )
    if settings.stateless and settings.state_key is None:
        logger.warning("--stateless without --state-key: a confirmation must return to this same instance")
    if settings.delete_confirmation == "none" and not settings.read_only:
        logger.warning("delete confirmation is OFF (--delete-confirmation none): deletes happen without asking")
    if settings.endpoint_is_insecure and not settings.simulate:
        logger.warning("GENESISCLOUD_ENDPOINT uses plain http to a non-local host: the token travels unencrypted")
    if settings.token is None and not settings.simulate:
        logger.warning("GENESISCLOUD_TOKEN is not set: tools will answer with an error until it is")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    args = _parser(env).parse_args(argv)
    if args.command == "simulator":
        configure_logging("INFO")
        from .simulator import serve

        serve(args.sim_host, args.sim_port)
        return
    if args.command == "demo":
        configure_logging("WARNING")
        from .demo import run_demo

        raise SystemExit(run_demo(assume_yes=args.yes))

    settings = settings_from(args, env)
    configure_logging(settings.log_level)
    check_startup(settings)
    from .server import build_server

    server = build_server(settings)
    protect_logs(settings.secret_values)
    if settings.transport == "stdio":
        server.run()
        return
    from .http import run_http

    run_http(server, settings)
