// The benchmark's second baseline: the official TypeScript SDK serving the same cheap tool call.
// Usage: node ts-echo.mjs PORT session|stateless   (resolves the SDK from tests/clients)
import http from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tests/clients/package.json"));
const { McpServer } = await import(require.resolve("@modelcontextprotocol/sdk/server/mcp.js"));
const { StreamableHTTPServerTransport } = await import(require.resolve("@modelcontextprotocol/sdk/server/streamableHttp.js"));
const { randomUUID } = await import("node:crypto");

const [port, mode] = [Number(process.argv[2]), process.argv[3] ?? "session"];

function makeServer() {
  const server = new McpServer({ name: "ts-echo", version: "1.0.0" });
  server.tool("test_simple_text", "Returns a simple text response", async () => ({
    content: [{ type: "text", text: "This is a simple text response for testing." }],
  }));
  return server;
}

const transports = new Map();

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
}

const httpServer = http.createServer(async (req, res) => {
  const body = req.method === "POST" ? await readJson(req) : undefined;
  if (mode === "stateless") {
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    return;
  }
  const id = req.headers["mcp-session-id"];
  let transport = id && transports.get(id);
  if (!transport) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (sid) => transports.set(sid, transport),
    });
    await makeServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
});
httpServer.on("connection", (socket) => socket.setNoDelay(true));
httpServer.listen(port, "127.0.0.1");
