// Headless Chromium for the gateway's page tests, as the machine's notes say to start it (no
// background networking: the closed network refuses it), with one bound on the whole run:
// `withBrowser(work)` runs `work(browser)`, prints its result as one JSON line, and exits non-zero
// on any failure or after 30 seconds.
import { chromium } from "playwright-core";

export async function withBrowser(work) {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const timer = setTimeout(() => { console.error("FAIL: timed out"); process.exit(1); }, 30000);
  try {
    console.log(JSON.stringify(await work(browser)));
  } catch (e) {
    console.error(`FAIL: ${e.stack || e}`);
    process.exitCode = 1;
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
}
