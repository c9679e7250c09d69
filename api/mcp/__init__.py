"""The MCP (Model Context Protocol) shell: mmrag's search, answers, items, documents and ingest
as MCP tools and resources, over stdio (``mmrag mcp``) and streamable HTTP (``/mcp``)."""
