// A federated sign-in in a real browser (Debian's Chromium via
// playwright-core), with openid-client v6 as the app: discovery of the
// cognate pool, an authorization URL with PKCE, state and nonce (and
// `identity_provider=` when `via` is "param"), the hosted page's provider
// button (when `via` is "button"), the provider's own sign-in pages, back
// through cognate's /oauth2/idpresponse to the app, then openid-client's
// code grant with its ID token checks. Input (stdin, JSON): issuer,
// clientId, redirectUri, provider, via, login, password, screenshot.
import { chromium } from "playwright-core";
import * as client from "openid-client";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());
const out = { steps: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const config = await client.discovery(new URL(input.issuer), input.clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: input.redirectUri, scope: "openid email profile", state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  };
  if (input.via === "param") params.identity_provider = input.provider;
  const url = client.buildAuthorizationUrl(config, params);
  const page = await (await browser.newContext()).newPage();
  await page.goto(url.href);
  if (input.via === "button") {
    out.steps.push(page.url());
    if (input.screenshot) await page.screenshot({ path: input.screenshot });
    const before = page.url();
    await Promise.all([
      page.waitForURL((u) => u.href !== before, { waitUntil: "load" }),
      page.click(`a.idp:has-text("Continue with ${input.provider}")`),
    ]);
  }
  // The provider's pages: a sign-in form (cognate: #username; the SAML
  // test IdP: #idp-user; oidc-provider: login), then whatever it asks to
  // confirm, until the app's address. Pages that post themselves (SAML's
  // HTTP-POST binding) are left to do so.
  for (let i = 0; i < 8 && !page.url().startsWith(input.redirectUri); i++) {
    out.steps.push(page.url());
    const before = page.url();
    let filled = true;
    if (await page.locator("#username").count()) {
      await page.fill("#username", input.login);
      await page.fill("#password", input.password);
    } else if (await page.locator("#idp-user").count()) {
      await page.fill("#idp-user", input.login);
      await page.fill("#idp-password", input.password);
    } else if (await page.locator("input[name=login]").count()) {
      await page.fill("input[name=login]", input.login);
      await page.fill("input[name=password]", input.password);
    } else {
      filled = false;
    }
    if (!filled) {
      try {
        await page.waitForURL((u) => u.href !== before, { waitUntil: "load", timeout: 3000 });
        continue;
      } catch {
        // A page that waits for a click (a consent screen).
      }
    }
    await Promise.all([
      page.waitForURL((u) => u.href !== before, { waitUntil: "load" }),
      page.click("button[type=submit], input[type=submit]"),
    ]);
  }
  out.landed = page.url();
  const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  out.claims = tokens.claims();
  out.accessToken = tokens.access_token;
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
await browser.close();
console.log(JSON.stringify(out));
