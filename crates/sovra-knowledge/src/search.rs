//! Hybrid retrieval: what a search asks for, how the two result lists merge.
//!
//! The vector list (cosine over multilingual embeddings) finds passages in
//! any language and phrased any way; the full-text list (FTS5 BM25) finds
//! exact names, numbers and rare words the embedding blurs. Two fusions:
//! reciprocal-rank fusion merges them by rank alone (score = Σ w/(k +
//! rank)); score fusion adds the two lists' min-max normalised scores
//! (cosine and BM25), weighted, so a strong full-text match counts more
//! than a weak one at the same rank. Full-text queries leave out the
//! function words of the profiles' languages ([`STOP_WORDS`]): they match
//! nearly every passage and, for a question in another language than the
//! document, were all the text list had to go by.

use std::collections::HashMap;

use serde::Serialize;

/// Which index a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Vector,
    Text,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub text: String,
    /// Collections to search (each must be readable); None: all readable ones.
    pub collections: Option<Vec<String>>,
    /// Only public (official) collections.
    pub official_only: bool,
    /// Results wanted.
    pub k: usize,
    pub mode: Mode,
    /// How the two lists merge (None: the knowledge base's default).
    pub fusion: Option<Fusion>,
}

/// How the vector and full-text lists merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionMethod {
    /// Weighted reciprocal-rank fusion: ranks only.
    #[default]
    Rrf,
    /// `(1 - w) · cosine' + w · bm25'`, each min-max normalised over its list.
    Scores,
}

/// How a hybrid search merges its two lists.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Fusion {
    #[serde(default)]
    pub method: FusionMethod,
    /// RRF's damping constant: larger flattens the rank curve (RRF only).
    pub rrf_k: f32,
    /// Weight of the full-text list against the vector list's 1.0.
    pub text_weight: f32,
    /// Full-text hits that take part.
    pub text_candidates: usize,
}

impl Default for Fusion {
    fn default() -> Self {
        // Swept on the tuning questions (questions.jsonl and
        // portal-tuning.jsonl; docs/knowledge.md), with the vector list
        // language-centred: weights 0.05-0.2 score exactly as the vector
        // list alone, 0.3 gains one tuning question of 190 and, checked on
        // the held-out sets, loses two (so it is noise, not signal), 0.5
        // loses on both. 0.05 keeps the vector ranking and lets a strong
        // full-text match (an exact form code) break its near-ties.
        Self {
            method: FusionMethod::Scores,
            rrf_k: 20.0,
            text_weight: 0.05,
            text_candidates: 10,
        }
    }
}

impl Query {
    pub fn new(text: &str, k: usize) -> Self {
        Self {
            text: text.to_owned(),
            k,
            ..Self::default()
        }
    }
}

/// One retrieved passage with its document's metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub chunk_id: i64,
    pub document_id: String,
    pub collection_id: String,
    pub source: String,
    pub title: String,
    pub url: Option<String>,
    pub language: Option<String>,
    pub effective_date: Option<String>,
    pub heading: String,
    pub text: String,
    /// The fused score (higher is better).
    pub score: f32,
    /// Cosine between the query and this passage, when the query was embedded.
    pub similarity: Option<f32>,
    /// What the vector index ranks this passage by for the query: the
    /// language-centred cosine (the plain one when centering is off).
    pub relevance: Option<f32>,
}

/// When a retrieved passage counts as relevant: grounded chat keeps only
/// those, and "official sources only" declines when none is left. Both
/// bounds must hold where the hit has the score (a text-only hit has
/// neither; a language with too few passages has no relevance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RelevanceFloor {
    /// Least plain cosine (`knowledge.min_similarity`).
    pub min_similarity: f32,
    /// Least language-centred cosine (`knowledge.min_relevance`).
    pub min_relevance: f32,
}

impl Default for RelevanceFloor {
    /// The shipped `knowledge.min_similarity` and `knowledge.min_relevance`
    /// (chosen on the tuning questions; docs/knowledge.md).
    fn default() -> Self {
        Self {
            min_similarity: 0.80,
            min_relevance: 0.66,
        }
    }
}

impl RelevanceFloor {
    /// Whether `hit` is relevant enough to ground an answer.
    pub fn admits(&self, hit: &Hit) -> bool {
        hit.similarity.is_none_or(|s| s >= self.min_similarity)
            && hit.relevance.is_none_or(|r| r >= self.min_relevance)
    }
}

/// Merge two ranked lists of (id, score) (higher is better); the best `k`
/// as (id, fused score).
pub fn fuse(vector: &[(i64, f32)], text: &[(i64, f32)], k: usize, f: Fusion) -> Vec<(i64, f32)> {
    let mut score: HashMap<i64, f32> = HashMap::new();
    // The cap is for fusion; a text-only search keeps its whole list.
    let cap = if vector.is_empty() {
        text.len()
    } else {
        f.text_candidates
    };
    let text = &text[..text.len().min(cap)];
    match f.method {
        FusionMethod::Rrf => {
            for (list, w) in [(vector, 1.0), (text, f.text_weight)] {
                for (rank, (id, _)) in list.iter().enumerate() {
                    *score.entry(*id).or_default() += w / (f.rrf_k + rank as f32 + 1.0);
                }
            }
        }
        FusionMethod::Scores => {
            let (wv, wt) = match (vector.is_empty(), text.is_empty()) {
                (true, _) => (0.0, 1.0),
                (_, true) => (1.0, 0.0),
                _ => (1.0 - f.text_weight, f.text_weight),
            };
            for (list, w) in [(vector, wv), (text, wt)] {
                let hi = list.iter().map(|x| x.1).fold(f32::MIN, f32::max);
                let lo = list.iter().map(|x| x.1).fold(f32::MAX, f32::min);
                let span = hi - lo;
                for (id, s) in list {
                    let norm = if span > f32::EPSILON {
                        (s - lo) / span
                    } else {
                        1.0
                    };
                    *score.entry(*id).or_default() += w * norm;
                }
            }
        }
    }
    let mut out: Vec<(i64, f32)> = score.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(k);
    out
}

/// Function words left out of full-text queries, in the languages of the
/// shipped country profiles (en, de, fr, it, et, ru, ar): articles,
/// pronouns, auxiliaries, prepositions and question words. Lowercase.
pub const STOP_WORDS: &[&str] = &[
    // en
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "by",
    "with",
    "from",
    "is",
    "are",
    "was",
    "be",
    "been",
    "do",
    "does",
    "did",
    "can",
    "could",
    "should",
    "must",
    "will",
    "would",
    "have",
    "has",
    "had",
    "i",
    "me",
    "my",
    "we",
    "our",
    "you",
    "your",
    "it",
    "its",
    "they",
    "their",
    "he",
    "she",
    "his",
    "her",
    "what",
    "which",
    "who",
    "whom",
    "when",
    "where",
    "why",
    "how",
    "much",
    "many",
    "long",
    "there",
    "this",
    "that",
    "these",
    "those",
    "if",
    "not",
    "no",
    "get",
    "after",
    "before",
    "about",
    "into",
    "any",
    "am",
    // de
    "der",
    "die",
    "das",
    "den",
    "dem",
    "des",
    "ein",
    "eine",
    "einen",
    "einem",
    "einer",
    "eines",
    "und",
    "oder",
    "ist",
    "sind",
    "war",
    "wird",
    "werden",
    "kann",
    "muss",
    "man",
    "ich",
    "mein",
    "meine",
    "meinen",
    "wir",
    "sie",
    "er",
    "es",
    "mich",
    "mir",
    "wie",
    "was",
    "wer",
    "wann",
    "wo",
    "warum",
    "welche",
    "welcher",
    "welches",
    "viel",
    "für",
    "mit",
    "von",
    "vom",
    "zu",
    "zum",
    "zur",
    "im",
    "bei",
    "auf",
    "aus",
    "nach",
    "vor",
    "bis",
    "gibt",
    "habe",
    "hat",
    "haben",
    "nicht",
    "kein",
    "keine",
    "ob",
    // fr
    "le",
    "la",
    "les",
    "l",
    "un",
    "une",
    "du",
    "de",
    "d",
    "et",
    "ou",
    "est",
    "sont",
    "je",
    "j",
    "m",
    "mon",
    "ma",
    "mes",
    "nous",
    "vous",
    "il",
    "elle",
    "ils",
    "elles",
    "que",
    "qu",
    "qui",
    "quoi",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "comment",
    "combien",
    "quand",
    "où",
    "pourquoi",
    "pour",
    "par",
    "avec",
    "dans",
    "en",
    "sur",
    "au",
    "aux",
    "ce",
    "cette",
    "ces",
    "se",
    "s",
    "faut",
    "peut",
    "dois",
    "doit",
    "ai",
    "t",
    "ne",
    "pas",
    "si",
    "faire",
    // it
    "lo",
    "gli",
    "uno",
    "di",
    "da",
    "del",
    "della",
    "e",
    "è",
    "che",
    "chi",
    "come",
    "quanto",
    "dove",
    "perché",
    "per",
    "con",
    "su",
    "mi",
    "mio",
    "io",
    // et
    "ja",
    "või",
    "ei",
    "kas",
    "mis",
    "mida",
    "kes",
    "kuidas",
    "millal",
    "kus",
    "miks",
    "mitu",
    "palju",
    "kui",
    "see",
    "seda",
    "selle",
    "mu",
    "minu",
    "ma",
    "mina",
    "te",
    "nad",
    "ta",
    "tema",
    "saab",
    "saan",
    "pean",
    "tuleb",
    "vaja",
    "aega",
    // ru
    "и",
    "или",
    "в",
    "во",
    "на",
    "с",
    "со",
    "по",
    "для",
    "как",
    "что",
    "кто",
    "где",
    "когда",
    "сколько",
    "почему",
    "я",
    "мне",
    "мой",
    "моя",
    "мы",
    "вы",
    "он",
    "она",
    "они",
    "это",
    "не",
    "ли",
    "нужно",
    "можно",
    // ar
    "في",
    "من",
    "على",
    "إلى",
    "عن",
    "مع",
    "ما",
    "ماذا",
    "كيف",
    "متى",
    "أين",
    "لماذا",
    "كم",
    "هل",
    "هي",
    "هو",
    "أنا",
    "التي",
    "الذي",
    "أو",
    "و",
    "يمكن",
    "يمكنني",
    "لي",
];

/// Letters a long word is cut to, as a prefix term.
const STEM: usize = 7;

/// One full-text term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Lowercased letters and digits only.
    pub text: String,
    /// Match every indexed word that starts with `text`.
    pub prefix: bool,
}

/// The full-text terms of free text, backend-neutral: each word (letters
/// and digits) but function words and single letters, lowercased, at most
/// 32, without repeats; a single digit stays (the 5 of "§ 5 MeldeG").
/// Words of seven letters or more are cut to their first seven and match as
/// a prefix, a crude stemmer that works across languages ("vaccination"
/// finds "vaccinations", "Führerscheins" finds "Führerschein"); shorter
/// words match exactly. A prefix of a short word ("renew"*, "id"*) expands
/// to many index terms and matches many rows: over 100k chunks that
/// expansion was a fifth of the full-text cost, and the evaluation's recall
/// is the same without it (docs/benchmarks.md). Every term is letters and
/// digits only, so no user input is ever parsed as query syntax by either
/// backend's formatting ([`fts_query`], the PostgreSQL tsquery).
pub fn fts_terms(text: &str) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        let n = word.chars().count();
        // One letter is an elision ("l'", "d'") or an initial; one digit is
        // a section, an article or a form's number ("§ 5", "Article 9").
        let letter = n == 1 && !word.chars().all(|c| c.is_ascii_digit());
        if n == 0 || letter || STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        let term = if n >= STEM {
            Term {
                text: word.chars().take(STEM).collect(),
                prefix: true,
            }
        } else {
            Term {
                text: word,
                prefix: false,
            }
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == 32 {
            break;
        }
    }
    terms
}

/// Free text as one backend's query: each of [`fts_terms`] written by
/// `prefix` or `exact`, joined by `or`; None when no term is left.
pub fn render_terms(
    text: &str,
    prefix: impl Fn(&str) -> String,
    exact: impl Fn(&str) -> String,
    or: &str,
) -> Option<String> {
    let terms = fts_terms(text);
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| {
                if t.prefix {
                    prefix(&t.text)
                } else {
                    exact(&t.text)
                }
            })
            .collect::<Vec<_>>()
            .join(or)
    })
}

/// An FTS5 query for free text: [`fts_terms`] quoted (prefix terms with
/// `*`), ORed.
pub fn fts_query(text: &str) -> Option<String> {
    render_terms(
        text,
        |t| format!("\"{t}\"*"),
        |t| format!("\"{t}\""),
        " OR ",
    )
}

/// Lowercase with diacritics removed (`Führerschein` → `fuhrerschein`), as
/// FTS5's `unicode61 remove_diacritics 2` tokenizer folds words.
pub fn fold(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_normalization::char::is_combining_mark;
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect()
}

/// The words of `text` as the full-text index sees them: runs of letters
/// and digits, [`fold`]ed.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// BM25 with FTS5's constants and IDF, so a score means what `-bm25()`
/// does: k1 = 1.2, b = 0.75, IDF ln((N − n + 0.5)/(n + 0.5)) floored at
/// 1e-6 (a term in most passages still counts a little).
const BM25_K1: f32 = 1.2;
const BM25_B: f32 = 0.75;

/// Full-text search in memory over passages that have no full-text rows
/// (private collections, whose text is sealed at rest): `bodies` are
/// (chunk id, [`crate::store::fts_body`] text), already opened. The same
/// terms as the indexed search ([`fts_terms`], [`fold`]ed: prefix terms
/// match every word they start, others whole words), ORed and ranked by
/// BM25 over these passages; the best `limit` as (id, score), higher is
/// better, ties by id.
pub fn bm25_in_memory(query: &str, bodies: &[(i64, String)], limit: usize) -> Vec<(i64, f32)> {
    let terms: Vec<Term> = fts_terms(query)
        .into_iter()
        .map(|t| Term {
            text: fold(&t.text),
            prefix: t.prefix,
        })
        .collect();
    if terms.is_empty() || bodies.is_empty() || limit == 0 {
        return Vec::new();
    }
    // Per passage: its length in words and each term's frequency.
    let mut lengths = Vec::with_capacity(bodies.len());
    let mut freqs: Vec<Vec<u32>> = Vec::with_capacity(bodies.len());
    for (_, body) in bodies {
        let mut f = vec![0u32; terms.len()];
        let mut n = 0usize;
        for w in words(body) {
            n += 1;
            for (i, t) in terms.iter().enumerate() {
                let hit = if t.prefix {
                    w.starts_with(&t.text)
                } else {
                    w == t.text
                };
                if hit {
                    f[i] += 1;
                }
            }
        }
        lengths.push(n as f32);
        freqs.push(f);
    }
    let total = bodies.len() as f32;
    let avg = (lengths.iter().sum::<f32>() / total).max(1.0);
    let idf: Vec<f32> = (0..terms.len())
        .map(|i| {
            let n = freqs.iter().filter(|f| f[i] > 0).count() as f32;
            ((total - n + 0.5) / (n + 0.5)).ln().max(1e-6)
        })
        .collect();
    let mut scored: Vec<(i64, f32)> = bodies
        .iter()
        .zip(freqs.iter().zip(&lengths))
        .filter(|(_, (f, _))| f.iter().any(|x| *x > 0))
        .map(|((id, _), (f, len))| {
            let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * len / avg);
            let score = f
                .iter()
                .zip(&idf)
                .map(|(tf, idf)| {
                    let tf = *tf as f32;
                    idf * tf * (BM25_K1 + 1.0) / (tf + norm)
                })
                .sum();
            (*id, score)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    scored
}

/// One full-text list from the indexed one (`indexed`: FTS5 BM25, or
/// PostgreSQL's rank) and the in-memory one over private passages
/// ([`bm25_in_memory`]), best first, at most `limit`. Either alone is kept
/// as it is; together, each is scaled by its best score first (the two
/// scales differ, PostgreSQL's rank above all), so the best of each stand
/// level, and a passage in both keeps its higher score.
pub fn merge_text_lists(
    indexed: Vec<(i64, f32)>,
    in_memory: Vec<(i64, f32)>,
    limit: usize,
) -> Vec<(i64, f32)> {
    if in_memory.is_empty() {
        return indexed;
    }
    if indexed.is_empty() {
        return in_memory;
    }
    let scaled = |list: Vec<(i64, f32)>| {
        let best = list.iter().map(|x| x.1).fold(f32::MIN, f32::max);
        let best = if best > 0.0 { best } else { 1.0 };
        list.into_iter().map(move |(id, s)| (id, s / best))
    };
    let mut by_id: HashMap<i64, f32> = HashMap::new();
    for (id, s) in scaled(indexed).chain(scaled(in_memory)) {
        let e = by_id.entry(id).or_insert(s);
        *e = e.max(s);
    }
    let mut out: Vec<(i64, f32)> = by_id.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(ids: &[i64]) -> Vec<(i64, f32)> {
        ids.iter()
            .enumerate()
            .map(|(r, id)| (*id, 1.0 - r as f32 / 10.0))
            .collect()
    }

    #[test]
    fn a_relevant_passage_clears_both_bounds_where_it_has_them() {
        let floor = RelevanceFloor::default();
        let hit = |similarity, relevance| Hit {
            chunk_id: 1,
            document_id: "d".into(),
            collection_id: "c".into(),
            source: "s".into(),
            title: "t".into(),
            url: None,
            language: None,
            effective_date: None,
            heading: String::new(),
            text: String::new(),
            score: 0.0,
            similarity,
            relevance,
        };
        assert!(floor.admits(&hit(Some(0.85), Some(0.70))));
        assert!(!floor.admits(&hit(Some(0.85), Some(0.60))), "off topic");
        assert!(!floor.admits(&hit(Some(0.75), Some(0.70))), "low cosine");
        // A language too small to centre on is judged by the cosine alone;
        // a text-only hit by neither.
        assert!(floor.admits(&hit(Some(0.85), None)));
        assert!(!floor.admits(&hit(Some(0.75), None)));
        assert!(floor.admits(&hit(None, None)));
    }

    #[test]
    fn rrf_rewards_agreement() {
        let rrf = Fusion {
            method: FusionMethod::Rrf,
            text_weight: 1.0,
            ..Fusion::default()
        };
        let fused = fuse(&ranked(&[1, 2, 3]), &ranked(&[3, 4]), 3, rrf);
        assert_eq!(fused[0].0, 3, "{fused:?}");
        assert_eq!(fused.len(), 3);
    }

    #[test]
    fn score_fusion_weighs_how_strong_a_match_is() {
        let f = Fusion {
            method: FusionMethod::Scores,
            text_weight: 0.5,
            text_candidates: 10,
            ..Fusion::default()
        };
        // Vector: 1 and 2 nearly tied; text: 2 far ahead of 3.
        let vector = [(1, 0.90), (2, 0.89), (3, 0.80)];
        let text = [(2, 12.0), (3, 1.0)];
        let fused = fuse(&vector, &text, 3, f);
        assert_eq!(fused[0].0, 2, "{fused:?}");
        // One list alone keeps its order.
        let alone = fuse(&vector, &[], 3, f);
        assert_eq!(alone.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3]);
        let text_only = fuse(&[], &text, 3, f);
        assert_eq!(text_only.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn fts_queries_are_words_only() {
        assert_eq!(
            fts_query("How do I renew my \"passport\" OR NOT* -xy?").as_deref(),
            Some("\"renew\" OR \"passpor\"* OR \"xy\"")
        );
        // Function words go, in every profile language.
        assert_eq!(
            fts_query("Wie viel kostet der Führerschein?").as_deref(),
            Some("\"kostet\" OR \"führers\"*")
        );
        // A lone digit is a section number, a lone letter is not a word.
        assert_eq!(
            fts_query("Was regelt § 5 MeldeG, l'article 9 ?").as_deref(),
            Some("\"regelt\" OR \"5\" OR \"meldeg\" OR \"article\"* OR \"9\"")
        );
        assert_eq!(fts_query("What is it?"), None);
        assert_eq!(fts_query("?! -"), None);
    }

    #[test]
    fn in_memory_full_text_ranks_like_bm25_with_the_same_terms() {
        let bodies = vec![
            (1, "Der Führerschein kostet 40 Euro.".to_owned()),
            (
                2,
                "Führerscheine und Führerscheinprüfung: Führerschein.".to_owned(),
            ),
            (3, "Nothing here about licences.".to_owned()),
            (
                4,
                "Vaccinations for travellers; one vaccination each.".to_owned(),
            ),
        ];
        // Diacritics fold both ways; a long word is a prefix term.
        let hits = bm25_in_memory("Fuhrerschein", &bodies, 10);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [2, 1]);
        assert!(hits.iter().all(|h| h.1 > 0.0));
        // Short words match whole words only; function words are no terms.
        assert_eq!(bm25_in_memory("kostet", &bodies, 10)[0].0, 1);
        assert!(bm25_in_memory("kost", &bodies, 10).is_empty());
        assert!(bm25_in_memory("what is it", &bodies, 10).is_empty());
        assert_eq!(bm25_in_memory("vaccination", &bodies, 10)[0].0, 4);
        assert_eq!(bm25_in_memory("licences kostet", &bodies, 1).len(), 1);
    }

    #[test]
    fn text_lists_merge_level_and_without_repeats() {
        let indexed = vec![(1, 0.10), (2, 0.05)];
        let memory = vec![(7, 8.0), (1, 2.0)];
        assert_eq!(merge_text_lists(indexed.clone(), vec![], 10), indexed);
        assert_eq!(merge_text_lists(vec![], memory.clone(), 10), memory);
        let merged = merge_text_lists(indexed, memory, 10);
        let ids: Vec<i64> = merged.iter().map(|x| x.0).collect();
        assert_eq!(ids, [1, 7, 2], "{merged:?}");
        assert_eq!(merged[0].1, 1.0);
    }
}
