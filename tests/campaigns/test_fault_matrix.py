"""Fault injection: every tool against every way the API (or the road to it) can fail.

Each cell of `MATRIX` runs one tool call through the protocol, in memory, against a
simulator that injects one fault into the requests of one HTTP method: either the
first two of them (transient) or all of them (lasting). The server uses the real
retry logic with millisecond pauses (`FAST_RETRY`: at most 4 attempts), so a cell is
bounded by its attempt count, which every cell asserts exactly. After each cell the
same connection must answer a normal call correctly (the server is alive), and an
identical create or delete must neither duplicate the import nor send a second DELETE
for a deletion the API already accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from mcp.types import CallToolResult
from pydantic import SecretStr

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, Simulator
from tests.support import (
    FAST_RETRY,
    GOOD_BODY,
    MODES,
    OTHER_SEED_ID,
    PREFIX,
    SEED_ID,
    Asker,
    connect,
    sent,
    text_of,
)

pytestmark = pytest.mark.slow  # campaigns: every tool x every fault, a soak, seeded random faults


LASTING = 1_000
"""A fault 'for good': more occurrences than any call can use up."""


TRANSIENT = 2
"""A passing fault: the first two requests of the method meet it."""


GOOD_CREATE: dict[str, Any] = {**GOOD_BODY, "name": "fault-matrix-image"}


@dataclass(frozen=True)
class Fault:
    """One way a request can fail, and the words its error result must contain."""

    words: tuple[str, ...]
    make: Callable[[int, frozenset[str]], Faults]


FAULTS: dict[str, Fault] = {
    "429+RA": Fault(("429",), lambda n, m: Faults(fail_first=n, fail_status=429, retry_after=0.01, fail_methods=m)),
    "429": Fault(("429",), lambda n, m: Faults(fail_first=n, fail_status=429, fail_methods=m)),
    "500": Fault(("500",), lambda n, m: Faults(fail_first=n, fail_status=500, fail_methods=m)),
    "502": Fault(("502",), lambda n, m: Faults(fail_first=n, fail_status=502, fail_methods=m)),
    "503": Fault(("503",), lambda n, m: Faults(fail_first=n, fail_status=503, fail_methods=m)),
    "504": Fault(("504",), lambda n, m: Faults(fail_first=n, fail_status=504, fail_methods=m)),
    "connect": Fault(("could not connect",), lambda n, m: Faults(connect_error_first=n, fail_methods=m)),
    "timeout": Fault(("did not answer in time",), lambda n, m: Faults(read_timeout_first=n, fail_methods=m)),
    "reset": Fault(("connection to the API failed", "ReadError"), lambda n, m: Faults(reset_first=n, fail_methods=m)),
    "json": Fault(("not valid JSON",), lambda n, m: Faults(garbage_first=n, fail_methods=m)),
    "html": Fault(("502", "HTML page"), lambda n, m: Faults(html_error_first=n, fail_methods=m)),
    "truncated": Fault(("not valid JSON",), lambda n, m: Faults(malformed_first=n, fail_methods=m)),
    "429+RA3600": Fault(
        ("429", "Retry after 3600s"),
        lambda n, m: Faults(fail_first=n, fail_status=429, retry_after=3600, fail_methods=m),
    ),
}


MATRIX = """
tool          429+RA 429    500   502    503    504    connect timeout reset   json    html   truncated 429+RA3600
list          ok3/e4 ok3/e4 e1/e1 ok3/e4 ok3/e4 ok3/e4 ok3/e4  ok3/e4  ok3/e4  ok3/e4  ok3/e4 ok3/e4    e1/e1
list_filtered ok3/e4 ok3/e4 e1/e1 ok3/e4 ok3/e4 ok3/e4 ok3/e4  ok3/e4  ok3/e4  ok3/e4  ok3/e4 ok3/e4    e1/e1
get           ok3/e4 ok3/e4 e1/e1 ok3/e4 ok3/e4 ok3/e4 ok3/e4  ok3/e4  ok3/e4  ok3/e4  ok3/e4 ok3/e4    e1/e1
create        ok3/e4 ok3/e4 e1/e1 e1/e1  e1/e1  e1/e1  ok3/e4  e1!/e1! e1!/e1! e1!/e1! e1/e1  e1!/e1!   e1/e1
delete        ok3/e4 ok3/e4 e1/e1 ok3/e4 ok3/e4 ok3/e4 ok3/e4  ok3/e4! ok3/e4! ok3/e4! ok3/e4 n/a       e1/e1
delete_lookup ok3/e4 ok3/e4 e1/e1 ok3/e4 ok3/e4 ok3/e4 ok3/e4  ok3/e4  ok3/e4  ok3/e4  ok3/e4 ok3/e4    e1/e1
"""
"""Expected outcome of each tool x fault, as `transient/lasting`.

Rows: `list` (one page), `list_filtered` (region filter: a scan of two pages, the fault
on page 1), `get`, `create` (fault on the POST), `delete` (accepted through elicitation,
fault on the DELETE), `delete_lookup` (the same delete, fault on the GET that looks the
snapshot up before asking). Cells: `okN` the call succeeds after N attempts of the
faulted request; `eN` it ends in an error result after N attempts (4 = FAST_RETRY's
bound); `!` the API acted on an attempt whose answer was lost (the import exists, or
the deletion was accepted); `n/a` the fault cannot happen (a DELETE's 204 has no body
to truncate): the call succeeds with one attempt and the fault is never used.

What it shows: GET and DELETE retry 429, 502-504, connection failures and garbled
bodies, then give up; a 500 is not retried (the client's documented choice); a POST is
retried only where the API cannot have acted (429, connection refused), never after a
5xx, a time-out, a reset or a garbled 201; a Retry-After beyond the retry budget ends
the call at once and is passed on to the model.
"""


@dataclass(frozen=True)
class Cell:
    ok: bool
    attempts: int
    acted: bool
    applicable: bool = True


def _cell(text: str) -> Cell:
    if text == "n/a":
        return Cell(ok=True, attempts=1, acted=False, applicable=False)
    acted = text.endswith("!")
    body = text.rstrip("!")
    ok = body.startswith("ok")
    return Cell(ok=ok, attempts=int(body.removeprefix("ok" if ok else "e")), acted=acted)


def _parse(table: str) -> dict[tuple[str, str], tuple[Cell, Cell]]:
    header, *rows = table.strip().splitlines()
    faults = header.split()[1:]
    assert faults == list(FAULTS), "the table's columns are the faults, in order"
    cells: dict[tuple[str, str], tuple[Cell, Cell]] = {}
    for row in rows:
        tool, *texts = row.split()
        assert len(texts) == len(faults), row
        for fault, text in zip(faults, texts, strict=True):
            transient, _, lasting = ("n/a", "", "n/a") if text == "n/a" else text.partition("/")
            cells[tool, fault] = (_cell(transient), _cell(lasting))
    return cells


CELLS = _parse(MATRIX)


@dataclass(frozen=True)
class Row:
    """One tool call of the matrix and where its fault goes."""

    tool: str
    arguments: dict[str, Any]
    target: str
    """The HTTP method whose requests meet the fault."""


ROWS: dict[str, Row] = {
    "list": Row("list_snapshots", {}, "GET"),
    "list_filtered": Row("list_snapshots", {"region": "NORD-NO-KRS-1"}, "GET"),
    "get": Row("get_snapshot", {"snapshot_id": SEED_ID}, "GET"),
    "create": Row("create_snapshot_from_url", GOOD_CREATE, "POST"),
    "delete": Row("delete_snapshot", {"snapshot_id": SEED_ID}, "DELETE"),
    "delete_lookup": Row("delete_snapshot", {"snapshot_id": SEED_ID}, "GET"),
}


LOOKUPS = 2
"""GETs of the snapshot per confirmed delete, in either era: one to ask about it, and one more once the yes has come
(the 2026 era's call that answers looks it up again; the 2025 era reads it again to see that it did not change while
the person was asked)."""


def expected_requests(row: str, cell: Cell, mode: str) -> Counter[str]:
    """Requests per method that reach the API in a cell, counting refused connections as attempts."""
    ok = cell.ok
    return {
        "list": Counter(GET=cell.attempts),
        "list_filtered": Counter(GET=cell.attempts + (1 if ok else 0)),  # page 2 after page 1
        "get": Counter(GET=cell.attempts),
        "create": Counter(POST=cell.attempts),
        "delete": Counter(GET=LOOKUPS, DELETE=cell.attempts),
        "delete_lookup": Counter(GET=cell.attempts + (LOOKUPS - 1 if ok else 0), DELETE=1 if ok else 0),
    }[row]


def assert_retry_advice(text: str) -> None:
    """An error result says whether retrying helps."""
    assert "Retrying later may help" in text or "Retry after" in text, text


def assert_success(row: str, result: CallToolResult, sim: Simulator) -> None:
    """A successful result is the right answer, not just 'no error'."""
    data = result.structured_content
    assert data is not None, text_of(result)
    if row == "list":
        assert (data["total_count"], data["page"], len(data["snapshots"])) == (12, 1, 12)
    elif row == "list_filtered":
        expected = {sid for sid, s in sim.snapshots.items() if s["region"] == "NORD-NO-KRS-1"}
        assert {s["id"] for s in data["snapshots"]} == expected
        assert (data["scanned"], data["complete"]) == (112, True)
    elif row == "get":
        assert (data["id"], data["name"]) == (SEED_ID, "ubuntu-22.04-cuda-12.4")
    elif row == "create":
        assert data["snapshot"]["name"] == GOOD_CREATE["name"]
        assert data["snapshot"]["status"] == "creating"
        assert data["reused"] is False
    else:
        assert (data["snapshot_id"], data["outcome"], data["deleted"]) == (SEED_ID, "deleting", True)


def fault_cells() -> list[Any]:
    """Every cell; the delete rows in both protocol eras (elicitation differs), the others in the 2026 one."""
    params = []
    for (row, fault), cells in CELLS.items():
        for lasting, cell in zip((False, True), cells, strict=True):
            for mode in MODES if row.startswith("delete") else ("auto",):
                label = f"{row}-{fault}-{'lasting' if lasting else 'transient'}-{mode}"
                params.append(pytest.param(row, fault, lasting, cell, mode, id=label))
    return params


@pytest.fixture
def settings() -> Settings:
    return Settings(token=SecretStr(DEFAULT_TOKEN))


@pytest.mark.parametrize(("row", "fault", "lasting", "cell", "mode"), fault_cells())
async def test_fault_matrix(settings: Settings, row: str, fault: str, lasting: bool, cell: Cell, mode: str) -> None:
    """Each tool x fault x {transient, lasting}: the outcome and attempt count of MATRIX; alive afterwards."""
    spec, call = FAULTS[fault], ROWS[row]
    sim = Simulator(delete_polls=LASTING)  # a deleted snapshot stays visible (deleting) for the checks below
    if row == "list_filtered":
        sim.add_many(100)  # 112 snapshots: two pages of 100
    count = LASTING if lasting else TRANSIENT
    sim.faults = spec.make(count, frozenset({call.target}))
    asker = Asker()
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool(call.tool, call.arguments)
        text = text_of(result)

        # -- the call: its outcome, and exactly the requests the table says
        refused = count - sim.faults.connect_error_first if fault == "connect" else 0
        seen = Counter(request.method for request in sim.requests)
        seen[call.target] += refused
        assert seen == expected_requests(row, cell, mode), (text, seen)
        assert cell.attempts <= FAST_RETRY.max_attempts
        if not cell.applicable:
            assert sim.faults.malformed_first == count, "the fault was not applicable, so it stays unused"
        if cell.ok:
            assert not result.is_error, text
            assert_success(row, result, sim)
        else:
            assert result.is_error, text
            # A DELETE's garbled answer is a 200, which does not mean success for DELETE (only 202/204 do).
            words = ("HTTP 200", "does not mean success") if (row, fault) == ("delete", "json") else spec.words
            for word in words:
                assert word in text, (word, text)
            assert_retry_advice(text)
            assert len(text) < 1_000
            assert "<html" not in text.lower()
            if row == "create" and not fault.startswith("429"):
                # Only where the API may have acted: a connection that was never made cannot have.
                says_maybe = "call create_snapshot_from_url again with the same arguments" in text
                assert says_maybe == (fault != "connect"), text
        if row.startswith("delete"):
            asked = 1 if (row == "delete" or cell.ok) else 0
            assert len(asker.asked) == asked
        made = [sid for sid, s in sim.snapshots.items() if s["name"] == GOOD_CREATE["name"]]
        happened = cell.ok or cell.acted
        if row == "create":
            assert len(made) == (1 if happened else 0)
        else:
            assert made == []
        if row.startswith("delete"):
            assert sim.snapshots[SEED_ID]["status"] == ("pending_delete" if happened else "created")

        # -- the same server, faults gone: a normal call is answered correctly
        sim.faults = Faults()
        sim.requests.clear()
        other = await client.call_tool("get_snapshot", {"snapshot_id": OTHER_SEED_ID})
        assert not other.is_error, text_of(other)
        assert other.structured_content is not None
        assert other.structured_content["name"] == "win-server-2022-base"
        if row.startswith("list"):
            page = await client.call_tool("list_snapshots", {"per_page": 3})
            assert page.structured_content is not None, text_of(page)
            assert [s["id"] for s in page.structured_content["snapshots"]] == [
                sid for sid, _ in sorted(sim.snapshots.items(), key=lambda item: (item[1]["created_at"], item[0]))
            ][:3]
        if row not in ("create", "delete", "delete_lookup"):
            return

        # -- the identical call again: never a second import, never a second DELETE
        sim.requests.clear()
        again = await client.call_tool(call.tool, call.arguments)
        assert not again.is_error, text_of(again)
        data = again.structured_content
        assert data is not None
        if row == "create":
            assert [s["name"] for s in sim.snapshots.values()].count(GOOD_CREATE["name"]) == 1
            assert data["reused"] is happened
            assert len(sent(sim, "POST")) == (0 if happened else 1)
            if made:
                assert data["snapshot"]["id"] == made[0]
        else:
            assert data["outcome"] == ("already_deleting" if happened else "deleting")
            assert len(sent(sim, "DELETE")) == (0 if happened else 1)
            assert sim.snapshots[SEED_ID]["status"] in ("pending_delete", "deleting")


def test_the_matrix_covers_every_tool_and_fault() -> None:
    """Six rows (all four tools, list both ways, delete's two requests) x thirteen faults, every cell filled."""
    assert {row for row, _ in CELLS} == set(ROWS)
    assert {fault for _, fault in CELLS} == set(FAULTS)
    assert len(CELLS) == len(ROWS) * len(FAULTS)
    assert {call.tool for call in ROWS.values()} == {
        "list_snapshots",
        "get_snapshot",
        "create_snapshot_from_url",
        "delete_snapshot",
    }


@pytest.mark.parametrize("mode", MODES)
async def test_a_create_is_never_sent_twice_where_the_api_may_have_acted(settings: Settings, mode: str) -> None:
    """Each fault after which the API may have acted, lasting: one POST per call, however often it is called."""
    for fault in ("500", "502", "503", "504", "timeout", "reset", "json", "html", "truncated"):
        sim = Simulator(faults=FAULTS[fault].make(LASTING, frozenset({"POST"})))
        async with connect(settings, sim, mode=mode) as client:
            results = [await client.call_tool("create_snapshot_from_url", GOOD_CREATE) for _ in range(3)]
        assert results[0].is_error, (fault, text_of(results[0]))
        posts = sent(sim, "POST")
        named = [sid for sid, s in sim.snapshots.items() if s["name"] == GOOD_CREATE["name"]]
        assert len(named) <= 1, fault
        if named:  # the API made it on the first POST: later identical calls found it and sent nothing
            assert len(posts) == 1, fault
            for result in results[1:]:
                assert result.structured_content is not None, (fault, text_of(result))
                assert (result.structured_content["snapshot"]["id"], result.structured_content["reused"]) == (
                    named[0],
                    True,
                )
        else:  # nothing was made: each identical call looked first, then sent exactly one POST
            assert all(result.is_error for result in results), fault
            assert len(posts) == 3, fault
            assert all(r.method == "GET" and r.path == PREFIX for r in sim.requests if r.method != "POST")
