"""Benchmarks of snapshot-mcp against a bare MCPServer: see BENCHMARKS.md (`python -m bench.run_all`)."""
