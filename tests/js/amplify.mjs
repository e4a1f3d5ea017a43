// Amplify JS v6, unchanged, against cognate: signIn (USER_SRP_AUTH, its
// default), fetchAuthSession with a forced refresh (GetTokensFromRefreshToken),
// getCurrentUser, signOut (GlobalSignOut with {global: true}).
// Input (stdin, JSON): {endpoint, userPoolId, clientId, username, password}.
// Output: one JSON object with what each step returned.
import { Amplify } from "aws-amplify";
import { signIn, fetchAuthSession, getCurrentUser, signOut } from "aws-amplify/auth";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: input.userPoolId,
      userPoolClientId: input.clientId,
      userPoolEndpoint: input.endpoint,
    },
  },
});

const out = {};
try {
  const result = await signIn({ username: input.username, password: input.password });
  out.signIn = { isSignedIn: result.isSignedIn, nextStep: result.nextStep.signInStep };
  const first = await fetchAuthSession();
  out.accessToken = first.tokens?.accessToken?.toString();
  const refreshed = await fetchAuthSession({ forceRefresh: true });
  out.refreshedAccessToken = refreshed.tokens?.accessToken?.toString();
  out.refreshedIdToken = refreshed.tokens?.idToken?.toString();
  const user = await getCurrentUser();
  out.username = user.username;
  await signOut({ global: true });
  const after = await fetchAuthSession();
  out.signedOut = after.tokens === undefined;
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify(out));
