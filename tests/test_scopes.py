"""Which scope each tool needs, the `scope` a 403 step-up asks for, and the MCP layer applying it too."""

from __future__ import annotations

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceTemplateReference
from pydantic import SecretStr

from snapshot_mcp.scopes import DELETE, READ, SCOPES, WRITE, ScopeGate, needed_scope, scope_for, step_up
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import READING_TOOLS, SEED_ID, connect, fast
from tests.support.oauth import (
    api_writes,
    oauth_settings,
)


async def test_the_mcp_layer_applies_the_scopes_too(sim: Simulator) -> None:
    """Past the HTTP gate (a modern request whose headers name a reading tool), the server itself refuses."""

    user = AuthenticatedUser(AccessToken(token="t", client_id="c", scopes=[READ], subject="alice"))
    reset = auth_context_var.set(user)
    try:
        async with connect(fast(oauth_settings(delete_confirmation="none")), sim) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    finally:
        auth_context_var.reset(reset)
    assert listed == READING_TOOLS
    assert result.is_error
    assert "snapshots:delete" in result.content[0].text  # type: ignore[union-attr]
    assert api_writes(sim) == []


async def test_reading_api_data_through_resources_or_completions_needs_the_read_scope(sim: Simulator) -> None:
    """A token without snapshots:read reads no snapshot resource and completes no id (both list the API's data)."""

    user = AuthenticatedUser(AccessToken(token="t", client_id="c", scopes=["snapshots:write"], subject="bob"))
    ref = ResourceTemplateReference(type="ref/resource", uri="genesiscloud://snapshots/{snapshot_id}")
    reset = auth_context_var.set(user)
    try:
        async with connect(fast(oauth_settings()), sim) as client:
            with pytest.raises(MCPError, match="snapshots:read"):
                await client.read_resource(f"genesiscloud://snapshots/{SEED_ID}")
            with pytest.raises(MCPError, match="snapshots:read"):
                await client.complete(ref, {"name": "snapshot_id", "value": "e"})
    finally:
        auth_context_var.reset(reset)
    assert sim.requests == []


@pytest.mark.parametrize("ladder", [("card", "form"), ("token",)])
async def test_every_tool_a_server_offers_needs_a_scope(ladder: tuple[str, ...]) -> None:
    """No tool, the card's app-only ones included, is left open to any token."""
    settings = Settings(token=SecretStr(DEFAULT_TOKEN), confirm_channels=ladder)  # type: ignore[arg-type]
    names = {tool.name for tool in await build_server(settings).list_tools()}
    assert {"deletion_request", "confirm_deletion"} <= names or ladder == ("token",)
    assert {name: scope_for(name) for name in names if scope_for(name) not in SCOPES} == {}


def test_the_scopes_follow_what_a_tool_does() -> None:
    assert {scope_for(t) for t in ("list_snapshots", "get_snapshot", "list_instances")} == {READ}
    assert {scope_for(t) for t in ("create_snapshot_from_url", "snapshot_instance", "copy_snapshot")} == {WRITE}
    assert scope_for("rename_snapshot") == WRITE
    assert {scope_for(t) for t in ("delete_snapshot", "delete_snapshots", "confirm_deletion")} == {DELETE}
    assert scope_for("deletion_request") == DELETE  # the card's app-only tools belong to a deletion
    assert scope_for("no_such_tool") is None


def test_needed_scope_reads_calls_and_the_snapshot_resource() -> None:
    assert needed_scope("tools/call", "delete_snapshot") == DELETE
    assert needed_scope("resources/read", "genesiscloud://snapshots/x") == READ
    assert needed_scope("resources/read", "ui://snapshot-mcp/confirm-delete-v1.html") is None
    assert needed_scope("tools/list", None) is None
    assert needed_scope("completion/complete", None) == READ
    assert needed_scope("tools/call", ["delete_snapshot"]) is None  # not a name: the SDK refuses the call


def test_step_up_keeps_what_the_token_has() -> None:
    assert step_up({READ}, DELETE) == "snapshots:read snapshots:delete"
    assert step_up(set(), WRITE) == "snapshots:write"
    assert step_up({DELETE, READ}, WRITE) == "snapshots:read snapshots:write snapshots:delete"


def test_the_gate_is_in_the_chain_only_where_access_tokens_carry_scopes() -> None:
    """Without --auth-issuer no request carries scopes: the gate is left out, not passed through on every call."""
    plain = build_server(Settings(token=SecretStr(DEFAULT_TOKEN), transport="http"))
    oauth = build_server(
        Settings(
            token=SecretStr(DEFAULT_TOKEN),
            transport="http",
            auth_issuer="https://issuer.example",
            public_url="https://mcp.example/mcp",
        )
    )
    assert not any(isinstance(layer, ScopeGate) for layer in plain.middleware)
    assert sum(isinstance(layer, ScopeGate) for layer in oauth.middleware) == 1
