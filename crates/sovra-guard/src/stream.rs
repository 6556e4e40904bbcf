//! Checking a streamed answer as it is generated, not only at the end.
//!
//! The checker is fed text deltas as they arrive. It keeps a bounded window
//! of the most recent text (so a phrase split across deltas, or across the
//! point where old text is dropped, is still seen whole) and moderates the
//! window each time enough new text has arrived or a sentence ends. When the
//! profile would block what the window says, or the answer starts giving
//! self-harm instructions, it says to stop; the server then ends the stream
//! with the decision's message. Memory is bounded by the window whatever the
//! answer's length.

use sovra_profile::{Action, Profile};

use crate::GuardError;
use crate::moderation::{ModerationResult, Moderator};
use crate::policy::{Decision, decide};

/// Bytes of recent text kept and checked. The built-in patterns span at
/// most a few hundred bytes, so a phrase is never cut in two.
pub const DEFAULT_WINDOW: usize = 1024;
/// Check after at least this many new bytes (or at a sentence end).
pub const DEFAULT_STEP: usize = 48;

#[derive(Debug, Clone, PartialEq)]
pub enum StreamVerdict {
    Continue,
    /// Stop the stream; tell the person `decision`'s message.
    Stop(Decision),
}

/// A checker that borrows the moderator and profile it checks with.
#[derive(Debug)]
pub struct StreamChecker<'a> {
    moderator: &'a Moderator,
    profile: &'a Profile,
    state: StreamWindow,
}

impl<'a> StreamChecker<'a> {
    /// A checker for one answer, in `language` (for the stop message).
    pub fn new(moderator: &'a Moderator, profile: &'a Profile, language: &str) -> Self {
        Self::with_window(moderator, profile, language, DEFAULT_WINDOW, DEFAULT_STEP)
    }

    pub fn with_window(
        moderator: &'a Moderator,
        profile: &'a Profile,
        language: &str,
        max_window: usize,
        step: usize,
    ) -> Self {
        StreamChecker {
            moderator,
            profile,
            state: StreamWindow::with_window(language, max_window, step),
        }
    }

    /// Feeds one delta. After a `Stop`, every later call returns it again.
    pub fn push(&mut self, delta: &str) -> Result<StreamVerdict, GuardError> {
        self.state.push(self.moderator, self.profile, delta)
    }

    /// Checks whatever has not been checked yet; call at the end of the stream.
    pub fn finish(&mut self) -> Result<StreamVerdict, GuardError> {
        self.state.finish(self.moderator, self.profile)
    }
}

/// The state of one streamed answer's check, without the moderator and
/// profile it is checked with (they are passed to each call), so a server
/// can keep it in a stream that owns its guard.
#[derive(Debug)]
pub struct StreamWindow {
    language: String,
    window: String,
    max_window: usize,
    step: usize,
    unchecked: usize,
    stopped: Option<Decision>,
    /// The answer's languages as last detected (gating the lexicons), and
    /// the checks made since: detected again every [`REDETECT_EVERY`]
    /// checks, not at each one (language detection is most of a check's
    /// cost, and an answer rarely changes language between two).
    languages: Option<Vec<(String, f64)>>,
    since_detected: u32,
}

/// How many window checks reuse one language detection of the answer.
pub const REDETECT_EVERY: u32 = 4;

impl StreamWindow {
    /// The default window and step, answering in `language`.
    pub fn new(language: &str) -> Self {
        Self::with_window(language, DEFAULT_WINDOW, DEFAULT_STEP)
    }

    pub fn with_window(language: &str, max_window: usize, step: usize) -> Self {
        StreamWindow {
            language: language.to_owned(),
            window: String::with_capacity(max_window.saturating_mul(2)),
            max_window: max_window.max(64),
            step: step.max(1),
            unchecked: 0,
            stopped: None,
            languages: None,
            since_detected: 0,
        }
    }

    /// Feeds one delta. After a `Stop`, every later call returns it again.
    pub fn push(
        &mut self,
        moderator: &Moderator,
        profile: &Profile,
        delta: &str,
    ) -> Result<StreamVerdict, GuardError> {
        if let Some(d) = &self.stopped {
            return Ok(StreamVerdict::Stop(d.clone()));
        }
        // A huge delta is checked in window-sized pieces so nothing in its
        // middle escapes the check.
        let mut rest = delta;
        while !rest.is_empty() {
            let mut cut = rest.len().min(self.max_window / 2);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            let (piece, tail) = rest.split_at(cut);
            rest = tail;
            self.window.push_str(piece);
            self.unchecked += piece.len();
            let sentence_end = piece
                .trim_end()
                .ends_with(['.', '!', '?', '\n', '。', '।', '؟']);
            if (self.unchecked >= self.step || sentence_end || !rest.is_empty())
                && let StreamVerdict::Stop(d) = self.check(moderator, profile)?
            {
                return Ok(StreamVerdict::Stop(d));
            }
            self.trim();
        }
        Ok(StreamVerdict::Continue)
    }

    /// Checks whatever has not been checked yet; call at the end of the stream.
    pub fn finish(
        &mut self,
        moderator: &Moderator,
        profile: &Profile,
    ) -> Result<StreamVerdict, GuardError> {
        if let Some(d) = &self.stopped {
            return Ok(StreamVerdict::Stop(d.clone()));
        }
        if self.unchecked > 0 {
            return self.check(moderator, profile);
        }
        Ok(StreamVerdict::Continue)
    }

    fn check(
        &mut self,
        moderator: &Moderator,
        profile: &Profile,
    ) -> Result<StreamVerdict, GuardError> {
        self.unchecked = 0;
        if self.languages.is_none() || self.since_detected >= REDETECT_EVERY {
            self.languages = moderator.confidences(&self.window);
            self.since_detected = 0;
        }
        self.since_detected += 1;
        let result = match &self.languages {
            Some(languages) => moderator.moderate_detected(&self.window, languages)?,
            None => moderator.moderate(&self.window)?,
        };
        if !result.flagged {
            return Ok(StreamVerdict::Continue);
        }
        let decision = decide(&result, profile, &self.language);
        if stops(&decision, &result) {
            self.stopped = Some(decision.clone());
            return Ok(StreamVerdict::Stop(decision));
        }
        Ok(StreamVerdict::Continue)
    }

    /// Keeps the last `max_window` bytes, cut at a character boundary.
    fn trim(&mut self) {
        if self.window.len() <= self.max_window {
            return;
        }
        let mut from = self.window.len() - self.max_window;
        while !self.window.is_char_boundary(from) {
            from += 1;
        }
        self.window.drain(..from);
    }
}

/// An answer stops on anything the profile blocks, and on self-harm
/// methods (an answer that talks *about* self-harm with care goes on).
fn stops(decision: &Decision, result: &ModerationResult) -> bool {
    decision.action() == Action::Block || result.is_flagged("self-harm/instructions")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        let path = format!("{}/../../profiles/ee.toml", env!("CARGO_MANIFEST_DIR"));
        sovra_profile::load(path).unwrap()
    }

    #[test]
    fn stops_on_a_phrase_split_across_deltas() {
        let p = profile();
        let m = Moderator::for_profile(&p).unwrap();
        let mut c = StreamChecker::new(&m, &p, "en");
        let mut stopped = None;
        for d in [
            "Sure. First you ",
            "build a pi",
            "pe bo",
            "mb from a steel tube and",
        ] {
            if let StreamVerdict::Stop(dec) = c.push(d).unwrap() {
                stopped = Some(dec);
                break;
            }
        }
        let stopped = stopped.or_else(|| match c.finish().unwrap() {
            StreamVerdict::Stop(d) => Some(d),
            StreamVerdict::Continue => None,
        });
        assert_eq!(
            stopped.and_then(|d| d.rule().map(str::to_owned)).as_deref(),
            Some("violence")
        );
        // Once stopped, it stays stopped.
        assert!(matches!(c.push("more").unwrap(), StreamVerdict::Stop(_)));
    }

    #[test]
    fn a_long_benign_answer_keeps_the_window_bounded() {
        let p = profile();
        let m = Moderator::for_profile(&p).unwrap();
        let mut c = StreamChecker::with_window(&m, &p, "en", 256, 32);
        for _ in 0..500 {
            assert_eq!(
                c.push("The passport office opens at nine. ").unwrap(),
                StreamVerdict::Continue
            );
            assert!(c.state.window.len() <= 256 + 256 / 2);
        }
        assert_eq!(c.finish().unwrap(), StreamVerdict::Continue);
    }

    #[test]
    fn a_phrase_across_the_window_edge_is_still_seen() {
        let p = profile();
        let m = Moderator::for_profile(&p).unwrap();
        let mut c = StreamChecker::with_window(&m, &p, "en", 128, 16);
        let filler = "All good here. ".repeat(20);
        assert_eq!(c.push(&filler).unwrap(), StreamVerdict::Continue);
        let mut v = c.push("Now, how to cook meth").unwrap();
        if v == StreamVerdict::Continue {
            v = c.push("amphetamine at home").unwrap();
        }
        if v == StreamVerdict::Continue {
            v = c.finish().unwrap();
        }
        assert!(matches!(v, StreamVerdict::Stop(_)), "{v:?}");
    }
}
