// API keys as the Node SDK sees them: with `auth.api_keys` set, a wrong key
// raises AuthenticationError (401, code invalid_api_key) and the right one works.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import OpenAI from "openai";

import { FAST_SIM, start } from "./harness.mjs";

const KEY = "sk-sovra-node-0123456789abcdef";
let server;
before(async () => {
  server = await start(
    { args: FAST_SIM.args, env: { ...FAST_SIM.env, SOVRA_AUTH_API_KEYS: `["${KEY}"]` } },
    { apiKey: KEY },
  );
});
after(async () => assert.equal(await server.stop(), 0));

test("a wrong key raises AuthenticationError; the right one is served", async () => {
  const wrong = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: "sk-sovra-wrong-0123456789", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    assert.equal(e.code, "invalid_api_key");
    return true;
  });
  const models = await server.client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["sim"]);
});
