//! The client-side SSE decoder (the router reads remote backends' streams
//! with it): never panics, and how the network splits the bytes does not
//! change the events decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovra_core::sse::SseDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut whole = SseDecoder::default();
    let Ok(all) = whole.push(bytes) else {
        return;
    };
    let at = usize::from(cut).min(bytes.len());
    let mut split = SseDecoder::default();
    let mut pieces = split.push(&bytes[..at]).unwrap_or_default();
    pieces.extend(split.push(&bytes[at..]).unwrap_or_default());
    assert_eq!(all, pieces);
});
