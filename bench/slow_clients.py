"""Issue 5 benchmark (d): SLOW concurrent streamed queryPhotos whose clients read at RATE bytes/s
each (small socket buffers, so the gateway feels it), and meanwhile one fast client streaming
FAST photos. After one uncounted warm-up stream, each of ROUNDS rounds times the fast client alone
and then amid the slow streams. Prints those times and their ratios, the gateway's CPU seconds for
the fast client alone and its share of a core while only the slow streams run, the slow clients'
mean read rate, and the gateway's peak RSS (sampled every 100 ms).

The fast client runs as its own process (this script with --fast), as a separate program would:
in the slow clients' event loop its reads would wait behind their thousands of wake-ups a second.

Two controls. Given DEMO (the demo Immich's URL): the same FAST assets read straight from the demo
Immich, page after page of 1,000, with no gateway in the way, alone and amid the slow streams.
Given OTHER_PORT (a second gateway on the same demo): the fast client on this gateway while the
slow streams go through the other one, so the two share nothing in a gateway. How much the
controls slow down is what the shared machine (two cores: the demo, the clients and the gateways)
takes from any client; what the first figure adds to the second is what sharing the gateway costs.

Usage: python3 slow_clients.py HOST PORT GATEWAY_PID SLOW RATE SECONDS FAST [ROUNDS [DEMO [OTHER_PORT]]]
       python3 slow_clients.py --fast HOST PORT FAST   (prints seconds and bytes)
       python3 slow_clients.py --direct DEMO FAST      (prints seconds and bytes)"""
import asyncio
import json
import statistics
import sys
import time

if sys.argv[1] == "--fast":
    host, port, fast = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
elif sys.argv[1] == "--direct":
    demo, fast = sys.argv[2], int(sys.argv[3])
else:
    host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    slow, rate, seconds, fast = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    rounds = int(sys.argv[8]) if len(sys.argv) > 8 else 1
    demo = sys.argv[9] if len(sys.argv) > 9 else None
    other_port = int(sys.argv[10]) if len(sys.argv) > 10 else None


def request(limit):
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "queryPhotos", "arguments": {"limit": limit}, "_meta": meta}})
    return (f"POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            "accept: application/json, text/event-stream\r\nmcp-protocol-version: 2026-07-28\r\n"
            "mcp-method: tools/call\r\nmcp-name: queryPhotos\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}").encode()


def rss_kib():
    with open(f"/proc/{pid}/status") as status:
        return int(next(l for l in status if l.startswith("VmRSS")).split()[1])


async def slow_client(stop, received, at):
    import socket
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, at))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    writer.write(request(1_000_000))
    started = time.perf_counter()
    got = 0
    while not stop.is_set():
        data = await reader.read(4096)
        if not data:
            break
        got += len(data)
        # Hold the average at RATE: sleep until this many bytes are due.
        due = started + got / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    received.append(got / (time.perf_counter() - started))
    writer.close()


async def fast_client_process():
    """The fast client's (seconds, bytes), from its own process."""
    return await client_process("--fast", host, str(port), str(fast))


async def client_process(*args):
    """(seconds, bytes) printed by this script run as a client in its own process."""
    child = await asyncio.create_subprocess_exec(sys.executable, __file__, *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    seconds, size = out.split()
    return float(seconds), int(size)


def direct_client():
    """The control: FAST assets straight from the demo Immich, as the gateway reads them."""
    import http.client
    import socket
    import urllib.parse
    url = urllib.parse.urlsplit(demo)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started, total = time.perf_counter(), 0
    for page in range(1, fast // 1000 + 1):
        body = json.dumps({"page": page, "size": 1000, "withExif": True, "withPeople": True})
        conn.request("POST", "/api/search/metadata", body,
                     {"content-type": "application/json", "x-api-key": "demo-admin-key"})
        total += len(conn.getresponse().read())
    return time.perf_counter() - started, total


async def fast_client():
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    started = time.perf_counter()
    writer.write(request(fast))
    total = 0
    while True:
        data = await reader.read(1 << 20)
        if not data:
            break
        total += len(data)
    writer.close()
    return time.perf_counter() - started, total


def cpu_seconds():
    """The gateway's user + system CPU time so far."""
    import os
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, total) CPU ticks of the whole machine so far, all cores."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


async def busy_while(run):
    """Awaits `run`, returning its result and the machine's busy share meanwhile (% of all cores)."""
    busy0, total0 = machine_ticks()
    result = await run
    busy1, total1 = machine_ticks()
    return result, 100 * (busy1 - busy0) / max(1, total1 - total0)


async def main():
    peak = [rss_kib()]
    sampling = asyncio.Event()

    async def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], rss_kib())
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    # A first stream warms the gateway and the demo (pools, pages, allocator); it is not counted.
    await fast_client_process()
    alone_runs, loaded_runs, received, cpu_alone, slow_only_cpu, slow_only_busy = [], [], [], [], None, None
    control_alone, control_loaded, apart_runs = [], [], []
    busy_alone, busy_loaded = [], []
    for round_no in range(rounds):
        # Each round measures the fast client alone and then amid the slow streams, back to back,
        # so the pair sees the same machine (this VM's speed drifts by ±20% over minutes).
        cpu_before = cpu_seconds()
        (alone, size), busy = await busy_while(fast_client_process())
        busy_alone.append(busy)
        cpu_alone.append(cpu_seconds() - cpu_before)
        if demo:
            control_alone.append((await client_process("--direct", demo, str(fast)))[0])
        stop = asyncio.Event()
        slow_tasks = [asyncio.create_task(slow_client(stop, received, port)) for _ in range(slow)]
        await asyncio.sleep(2)  # every slow stream is open and backed up
        (loaded, _), busy = await busy_while(fast_client_process())
        busy_loaded.append(busy)
        if demo:
            control_loaded.append((await client_process("--direct", demo, str(fast)))[0])
        alone_runs.append(alone)
        loaded_runs.append(loaded)
        remaining = seconds - 2 - loaded - (control_loaded[-1] if demo else 0)
        if round_no == rounds - 1 and remaining > 0:
            cpu_before, started = cpu_seconds(), time.perf_counter()
            _, slow_only_busy = await busy_while(asyncio.sleep(remaining))
            slow_only_cpu = 100 * (cpu_seconds() - cpu_before) / (time.perf_counter() - started)
        stop.set()
        await asyncio.gather(*slow_tasks)
        if other_port:
            stop = asyncio.Event()
            slow_tasks = [asyncio.create_task(slow_client(stop, [], other_port)) for _ in range(slow)]
            await asyncio.sleep(2)
            apart_runs.append((await fast_client_process())[0])
            stop.set()
            await asyncio.gather(*slow_tasks)
    sampling.set()
    await sampler
    slowdowns = [loaded / alone for alone, loaded in zip(alone_runs, loaded_runs)]
    control = [loaded / alone for alone, loaded in zip(control_alone, control_loaded)]
    apart = [loaded / alone for alone, loaded in zip(alone_runs, apart_runs)]
    print(json.dumps({
        "slow_clients": slow, "slow_rate_target_kBps": rate / 1000,
        "slow_rate_mean_kBps": round(sum(received) / len(received) / 1000, 1),
        "fast_photos": fast, "fast_bytes": size, "rounds": rounds,
        "fast_alone_s": [round(t, 2) for t in alone_runs],
        "fast_under_load_s": [round(t, 2) for t in loaded_runs],
        "fast_slowdown": [round(x, 2) for x in slowdowns],
        "fast_slowdown_median": round(statistics.median(slowdowns), 2),
        "control_alone_s": [round(t, 2) for t in control_alone],
        "control_under_load_s": [round(t, 2) for t in control_loaded],
        "control_slowdown": [round(x, 2) for x in control],
        "control_slowdown_median": control and round(statistics.median(control), 2),
        "slow_on_other_gateway_s": [round(t, 2) for t in apart_runs],
        "slow_on_other_gateway_slowdown": [round(x, 2) for x in apart],
        "slow_on_other_gateway_slowdown_median": apart and round(statistics.median(apart), 2),
        "gateway_cpu_fast_alone_s": round(statistics.median(cpu_alone), 2),
        # How busy the two cores were (% of both) while the fast client ran alone and amid the
        # slow streams: near 100 amid them, the machine has nothing left to keep its speed with.
        "machine_busy_pct_fast_alone": round(statistics.median(busy_alone)),
        "machine_busy_pct_fast_amid_slow": round(statistics.median(busy_loaded)),
        # Percent of one core while only the slow streams run (after the last fast client).
        "gateway_cpu_slow_only_pct": slow_only_cpu and round(slow_only_cpu),
        "machine_busy_pct_slow_only": slow_only_busy and round(slow_only_busy),
        "gateway_peak_rss_mb": round(peak[0] / 1024, 1),
    }))

if sys.argv[1] == "--fast":
    print(*asyncio.run(fast_client()))
elif sys.argv[1] == "--direct":
    print(*direct_client())
else:
    asyncio.run(main())
