"""browser/page.py: what each request to the confirmation page may ask, and the headers of every answer.

These drive `Page.respond` directly (no socket): the Host, Origin, method, path and
body checks, and that every refusal writes exactly one audit line. The same rules over
a real loopback socket, and the page in a real browser, are in browser/test_listener.py
and campaigns/test_browser_page_in_chromium.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from snapshot_mcp.browser.page import (
    DECIDE_PATH,
    PAGE_PATH,
    STATE_PATH,
    Incoming,
    Outgoing,
    Page,
    page_html,
    page_policy,
)
from snapshot_mcp.confirm import install_audit_handler
from tests.support import REQUEST_ID, SECRET, Desk, audit_lines

PORT = 43210


HOST = f"127.0.0.1:{PORT}"


ORIGIN = f"http://{HOST}"


def get(path: str = PAGE_PATH, **headers: str) -> Incoming:
    return Incoming("GET", path, {"host": HOST, **headers})


def post(path: str, body: Any = None, **headers: str) -> Incoming:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    given = {"host": HOST, "origin": ORIGIN, "content-type": "application/json", **headers}
    return Incoming("POST", path, {k: v for k, v in given.items() if v}, raw)


def ask(**extra: str) -> dict[str, str]:
    return {"request_id": REQUEST_ID, "secret": SECRET, **extra}


def header(outgoing: Outgoing, name: str) -> str | None:
    return dict(outgoing.headers).get(name)


@pytest.fixture(autouse=True)
def _audit() -> None:
    install_audit_handler()


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def page(desk: Desk) -> Page:
    return Page(desk, PORT)


async def test_get_serves_the_page_with_a_strict_policy(page: Page) -> None:
    """GET /: the page; CSP allows nothing external, inline code only by hash; no framing, caching or referrer."""
    answer = await page.respond(get())
    assert answer.status == 200
    assert answer.content_type == "text/html; charset=utf-8"
    policy = header(answer, "Content-Security-Policy") or ""
    assert policy.startswith("default-src 'none'; ")
    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "http" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]+=*';", policy)
    assert header(answer, "X-Frame-Options") == "DENY"
    assert header(answer, "Cache-Control") == "no-store"
    assert header(answer, "Referrer-Policy") == "no-referrer"


def test_the_page_loads_nothing_and_writes_data_only_as_text() -> None:
    """No URL to anywhere, no innerHTML or eval; API fields go through textContent."""
    html = page_html()
    assert not re.search(r"(src|href)\s*=", html)
    assert "http://" not in html
    assert "https://" not in html
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert forbidden not in html
    assert "textContent" in html
    assert page_policy(html).count("'sha256-") == 2


async def test_every_answer_forbids_framing_caching_and_referrers(page: Page) -> None:
    """The JSON answers and the refusals carry the same headers as the page."""
    for answer in (await page.respond(post(STATE_PATH, ask())), await page.respond(get(STATE_PATH))):
        assert header(answer, "X-Frame-Options") == "DENY"
        assert header(answer, "Cache-Control") == "no-store"
        assert header(answer, "Referrer-Policy") == "no-referrer"
        assert "frame-ancestors 'none'" in (header(answer, "Content-Security-Policy") or "")


async def test_state_and_decide_reach_the_desk_with_id_and_secret(page: Page, desk: Desk) -> None:
    """A well-formed POST from the page reaches the confirmation core, secret included."""
    looked = await page.respond(post(STATE_PATH, ask()))
    decided = await page.respond(post(DECIDE_PATH, ask(decision="keep")))
    assert (looked.status, json.loads(looked.body)) == (200, {"status": "pending"})
    assert (decided.status, json.loads(decided.body)) == (200, {"outcome": "keep"})
    assert desk.looks == [(REQUEST_ID, SECRET)]
    assert desk.decisions == [(REQUEST_ID, SECRET, "keep")]


REFUSED: list[tuple[str, Incoming, int, str]] = [
    ("foreign-host", get(host="evil.example:43210"), 421, "foreign_host"),
    ("foreign-host-post", post(DECIDE_PATH, ask(decision="delete"), host=f"evil.example:{PORT}"), 421, "foreign_host"),
    ("localhost-name", post(DECIDE_PATH, ask(decision="delete"), host=f"localhost:{PORT}"), 421, "foreign_host"),
    ("other-port", post(DECIDE_PATH, ask(decision="delete"), host="127.0.0.1:1"), 421, "foreign_host"),
    ("no-host", Incoming("GET", "/", {}), 421, "foreign_host"),
    ("foreign-origin", post(DECIDE_PATH, ask(decision="delete"), origin="https://evil.example"), 403, "foreign_origin"),
    ("null-origin", post(DECIDE_PATH, ask(decision="delete"), origin="null"), 403, "foreign_origin"),
    ("foreign-origin-get", get(origin="https://evil.example"), 403, "foreign_origin"),
    ("no-origin", post(DECIDE_PATH, ask(decision="delete"), origin=""), 403, "no_origin"),
    ("get-decide", get(f"{DECIDE_PATH}?request_id={REQUEST_ID}&secret={SECRET}&decision=delete"), 405, "not_a_post"),
    ("get-state", get(STATE_PATH), 405, "not_a_post"),
    ("other-path", get("/admin"), 404, "no_such_path"),
    ("put", Incoming("PUT", DECIDE_PATH, {"host": HOST, "origin": ORIGIN}), 405, "not_a_post"),
    ("form-post", post(DECIDE_PATH, ask(decision="delete"), **{"content-type": "text/plain"}), 415, "not_json"),
    ("not-json", post(DECIDE_PATH, b"request_id=x"), 400, "bad_body"),
    ("json-list", post(DECIDE_PATH, [REQUEST_ID, SECRET]), 400, "bad_body"),
    ("bad-id", post(DECIDE_PATH, {"request_id": "../etc", "secret": SECRET, "decision": "delete"}), 400, "bad_body"),
    ("no-secret", post(DECIDE_PATH, {"request_id": REQUEST_ID, "decision": "delete"}), 403, "no_secret"),
    ("empty-secret", post(DECIDE_PATH, ask(secret="", decision="delete")), 403, "no_secret"),
    ("odd-secret", post(DECIDE_PATH, ask(secret="<script>", decision="delete")), 403, "bad_secret"),
    ("other-decision", post(DECIDE_PATH, ask(decision="confirm")), 400, "bad_decision"),
]


@pytest.mark.parametrize(("case", "incoming", "status", "reason"), REFUSED, ids=[row[0] for row in REFUSED])
async def test_refusals_reach_nothing_and_write_one_audit_line(
    page: Page, desk: Desk, case: str, incoming: Incoming, status: int, reason: str
) -> None:
    """Each refused request: its status, nothing reaches the desk, one audit line `channel=browser` naming why."""
    with audit_lines() as lines:
        answer = await page.respond(incoming)
    assert answer.status == status
    assert json.loads(answer.body) == {"status": "refused"}
    assert desk.looks == []
    assert desk.decisions == []
    [line] = lines.lines
    assert "channel=browser outcome=refused" in line
    assert f'detail="{reason}"' in line
    assert SECRET not in line


async def test_the_favicon_is_answered_empty_without_an_audit_line(page: Page) -> None:
    """The browser's own favicon request is not somebody deciding: 204, no audit line."""
    with audit_lines() as lines:
        answer = await page.respond(get("/favicon.ico"))
    assert answer.status == 204
    assert lines.lines == []


async def test_a_query_string_does_not_change_the_page(page: Page, desk: Desk) -> None:
    """GET /?decision=delete&secret=… is the page itself: a GET never reaches the desk."""
    answer = await page.respond(get(f"/?request_id={REQUEST_ID}&secret={SECRET}&decision=delete"))
    assert answer.status == 200
    assert desk.looks == []
    assert desk.decisions == []
