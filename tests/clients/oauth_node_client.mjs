// The official TypeScript SDK's client auth (an OAuthClientProvider on the Streamable HTTP
// transport) against the gateway in oauth mode, end to end: 401 -> discovery -> dynamic
// registration -> authorization (this script plays the person on the sign-in page) -> finishAuth
// -> tool calls -> a refused token refreshed by the SDK -> revocation -> the SDK asks to sign in
// again. Usage: node oauth_node_client.mjs MCP_URL EMAIL PASSWORD
// Prints one JSON summary line; exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, email, password] = process.argv.slice(2);
const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();

class Provider {
  constructor() {
    this.saved = {};
    this.authorizationUrl = undefined;
    this.redirects = 0;
  }
  get redirectUrl() {
    return "http://127.0.0.1:45678/callback";
  }
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK test client",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    return "ts-state";
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(authorizationUrl) {
    this.authorizationUrl = authorizationUrl;
    this.redirects += 1;
  }
  invalidateCredentials(scope) {
    if (scope === "all" || scope === "tokens") delete this.saved.tokens;
    if (scope === "all" || scope === "client") delete this.saved.client;
    if (scope === "all" || scope === "verifier") delete this.saved.verifier;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

// The person: opens the sign-in page, signs in, allows reading and changing.
async function signIn(authorizationUrl) {
  const page = await fetch(authorizationUrl);
  if (page.status !== 200) fail(`sign-in page: HTTP ${page.status}`);
  const cookie = page.headers.get("set-cookie").split(";")[0];
  const html = await page.text();
  const consent = html.split('name="consent" value="')[1].split('"')[0];
  const action = html.split('<form method="post" action="')[1].split('"')[0];
  const form = new URLSearchParams({ consent, email, password, access: "write", action: "approve" });
  const answer = await fetch(action, {
    method: "POST",
    body: form,
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    redirect: "manual",
  });
  if (answer.status !== 302) fail(`approval: HTTP ${answer.status} ${await answer.text()}`);
  const back = new URL(answer.headers.get("location"));
  if (back.searchParams.get("state") !== "ts-state") fail(`state lost: ${back}`);
  return back.searchParams.get("code");
}

const provider = new Provider();
const summary = {};
const connect = async () => {
  const client = new Client({ name: "ts-oauth-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  return client;
};

// First connection: the SDK discovers, registers, and sends the person to sign in.
let first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
try {
  await new Client({ name: "ts-oauth-test", version: "1.0.0" }).connect(first);
  fail("connected without signing in");
} catch (e) {
  if (!(e instanceof UnauthorizedError)) fail(`expected UnauthorizedError, got ${e}`);
}
if (!provider.authorizationUrl) fail("the SDK never asked for a sign-in");
summary.registered = Boolean(provider.saved.client?.client_id);
await first.finishAuth(await signIn(provider.authorizationUrl.toString()));

const client = await connect();
const tools = (await client.listTools()).tools.map((t) => t.name);
summary.tools = tools.length;
const photos = await client.callTool({ name: "queryPhotos", arguments: { limit: 2 } });
if (photos.isError) fail(`queryPhotos: ${JSON.stringify(photos.content)}`);
summary.photos = photos.structuredContent.count;
const album = await client.callTool({ name: "createAlbum", arguments: { name: "From the TypeScript SDK" } });
if (album.isError) fail(`createAlbum: ${JSON.stringify(album.content)}`);
await client.close();

// A refused access token: the SDK refreshes it by itself.
const firstAccess = provider.saved.tokens.access_token;
provider.saved.tokens = { ...provider.saved.tokens, access_token: "g1.refused" };
const again = await connect();
await again.listTools();
summary.refreshed = provider.saved.tokens.access_token !== firstAccess && provider.saved.tokens.access_token !== "g1.refused";
await again.close();

// Revoked: the key is gone, the refresh is refused, and the SDK asks for a new sign-in.
const metadata = await (await fetch(new URL("/.well-known/oauth-authorization-server", url))).json();
const revoked = await fetch(metadata.revocation_endpoint, {
  method: "POST",
  body: new URLSearchParams({ token: provider.saved.tokens.refresh_token, token_type_hint: "refresh_token" }),
  headers: { "content-type": "application/x-www-form-urlencoded" },
});
summary.revocation = revoked.status;
const redirectsBefore = provider.redirects;
try {
  await connect();
  fail("connected after revocation");
} catch (e) {
  if (!(e instanceof UnauthorizedError)) fail(`expected UnauthorizedError after revocation, got ${e}`);
}
summary.asked_to_sign_in_again = provider.redirects > redirectsBefore;
summary.ok = true;
console.log(JSON.stringify(summary));
process.exit(0);
