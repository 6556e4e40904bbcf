//! `POST /v1/embeddings`: OpenAI's embeddings endpoint over an [`Embedder`].
//!
//! The request is checked here (model, `input` shape, `encoding_format`,
//! `dimensions`, how many inputs), then handed to the embedder, which runs
//! the model off the async runtime and refuses over-long inputs or unknown
//! token ids; every refusal is a 400 naming the parameter. Vectors go back as
//! floats or, as the Python SDK asks by default, base64 of little-endian f32.

use std::sync::Arc;

use axum::extract::State;
use base64::Engine as _;
use sovra_core::ApiError;
use sovra_core::embeddings::{
    EmbeddingData, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
    EmbeddingVector, EncodingFormat,
};
use sovra_core::openai::Model;
use sovra_embeddings::{EmbedInput, Embedder};

use crate::extract::ApiJson;
use crate::{AppState, HttpError};

/// The embedding model a server offers, and its request limits.
#[derive(Clone)]
pub struct EmbeddingService {
    pub embedder: Arc<dyn Embedder>,
    /// Most inputs in one request.
    pub max_inputs: usize,
}

/// The embedding model as `/v1/models` lists it, when one is served.
pub fn model_object(state: &AppState) -> Option<Model> {
    state.embeddings.as_ref().map(|s| Model {
        id: s.embedder.model_id().to_owned(),
        object: "model".into(),
        created: 0,
        owned_by: "sovra".into(),
    })
}

fn encode(vector: Vec<f32>, format: EncodingFormat) -> EmbeddingVector {
    match format {
        EncodingFormat::Float => EmbeddingVector::Float(vector),
        EncodingFormat::Base64 => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

/// `POST /v1/embeddings`.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai",
    request_body = EmbeddingRequest,
    responses(
        (status = 200, description = "One vector per input, as floats or base64 (`encoding_format`)", body = EmbeddingResponse),
        (status = 400, description = "The request is invalid; `error.param` names the parameter", body = sovra_core::error::ErrorEnvelope),
        (status = 404, description = "The model (or resource) does not exist; `error.code` says which", body = sovra_core::error::ErrorEnvelope),
        (status = 413, description = "The body is larger than `limits.max_body_bytes`", body = sovra_core::error::ErrorEnvelope),
        (status = 429, description = "A rate limit or quota is spent (`quotas`); `retry-after` says when to retry, `error.type` is `requests` or `tokens`", body = sovra_core::error::ErrorEnvelope),
        (status = 500, description = "An unexpected failure inside Sovra", body = sovra_core::error::ErrorEnvelope),
        (status = 503, description = "No capacity now (queue full, model loading, shutting down); `Retry-After` says when to retry", body = sovra_core::error::ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    quota: crate::limits::Quota,
    crate::identity::Who(who): crate::identity::Who,
    ApiJson(req): ApiJson<EmbeddingRequest>,
) -> Result<axum::Json<EmbeddingResponse>, HttpError> {
    crate::identity::check_model(&who, &req.model)?;
    let Some(service) = state.embeddings.clone() else {
        return Err(refuse_model(&state, &req.model).into());
    };
    let embedder = &service.embedder;
    if req.model != embedder.model_id() {
        return Err(refuse_model(&state, &req.model).into());
    }
    let format = req.encoding()?;
    let native = embedder.dimensions();
    if let Some(d) = req.dimensions
        && usize::try_from(d).ok() != Some(native)
    {
        return Err(ApiError::invalid_param(
            "dimensions",
            format!(
                "Invalid 'dimensions': {d}. The model `{}` produces {native}-dimensional vectors and was not trained to be shortened; leave 'dimensions' out or set it to {native}.",
                embedder.model_id()
            ),
        )
        .into());
    }
    let inputs = req.inputs()?;
    if inputs.len() > service.max_inputs {
        return Err(ApiError::invalid_param(
            "input",
            format!(
                "Invalid 'input': {} inputs were sent; this server accepts at most {} per request.",
                inputs.len(),
                service.max_inputs
            ),
        )
        .into());
    }
    let inputs: Vec<EmbedInput> = inputs
        .into_iter()
        .map(|i| match i {
            EmbeddingInput::Text(t) => EmbedInput::Text(t),
            EmbeddingInput::Tokens(t) => EmbedInput::Tokens(t),
        })
        .collect();
    // Charged before the model runs at about four bytes a token (each input
    // at most the model's limit), then corrected to the real count.
    let estimate: usize = inputs
        .iter()
        .map(|i| match i {
            EmbedInput::Text(t) => t.len().div_ceil(4) + 2,
            EmbedInput::Tokens(t) => t.len(),
        })
        .map(|n| n.min(embedder.max_input_tokens()))
        .sum();
    let ticket = quota
        .admit_tokens(embedder.model_id(), estimate as u64)
        .await?;
    let out = embedder
        .embed(inputs)
        .await
        .map_err(|e| crate::error::embed_error(&e))?;
    ticket.settle(out.prompt_tokens as u64);
    let data = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| EmbeddingData {
            object: "embedding".into(),
            index,
            embedding: encode(v, format),
        })
        .collect();
    Ok(axum::Json(EmbeddingResponse {
        object: "list".into(),
        data,
        model: embedder.model_id().to_owned(),
        usage: EmbeddingUsage {
            prompt_tokens: out.prompt_tokens,
            total_tokens: out.prompt_tokens,
        },
    }))
}

/// A 404 for an unknown model; a 400 for the chat model, which makes no embeddings.
fn refuse_model(state: &AppState, model: &str) -> ApiError {
    if model == state.engine.model().id {
        let hint = match &state.embeddings {
            Some(s) => format!("use `{}`", s.embedder.model_id()),
            None => "embeddings are disabled on this server (see embeddings.enabled)".to_owned(),
        };
        return ApiError::invalid_param(
            "model",
            format!("The model `{model}` does not produce embeddings; {hint}."),
        );
    }
    ApiError::model_not_found(model)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use sovra_embeddings::EmbedError;

    #[test]
    fn base64_is_little_endian_f32() {
        let EmbeddingVector::Base64(s) = encode(vec![1.0, -2.5], EncodingFormat::Base64) else {
            panic!("not base64");
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default();
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, vec![1.0, -2.5]);
    }

    #[test]
    fn refusals_name_the_parameter() {
        let e = crate::error::embed_error(&EmbedError::TooLong {
            index: 2,
            tokens: 600,
            max: 512,
        });
        assert_eq!((e.status(), e.param.as_deref()), (400, Some("input")));
        assert!(
            e.message.contains("600") && e.message.contains("512"),
            "{}",
            e.message
        );
        assert_eq!(
            crate::error::embed_error(&EmbedError::Busy(4)).status(),
            503
        );
        assert_eq!(
            crate::error::embed_error(&EmbedError::Internal("x".into())).status(),
            500
        );
    }
}
