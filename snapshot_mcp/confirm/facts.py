"""What every confirmation channel binds a yes to: the state a person saw, and whose session asked.

- `fingerprint(snapshot)`: a digest of a snapshot's state (id, name, size, region,
  status, last update). Any change makes an earlier confirmation stale, whichever
  channel gave it: the card and the browser page, the form, the token.
- `session_digest(session)`: one short digest of the MCP session a call came in, for
  records that must not keep the session id itself (tokens, deletion requests).
- `Facts`: one snapshot as a person was shown it, with its fingerprint.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict

from snapshot_mcp.models import Snapshot
from snapshot_mcp.views import SnapshotView


def fingerprint(snapshot: Snapshot) -> str:
    """A digest of the state a person saw; any change invalidates a confirmation."""
    state = [
        snapshot.id,
        snapshot.name.raw,
        snapshot.size,
        snapshot.region,
        snapshot.status,
        str(snapshot.updated_at),
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


def session_digest(session: str) -> str:
    """The session a record is bound to, as the record keeps it (64 bits of SHA-256, never the id itself)."""
    return hashlib.sha256(b"snapshot-mcp session:" + session.encode()).hexdigest()[:16]


class Facts(BaseModel):
    """What the person was shown of one snapshot when they were asked."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    size: int | None
    region: str
    status: str
    created_at: str | None
    fingerprint: str

    @classmethod
    def of(cls, snapshot: Snapshot) -> Facts:
        shown = SnapshotView.of(snapshot).model_dump(include={"id", "name", "size", "region", "status", "created_at"})
        return cls(**shown, fingerprint=fingerprint(snapshot))

    def snapshot(self) -> Snapshot:
        """The snapshot as it was shown (for words and results that take a `Snapshot`)."""
        return Snapshot.model_validate(self.model_dump(exclude={"fingerprint"}))
