//! Shared domain types for Sovra.
//!
//! This crate owns the vocabulary every other crate speaks: the OpenAI wire
//! types (requests, responses, stream chunks and error bodies) and the one
//! API error type the HTTP layer renders. It has no I/O and no async code, so
//! every crate can depend on it without pulling in a runtime.

pub mod credentials;
pub mod embeddings;
pub mod error;
pub mod ids;
pub mod openai;
pub mod sse;

pub use error::{ApiError, ErrorKind};
