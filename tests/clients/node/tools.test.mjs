// Tool calls, structured outputs and logprobs through the official OpenAI
// Node SDK, against the real embedded default model: the SDK's
// `chat.completions.stream` helper assembles streamed tool-call deltas,
// `zodResponseFormat` + `chat.completions.parse` give a typed object, and
// `logprobs` / `top_logprobs` come back per token.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { zodFunction, zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";

import { start } from "./harness.mjs";

let server;
let client;
let model;
before(async () => {
  server = await start({
    args: ["--threads", "2", "--parallel", "2", "--context", "1024"],
    env: { SOVRA_EMBEDDINGS_ENABLED: "false" },
  });
  client = server.client;
  model = (await client.models.list()).data[0].id;
});
after(async () => assert.equal(await server.stop(), 0));

const Weather = z.object({
  city: z.string().max(40),
  unit: z.enum(["celsius", "fahrenheit"]),
});

test("tools: streamed tool-call deltas assemble into tool_calls", async () => {
  const stream = client.chat.completions.stream({
    model,
    messages: [{ role: "user", content: "What is the weather in Tartu?" }],
    tools: [zodFunction({ name: "get_weather", parameters: Weather })],
    tool_choice: "required",
    parallel_tool_calls: false,
    temperature: 0,
    max_completion_tokens: 120,
  });
  let deltas = 0;
  stream.on("tool_calls.function.arguments.delta", () => deltas++);
  const final = await stream.finalChatCompletion();
  const choice = final.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, null);
  assert.equal(choice.message.tool_calls.length, 1);
  const [call] = choice.message.tool_calls;
  assert.match(call.id, /^call_/);
  assert.equal(call.function.name, "get_weather");
  const args = Weather.parse(JSON.parse(call.function.arguments));
  assert.deepEqual(call.function.parsed_arguments, args);
  assert.ok(deltas >= 1);
});

test("tools: tool_choice forces a named function", async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Weather in Narva?" }],
    tools: [
      zodFunction({ name: "get_weather", parameters: Weather }),
      zodFunction({ name: "get_time", parameters: z.object({}) }),
    ],
    tool_choice: { type: "function", function: { name: "get_time" } },
    temperature: 0,
    max_completion_tokens: 60,
  });
  const choice = r.choices[0];
  // As on OpenAI, a forced named function ends with "stop".
  assert.equal(choice.finish_reason, "stop");
  assert.equal(choice.message.tool_calls[0].function.name, "get_time");
  assert.deepEqual(JSON.parse(choice.message.tool_calls[0].function.arguments), {});
});

test("structured outputs: zodResponseFormat parses into the schema", async () => {
  const City = z.object({
    name: z.string().max(40),
    population: z.number().int(),
    size: z.enum(["small", "medium", "large"]),
    landmarks: z.array(z.string().max(40)).max(3),
  });
  const r = await client.chat.completions.parse({
    model,
    messages: [{ role: "user", content: "Describe Tallinn as a city record." }],
    response_format: zodResponseFormat(City, "city"),
    temperature: 0,
    max_completion_tokens: 300,
  });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, "stop");
  const city = choice.message.parsed;
  assert.deepEqual(City.parse(city), city);
});

test("logprobs: per-token logprobs with alternatives", async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Say hello." }],
    temperature: 0,
    max_completion_tokens: 10,
    logprobs: true,
    top_logprobs: 2,
  });
  const choice = r.choices[0];
  const entries = choice.logprobs.content;
  assert.equal(entries.length, r.usage.completion_tokens);
  assert.equal(entries.map((e) => e.token).join(""), choice.message.content);
  for (const e of entries) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 2);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    assert.equal(e.top_logprobs[0].token, e.token);
  }
});
