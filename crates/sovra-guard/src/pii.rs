//! PII detection and redaction: emails, phone numbers, payment cards (Luhn),
//! IBANs (mod 97) and national identifiers by recogniser name, each with its
//! checksum where the format has one.
//!
//! Candidates come from regular expressions and are kept only when they
//! validate, so a card number with a bad Luhn digit is not a card (it may
//! still be a phone number if it looks like one). Overlaps are resolved by
//! specificity: a validated national id or IBAN wins over a phone number
//! inside it. Two redactions: [`mask`] for logs and storage (`[EMAIL]`,
//! `[IBAN]`, ...), and [`Vault::redact`] for the model, with reversible
//! placeholders (`<PII_1>`) that [`Vault::restore`] or a [`Restorer`] (for
//! streamed answers) put back.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::GuardError;

/// What kind of personal data was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "recogniser")]
pub enum PiiKind {
    Email,
    Phone,
    PaymentCard,
    Iban,
    /// A national identifier, by recogniser name (`ee_isikukood`).
    NationalId(String),
}

impl PiiKind {
    /// The mask written in logs and storage.
    pub fn mask(&self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::PaymentCard => "[CARD]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::NationalId(_) => "[NATIONAL_ID]",
        }
    }

    fn priority(&self) -> u8 {
        match self {
            PiiKind::Email => 5,
            PiiKind::Iban => 4,
            PiiKind::NationalId(_) => 3,
            PiiKind::PaymentCard => 2,
            PiiKind::Phone => 1,
        }
    }
}

/// One piece of PII: byte range in the text and the matched text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiFinding {
    #[serde(flatten)]
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Which recognisers run: the profile's national ids and its calling code
/// (for phone numbers written nationally).
#[derive(Debug, Clone, Default)]
pub struct PiiConfig {
    pub national_ids: Vec<String>,
    pub phone_country_code: Option<String>,
}

impl PiiConfig {
    pub fn from_profile(p: &sovra_profile::Profile) -> Self {
        PiiConfig {
            national_ids: p
                .pii
                .national_ids
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect(),
            phone_country_code: Some(p.pii.phone_country_code.clone()).filter(|c| !c.is_empty()),
        }
    }

    /// Every built-in recogniser, for tests and for an operator's audit.
    pub fn all() -> Self {
        PiiConfig {
            national_ids: sovra_profile::NATIONAL_ID_RECOGNISERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            phone_country_code: None,
        }
    }
}

/// A built-in pattern, compiled on first use. A pattern that does not
/// compile is an error of the request (and of the tests), not a panic.
type Lazy = LazyLock<Result<Regex, regex::Error>>;

fn re(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)
}

fn get(lazy: &'static Lazy) -> Result<&'static Regex, GuardError> {
    lazy.as_ref()
        .map_err(|e| GuardError::Builtin(format!("PII pattern: {e}")))
}

// Digits are ASCII here: `\d` would also take Arabic-Indic digits, which
// none of these formats use. Boundaries are "not an ASCII alphanumeric", so
// an identifier glued to Arabic or Cyrillic letters is still found.
static EMAIL: Lazy =
    LazyLock::new(|| re(r"(?:^|[^\w.+-])([\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\p{L}{2,24})"));
static IBAN: Lazy = LazyLock::new(|| {
    re(r"(?:^|[^A-Za-z0-9])([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30})(?:$|[^A-Za-z0-9])")
});
static CARD: Lazy = LazyLock::new(|| re(r"(?:^|[^0-9])((?:[0-9][ -]?){12,18}[0-9])(?:$|[^0-9])"));
static PHONE_INTL: Lazy = LazyLock::new(|| {
    re(r"(?:^|[^0-9+])((?:\+|00)[1-9][0-9]{0,2}(?:[ .-]?\(?[0-9]{1,4}\)?){2,6})(?:$|[^0-9])")
});
static PHONE_NATIONAL: Lazy =
    LazyLock::new(|| re(r"(?:^|[^0-9+])(0[1-9](?:[ .-]?[0-9]){7,10})(?:$|[^0-9])"));
static ISIKUKOOD: Lazy = LazyLock::new(|| re(r"(?:^|[^0-9])([1-6][0-9]{10})(?:$|[^0-9])"));
static AHV: Lazy =
    LazyLock::new(|| re(r"(?:^|[^0-9])(756[. ]?[0-9]{4}[. ]?[0-9]{4}[. ]?[0-9]{2})(?:$|[^0-9])"));
static AADHAAR: Lazy =
    LazyLock::new(|| re(r"(?:^|[^0-9])([2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4})(?:$|[^0-9])"));
static PAN: Lazy = LazyLock::new(|| {
    re(r"(?:^|[^A-Za-z0-9])([A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z])(?:$|[^A-Za-z0-9])")
});
static CIN: Lazy =
    LazyLock::new(|| re(r"(?:^|[^A-Za-z0-9])([A-Z]{1,2}[0-9]{5,6})(?:$|[^A-Za-z0-9])"));
static NIR: Lazy = LazyLock::new(|| {
    re(
        r"(?:^|[^0-9])([12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2A|2B) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2})(?:$|[^0-9A-Z])",
    )
});

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// Luhn check over the digits of `s`.
pub fn luhn_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() < 2 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN lengths per country (ISO 13616 registry), for the countries Sovra's
/// users most often write; other countries are checked on mod 97 and the
/// general 15..=34 length.
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AT", 20), ("BE", 16), ("BG", 22), ("CH", 21), ("CY", 28),
    ("CZ", 24), ("DE", 22), ("DK", 18), ("EE", 20), ("EG", 29), ("ES", 24), ("FI", 18),
    ("FR", 27), ("GB", 22), ("GR", 27), ("HR", 21), ("HU", 28), ("IE", 22), ("IS", 26),
    ("IT", 27), ("JO", 30), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("MT", 31),
    ("NL", 18), ("NO", 15), ("PL", 28), ("PT", 25), ("RO", 24), ("SA", 24), ("SE", 24),
    ("SI", 19), ("SK", 24), ("TN", 24), ("TR", 26), ("UA", 29),
];

/// ISO 13616 check: known length for the country, then mod 97 == 1.
pub fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let country = &compact[..2];
    if let Some((_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country)
        && compact.len() != *len
    {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        let (mul, v) = if v >= 10 { (100, v) } else { (10, v) };
        rem = (rem * mul + v) % 97;
    }
    rem == 1
}

/// Estonian isikukood: GYYMMDDSSSC, two-stage mod 11 check digit.
pub fn isikukood_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || !(1..=6).contains(&d[0]) {
        return false;
    }
    let month = d[3] * 10 + d[4];
    let day = d[5] * 10 + d[6];
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let w1 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1];
    let w2 = [3, 4, 5, 6, 7, 8, 9, 1, 2, 3];
    let sum = |w: &[u32; 10]| d.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11;
    let mut check = sum(&w1);
    if check == 10 {
        check = sum(&w2);
        if check == 10 {
            check = 0;
        }
    }
    check == d[10]
}

/// Swiss AHV/AVS number: 756 + 9 digits + EAN-13 check digit.
pub fn ahv_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 13 || d[..3] != [7, 5, 6] {
        return false;
    }
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 2 == 0 { x } else { x * 3 })
        .sum();
    (10 - sum % 10) % 10 == d[12]
}

/// Indian Aadhaar: 12 digits, first not 0 or 1, Verhoeff check digit.
pub fn aadhaar_valid(s: &str) -> bool {
    const D: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let d = digits(s);
    if d.len() != 12 || d[0] < 2 {
        return false;
    }
    let mut c = 0usize;
    for (i, &x) in d.iter().rev().enumerate() {
        c = D[c][P[i % 8][x as usize] as usize] as usize;
    }
    c == 0
}

/// French NIR (numéro de sécurité sociale): 13 characters + key 97 - n mod 97,
/// with Corsica's 2A/2B counted as 19/18.
pub fn nir_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 15 {
        return false;
    }
    let (body, key) = compact.split_at(13);
    let body = body.replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(k)) = (body.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == k
}

/// A recogniser: its pattern and its checksum.
type Recogniser = (&'static Lazy, fn(&str) -> bool);

fn national_id(name: &str) -> Option<Recogniser> {
    fn any(_: &str) -> bool {
        true
    }
    Some(match name {
        "ee_isikukood" => (&ISIKUKOOD, isikukood_valid as fn(&str) -> bool),
        "ch_ahv" => (&AHV, ahv_valid),
        "in_aadhaar" => (&AADHAAR, aadhaar_valid),
        // PAN and the Moroccan CIN have no public check digit: format only.
        "in_pan" => (&PAN, any),
        "ma_cin" => (&CIN, any),
        "fr_nir" => (&NIR, nir_valid),
        _ => return None,
    })
}

fn card_valid(s: &str) -> bool {
    let d = digits(s);
    (13..=19).contains(&d.len()) && matches!(d[0], 2..=6) && luhn_valid(s)
}

fn phone_valid(s: &str) -> bool {
    let n = digits(s).len();
    (8..=15).contains(&n)
}

/// Every PII finding in `text`, in order, without overlaps.
pub fn find(text: &str, config: &PiiConfig) -> Result<Vec<PiiFinding>, GuardError> {
    let mut found: Vec<PiiFinding> = Vec::new();
    let mut collect = |regex: &Regex, kind: PiiKind, accept: &dyn Fn(&str) -> Option<usize>| {
        for caps in regex.captures_iter(text) {
            if let Some(m) = caps.get(1) {
                let t = m.as_str().trim_end_matches([' ', '.', '-']);
                if let Some(len) = accept(t) {
                    found.push(PiiFinding {
                        kind: kind.clone(),
                        start: m.start(),
                        end: m.start() + len,
                        text: t[..len].to_owned(),
                    });
                }
            }
        }
    };
    let whole = |valid: fn(&str) -> bool| move |t: &str| valid(t).then_some(t.len());
    // RFC 5321: a local part of at most 64 bytes, a domain of at most 255.
    collect(get(&EMAIL)?, PiiKind::Email, &|t| {
        let (local, domain) = t.split_once('@')?;
        (local.len() <= 64 && domain.len() <= 255).then_some(t.len())
    });
    // The pattern may run on into a following word in capitals ("... 5685
    // ABC"): take the longest prefix that checks.
    collect(get(&IBAN)?, PiiKind::Iban, &|t| {
        (15..=t.len())
            .rev()
            .filter(|&end| t.is_char_boundary(end) && !t[..end].ends_with(' '))
            .find(|&end| iban_valid(&t[..end]))
    });
    for name in &config.national_ids {
        let (regex, valid) =
            national_id(name).ok_or_else(|| GuardError::UnknownRecogniser(name.clone()))?;
        collect(
            get(regex)?,
            PiiKind::NationalId(name.clone()),
            &whole(valid),
        );
    }
    collect(get(&CARD)?, PiiKind::PaymentCard, &whole(card_valid));
    collect(get(&PHONE_INTL)?, PiiKind::Phone, &whole(phone_valid));
    if config.phone_country_code.is_some() {
        collect(get(&PHONE_NATIONAL)?, PiiKind::Phone, &whole(phone_valid));
    }
    // Most specific first, then longest; keep what does not overlap.
    found.sort_by(|a, b| {
        b.kind
            .priority()
            .cmp(&a.kind.priority())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
    });
    // Kept findings never overlap, so only the one starting last before
    // `f` ends can overlap it: a lookup, not a scan of all kept so far
    // (which was quadratic in the number of findings).
    let mut kept: std::collections::BTreeMap<usize, PiiFinding> = std::collections::BTreeMap::new();
    for f in found {
        let clear = kept
            .range(..f.end)
            .next_back()
            .is_none_or(|(_, k)| k.end <= f.start);
        if clear {
            kept.insert(f.start, f);
        }
    }
    Ok(kept.into_values().collect())
}

/// Replaces every finding with its mask: for logs and storage.
pub fn mask(text: &str, findings: &[PiiFinding]) -> String {
    replace(text, findings, |f| f.kind.mask().to_owned())
}

fn replace(
    text: &str,
    findings: &[PiiFinding],
    mut with: impl FnMut(&PiiFinding) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        out.push_str(text.get(at..f.start).unwrap_or(""));
        out.push_str(&with(f));
        at = f.end;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out
}

/// Reversible placeholders for one conversation: the same value always gets
/// the same `<PII_n>`, so the model can refer to it consistently.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    by_value: HashMap<String, usize>,
    values: Vec<String>,
}

/// Distinct values one vault remembers; past this, findings are masked
/// (`[EMAIL]`) instead, so a hostile conversation cannot grow it without end.
pub const MAX_VAULT_VALUES: usize = 4096;

/// The longest placeholder text, bounding what a [`Restorer`] holds back.
const MAX_PLACEHOLDER: usize = "<PII_4294967295>".len();

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces each finding with a placeholder and remembers the value.
    pub fn redact(&mut self, text: &str, findings: &[PiiFinding]) -> String {
        replace(text, findings, |f| {
            let n = match self.by_value.get(&f.text) {
                Some(n) => *n,
                None if self.values.len() >= MAX_VAULT_VALUES => {
                    return f.kind.mask().to_owned();
                }
                None => {
                    self.values.push(f.text.clone());
                    let n = self.values.len();
                    self.by_value.insert(f.text.clone(), n);
                    n
                }
            };
            format!("<PII_{n}>")
        })
    }

    /// Puts the original values back into an answer. Unknown placeholders
    /// (the model invented one) are left as they are.
    pub fn restore(&self, answer: &str) -> String {
        static PLACEHOLDER: Lazy = LazyLock::new(|| re(r"<PII_([0-9]{1,10})>"));
        let Ok(placeholder) = PLACEHOLDER.as_ref() else {
            return answer.to_owned();
        };
        placeholder
            .replace_all(answer, |c: &regex::Captures<'_>| {
                let value = c
                    .get(1)
                    .and_then(|m| m.as_str().parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| self.values.get(i));
                match value {
                    Some(v) => v.clone(),
                    None => c.get(0).map(|m| m.as_str().to_owned()).unwrap_or_default(),
                }
            })
            .into_owned()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Restores placeholders in a streamed answer: a placeholder split across
/// deltas is held back until it is complete (at most a placeholder's length).
/// It holds the vault by reference or by value (`&Vault` or `Vault`).
#[derive(Debug)]
pub struct Restorer<V> {
    vault: V,
    pending: String,
}

impl<V: std::borrow::Borrow<Vault>> Restorer<V> {
    pub fn new(vault: V) -> Self {
        Restorer {
            vault,
            pending: String::new(),
        }
    }

    /// Text that can be sent now.
    pub fn push(&mut self, delta: &str) -> String {
        self.pending.push_str(delta);
        // Hold back a trailing `<`, `<P`, ... `<PII_123` that may continue.
        let hold = match self.pending.rfind('<') {
            Some(i) if self.pending.len() - i < MAX_PLACEHOLDER => {
                let tail = &self.pending[i..];
                let could_continue = "<PII_".starts_with(tail)
                    || (tail.starts_with("<PII_") && tail[5..].bytes().all(|b| b.is_ascii_digit()));
                if could_continue {
                    i
                } else {
                    self.pending.len()
                }
            }
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..hold).collect();
        self.vault.borrow().restore(&ready)
    }

    /// Whatever is held back, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.vault.borrow().restore(&rest)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn kinds(text: &str, config: &PiiConfig) -> Vec<(PiiKind, String)> {
        find(text, config)
            .unwrap()
            .into_iter()
            .map(|f| (f.kind, f.text))
            .collect()
    }

    fn national(name: &str) -> PiiKind {
        PiiKind::NationalId(name.to_owned())
    }

    #[test]
    fn checksums_accept_valid_and_refuse_one_digit_off() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        for iban in [
            "EE38 2200 2210 2014 5685",
            "CH93 0076 2011 6238 5295 7",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
            "DE89370400440532013000",
        ] {
            assert!(iban_valid(iban), "{iban}");
        }
        assert!(!iban_valid("EE38 2200 2210 2014 5686"));
        // Right checksum digits are not enough with the wrong length.
        assert!(!iban_valid("DE8937040044053201300"));
        assert!(isikukood_valid("37605030299"));
        assert!(isikukood_valid("49001011238"));
        assert!(!isikukood_valid("37605030298"));
        assert!(!isikukood_valid("37613030299"), "month 13");
        assert!(ahv_valid("756.1234.5678.97"));
        assert!(!ahv_valid("756.1234.5678.98"));
        assert!(aadhaar_valid("2341 2341 2346"));
        assert!(!aadhaar_valid("2341 2341 2347"));
        assert!(!aadhaar_valid("1341 2341 2346"), "cannot start with 1");
        assert!(nir_valid("1 85 05 78 006 084 91"));
        assert!(!nir_valid("1 85 05 78 006 084 92"));
    }

    #[test]
    fn finds_each_kind_in_several_scripts() {
        let all = PiiConfig::all();
        let text = "Kirjuta mulle: mari.tamm@example.ee, isikukood 37605030299, \
                    IBAN EE382200221020145685.";
        assert_eq!(
            kinds(text, &all),
            vec![
                (PiiKind::Email, "mari.tamm@example.ee".into()),
                (national("ee_isikukood"), "37605030299".into()),
                (PiiKind::Iban, "EE382200221020145685".into()),
            ]
        );
        // Arabic around the values, no spaces between script and digits.
        let ar = "رقم بطاقتي 4111111111111111 وهاتفي +212 612 345 678 شكرا";
        assert_eq!(
            kinds(ar, &all),
            vec![
                (PiiKind::PaymentCard, "4111111111111111".into()),
                (PiiKind::Phone, "+212 612 345 678".into()),
            ]
        );
        let ru = "Мой номер AHV 756.1234.5678.97, почта иван@пример.рф";
        let found = kinds(ru, &all);
        assert!(found.contains(&(national("ch_ahv"), "756.1234.5678.97".into())));
        assert!(
            found.contains(&(PiiKind::Email, "иван@пример.рф".into())),
            "{found:?}"
        );
        let hi = "मेरा आधार 2341 2341 2346 है और PAN ABCPE1234F";
        let found = kinds(hi, &all);
        assert!(found.contains(&(national("in_aadhaar"), "2341 2341 2346".into())));
        assert!(found.contains(&(national("in_pan"), "ABCPE1234F".into())));
    }

    #[test]
    fn invalid_identifiers_are_not_reported_as_such() {
        let all = PiiConfig::all();
        // Bad Luhn: not a card (and too long to be a phone number).
        assert!(kinds("card 4111 1111 1111 1112 3456", &all).is_empty());
        // Bad check digit: not an isikukood.
        let found = kinds("isikukood 37605030298", &all);
        assert!(
            !found.iter().any(|(k, _)| *k == national("ee_isikukood")),
            "{found:?}"
        );
        // Bad mod 97: not an IBAN.
        assert!(
            !kinds("EE382200221020145686", &all)
                .iter()
                .any(|(k, _)| *k == PiiKind::Iban)
        );
        // Only the profile's recognisers run.
        let ee = PiiConfig {
            national_ids: vec!["ee_isikukood".into()],
            phone_country_code: Some("372".into()),
        };
        assert!(kinds("PAN ABCPE1234F", &ee).is_empty());
        let bad = PiiConfig {
            national_ids: vec!["xx_nothing".into()],
            phone_country_code: None,
        };
        assert!(matches!(
            find("", &bad),
            Err(GuardError::UnknownRecogniser(_))
        ));
    }

    #[test]
    fn national_phone_numbers_with_a_country_code() {
        let ma = PiiConfig {
            national_ids: vec!["ma_cin".into()],
            phone_country_code: Some("212".into()),
        };
        let found = kinds("Appelez-moi au 06 12 34 56 78, CIN BE123456.", &ma);
        assert_eq!(
            found,
            vec![
                (PiiKind::Phone, "06 12 34 56 78".into()),
                (national("ma_cin"), "BE123456".into()),
            ]
        );
    }

    #[test]
    fn mask_and_reversible_placeholders() {
        let all = PiiConfig::all();
        let text = "Send 4111111111111111 to jaan@example.ee, again jaan@example.ee";
        let found = find(text, &all).unwrap();
        assert_eq!(mask(text, &found), "Send [CARD] to [EMAIL], again [EMAIL]");
        let mut vault = Vault::new();
        let redacted = vault.redact(text, &found);
        assert_eq!(redacted, "Send <PII_1> to <PII_2>, again <PII_2>");
        assert_eq!(vault.len(), 2);
        assert_eq!(vault.restore(&redacted), text);
        assert_eq!(vault.restore("<PII_9> stays"), "<PII_9> stays");
    }

    #[test]
    fn many_findings_cost_linear_time() {
        // 100,000 addresses: keeping the non-overlapping findings compared
        // each with all kept before it (5·10⁹ comparisons); now a lookup.
        let text = "a@b.cc ".repeat(100_000);
        let started = std::time::Instant::now();
        let found = find(&text, &PiiConfig::all()).unwrap();
        let took = started.elapsed();
        assert_eq!(found.len(), 100_000);
        assert!(found.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        // Overlaps still go to the most specific, then the longest.
        let found = find("IBAN EE382200221020145685 a@b.cc", &PiiConfig::all()).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].kind, PiiKind::Iban);
        assert_eq!(found[1].kind, PiiKind::Email);
    }

    #[test]
    fn a_full_vault_masks_instead_of_growing() {
        let mut vault = Vault::new();
        let mut text = String::new();
        for i in 0..MAX_VAULT_VALUES + 2 {
            text.push_str(&format!("u{i}@example.ee "));
        }
        let found = find(&text, &PiiConfig::all()).unwrap();
        let redacted = vault.redact(&text, &found);
        assert_eq!(vault.len(), MAX_VAULT_VALUES);
        assert!(
            redacted.ends_with("[EMAIL] [EMAIL] "),
            "{}",
            &redacted[redacted.len() - 40..]
        );
    }

    #[test]
    fn restorer_handles_placeholders_split_across_deltas() {
        let all = PiiConfig::all();
        let text = "mail mari@example.ee";
        let mut vault = Vault::new();
        let found = find(text, &all).unwrap();
        vault.redact(text, &found);
        let mut r = Restorer::new(&vault);
        let mut out = String::new();
        for delta in ["Your address is <", "PI", "I_1", "> and 3 < 4, ", "ok"] {
            out.push_str(&r.push(delta));
        }
        out.push_str(&r.finish());
        assert_eq!(out, "Your address is mari@example.ee and 3 < 4, ok");
    }
}
