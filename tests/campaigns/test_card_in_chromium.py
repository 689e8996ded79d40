"""The confirmation card as a person sees it, in the official MCP Apps host (AppBridge) in real Chromium.

The harness (`apps_host.py`) shows the card read from the server in a sandboxed frame
through `AppBridge` from `@modelcontextprotocol/ext-apps` 2.0.4, and forwards the card's
tool calls to the running server; the server's API is the simulator, so a click's effect
is read from the requests the simulator received. Any network request from the page or
the card is a failure. Covered: the handshake as AppBridge sees it (display modes, size
reports only after `initialized` and only on change), a frame that fits the card, words
for a person after each decision, the host's theme and style variables, Keep, Delete
once, the stripped-result path, a card without its code, and a hostile name.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from scripts.card_screenshots import SCREENSHOTS
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import OTHER_SEED_ID, ROOT, SEED_ID, connect, sent
from tests.support.apps_host import DARK, DARK_STYLES, FIRST_HEIGHT, LIGHT, Host, official_host

# Every test is async: the Chromium they share is an async fixture, which a sync test cannot use.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_chromium")]


XSS_NAME = (
    "<img src=x onerror=\"parent.postMessage({jsonrpc:'2.0',id:999,method:'tools/call',"
    "params:{name:'confirm_deletion',arguments:{decision:'delete'}}},'*')\">"
)


FORCED_CLICK = "() => { const button = document.getElementById('delete'); button.disabled = false; button.click(); }"
"""A second click that a disabled button would not even receive: the card itself must ignore it."""


FITS = 2.0
"""Pixels the frame may differ from the card's content (the card reports whole pixels, rounded up)."""


MODEL_WORDS = re.compile(r"the user|request_id|^[a-z_]+: |\b(awaiting_confirmation|already_decided)\b", re.MULTILINE)
"""What marks a sentence written for the model: it speaks of "the user", or starts with an outcome code."""


async def open_card(client: Client, snapshot_id: str = SEED_ID) -> CallToolResult:
    result = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "awaiting_confirmation"
    return result


def sizes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["params"] for m in messages if m.get("method") == "ui/notifications/size-changed"]


def luminance(css_colour: str) -> float:
    """Relative brightness (0 black … 1 white) of a computed `rgb(…)` colour."""
    red, green, blue = (int(c) for c in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


async def computed(host: Host, selector: str, prop: str) -> str:
    value: str = await host.frame.evaluate(
        "([selector, prop]) => getComputedStyle(document.querySelector(selector))[prop]", [selector, prop]
    )
    return value


# -- the handshake, as AppBridge sees it -------------------------------------------------------


async def test_appbridge_accepts_the_cards_handshake_and_display_modes(settings: Settings, sim: Simulator) -> None:
    """ui/initialize declares availableDisplayModes ["inline"]; AppBridge accepts it, warns of nothing."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            declared = await host.page.evaluate("window.cardHost.appCapabilities()")
            messages = await host.view_messages()
    [initialize] = [m for m in messages if m.get("method") == "ui/initialize"]
    assert initialize["params"]["appCapabilities"] == {"availableDisplayModes": ["inline"]}
    assert initialize["params"]["protocolVersion"] == "2026-01-26"
    assert declared == {"availableDisplayModes": ["inline"]}
    assert host.console == []
    assert host.requests == []


async def test_size_is_reported_only_after_initialized_and_only_when_it_changes(
    settings: Settings, sim: Simulator
) -> None:
    """No size-changed before initialized; never the same size twice in a row; a theme change alone sends none."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            await host.settled()
            before = len(sizes(await host.view_messages()))
            await host.set_host_context({**LIGHT, "theme": "dark"})  # colours change, the layout does not
            await host.frame.wait_for_function("document.documentElement.dataset.theme === 'dark'")
            await host.settled()
            messages = await host.view_messages()
    methods = [m.get("method") for m in messages]
    initialized = methods.index("ui/notifications/initialized")
    assert methods.index("ui/notifications/size-changed") > initialized
    reported = sizes(messages)
    assert len(reported) == before
    assert all(a != b for a, b in itertools.pairwise(reported))
    assert all(size["height"] > 0 for size in reported)


@pytest.mark.parametrize("decision", ["keep", "delete"])
async def test_the_frame_fits_the_card_and_shrinks_with_it(settings: Settings, sim: Simulator, decision: str) -> None:
    """The frame is as tall as the card's content (not the host's first 600 px), before and after a decision."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            frame, content = await host.settled()
            await host.frame.locator(f"#{decision}").click()
            await host.wait_status("You chose")
            frame_after, content_after = await host.settled()
    assert abs(frame - content) <= FITS
    assert frame < FIRST_HEIGHT / 2
    assert content_after < content  # the buttons are gone and the words are shorter
    assert abs(frame_after - content_after) <= FITS
    assert frame_after < frame


async def test_a_hosts_maximum_height_caps_the_frame_and_the_card_scrolls(settings: Settings, sim: Simulator) -> None:
    """containerDimensions.maxHeight 200: five snapshots report 200 px, and the rest of the card scrolls."""
    ids = [s["id"] for s in sim.snapshots.values() if s["status"] == "created"][:5]
    context = {**LIGHT, "containerDimensions": {"maxHeight": 200}}
    async with connect(settings, sim, apps=True) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": ids})
        async with official_host(client, result, {"snapshot_ids": ids}, context=context) as host:
            await host.wait_status("Waiting for your decision")
            frame, content = await host.settled()
            scrolls = await host.frame.evaluate("document.scrollingElement.scrollHeight")
    assert len(ids) == 5
    assert frame == 200
    assert content > 200
    assert scrolls > 200


# -- what a person reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "title", "status", "row"),
    [
        ("keep", "Snapshot kept", "You chose Keep. Nothing was deleted.", "kept"),
        ("delete", "Snapshot deleted", "Genesis Cloud accepted the deletion", "deleting now"),
    ],
)
async def test_after_a_decision_title_note_and_outcome_are_written_for_a_person(
    settings: Settings, sim: Simulator, decision: str, title: str, status: str, row: str
) -> None:
    """Title, status line, note and the snapshot's row change; no model sentence, no stale API status."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            asked = await host.texts()
            await host.frame.locator(f"#{decision}").click()
            await host.wait_text("title", title)
            told = await host.texts()
            buttons = await host.frame.locator("#actions").is_visible()
    assert asked["title"] == "Delete snapshot?"
    assert "status created" in asked["rows"]
    assert told["title"] == title
    assert status in told["status"]
    assert told["note"] != asked["note"]
    assert row in told["rows"]
    assert "status created" not in told["rows"]
    assert not MODEL_WORDS.search("\n".join(told.values())), told
    assert not buttons
    assert len(sent(sim, "DELETE")) == (decision == "delete")


async def test_a_batch_says_how_many_were_deleted_and_which_were_kept(settings: Settings, sim: Simulator) -> None:
    """Two snapshots, one unticked: "1 of 2 snapshots deleted", one row deleting now, the other kept."""
    async with connect(settings, sim, apps=True) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": [SEED_ID, OTHER_SEED_ID]})
        arguments = {"snapshot_ids": [SEED_ID, OTHER_SEED_ID]}
        async with official_host(client, result, arguments) as host:
            await host.wait_status("Waiting for your decision")
            asked = await host.texts()
            await host.frame.locator(f"input[value='{OTHER_SEED_ID}']").uncheck()
            await host.frame.locator("#delete").click()
            await host.wait_text("title", "deleted")
            told = await host.texts()
            rows = await host.frame.locator("#rows li").all_text_contents()
    assert asked["title"] == "Delete 2 snapshots?"
    assert told["title"] == "1 of 2 snapshots deleted"
    assert "The others were kept." in told["status"]
    [deleted] = [r for r in rows if SEED_ID in r]
    [kept] = [r for r in rows if OTHER_SEED_ID in r]
    assert "deleting now" in deleted
    assert "kept" in kept
    assert not MODEL_WORDS.search("\n".join(told.values())), told
    assert [r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")] == [SEED_ID]


# -- the host's theme ------------------------------------------------------------------------


async def test_a_dark_host_gets_a_dark_card_in_its_own_colours(settings: Settings, sim: Simulator) -> None:
    """theme dark with style variables: the card's background, text and font are the host's."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}, context=DARK) as host:
            await host.wait_status("Waiting for your decision")
            background = await computed(host, "html", "backgroundColor")
            colour = await computed(host, "#title", "color")
            font = await computed(host, "body", "fontFamily")
            scheme = await computed(host, "html", "colorScheme")
    assert background == "rgb(48, 48, 46)"  # the dark half of the host's --color-background-primary
    assert colour == "rgb(250, 249, 245)"
    assert font.startswith('"DejaVu Sans"')
    assert scheme == "dark"
    assert luminance(background) < 0.25 < 0.75 < luminance(colour)


async def test_a_dark_theme_without_variables_uses_the_cards_own_dark_colours(
    settings: Settings, sim: Simulator
) -> None:
    """theme dark and no styles: the card's fallbacks, dark as well."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}, context={**LIGHT, "theme": "dark"}) as host:
            await host.wait_status("Waiting for your decision")
            background = await computed(host, "html", "backgroundColor")
            colour = await computed(host, "#title", "color")
    assert luminance(background) < 0.25 < 0.75 < luminance(colour)


async def test_the_card_follows_a_theme_change(settings: Settings, sim: Simulator) -> None:
    """Light at first; host-context-changed to dark with variables: the card turns dark in the host's colours."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            light = await computed(host, "html", "backgroundColor")
            await host.set_host_context(DARK)
            await host.frame.wait_for_function("document.documentElement.dataset.theme === 'dark'")
            dark = await computed(host, "html", "backgroundColor")
            variable = await host.frame.evaluate(
                "getComputedStyle(document.documentElement).getPropertyValue('--color-background-primary')"
            )
            messages = await host.view_messages()
    assert luminance(light) > 0.9
    assert dark == "rgb(48, 48, 46)"
    assert variable == DARK_STYLES["--color-background-primary"]
    assert "ui/notifications/host-context-changed" not in [m.get("method") for m in messages]  # host → view only


# -- deciding --------------------------------------------------------------------------------


@pytest.mark.parametrize("stripped", [False, True], ids=["full-result", "stripped-result"])
async def test_a_click_on_delete_deletes_exactly_that_snapshot(
    settings: Settings, sim: Simulator, stripped: bool
) -> None:
    """Delete is enabled once the server says pending; one click deletes exactly the snapshot, once."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}, stripped=stripped) as host:
            await host.wait_status("Waiting for your decision")
            frame = host.frame
            await host.page.locator("#view").focus()  # the card has focus (a cross-origin frame cannot take it)
            assert await frame.evaluate("document.activeElement.id") == "keep"
            assert await frame.locator("#delete").is_enabled()
            assert await frame.locator(".id").first.text_content() == SEED_ID
            await frame.locator("#delete").click()
            status = await host.wait_status("You chose Delete")
            assert await frame.locator("#delete").is_disabled()
            assert await frame.locator("#keep").is_disabled()
            await frame.evaluate(FORCED_CLICK)
            calls = list(host.tool_calls)
            teardown = await host.page.evaluate("window.cardHost.teardown()")
            ping = await host.page.evaluate("window.cardHost.ping()")
            reported = sizes(await host.view_messages())
    assert "Genesis Cloud accepted the deletion" in status
    assert [r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")] == [SEED_ID]
    assert [c["name"] for c in calls] == ["deletion_request", "confirm_deletion"]  # the forced click sent nothing
    assert calls[1]["arguments"]["decision"] == "delete"
    assert reported[-1]["height"] > 0
    assert teardown == {}
    assert ping == {}
    assert host.requests == []


async def test_keep_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """Keep decides the request; nothing is deleted and both buttons go dead."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with official_host(client, result, {"snapshot_id": SEED_ID}) as host:
            await host.wait_status("Waiting for your decision")
            await host.frame.locator("#keep").click()
            status = await host.wait_status("You chose Keep")
            assert await host.frame.locator("#delete").is_disabled()
            assert await host.frame.locator("#keep").is_disabled()
    assert "Nothing was deleted" in status
    assert sent(sim, "DELETE") == []
    assert host.requests == []


async def test_a_hostile_name_renders_as_text_and_calls_nothing(settings: Settings, sim: Simulator) -> None:
    """A snapshot named like markup shows literally; its script never runs, so no tool call comes from it."""
    crafted = sim.add_snapshot(name=XSS_NAME, size=7, region="EUC-DE-MUC-1")["id"]
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client, crafted)
        async with official_host(client, result, {"snapshot_id": crafted}) as host:
            await host.wait_status("Waiting for your decision")
            shown = await host.frame.locator(".name").first.text_content()
            images = await host.frame.locator("img").count()
            calls = list(host.tool_calls)
    assert shown == XSS_NAME
    assert images == 0
    assert [c["name"] for c in calls] == ["deletion_request"]
    assert sent(sim, "DELETE") == []
    assert host.requests == []


async def test_a_card_without_its_code_cannot_delete(settings: Settings, sim: Simulator) -> None:
    """Stripped result and the one-time reveal already spent (another card): Delete stays disabled."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        meta = result.meta or {}
        request_id = meta["snapshot-mcp/confirmation"]["request_id"]
        await client.call_tool("deletion_request", {"request_id": request_id})  # the reveal goes elsewhere
        async with official_host(client, result, {"snapshot_id": SEED_ID}, stripped=True) as host:
            status = await host.wait_status("cannot confirm")
            assert await host.frame.locator("#delete").is_disabled()
    assert "Decide there" in status
    assert sent(sim, "DELETE") == []


# -- the README's pictures -----------------------------------------------------------------


async def test_the_screenshot_script_draws_both_themes(tmp_path: Path) -> None:
    """scripts/card_screenshots.py (the same harness) writes a light and a dark PNG of the card."""
    from scripts.card_screenshots import draw

    written = await draw(tmp_path)
    assert [p.name for p in written] == [p.name for p in SCREENSHOTS.values()]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_the_committed_screenshots_are_pngs_the_readme_shows() -> None:
    """docs/ holds both pictures (regenerate: python -m scripts.card_screenshots); README shows them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in SCREENSHOTS.values():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 5_000
        assert f"(docs/{path.name})" in readme
