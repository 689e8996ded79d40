"""The `snapshot-mcp` command.

    snapshot-mcp [options]          run the MCP server (stdio by default)
    snapshot-mcp demo [--yes]       drive the server against the simulator, readably
    snapshot-mcp simulator [...]    serve the embedded simulator API over HTTP

The server options are generated from the fields of `Settings` (flag `--read-only` for
field `read_only`, `--no-read-only` too for a switch, help from the field's description),
and every one can also be set as `SNAPSHOT_MCP_<OPTION>` (e.g. `SNAPSHOT_MCP_LOG_LEVEL=DEBUG`);
the API token and endpoint come from `GENESISCLOUD_TOKEN` and `GENESISCLOUD_ENDPOINT`
only. A flag beats the environment. Only JSON-RPC reaches stdout in stdio mode: logs go
to stderr. Heavy modules (the HTTP stack, the simulator, the demo, Redis) are imported
only by the commands that use them, inside the function that needs them.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
from collections.abc import Mapping, Sequence
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from . import __version__, telemetry
from .settings import ENV_ONLY, TOKEN_ENV, Settings, env_name, is_loopback_host

if TYPE_CHECKING:
    from .oauth.verifier import JwtVerifier

logger = logging.getLogger("snapshot_mcp")
startup_logger = logging.getLogger("snapshot_mcp.startup")
"""Warnings about a safety the operator switched off: printed whatever `--log-level` says."""

MIN_TOKEN_LENGTH = 8
"""A shorter API token is a paste gone wrong, and too short for the log and answer redaction to look for."""

_METAVARS = {"SecretStr": "SECRET", "float": "NUMBER", "int": "N", "str": "TEXT"}


def _option(info: FieldInfo) -> dict[str, Any]:
    """How a field's flag takes its value: a switch (`--x`/`--no-x`), a repeatable list, a choice, or one value."""
    kind = info.annotation
    if get_origin(kind) in (Union, UnionType):  # `X | None`: the flag gives an X
        kind = next(arg for arg in get_args(kind) if arg is not NoneType)
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if get_origin(kind) is tuple:
        return {"action": "append", "metavar": "A,B"}
    if get_origin(kind) is Literal:
        return {"choices": get_args(kind)}
    return {"metavar": _METAVARS.get(getattr(kind, "__name__", ""), "TEXT")}


def _help(name: str, info: FieldInfo) -> str:
    default = "" if info.default in (None, ()) else f" (default: {_shown(info.default).strip('`')})"
    return f"{info.description or ''}{default} [env: {env_name(name)}]".replace("%", "%%")


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One flag per `Settings` field but the `ENV_ONLY` ones; a flag not given stays out of the namespace."""
    for name, info in Settings.model_fields.items():
        if name not in ENV_ONLY:
            parser.add_argument(
                flag_name(name), dest=name, default=argparse.SUPPRESS, help=_help(name, info), **_option(info)
            )


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per `Settings` field (but `ENV_ONLY`), `--version`, and the subcommands."""
    parser = argparse.ArgumentParser(
        prog="snapshot-mcp",
        description="MCP server for Genesis Cloud compute snapshots. Token: GENESISCLOUD_TOKEN; "
        "endpoint: GENESISCLOUD_ENDPOINT. Each option may also be set as SNAPSHOT_MCP_<OPTION>.",
    )
    parser.add_argument("--version", action="version", version=f"snapshot-mcp {__version__}")
    add_settings_options(parser)
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="a guided tour against the embedded simulator")
    demo.add_argument("--yes", action="store_true", help="answer the delete prompt yourself (no terminal needed)")
    sim = commands.add_parser("simulator", help="serve the embedded snapshot API simulator over HTTP")
    # Own destinations: a subcommand's --host must not become the server's `host`.
    sim.add_argument("--host", dest="sim_host", default="127.0.0.1")
    sim.add_argument("--port", dest="sim_port", type=int, default=8089)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; only the flags given appear as `Settings` fields."""
    return build_parser().parse_args(argv)


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _shown(value: object) -> str:
    """A default as the README shows it."""
    if value is None or value == ():
        return "–"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    return f"`{value}`"


def options_table() -> str:
    """The README's table of options, one row per `Settings` field (a test keeps the README equal to it)."""
    rows = ["| option | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        flag = "–" if name in ENV_ONLY else f"`{flag_name(name)}`"
        meaning = (info.description or "").replace("|", "\\|")
        rows.append(f"| {flag} | `{env_name(name)}` | {_shown(info.default)} | {meaning} |")
    return "\n".join(rows)


def _describe(exc: ValidationError) -> str:
    """One clause per problem, naming the flag and the variable; never an input value."""
    names = {alias: name for name, info in Settings.model_fields.items() for alias in (name, env_name(name))}
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = names.get(str(error["loc"][0])) if error["loc"] else None
        if name is None:
            where = ".".join(map(str, error["loc"])) or "settings"
        elif name in ENV_ONLY:
            where = env_name(name)
        else:
            where = f"{flag_name(name)} ({env_name(name)})"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Settings from parsed arguments (winning) and the environment; errors never echo secrets."""
    given = {name: value for name, value in vars(args).items() if name in Settings.model_fields}
    try:
        return Settings.from_env(environ, **given)
    except ValidationError as exc:
        raise SystemExit(f"snapshot-mcp: invalid configuration: {_describe(exc)}") from None


def configure_logging(level: str) -> None:
    """Everything to stderr, one line per record; other libraries' DEBUG lines never (see `logs`)."""
    from .logs import configure

    configure(level)
    startup_logger.setLevel(logging.WARNING)  # below the root's level too: see startup_logger


def protect_logs(secrets: Sequence[str]) -> None:
    """Every handler writing our logs (the root's, the audit line's): one line per record, and no secret in it."""
    from .logs import LINES
    from .redact import RedactingFilter

    guard = RedactingFilter(secrets)
    for handler in [*logging.getLogger().handlers, *logging.getLogger("snapshot_mcp.audit").handlers]:
        handler.addFilter(LINES)
        handler.addFilter(guard)


def check_token(settings: Settings) -> None:
    """Refuse an API token too short to be one, unless the simulator stands in for the API."""
    if settings.simulate or settings.token is None:
        return
    if len(settings.token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise SystemExit(
            f"snapshot-mcp: {TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters, so it cannot be an API "
            "token: paste the whole token (or pass --simulate to try the server without one)"
        )


def check_startup(settings: Settings) -> None:
    """Refuse unsafe combinations; warn about weak but chosen ones."""
    check_oauth(settings)
    exposed = settings.transport == "http" and not is_loopback_host(settings.host)
    authenticated = settings.http_token is not None or settings.auth_issuer is not None
    if exposed and not authenticated and not settings.allow_unauthenticated:
        raise SystemExit(
            f"snapshot-mcp: refusing to serve HTTP on {settings.host} without a client token: set "
            "--http-token (SNAPSHOT_MCP_HTTP_TOKEN), or pass --allow-unauthenticated if something in "
            "front of this server authenticates clients"
        )
    if settings.stateless and settings.state_key is None:
        logger.warning("--stateless without --state-key: a confirmation must return to this same instance")
    if settings.delete_confirmation == "none" and not settings.read_only:
        startup_logger.warning("delete confirmation is OFF (--delete-confirmation none): deletes happen without asking")
    if settings.endpoint_is_insecure and not settings.simulate:
        startup_logger.warning(
            "GENESISCLOUD_ENDPOINT uses plain http to a non-local host: the token travels unencrypted"
        )
    if settings.token is None and not settings.simulate:
        logger.warning("GENESISCLOUD_TOKEN is not set: tools will answer with an error until it is")


def check_tools(settings: Settings) -> None:
    """With `--tools`, refuse a name no tool has: a misspelt one would hide that tool without a word."""
    if not settings.tools:
        return
    from .tools import DECLARATIONS, offered  # only this option reads them before the first tools/list

    known = [declared.name for declared in DECLARATIONS]
    unknown = [name for name in settings.tools if name not in known]
    if unknown:
        raise SystemExit(
            f"snapshot-mcp: --tools (SNAPSHOT_MCP_TOOLS) names no tool called {', '.join(map(repr, unknown))}; "
            f"the tools are {', '.join(known)}"
        )
    kept = {declared.name for declared in offered(settings)}
    removed = [name for name in settings.tools if name not in kept]  # every name is known: --read-only took these
    if removed:
        logger.warning("--read-only removes %s, which --tools names: they are not offered", ", ".join(removed))


def check_oauth(settings: Settings) -> None:
    """Refuse OAuth options that cannot work together (the issuer itself is reached in `check_issuer`)."""
    if settings.auth_issuer is None:
        if settings.public_url is not None or settings.auth_audience is not None:
            raise SystemExit("snapshot-mcp: --public-url and --auth-audience apply only with --auth-issuer")
        return
    if settings.http_token is not None:
        raise SystemExit(
            "snapshot-mcp: --http-token and --auth-issuer cannot be combined: clients send either the one "
            "static token or an OAuth access token; unset SNAPSHOT_MCP_HTTP_TOKEN or SNAPSHOT_MCP_AUTH_ISSUER"
        )
    if settings.transport != "http":
        raise SystemExit("snapshot-mcp: --auth-issuer applies to --transport http (stdio takes no access tokens)")
    if settings.public_url is None:
        raise SystemExit(
            "snapshot-mcp: --auth-issuer needs --public-url, this server's address as clients reach it "
            "(e.g. https://mcp.example.com/mcp): tokens must be issued for it"
        )


def check_issuer(settings: Settings) -> JwtVerifier | None:
    """With `--auth-issuer`, the verifier holding the issuer's keys; refuse to start if they cannot be fetched now."""
    if settings.auth_issuer is None:
        return None
    import anyio

    from .http import oauth_verifier
    from .oauth.discovery import IssuerUnreachable

    verifier = oauth_verifier(settings)
    try:
        anyio.run(verifier.start)
    except IssuerUnreachable as exc:
        raise SystemExit(
            f"snapshot-mcp: the OAuth issuer {settings.auth_issuer} cannot be used: {exc}. Check --auth-issuer "
            "(SNAPSHOT_MCP_AUTH_ISSUER); the server does not start without the issuer's keys"
        ) from None
    return verifier


def check_audit_file(settings: Settings) -> None:
    """With `--audit-file`, refuse to start unless the file can be appended to (its directory must exist)."""
    if settings.audit_file is None:
        return
    from .audit import AuditFile, AuditUnavailable

    try:
        AuditFile(settings.audit_file).check()
    except AuditUnavailable as exc:
        raise SystemExit(f"snapshot-mcp: --audit-file (SNAPSHOT_MCP_AUDIT_FILE): {exc}") from None


def check_state(settings: Settings) -> None:
    """With `--state-url`, refuse to start unless Redis answers: shared safety state is not optional once asked for."""
    if settings.state_url is None:
        return
    import anyio

    from .errors import StoreUnavailable
    from .state import open_store

    async def reach() -> None:
        store, _ = await open_store(settings, settings.token)
        await store.aclose()

    try:
        anyio.run(reach)
    except ImportError as exc:
        raise SystemExit(f"snapshot-mcp: {exc}") from None
    except StoreUnavailable as exc:
        raise SystemExit(
            f"snapshot-mcp: {exc}: start Redis or fix --state-url (SNAPSHOT_MCP_STATE_URL); "
            "the server keeps confirmations, creates and the rate limit there, and does not start without it"
        ) from None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    args = parse_args(argv)
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
    check_token(settings)
    configure_logging(settings.log_level)
    telemetry.setup(env)
    check_startup(settings)
    check_tools(settings)
    check_audit_file(settings)
    check_state(settings)
    verifier = check_issuer(settings)
    from .server import build_server

    server = build_server(settings)
    protect_logs(settings.secret_values)
    # What start-up made (modules, classes, the server) lives as long as the process: the collector need
    # not scan it again. Without this, starting to serve (the event loop, the first request) sets off a
    # full collection of all of it, tens of milliseconds before the first answer, and more later.
    gc.freeze()
    if settings.transport == "stdio":
        server.run()
        return
    from .http import run_http

    run_http(server, settings, verifier)
