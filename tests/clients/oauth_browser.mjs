// A person in a real browser (headless Chromium, JavaScript off) on the gateway's sign-in page:
// finds every field by its label, as a screen reader would, signs in, chooses the access, allows,
// and is sent back to the client's redirect URI. Screenshots of the page in light and dark.
// Usage: node oauth_browser.mjs AUTHORIZE_URL REDIRECT_URI EMAIL PASSWORD ACCESS SHOT_DIR
// Prints one JSON line: the redirect's parameters and the page's accessibility tree.
import { withBrowser } from "./browser.mjs";

const [authorizeUrl, redirectUri, email, password, access, shots] = process.argv.slice(2);
await withBrowser(async (browser) => {
  const result = {};
  for (const scheme of ["dark", "light"]) {
    const context = await browser.newContext({ javaScriptEnabled: false, colorScheme: scheme, viewport: { width: 520, height: 900 } });
    const page = await context.newPage();
    let redirected = null;
    await page.route(`${redirectUri}**`, (route) => {
      redirected = route.request().url();
      return route.fulfill({ status: 200, contentType: "text/plain", body: "back at the client" });
    });
    const response = await page.goto(authorizeUrl);
    if (response.status() !== 200) throw new Error(`sign-in page: HTTP ${response.status()}`);
    await page.screenshot({ path: `${shots}/oauth-sign-in-${scheme}.png`, fullPage: true });
    result.aria = await page.locator("main").ariaSnapshot();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("radio", { name: access === "write" ? /Read and change/ : /Read only/ }).check();
    await page.getByRole("button", { name: "Allow" }).click();
    await page.waitForURL(`${redirectUri}**`, { timeout: 15000 });
    const params = new URL(redirected).searchParams;
    result[scheme] = { code: params.get("code"), state: params.get("state"), iss: params.get("iss"), error: params.get("error") };
    await context.close();
  }
  return result;
});
