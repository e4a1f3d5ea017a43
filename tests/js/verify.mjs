// Verifies one token with aws-jwt-verify, unchanged, the way an app does.
// Input (stdin, JSON): {mode: "generic"|"cognito", token, tokenUse, clientId,
//   issuer, jwksUri, jwks?} for the generic JwtRsaVerifier, or {mode: "cognito",
//   userPoolId, jwks} for CognitoJwtVerifier with pre-loaded keys.
// Output: {"ok": true, "payload": {...}} or {"ok": false, "error": "..."}.
import { JwtRsaVerifier, CognitoJwtVerifier } from "aws-jwt-verify";
import { validateCognitoJwtFields } from "aws-jwt-verify/cognito-verifier";

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
    const verifier = JwtRsaVerifier.create({
      issuer: input.issuer,
      jwksUri: input.jwksUri,
      audience: null,
      customJwtCheck: ({ payload }) =>
        validateCognitoJwtFields(payload, { tokenUse: input.tokenUse, clientId: input.clientId }),
    });
    // aws-jwt-verify fetches keys over https only; over plain http the app
    // hands it the JWKS, as its README describes for pre-loaded keys.
    if (input.jwks) verifier.cacheJwks(input.jwks);
    payload = await verifier.verify(input.token);
  }
  console.log(JSON.stringify({ ok: true, payload }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.name}: ${e.message}` }));
}
