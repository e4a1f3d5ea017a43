// Amplify JS v6, unchanged, with a custom sign-in: signIn with
// authFlowType CUSTOM_WITH_SRP or CUSTOM_WITHOUT_SRP, then confirmSignIn
// with the challenge's answer; fetchAuthSession for the tokens.
// Input (stdin, JSON): {endpoint, userPoolId, clientId, username, password, authFlowType, answer}.
import { Amplify } from "aws-amplify";
import { signIn, confirmSignIn, fetchAuthSession, signOut } from "aws-amplify/auth";

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
  const options = { authFlowType: input.authFlowType };
  const first = await signIn({
    username: input.username,
    password: input.authFlowType === "CUSTOM_WITH_SRP" ? input.password : undefined,
    options,
  });
  out.first = first.nextStep.signInStep;
  out.hint = first.nextStep.additionalInfo?.hint;
  const done = await confirmSignIn({ challengeResponse: input.answer });
  out.done = { isSignedIn: done.isSignedIn, nextStep: done.nextStep.signInStep };
  const session = await fetchAuthSession();
  out.idToken = session.tokens?.idToken?.toString();
  await signOut();
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify(out));
