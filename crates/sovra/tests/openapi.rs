//! `GET /openapi.json` against the real binary: every documented operation is
//! served by the router (none falls through to the unknown-route 404 or the
//! 405), and answers a trivial request with a status the document lists.
//! The other direction (every route is documented) holds by construction:
//! routes are registered only through `routes!` (see `sovra_server::apidoc`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use sovra_testkit::Sovra;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_a_documented_status() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sovra::serve(
        Path::new(BIN),
        dir.path(),
        &["--engine", "sim"],
        &[
            ("SOVRA_ENGINE_SIM_TTFT_MS", "0"),
            ("SOVRA_ENGINE_SIM_TOKENS_PER_SECOND", "0"),
        ],
    )
    .await
    .unwrap();
    let (status, doc) = s.get("/openapi.json").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "{:?}", paths.keys());
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "x").replace("{file}", "x");
        for (method, op) in ops.as_object().unwrap() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = s.client.request(method.clone(), s.url(&concrete));
            if op.get("requestBody").is_some() {
                req = req.json(&json!({}));
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert_ne!(
                body["error"]["code"], "unknown_url",
                "{method} {path} is documented but not routed"
            );
            assert!(
                op["responses"].get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which the document does not list: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 17, "{checked}");
    assert_eq!(s.stop().await.unwrap().code(), Some(0));
}
