// Reserved for the lead's work on main: tool calls (streamed tool-call
// deltas assembled by the SDK's `chat.completions.stream` helper and
// `runTools`), structured outputs (`zodResponseFormat` /
// `response_format: json_schema`) and logprobs. Start the server with
// `start(FAST_SIM)` from ./harness.mjs (or `start()` for the real model).

import { test } from "node:test";

test.todo("tools: streamed tool-call deltas assemble into tool_calls");
test.todo("tools: tool_choice forces a named function");
test.todo("structured outputs: zodResponseFormat parses into the schema");
test.todo("logprobs: per-token logprobs on chat and legacy completions");
