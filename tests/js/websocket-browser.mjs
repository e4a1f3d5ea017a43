// Seed 001's story in a real browser (Debian's Chromium, playwright-core):
// two users sign in on the demo (SignInUrl -> HttpOnly session cookies),
// each page opens the demo WebSocket with its cookies and the CSRF token
// read from the CSRF cookie, echoes, and broadcasts to the other browser.
// Then the refusals: no CSRF value, a wrong one, no session cookie, and a
// page of another origin (with the user's cookies and even the token).
// Input (stdin, JSON): signInUrl, apiUrl, webSocketUrl, foreignUrl, users
// [{username, password}]. Output (stdout, JSON): what the pages saw.
import { chromium } from "playwright-core";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const out = {};

async function signIn(user) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(input.signInUrl);
  await page.fill("#username", user.username);
  await page.fill("#password", user.password);
  await Promise.all([page.waitForURL((u) => u.href === input.apiUrl + "/"), page.click("button[type=submit]")]);
  return [context, page];
}

// In the page: opens the socket; resolves with what happened within 5 s.
async function attempt(page, query, protocols) {
  return page.evaluate(async ([url, protocols]) => {
    return await new Promise((resolve) => {
      const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
      let opened = false;
      ws.onopen = () => { opened = true; resolve({ opened, protocol: ws.protocol }); ws.close(1000); };
      ws.onclose = (e) => { if (!opened) resolve({ opened, code: e.code }); };
      setTimeout(() => resolve({ opened, timeout: true }), 5000);
    });
  }, [input.webSocketUrl + query, protocols || null]);
}

const csrfOf = (page) => page.evaluate(() =>
  document.cookie.split("; ").find((c) => c.startsWith("__Host-cognate-csrf=")).split("=")[1]);

try {
  const [ctxA, pageA] = await signIn(input.users[0]);
  const [ctxB, pageB] = await signIn(input.users[1]);
  // Each page keeps one open socket; messages are collected in window.got.
  for (const page of [pageA, pageB]) {
    const csrf = await csrfOf(page);
    await page.evaluate(async (url) => {
      window.got = [];
      window.ws = new WebSocket(url);
      window.ws.onmessage = (e) => window.got.push(e.data);
      await new Promise((resolve, reject) => { window.ws.onopen = resolve; window.ws.onclose = reject; });
    }, `${input.webSocketUrl}/?csrf=${csrf}`);
  }
  const waitFor = (page, n) => page.waitForFunction((n) => window.got.length >= n, n, { timeout: 5000 });
  await pageA.evaluate(() => window.ws.send("hello from A"));
  await waitFor(pageA, 1);
  out.echo = await pageA.evaluate(() => window.got[0]);
  await pageA.evaluate(() => window.ws.send(JSON.stringify({ action: "sendmessage", data: "hi everyone" })));
  await waitFor(pageA, 2);
  await waitFor(pageB, 1);
  out.broadcastA = await pageA.evaluate(() => window.got[1]);
  out.broadcastB = await pageB.evaluate(() => window.got[0]);

  const csrfA = await csrfOf(pageA);
  // The token as a subprotocol entry: chosen and echoed.
  out.byProtocol = await attempt(pageA, "/", ["chat", csrfA]);
  out.csrfA = csrfA;
  // Refusals: no upgrade, so the page never sees an open socket.
  out.withoutCsrf = await attempt(pageA, "/");
  out.wrongCsrf = await attempt(pageA, "/?csrf=" + "A".repeat(csrfA.length));
  out.otherUsersCsrf = await attempt(pageA, "/?csrf=" + (await csrfOf(pageB)));
  // A browser without the session cookie, on the API's own origin.
  const fresh = await browser.newContext();
  const freshPage = await fresh.newPage();
  await freshPage.goto(input.apiUrl + "/");
  out.withoutCookie = await attempt(freshPage, "/?csrf=" + csrfA);
  await fresh.close();
  // A page of another origin in A's browser: its cookies go with the
  // upgrade (same host), it even knows the token; the Origin is refused.
  const foreign = await ctxA.newPage();
  await foreign.goto(input.foreignUrl + "/");
  out.foreignOrigin = await foreign.evaluate(() => location.origin);
  out.fromForeignOrigin = await attempt(foreign, "/?csrf=" + csrfA);
  await ctxA.close();
  await ctxB.close();
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
await browser.close();
console.log(JSON.stringify(out));
