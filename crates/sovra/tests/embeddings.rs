//! `POST /v1/embeddings` on the real binary: the simulated chat engine beside
//! the real embedding model (multilingual-e5-small, from the model cache or
//! `SOVRA_TEST_EMBEDDING_MODEL`), spoken to over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use sovra_testkit::Sovra;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");
const MODEL: &str = "multilingual-e5-small";

async fn with_embeddings(dir: &Path, env: &[(&str, &str)]) -> Sovra {
    let model = sovra_testkit::embedding_model_path();
    let model = model.to_string_lossy().into_owned();
    let mut all = vec![
        ("SOVRA_EMBEDDINGS_ENABLED", "true"),
        ("SOVRA_EMBEDDINGS_MODEL", model.as_str()),
        ("SOVRA_EMBEDDINGS_MODEL_NAME", MODEL),
    ];
    all.extend_from_slice(env);
    Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &all)
        .await
        .expect("sovra starts")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn float_and_base64_carry_the_same_normalised_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_embeddings(dir.path(), &[]).await;
    let input = json!([
        "Where can I renew my passport?",
        "Où renouveler mon passeport ?",
        "When are income taxes due?"
    ]);
    let (status, body) = s
        .post("/v1/embeddings", &json!({"model": MODEL, "input": input}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], MODEL);
    let usage = &body["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 10, "{usage}");
    assert_eq!(usage["prompt_tokens"], usage["total_tokens"]);
    assert_eq!(usage.as_object().unwrap().len(), 2, "{usage}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let mut vectors = Vec::new();
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["index"], i);
        let v = floats(&d["embedding"]);
        assert_eq!(v.len(), 384);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-3);
        vectors.push(v);
    }
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]));

    let (status, b64) = s
        .post(
            "/v1/embeddings",
            &json!({"model": MODEL, "input": input, "encoding_format": "base64", "dimensions": 384}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{b64}");
    for (i, d) in b64["data"].as_array().unwrap().iter().enumerate() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d["embedding"].as_str().unwrap())
            .unwrap();
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(v, vectors[i], "input {i}");
    }
    assert_eq!(b64["usage"], body["usage"]);

    // Listed beside the chat model.
    let (_, models) = s.get("/v1/models").await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["sim", MODEL]);
    let (status, model) = s.get(&format!("/v1/models/{MODEL}")).await.unwrap();
    assert_eq!((status, model["id"].as_str()), (200, Some(MODEL)));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn token_ids_and_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let s = with_embeddings(dir.path(), &[("SOVRA_EMBEDDINGS_MAX_INPUTS", "3")]).await;
    // Token ids (one list, and a list of lists) are embedded as sent.
    for input in [json!([0, 6661, 12, 2]), json!([[6661, 12], [35378]])] {
        let (status, body) = s
            .post("/v1/embeddings", &json!({"model": MODEL, "input": input}))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(floats(&body["data"][0]["embedding"]).len(), 384);
    }
    let long = "passport ".repeat(600);
    let cases = [
        (
            json!({"model": MODEL, "input": "x", "dimensions": 256}),
            400,
            "dimensions",
        ),
        (
            json!({"model": MODEL, "input": "x", "encoding_format": "int8"}),
            400,
            "encoding_format",
        ),
        (
            json!({"model": MODEL, "input": ["a", "b", "c", "d"]}),
            400,
            "input",
        ),
        (json!({"model": MODEL, "input": ["ok", long]}), 400, "input"),
        (
            json!({"model": MODEL, "input": [1, 999_999_999]}),
            400,
            "input",
        ),
        (json!({"model": MODEL, "input": [[1], [-4]]}), 400, "input"),
        (json!({"model": MODEL, "input": ""}), 400, "input"),
        (json!({"model": MODEL, "input": []}), 400, "input"),
        (json!({"model": MODEL, "input": [1, "a"]}), 400, "input"),
        (json!({"model": "sim", "input": "x"}), 400, "model"),
        (json!({"model": "nope", "input": "x"}), 404, "model"),
    ];
    for (body, status, param) in cases {
        let (got, err) = s.post("/v1/embeddings", &body).await.unwrap();
        assert_eq!(got, status, "{body} -> {err}");
        assert_eq!(err["error"]["param"], param, "{body} -> {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().len() > 10,
            "{err}"
        );
    }
    let (_, err) = s
        .post(
            "/v1/embeddings",
            &json!({"model": MODEL, "input": ["ok", long]}),
        )
        .await
        .unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("input 1") && message.contains("512"),
        "{message}"
    );
    let (status, err) = s
        .post("/v1/embeddings", &json!({"model": MODEL}))
        .await
        .unwrap();
    assert_eq!(status, 400, "{err}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn serve_runs_without_embeddings_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // The simulated engine leaves embeddings off unless asked.
    let s = Sovra::serve(Path::new(BIN), dir.path(), &["--engine", "sim"], &[])
        .await
        .unwrap();
    let (_, models) = s.get("/v1/models").await.unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 1, "{models}");
    let (status, err) = s
        .post("/v1/embeddings", &json!({"model": MODEL, "input": "x"}))
        .await
        .unwrap();
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "model_not_found");
    let (status, err) = s
        .post("/v1/embeddings", &json!({"model": "sim", "input": "x"}))
        .await
        .unwrap();
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("embeddings.enabled")
    );
    s.stop().await.unwrap();
}
