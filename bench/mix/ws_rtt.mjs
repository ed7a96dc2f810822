// WebSocket round trips through a proxy: connects to URL, sends COUNT small text messages one
// after another (each after the previous echo), prints {"p50_us","p99_us","count"}.
// Usage: node ws_rtt.mjs ws://127.0.0.1:PORT/api/socket.io/ COUNT
import { createRequire } from "node:module";
// `ws` comes with the pinned test clients (npm ci --prefix tests/clients).
const WebSocket = createRequire(new URL("../../tests/clients/package.json", import.meta.url))("ws");
const [url, count] = [process.argv[2], Number(process.argv[3] || 5000)];
const ws = new WebSocket(url);
const times = [];
ws.on("open", () => {
  let sent = process.hrtime.bigint();
  ws.on("message", () => {
    const now = process.hrtime.bigint();
    times.push(Number(now - sent) / 1000);
    if (times.length === count) {
      times.sort((a, b) => a - b);
      const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
      console.log(JSON.stringify({ p50_us: at(0.5), p99_us: at(0.99), count }));
      ws.close();
      return;
    }
    sent = process.hrtime.bigint();
    ws.send("2probe");
  });
  ws.send("2probe");
});
ws.on("error", (e) => { console.error(e.message); process.exit(1); });
