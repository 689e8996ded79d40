"""Typed shapes of the Genesis Cloud snapshot API.

Reading is tolerant, writing is strict:

- `Snapshot` accepts both documented shapes (the older one with `resource_id`, the
  current one with `os_type`, `updated_at`, `source_instance_id`,
  `source_snapshot_id`), ignores unknown fields, and keeps an unknown `status` as text.
- `CreateSnapshotRequest` rejects anything the API documents as invalid before a
  request is made, so a model gets a precise error instead of a round trip.
- `SnapshotId` admits only a UUID: nothing else can reach a URL path.
- API text is made safe to show where the answer is parsed (`safe_text`); a name is
  also kept as the API sent it (`ApiText`), for comparing and re-sending.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from . import safe_text

KNOWN_REGIONS: tuple[str, ...] = (
    "EUC-DE-MUC-1",
    "EUW-GB-MNC-1",
    "EUW-NL-AMS-1",
    "NA-CA-FTS-1",
    "NA-CA-MNZ-1",
    "NA-CA-PRG-1",
    "NORD-NO-KRS-1",
)
"""Regions known when this version was released (offered as completions and in messages); a region of the
same shape is accepted too, so a new region, or the dropped ARC-IS-HAF-1 of older snapshots, still reads."""

StatusFilter = Literal["creating", "created", "active", "pending_delete", "deleting", "error"]
"""Statuses the API is known to report (`active` is the legacy name of `created`)."""
KNOWN_STATUSES: tuple[str, ...] = get_args(StatusFilter)
SETTLED_STATUSES = frozenset({"created", "active", "error"})

_REGION_RE = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)+$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID_PATTERN = _UUID_RE.pattern
MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 2048


def _uuid(value: str, what: str) -> str:
    candidate = value.strip().lower()
    if not _UUID_RE.fullmatch(candidate):
        raise ValueError(f"{what} is a UUID such as ff942497-62f6-4a9d-8dc4-3766ebc2b8a2")
    return candidate  # the pattern admits the canonical form only: str(uuid.UUID(candidate)) == candidate


def check_snapshot_id(value: str) -> str:
    return _uuid(value, "a snapshot id")


def check_instance_id(value: str) -> str:
    return _uuid(value, "an instance id")


SnapshotId = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(check_snapshot_id),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]
"""A snapshot id: a UUID in canonical lower-case form, nothing else."""

InstanceId = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(check_instance_id),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]
"""An instance id: a UUID in canonical lower-case form, nothing else."""


def _check_region(value: str) -> str:
    region = value.strip()
    # ASCII first: str.upper() maps "ß" to "SS" and "ı" to "I", which would pass the shape.
    region = region.upper() if region.isascii() else region
    if not _REGION_RE.fullmatch(region):
        raise ValueError(
            f"region must look like NORD-NO-KRS-1 (upper-case letters, digits, dashes); "
            f"known regions: {', '.join(KNOWN_REGIONS)}"
        )
    return region


Region = Annotated[
    str,
    Field(max_length=40, description="e.g. NORD-NO-KRS-1"),
    AfterValidator(_check_region),
]


MAX_SHOWN_NAME = 200
"""Characters of an API-supplied name shown at most; a longer one is cut with a marker saying how much was left out."""
MAX_SHOWN_FIELD = 64
"""Characters shown at most of other API-supplied text (status, region, OS)."""


@dataclass(frozen=True, slots=True, repr=False)
class ApiText:
    """A name the API sent, kept twice: `raw`, exactly as sent, and `shown`, safe to show.

    Compare and re-send `raw` (what the API echoes is what was sent); show `shown`
    (`safe_text.shown`: secrets redacted, hidden characters escaped, cut to a limit).
    An `ApiText` is not a `str` and equals only another `ApiText`: comparing one with a
    request's name, or building a view from it, has to say which form it means, and
    mypy's strict equality refuses a comparison with a `str`. `str()` and `repr()` give
    the shown form only.
    """

    raw: str
    shown: str

    @classmethod
    def of(cls, raw: str, limit: int = MAX_SHOWN_NAME, secrets: Iterable[str | None] = ()) -> ApiText:
        return cls(raw, safe_text.shown(raw, limit, secrets))

    def contains(self, needle: str) -> bool:
        """`needle` in either form, ignoring case: typed by one who knows the name, or copied from its shown form."""
        folded = needle.casefold()
        return folded in self.raw.casefold() or folded in self.shown.casefold()

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"ApiText({self.shown!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        shown = core_schema.plain_serializer_function_ser_schema(lambda text: text.shown)
        return core_schema.is_instance_schema(cls, serialization=shown)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string"}


def _secrets_of(info: ValidationInfo) -> tuple[str, ...]:
    context = info.context if isinstance(info.context, dict) else {}
    return tuple(context.get("secrets", ()))


def _api_text(limit: int) -> Callable[[object, ValidationInfo], object]:
    """A before-validator: API text as it may be shown (`safe_text.shown`), once, where the answer is parsed."""

    def clean(value: object, info: ValidationInfo) -> object:
        return safe_text.shown(value, limit, _secrets_of(info)) if isinstance(value, str) else value

    return clean


def _api_name(value: object, info: ValidationInfo) -> object:
    """A before-validator: an API name kept raw beside its shown form (`ApiText`)."""
    return ApiText.of(value, MAX_SHOWN_NAME, _secrets_of(info)) if isinstance(value, str) else value


def _has_control(text: str) -> bool:
    """True for C0/C1 control characters, DEL and the Unicode line/paragraph separators."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _check_url(value: str) -> str:
    url = value.strip()
    if any(ch.isspace() for ch in url) or _has_control(url):
        raise ValueError("url must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("url must name a host, e.g. https://example.com/image.raw.zst")
    if "@" in parts.netloc:
        raise ValueError("url must not carry credentials (user:password@): the API and its logs would see them")
    # urlsplit lower-cases the scheme; send it that way ("HTTPS://" is valid, but the API is strict).
    return parts.scheme + url[len(parts.scheme) :]


_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp")


def _numeric_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address written in any form a resolver accepts (127.1, 2130706433, 0x7f.0.0.1, [::1], fe80::1%eth0)."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host) and any(ch.isdigit() for ch in host):
        try:
            return ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def private_host_problem(url: str) -> str | None:
    """Why an image URL points at a non-public host (loopback, private, link-local, internal names), or None.

    The API fetches the image, not this server; but a model should not be able to aim
    it at an operator's network or a cloud metadata address. Names are not resolved.
    """
    host = (urlsplit(url).hostname or "").strip(".").lower()
    address = _numeric_host(host)
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None)
        target = mapped or address
        return None if target.is_global else f"it points at a non-public address ({target})"
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES) or "." not in host:
        return f"it names a local or internal host ({host})"
    return None


ImageUrl = Annotated[
    str,
    Field(min_length=8, max_length=MAX_URL_LENGTH),
    AfterValidator(_check_url),
]


def _check_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ValueError("name must not be empty")
    if _has_control(name):
        raise ValueError("name must not contain control characters")
    return name


SnapshotName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(_check_name)]
OsType = Literal["linux", "windows"]


class Snapshot(BaseModel):
    """A snapshot as the API returns it (both documented shapes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: ApiText = ApiText("", "")
    size: int | None = Field(default=None, description="GiB")
    region: str = ""
    status: str = Field(default="", description="creating, created, pending_delete, deleting or error")
    os_type: str | None = None
    resource_id: str | None = None
    source_instance_id: str | None = None
    source_snapshot_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    _keep_name = field_validator("name", mode="before")(_api_name)
    _clean_fields = field_validator("status", "region", "os_type", mode="before")(_api_text(MAX_SHOWN_FIELD))

    @property
    def source(self) -> str | None:
        """The snapshotted resource, whichever shape named it (None for URL imports)."""
        return self.source_instance_id or self.source_snapshot_id or self.resource_id or None


class SnapshotPage(BaseModel):
    """One page of `GET /snapshots`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    snapshots: list[Snapshot]
    total_count: int
    page: int
    per_page: int


class CreateSnapshotRequest(BaseModel):
    """The body of `POST /snapshots`: exactly these fields, `os_type` only when given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SnapshotName
    size: Annotated[StrictInt, Field(ge=1, le=1_000_000, description="GiB of the uncompressed image")]
    url: ImageUrl
    region: Region
    os_type: OsType | None = None

    def body(self) -> dict[str, object]:
        """The JSON body to send: `os_type` only when it was given."""
        return self.model_dump(exclude_none=True)


class Named(BaseModel):
    """The `{id, name}` the API uses to refer to related objects (an instance's image)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = ""
    name: ApiText = ApiText("", "")

    _keep_name = field_validator("name", mode="before")(_api_name)


class Instance(BaseModel):
    """An instance as `GET /instances` returns it (the fields that matter here; unknown ones ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: ApiText = ApiText("", "")
    hostname: str | None = None
    region: str = ""
    status: str = ""
    type: str | None = None
    os_type: str | None = None
    image: Named | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    disk_size: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    _keep_name = field_validator("name", mode="before")(_api_name)
    _clean_hostname = field_validator("hostname", mode="before")(_api_text(MAX_SHOWN_NAME))
    _clean_fields = field_validator("status", "region", "os_type", "type", "public_ip", "private_ip", mode="before")(
        _api_text(MAX_SHOWN_FIELD)
    )


class InstancePage(BaseModel):
    """One page of `GET /instances`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instances: list[Instance]
    total_count: int
    page: int
    per_page: int


class InstanceSnapshotRequest(BaseModel):
    """The body of `POST /instances/{id}/snapshots`: a name, and optionally a region for a copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SnapshotName
    replicated_region: Region | None = None

    def body(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class CloneRequest(BaseModel):
    """The body of `POST /snapshots/{id}/clone`: both fields required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SnapshotName
    region: Region

    @classmethod
    def like_source(cls, source_name: str, region: str) -> CloneRequest:
        """A copy named exactly as the API holds its source's name.

        That name is the API's own, so the rules for a name the model writes (length,
        no control characters) are not applied to it again; the region is checked.
        """
        return cls(name="copy", region=region).model_copy(update={"name": source_name})

    def body(self) -> dict[str, object]:
        return self.model_dump()


class RenameRequest(BaseModel):
    """The body of `PATCH /snapshots/{id}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SnapshotName

    def body(self) -> dict[str, object]:
        return self.model_dump()
