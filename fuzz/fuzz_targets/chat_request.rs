//! `POST /v1/chat/completions` bodies: any bytes must parse or be refused
//! without a panic, and what parses must be readable the way the server
//! reads it (message text, stop sequences, tool calls).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovra_core::openai::ChatCompletionRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<ChatCompletionRequest>(data) else {
        return;
    };
    for m in &req.messages {
        if let Some(content) = &m.content {
            let _ = content.text();
        }
        for call in m.tool_calls.iter().flatten() {
            let _ = serde_json::from_str::<serde_json::Value>(&call.function.arguments);
        }
    }
    if let Some(stop) = req.stop {
        let _ = stop.into_vec();
    }
});
