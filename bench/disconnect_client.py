"""Measures how long a streamed queryPhotos outlives its client: opens the stream on the
stateless wire, waits for its first data event, hangs up, then polls /health/streaming every
millisecond until no stream is open (the call cancelled, its Immich paging stopped).
Usage: python3 disconnect_client.py HOST PORT ROUNDS"""
import http.client
import json
import socket
import statistics
import sys
import time

host, port, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "queryPhotos", "arguments": {"limit": 1000000}, "_meta": meta}})
request = ("POST /mcp HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
           "accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n"
           "mcp-method: tools/call\r\nmcp-name: queryPhotos\r\ncontent-length: %d\r\n\r\n%s"
           % (host, len(body), body)).encode()
health = http.client.HTTPConnection(host, port, timeout=10)


def active():
    health.request("GET", "/health/streaming")
    return json.loads(health.getresponse().read())["activeStreams"]


samples = []
for _ in range(rounds):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(request)
    seen = b""
    while b"notifications/stream/data" not in seen:
        seen += s.recv(65536)
    s.close()
    gone = time.perf_counter()
    while active() > 0:
        time.sleep(0.001)
    samples.append((time.perf_counter() - gone) * 1000)
samples.sort()
print(json.dumps({"rounds": rounds, "median_ms": round(statistics.median(samples), 2),
                  "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 2), "max_ms": round(samples[-1], 2)}))
