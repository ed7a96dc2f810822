"""Streams queryPhotos over the stateless MCP wire and reports time to first byte, time to the
first notifications/stream/data event, photos received (each once) and total time.
Usage: python3 stream_client.py HOST PORT LIMIT"""
import http.client
import json
import sys
import time

host, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "queryPhotos", "arguments": {"limit": limit}, "_meta": meta}})
headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "queryPhotos"}
started = time.perf_counter()
conn = http.client.HTTPConnection(host, port, timeout=600)
conn.request("POST", "/mcp", body, headers)
response = conn.getresponse()
first_byte = first_data = None
seen = set()
result = None
for raw in response:
    now = time.perf_counter()
    if first_byte is None:
        first_byte = now - started
    line = raw.decode()
    if not line.startswith("data: "):
        continue
    message = json.loads(line[6:])
    if message.get("method") == "notifications/stream/data":
        if first_data is None:
            first_data = now - started
        for item in message["params"]["items"]:
            if item["id"] in seen:
                sys.exit(f"duplicate {item['id']}")
            seen.add(item["id"])
    elif "result" in message:
        if message["result"].get("isError"):
            sys.exit(f"the tool failed: {message['result']['content'][0]['text']}")
        result = message["result"]["structuredContent"]
    elif "error" in message:
        sys.exit(f"protocol error: {message['error']}")
total = time.perf_counter() - started
assert result is not None and result["count"] == len(seen), (result, len(seen))
print(json.dumps({"limit": limit, "photos": len(seen), "ttfb_ms": round(first_byte * 1000, 2),
                  "first_data_ms": round(first_data * 1000, 2), "total_s": round(total, 2)}))
