"""Tokens: what a model pays to read the tool definitions, and a listing.

    python -m bench.tokens [--write] [--wire]

Counted with the o200k_base encoding of the `bpe-openai` package, which ships its BPE
file (no download at run time). Deterministic, so CI compares them with
`tests/snapshots/token_figures.json` (`--write` updates that file).

* tools/list: the JSON of the `tools` array exactly as the server sends it (compact,
  UTF-8, shaped by the SDK's per-version serialiser `serialize_server_result`), for
  the default configuration (every declared tool, `snapshot_mcp.tools.DECLARATIONS`:
  the figure fails unless each of them is counted; the card and form channels), on the newest
  handshake-era protocol (2025-11-25); the 2026-07-28 form is counted too and the
  larger of the two is the figure. `--wire` also spawns `python -m snapshot_mcp` and
  checks that what arrives over stdio is byte-for-byte the same array.
* per snapshot: the text block of a 100-snapshot `list_snapshots` result (the simulator's
  12 seed snapshots and 88 generated ones), divided by 100, against the compact JSON of
  the same snapshots' six seed fields (id, name, size, region, status, created_at) as
  the API returns them, divided by 100.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import warnings
from typing import Any, Protocol, cast

import anyio
import httpx
from mcp import Client
from mcp_types import ListToolsResult, methods
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION
from pydantic import SecretStr

from snapshot_mcp.apps import is_app_only
from snapshot_mcp.browser.opener import A_PERSONS_COMPUTER
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from snapshot_mcp.tools import DECLARATIONS

from ._common import PROJECT_CMD, ROOT, TOKEN, Figure, StdioPeer, print_figures, server_env, spawn, write_json

ENCODING = "o200k_base"
TOOLS_TARGET = 2000
"""Every model-visible tool definition together (the whole snapshot lifecycle), default configuration."""
RATIO_TARGET = 0.7
LISTED = 100
SEED_FIELDS = ("id", "name", "size", "region", "status", "created_at")
FIGURES_PATH = ROOT / "tests" / "snapshots" / "token_figures.json"


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


@functools.cache
def encoding() -> _Encoding:
    """The o200k_base tokenizer (bpe-openai ships the BPE file: works offline)."""
    with warnings.catch_warnings():
        # bpe-openai 0.1.4 reads its data with importlib.resources.open_binary (deprecated), on import too.
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # type: ignore[import-untyped]  # no py.typed in bpe-openai 0.1.x

        return cast(_Encoding, bpe_openai.get_encoding(ENCODING))


def count(text: str, enc: _Encoding | None = None) -> int:
    return len((enc or encoding()).encode_ordinary(text))


def compact(data: object) -> str:
    """JSON as the SDK puts it on the wire: no spaces, UTF-8 kept as is."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _settings() -> Settings:
    return Settings(token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/compute/v1")


async def tools_array(version: str = LATEST_HANDSHAKE_VERSION) -> list[dict[str, Any]]:
    """The `tools` array of tools/list for the default configuration, shaped as the SDK sends it.

    That is the handler's result dumped, then passed through the protocol version's
    surface model (`serialize_server_result`), which also fixes the key order.
    """
    server = build_server(_settings(), desktop=A_PERSONS_COMPUTER)  # every argument listed
    visible = [tool for tool in await server.list_tools() if not is_app_only(tool)]  # what a model is shown
    dumped = ListToolsResult(tools=visible).model_dump(by_alias=True, mode="json", exclude_none=True)
    tools: list[dict[str, Any]] = methods.serialize_server_result("tools/list", version, dumped)["tools"]
    if [tool["name"] for tool in tools] != [declared.name for declared in DECLARATIONS]:
        raise RuntimeError("the figure would not count every declared tool: check the default settings")
    return tools


def wire_tools_array() -> list[dict[str, Any]]:
    """The `tools` array as it arrives over stdio from `python -m snapshot_mcp`."""
    # A BROWSER command that exists, so the server lists what a desktop user's does (only tools/list is asked).
    env = server_env("http://127.0.0.1:9/compute/v1", BROWSER=f"{sys.executable} %s")
    with spawn(PROJECT_CMD, env, stdin=True) as proc:
        peer = StdioPeer(proc)
        peer.initialize()
        tools: list[dict[str, Any]] = peer.request("tools/list", {})["result"]["tools"]
        return tools


async def listing() -> tuple[str, list[dict[str, Any]]]:
    """(the text block of a 100-snapshot list_snapshots, the API's JSON for those snapshots)."""
    sim = Simulator()
    sim.add_many(LISTED - len(sim.snapshots))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = (await http.get("http://sim/compute/v1/snapshots", params={"per_page": LISTED}, headers=_auth())).json()
        async with Client(build_server(_settings(), http=http)) as client:
            result = await client.call_tool("list_snapshots", {"per_page": LISTED})
    if result.is_error or not result.content or result.content[0].type != "text":
        raise RuntimeError(f"list_snapshots failed: {result.content}")
    snapshots: list[dict[str, Any]] = api["snapshots"]
    if len(snapshots) != LISTED:
        raise RuntimeError(f"expected {LISTED} snapshots, got {len(snapshots)}")
    return result.content[0].text, snapshots


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def figures_data() -> dict[str, Any]:
    """Every token figure, deterministic: what `tests/snapshots/token_figures.json` holds."""
    enc = encoding()
    tools = anyio.run(tools_array)
    modern = anyio.run(tools_array, LATEST_MODERN_VERSION)
    text, snapshots = anyio.run(listing)
    seed_json = compact([{k: s[k] for k in SEED_FIELDS} for s in snapshots])
    text_tokens, json_tokens = count(text, enc), count(seed_json, enc)
    return {
        "tokenizer": f"{ENCODING} (bpe-openai)",
        "tools_list_tokens": max(count(compact(tools), enc), count(compact(modern), enc)),
        "tools_list_tokens_by_version": {
            LATEST_HANDSHAKE_VERSION: count(compact(tools), enc),
            LATEST_MODERN_VERSION: count(compact(modern), enc),
        },
        "tools_list_bytes": len(compact(tools).encode()),
        "per_tool": {
            tool["name"]: {
                "total": count(compact(tool), enc),
                **{key: count(compact(value), enc) for key, value in tool.items()},
            }
            for tool in tools
        },
        "list_text_tokens": text_tokens,
        "list_seed_json_tokens": json_tokens,
        "list_snapshots": LISTED,
        "list_text_tokens_per_snapshot": round(text_tokens / LISTED, 2),
        "list_seed_json_tokens_per_snapshot": round(json_tokens / LISTED, 2),
        "list_ratio": round(text_tokens / json_tokens, 4),
    }


def run(*, wire: bool = False, write: bool = False) -> list[Figure]:
    logging.basicConfig(level=logging.WARNING, force=True)
    data = figures_data()
    if wire:
        arrived = compact(wire_tools_array())
        expected = compact(anyio.run(tools_array))
        if arrived != expected:
            raise RuntimeError("tools/list over stdio differs from the in-process serialisation")
        data["wire_checked"] = True
    if write:
        committed = {k: v for k, v in data.items() if k != "wire_checked"}
        write_json(FIGURES_PATH, committed)
        print(f"wrote {FIGURES_PATH.relative_to(ROOT)}")
    tools_tokens = data["tools_list_tokens"]
    ratio = data["list_ratio"]
    return [
        Figure(
            "tools_list_tokens",
            "tools/list, model-visible tools (o200k tokens)",
            "tokens",
            float(tools_tokens),
            None,
            None,
            f"<= {TOOLS_TARGET:,}",
            tools_tokens <= TOOLS_TARGET,
            detail={"per_tool": data["per_tool"], "bytes": data["tools_list_bytes"]},
        ),
        Figure(
            "list_tokens_per_snapshot",
            f"list_snapshots text per snapshot (of {LISTED})",
            "tokens",
            data["list_text_tokens_per_snapshot"],
            data["list_seed_json_tokens_per_snapshot"],
            ratio,
            f"<= {RATIO_TARGET:.2f}x",
            ratio <= RATIO_TARGET,
            baseline_label="seed-field JSON",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {FIGURES_PATH.relative_to(ROOT)}")
    parser.add_argument("--wire", action="store_true", help="also check the array that arrives over stdio")
    args = parser.parse_args()
    figures = run(wire=args.wire, write=args.write)
    print_figures(figures)
    for name, parts in figures[0].detail["per_tool"].items():
        print(f"  {name:<26} " + ", ".join(f"{k} {v}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
