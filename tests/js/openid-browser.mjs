// openid-client v6, unchanged, with the sign-in done in a real browser
// (Debian's Chromium via playwright-core): discovery, authorization URL with
// PKCE, state and nonce, the hosted page, then openid-client's code grant
// (its ID token checks: signature, iss, aud, nonce, at_hash), userinfo,
// refresh and revocation. Input (stdin, JSON): issuer, clientId,
// redirectUri, username, password, screenshot.
import { chromium } from "playwright-core";
import * as client from "openid-client";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());
const out = {};
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
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirectUri, scope: "openid email profile", state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  const page = await (await browser.newContext()).newPage();
  await page.goto(url.href);
  await page.fill("#username", input.username);
  await page.fill("#password", input.password);
  if (input.screenshot) await page.screenshot({ path: input.screenshot });
  await Promise.all([page.waitForURL((u) => u.href.startsWith(input.redirectUri)), page.click("button[type=submit]")]);
  const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  out.claims = tokens.claims();
  out.userinfo = await client.fetchUserInfo(config, tokens.access_token, out.claims.sub);
  out.refreshed = !!(await client.refreshTokenGrant(config, tokens.refresh_token)).access_token;
  await client.tokenRevocation(config, tokens.refresh_token);
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
    out.revoked = false;
  } catch (e) {
    out.revoked = e.error === "invalid_grant";
  }
  out.nonce = nonce;
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
await browser.close();
console.log(JSON.stringify(out));
