// A WebSocket echo server at any path on 127.0.0.1 (the upstream of the round-trip benchmark).
// Prints {"port": N} once listening. Usage: node ws_echo.mjs
import { createRequire } from "node:module";
// `ws` comes with the pinned test clients (npm ci --prefix tests/clients).
const { WebSocketServer } = createRequire(new URL("../../tests/clients/package.json", import.meta.url))("ws");
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
wss.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
wss.on("listening", () => console.log(JSON.stringify({ port: wss.address().port })));
