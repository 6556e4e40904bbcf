// A real OpenID Connect provider for Sovra's single sign-on tests: panva's
// oidc-provider (OpenID Certified), with one confidential client, two test
// accounts, and a plain HTML login page (no scripts) that a test can drive
// with plain HTTP requests or a browser. Consent is granted automatically
// (a first-party client), so a flow is: authorize → login form → code.
//
//   PORT=0 REDIRECT_URIS=http://127.0.0.1:8080/auth/oidc/callback node provider.mjs
//
// Prints `ISSUER=http://127.0.0.1:<port>` on stdout once it listens.
// Environment: PORT (0: any free port), REDIRECT_URIS (comma-separated),
// CLIENT_ID (default sovra), CLIENT_SECRET (default sovra-test-secret).

import { createServer } from "node:http";
import { generateKeyPairSync } from "node:crypto";

import Provider from "oidc-provider";

const ACCOUNTS = {
  alice: { password: "alice-password-123", email: "alice@example.test", name: "Alice Example" },
  bob: { password: "bob-password-12345", email: "bob@example.test", name: "Bob Example" },
};

const port = Number(process.env.PORT ?? 0);
const redirectUris = (process.env.REDIRECT_URIS ?? "http://127.0.0.1:8080/auth/oidc/callback").split(",");
const clientId = process.env.CLIENT_ID ?? "sovra";
const clientSecret = process.env.CLIENT_SECRET ?? "sovra-test-secret";

// A fresh RSA signing key per run, published in the JWKS.
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: `test-${Date.now()}`, use: "sig", alg: "RS256" };

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><main><h1>Test identity provider</h1>
${error ? `<p role="alert" id="error">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}">
<label for="login">User name</label> <input id="login" name="login" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit" id="submit">Sign in</button>
</form></main></body></html>`;
}

function readBody(req) {
  return new Promise((ok, fail) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      data += c;
      if (data.length > 64 * 1024) req.destroy();
    });
    req.on("end", () => ok(new URLSearchParams(data)));
    req.on("error", fail);
  });
}

async function main() {
  const server = createServer();
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "preferred_username"] },
    features: { devInteractions: { enabled: false } },
    // Put the granted profile and email claims in the ID token too (as
    // Keycloak, Glewlwyd and most providers do), not only at userinfo.
    conformIdTokenClaims: false,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const a = ACCOUNTS[id];
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: a.email, email_verified: true, name: a.name, preferred_username: id };
        },
      };
    },
  });

  const oidc = provider.callback();
  server.on("request", async (req, res) => {
    const m = req.url.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
    if (!m) return oidc(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === "login") {
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
          return res.end(loginPage(details.uid));
        }
        const form = await readBody(req);
        const account = ACCOUNTS[form.get("login")];
        if (!account || account.password !== form.get("password")) {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
          return res.end(loginPage(details.uid, "Wrong user name or password."));
        }
        return provider.interactionFinished(req, res, { login: { accountId: form.get("login") } }, { mergeWithLastSubmission: false });
      }
      // Consent: a first-party client gets what it asked for.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(" "));
      if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (e) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`interaction failed: ${e.message}`);
    }
  });

  process.stdout.write(`ISSUER=${issuer}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
