"""The browser page for real: the stdio server process opens it, headless Chromium shows it, a click decides.

The installed `snapshot-mcp --simulate` runs as a subprocess, spoken to over stdio by
the official client. Its `BROWSER` is a small script that hands the address it is given
to this test (over a loopback socket) and also prints it to its own stdout: had the
server lent the script its stdout, that line would sit in the JSON-RPC stream. Every
byte the server writes to stdout is copied to a file on the way (`TEE`), and each line
must be a JSON-RPC message. The test then opens the address in Debian's Chromium
(through Playwright, as test_card_in_chromium.py does) and clicks like a person.

What reached the API, and every audit line, is read from the server's stderr
(`--log-level DEBUG`). After each session, neither the page's address nor its secret
may appear in anything the model or a log could see: results, progress messages,
stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import TaskGroup
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from tests.support import (
    APPS,
    CONFIRMATION_META,
    MARKER,
    MODES,
    OTHER_SEED_ID,
    ROOT,
    SEED_ID,
    THIRD_SEED_ID,
    BrowserScript,
    Page,
    text_of,
)
from tests.support.apps_host import browser
from tests.support.processes import SCRIPT, ServerLog, base_env, stdio

# a server subprocess per test; one Chromium per module (each test in contexts of its own)
# Every test is async: the Chromium they share is an async fixture, which a sync test cannot use.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_chromium")]


SCREENSHOT = ROOT / "docs" / "browser-page.png"


IN_BROWSER = {"snapshot_id": SEED_ID, "ask_in_browser": True}


TEE = """
import subprocess, sys
copy = open(sys.argv[1], "wb")
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE)
for line in child.stdout:
    copy.write(line)
    copy.flush()
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
sys.exit(child.wait())
"""
"""Runs the server with its stdout through a pipe, copying every line to a file and on to the client."""


@dataclass
class Session:
    """One server process and what was seen of it."""

    client: Client
    addresses: BrowserScript
    log: ServerLog
    stdout_copy: Path
    results: list[CallToolResult] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append(f"{progress}/{total} {message}")

        result = await self.client.call_tool(tool, arguments, progress_callback=on_progress)
        self.results.append(result)
        return result

    def seen_by_a_model_or_a_log(self) -> str:
        shown = [result.model_dump_json(by_alias=True) for result in self.results]
        return "\n".join([*shown, *self.progress, self.log.path.read_text(encoding="utf-8")])


@asynccontextmanager
async def serving(tmp_path: Path, *args: str, mode: str = "auto", **client: Any) -> AsyncIterator[Session]:
    """`snapshot-mcp --simulate` over stdio with BROWSER set to the hand-off script; checks stdout and leaks after."""
    async with anyio.create_task_group() as tasks:
        addresses = BrowserScript(tmp_path)
        await addresses.listen(tasks)
        log, stdout_copy = ServerLog(tmp_path / "stderr.log"), tmp_path / "stdout.jsonl"
        command = [str(SCRIPT), "--simulate", "--log-level", "DEBUG", *args]
        params = StdioServerParameters(
            command=sys.executable,
            args=["-c", TEE, str(stdout_copy), *command],
            env=base_env(BROWSER=addresses.command),
        )
        with log.path.open("w") as errlog, anyio.fail_after(120):
            async with Client(stdio_client(params, errlog=errlog), mode=mode, **client) as connected:
                session = Session(connected, addresses, log, stdout_copy)
                yield session
        tasks.cancel_scope.cancel()
    _assert_stdout_is_only_jsonrpc(stdout_copy)
    _assert_nothing_leaked(session)


def _assert_stdout_is_only_jsonrpc(copy: Path) -> None:
    lines = copy.read_bytes().splitlines()
    assert lines, "the copy holds the session's stdout"
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line
    assert MARKER.encode() not in copy.read_bytes()


def _assert_nothing_leaked(session: Session) -> None:
    visible = session.seen_by_a_model_or_a_log()
    assert "Traceback" not in visible
    for address in session.addresses.received:
        page = Page.of(address)
        assert page.secret not in visible
        assert f"127.0.0.1:{page.port}" not in visible


async def status_says(page: Any, words: str) -> str:
    await page.wait_for_function(
        "(words) => document.getElementById('status').textContent.includes(words)", arg=words, timeout=20_000
    )
    text: str = await page.locator("#status").text_content()
    return text


@asynccontextmanager
async def chromium_page() -> AsyncIterator[tuple[Any, list[str]]]:
    """A fresh headless Chromium page, and every URL and header it sent."""
    async with browser() as chromium:
        context = await chromium.new_context(viewport={"width": 820, "height": 520})
        page = await context.new_page()
        sent: list[str] = []
        page.on("request", lambda request: sent.append(request.url + " " + json.dumps(request.headers)))
        try:
            yield page, sent
        finally:
            await context.close()


def outcome(result: CallToolResult) -> str:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return str(result.structured_content["outcome"])


async def in_background(tasks: TaskGroup, session: Session, tool: str, arguments: dict[str, Any]) -> list[Any]:
    """Start a (waiting) tool call; its result lands in the returned list."""
    results: list[Any] = []

    async def call() -> None:
        results.append(await session.call(tool, arguments))

    tasks.start_soon(call)
    return results


# --------------------------------------------------------------------------- a person decides


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_card_or_form_deletes_after_a_click_in_the_browser(tmp_path: Path, mode: str) -> None:
    """Default settings, a client declaring neither Apps nor a form: the page opens, shows the facts first,
    Keep has the focus; Delete deletes that snapshot once; the page and the call say so; stdout stays clean."""
    async with serving(tmp_path, mode=mode) as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
        address = await session.addresses.address()
        async with chromium_page() as (page, sent):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            assert await page.evaluate("document.activeElement.id") == "keep"
            assert await page.evaluate("location.hash") == "", "the secret leaves the address bar"
            facts = await page.locator("#rows li .facts").first.text_content()
            name = await page.locator("#rows li .name").first.text_content()
            if mode == "auto":
                target = SCREENSHOT if os.environ.get("UPDATE_SNAPSHOTS") else tmp_path / SCREENSHOT.name
                await page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 820, "height": 380})
            await page.locator("#delete").click()
            said = await status_says(page, "You can close this tab")
            title = await page.locator("#title").text_content()
            assert await page.locator("#delete").is_disabled()
    [result] = results
    assert outcome(result) == "deleted"
    assert "in their browser" in text_of(result)
    assert facts is not None
    assert facts.startswith(f"{SEED_ID} · 64 GiB · NORD-NO-KRS-1 · status created · created ")
    assert name == "ubuntu-22.04-cuda-12.4"
    assert title == "Deleted"
    assert said.startswith("Deleted.")
    assert session.log.deletes() == [SEED_ID]
    assert session.log.audit() == ["deleting", "reported_deleted"]
    page_secret = Page.of(address).secret
    assert all(page_secret not in line for line in sent), "the secret is never in a request line or header"
    assert all(line.startswith(f"http://127.0.0.1:{Page.of(address).port}/") for line in sent), "nothing external"


async def test_ask_in_browser_after_a_card_opens_the_same_request(tmp_path: Path) -> None:
    """A client declaring MCP Apps gets the card; its person sees none, so the model asks again with
    ask_in_browser=true: the page shows the card's own request, and one click deletes it, once."""
    async with serving(tmp_path, extensions=[APPS]) as session, anyio.create_task_group() as tasks:
        card = await session.call("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(card) == "awaiting_confirmation"
        assert session.addresses.received == [], "nothing opens while the card is the channel"
        results = await in_background(
            tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID, "ask_in_browser": True}
        )
        address = await session.addresses.address()
        async with chromium_page() as (page, _):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            await page.locator("#delete").click()
            await status_says(page, "You can close this tab")
    assert card.structured_content is not None
    assert Page.of(address).request_id == card.structured_content["request_id"]
    assert outcome(results[0]) == "deleted"
    assert session.log.deletes() == [SEED_ID]


async def test_a_request_decided_in_the_card_shows_so_on_the_page(tmp_path: Path) -> None:
    """The page is open and waiting; the person decides in the card instead: the page learns it and says it was
    answered elsewhere, the waiting call reports the card's decision, and nothing is deleted twice."""
    async with serving(tmp_path, extensions=[APPS]) as session, anyio.create_task_group() as tasks:
        card = await session.call("delete_snapshot", {"snapshot_id": SEED_ID})
        assert card.meta is not None
        meta = card.meta[CONFIRMATION_META]
        results = await in_background(
            tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID, "ask_in_browser": True}
        )
        address = await session.addresses.address()
        async with chromium_page() as (page, _):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            click = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
            assert outcome(await session.call("confirm_deletion", click)) == "deleted"
            said = await status_says(page, "already answered elsewhere")
            assert await page.locator("#delete").is_disabled()
    assert "You can close this tab" in said
    assert outcome(results[0]) == "deleted"
    assert "in the card" in text_of(results[0])
    assert session.log.deletes() == [SEED_ID]


async def test_keep_in_the_browser_deletes_nothing(tmp_path: Path) -> None:
    """Keep: the page says kept and nothing was deleted; the call says kept; no DELETE."""
    async with serving(tmp_path) as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
        address = await session.addresses.address()
        async with chromium_page() as (page, _):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            await page.keyboard.press("Enter")  # Keep has the focus: Enter keeps
            said = await status_says(page, "Nothing was deleted")
    assert outcome(results[0]) == "kept"
    assert said.startswith("Kept.")
    assert session.log.deletes() == []


async def test_a_batch_page_lists_every_snapshot_and_deletes_them_once(tmp_path: Path) -> None:
    """delete_snapshots: the page lists each snapshot completely with the total; Delete deletes each once."""
    ids = [SEED_ID, OTHER_SEED_ID, THIRD_SEED_ID]
    async with serving(tmp_path) as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshots", {"snapshot_ids": ids})
        address = await session.addresses.address()
        async with chromium_page() as (page, _):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            rows = await page.locator("#rows li .id").all_text_contents()
            total = await page.locator("#total").text_content()
            title = await page.locator("#title").text_content()
            await page.locator("#delete").click()
            await status_says(page, "You can close this tab")
    assert rows == ids
    assert title == "Delete these 3 snapshots?"
    assert total is not None
    assert total.startswith("3 snapshots · ")
    assert outcome(results[0]) == "deleted"
    assert sorted(session.log.deletes()) == sorted(ids)


async def test_a_double_click_deletes_once(tmp_path: Path) -> None:
    """A double click on Delete sends one decision: one DELETE, and the buttons go dead."""
    async with serving(tmp_path) as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
        address = await session.addresses.address()
        async with chromium_page() as (page, sent):
            await page.goto(address)
            await status_says(page, "Waiting for your decision")
            await page.locator("#delete").dblclick()
            await status_says(page, "You can close this tab")
            assert await page.locator("#keep").is_disabled()
    decisions = [line for line in sent if "/decide " in line]
    assert len(decisions) == 1
    assert outcome(results[0]) == "deleted"
    assert session.log.deletes() == [SEED_ID]


async def test_the_page_says_expired_even_after_the_server_is_gone(tmp_path: Path) -> None:
    """No decision in time: the call answers awaiting_confirmation; the server stops; at the request's expiry
    the page, alone, says it expired and nothing was deleted."""
    page_open = anyio.Event()
    async with chromium_page() as (page, _):
        async with serving(tmp_path, "--elicitation-timeout", "1", "--card-timeout", "6") as session:
            async with anyio.create_task_group() as tasks:
                results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
                address = await session.addresses.address()
                await page.goto(address)
                await status_says(page, "Waiting for your decision")
                page_open.set()
            assert outcome(results[0]) == "awaiting_confirmation"
            assert "browser" in text_of(results[0])
        said = await status_says(page, "expired")
        title = await page.locator("#title").text_content()
        assert await page.locator("#delete").is_disabled()
    assert page_open.is_set()
    assert title == "Expired"
    assert "Nothing was deleted" in said
    assert session.log.deletes() == []


WRONG = {
    "tampered": ("{origin}/#{request_id}.{other}", "cannot decide", ["bad_nonce"]),
    "missing": ("{origin}/", "cannot decide", []),
    "unknown": ("{origin}/#{unknown}.{secret}", "does not know this request", []),
}


@pytest.mark.parametrize("fragment", list(WRONG))
async def test_a_wrong_missing_or_unknown_address_decides_nothing(tmp_path: Path, fragment: str) -> None:
    """An address whose secret was changed, that lost its fragment, or that names no request the server knows:
    the page says so in words and cannot delete; a tampered one is refused by the server (audited); the real
    page still decides afterwards."""
    async with serving(tmp_path, "--elicitation-timeout", "20") as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
        address = await session.addresses.address()
        real = Page.of(address)
        form, words, audited = WRONG[fragment]
        wrong = form.format(
            origin=real.origin, request_id=real.request_id, secret=real.secret, other="A" * 43, unknown="f" * 24
        )
        async with chromium_page() as (page, _):
            await page.goto(wrong)
            said = await status_says(page, words)
            assert await page.locator("#delete").is_disabled()
            other = await page.context.new_page()  # the real address, in a tab of its own
            await other.goto(address)
            await status_says(other, "Waiting for your decision")
            await other.locator("#keep").click()
            await status_says(other, "You can close this tab")
    assert "Nothing was deleted" in said
    assert outcome(results[0]) == "kept"
    assert session.log.deletes() == []
    assert [o for o in session.log.audit() if o == "bad_nonce"] == audited


async def test_foreign_host_origin_get_and_replay_are_refused_and_audited(tmp_path: Path) -> None:
    """On the live listener: a DNS-rebinding Host, a cross-site Origin, a GET of /decide and a POST without a
    secret are refused, each with one audit line; after the decision, a replayed POST does nothing more."""
    async with serving(tmp_path, "--elicitation-timeout", "20") as session, anyio.create_task_group() as tasks:
        results = await in_background(tasks, session, "delete_snapshot", {"snapshot_id": SEED_ID})
        address = await session.addresses.address()
        page = Page.of(address)
        decide = {"request_id": page.request_id, "secret": page.secret, "decision": "delete"}
        async with httpx.AsyncClient(base_url=page.origin) as http:
            rebound = await http.post("/decide", json=decide, headers={"Host": f"evil.example:{page.port}"})
            forged = await http.post("/decide", json=decide, headers={"Origin": "https://evil.example"})
            fetched = await http.get(f"/decide?request_id={page.request_id}&decision=delete")
            bare = await http.post("/decide", json={**decide, "secret": ""}, headers={"Origin": page.origin})
            assert session.log.deletes() == []
            done = await http.post("/decide", json=decide, headers={"Origin": page.origin})
            replay = await http.post("/decide", json=decide, headers={"Origin": page.origin})
    assert [r.status_code for r in (rebound, forged, fetched, bare)] == [421, 403, 405, 403]
    assert done.json()["outcome"] == "deleted"
    assert replay.json()["outcome"] == "already_decided"
    assert outcome(results[0]) == "deleted"
    assert session.log.deletes() == [SEED_ID]
    refusals = [line.split(" detail=")[1] for line in session.log.lines if "channel=browser outcome=refused" in line]
    assert refusals == ['"foreign_host"', '"foreign_origin"', '"not_a_post"', '"no_secret"']


async def test_the_committed_screenshot_is_a_png() -> None:
    """README shows the page as this file's first test renders it (refresh with UPDATE_SNAPSHOTS=1)."""
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux branch: macOS and Windows always have a browser")
async def test_without_a_display_or_browser_there_is_no_browser_rung(tmp_path: Path) -> None:
    """The server's environment has neither DISPLAY, WAYLAND_DISPLAY nor BROWSER (a terminal, TERM set): at
    default settings a client without card or form is refused as before, and ask_in_browser is not listed."""
    log = ServerLog(tmp_path / "stderr.log")
    with log.path.open("w") as errlog:
        async with stdio(["--simulate", "--log-level", "DEBUG"], base_env(TERM="xterm-256color"), errlog) as client:
            listed = json.dumps([tool.model_dump(by_alias=True) for tool in (await client.list_tools()).tools])
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert "Not deleted: this client can show neither" in text_of(result)
    assert "ask_in_browser" not in listed
    assert log.deletes() == []
    assert log.audit() == ["refused"]
