"""The streaming guide's "Python Client" streaming example, run against the gateway.

The guide's code cannot run as printed with any server: aiohttp-sse-client's EventSource takes a
URL, not a response (`EventSource(response)` raises TypeError before a byte is sent), and its
events name their type `event.type`, not `event.event`. The two lines marked "guide fix" are the
smallest change that makes it run; everything else is the guide's code. It POSTs to `/mcp` with
`Accept: text/event-stream`, which the gateway answers with the bulk stream of `/mcp/stream`.

Usage: python3 guide_stream_client.py BASE_URL [API_KEY]. Prints a JSON summary.
"""

import asyncio
import json
import sys

import aiohttp
from aiohttp_sse_client import client as sse_client


class MCPStreamingClient:
    def __init__(self, base_url, api_key=None):
        self.base_url = base_url
        self.headers = {'X-API-Key': api_key} if api_key else {}

    async def stream_query(self, query_params):
        """Stream photo query results via SSE"""

        async with aiohttp.ClientSession() as session:
            # Send initial request
            # guide fix 1: EventSource makes the request itself (it takes a URL, not a response).
            async with sse_client.EventSource(
                f"{self.base_url}/mcp",
                option={'method': 'POST'},
                session=session,
                headers={**self.headers, 'Accept': 'text/event-stream'},
                json={
                    "jsonrpc": "2.0",
                    "method": "tools/call",
                    "params": {
                        "name": "queryPhotos",
                        "arguments": query_params
                    },
                    "id": 1
                }
            ) as events:
                async for event in events:
                    # guide fix 2: the event's name is `type`.
                    if event.type == 'data':
                        data = json.loads(event.data)
                        yield data['items']
                    elif event.type == 'complete':
                        break


async def main():
    client = MCPStreamingClient(
        sys.argv[1],
        api_key=sys.argv[2] if len(sys.argv) > 2 else None
    )

    batches, ids = [], []
    async for photos in client.stream_query({
        'query': 'sunset',
        'limit': 1000
    }):
        batches.append(len(photos))
        ids.extend(photo['id'] for photo in photos)
    print(json.dumps({"batches": batches, "photos": len(ids), "distinct": len(set(ids))}))

if __name__ == '__main__':
    asyncio.run(main())
