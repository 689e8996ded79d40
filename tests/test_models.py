"""Models: tolerant reading of both API shapes, strict create requests, UUID-only ids, API text cleaned
where it is parsed. The properties every accepted value has are fuzzed in campaigns/test_fuzz_models.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from snapshot_mcp.models import (
    KNOWN_REGIONS,
    MAX_NAME_LENGTH,
    MAX_SHOWN_NAME,
    MAX_URL_LENGTH,
    ApiText,
    CloneRequest,
    CreateSnapshotRequest,
    Instance,
    Snapshot,
    SnapshotId,
    SnapshotPage,
    check_snapshot_id,
)
from tests.support import GOOD_BODY, JUPYTER_LAB, SEED_ID

HOSTILE_CHARACTERS = ["\x1b[31m", "\x00", "\x07", "\x08", "\u202e", "\u200b", "\ufeff", "\u2066", "\r\n"]


@pytest.mark.parametrize("character", HOSTILE_CHARACTERS, ids=repr)
def test_control_and_bidi_characters_are_escaped_where_api_data_is_parsed(character: str) -> None:
    """Item 6: ESC, NUL, BEL, backspace, RLO, zero-width, BOM, isolates: never raw in a parsed name."""
    snapshot = Snapshot.model_validate({"id": SEED_ID, "name": f"a{character}b", "status": f"created{character}"})
    for text in (snapshot.name.shown, snapshot.status):
        assert not any(ch in text for ch in character if not ch.isprintable())
        assert text.startswith(("a", "created"))


SID = "ff942497-62f6-4a9d-8dc4-3766ebc2b8a2"


# The documented (seed) shape, straight from the list example.
OLD_SHAPE: dict[str, Any] = {
    "id": SID,
    "name": "snapshot name",
    "size": 128,
    "region": "NORD-NO-KRS-1",
    "status": "created",
    "resource_id": "a90af0dc-3ef8-48fd-9cce-66e6e291b2a0",
    "created_at": "2020-04-06T10:47:46.786Z",
}


# The current (2025 SDK) shape.
NEW_SHAPE: dict[str, Any] = {
    "id": SID,
    "name": "snapshot name",
    "size": 64,
    "region": "EUW-NL-AMS-1",
    "status": "created",
    "os_type": "linux",
    "source_instance_id": JUPYTER_LAB,
    "created_at": "2024-01-23T10:47:46.786Z",
    "updated_at": "2024-01-24T11:00:00.000Z",
}


# The create response of the seed doc: no size, empty resource_id.
CREATE_RESPONSE: dict[str, Any] = {
    "id": SID,
    "name": "snapshot name",
    "status": "creating",
    "os_type": "linux",
    "region": "NORD-NO-KRS-1",
    "resource_id": "",
    "created_at": "2024-01-23T10:47:46.786Z",
    "updated_at": "2024-01-23T10:47:46.786Z",
}


# --------------------------------------------------------------------------- Snapshot


def test_snapshot_reads_the_older_shape() -> None:
    """The documented shape: resource_id names the source, no os_type or updated_at."""
    snap = Snapshot.model_validate(OLD_SHAPE)
    assert snap.id == SID
    assert snap.size == 128
    assert snap.resource_id == OLD_SHAPE["resource_id"]
    assert snap.source == OLD_SHAPE["resource_id"]
    assert snap.os_type is None
    assert snap.updated_at is None
    assert snap.created_at == datetime(2020, 4, 6, 10, 47, 46, 786000, tzinfo=UTC)


def test_snapshot_reads_the_newer_shape() -> None:
    """The current shape: os_type, updated_at and source_instance_id."""
    snap = Snapshot.model_validate(NEW_SHAPE)
    assert snap.os_type == "linux"
    assert snap.updated_at == datetime(2024, 1, 24, 11, 0, tzinfo=UTC)
    assert snap.resource_id is None
    assert snap.source == NEW_SHAPE["source_instance_id"]


def test_snapshot_source_from_a_cloned_snapshot() -> None:
    """source_snapshot_id is the source when no instance is named."""
    snap = Snapshot.model_validate({**NEW_SHAPE, "source_instance_id": None, "source_snapshot_id": SID})
    assert snap.source == SID


def test_snapshot_reads_the_create_response_without_size() -> None:
    """The seed doc's create response has no size and an empty resource_id."""
    snap = Snapshot.model_validate(CREATE_RESPONSE)
    assert snap.size is None
    assert snap.status == "creating"
    assert snap.source is None


def test_snapshot_ignores_unknown_fields() -> None:
    """Fields the API adds later are ignored, not a crash."""
    snap = Snapshot.model_validate({**NEW_SHAPE, "labels": {"a": "b"}, "image_type": "custom"})
    assert "labels" not in snap.model_dump()
    assert not hasattr(snap, "image_type")


@pytest.mark.parametrize("status", ["migrating", "active", "error", "", "SOMETHING_NEW"])
def test_snapshot_keeps_unknown_status_as_text(status: str) -> None:
    """Any status string is kept as it was sent."""
    assert Snapshot.model_validate({**OLD_SHAPE, "status": status}).status == status


def test_snapshot_needs_an_id() -> None:
    """Without an id there is nothing to act on: that is a bad answer."""
    with pytest.raises(ValidationError):
        Snapshot.model_validate({k: v for k, v in OLD_SHAPE.items() if k != "id"})


def test_snapshot_is_frozen() -> None:
    """A snapshot read from the API cannot be changed by accident."""
    snap = Snapshot.model_validate(OLD_SHAPE)
    with pytest.raises(ValidationError):
        snap.status = "deleting"


AWKWARD_NAMES = ["L" * MAX_NAME_LENGTH, "nightly\u200bbuild", "invoice-\u202egpj.exe", "a\x1b[31mb\nc"]


@pytest.mark.parametrize("name", AWKWARD_NAMES, ids=["long", "zero-width", "bidi", "controls"])
def test_a_name_is_kept_as_sent_beside_its_shown_form(name: str) -> None:
    """`raw` is exactly what the API sent (to compare and re-send); `shown` is safe and bounded."""
    for model in (Snapshot, Instance):
        parsed = model.model_validate({"id": SID, "name": name}, context={"secrets": ("s3cret-token",)})
        assert parsed.name.raw == name
        assert parsed.name.shown.isprintable()
        assert len(parsed.name.shown) <= MAX_SHOWN_NAME
        assert parsed.name.shown != name
        assert str(parsed.name) == parsed.name.shown
        assert name not in repr(parsed)


def test_the_shown_form_is_what_a_dump_carries_and_secrets_only_leave_the_shown_form() -> None:
    snapshot = Snapshot.model_validate(
        {"id": SID, "name": "copy of s3cret-token"}, context={"secrets": ("s3cret-token",)}
    )
    assert snapshot.name == ApiText("copy of s3cret-token", "copy of [redacted]")
    assert snapshot.model_dump()["name"] == "copy of [redacted]"
    assert "s3cret-token" not in snapshot.model_dump_json() + repr(snapshot) + str(snapshot)


def test_an_api_name_never_equals_a_str() -> None:
    """Neither form is silently compared with a request's name: the code has to say `.raw` (or `.shown`)."""
    name = Snapshot.model_validate({"id": SID, "name": "plain"}).name
    assert (name.raw, name.shown) == ("plain", "plain")
    assert name != "plain"  # type: ignore[comparison-overlap]
    assert name == ApiText("plain", "plain")
    assert hash(name) == hash(ApiText("plain", "plain"))


def test_a_name_search_matches_either_form() -> None:
    """A person types the real character; a model copies the escape it read. Case is ignored."""
    name = Snapshot.model_validate({"id": SID, "name": "Nightly\u200bBuild"}).name
    assert name.contains("nightly\u200bbuild")
    assert name.contains("NIGHTLY\\u200bbuild")
    assert not name.contains("nightlybuild")


def test_snapshot_page_reads_the_documented_example() -> None:
    """The list response of the seed doc, both shapes mixed on one page."""
    page = SnapshotPage.model_validate(
        {"snapshots": [OLD_SHAPE, NEW_SHAPE, CREATE_RESPONSE], "total_count": 3, "page": 1, "per_page": 50}
    )
    assert [s.status for s in page.snapshots] == ["created", "created", "creating"]
    assert (page.total_count, page.page, page.per_page) == (3, 1, 50)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"total_count": 0, "page": 1, "per_page": 50}, id="no-snapshots-key"),
        pytest.param({"snapshots": [], "page": 1, "per_page": 50}, id="no-total"),
        pytest.param({"snapshots": "nope", "total_count": 0, "page": 1, "per_page": 50}, id="not-a-list"),
        pytest.param({"snapshots": [{"name": "x"}], "total_count": 1, "page": 1, "per_page": 50}, id="no-id"),
    ],
)
def test_snapshot_page_rejects_a_wrong_shape(payload: dict[str, Any]) -> None:
    """A page missing its documented keys is not silently read as empty."""
    with pytest.raises(ValidationError):
        SnapshotPage.model_validate(payload)


# --------------------------------------------------------------------------- CloneRequest


def test_a_copy_like_its_source_keeps_the_apis_name_and_still_checks_the_region() -> None:
    request = CloneRequest.like_source("a\x07b\n", "na-ca-fts-1")
    assert request.body() == {"name": "a\x07b\n", "region": "NA-CA-FTS-1"}
    with pytest.raises(ValidationError):
        CloneRequest(name="a\x07b", region="NA-CA-FTS-1")  # a name the model writes is checked
    with pytest.raises(ValidationError):
        CloneRequest.like_source("fine", "not a region")


# --------------------------------------------------------------------------- CreateSnapshotRequest


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({}, "name", GOOD_BODY["name"], id="minimal"),
        pytest.param({"name": "  my image  "}, "name", "my image", id="name-trimmed"),
        pytest.param({"name": "Schnappschuß 📸 v2"}, "name", "Schnappschuß 📸 v2", id="name-unicode"),
        pytest.param({"name": "n" * MAX_NAME_LENGTH}, "name", "n" * MAX_NAME_LENGTH, id="name-longest"),
        pytest.param({"size": 1}, "size", 1, id="size-one"),
        pytest.param({"size": 1_000_000}, "size", 1_000_000, id="size-largest"),
        pytest.param({"url": "http://images.local/a.raw"}, "url", "http://images.local/a.raw", id="url-http"),
        pytest.param(
            {"url": "https://s3.example.com/a.raw.zst?X-Amz-Signature=abc&X-Amz-Expires=3600"},
            "url",
            "https://s3.example.com/a.raw.zst?X-Amz-Signature=abc&X-Amz-Expires=3600",
            id="url-presigned-query",
        ),
        pytest.param({"url": "  https://e.com/a.raw  "}, "url", "https://e.com/a.raw", id="url-trimmed"),
        pytest.param({"url": "HTTPS://Example.com/A.raw"}, "url", "https://Example.com/A.raw", id="url-scheme-lowered"),
        pytest.param({"region": "nord-no-krs-1"}, "region", "NORD-NO-KRS-1", id="region-lowercase-normalized"),
        pytest.param({"region": " EUC-DE-MUC-1 "}, "region", "EUC-DE-MUC-1", id="region-trimmed"),
        pytest.param({"region": "ARC-IS-HAF-1"}, "region", "ARC-IS-HAF-1", id="region-legacy"),
        pytest.param({"region": "AP-JP-TYO-1"}, "region", "AP-JP-TYO-1", id="region-new-but-well-shaped"),
        pytest.param({"os_type": "linux"}, "os_type", "linux", id="os-linux"),
        pytest.param({"os_type": "windows"}, "os_type", "windows", id="os-windows"),
        pytest.param({"os_type": None}, "os_type", None, id="os-none"),
    ],
)
def test_create_request_accepts(changes: dict[str, Any], field: str, expected: object) -> None:
    """Valid input is accepted and normalized."""
    request = CreateSnapshotRequest.model_validate({**GOOD_BODY, **changes})
    assert getattr(request, field) == expected


@pytest.mark.parametrize("region", KNOWN_REGIONS)
def test_create_request_accepts_every_known_region(region: str) -> None:
    """Every region of the reference passes."""
    assert CreateSnapshotRequest.model_validate({**GOOD_BODY, "region": region}).region == region


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": ""}, "name", id="name-empty"),
        pytest.param({"name": "   "}, "name", id="name-whitespace"),
        pytest.param({"name": "a\nb"}, "name", id="name-newline"),
        pytest.param({"name": "a\x00b"}, "name", id="name-nul"),
        pytest.param({"name": "a\tb"}, "name", id="name-tab"),
        pytest.param({"name": "a\x1b[31mb"}, "name", id="name-escape"),
        pytest.param({"name": "a\x7fb"}, "name", id="name-del"),
        pytest.param({"name": "a\x85b"}, "name", id="name-c1-next-line"),
        pytest.param({"name": "a\u2028b"}, "name", id="name-line-separator"),
        pytest.param({"name": "n" * (MAX_NAME_LENGTH + 1)}, "name", id="name-too-long"),
        pytest.param({"name": None}, "name", id="name-none"),
        pytest.param({"name": 42}, "name", id="name-number"),
        pytest.param({"size": 0}, "size", id="size-zero"),
        pytest.param({"size": -1}, "size", id="size-negative"),
        pytest.param({"size": 1.5}, "size", id="size-fraction"),
        pytest.param({"size": 3.0}, "size", id="size-float"),
        pytest.param({"size": "3"}, "size", id="size-string"),
        pytest.param({"size": True}, "size", id="size-bool-true"),
        pytest.param({"size": False}, "size", id="size-bool-false"),
        pytest.param({"size": 1_000_001}, "size", id="size-too-big"),
        pytest.param({"size": 10**30}, "size", id="size-huge"),
        pytest.param({"size": None}, "size", id="size-none"),
        pytest.param({"url": "ftp://example.com/a.raw"}, "url", id="url-ftp"),
        pytest.param({"url": "file:///etc/passwd"}, "url", id="url-file"),
        pytest.param({"url": "javascript:alert(1)"}, "url", id="url-javascript"),
        pytest.param({"url": "data:text/plain,hello"}, "url", id="url-data"),
        pytest.param({"url": "example.com/a.raw"}, "url", id="url-no-scheme"),
        pytest.param({"url": "//example.com/a.raw"}, "url", id="url-scheme-relative"),
        pytest.param({"url": "https://"}, "url", id="url-nothing"),
        pytest.param({"url": "http:///a.raw"}, "url", id="url-no-host"),
        pytest.param({"url": "https://:443/a.raw"}, "url", id="url-port-no-host"),
        pytest.param({"url": "https://exa mple.com/a.raw"}, "url", id="url-space-in-host"),
        pytest.param({"url": "https://example.com/a b.raw"}, "url", id="url-space-in-path"),
        pytest.param({"url": "https://example.com/a\nb"}, "url", id="url-newline"),
        pytest.param({"url": "https://example.com/a\x00"}, "url", id="url-nul"),
        pytest.param({"url": "https://example.com/a\x7f"}, "url", id="url-del"),
        pytest.param({"url": "https://[::1/a.raw"}, "url", id="url-broken-ipv6"),
        pytest.param({"url": "https://e.com/" + "a" * MAX_URL_LENGTH}, "url", id="url-too-long"),
        pytest.param({"url": ""}, "url", id="url-empty"),
        pytest.param({"region": "nord_no_krs_1"}, "region", id="region-underscores"),
        pytest.param({"region": "NORD NO KRS 1"}, "region", id="region-spaces"),
        pytest.param({"region": "NORDNOKRS1"}, "region", id="region-no-dash"),
        pytest.param({"region": "-NORD-NO"}, "region", id="region-leading-dash"),
        pytest.param({"region": "NORD-NO-"}, "region", id="region-trailing-dash"),
        pytest.param({"region": "NORD--NO"}, "region", id="region-double-dash"),
        pytest.param({"region": "nord-no-krß-1"}, "region", id="region-sharp-s-uppercases-to-ascii"),
        pytest.param({"region": "euc-de-muc-ı"}, "region", id="region-dotless-i-uppercases-to-ascii"),
        pytest.param({"region": "ÄU-1"}, "region", id="region-non-ascii"),
        pytest.param({"region": "NORD-NO\nKRS-1"}, "region", id="region-inner-newline"),
        pytest.param({"region": "A-" + "B" * 40}, "region", id="region-too-long"),
        pytest.param({"region": ""}, "region", id="region-empty"),
        pytest.param({"os_type": "macos"}, "os_type", id="os-macos"),
        pytest.param({"os_type": "Linux"}, "os_type", id="os-capitalized"),
        pytest.param({"os_type": ""}, "os_type", id="os-empty"),
        pytest.param({"extra": 1}, "extra", id="extra-key"),
        pytest.param({"id": SID}, "id", id="extra-id"),
        pytest.param({"resource_id": SID}, "resource_id", id="extra-resource-id"),
    ],
)
def test_create_request_rejects(changes: dict[str, Any], field: str) -> None:
    """Invalid input never becomes a request, and the error names the field."""
    with pytest.raises(ValidationError) as info:
        CreateSnapshotRequest.model_validate({**GOOD_BODY, **changes})
    assert {str(error["loc"][0]) for error in info.value.errors()} == {field}


@pytest.mark.parametrize("field", ["name", "size", "url", "region"])
def test_create_request_requires(field: str) -> None:
    """name, size, url and region are all required."""
    with pytest.raises(ValidationError):
        CreateSnapshotRequest.model_validate({k: v for k, v in GOOD_BODY.items() if k != field})


def test_region_rejects_non_ascii_before_upper_casing() -> None:
    """A region whose upper case would become ASCII is not silently renamed."""
    assert "ß".upper() == "SS"  # the trap this guards against
    with pytest.raises(ValidationError, match="region must look like"):
        CreateSnapshotRequest.model_validate({**GOOD_BODY, "region": "nord-no-krß-1"})


def test_body_omits_os_type_when_not_given() -> None:
    """The body has exactly the four required keys without os_type."""
    body = CreateSnapshotRequest.model_validate(GOOD_BODY).body()
    assert body == GOOD_BODY
    assert "os_type" not in body


def test_body_includes_os_type_and_normalized_values() -> None:
    """The body carries os_type when given, and the normalized values."""
    request = CreateSnapshotRequest.model_validate(
        {**GOOD_BODY, "name": " n ", "region": "euw-nl-ams-1", "os_type": "windows"}
    )
    body = request.body()
    assert body == {**GOOD_BODY, "name": "n", "region": "EUW-NL-AMS-1", "os_type": "windows"}
    assert json.loads(json.dumps(body)) == body


def test_create_request_is_frozen() -> None:
    """A validated request cannot be changed after validation."""
    request = CreateSnapshotRequest.model_validate(GOOD_BODY)
    with pytest.raises(ValidationError):
        request.size = 0


# --------------------------------------------------------------------------- SnapshotId

SNAPSHOT_ID = TypeAdapter(SnapshotId)


ACCEPTED_IDS = [
    pytest.param(SID, SID, id="canonical"),
    pytest.param(SID.upper(), SID, id="upper-case-normalized"),
    pytest.param("FF942497-62f6-4A9D-8dc4-3766EBC2B8A2", SID, id="mixed-case-normalized"),
    pytest.param(f"  {SID}\n", SID, id="surrounding-whitespace-trimmed"),
]


REJECTED_IDS = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("../x", id="dot-dot-slash"),
    pytest.param("..", id="dot-dot"),
    pytest.param("%2e%2e", id="encoded-dot-dot"),
    pytest.param("%2e%2e%2fsnapshots", id="encoded-traversal"),
    pytest.param(f"{SID}/../x", id="uuid-then-traversal"),
    pytest.param(f"../{SID}", id="traversal-then-uuid"),
    pytest.param(f"{SID}x", id="uuid-with-suffix"),
    pytest.param(f"x{SID}", id="uuid-with-prefix"),
    pytest.param(f"{SID}/", id="uuid-with-slash"),
    pytest.param(f"{SID}?page=2", id="uuid-with-query"),
    pytest.param(f"{SID}#x", id="uuid-with-fragment"),
    pytest.param(f"{SID}%2F", id="uuid-with-encoded-slash"),
    pytest.param(f"{SID}\nX-Injected: 1", id="uuid-newline-header-injection"),
    pytest.param(f"{SID}\x00", id="uuid-with-nul"),
    pytest.param(f"{SID} {SID}", id="two-uuids"),
    pytest.param(SID.replace("-", ""), id="no-dashes"),
    pytest.param("{" + SID + "}", id="braces"),
    pytest.param(f"urn:uuid:{SID}", id="urn"),
    pytest.param(SID[:-1], id="too-short"),
    pytest.param(SID[:-1] + "g", id="not-hex"),
    pytest.param("ｆ" + SID[1:], id="fullwidth-letter"),
    pytest.param("１" + SID[1:].replace("f", "1"), id="fullwidth-digit"),
    pytest.param("snapshot name", id="a-name"),
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED_IDS)
def test_check_snapshot_id_accepts(value: str, expected: str) -> None:
    """A UUID comes back canonical: lower case, trimmed."""
    assert check_snapshot_id(value) == expected


@pytest.mark.parametrize(("value", "expected"), ACCEPTED_IDS)
def test_snapshot_id_type_accepts(value: str, expected: str) -> None:
    """The pydantic type agrees with check_snapshot_id."""
    assert SNAPSHOT_ID.validate_python(value) == expected


@pytest.mark.parametrize("value", REJECTED_IDS)
def test_check_snapshot_id_rejects(value: str) -> None:
    """Anything but a UUID is refused: nothing else reaches a URL path."""
    with pytest.raises(ValueError, match="a snapshot id is a UUID"):
        check_snapshot_id(value)


@pytest.mark.parametrize("value", [*REJECTED_IDS, pytest.param(12345, id="int"), pytest.param(None, id="none")])
def test_snapshot_id_type_rejects(value: object) -> None:
    """The pydantic type refuses the same inputs, and non-strings."""
    with pytest.raises(ValidationError):
        SNAPSHOT_ID.validate_python(value)
