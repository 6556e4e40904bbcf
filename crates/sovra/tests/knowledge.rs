//! National knowledge on the real binary, over HTTP: the simulated chat
//! engine beside the real multilingual-e5-small (model cache or
//! `SOVRA_TEST_EMBEDDING_MODEL`). Ingest → ask → the answer cites the right
//! document; official-sources-only declines in the user's language; one
//! user never reaches another's collection; limits answer 400/413 in
//! OpenAI's shape; erasing a user takes their private collection; the CLI
//! ingests a folder idempotently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use sovra_testkit::Sovra;

const BIN: &str = env!("CARGO_BIN_EXE_sovra");

async fn serve(dir: &Path, env: &[(&str, &str)]) -> Sovra {
    let model = sovra_testkit::embedding_model_path()
        .to_string_lossy()
        .into_owned();
    let mut all = vec![
        ("SOVRA_EMBEDDINGS_ENABLED", "true"),
        ("SOVRA_EMBEDDINGS_MODEL", model.as_str()),
    ];
    all.extend_from_slice(env);
    Sovra::serve(Path::new(BIN), dir, &["--engine", "sim"], &all)
        .await
        .expect("sovra starts")
}

async fn call(
    s: &Sovra,
    method: reqwest::Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s
        .client
        .request(method, s.url(path))
        .header("x-sovra-user", user);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(s: &Sovra, path: &str, user: &str, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, user, Some(body)).await
}

async fn store(s: &Sovra, user: &str, name: &str, scope: &str) -> String {
    let (status, body) = post(
        s,
        "/v1/vector_stores",
        user,
        json!({"name": name, "sovra": {"scope": scope}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "vector_store");
    body["id"].as_str().unwrap().to_owned()
}

async fn upload(s: &Sovra, user: &str, store: &str, filename: &str, content: &str) -> Value {
    let (status, body) = post(
        s,
        &format!("/v1/vector_stores/{store}/files"),
        user,
        json!({"filename": filename, "content": content}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../eval/knowledge/corpus")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn grounded_chat_cites_the_right_document_and_declines_in_the_users_language() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]).await;
    let gov = store(&s, "operator", "national documents", "public").await;
    let passport = upload(
        &s,
        "operator",
        &gov,
        "passport.md",
        &corpus("en/passport-renewal.md"),
    )
    .await;
    let kindergeld = upload(
        &s,
        "operator",
        &gov,
        "kindergeld.md",
        &corpus("de/kindergeld.md"),
    )
    .await;
    upload(
        &s,
        "operator",
        &gov,
        "vitale.md",
        &corpus("fr/carte-vitale.md"),
    )
    .await;
    assert_eq!(passport["sovra"]["status"], "added");
    // The same bytes again: nothing to do.
    let again = upload(
        &s,
        "operator",
        &gov,
        "passport.md",
        &corpus("en/passport-renewal.md"),
    )
    .await;
    assert_eq!(
        (again["sovra"]["status"].as_str(), &again["id"]),
        (Some("unchanged"), &passport["id"])
    );

    // A French question about an English page.
    let ask = |q: &str, official: bool, stream: bool| {
        json!({"model": "sim", "stream": stream, "messages": [{"role": "user", "content": q}],
               "sovra": {"knowledge": {"collections": [gov], "official_sources_only": official}}})
    };
    let (status, body) = post(
        &s,
        "/v1/chat/completions",
        "citizen",
        ask(
            "Combien coûte le service accéléré pour recevoir un passeport en une semaine ?",
            true,
            false,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cites = body["citations"].as_array().unwrap();
    assert!(!cites.is_empty(), "{body}");
    assert_eq!(cites[0]["index"], 1);
    assert_eq!(cites[0]["document_id"], passport["id"], "{body}");
    assert_eq!(cites[0]["title"], "Renew your passport");
    assert_eq!(cites[0]["url"], "https://www.gov.example/passport/renew");
    assert_eq!(cites[0]["effective_date"], "2025-02-01");
    assert!(cites[0]["snippet"].as_str().unwrap().len() > 20);
    assert!(body["choices"][0]["message"]["content"].is_string());

    // Streamed: the citations come first, in a chunk without choices.
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .json(&ask(
            "Wie viel Kindergeld bekommt man pro Kind im Monat?",
            false,
            true,
        ))
        .send()
        .await
        .unwrap();
    let chunks = sovra_testkit::sse_chunks(r).await.unwrap();
    assert_eq!(chunks[0]["choices"], json!([]));
    assert_eq!(
        chunks[0]["citations"][0]["document_id"], kindergeld["id"],
        "{:?}",
        chunks[0]
    );
    assert_eq!(chunks[0]["citations"][0]["effective_date"], "2025-01-01");
    assert!(chunks.len() > 2);

    // Nothing official about apple pie: declined, in the asker's language, no model call.
    for (q, lang, needle) in [
        (
            "Quelle est la recette de la tarte aux pommes ?",
            "fr",
            "sources officielles",
        ),
        (
            "Wie backe ich einen Apfelkuchen mit Zimt?",
            "de",
            "offiziellen Quellen",
        ),
        (
            "What is the best recipe for apple pie with cinnamon?",
            "en",
            "official sources",
        ),
    ] {
        let (status, body) = post(&s, "/v1/chat/completions", "citizen", ask(q, true, false)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["sovra"]["declined"], true, "{q}: {body}");
        assert_eq!(body["sovra"]["language"], lang);
        assert!(
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}"
        );
        assert_eq!(body["citations"], json!([]));
    }
    // Without the extension, nothing changes.
    let (_, plain) = post(
        &s,
        "/v1/chat/completions",
        "citizen",
        json!({"model": "sim", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert!(plain.get("citations").is_none(), "{plain}");
    s.stop().await.unwrap();
}

#[tokio::test]
async fn users_never_reach_each_others_collections_and_limits_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        &[
            ("SOVRA_KNOWLEDGE_MAX_UPLOAD_BYTES", "4096"),
            ("SOVRA_KNOWLEDGE_MAX_QUERY_CHARS", "100"),
        ],
    )
    .await;
    let alice = store(&s, "alice", "my letters", "private").await;
    upload(
        &s,
        "alice",
        &alice,
        "letter.md",
        "# Tax\n\nMy tax office reference is AX-2231 and my refund is 412 euros.",
    )
    .await;
    // Bob cannot see, search, ground on or delete Alice's collection.
    let (status, _) = call(
        &s,
        reqwest::Method::GET,
        &format!("/v1/vector_stores/{alice}"),
        "bob",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = call(&s, reqwest::Method::GET, "/v1/vector_stores", "bob", None).await;
    assert_eq!(list["data"], json!([]));
    let (status, err) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/search"),
        "bob",
        json!({"query": "tax refund"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["type"].as_str()),
        (404, Some("invalid_request_error")),
        "{err}"
    );
    let (status, _) = post(&s, "/v1/chat/completions", "bob", json!({"model": "sim", "messages": [{"role": "user", "content": "What is my tax refund?"}], "sovra": {"knowledge": {"collections": [alice]}}})).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/vector_stores/{alice}"),
        "bob",
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Alice can.
    let (status, found) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/search"),
        "alice",
        json!({"query": "AX-2231", "max_num_results": 3}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["object"], "vector_store.search_results.page");
    assert!(
        found["data"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("AX-2231")
    );

    // A PDF, as base64.
    let pdf = sovra_knowledge::fixtures::pdf_bytes("Vehicle registration takes five working days.");
    let (status, body) = post(&s, &format!("/v1/vector_stores/{alice}/files"), "alice", json!({"filename": "reg.pdf", "content_base64": base64::engine::general_purpose::STANDARD.encode(pdf), "attributes": {"effective_date": "2024-01-01"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributes"]["effective_date"], "2024-01-01");

    // Limits, in OpenAI's error shape.
    let (status, err) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/files"),
        "alice",
        json!({"filename": "big.txt", "content": "x".repeat(5000)}),
    )
    .await;
    assert_eq!(status, 413, "{err}");
    assert_eq!(
        (
            err["error"]["param"].as_str(),
            err["error"]["code"].as_str()
        ),
        (Some("file"), Some("file_too_large"))
    );
    let (status, err) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/files"),
        "alice",
        json!({"filename": "big.txt", "content": "x".repeat(20000)}),
    )
    .await;
    assert_eq!(status, 413, "{err}");
    let (status, err) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/search"),
        "alice",
        json!({"query": "q".repeat(101)}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("query")),
        "{err}"
    );
    let (status, err) = post(
        &s,
        &format!("/v1/vector_stores/{alice}/files"),
        "alice",
        json!({"filename": "x.exe", "content": "x"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("file")),
        "{err}"
    );
    let (status, err) = post(
        &s,
        "/v1/vector_stores",
        "alice",
        json!({"name": "x", "sovra": {"scope": "everyone"}}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("sovra.scope")),
        "{err}"
    );

    // Erasing Alice takes her collection with it.
    let (status, report) = call(&s, reqwest::Method::DELETE, "/api/me/data", "alice", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["knowledge"]["collections"], 1, "{report}");
    assert_eq!(report["knowledge"]["documents"], 2, "{report}");
    let (_, list) = call(&s, reqwest::Method::GET, "/v1/vector_stores", "alice", None).await;
    assert_eq!(list["data"], json!([]));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn the_cli_ingests_a_folder_once_and_the_server_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = sovra_testkit::embedding_model_path()
        .to_string_lossy()
        .into_owned();
    let data = dir.path().to_string_lossy().into_owned();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("knowledge")
            .args(args)
            .args(["--data-dir", &data])
            .env("SOVRA_EMBEDDINGS_MODEL", &model)
            .env_remove("SOVRA_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let c = cli(&["create", "--name", "gov", "--scope", "public"]);
    let id = c["id"].as_str().unwrap().to_owned();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/knowledge/corpus/de");
    let folder = folder.to_string_lossy().into_owned();
    let first = cli(&["ingest", "--collection", &id, &folder]);
    assert_eq!(
        (first["added"].as_u64(), first["failed"].as_u64()),
        (Some(6), Some(0)),
        "{first}"
    );
    let second = cli(&["ingest", "--collection", &id, &folder]);
    assert_eq!(
        (
            second["unchanged"].as_u64(),
            second["chunks_embedded"].as_u64()
        ),
        (Some(6), Some(0)),
        "{second}"
    );
    let hits = cli(&[
        "search",
        "How much is the dog tax for a dangerous dog?",
        "--k",
        "3",
    ]);
    assert!(
        hits[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("hundesteuer.md"),
        "{hits}"
    );

    let s = serve(dir.path(), &[]).await;
    let (status, found) = post(
        &s,
        &format!("/v1/vector_stores/{id}/search"),
        "anyone",
        json!({"query": "Pflegegrad 3"}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert!(
        found["data"][0]["filename"]
            .as_str()
            .unwrap()
            .ends_with("pflegegeld.md"),
        "{found}"
    );
    s.stop().await.unwrap();
}
