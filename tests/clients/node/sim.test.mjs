// The official OpenAI Node SDK against `sovra serve --engine sim`: every
// endpoint, streaming, and errors as the SDK classes them.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import OpenAI from "openai";

import { FAST_SIM, start } from "./harness.mjs";

let server;
let client;
before(async () => {
  server = await start(FAST_SIM);
  client = server.client;
});
after(async () => assert.equal(await server.stop(), 0));

const user = (content) => [{ role: "user", content }];

test("models: list, retrieve, and a 404 as NotFoundError", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["sim"]);
  const model = await client.models.retrieve("sim");
  assert.equal(model.owned_by, "sovra");
  await assert.rejects(client.models.retrieve("gpt-4o"), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "model_not_found");
    return true;
  });
});

test("chat: non-streaming", async () => {
  const r = await client.chat.completions.create({
    model: "sim",
    messages: [{ role: "system", content: "be brief" }, ...user("hello node")],
  });
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.ok(r.choices[0].message.content.startsWith("You said: hello node."));
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test("chat: streaming, chunks assembled, usage at the end", async () => {
  const plain = await client.chat.completions.create({ model: "sim", messages: user("stream node") });
  const stream = await client.chat.completions.create({
    model: "sim",
    messages: user("stream node"),
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks > 3);
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, "stop");
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
});

test("chat: the SDK's stream helper gives the final completion", async () => {
  const runner = client.chat.completions.stream({ model: "sim", messages: user("helper") });
  const final = await runner.finalChatCompletion();
  assert.ok(final.choices[0].message.content.startsWith("You said: helper."));
});

test("legacy completions: plain, echo and streaming", async () => {
  const r = await client.completions.create({ model: "sim", prompt: "Once upon a time", max_tokens: 8, echo: true });
  assert.equal(r.object, "text_completion");
  assert.ok(r.choices[0].text.startsWith("Once upon a timeYou said:"));
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 8);

  const plain = await client.completions.create({ model: "sim", prompt: "stream node", max_tokens: 10 });
  const stream = await client.completions.create({
    model: "sim",
    prompt: "stream node",
    max_tokens: 10,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) text += chunk.choices[0].text;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, plain.choices[0].text);
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
});

test("errors: refused parameters are BadRequestError naming the parameter", async () => {
  const cases = [
    [{ n: 2 }, "n"],
    [{ presence_penalty: 3 }, "presence_penalty"],
    [{ max_tokens: 5, max_completion_tokens: 5 }, "max_tokens"],
    [{ stream_options: { include_usage: true } }, "stream_options"],
  ];
  for (const [extra, param] of cases) {
    await assert.rejects(
      client.chat.completions.create({ model: "sim", messages: user("x"), ...extra }),
      (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.param, param);
        assert.equal(e.type, "invalid_request_error");
        return true;
      },
    );
  }
  await assert.rejects(client.completions.create({ model: "sim", prompt: "x", suffix: "end" }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, "suffix");
    return true;
  });
});

test("errors: an unknown model is NotFoundError on every endpoint", async () => {
  for (const call of [
    () => client.chat.completions.create({ model: "gpt-4o", messages: user("x") }),
    () => client.completions.create({ model: "davinci-002", prompt: "x" }),
    () => client.embeddings.create({ model: "text-embedding-3-small", input: "x" }),
  ]) {
    await assert.rejects(call(), (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.status, 404);
      return true;
    });
  }
});

test("errors: the request id comes back on errors", async () => {
  await assert.rejects(client.models.retrieve("nope"), (e) => {
    assert.ok(e.headers.get("x-request-id"));
    return true;
  });
});
