"""Opens N idle streams of one kind on the gateway at URL and holds them, then EXTRA more past
the gateway's stream limits (set to N by bench/idle_streams.sh); prints the gateway's RSS (from
/proc/PID/status) before and after the N, the growth per stream, and how the EXTRA were answered.

Kinds: listen (2026-07-28 subscriptions/listen), get (a session's standalone GET stream), ws
(MCP over WebSocket at /mcp/ws, opened and left quiet), parked (a session's streamed queryPhotos
of 100,000 photos whose client leaves right after the head, before any event that carries a resume
token: the rest is parked for a Last-Event-ID), left (the same, but the client leaves after the
stream's first event with a resume token: nothing is kept, the token resumes it).
Usage: python3 idle_streams.py URL PID KIND N [EXTRA]
"""
import asyncio, base64, json, os, resource, sys, time, urllib.request

url, pid, kind, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
extra = int(sys.argv[5]) if len(sys.argv) > 5 else 0
host, port = url.removeprefix("http://").split(":")
port = int(port)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + extra + 1024), hard))


def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024


def request_bytes(session):
    if kind == "listen":
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {
            "notifications": {"toolsListChanged": True},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
        head = (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\ncontent-type: application/json\r\n"
                "accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n"
                f"mcp-method: subscriptions/listen\r\ncontent-length: {len(body)}\r\n\r\n")
        return head.encode() + body
    if kind in ("parked", "left"):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "queryPhotos", "arguments": {"limit": 100000}}}).encode()
        return (f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\ncontent-type: application/json\r\n"
                "accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n"
                f"mcp-session-id: {session}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
    if kind == "get":
        return (f"GET /mcp HTTP/1.1\r\nHost: {host}:{port}\r\naccept: text/event-stream\r\n"
                f"mcp-session-id: {session}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n").encode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /mcp/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n\r\n").encode()


async def session_id():
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "idle", "version": "1"}}}).encode()
    writer.write((f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\ncontent-type: application/json\r\n"
                  f"accept: application/json, text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body)
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    writer.close()
    return next(l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("mcp-session-id:"))


async def open_one(session, held):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request_bytes(session))
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status = int(head.split()[1])
        if kind in ("parked", "left") and status == 200:
            if kind == "left":
                await asyncio.wait_for(reader.readuntil(b"resumeToken"), 30)
            else:
                await asyncio.wait_for(reader.read(1), 30)
            writer.close()  # the client leaves
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        status = type(e).__name__
    held.append((reader, writer, status))


def streams_open():
    with urllib.request.urlopen(f"{url}/health/streaming") as r:
        return json.load(r)["activeStreams"]


async def main():
    session = await session_id() if kind in ("get", "parked", "left") else None
    await asyncio.sleep(0.5)
    before = rss()
    held = []
    for start in range(0, n, 200):
        await asyncio.gather(*(open_one(session, held) for _ in range(start, min(n, start + 200))))
    await asyncio.sleep(2)
    after = rss()
    ok = sum(1 for _, _, s in held if s in (101, 200))
    active = streams_open()
    past = []
    for start in range(0, extra, 200):
        await asyncio.gather(*(open_one(session, past) for _ in range(start, min(extra, start + 200))))
    await asyncio.sleep(1)
    answers = {}
    for _, _, status in past:
        answers[str(status)] = answers.get(str(status), 0) + 1
    print(json.dumps({"kind": kind, "streams": n, "open": ok, "refused": n - ok, "active_streams": active,
                      "rss_before_mb": round(before / 2**20, 1), "rss_after_mb": round(after / 2**20, 1),
                      "per_stream_kb": round((after - before) / max(ok, 1) / 1024, 1),
                      "past_the_limits": answers, "active_streams_after": streams_open()}))
    for _, writer, _ in held + past:
        writer.close()


asyncio.run(main())
