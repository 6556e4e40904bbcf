//! OpenAI wire types for `POST /v1/embeddings`, and the checks on `input`.
//!
//! `input` may be a string, a list of strings, a list of token ids or a list
//! of lists of token ids. It is read as raw JSON and sorted out here, so a
//! wrong shape gets a 400 that names `input` and says what is accepted,
//! instead of serde's "did not match any variant".

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiError;

/// `POST /v1/embeddings` request body. Unknown fields are ignored, as OpenAI does.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EmbeddingRequest {
    #[schema(schema_with = input_schema)]
    pub input: serde_json::Value,
    pub model: String,
    #[serde(default)]
    #[schema(value_type = Option<EncodingFormat>)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    #[schema(minimum = 1)]
    pub dimensions: Option<i64>,
    #[serde(default)]
    pub user: Option<String>,
}

/// What `input` accepts, for the OpenAPI document (it is read as raw JSON).
fn input_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
    };
    let tokens = || {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .min_items(Some(1))
    };
    OneOfBuilder::new()
        .description(Some(
            "A string, an array of strings, an array of token ids, or an array of arrays of token ids; none empty.",
        ))
        .item(text())
        .item(ArrayBuilder::new().items(text()).min_items(Some(1)))
        .item(tokens())
        .item(ArrayBuilder::new().items(tokens()).min_items(Some(1)))
        .build()
        .into()
}

/// One input, sorted out of `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddingInput {
    Text(String),
    Tokens(Vec<i64>),
}

/// How vectors are sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    Float,
    /// Base64 of the little-endian f32 bytes (the Python SDK's default).
    Base64,
}

fn bad_input(message: &str) -> ApiError {
    ApiError::invalid_param("input", format!("Invalid 'input': {message}"))
}

fn token_list(items: &[serde_json::Value]) -> Option<Vec<i64>> {
    items.iter().map(serde_json::Value::as_i64).collect()
}

impl EmbeddingRequest {
    /// `input` as a list of inputs, or a 400 naming `input`.
    pub fn inputs(&self) -> Result<Vec<EmbeddingInput>, ApiError> {
        use serde_json::Value;
        const SHAPES: &str = "expected a string, an array of strings, an array of token ids (integers) or an array of arrays of token ids.";
        let empty_text = || bad_input("strings must not be empty.");
        match &self.input {
            Value::String(s) if s.is_empty() => Err(empty_text()),
            Value::String(s) => Ok(vec![EmbeddingInput::Text(s.clone())]),
            Value::Array(items) if items.is_empty() => {
                Err(bad_input("the array must not be empty."))
            }
            Value::Array(items) => match &items[0] {
                Value::String(_) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) if s.is_empty() => Err(empty_text()),
                        Value::String(s) => Ok(EmbeddingInput::Text(s.clone())),
                        _ => Err(bad_input(&format!(
                            "an array of strings must hold only strings; {SHAPES}"
                        ))),
                    })
                    .collect(),
                Value::Number(_) => token_list(items)
                    .map(|t| vec![EmbeddingInput::Tokens(t)])
                    .ok_or_else(|| {
                        bad_input(&format!(
                            "an array of token ids must hold only integers; {SHAPES}"
                        ))
                    }),
                Value::Array(_) => items
                    .iter()
                    .map(|v| match v {
                        Value::Array(inner) if inner.is_empty() => {
                            Err(bad_input("token id arrays must not be empty."))
                        }
                        Value::Array(inner) => token_list(inner)
                            .map(EmbeddingInput::Tokens)
                            .ok_or_else(|| {
                                bad_input(&format!(
                                    "token id arrays must hold only integers; {SHAPES}"
                                ))
                            }),
                        _ => Err(bad_input(&format!(
                            "an array of token id arrays must hold only arrays; {SHAPES}"
                        ))),
                    })
                    .collect(),
                _ => Err(bad_input(SHAPES)),
            },
            _ => Err(bad_input(SHAPES)),
        }
    }

    /// `encoding_format`, or a 400 naming it.
    pub fn encoding(&self) -> Result<EncodingFormat, ApiError> {
        match self.encoding_format.as_deref() {
            None | Some("float") => Ok(EncodingFormat::Float),
            Some("base64") => Ok(EncodingFormat::Base64),
            Some(other) => Err(ApiError::invalid_param(
                "encoding_format",
                format!(
                    "Invalid 'encoding_format': '{other}'. Expected one of 'float' or 'base64'."
                ),
            )),
        }
    }
}

/// `POST /v1/embeddings` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingResponse {
    pub object: String,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

/// One vector of an embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingData {
    pub object: String,
    pub index: usize,
    pub embedding: EmbeddingVector,
}

/// A vector as floats or as base64 (per `encoding_format`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

/// `usage` of an embeddings response (no completion tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingUsage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(input: serde_json::Value) -> EmbeddingRequest {
        EmbeddingRequest {
            input,
            model: "m".into(),
            encoding_format: None,
            dimensions: None,
            user: None,
        }
    }

    #[test]
    fn every_openai_input_shape_is_accepted() {
        use EmbeddingInput::{Text, Tokens};
        assert_eq!(req(json!("a")).inputs(), Ok(vec![Text("a".into())]));
        assert_eq!(
            req(json!(["a", "b"])).inputs(),
            Ok(vec![Text("a".into()), Text("b".into())])
        );
        assert_eq!(req(json!([1, 2])).inputs(), Ok(vec![Tokens(vec![1, 2])]));
        assert_eq!(
            req(json!([[1], [2, 3]])).inputs(),
            Ok(vec![Tokens(vec![1]), Tokens(vec![2, 3])])
        );
    }

    #[test]
    fn bad_input_shapes_name_input() {
        for bad in [
            json!(""),
            json!([]),
            json!(["a", ""]),
            json!(["a", 1]),
            json!([1, "a"]),
            json!([1.5]),
            json!([[1], []]),
            json!([[1], 2]),
            json!([[1, "x"]]),
            json!(3),
            json!(null),
            json!({"text": "a"}),
            json!([true]),
        ] {
            let err = req(bad.clone()).inputs().err();
            assert_eq!(
                err.as_ref().and_then(|e| e.param.as_deref()),
                Some("input"),
                "{bad}: {err:?}"
            );
            assert_eq!(err.map(|e| e.status()), Some(400));
        }
    }

    #[test]
    fn encoding_format_is_checked() {
        let mut r = req(json!("a"));
        assert_eq!(r.encoding(), Ok(EncodingFormat::Float));
        r.encoding_format = Some("base64".into());
        assert_eq!(r.encoding(), Ok(EncodingFormat::Base64));
        r.encoding_format = Some("int8".into());
        let err = r.encoding().err();
        assert_eq!(
            err.and_then(|e| e.param),
            Some("encoding_format".to_owned())
        );
    }

    #[test]
    fn response_is_openai_shaped() {
        let r = EmbeddingResponse {
            object: "list".into(),
            data: vec![EmbeddingData {
                object: "embedding".into(),
                index: 0,
                embedding: EmbeddingVector::Float(vec![0.5, -0.25]),
            }],
            model: "m".into(),
            usage: EmbeddingUsage {
                prompt_tokens: 3,
                total_tokens: 3,
            },
        };
        assert_eq!(
            serde_json::to_value(&r).ok(),
            Some(json!({
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                "model": "m",
                "usage": {"prompt_tokens": 3, "total_tokens": 3}
            }))
        );
    }
}
