//! What the knowledge base embeds, and a model-free embedder for tests.
//!
//! E5 models were trained with role prefixes: documents as `passage: `,
//! searches as `query: `. A passage is embedded with its document title and
//! heading path in front, so "Fees" under "Passport renewal" is about
//! passports. [`HashEmbedder`] maps character trigrams to a fixed-size unit
//! vector: no weights, deterministic, lexical only; it lets access-control
//! and bookkeeping tests run without the 72 MB model.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sovra_embeddings::{EmbedError, EmbedInput, Embedder, Embeddings};

/// The text embedded for one stored passage.
pub fn passage_text(title: &str, heading: &str, text: &str) -> String {
    match (title.is_empty(), heading.is_empty()) {
        (false, false) => format!("passage: {title} › {heading}\n{text}"),
        (false, true) => format!("passage: {title}\n{text}"),
        (true, false) => format!("passage: {heading}\n{text}"),
        (true, true) => format!("passage: {text}"),
    }
}

/// The text embedded for a search.
pub fn query_text(query: &str) -> String {
    format!("query: {query}")
}

/// Character-trigram hashing into `dim` buckets (tests only; no semantics).
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    pub dim: usize,
}

impl Default for HashEmbedder {
    fn default() -> Self {
        Self { dim: 64 }
    }
}

impl HashEmbedder {
    fn vector(&self, text: &str) -> Vec<f32> {
        let text = text
            .strip_prefix("query: ")
            .or_else(|| text.strip_prefix("passage: "))
            .unwrap_or(text)
            .to_lowercase();
        let chars: Vec<char> = format!("  {text}  ").chars().collect();
        let mut v = vec![0f32; self.dim.max(1)];
        for w in chars.windows(3) {
            let s: String = w.iter().collect();
            let h = Sha256::digest(s.as_bytes());
            let b = usize::from(h[0]) << 8 | usize::from(h[1]);
            let n = v.len();
            v[b % n] += 1.0;
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.iter().map(|x| x / n).collect()
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "hash-trigrams"
    }
    fn dimensions(&self) -> usize {
        self.dim
    }
    fn max_input_tokens(&self) -> usize {
        512
    }
    async fn embed(&self, inputs: Vec<EmbedInput>) -> Result<Embeddings, EmbedError> {
        let mut vectors = Vec::with_capacity(inputs.len());
        let mut tokens = 0;
        for (index, i) in inputs.into_iter().enumerate() {
            match i {
                EmbedInput::Text(t) if t.is_empty() => return Err(EmbedError::Empty { index }),
                EmbedInput::Text(t) => {
                    tokens += t.split_whitespace().count();
                    vectors.push(self.vector(&t));
                }
                EmbedInput::Tokens(_) => {
                    return Err(EmbedError::Internal("token input unsupported".into()));
                }
            }
        }
        Ok(Embeddings {
            vectors,
            prompt_tokens: tokens,
        })
    }
}
