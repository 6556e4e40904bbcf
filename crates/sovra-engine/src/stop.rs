//! Stop sequences over a stream of text pieces.
//!
//! Tokens rarely line up with stop strings, so the matcher holds back the
//! shortest tail that could still become a stop sequence and releases it as
//! soon as it cannot. Engines call it once per generated piece; when it
//! reports a match the engine stops decoding and frees its slot.

/// Outcome of feeding one piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// Text that is safe to send; generation goes on.
    Continue(String),
    /// A stop sequence matched: send this text (what came before the match) and stop.
    Stopped(String),
}

/// Finds stop sequences across piece boundaries.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

impl StopMatcher {
    /// A matcher for these stop sequences (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    /// Feed the next piece of generated text.
    pub fn push(&mut self, piece: &str) -> StopOutcome {
        if self.stops.is_empty() {
            return StopOutcome::Continue(piece.to_owned());
        }
        self.pending.push_str(piece);
        // Earliest full match wins.
        let hit = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = hit {
            let out = self.pending[..at].to_owned();
            self.pending.clear();
            return StopOutcome::Stopped(out);
        }
        // Hold back the longest suffix that is a proper prefix of a stop.
        let keep = self.held_back_len();
        let cut = self.pending.len() - keep;
        let out = self.pending[..cut].to_owned();
        self.pending.drain(..cut);
        StopOutcome::Continue(out)
    }

    /// Text held back at the end of generation (no stop matched): release it.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    fn held_back_len(&self) -> usize {
        let p = &self.pending;
        let mut best = 0;
        for stop in &self.stops {
            // Candidate lengths from longest to shortest, on char boundaries.
            let max = stop.len().saturating_sub(1).min(p.len());
            for len in (1..=max).rev() {
                let start = p.len() - len;
                if p.is_char_boundary(start) && stop.starts_with(&p[start..]) {
                    best = best.max(len);
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn no_stops_passes_through() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }

    #[test]
    fn stop_split_across_pieces() {
        assert_eq!(
            run(&["END"], &["hello E", "N", "D more"]),
            ("hello ".into(), true)
        );
    }

    #[test]
    fn false_start_is_released() {
        assert_eq!(run(&["END"], &["E", "NX", " ok"]), ("ENX ok".into(), false));
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn multibyte_text_never_split() {
        assert_eq!(run(&["é!"], &["caf", "é", "s"]), ("cafés".into(), false));
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
    }

    #[test]
    fn held_back_tail_released_at_end() {
        assert_eq!(run(&["\n\n"], &["line\n"]), ("line\n".into(), false));
    }
}
