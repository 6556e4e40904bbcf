//! Text normalisation shared by every detector, with a map back to the
//! original text so reported spans point at what the person wrote.
//!
//! Each character goes through NFKC on its own (full-width letters,
//! ligatures and compatibility digits become plain ones), Arabic harakat and
//! tatweel and the Devanagari nukta are dropped, Arabic alef variants become
//! a bare alef, typographic quotes and dashes become ASCII, and zero-width
//! characters (a common way to split a trigger word) disappear; Russian ё
//! becomes е and Devanagari chandrabindu becomes anusvara, as people write
//! them either way. Case is left
//! alone: patterns match case-insensitively. A text that is not in NFC keeps
//! its combining sequences as they are.

use unicode_normalization::UnicodeNormalization;

/// Normalised text and, for each of its bytes, the byte offset of the
/// original character it came from.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub text: String,
    map: Vec<usize>,
    original_len: usize,
}

impl Normalized {
    pub fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut map = Vec::with_capacity(original.len());
        for (at, c) in original.char_indices() {
            let start = text.len();
            push_normalized(c, &mut text);
            map.resize(map.len() + (text.len() - start), at);
        }
        Normalized {
            text,
            map,
            original_len: original.len(),
        }
    }

    /// The original byte range for a byte range of the normalised text.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.map.get(start).copied().unwrap_or(self.original_len);
        let e = if end >= self.map.len() {
            self.original_len
        } else {
            // The first original character past the match starts where the
            // next normalised byte came from.
            self.map.get(end).copied().unwrap_or(self.original_len)
        };
        (s, e.max(s))
    }
}

/// Normalises a whole string (no offset map); used for patterns too, so
/// they match what [`Normalized`] produces.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_normalized(c, &mut out);
    }
    out
}

fn push_normalized(c: char, out: &mut String) {
    match c {
        // Arabic harakat, superscript alef, tatweel; Devanagari nukta.
        '\u{064B}'..='\u{0652}' | '\u{0670}' | '\u{0640}' | '\u{093C}' => {}
        // Zero-width space/joiners, word joiner, BOM, soft hyphen.
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
        'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
        'ى' => out.push('ي'),
        // Russian writes ё and е interchangeably; Hindi chandrabindu and
        // anusvara likewise (साँस / सांस).
        'ё' => out.push('е'),
        'Ё' => out.push('Е'),
        '\u{0901}' => out.push('\u{0902}'),
        '‘' | '’' | '‚' | '‛' | 'ʼ' | '`' => out.push('\''),
        '“' | '”' | '„' | '‟' => out.push('"'),
        '‐' | '‑' | '‒' | '–' | '—' | '―' => out.push('-'),
        _ if c.is_ascii() => out.push(c),
        _ => {
            for n in std::iter::once(c).nfkc() {
                // NFKC can produce a nukta again (e.g. U+095B); drop it.
                if n != '\u{093C}' {
                    out.push(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_back_to_the_original() {
        let original = "ｋｉｌｌ the تُقطَّع";
        let n = Normalized::new(original);
        assert_eq!(n.text, "kill the تقطع");
        let at = n.text.find("تقطع").unwrap_or(0);
        let (s, e) = n.original_span(at, n.text.len());
        assert_eq!(&original[s..e], "تُقطَّع");
        let (s, e) = n.original_span(0, 4);
        assert_eq!(&original[s..e], "ｋｉｌｌ");
    }

    #[test]
    fn hides_nothing_behind_zero_width_or_nukta() {
        assert_eq!(normalize("ki\u{200B}ll"), "kill");
        assert_eq!(normalize("ज़हर"), normalize("जहर"));
        assert_eq!(normalize("إعدام"), "اعدام");
        assert_eq!(normalize("живёт"), "живет");
        assert_eq!(normalize("साँस"), "सांस");
    }
}
