// A page of the gateway's as a person sees it: headless Chromium with JavaScript off loads URL
// (asking for HTML, as a browser does), saves a full-page screenshot to SHOT, and prints one JSON
// line: the HTTP status, the title, the visible text and the accessibility tree.
// Usage: node page_snapshot.mjs URL SHOT [dark|light]
import { withBrowser } from "./browser.mjs";

const [url, shot, scheme = "light"] = process.argv.slice(2);
await withBrowser(async (browser) => {
  const context = await browser.newContext({ javaScriptEnabled: false, colorScheme: scheme, viewport: { width: 960, height: 900 } });
  const page = await context.newPage();
  const response = await page.goto(url);
  await page.screenshot({ path: shot, fullPage: true });
  const result = {
    status: response.status(),
    title: await page.title(),
    text: await page.locator("body").innerText(),
    aria: await page.locator("body").ariaSnapshot(),
    codes: await page.locator("ul.tools code").count(),
  };
  return result;
});
