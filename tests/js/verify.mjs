// Verifies one token with aws-jwt-verify, unchanged, the way an app does.
// Input (stdin, JSON): {mode: "generic"|"cognito", token, tokenUse, clientId,
//   issuer, jwksUri} for the generic JwtRsaVerifier (it fetches the JWKS URI), or {mode: "cognito",
//   userPoolId, jwks} for CognitoJwtVerifier with pre-loaded keys.
// Output: {"ok": true, "payload": {...}} or {"ok": false, "error": "..."}.
import { JwtRsaVerifier, CognitoJwtVerifier } from "aws-jwt-verify";
import { validateCognitoJwtFields } from "aws-jwt-verify/cognito-verifier";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";

// aws-jwt-verify's own fetcher speaks https only: over https it is used as
// is. Over plain http on loopback, its documented extension point, a JWKS
// cache with a custom fetcher on Node's fetch, fetches the JWKS URI; the
// verification is the library's either way.
const httpFetcher = {
  async fetch(uri) {
    const response = await fetch(uri);
    if (!response.ok) throw new Error(`JWKS fetch failed: ${response.status}`);
    return await response.arrayBuffer();
  },
};

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

try {
  let payload;
  if (input.mode === "cognito") {
    const verifier = CognitoJwtVerifier.create({
      userPoolId: input.userPoolId,
      tokenUse: input.tokenUse,
      clientId: input.clientId,
    });
    verifier.cacheJwks(input.jwks);
    payload = await verifier.verify(input.token);
  } else {
    const verifier = JwtRsaVerifier.create(
      {
        issuer: input.issuer,
        jwksUri: input.jwksUri,
        audience: null,
        customJwtCheck: ({ payload }) =>
          validateCognitoJwtFields(payload, { tokenUse: input.tokenUse, clientId: input.clientId }),
      },
      input.jwksUri.startsWith("https://") ? {} : { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
    );
    payload = await verifier.verify(input.token);
  }
  console.log(JSON.stringify({ ok: true, payload }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.name}: ${e.message}` }));
}
