"""Build the MCP Bundle: dist/snapshot-mcp-<version>.mcpb.

    python -m scripts.build_bundle [--out DIR]

The bundle uses manifest_version 0.4 with server type "uv": Claude Desktop starts it
with the uv it ships, which fetches a Python and the locked dependencies on first start,
so the user installs nothing. The bundle root holds what `uv run` needs to build and run
the project: pyproject.toml, uv.lock, README.md and LICENSE (both named in
pyproject.toml), the package and its prompts, and the committed icon.png (drawn by
scripts/icon.py).
No server/lib and no virtual environment: those are what the "uv" type replaces.

Before packing, the build checks that uv.lock is current, that the manifest starts the
server as described below and carries this version, and validates the manifest with the
MCP Bundle CLI (Node.js with npx).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scripts.icon import ICON
from snapshot_mcp import __version__

ROOT = Path(__file__).resolve().parent.parent
MCPB = "@anthropic-ai/mcpb@2.1.2"
BUNDLE_FILES = ("manifest.json", "pyproject.toml", "uv.lock", "README.md", "LICENSE", "icon.png")
BUNDLE_DIRS = ("snapshot_mcp", "prompts")

# How the manifest's mcp_config starts the server, and why.
# The MCP Bundle CLI 2.1.2 still requires mcp_config for every server type. A host that
# runs type "uv" launches its own bundled uv binary with these args (the command's name
# is replaced by that binary's path), so the args are uv's own, and the same line works
# with a uv on PATH, which is how the tests and older hosts run it:
#   --directory ${__dirname}  the project is the unpacked bundle, whatever the host's cwd;
#   --frozen                  install exactly uv.lock: never re-resolve it or rewrite it
#                             (the build checked it with `uv lock --check`);
#   --no-dev                  no dev dependency group, should one ever be declared (the
#                             dev tools are an extra, which `uv run` leaves out anyway);
#   snapshot-mcp              the console script, so no file is run as a loose script.
MCP_COMMAND = "uv"
MCP_ARGS = ("run", "--directory", "${__dirname}", "--frozen", "--no-dev", "snapshot-mcp")


def bundle_name(version: str) -> str:
    """The bundle's file name, as the release attaches it and server.json points at it."""
    return f"snapshot-mcp-{version}.mcpb"


def check_manifest(manifest: dict[str, Any]) -> None:
    """Refuse a manifest that drifted from what this build and its comment describe."""
    server = manifest["server"]
    config = server["mcp_config"]
    problems = []
    if manifest.get("manifest_version") != "0.4" or server.get("type") != "uv":
        problems.append('manifest_version must be "0.4" with server.type "uv"')
    if config.get("command") != MCP_COMMAND or tuple(config.get("args", ())) != MCP_ARGS:
        problems.append(f"mcp_config must run: {MCP_COMMAND} {' '.join(MCP_ARGS)}")
    if manifest.get("version") != __version__:
        problems.append(f"version {manifest.get('version')} is not the package's {__version__}")
    if problems:
        raise SystemExit("manifest.json: " + "; ".join(problems))


def uv_command() -> str:
    """The uv next to this interpreter (the dev extra installs it), else the one on PATH."""
    beside = Path(sys.executable).parent / ("uv.exe" if sys.platform == "win32" else "uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv is required: pip install -e '.[dev]'")
    return found


def stage(into: Path) -> dict[str, Any]:
    """Copy the bundle's files (the committed icon among them) into `into`, and return the manifest."""
    for name in BUNDLE_FILES:
        shutil.copy2(ROOT / name, into / name)
    for name in BUNDLE_DIRS:
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    manifest: dict[str, Any] = json.loads((into / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("icon") != ICON.name:
        raise SystemExit(f"manifest.json: icon must be {ICON.name}, the committed one")
    return manifest


def npx(*args: str) -> None:
    subprocess.run(["npx", "-y", MCPB, *args], check=True, stdin=subprocess.DEVNULL)


def build(out_dir: Path) -> Path:
    """Check, stage, validate and pack the bundle; return the .mcpb's path."""
    subprocess.run([uv_command(), "lock", "--check", "--offline", "--directory", str(ROOT)], check=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / bundle_name(__version__)
    with tempfile.TemporaryDirectory(prefix="snapshot-mcp-bundle-") as tmp:
        staging = Path(tmp)
        check_manifest(stage(staging))
        npx("validate", str(staging / "manifest.json"))
        npx("pack", str(staging), str(target))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.build_bundle", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    print(build(args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
