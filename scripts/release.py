"""Release checks and steps for the PyPI package, the bundle and the MCP Registry entry.

    python -m scripts.release check [--tag vX.Y.Z]  server.json meets the registry's rules and
                                                    agrees with the package; with --tag, the
                                                    tag, version and CHANGELOG are ready too
    python -m scripts.release notes X.Y.Z           print that release's CHANGELOG section
    python -m scripts.release sha256 BUNDLE.mcpb    write BUNDLE.mcpb.sha256 and put the hash
                                                    into server.json's mcpb package

The tests run `check` on every change; the release workflow runs all three (RELEASING.md).
The registry's rules are those published with its server.json schema (2025-12-11) and
its official-registry requirements; REGISTRY_SCHEMA transcribes the parts this entry
uses, and jsonschema applies them.
"""

import argparse
import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs installed

from scripts.build_bundle import bundle_name
from snapshot_mcp import __version__
from snapshot_mcp.settings import DEFAULT_ENDPOINT, ENDPOINT_ENV, TOKEN_ENV

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PLACEHOLDER_SHA256 = "0" * 64
"""What the committed server.json carries until the release workflow fills in the bundle's hash."""
VERSION_RANGE = re.compile(r"[\^~<>=*\s]|(^|\.)[xX](\.|$)|^latest$")
"""A range or `latest` where the registry wants one exact version (it rejects these at publish)."""
MCP_NAME = re.compile(r"mcp-name:\s*(\S+?)\s*-->")

_EXACT_VERSION = {"type": "string", "minLength": 1, "maxLength": 255, "not": {"const": "latest"}}
REGISTRY_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["$schema", "name", "description", "version"],
    "properties": {
        "$schema": {"const": SCHEMA_URL},
        "name": {"type": "string", "pattern": r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$", "minLength": 3, "maxLength": 200},
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "description": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": _EXACT_VERSION,
        "websiteUrl": {"type": "string"},
        "repository": {
            "type": "object",
            "required": ["url", "source"],
            "properties": {"url": {"type": "string"}, "source": {"type": "string"}},
        },
        "packages": {"type": "array", "items": {"$ref": "#/definitions/Package"}},
    },
    "definitions": {
        "KeyValueInput": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "isRequired": {"type": "boolean"},
                "isSecret": {"type": "boolean"},
                "format": {"enum": ["string", "number", "boolean", "filepath"]},
                "default": {"type": "string"},
            },
        },
        "Package": {
            "type": "object",
            "required": ["registryType", "transport"],
            "properties": {
                "registryType": {"enum": ["npm", "pypi", "nuget", "oci", "mcpb"]},
                "registryBaseUrl": {"type": "string"},
                "identifier": {"type": "string", "minLength": 1},
                "version": _EXACT_VERSION,
                "fileSha256": {"type": "string", "pattern": "^[a-f0-9]{64}$"},
                "runtimeHint": {"type": "string"},
                "transport": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"enum": ["stdio", "streamable-http", "sse"]}},
                },
                "environmentVariables": {"type": "array", "items": {"$ref": "#/definitions/KeyValueInput"}},
            },
            "allOf": [
                {
                    "if": {"properties": {"registryType": {"enum": ["npm", "pypi", "nuget"]}}},
                    "then": {"required": ["identifier", "version"]},
                },
                {
                    "if": {"properties": {"registryType": {"const": "mcpb"}}},
                    "then": {"required": ["identifier", "fileSha256"]},
                },
            ],
        },
    },
}


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def registry_problems(server: dict[str, Any]) -> list[str]:
    """What the MCP Registry would refuse in `server` (a parsed server.json)."""
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in Draft7Validator(REGISTRY_SCHEMA).iter_errors(server)
    ]
    versions = [("version", server.get("version"))]
    versions += [(f"packages/{i}/version", p.get("version")) for i, p in enumerate(server.get("packages", []))]
    problems += [f"{where}: {v!r} is not one exact version" for where, v in versions if v and VERSION_RANGE.search(v)]
    owner = str(server.get("repository", {}).get("url", "")).removeprefix("https://github.com/").split("/")[0]
    if not str(server.get("name", "")).lower().startswith(f"io.github.{owner.lower()}/"):
        problems.append(f"name: GitHub authentication publishes only under io.github.{owner}/")
    for index, package in enumerate(server.get("packages", [])):
        problems += [f"packages/{index}: {p}" for p in _official_package_problems(package)]
    return problems


def _official_package_problems(package: dict[str, Any]) -> list[str]:
    """The official registry's extra rules for the two package types this project publishes."""
    kind, identifier = package.get("registryType"), str(package.get("identifier", ""))
    if kind == "pypi" and package.get("registryBaseUrl", "https://pypi.org") != "https://pypi.org":
        return ["a PyPI package must come from https://pypi.org"]
    if kind == "mcpb":
        if not re.match(r"^https://github\.com/[^/]+/[^/]+/releases/download/", identifier):
            return ["an MCPB package must be a GitHub release asset URL"]
        if "mcp" not in identifier:
            return ["an MCPB package URL must contain 'mcp'"]
    return []


def _package(server: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next((p for p in server.get("packages", []) if p.get("registryType") == kind), {})
    return found


def _env_problems(pypi: dict[str, Any], manifest_env: dict[str, str]) -> list[str]:
    """The PyPI package's variables are the ones the server reads and the bundle sets."""
    env = {v.get("name"): v for v in pypi.get("environmentVariables", [])}
    problems = []
    if set(env) != {TOKEN_ENV, ENDPOINT_ENV}:
        problems.append(f"environmentVariables are {sorted(map(str, env))}, not {[ENDPOINT_ENV, TOKEN_ENV]}")
    if not set(env) <= set(manifest_env):
        problems.append("environmentVariables name a variable manifest.json's mcp_config.env does not set")
    token = env.get(TOKEN_ENV, {})
    if token.get("isRequired") is not True or token.get("isSecret") is not True:
        problems.append(f"{TOKEN_ENV} must be isRequired and isSecret")
    if env.get(ENDPOINT_ENV, {}).get("default", DEFAULT_ENDPOINT) != DEFAULT_ENDPOINT:
        problems.append(f"{ENDPOINT_ENV}'s default is not the server's {DEFAULT_ENDPOINT}")
    return problems


def consistency_problems(root: Path = ROOT) -> list[str]:
    """Where server.json disagrees with the package, pyproject.toml, manifest.json or the README."""
    server, manifest = load_json(root / "server.json"), load_json(root / "manifest.json")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pypi, mcpb = _package(server, "pypi"), _package(server, "mcpb")
    repository = project["urls"]["Repository"]
    problems = [
        f"{where} is {found!r}, not the package's {__version__!r}"
        for where, found in (
            ("manifest.json version", manifest.get("version")),
            ("server.json version", server.get("version")),
            ("the pypi package's version", pypi.get("version")),
            ("the mcpb package's version", mcpb.get("version")),
        )
        if found != __version__
    ]
    if pypi.get("identifier") != project["name"]:
        problems.append(f"the pypi package is {pypi.get('identifier')!r}, not {project['name']!r}")
    expected_asset = f"{repository}/releases/download/v{__version__}/{bundle_name(__version__)}"
    if mcpb.get("identifier") != expected_asset:
        problems.append(f"the mcpb package is {mcpb.get('identifier')!r}, not the release asset {expected_asset}")
    if {server.get("repository", {}).get("url"), manifest.get("repository", {}).get("url")} != {repository}:
        problems.append(f"server.json and manifest.json must both name the repository {repository}")
    names = MCP_NAME.findall((root / "README.md").read_text(encoding="utf-8"))
    if names != [server.get("name")]:
        problems.append(f"README.md's mcp-name lines {names} do not name {server.get('name')!r} once")
    return problems + _env_problems(pypi, manifest["server"]["mcp_config"]["env"])


def changelog_section(text: str, version: str) -> str:
    """The body of `## [version] - YYYY-MM-DD` in a Keep-a-Changelog file; SystemExit if absent or empty."""
    heading = re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}[ \t]*$", text, re.MULTILINE)
    if heading is None:
        raise SystemExit(f"CHANGELOG.md has no '## [{version}] - YYYY-MM-DD' section")
    rest = text[heading.end() :]
    end = re.search(r"^(## |\[[^\]]+\]: )", rest, re.MULTILINE)
    body = rest[: end.start() if end else len(rest)].strip()
    if not body:
        raise SystemExit(f"CHANGELOG.md's section for {version} is empty")
    return body


def release_problems(tag: str, root: Path = ROOT) -> list[str]:
    """Everything that must hold before the tag `tag` is released."""
    problems = [] if tag == f"v{__version__}" else [f"tag {tag} is not v{__version__}, the package's version"]
    try:
        changelog_section((root / "CHANGELOG.md").read_text(encoding="utf-8"), __version__)
    except SystemExit as missing:
        problems.append(str(missing))
    server = load_json(root / "server.json")
    return problems + registry_problems(server) + consistency_problems(root)


def fill_sha256(bundle: Path, root: Path = ROOT) -> str:
    """Write `bundle`.sha256 (sha256sum's format) and put the hash into server.json; return it."""
    with bundle.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    path = root / "server.json"
    server = load_json(path)
    package = _package(server, "mcpb")
    if not str(package.get("identifier", "")).endswith("/" + bundle.name):
        raise SystemExit(f"server.json's mcpb package does not point at {bundle.name}")
    package["fileSha256"] = digest
    path.write_text(json.dumps(server, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    bundle.with_name(bundle.name + ".sha256").write_text(f"{digest}  {bundle.name}\n", encoding="utf-8")
    return digest


def _report(problems: list[str]) -> int:
    for problem in problems:
        print(f"release: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.release", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="server.json and the package agree (with --tag: ready to release)")
    check.add_argument("--tag", help="the git tag being released, e.g. v1.2.3")
    commands.add_parser("notes", help="print a release's CHANGELOG section").add_argument("version")
    commands.add_parser("sha256", help="hash the bundle into server.json").add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    if args.command == "notes":
        print(changelog_section((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), args.version))
        return 0
    if args.command == "sha256":
        print(fill_sha256(args.bundle))
        return 0
    if args.tag:
        return _report(release_problems(args.tag))
    return _report(registry_problems(load_json(ROOT / "server.json")) + consistency_problems())


if __name__ == "__main__":
    raise SystemExit(main())
