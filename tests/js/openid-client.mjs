// openid-client v6, unchanged, as a relying party of cognate. Two steps,
// because a browser (the Python test) signs in between them:
//   {"step": "start", issuer, clientId, redirectUri}
//     -> {authorizationUrl, verifier, state, nonce}
//   {"step": "finish", issuer, clientId, redirectUri, callbackUrl, verifier, state, nonce}
//     -> {claims, userinfo, refreshed, revoked}
// Plain http on loopback needs openid-client's allowInsecureRequests.
import * as client from "openid-client";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

try {
  const config = await client.discovery(new URL(input.issuer), input.clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
  if (input.step === "start") {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: input.redirectUri,
      scope: "openid email profile",
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    console.log(JSON.stringify({ ok: true, authorizationUrl: url.href, verifier, state, nonce }));
  } else {
    const tokens = await client.authorizationCodeGrant(config, new URL(input.callbackUrl), {
      pkceCodeVerifier: input.verifier,
      expectedState: input.state,
      expectedNonce: input.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    await client.tokenRevocation(config, tokens.refresh_token);
    let revoked = false;
    try {
      await client.refreshTokenGrant(config, tokens.refresh_token);
    } catch (e) {
      revoked = e.error === "invalid_grant";
    }
    console.log(JSON.stringify({
      ok: true,
      claims,
      userinfo,
      refreshedAccessToken: refreshed.access_token,
      revoked,
    }));
  }
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.name}: ${e.message}`, code: e.code, cause: String(e.cause ?? "") }));
}
