//! Hybrid retrieval: what a search asks for, how the two result lists merge.
//!
//! The vector list (cosine over multilingual embeddings) finds passages in
//! any language and phrased any way; the full-text list (FTS5 BM25) finds
//! exact names, numbers and rare words the embedding blurs. Reciprocal-rank
//! fusion merges them by rank alone (score = Σ w/(k + rank)), so the two
//! scales never need calibrating against each other.

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

/// Weighted reciprocal-rank fusion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Fusion {
    /// RRF's damping constant: larger flattens the rank curve.
    pub rrf_k: f32,
    /// Weight of the full-text list against the vector list's 1.0.
    pub text_weight: f32,
    /// Full-text hits that take part.
    pub text_candidates: usize,
}

impl Default for Fusion {
    fn default() -> Self {
        // Chosen by the sweep in tests/fusion_sweep.rs on the evaluation
        // set (docs/knowledge.md): with equal weights the full-text list,
        // which cannot match across languages, pulled same-language
        // distractors above cross-language answers.
        Self {
            rrf_k: 20.0,
            text_weight: 0.3,
            text_candidates: 5,
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
}

/// Merge two ranked id lists; the best `k` as (id, fused score).
pub fn fuse(vector: &[i64], text: &[i64], k: usize, f: Fusion) -> Vec<(i64, f32)> {
    let mut score: HashMap<i64, f32> = HashMap::new();
    // The cap is for fusion; a text-only search keeps its whole list.
    let cap = if vector.is_empty() {
        text.len()
    } else {
        f.text_candidates
    };
    let text = &text[..text.len().min(cap)];
    for (list, w) in [(vector, 1.0), (text, f.text_weight)] {
        for (rank, id) in list.iter().enumerate() {
            *score.entry(*id).or_default() += w / (f.rrf_k + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(i64, f32)> = score.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(k);
    out
}

/// An FTS5 query for free text: each word (letters and digits) as a prefix
/// term, ORed, so no user input is ever parsed as FTS syntax. Long words are
/// cut to their first seven letters, a crude stemmer that works across
/// languages ("vaccination" finds "vaccinations", "Führerscheins" finds
/// "Führerschein").
pub fn fts_query(text: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        let n = word.chars().count();
        if n < 2 {
            continue;
        }
        let stem: String = word.chars().take(7).collect();
        let term = format!("\"{stem}\"*");
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == 32 {
            break;
        }
    }
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        let fused = fuse(&[1, 2, 3], &[3, 4], 3, Fusion::default());
        assert_eq!(fused[0].0, 3, "{fused:?}");
        assert_eq!(fused.len(), 3);
    }

    #[test]
    fn fts_queries_are_words_only() {
        assert_eq!(
            fts_query("How do I renew my \"passport\" OR NOT* -x?").as_deref(),
            Some(
                "\"how\"* OR \"do\"* OR \"renew\"* OR \"my\"* OR \"passpor\"* OR \"or\"* OR \"not\"*"
            )
        );
        assert_eq!(fts_query("?! -"), None);
    }
}
