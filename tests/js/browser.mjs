// The hosted pages in a real browser: Debian's Chromium driven by
// playwright-core (no browser download). Input (stdin, JSON): hostedUrl,
// clientId, callback (a registered redirect URI that a listener answers),
// signInUrl, apiUrl, outboxDir, username, email,
// password, artifacts (folder for screenshots). Output: what the browser saw.
import { chromium } from "playwright-core";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const out = { screenshots: [] };

async function shot(page, name) {
  const path = join(input.artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  out.screenshots.push(path);
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 480, height: 760 } });
  return [context, await context.newPage()];
}

function authorizeUrl(responseType, state) {
  const q = new URLSearchParams({ client_id: input.clientId, response_type: responseType, redirect_uri: input.callback,
                                  scope: "openid email profile", state });
  return `${input.hostedUrl}/oauth2/authorize?${q}`;
}

async function codeFromOutbox(username) {
  for (let i = 0; i < 50; i++) {
    const messages = readdirSync(input.outboxDir).filter((f) => f.endsWith(".json")).sort()
      .map((f) => JSON.parse(readFileSync(join(input.outboxDir, f), "utf8")))
      .filter((m) => m.username === username);
    if (messages.length) return messages[messages.length - 1].code;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no code in the outbox");
}

try {
  // Sign up, confirm with the code from the outbox, sign in: code flow.
  let [context, page] = await newPage();
  await page.goto(authorizeUrl("code", "browser-state"));
  await page.waitForSelector("form[name=cognitoSignInForm]");
  await shot(page, "01-login");
  await page.click("text=Need an account? Sign up");
  await page.waitForSelector("#email");
  await shot(page, "02-signup");
  await page.fill("#username", input.username);
  await page.fill("#email", input.email);
  await page.fill("#password", input.password);
  await Promise.all([page.waitForURL(/\/confirmUser\?/), page.click("button[type=submit]")]);
  await shot(page, "03-confirm");
  await page.fill("#code", await codeFromOutbox(input.username));
  await Promise.all([page.waitForURL(/\/login\?/), page.click("button[type=submit]")]);
  await page.fill("#username", input.username);
  await page.fill("#password", "Not-the-passw0rd!");
  await Promise.all([page.waitForLoadState(), page.click("button[type=submit]")]);
  await page.waitForSelector("#error");
  out.wrongPasswordMessage = await page.textContent("#error");
  await shot(page, "04-login-error");
  await page.fill("#password", input.password);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(input.callback)), page.click("button[type=submit]")]);
  out.codeUrl = page.url();
  // The session cookie is HttpOnly: page script cannot read it.
  await page.goto(`${input.hostedUrl}/error?error=redirect_mismatch`);
  out.cookieVisibleToScript = (await page.evaluate(() => document.cookie)).includes("cognate_session");
  await shot(page, "05-error");
  await context.close();

  // Implicit flow in a fresh browser: tokens in the fragment.
  [context, page] = await newPage();
  await page.goto(authorizeUrl("token", "implicit-state"));
  await page.fill("#username", input.email);
  await page.fill("#password", input.password);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(input.callback)), page.click("button[type=submit]")]);
  out.implicitUrl = page.url();
  await context.close();

  // Seed 000's story on the demo: the SignInUrl the server printed, sign
  // in, the callback sets the session cookies and sends the browser to "/".
  [context, page] = await newPage();
  await page.goto(input.signInUrl);
  await page.fill("#username", input.username);
  await page.fill("#password", input.password);
  await Promise.all([page.waitForURL((u) => u.href === input.apiUrl + "/"), page.click("button[type=submit]")]);
  out.sessionLanding = page.url();
  out.sessionBody = await page.textContent("body");
  out.sessionCookies = await context.cookies(input.apiUrl);
  out.cookiesVisibleToScript = await page.evaluate(() => document.cookie);
  // C02: a sibling host (any page script) cannot plant the session cookie:
  // a __Host- cookie with a Domain attribute is refused by the browser.
  await page.evaluate(() => {
    document.cookie = "__Host-cognate-access=planted; Domain=127.0.0.1; Path=/; Secure";
  });
  out.accessAfterPlanting = (await context.cookies(input.apiUrl)).find((c) => c.name === "__Host-cognate-access").value;
  await shot(page, "07-session-root");
  // A state-changing call from the page without the CSRF header is refused.
  out.logoutWithoutHeader = await page.evaluate(async () => (await fetch("/logout", { method: "POST" })).status);
  out.rootAfterRefusedLogout = await page.evaluate(async () => (await fetch("/")).status);
  // A fresh browser has no session: 403.
  const [fresh, freshPage] = await newPage();
  const freshAnswer = await freshPage.goto(input.apiUrl + "/");
  out.freshStatus = freshAnswer.status();
  out.freshBody = await freshAnswer.text();
  await fresh.close();
  // Logout as an app does it: the CSRF token read from its cookie, echoed.
  out.logoutStatus = await page.evaluate(async () => {
    const csrf = document.cookie.split("; ").find((c) => c.startsWith("__Host-cognate-csrf=")).split("=")[1];
    return (await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } })).status;
  });
  out.rootAfterLogout = await page.evaluate(async () => (await fetch("/")).status);
  out.cookiesAfterLogout = (await context.cookies(input.apiUrl)).map((c) => c.name);
  await context.close();
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
await browser.close();
console.log(JSON.stringify(out));
