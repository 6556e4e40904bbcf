//! Token bytes to text without splitting a UTF-8 character.
//!
//! A token may end in the middle of a multi-byte character (emoji, CJK,
//! Arabic); [`Utf8Assembler`] holds the incomplete tail until the next token
//! completes it, and replaces bytes that can never be valid.

/// Collects token bytes and yields complete UTF-8 text.
#[derive(Debug, Default)]
pub struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    /// Add bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end, lossily.
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_split_characters() {
        let bytes = "é🙂".as_bytes();
        let mut a = Utf8Assembler::default();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&a.push(&[*b]));
        }
        assert_eq!(out, "é🙂");
        assert_eq!(a.finish(), "");
    }

    #[test]
    fn replaces_invalid_bytes() {
        let mut a = Utf8Assembler::default();
        assert_eq!(a.push(&[b'a', 0xff, b'b']), "a\u{fffd}b");
    }
}
