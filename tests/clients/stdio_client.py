"""The official Python SDK's stdio client, as a desktop client runs the gateway: it starts
`immich-mcp-gateway stdio --demo` itself, lists the tools, calls a few, and takes a streamed result
(progress notifications while the photos stream). Usage: python3 stdio_client.py BINARY
Prints one JSON summary line; exits non-zero on any failure."""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


async def main(binary: str) -> None:
    params = StdioServerParameters(command=binary, args=["stdio", "--demo"], env={"PATH": os.environ.get("PATH", "")})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            if init.server_info.name != "immich-mcp-gateway":
                fail(f"unexpected server {init.server_info}")
            tools = (await session.list_tools()).tools
            albums = await session.call_tool("listAlbums", {})
            if albums.is_error:
                fail(f"listAlbums: {albums.content}")
            progress = []

            async def on_progress(done, total, message):
                progress.append(done)

            streamed = await session.call_tool("queryPhotos", {"limit": 2000}, progress_callback=on_progress)
            if streamed.is_error:
                fail(f"queryPhotos: {streamed.content}")
            result = streamed.structured_content
            print(json.dumps({
                "tools": len(tools),
                "count": result["count"],
                "streamId": result.get("streamId"),
                "progress": len(progress),
                "monotonic": progress == sorted(progress),
            }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
