// Seed 000's story in Chromium against any cognate deployment of it:
// open SignInUrl, sign in, land on the app's "/" with the session cookie,
// then a fresh browser context (the write-up's incognito window).
// Input (stdin, JSON): signInUrl, apiUrl, username, password.
// Output: what the browser saw.
import { chromium } from "playwright-core";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const out = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(input.signInUrl);
  await page.fill("#username", input.username);
  await page.fill("#password", input.password);
  await Promise.all([page.waitForURL((u) => u.href === input.apiUrl + "/"), page.click("button[type=submit]")]);
  out.body = await page.textContent("body");
  out.cookies = await context.cookies(input.apiUrl);
  out.visibleToScript = await page.evaluate(() => document.cookie);
  const fresh = await browser.newContext();
  const answer = await (await fresh.newPage()).goto(input.apiUrl + "/");
  out.freshStatus = answer.status();
  out.freshBody = await answer.text();
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
await browser.close();
console.log(JSON.stringify(out));
