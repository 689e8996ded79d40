"""snapshot-mcp: an MCP server for Genesis Cloud compute snapshots."""

__version__ = "0.1.0"

__all__ = ["__version__"]
