// A stand-in for Immich's live updates: a real socket.io server (the library Immich uses) at
// /api/socket.io on 127.0.0.1, with Immich's ping interval. On connect it sends an Immich-shaped
// event; "echo" is answered with the same payload. Prints {"port": N} once listening.
// Usage: node socketio_server.mjs
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer((req, res) => { res.writeHead(404); res.end(); });
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
