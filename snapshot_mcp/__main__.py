"""`python -m snapshot_mcp`: the same as the `snapshot-mcp` command."""

from .cli import main

if __name__ == "__main__":
    main()
