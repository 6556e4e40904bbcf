// The official OpenAI Node SDK against the real embedded default models:
// a streamed answer, embeddings (the SDK asks for base64 and decodes it), and
// a full queue as the SDK sees it (503, InternalServerError).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import OpenAI from "openai";

import { start } from "./harness.mjs";

let server;
let client;
before(async () => {
  server = await start({
    args: ["--threads", "2", "--parallel", "1", "--context", "1024"],
    env: { SOVRA_ENGINE_QUEUE_DEPTH: "1" },
  });
  client = server.client;
});
after(async () => assert.equal(await server.stop(), 0));

const E5 = "multilingual-e5-small";
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

test("the embedded model streams a correct answer", async () => {
  const models = await client.models.list();
  const model = models.data[0].id;
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "What is the capital of France?" }],
    temperature: 0,
    max_tokens: 40,
    stream: true,
  });
  const pieces = [];
  for await (const c of stream) if (c.choices.length) pieces.push(c.choices[0].delta.content ?? "");
  assert.ok(pieces.length > 3);
  assert.match(pieces.join(""), /Paris/);
});

test("embeddings: default (base64, decoded by the SDK), float, and explicit base64", async () => {
  const texts = ["Where can I renew my passport?", "Où puis-je renouveler mon passeport ?", "When is the income tax deadline?"];
  const r = await client.embeddings.create({ model: E5, input: texts });
  assert.equal(r.model, E5);
  assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
  const vectors = r.data.map((d) => d.embedding);
  for (const v of vectors) {
    assert.equal(v.length, 384);
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-3);
  }
  assert.ok(dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]));

  const floats = await client.embeddings.create({ model: E5, input: texts[0], encoding_format: "float" });
  floats.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - vectors[0][i]) < 1e-6));

  const raw = await client.embeddings.create({ model: E5, input: texts[0], encoding_format: "base64" });
  const bytes = Buffer.from(raw.data[0].embedding, "base64");
  const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  assert.equal(decoded.length, 384);
  decoded.forEach((x, i) => assert.ok(Math.abs(x - vectors[0][i]) < 1e-6));

  await assert.rejects(client.embeddings.create({ model: E5, input: "x", dimensions: 128 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, "dimensions");
    return true;
  });
});

test("a full queue is a 503 with Retry-After, InternalServerError to the SDK", async () => {
  const model = (await client.models.list()).data[0].id;
  const ask = () =>
    client.chat.completions.create({ model, messages: [{ role: "user", content: "Count to ten." }], max_tokens: 8 });
  // One slot, one queue place: of four at once, at least one is turned away.
  const results = await Promise.allSettled([ask(), ask(), ask(), ask()]);
  const refused = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  assert.ok(refused.length >= 1, "no request was refused");
  for (const e of refused) {
    assert.ok(e instanceof OpenAI.InternalServerError, String(e));
    assert.equal(e.status, 503);
    assert.equal(e.headers.get("retry-after"), "1");
  }
  assert.ok(results.some((r) => r.status === "fulfilled"));
});
