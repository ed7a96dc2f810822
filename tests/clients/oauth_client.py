"""The official Python SDK's OAuth client (`OAuthClientProvider`) against the gateway in oauth
mode, end to end: discovery (RFC 9728, RFC 8414) -> dynamic registration (RFC 7591) ->
authorization with PKCE, where this script plays the person: it opens the sign-in page, fills in
the form and approves -> token -> tool calls -> refresh -> revocation -> 401.

Usage: python3 oauth_client.py MCP_URL EMAIL PASSWORD ACCESS [CLIENT_METADATA_URL]
ACCESS is `read` or `write`: what the person allows on the sign-in page. With a
CLIENT_METADATA_URL the client identifies itself by that document (CIMD) instead of registering.
Prints one JSON summary line; exits non-zero on any failure."""

import asyncio
import html.parser
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class Form(html.parser.HTMLParser):
    """The sign-in page's form: its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = None
        self.hidden = {}
        self.labels = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs["name"]] = attrs.get("value", "")
        if tag == "label":
            self.labels += 1


class Person:
    """Plays the person in the browser: opens the sign-in page and approves."""

    def __init__(self, email: str, password: str, access: str) -> None:
        self.email, self.password, self.access = email, password, access
        self.result: AuthorizationCodeResult | None = None
        self.pages = 0

    async def redirect(self, authorization_url: str) -> None:
        self.pages += 1
        async with httpx2.AsyncClient(timeout=20) as browser:
            page = await browser.get(authorization_url)
            if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
                fail(f"sign-in page: HTTP {page.status_code} {page.text[:300]}")
            if "frame-ancestors 'none'" not in page.headers.get("content-security-policy", ""):
                fail("the sign-in page can be framed")
            form = Form()
            form.feed(page.text)
            if not form.action or "consent" not in form.hidden or form.labels < 3:
                fail(f"no usable sign-in form on the page: {page.text[:500]}")
            fields = dict(form.hidden, email=self.email, password=self.password, access=self.access, action="approve")
            answer = await browser.post(form.action, data=fields)
            if answer.status_code != 302:
                fail(f"approval: HTTP {answer.status_code} {answer.text[:300]}")
            query = parse_qs(urlparse(answer.headers["location"]).query)
            if "code" not in query:
                fail(f"no code in the redirect: {answer.headers['location']}")
            self.result = AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
            )

    async def callback(self) -> AuthorizationCodeResult:
        return self.result


async def main(url: str, email: str, password: str, access: str, metadata_url: str | None = None) -> None:
    storage, person = Memory(), Person(email, password, access)
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK test client",
            redirect_uris=["http://127.0.0.1:33418/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
        client_metadata_url=metadata_url,
    )
    summary = {"access": access}
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                tools = {t.name for t in (await session.list_tools()).tools}
                summary["tools"] = len(tools)
                summary["write_tools"] = "createAlbum" in tools
                photos = await session.call_tool("queryPhotos", {"limit": 3})
                if photos.is_error:
                    fail(f"queryPhotos: {photos.content}")
                summary["photos"] = photos.structured_content.get("count")
                first = storage.tokens
                summary["scope"] = first.scope

                # The access token runs out: the SDK refreshes (and the gateway rotates).
                provider.context.token_expiry_time = 1
                again = await session.call_tool("queryPhotos", {"limit": 1})
                if again.is_error:
                    fail(f"after refresh: {again.content}")
                if storage.tokens.access_token == first.access_token:
                    fail("the token was not refreshed")
                if storage.tokens.refresh_token == first.refresh_token:
                    fail("the refresh token was not rotated")
                summary["refreshed"] = True

    # The rotated-out refresh token is spent.
    token_url = provider.context.oauth_metadata.token_endpoint
    revoke_url = provider.context.oauth_metadata.revocation_endpoint
    client_id = storage.client.client_id
    async with httpx2.AsyncClient(timeout=20) as raw:
        reused = await raw.post(
            str(token_url),
            data={"grant_type": "refresh_token", "refresh_token": first.refresh_token, "client_id": client_id},
        )
        summary["reused_refresh"] = reused.status_code
        if reused.status_code != 400 or reused.json().get("error") != "invalid_grant":
            fail(f"a spent refresh token was accepted: {reused.status_code} {reused.text}")

        # The reuse revoked the grant (RFC 6749 §10.4); revoking again is still 200 (RFC 7009).
        revoked = await raw.post(str(revoke_url), data={"token": storage.tokens.access_token, "client_id": client_id})
        if revoked.status_code != 200:
            fail(f"revocation: {revoked.status_code} {revoked.text}")
        after = await raw.post(
            url,
            headers={
                "authorization": f"Bearer {storage.tokens.access_token}",
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
        summary["after_revoke"] = after.status_code
        if after.status_code != 401 or 'error="invalid_token"' not in after.headers.get("www-authenticate", ""):
            fail(f"a revoked token still works: {after.status_code} {after.headers}")
    summary["sign_in_pages"] = person.pages
    summary["client_id"] = client_id
    summary["ok"] = True
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(*sys.argv[1:6]), 60))
