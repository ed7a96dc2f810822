// The real socket.io client through the gateway, as Immich's web app connects for live updates:
// path /api/socket.io, WebSocket transport. Prints one JSON line per thing that happens
// ("connected", "event", "echo", "disconnected") and reads commands from stdin ("echo <text>",
// "quit"), so a test can restart the gateway in between and watch it reconnect.
// Usage: node socketio_client.mjs http://127.0.0.1:PORT
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const say = (what) => console.log(JSON.stringify(what));
const socket = io(process.argv[2], {
  path: "/api/socket.io",
  transports: ["websocket"],
  reconnectionDelay: 200,
  reconnectionDelayMax: 500,
});
socket.on("connect", () => say({ event: "connected" }));
socket.on("disconnect", (reason) => say({ event: "disconnected", reason }));
socket.on("connect_error", (error) => say({ event: "connect_error", message: error.message }));
socket.on("on_server_version", (version) => say({ event: "server_version", version }));
socket.on("echo", (payload) => say({ event: "echo", payload }));
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "quit") { socket.close(); process.exit(0); }
  if (line.startsWith("echo ")) socket.emit("echo", line.slice(5));
});
setTimeout(() => { say({ event: "timeout" }); process.exit(1); }, 60_000);
