// A stand-in for Immich's web app and live updates: a real socket.io server (the library Immich
// uses) at /api/socket.io on 127.0.0.1, with Immich's ping interval, and a page at / that connects
// to it from a browser and shows what arrives. On connect the server sends an Immich-shaped
// event; "echo" is answered with the same payload. Prints {"port": N} once listening.
// Usage: node socketio_server.mjs
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Server } from "socket.io";

const here = dirname(fileURLToPath(import.meta.url));
const client = readFileSync(join(here, "node_modules/socket.io-client/dist/socket.io.min.js"));
const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Immich (stand-in)</title>
<script src="/live.js"></script></head><body><h1>Live updates</h1>
<p id="status">offline</p><p id="echo"></p>
<script>
const socket = io({ path: "/api/socket.io", transports: ["websocket"] });
socket.on("connect", () => socket.emit("echo", "from the browser"));
socket.on("on_server_version", (v) => { document.getElementById("status").textContent = "live: Immich " + v.major + "." + v.minor + "." + v.patch; });
socket.on("echo", (text) => { document.getElementById("echo").textContent = "echo: " + text; });
</script></body></html>`;
const http = createServer((req, res) => {
  if (req.url === "/") { res.writeHead(200, { "content-type": "text/html; charset=utf-8" }); res.end(page); return; }
  if (req.url === "/live.js") { res.writeHead(200, { "content-type": "text/javascript" }); res.end(client); return; }
  res.writeHead(404); res.end();
});
const io = new Server(http, { path: "/api/socket.io", pingInterval: 25_000, pingTimeout: 20_000 });
let connections = 0;
io.on("connection", (socket) => {
  connections += 1;
  socket.emit("on_server_version", { major: 3, minor: 1, patch: 0, connection: connections });
  socket.on("echo", (payload, ack) => {
    socket.emit("echo", payload);
    if (typeof ack === "function") ack("ok");
  });
});
http.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: http.address().port })));
