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
/// The operator's key: "operator" in these tests (a platform admin, who
/// writes the public collections); everyone else is a member of `public`
/// with a key of their own.
const OPERATOR: &str = "sk-sovra-knowledge-test-operator-0123456789";

async fn serve(dir: &Path, env: &[(&str, &str)]) -> Sovra {
    let model = sovra_testkit::embedding_model_path()
        .to_string_lossy()
        .into_owned();
    let keys = format!("[\"{OPERATOR}\"]");
    let mut all = vec![
        ("SOVRA_EMBEDDINGS_ENABLED", "true"),
        ("SOVRA_EMBEDDINGS_MODEL", model.as_str()),
        ("SOVRA_AUTH_API_KEYS", keys.as_str()),
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
    let mut r = s.with_key(method, path, &key_of(s, user).await);
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

/// The key `user` calls with.
async fn key_of(s: &Sovra, user: &str) -> String {
    if user == "operator" {
        OPERATOR.to_owned()
    } else {
        s.member_key(OPERATOR, user).await
    }
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

/// `sovra knowledge ARGS --data-dir DATA` with the e5 model and `env`; its
/// JSON output, after asserting it succeeded.
fn knowledge_cli(data: &Path, model: &str, env: &[(&str, &str)], args: &[&str]) -> Value {
    let out = std::process::Command::new(BIN)
        .arg("knowledge")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("SOVRA_EMBEDDINGS_MODEL", model)
        .envs(env.iter().copied())
        .env_remove("SOVRA_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()
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
        .with_key(
            reqwest::Method::POST,
            "/v1/chat/completions",
            &key_of(&s, "citizen").await,
        )
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
    let cli = |args: &[&str]| knowledge_cli(dir.path(), &model, &[], args);
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

/// The web chat's text of a streamed answer.
fn chunk_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

async fn web_send(s: &Sovra, user: &str, conversation: &str, text: &str) -> Vec<Value> {
    let r = s
        .with_key(
            reqwest::Method::POST,
            &format!("/api/conversations/{conversation}/messages"),
            &key_of(s, user).await,
        )
        .json(&json!({"content": text, "language": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sovra_testkit::sse_chunks(r).await.unwrap()
}

#[tokio::test]
async fn the_web_chat_is_grounded_and_keeps_its_citations() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        &[
            ("SOVRA_KNOWLEDGE_GROUND_BY_DEFAULT", "true"),
            ("SOVRA_KNOWLEDGE_OFFICIAL_SOURCES_ONLY", "true"),
        ],
    )
    .await;
    let gov = store(&s, "operator", "national documents", "public").await;
    let passport = upload(
        &s,
        "operator",
        &gov,
        "passport.md",
        &corpus("en/passport-renewal.md"),
    )
    .await;
    upload(
        &s,
        "operator",
        &gov,
        "kindergeld.md",
        &corpus("de/kindergeld.md"),
    )
    .await;
    // Someone's private upload is never cited to another person.
    let mine = store(&s, "someone-else", "my notes", "private").await;
    upload(
        &s,
        "someone-else",
        &mine,
        "passport-notes.md",
        "# My passport notes\n\nThe express passport service costs a fortune, I paid at the counter.",
    )
    .await;

    let (status, conv) = post(&s, "/api/conversations", "citizen", json!({})).await;
    assert_eq!(status, 201, "{conv}");
    let id = conv["id"].as_str().unwrap().to_owned();
    // A French question about an English page, through the web chat.
    let chunks = web_send(
        &s,
        "citizen",
        &id,
        "Combien coûte le service accéléré pour recevoir un passeport en une semaine ?",
    )
    .await;
    assert_eq!(chunks[0]["choices"], json!([]), "{:?}", chunks[0]);
    let cites = chunks[0]["citations"].as_array().unwrap();
    assert!(!cites.is_empty(), "{:?}", chunks[0]);
    assert_eq!(cites[0]["document_id"], passport["id"], "{cites:?}");
    assert_eq!(cites[0]["title"], "Renew your passport");
    assert_eq!(cites[0]["url"], "https://www.gov.example/passport/renew");
    assert!(
        cites.iter().all(|c| c["title"] != "My passport notes"),
        "another person's private document was cited: {cites:?}"
    );
    assert!(!chunk_text(&chunks).is_empty());

    // Stored with the answer: a reload (GET) shows the same citations.
    let (status, got) = call(
        &s,
        reqwest::Method::GET,
        &format!("/api/conversations/{id}"),
        "citizen",
        None,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    let messages = got["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{got}");
    assert!(messages[0].get("citations").is_none(), "{got}");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["citations"], chunks[0]["citations"], "{got}");

    // Nothing official about apple pie: declined in German, without the model.
    let chunks = web_send(
        &s,
        "citizen",
        &id,
        "Wie backe ich einen Apfelkuchen mit Zimt und Sahne?",
    )
    .await;
    assert_eq!(chunks[0]["sovra"]["declined"], true, "{:?}", chunks[0]);
    assert_eq!(chunks[0]["sovra"]["language"], "de");
    assert_eq!(chunks[0]["citations"], json!([]));
    let text = chunk_text(&chunks);
    assert!(text.contains("offiziellen Quellen"), "{text}");
    let (_, got) = call(
        &s,
        reqwest::Method::GET,
        &format!("/api/conversations/{id}"),
        "citizen",
        None,
    )
    .await;
    let last = &got["messages"][3];
    assert_eq!(last["content"], text.as_str(), "{got}");
    assert!(last.get("citations").is_none(), "{got}");
    // The export carries the citations too.
    let (_, export) = call(&s, reqwest::Method::GET, "/api/me/data", "citizen", None).await;
    assert_eq!(
        export["conversations"][0]["messages"][1]["citations"][0]["document_id"], passport["id"],
        "{export}"
    );
    s.stop().await.unwrap();
}

/// A `multipart/form-data` body with a file part and a purpose, as OpenAI's SDKs send it.
fn multipart(filename: &str, content: &[u8], purpose: Option<&str>) -> (String, Vec<u8>) {
    let boundary = "sovra-test-boundary-1234567890";
    let mut body = Vec::new();
    if let Some(p) = purpose {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{p}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_file(
    s: &Sovra,
    user: &str,
    filename: &str,
    content: &[u8],
    purpose: Option<&str>,
) -> (u16, Value) {
    let (ct, body) = multipart(filename, content, purpose);
    let r = s
        .with_key(reqwest::Method::POST, "/v1/files", &key_of(s, user).await)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Whether any file under `dir` holds `needle`.
fn dir_holds(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(p.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn files_are_uploaded_attached_by_id_owned_and_erased() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[("SOVRA_KNOWLEDGE_MAX_UPLOAD_BYTES", "65536")]).await;
    let passport = corpus("en/passport-renewal.md");
    let (status, file) = upload_file(
        &s,
        "dana",
        "passport.md",
        passport.as_bytes(),
        Some("assistants"),
    )
    .await;
    assert_eq!(status, 200, "{file}");
    let id = file["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file-"), "{file}");
    assert_eq!(file["object"], "file");
    assert_eq!(file["filename"], "passport.md");
    assert_eq!(file["purpose"], "assistants");
    assert_eq!(file["bytes"], passport.len());
    assert_eq!(file["status"], "processed");

    // The owner sees it; someone else gets 404 everywhere.
    let (_, list) = call(&s, reqwest::Method::GET, "/v1/files", "dana", None).await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], id.as_str(), "{list}");
    let (_, other) = call(&s, reqwest::Method::GET, "/v1/files", "eve", None).await;
    assert_eq!(other["data"], json!([]), "{other}");
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/files/{id}")),
        (reqwest::Method::GET, format!("/v1/files/{id}/content")),
        (reqwest::Method::DELETE, format!("/v1/files/{id}")),
    ] {
        let (status, body) = call(&s, method, &path, "eve", None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
    }
    let r = s
        .with_key(
            reqwest::Method::GET,
            &format!("/v1/files/{id}/content"),
            &key_of(&s, "dana").await,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), passport.as_bytes());

    // Attached by id, as the SDKs do: the vector store file has the file's id.
    let vs = store(&s, "dana", "mine", "private").await;
    let (status, attached) = post(
        &s,
        &format!("/v1/vector_stores/{vs}/files"),
        "dana",
        json!({"file_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["id"], id.as_str());
    assert_eq!(attached["object"], "vector_store.file");
    assert_eq!(attached["vector_store_id"], vs.as_str());
    assert_eq!(attached["sovra"]["status"], "added");
    let (_, found) = post(
        &s,
        &format!("/v1/vector_stores/{vs}/search"),
        "dana",
        json!({"query": "express passport service fee"}),
    )
    .await;
    assert_eq!(found["data"][0]["file_id"], id.as_str(), "{found}");
    // Eve cannot attach Dana's file to a store of her own.
    let eves = store(&s, "eve", "eve's", "private").await;
    let (status, body) = post(
        &s,
        &format!("/v1/vector_stores/{eves}/files"),
        "eve",
        json!({"file_id": id}),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // Errors in OpenAI's shape.
    let (status, body) = upload_file(&s, "dana", "a.md", b"# a", None).await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("purpose")),
        "{body}"
    );
    let (status, body) = upload_file(&s, "dana", "a.md", b"# a", Some("nonsense")).await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("purpose")),
        "{body}"
    );
    let big = vec![b'a'; 70_000];
    let (status, body) = upload_file(&s, "dana", "big.txt", &big, Some("assistants")).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large", "{body}");
    let r = s
        .with_key(
            reqwest::Method::POST,
            "/v1/files",
            &key_of(&s, "dana").await,
        )
        .json(&json!({"purpose": "assistants"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, odd) = upload_file(&s, "dana", "sheet.xyz", b"a,b", Some("assistants")).await;
    assert_eq!(status, 200, "{odd}");
    let (status, body) = post(
        &s,
        &format!("/v1/vector_stores/{vs}/files"),
        "dana",
        json!({"file_id": odd["id"]}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("file")),
        "{body}"
    );

    // Delete one file; erasing Dana takes the rest, bytes included.
    let (status, body) = call(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/files/{}", odd["id"].as_str().unwrap()),
        "dana",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], true);
    let marker = b"ZEBRA-MARKER-7731 my private tax note";
    let (status, secret) = upload_file(&s, "dana", "note.txt", marker, Some("user_data")).await;
    assert_eq!(status, 200, "{secret}");
    // Sealed with Dana's key: the bytes are nowhere in the data dir
    // (issue 21, finding 8), neither as an upload nor, once attached to her
    // private collection, as its text; her search still finds it.
    assert_eq!(
        dir_holds(dir.path(), marker),
        Vec::<String>::new(),
        "an upload is sealed at rest"
    );
    let r = s
        .with_key(
            reqwest::Method::GET,
            &format!("/v1/files/{}/content", secret["id"].as_str().unwrap()),
            &key_of(&s, "dana").await,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), marker.as_slice());
    let (status, attached) = post(
        &s,
        &format!("/v1/vector_stores/{vs}/files"),
        "dana",
        json!({"file_id": secret["id"]}),
    )
    .await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(
        dir_holds(dir.path(), b"ZEBRA-MARKER-7731"),
        Vec::<String>::new(),
        "a private collection's text is sealed at rest"
    );
    let (_, found) = post(
        &s,
        &format!("/v1/vector_stores/{vs}/search"),
        "dana",
        json!({"query": "ZEBRA-MARKER-7731 private tax note"}),
    )
    .await;
    assert_eq!(found["data"][0]["file_id"], secret["id"], "{found}");
    let (status, erased) = call(&s, reqwest::Method::DELETE, "/api/me/data", "dana", None).await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["knowledge"]["files"], 2, "{erased}");
    let (status, _) = call(
        &s,
        reqwest::Method::GET,
        &format!("/v1/files/{id}"),
        "dana",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = call(&s, reqwest::Method::GET, "/v1/files", "dana", None).await;
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        dir_holds(dir.path(), marker),
        Vec::<String>::new(),
        "erased bytes are gone from the data dir"
    );
    s.stop().await.unwrap();
}

/// `GET /v1/files` with OpenAI's list parameters: `limit` pages, `after`
/// (the previous page's `last_id`) continues, `order` and `purpose` apply,
/// `has_more` / `first_id` / `last_id` as OpenAI's list; a bad value is a
/// 400 naming its parameter.
#[tokio::test]
async fn files_list_pages_with_openai_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let purpose = if i == 2 { "user_data" } else { "assistants" };
        let (status, f) =
            upload_file(&s, "fay", &format!("f{i}.txt"), b"some text", Some(purpose)).await;
        assert_eq!(status, 200, "{f}");
        ids.push(f["id"].as_str().unwrap().to_owned());
    }
    let (_, other) = upload_file(&s, "gus", "g.txt", b"x", Some("assistants")).await;
    let list = |query: String| {
        let s = &s;
        async move {
            call(
                s,
                reqwest::Method::GET,
                &format!("/v1/files{query}"),
                "fay",
                None,
            )
            .await
        }
    };
    let ids_of = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = list(String::new()).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["has_more"], false);
    let desc = ids_of(&all);
    assert_eq!(desc.len(), 5);
    assert_eq!(all["first_id"], desc[0].as_str());
    assert_eq!(all["last_id"], desc[4].as_str());
    let (_, asc) = list("?order=asc".into()).await;
    let asc = ids_of(&asc);
    assert_eq!(asc.iter().rev().cloned().collect::<Vec<_>>(), desc);
    for (order, want) in [("asc", &asc), ("desc", &desc)] {
        let (mut got, mut after) = (Vec::new(), String::new());
        loop {
            let (status, page) = list(format!("?limit=2&order={order}{after}")).await;
            assert_eq!(status, 200, "{page}");
            let page_ids = ids_of(&page);
            assert!(page_ids.len() <= 2, "{page}");
            assert_eq!(page["first_id"], page_ids[0].as_str(), "{page}");
            assert_eq!(page["last_id"], page_ids[page_ids.len() - 1].as_str());
            got.extend(page_ids);
            if page["has_more"] == false {
                break;
            }
            after = format!("&after={}", page["last_id"].as_str().unwrap());
        }
        assert_eq!(&got, want, "{order}");
    }
    let (_, only) = list("?purpose=user_data".into()).await;
    assert_eq!(ids_of(&only), [ids[2].clone()], "{only}");
    let (_, none) = list(format!("?after={}", desc[4])).await;
    assert_eq!(none["data"], json!([]), "{none}");
    assert_eq!(none["has_more"], false);
    assert_eq!(none["first_id"], Value::Null);
    for (query, param) in [
        ("?limit=0".to_owned(), "limit"),
        ("?limit=10001".to_owned(), "limit"),
        ("?limit=two".to_owned(), "limit"),
        ("?order=newest".to_owned(), "order"),
        ("?purpose=nonsense".to_owned(), "purpose"),
        ("?after=file-nope".to_owned(), "after"),
        // Someone else's file is no cursor either.
        (format!("?after={}", other["id"].as_str().unwrap()), "after"),
    ] {
        let (status, body) = list(query.clone()).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["param"], param, "{query}: {body}");
    }
    s.stop().await.unwrap();
}

/// On PostgreSQL (`storage.url`), the CLI and two `sovra serve` replicas
/// with their own data dirs share one knowledge base: what the CLI ingests
/// both find, a private collection made on one is searched and grounded on
/// the other, and an erasure on the other leaves it nowhere.
#[tokio::test]
async fn replicas_on_postgresql_share_the_knowledge_base() {
    let db = sovra_store::testdb::TestDb::create()
        .await
        .expect("a fresh PostgreSQL database");
    let key = "4f1c7a0d9e2b3c8a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
    let env = [
        ("SOVRA_STORAGE_URL", db.url.as_str()),
        ("SOVRA_STORAGE_MASTER_KEY", "env:TEST_MASTER_KEY"),
        ("TEST_MASTER_KEY", key),
    ];
    let model = sovra_testkit::embedding_model_path()
        .to_string_lossy()
        .into_owned();
    let (cli_dir, dir_a, dir_b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let cli = |args: &[&str]| knowledge_cli(cli_dir.path(), &model, &env, args);
    let gov = cli(&["create", "--name", "gov", "--scope", "public"]);
    let gov = gov["id"].as_str().unwrap().to_owned();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/knowledge/corpus/de");
    let added = cli(&["ingest", "--collection", &gov, &folder.to_string_lossy()]);
    assert_eq!(added["added"].as_u64(), Some(6), "{added}");
    // Nothing of the knowledge base is in the CLI's data dir but its vector cache.
    assert!(!cli_dir.path().join("knowledge.db").exists());

    let a = serve(dir_a.path(), &env).await;
    let b = serve(dir_b.path(), &env).await;
    // The replicas share the directory: a member made on one is known to both.
    b.adopt_key("anyone", &key_of(&a, "anyone").await);
    for s in [&a, &b] {
        let (status, found) = post(
            s,
            &format!("/v1/vector_stores/{gov}/search"),
            "anyone",
            json!({"query": "Combien coûte la taxe pour un chien dangereux ?"}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        assert!(
            found["data"][0]["filename"]
                .as_str()
                .unwrap()
                .ends_with("hundesteuer.md"),
            "{found}"
        );
    }

    // Alice's private collection, made on a, is hers on b too (her key is
    // in the directory both share).
    let mine = store(&a, "alice", "mine", "private").await;
    b.adopt_key("alice", &key_of(&a, "alice").await);
    upload(
        &a,
        "alice",
        &mine,
        "letter.md",
        "# Permit\n\nMy yak grazing permit number is YK-5521.",
    )
    .await;
    let (status, found) = post(
        &b,
        &format!("/v1/vector_stores/{mine}/search"),
        "alice",
        json!({"query": "YK-5521"}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert!(
        found["data"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("YK-5521"),
        "{found}"
    );
    let (status, _) = call(
        &b,
        reqwest::Method::GET,
        &format!("/v1/vector_stores/{mine}"),
        "bob",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Erased through b: gone on a, and from the database.
    let (status, report) = call(&b, reqwest::Method::DELETE, "/api/me/data", "alice", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["knowledge"]["collections"], 1, "{report}");
    let (status, _) = call(
        &a,
        reqwest::Method::GET,
        &format!("/v1/vector_stores/{mine}"),
        "alice",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM knowledge_chunks WHERE text LIKE '%YK-5521%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
