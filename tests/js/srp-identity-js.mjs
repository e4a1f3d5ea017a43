// Signs in by SRP with amazon-cognito-identity-js, unchanged, then refreshes.
// Input (stdin, JSON): {endpoint, userPoolId, clientId, username, password}.
// Output: {"ok": true, "idToken", "accessToken", "refreshedAccessToken"} or
// {"ok": false, "error": "<code>: <message>"}.
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
