"""Build the MCP Bundle: dist/snapshot-mcp-<version>.mcpb.

    python scripts/build_bundle.py [--out DIR]

Stages manifest.json and the project's source under server/ (what `uvx --from
${__dirname}/server snapshot-mcp` installs on the user's machine), validates the
manifest with the MCP Bundle CLI and packs it. Needs Node.js with npx.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCPB = "@anthropic-ai/mcpb@2.1.2"
SERVER_FILES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md")
SERVER_DIRS = ("snapshot_mcp", "prompts")


def version() -> str:
    text = (ROOT / "snapshot_mcp" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("no __version__ in snapshot_mcp/__init__.py")
    return match.group(1)


def stage(into: Path) -> None:
    shutil.copy2(ROOT / "manifest.json", into / "manifest.json")
    server = into / "server"
    server.mkdir()
    for name in SERVER_FILES:
        shutil.copy2(ROOT / name, server / name)
    for name in SERVER_DIRS:
        shutil.copytree(ROOT / name, server / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def npx(*args: str) -> None:
    subprocess.run(["npx", "-y", MCPB, *args], check=True, stdin=subprocess.DEVNULL)


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"snapshot-mcp-{version()}.mcpb"
    with tempfile.TemporaryDirectory(prefix="snapshot-mcp-bundle-") as tmp:
        staging = Path(tmp)
        stage(staging)
        npx("validate", str(staging / "manifest.json"))
        npx("pack", str(staging), str(target))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    print(build(args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
