// Amplify JS v6, unchanged, against a pool with triggers: signUp (a
// PreSignUp function auto-confirms), signIn (SRP), fetchAuthSession (a
// PreTokenGeneration V2 claim in the access token), updateUserAttributes,
// sendUserAttributeVerificationCode and confirmUserAttribute (the code read
// from cognate's outbox, as a user reads it from their mail).
// Input (stdin, JSON): {endpoint, userPoolId, clientId, username, password, email, newEmail, outboxDir}.
import fs from "node:fs";
import path from "node:path";
import { Amplify } from "aws-amplify";
import {
  signUp, signIn, fetchAuthSession, updateUserAttributes, sendUserAttributeVerificationCode,
  confirmUserAttribute, fetchUserAttributes, signOut,
} from "aws-amplify/auth";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

Amplify.configure({
  Auth: { Cognito: { userPoolId: input.userPoolId, userPoolClientId: input.clientId, userPoolEndpoint: input.endpoint } },
});

function latestCode() {
  const files = fs.readdirSync(input.outboxDir).filter((f) => f.endsWith(".json")).sort();
  const mine = files.map((f) => JSON.parse(fs.readFileSync(path.join(input.outboxDir, f))))
    .filter((m) => m.username === input.username);
  return mine[mine.length - 1].code;
}

const out = {};
try {
  const up = await signUp({
    username: input.username, password: input.password, options: { userAttributes: { email: input.email } },
  });
  out.signUp = { isSignUpComplete: up.isSignUpComplete, nextStep: up.nextStep.signUpStep };
  const si = await signIn({ username: input.username, password: input.password });
  out.signIn = { isSignedIn: si.isSignedIn, nextStep: si.nextStep.signInStep };
  const session = await fetchAuthSession();
  out.accessToken = session.tokens.accessToken.toString();
  const updated = await updateUserAttributes({ userAttributes: { email: input.newEmail } });
  out.updateStep = updated.email.nextStep.updateAttributeStep;
  await sendUserAttributeVerificationCode({ userAttributeKey: "email" });
  await confirmUserAttribute({ userAttributeKey: "email", confirmationCode: latestCode() });
  out.attributes = await fetchUserAttributes();
  await signOut();
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message}`;
}
console.log(JSON.stringify(out));
