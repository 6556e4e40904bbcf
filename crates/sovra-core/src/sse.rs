//! Reading server-sent events as a client: bytes in, `data:` payloads out.
//!
//! Used by `sovra chat`, the load generator and the test harness to read
//! OpenAI-style streams (`data: {json}` events separated by blank lines,
//! ending with `data: [DONE]`), whatever the network does to chunk them.

/// Splits a byte stream into SSE `data` payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
}

/// Most bytes one event may have before the decoder gives up on the stream.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

impl SseDecoder {
    /// Feed bytes; returns the data of every event completed by them.
    /// Errors when one event grows past [`MAX_EVENT_BYTES`].
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        self.buffer.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some((end, sep)) = find_event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..end + sep).take(end).collect();
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                out.push(data.join("\n"));
            }
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(format!("an event exceeded {MAX_EVENT_BYTES} bytes"));
        }
        Ok(out)
    }
}

/// Position of the first blank-line separator and its length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere() {
        let stream = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        for cut in 0..stream.len() {
            let mut d = SseDecoder::default();
            let mut got = d.push(&stream[..cut]).unwrap_or_default();
            got.extend(d.push(&stream[cut..]).unwrap_or_default());
            assert_eq!(
                got,
                vec!["{\"a\":1}".to_owned(), "[DONE]".to_owned()],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn comments_and_crlf() {
        let mut d = SseDecoder::default();
        let got = d
            .push(b": keep-alive\n\ndata:x\r\n\r\n")
            .unwrap_or_default();
        assert_eq!(got, vec!["x".to_owned()]);
    }
}
