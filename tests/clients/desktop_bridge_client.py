"""A desktop client as Claude Desktop runs the gateway: the official Python SDK's stdio client
starts `mcp-remote` exactly as README.md's config block does (the key in an environment variable,
`--header "X-API-Key:${IMMICH_GATEWAY_KEY}"`), and talks to the gateway through it.
Usage: python3 desktop_bridge_client.py NODE MCP_REMOTE_JS URL KEY
Prints one JSON summary line; exits non-zero on any failure."""

import asyncio
import json
import os
import sys
import tempfile

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


async def main(node: str, bridge: str, url: str, key: str) -> None:
    home = tempfile.mkdtemp()  # mcp-remote keeps OAuth state under ~/.mcp-auth
    params = StdioServerParameters(
        command=node,
        args=[bridge, url, "--header", "X-API-Key:${IMMICH_GATEWAY_KEY}"],
        env={"IMMICH_GATEWAY_KEY": key, "HOME": home, "PATH": os.environ.get("PATH", "")},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            if init.server_info.name != "immich-mcp-gateway":
                fail(f"unexpected server {init.server_info}")
            tools = (await session.list_tools()).tools
            photos = await session.call_tool("queryPhotos", {"limit": 3})
            if photos.is_error:
                fail(f"queryPhotos failed: {photos.content}")
            count = photos.structured_content["count"]
            first = photos.structured_content["photos"][0]["id"]
            image = await session.call_tool("getPhoto", {"id": first, "includeImage": True})
            kinds = sorted({block.type for block in image.content})
            print(json.dumps({"tools": len(tools), "photos": count, "content": kinds}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
