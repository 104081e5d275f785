"""A small third-party-style MCP server (written with the `mcp` package only): a key-value store."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("kv-store")
STORE: dict[str, str] = {}


@server.tool()
def put(key: str, value: str) -> str:
    """Store a value under a key."""
    STORE[key] = value
    return f"stored {key}"


@server.tool()
def get(key: str) -> str:
    """Read the value stored under a key."""
    if key not in STORE:
        raise KeyError(f"no key {key!r}")
    return STORE[key]


if __name__ == "__main__":
    server.run()
