"""No confirmation: the operator chose unattended deletes (`--delete-confirmation none`).

The server warns about this at start-up; every delete still writes its audit line.
"""

from __future__ import annotations

from .base import Approved, Channel, ChannelVerdict, DeletionCall


class Unconfirmed(Channel):
    """Approves every delete without asking anyone."""

    name = "unconfirmed"

    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        return Approved(call.snapshots)
