"""The heavy attacks of bench/attack.sh (issue 20 points 2 and 7), each against a running gateway.

  idle HOST PORT ADMIN_PORT PID N EXTRA
      N connections each ask GET /health once and stay open, idle (keep-alive), while a probe on
      its own kept-alive connection asks /health every 20 ms (and another on the admin port);
      then EXTRA new connections each ask /health (past the cap the gateway closes the
      longest-idle connection to make room). Then the N are replaced by N connections that have
      sent half a request head (not idle, so not evictable) and EXTRA more connect: past
      max_connections each must get a clean 503, while the admin port's probe goes on.
      Prints the probes' latency at each stage, the RSS per idle connection, and counts.
  batches HOST PORT PID SIZE
      A 2025-03-26 session posts a batch of SIZE tools/list requests, 20 times from 10
      connections at once: every answer must be a JSON-RPC answer (refused as a whole past
      max_batch_size, else answered within max_batch_response_size); prints the times and peak RSS.
"""
import asyncio, json, resource, statistics, sys, time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin_port = int(sys.argv.pop(4)) if mode == "idle" else None
pid = int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb(field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    length, chunked = 0, False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        body += await reader.readexactly(size + 2)
        del body[-2:]
        if size == 0:
            return status, bytes(body)


HEALTH = f"GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()


class Probe:
    """A kept-alive client asking /health every 20 ms; latencies are collected per stage."""

    def __init__(self, port):
        self.port, self.stage, self.times, self.failures = port, "idle", {}, 0

    async def run(self, stop):
        reader, writer = await asyncio.open_connection(host, self.port)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                writer.write(HEALTH)
                await writer.drain()
                status, _ = await asyncio.wait_for(read_response(reader), 5)
                if status != 200:
                    self.failures += 1
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                self.failures += 1
                reader, writer = await asyncio.open_connection(host, self.port)
                continue
            self.times.setdefault(self.stage, []).append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        writer.close()

    def summary(self, stage):
        ms = sorted(t * 1000 for t in self.times.get(stage, []))
        if not ms:
            return f"{stage}: no requests"
        return (f"{stage}: {len(ms)} probes, p50 {statistics.median(ms):.2f} ms, "
                f"p99 {ms[max(0, int(len(ms) * 0.99) - 1)]:.2f} ms, max {ms[-1]:.2f} ms")


async def idle_one(held, counts):
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(HEALTH)
        await writer.drain()
        status, _ = await asyncio.wait_for(read_response(reader), 30)
        counts[status] = counts.get(status, 0) + 1
        held.append((reader, writer))
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1


async def half_head(held, counts):
    """Half a request head, then nothing: not idle, so the cap cannot close it to make room; the
    gateway answers 503 to one it cannot admit."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET /health HTTP/1.1\r\nhost: {host}\r\n".encode())
        await writer.drain()
        held.append((reader, writer))
        try:
            status, _ = await asyncio.wait_for(read_response(reader), 0.2)
            counts[status] = counts.get(status, 0) + 1
        except asyncio.TimeoutError:
            counts["held"] = counts.get("held", 0) + 1
    except (OSError, asyncio.IncompleteReadError) as e:
        counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1


async def in_batches(make, n, size=500):
    for start in range(0, n, size):
        await asyncio.gather(*(make() for _ in range(min(size, n - start))))


async def hold(kind, n):
    """A helper process (a process holds at most its open-file limit of connections): opens n
    connections of `kind`, prints its counts as a JSON line, holds them until stdin closes, then
    prints how many the gateway had closed meanwhile."""
    held, counts = [], {}
    await in_batches(lambda: (idle_one if kind == "idle" else half_head)(held, counts), n)
    print(json.dumps({str(k): v for k, v in counts.items()}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    closed = sum(1 for reader, _ in held if reader.at_eof())
    print(json.dumps({"closed_by_gateway": closed}), flush=True)
    for _, writer in held:
        writer.close()


class Holders:
    """Helper processes holding `n` connections of `kind` between them."""

    async def open(self, kind, n, per_process=9000):
        self.procs, counts = [], {}
        for start in range(0, n, per_process):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "hold", host, str(port), str(pid), kind, str(min(per_process, n - start)),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            self.procs.append(proc)
        for proc in self.procs:
            for k, v in json.loads(await proc.stdout.readline()).items():
                counts[k] = counts.get(k, 0) + v
        return counts

    async def close(self):
        closed = 0
        for proc in self.procs:
            proc.stdin.close()
            closed += json.loads(await proc.stdout.readline())["closed_by_gateway"]
            await proc.wait()
        return closed


async def idle(n, extra):
    stop, stop_main = asyncio.Event(), asyncio.Event()
    main, admin = Probe(port), Probe(admin_port)
    probing = [asyncio.ensure_future(main.run(stop_main)), asyncio.ensure_future(admin.run(stop))]

    def stage(name):
        main.stage = admin.stage = name

    await asyncio.sleep(3)
    before = rss_kb()
    stage("opening")
    started = time.monotonic()
    holders = Holders()
    counts = await holders.open("idle", n)
    opened = time.monotonic() - started
    stage("held idle")
    await asyncio.sleep(5)
    after = rss_kb()
    held = counts.get("200", 0)
    print(f"{n} connections asked /health and stayed idle (opened in {opened:.1f} s): answers {counts}; "
          f"gateway RSS {before / 1024:.1f} -> {after / 1024:.1f} MB = {(after - before) / max(1, held):.1f} KB "
          f"per idle connection")
    stage("new connections past the cap")
    evicting = {}
    await in_batches(lambda: idle_one([], evicting), extra)
    print(f"{extra} more connections at the cap (each makes room by closing the longest-idle): answers {evicting}")
    closed = await holders.close()
    print(f"idle connections the gateway closed to make room: {closed}")
    # The main listener's probe is a keep-alive connection like the others: with the cap held by
    # connections that cannot make room, it is the one that would be closed; the admin port's
    # probe (Kubernetes' probes) has its own connection count.
    stop_main.set()
    await asyncio.sleep(3)
    stage("cap held by half-sent heads")
    holders = Holders()
    counts = await holders.open("half", n)
    refused = {}
    await in_batches(lambda: half_head([], refused), extra)
    print(f"{n} connections sent half a head: {counts}; {extra} more past the cap: {refused}")
    await asyncio.sleep(2)
    await holders.close()
    stop.set()
    await asyncio.gather(*probing)
    for name, probe in (("main", main), ("admin", admin)):
        for s in ["idle", "opening", "held idle", "new connections past the cap", "cap held by half-sent heads"]:
            if s in probe.times:
                print(f"{name} probe " + probe.summary(s))
        print(f"{name} probe failures: {probe.failures}")


async def batches(size):
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "attack", "version": "1"}}}).encode()
    writer.write((f"POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
                  f"accept: application/json, text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body)
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    session = next(l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("mcp-session-id:"))
    writer.close()
    batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "tools/list"} for i in range(size)]).encode()
    request = (f"POST /mcp HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
               f"accept: application/json\r\nmcp-session-id: {session}\r\nmcp-protocol-version: 2025-03-26\r\n"
               f"content-length: {len(batch)}\r\n\r\n").encode() + batch
    outcomes, times = {}, []

    async def client():
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(2):
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, body = await asyncio.wait_for(read_response(reader), 60)
            times.append(time.perf_counter() - started)
            answer = json.loads(body)
            if isinstance(answer, list):
                key = f"{status}: {len(answer)} answers"
            else:
                key = f"{status}: {answer.get('error', {}).get('message', 'result')[:70]}"
            outcomes[key] = outcomes.get(key, 0) + 1
        writer.close()

    before = rss_kb()
    await asyncio.gather(*(client() for _ in range(10)))
    ms = sorted(t * 1000 for t in times)
    print(f"{len(batch)}-byte batch of {size} tools/list, 20 posts from 10 connections: {outcomes}; "
          f"p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms; RSS {before / 1024:.1f} MB before, "
          f"peak {rss_kb('VmHWM') / 1024:.1f} MB")


if mode == "hold":
    asyncio.run(hold(sys.argv[5], int(sys.argv[6])))
elif mode == "idle":
    asyncio.run(idle(int(sys.argv[5]), int(sys.argv[6])))
elif mode == "batches":
    asyncio.run(batches(int(sys.argv[5])))
else:
    sys.exit(__doc__)
