// Limits as the SDK sees them: an over-large body (413) and a failure in the
// middle of a stream. (RateLimitError is tested with the Python SDK against a
// fleet tenant over its queue share; there is no 401 path until API keys land.)

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import OpenAI from "openai";

import { FAST_SIM, start } from "./harness.mjs";

let small;
let failing;
before(async () => {
  small = await start({ args: FAST_SIM.args, env: { ...FAST_SIM.env, SOVRA_LIMITS_MAX_BODY_BYTES: "1024" } });
  failing = await start({ args: FAST_SIM.args, env: { ...FAST_SIM.env, SOVRA_ENGINE_SIM_FAIL_AFTER_TOKENS: "3" } });
});
after(async () => {
  assert.equal(await small.stop(), 0);
  assert.equal(await failing.stop(), 0);
});

test("a body over limits.max_body_bytes is a 413 APIError in OpenAI's shape", async () => {
  const ok = await small.client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "short" }] });
  assert.ok(ok.choices[0].message.content);
  await assert.rejects(
    small.client.chat.completions.create({ model: "sim", messages: [{ role: "user", content: "x".repeat(4096) }] }),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 413);
      assert.equal(e.type, "invalid_request_error");
      assert.match(e.message, /max_body_bytes/);
      return true;
    },
  );
});

test("a failure mid-stream raises APIError after the first chunks; a 500 is InternalServerError", async () => {
  const stream = await failing.client.chat.completions.create({
    model: "sim",
    messages: [{ role: "user", content: "x" }],
    stream: true,
  });
  let received = "";
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) received += chunk.choices[0]?.delta.content ?? "";
    })(),
    (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.match(e.message, /simulated failure/);
      return true;
    },
  );
  assert.ok(received.startsWith("You said:"), received);
  await assert.rejects(failing.client.completions.create({ model: "sim", prompt: "x" }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, String(e));
    assert.equal(e.status, 500);
    return true;
  });
});
