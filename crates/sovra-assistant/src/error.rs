//! Why the pipeline could not answer. A surface renders each variant (the
//! server in its `HttpError`); the pipeline never builds a response.

use sovra_core::ApiError;
use sovra_engine::EngineError;
use sovra_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// The request is refused as it stands (invalid, not permitted, over
    /// its quota): shown to the client as it is.
    #[error(transparent)]
    Refused(#[from] ApiError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Knowledge(#[from] sovra_knowledge::Error),
    /// A safety check failed to run (never a pass: the request fails).
    #[error("the safety check failed: {0}")]
    Safety(String),
    /// The answer was produced but could not be kept.
    #[error("the answer could not be saved")]
    NotKept,
}
