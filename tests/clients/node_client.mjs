// The official TypeScript SDK client against the gateway: initialize, list tools across pages,
// call tools, receive progress. Usage: node node_client.mjs http://127.0.0.1:PORT/mcp
// Prints one JSON summary line; exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2]);
const fail = (message) => { console.error(`FAIL: ${message}`); process.exit(1); };
const timer = setTimeout(() => fail("timed out after 60 s"), 60_000);

const client = new Client({ name: "node-sdk-test", version: "1.0.0" }, { capabilities: {} });
const transport = new StreamableHTTPClientTransport(url);
await client.connect(transport);
if (!transport.sessionId) fail("no Mcp-Session-Id after initialize");
const server = client.getServerVersion();
if (server?.name !== "immich-mcp-gateway") fail(`unexpected server ${JSON.stringify(server)}`);

const tools = [];
let pages = 0;
let cursor;
do {
  const page = await client.listTools(cursor ? { cursor } : {});
  tools.push(...page.tools);
  pages += 1;
  cursor = page.nextCursor;
} while (cursor);
if (pages < 2) fail(`expected several pages of tools, got ${pages}`);
const names = new Set(tools.map((t) => t.name));
if (names.size !== tools.length) fail("a tool was listed twice across pages");

const text = await client.callTool({ name: "test_simple_text", arguments: {} });
if (text.content?.[0]?.text !== "This is a simple text response for testing.") fail(`bad result ${JSON.stringify(text)}`);

const progress = [];
const withProgress = await client.callTool(
  { name: "test_tool_with_progress", arguments: {} },
  undefined,
  { onprogress: (p) => progress.push(p.progress) },
);
if (withProgress.isError) fail("progress tool failed");
if (progress.join(",") !== "0,50,100") fail(`progress was ${JSON.stringify(progress)}`);

const failing = await client.callTool({ name: "test_error_handling", arguments: {} });
if (failing.isError !== true) fail("the error tool did not return isError");

await transport.terminateSession();
await client.close();
clearTimeout(timer);
console.log(JSON.stringify({ ok: true, pages, tools: tools.length, progress }));
