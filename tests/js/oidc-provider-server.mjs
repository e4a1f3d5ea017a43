// A real OpenID provider for the federation tests: the `oidc-provider`
// package (panva), unchanged, with its development sign-in pages, on a
// loopback port. Input (stdin, JSON): clientId, clientSecret, redirectUri,
// accountsFile (JSON {login: claims}, read at each sign-in, so a test can
// change a person's claims between two sign-ins). Prints {"issuer": ...}
// once it listens; runs until killed.
import * as fs from "node:fs";
import * as http from "node:http";
import Provider from "oidc-provider";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString());

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: input.clientId,
    client_secret: input.clientSecret,
    redirect_uris: [input.redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "zoneinfo"],
  },
  async findAccount(ctx, id) {
    const accounts = JSON.parse(fs.readFileSync(input.accountsFile, "utf8"));
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  pkce: { required: () => true },
  cookies: { keys: ["federation-tests-cookie-key-0123456789"] },
  features: { devInteractions: { enabled: true } },
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));
server.on("request", provider.callback());
console.log(JSON.stringify({ issuer }));
