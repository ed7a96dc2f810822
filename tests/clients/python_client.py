"""The official Python SDK client (`mcp`, streamable HTTP) against the gateway: initialize, list
tools across pages, call tools, receive progress. Usage: python3 python_client.py URL
Prints one JSON summary line; exits non-zero on any failure."""

import asyncio
import json
import sys

from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


async def main(url: str) -> None:
    async with streamable_http_client(url) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            if init.server_info.name != "immich-mcp-gateway":
                fail(f"unexpected server {init.server_info}")

            tools, pages, cursor = [], 0, None
            while True:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools.extend(page.tools)
                pages += 1
                cursor = page.next_cursor
                if not cursor:
                    break
            if pages < 2:
                fail(f"expected several pages of tools, got {pages}")
            if len({t.name for t in tools}) != len(tools):
                fail("a tool was listed twice across pages")

            text = await session.call_tool("test_simple_text", {})
            if text.content[0].text != "This is a simple text response for testing.":
                fail(f"bad result {text}")

            progress = []

            async def on_progress(value, total, message):
                progress.append(value)

            result = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            if result.is_error:
                fail("progress tool failed")
            if progress != [0, 50, 100]:
                fail(f"progress was {progress}")

            failing = await session.call_tool("test_error_handling", {})
            if failing.is_error is not True:
                fail("the error tool did not return isError")

            print(json.dumps({"ok": True, "protocol": init.protocol_version, "pages": pages, "tools": len(tools), "progress": progress}))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=60))
