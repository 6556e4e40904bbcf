//! `POST /v1/completions` (legacy) bodies: parse or refuse, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovra_core::openai::CompletionRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<CompletionRequest>(data)
        && let Some(stop) = req.stop
    {
        let _ = stop.into_vec();
    }
});
