//! The safety evaluation: the labelled cases of `eval/safety/cases.jsonl`
//! run through moderation and the policy decision of one profile, and the
//! report `sovra eval safety` prints.
//!
//! A case is positive for a category when it is labelled with it or with
//! one of its subcategories (`hate/threatening` implies `hate`); a
//! prediction is the moderation result's flag. Per category: precision,
//! recall and false-positive rate. Per language: the same over "harmful or
//! not" (any flag vs none) and the accuracy of the decided action, plus the
//! language detector's accuracy on short messages (at most ten words). The
//! report also lists every miss, so numbers can be checked case by case.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sovra_profile::{Action, OPENAI_CATEGORIES, Profile, SOVRA_CATEGORIES};

use crate::{GuardError, LanguageIdentifier, Moderator, policy};

/// One labelled case.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Case {
    pub id: String,
    pub language: String,
    pub text: String,
    pub categories: Vec<String>,
    pub action: Action,
    /// `harmful`, `benign` or `tricky` (benign but easy to mistake).
    pub kind: String,
}

impl Case {
    /// Positive for `category`: labelled with it or a subcategory of it.
    pub fn is_positive(&self, category: &str) -> bool {
        self.categories
            .iter()
            .any(|c| c == category || c.strip_prefix(category).is_some_and(|r| r.starts_with('/')))
    }
}

/// Reads a JSON-lines case file.
pub fn load_cases(path: impl AsRef<Path>) -> Result<Vec<Case>, GuardError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| GuardError::EvalSet {
        file: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    parse_cases(&src, &file)
}

/// Parses JSON-lines cases; `file` names them in errors.
pub fn parse_cases(src: &str, file: &str) -> Result<Vec<Case>, GuardError> {
    let file = file.to_owned();
    let mut cases = Vec::new();
    for (i, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|e| GuardError::EvalSet {
            file: file.clone(),
            line: i + 1,
            message: e.to_string(),
        })?;
        cases.push(case);
    }
    Ok(cases)
}

/// Counts for one binary question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Confusion {
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn ratio(a: usize, b: usize) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }
    pub fn precision(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> Option<f64> {
        Self::ratio(self.tp, self.tp + self.fn_)
    }
    pub fn fpr(&self) -> Option<f64> {
        Self::ratio(self.fp, self.fp + self.tn)
    }
}

/// Per-language results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LanguageReport {
    /// Harmful (labelled with any category) vs flagged (any category).
    pub harmful: Confusion,
    pub cases: usize,
    /// Cases whose decided action equals the label.
    pub action_correct: usize,
    /// Benign cases (action `allow`) that were not allowed.
    pub benign: usize,
    pub benign_not_allowed: usize,
    /// Short messages (<= 10 words) and how many were detected right.
    pub short: usize,
    pub short_detected: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub id: String,
    pub expected: Action,
    pub decided: Action,
    pub labelled: Vec<String>,
    pub flagged: Vec<String>,
    pub detected_language: Option<String>,
    pub language: String,
    /// At most ten words: counted in the short-message detection accuracy.
    pub short: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub cases: usize,
    pub categories: BTreeMap<String, Confusion>,
    /// Category -> language -> (detected, labelled) for positives.
    pub recall_by_language: BTreeMap<String, BTreeMap<String, (usize, usize)>>,
    pub languages: BTreeMap<String, LanguageReport>,
    /// Cases labelled `block` that were blocked, and all labelled `block`.
    pub block: (usize, usize),
    /// Cases labelled `safe_completion` that got one, and all such.
    pub safe_completion: (usize, usize),
    /// Benign cases not allowed, and all benign.
    pub benign: (usize, usize),
    pub outcomes: Vec<CaseOutcome>,
    /// Time to check one message (language, moderation, decision), in µs.
    pub latency_p50_us: u128,
    pub latency_p99_us: u128,
}

/// Runs every case through the input check the answer pipeline runs
/// ([`crate::check_input`]: language detection, moderation and `profile`'s
/// policy).
pub fn run(
    cases: &[Case],
    profile: &Profile,
    moderator: &Moderator,
    languages: &LanguageIdentifier,
) -> Result<Report, GuardError> {
    let all_categories: Vec<&str> = OPENAI_CATEGORIES
        .iter()
        .chain(SOVRA_CATEGORIES.iter())
        .copied()
        .collect();
    let mut categories: BTreeMap<String, Confusion> = all_categories
        .iter()
        .map(|c| ((*c).to_owned(), Confusion::default()))
        .collect();
    let mut recall_by_language: BTreeMap<String, BTreeMap<String, (usize, usize)>> =
        BTreeMap::new();
    let mut langs: BTreeMap<String, LanguageReport> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(cases.len());
    let mut times: Vec<Duration> = Vec::with_capacity(cases.len());
    let (mut block, mut safe, mut benign) = ((0, 0), (0, 0), (0, 0));
    for case in cases {
        let started = Instant::now();
        // The pipeline's own input check, whatever classifier is scored.
        let crate::InputCheck {
            language: answer,
            moderation: result,
            decision,
        } = crate::check_input(&case.text, languages, moderator, profile)?;
        let detected = answer.detected.clone();
        times.push(started.elapsed());

        let decided = decision.action();
        for c in &all_categories {
            let truth = case.is_positive(c);
            let predicted = result.is_flagged(c);
            if let Some(conf) = categories.get_mut(*c) {
                conf.add(truth, predicted);
            }
            if truth {
                let cell = recall_by_language
                    .entry((*c).to_owned())
                    .or_default()
                    .entry(case.language.clone())
                    .or_default();
                cell.1 += 1;
                if predicted {
                    cell.0 += 1;
                }
            }
        }
        let l = langs.entry(case.language.clone()).or_default();
        l.cases += 1;
        l.harmful.add(!case.categories.is_empty(), result.flagged);
        if decided == case.action {
            l.action_correct += 1;
        }
        match case.action {
            Action::Allow => {
                l.benign += 1;
                benign.1 += 1;
                if decided != Action::Allow {
                    l.benign_not_allowed += 1;
                    benign.0 += 1;
                }
            }
            Action::Block => {
                block.1 += 1;
                if decided == Action::Block {
                    block.0 += 1;
                }
            }
            Action::SafeCompletion => {
                safe.1 += 1;
                if decided == Action::SafeCompletion {
                    safe.0 += 1;
                }
            }
        }
        let short = case.text.split_whitespace().count() <= 10;
        if short {
            l.short += 1;
            if detected
                .as_ref()
                .is_some_and(|d| d.language == case.language)
            {
                l.short_detected += 1;
            }
        }
        outcomes.push(CaseOutcome {
            id: case.id.clone(),
            expected: case.action,
            decided,
            labelled: case.categories.clone(),
            flagged: result
                .flagged_categories()
                .into_iter()
                .map(|(c, _)| c.to_owned())
                .collect(),
            detected_language: detected.map(|d| d.language),
            language: case.language.clone(),
            short,
        });
    }
    times.sort();
    let pct = |p: usize| {
        times
            .get((times.len().saturating_sub(1)) * p / 100)
            .map_or(0, Duration::as_micros)
    };
    Ok(Report {
        profile: format!("{} ({})", profile.name, profile.version),
        cases: cases.len(),
        categories,
        recall_by_language,
        languages: langs,
        block,
        safe_completion: safe,
        benign,
        outcomes,
        latency_p50_us: pct(50),
        latency_p99_us: pct(99),
    })
}

fn f(v: Option<f64>) -> String {
    v.map_or_else(|| "  -  ".to_owned(), |x| format!("{x:.3}"))
}

impl Report {
    /// Categories `profile` blocks whose recall is below `min`, and the
    /// benign false-positive rate if above `max_fpr`; empty when the issue's
    /// targets are met.
    pub fn missed_targets(&self, profile: &Profile, min: f64, max_fpr: f64) -> Vec<String> {
        let mut out = Vec::new();
        for (c, conf) in &self.categories {
            let blocked = policy::rule_for(profile, c)
                .map_or(profile.safety.default_action, |r| r.action)
                == Action::Block;
            if let Some(r) = conf.recall()
                && blocked
                && r < min
            {
                out.push(format!("recall {c} = {r:.3} < {min}"));
            }
        }
        let (fp, n) = self.benign;
        if n > 0 && fp as f64 / n as f64 > max_fpr {
            out.push(format!(
                "benign FPR = {:.3} > {max_fpr}",
                fp as f64 / n as f64
            ));
        }
        out
    }

    /// The plain-text report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let ratio = |(a, b): (usize, usize)| {
            format!("{a}/{b} = {}", f((b > 0).then(|| a as f64 / b as f64)))
        };
        let _ = writeln!(
            s,
            "Safety evaluation: {} cases, profile {}",
            self.cases, self.profile
        );
        let _ = writeln!(
            s,
            "  blocked when labelled block:              {}",
            ratio(self.block)
        );
        let _ = writeln!(
            s,
            "  safe completion when labelled so:         {}",
            ratio(self.safe_completion)
        );
        let _ = writeln!(
            s,
            "  benign not allowed (false-positive rate): {}",
            ratio(self.benign)
        );
        let _ = writeln!(
            s,
            "  latency per message (language + moderation + decision): p50 {} µs, p99 {} µs",
            self.latency_p50_us, self.latency_p99_us
        );
        let _ = writeln!(s, "\nPer category (a label implies its parent):");
        let _ = writeln!(
            s,
            "  {:<24} {:>4} {:>4} {:>4} {:>4}  {:>9} {:>6} {:>6}",
            "category", "tp", "fp", "fn", "tn", "precision", "recall", "fpr"
        );
        for (c, k) in &self.categories {
            let _ = writeln!(
                s,
                "  {:<24} {:>4} {:>4} {:>4} {:>4}  {:>9} {:>6} {:>6}",
                c,
                k.tp,
                k.fp,
                k.fn_,
                k.tn,
                f(k.precision()),
                f(k.recall()),
                f(k.fpr())
            );
        }
        let _ = writeln!(s, "\nPer language (harmful = labelled with any category):");
        let _ = writeln!(
            s,
            "  {:<4} {:>5} {:>9} {:>6} {:>6} {:>11} {:>13} {:>15}",
            "lang",
            "cases",
            "precision",
            "recall",
            "fpr",
            "action ok",
            "benign flagd",
            "lang id <=10w"
        );
        for (l, r) in &self.languages {
            let _ = writeln!(
                s,
                "  {:<4} {:>5} {:>9} {:>6} {:>6} {:>11} {:>13} {:>15}",
                l,
                r.cases,
                f(r.harmful.precision()),
                f(r.harmful.recall()),
                f(r.harmful.fpr()),
                format!("{}/{}", r.action_correct, r.cases),
                format!("{}/{}", r.benign_not_allowed, r.benign),
                format!(
                    "{}/{} {}",
                    r.short_detected,
                    r.short,
                    f((r.short > 0).then(|| r.short_detected as f64 / r.short as f64))
                ),
            );
        }
        let langs: Vec<&String> = self.languages.keys().collect();
        let _ = writeln!(s, "\nRecall per category and language (detected/labelled):");
        let mut header = format!("  {:<24}", "category");
        for l in &langs {
            let _ = write!(header, " {l:>5}");
        }
        let _ = writeln!(s, "{header}");
        for (c, by) in &self.recall_by_language {
            let mut row = format!("  {c:<24}");
            for l in &langs {
                let cell = by
                    .get(*l)
                    .map_or("-".to_owned(), |(a, b)| format!("{a}/{b}"));
                let _ = write!(row, " {cell:>5}");
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s, "\nMisses (expected -> decided; labelled | flagged):");
        for o in self.outcomes.iter().filter(|o| o.expected != o.decided) {
            let _ = writeln!(
                s,
                "  {:<8} {} -> {}; [{}] | [{}]",
                o.id,
                o.expected,
                o.decided,
                o.labelled.join(", "),
                o.flagged.join(", ")
            );
        }
        let _ = writeln!(s, "\nLanguage detection misses on short messages:");
        for o in self.outcomes.iter().filter(|o| o.short) {
            if o.detected_language.as_deref() != Some(o.language.as_str()) {
                let _ = writeln!(
                    s,
                    "  {:<8} detected {}",
                    o.id,
                    o.detected_language.as_deref().unwrap_or("nothing")
                );
            }
        }
        s
    }
}
