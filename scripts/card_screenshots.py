"""Draw the README's pictures of the confirmation card, light and dark, in the official MCP Apps host.

    python -m scripts.card_screenshots [--out DIR]

The card is shown exactly as the browser tests show it (`tests/apps_host.py`: AppBridge
from @modelcontextprotocol/ext-apps in Debian's Chromium, the server on the simulator),
waiting for a decision on one seeded snapshot. Needs `npm ci --prefix tests/host` and
Debian's chromium (bash .ci/run installs both). Writes docs/confirmation-card.png and
docs/confirmation-card-dark.png unless told another folder.
"""

import argparse
from pathlib import Path
from typing import Any

import anyio
from pydantic import SecretStr

from snapshot_mcp.settings import DEFAULT_ENDPOINT, Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import SEED_ID, connect  # the test harness, as the tests use it
from tests.support.apps_host import DARK, LIGHT, official_host

ROOT = Path(__file__).resolve().parent.parent

SCREENSHOTS = {
    "light": ROOT / "docs" / "confirmation-card.png",
    "dark": ROOT / "docs" / "confirmation-card-dark.png",
}
"""Where the README's pictures live, by the host's theme."""
CONTEXTS: dict[str, dict[str, Any]] = {"light": LIGHT, "dark": DARK}


async def draw(out: Path) -> list[Path]:
    """One picture per theme in `out`, named as in docs/; the paths written."""
    settings = Settings(token=SecretStr(DEFAULT_TOKEN), endpoint=DEFAULT_ENDPOINT)
    written = []
    for theme, target in SCREENSHOTS.items():
        async with connect(settings, Simulator(), apps=True) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            arguments = {"snapshot_id": SEED_ID}
            async with official_host(client, result, arguments, context=CONTEXTS[theme]) as host:
                await host.wait_status("Waiting for your decision")
                await host.settled()
                await host.screenshot(out / target.name)
        written.append(out / target.name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.card_screenshots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    out: Path = parser.parse_args().out
    for path in anyio.run(draw, out):
        print(path)


if __name__ == "__main__":
    main()
