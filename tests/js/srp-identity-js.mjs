// Signs in by SRP with amazon-cognito-identity-js, unchanged, then refreshes.
// Input (stdin, JSON): {endpoint, userPoolId, clientId, username, password,
// clientSecret?}.
//
// The library has no SECRET_HASH code path. Apps that use it with a client
// that has a secret add the hash where every request passes, the pool's
// `client.request(operation, params, callback)`; so does this script when
// given a secret. The library's own code runs as published.
// Output: {"ok": true, "idToken", "accessToken", "refreshedAccessToken"} or
// {"ok": false, "error": "<code>: <message>"}.
import { createHmac } from "node:crypto";
import pkg from "amazon-cognito-identity-js";
const { CognitoUserPool, CognitoUser, AuthenticationDetails } = pkg;

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

const pool = new CognitoUserPool({
  UserPoolId: input.userPoolId,
  ClientId: input.clientId,
  endpoint: input.endpoint,
});
if (input.clientSecret) {
  const secretHash = (username) =>
    createHmac("sha256", input.clientSecret).update(username + input.clientId).digest("base64");
  const request = pool.client.request.bind(pool.client);
  pool.client.request = (operation, params, callback) => {
    if (operation === "InitiateAuth") {
      const name = params.AuthParameters.USERNAME ?? input.username;
      params.AuthParameters = { ...params.AuthParameters, SECRET_HASH: secretHash(name) };
    } else if (operation === "RespondToAuthChallenge") {
      params.ChallengeResponses = { ...params.ChallengeResponses, SECRET_HASH: secretHash(params.ChallengeResponses.USERNAME) };
    }
    return request(operation, params, callback);
  };
}
const user = new CognitoUser({ Username: input.username, Pool: pool });
const details = new AuthenticationDetails({ Username: input.username, Password: input.password });

function signIn() {
  return new Promise((resolve, reject) => {
    user.authenticateUser(details, {
      onSuccess: resolve,
      onFailure: reject,
      newPasswordRequired: () => reject(new Error("NEW_PASSWORD_REQUIRED")),
    });
  });
}

function refresh(session) {
  return new Promise((resolve, reject) => {
    user.refreshSession(session.getRefreshToken(), (err, s) => (err ? reject(err) : resolve(s)));
  });
}

try {
  const session = await signIn();
  const refreshed = await refresh(session);
  console.log(JSON.stringify({
    ok: true,
    idToken: session.getIdToken().getJwtToken(),
    accessToken: session.getAccessToken().getJwtToken(),
    refreshedAccessToken: refreshed.getAccessToken().getJwtToken(),
  }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: `${e.code ?? e.name}: ${e.message}` }));
}
