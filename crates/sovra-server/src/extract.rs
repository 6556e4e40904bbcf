//! Request extractors whose rejections render as OpenAI errors (a 400
//! naming what was wrong, a 413 for a body over the limit).

use axum::extract::FromRequest;

use crate::HttpError;

/// JSON body extractor whose rejections render as OpenAI errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct ApiJson<T>(pub T);

/// Query-string extractor whose rejections render as OpenAI errors (400).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct ApiQuery<T>(pub T);
