//! Splitting a document into passages that fit the embedding model.
//!
//! A chunk never crosses a heading: each section (the text under one
//! heading) is chunked alone and carries its heading path ("Passport ›
//! Fees"), which is also embedded and indexed, so a short section still
//! says what it is about. Inside a section, chunks end at sentence ends
//! (`.` `!` `?` `…` `。` `؟` `।` before a space, or a paragraph end) and hold
//! at most `max_chars`; the last sentence of a chunk starts the next when it
//! is short, so a fact split across the boundary is still found whole. Only
//! a single sentence longer than `max_chars` is cut, at a space.

/// How to cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Most characters in one chunk's text (multilingual-e5-small reads 512
    /// tokens; 1,000 characters is about 250-350 of them).
    pub max_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self { max_chars: 1000 }
    }
}

/// One passage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The heading path, outermost first, joined by " › " (empty before the first heading).
    pub heading: String,
    pub text: String,
}

/// Chunk light Markdown (see [`crate::extract`]).
pub fn chunk(text: &str, config: ChunkConfig) -> Vec<Chunk> {
    let max = config.max_chars.max(50);
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut para = String::new();
    let flush_para = |para: &mut String, paragraphs: &mut Vec<String>| {
        let p = para.trim();
        if !p.is_empty() {
            paragraphs.push(p.to_owned());
        }
        para.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            flush_para(&mut para, &mut paragraphs);
            section(&heading_of(&path), &paragraphs, max, &mut out);
            paragraphs.clear();
            path.retain(|(l, _)| *l < level);
            path.push((level, trimmed[level..].trim().to_owned()));
        } else if trimmed.is_empty() {
            flush_para(&mut para, &mut paragraphs);
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(trimmed);
        }
    }
    flush_para(&mut para, &mut paragraphs);
    section(&heading_of(&path), &paragraphs, max, &mut out);
    out
}

fn heading_of(path: &[(usize, String)]) -> String {
    path.iter()
        .map(|(_, h)| h.as_str())
        .collect::<Vec<_>>()
        .join(" › ")
}

/// Sentences of one paragraph.
fn sentences(p: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = p.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(
            c,
            '.' | '!' | '?' | '…' | '。' | '؟' | '।' | '\u{FF01}' | '\u{FF1F}'
        ) && chars.peek().is_some_and(|(_, n)| n.is_whitespace())
        {
            let end = i + c.len_utf8();
            let s = p[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let s = p[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// A sentence cut into pieces of at most `max` characters, at spaces.
fn cut(sentence: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in sentence.split_whitespace() {
        let word: String = word.chars().take(max).collect();
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > max {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn section(heading: &str, paragraphs: &[String], max: usize, out: &mut Vec<Chunk>) {
    let mut units: Vec<String> = Vec::new();
    for p in paragraphs {
        for s in sentences(p) {
            if s.chars().count() > max {
                units.extend(cut(s, max));
            } else {
                units.push(s.to_owned());
            }
        }
    }
    let mut cur: Vec<&str> = Vec::new();
    let mut len = 0;
    let mut fresh = 0; // sentences in `cur` not already in the previous chunk
    for u in &units {
        let n = u.chars().count();
        if !cur.is_empty() && len + 1 + n > max {
            out.push(Chunk {
                heading: heading.to_owned(),
                text: cur.join(" "),
            });
            let last = cur.last().copied().filter(|l| l.chars().count() * 3 <= max);
            cur.clear();
            len = 0;
            fresh = 0;
            if let Some(l) = last
                && l.chars().count() + 1 + n <= max
            {
                cur.push(l);
                len = l.chars().count();
            }
        }
        if !cur.is_empty() {
            len += 1;
        }
        cur.push(u);
        len += n;
        fresh += 1;
    }
    if fresh > 0 {
        out.push(Chunk {
            heading: heading.to_owned(),
            text: cur.join(" "),
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_headings() {
        let text = "Intro line.\n\n# Passport\n\n## Fees\n\nIt costs 30 euros. Pay online.\n\n## Where\n\nAt any office.\n\n# Other\n\nDone.";
        let c = chunk(text, ChunkConfig::default());
        let got: Vec<(&str, &str)> = c
            .iter()
            .map(|c| (c.heading.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("", "Intro line."),
                ("Passport › Fees", "It costs 30 euros. Pay online."),
                ("Passport › Where", "At any office."),
                ("Other", "Done."),
            ]
        );
    }

    #[test]
    fn chunks_end_at_sentences_and_respect_the_limit() {
        let s = "This is one sentence of forty chars ok. ".repeat(20);
        let c = chunk(&s, ChunkConfig { max_chars: 200 });
        assert!(c.len() > 3);
        for ch in &c {
            assert!(ch.text.chars().count() <= 200, "{}", ch.text);
            assert!(ch.text.ends_with('.'), "{}", ch.text);
        }
        // A long sentence without ends is cut at spaces.
        let long = "word ".repeat(400);
        for ch in chunk(&long, ChunkConfig { max_chars: 120 }) {
            assert!(ch.text.chars().count() <= 120);
        }
    }

    #[test]
    fn arabic_and_multibyte_text_is_safe() {
        let t = "# جواز السفر\n\nيمكنك تجديد جواز السفر عبر الإنترنت؟ نعم. ".repeat(30);
        for ch in chunk(&t, ChunkConfig { max_chars: 100 }) {
            assert!(ch.text.chars().count() <= 100);
            assert_eq!(ch.heading, "جواز السفر");
        }
    }
}
