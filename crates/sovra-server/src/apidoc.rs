//! The OpenAPI 3.1 document of the whole HTTP surface, served at
//! `GET /openapi.json`.
//!
//! It is generated from the code: every route is registered through
//! [`crate::routes`] with utoipa-axum's `routes!`, which reads the handler's
//! `#[utoipa::path]` (method, path, parameters, bodies, status codes), and the
//! wire types derive `ToSchema`. A route cannot be served without being
//! documented, and a test keeps plain `.route(..)` calls out of the router.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::OpenApi;

/// Title, version and tags; the paths and schemas come from [`crate::routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sovra",
        description = "Sovra's HTTP API: OpenAI-compatible endpoints under `/v1`, the conversation API of the web chat under `/api`, health, readiness and metrics. Errors use OpenAI's shape: `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "openai", description = "OpenAI-compatible API"),
        (name = "knowledge", description = "Collections of official documents (OpenAI's vector stores), search, grounded chat"),
        (name = "conversations", description = "Server-side conversations (web chat, `sovra chat`)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
        (name = "web", description = "The web chat's and operator console's pages and assets, and the public parts of the country profile"),
        (name = "data", description = "The data subject's own rights: export and erasure"),
        (name = "transparency", description = "The published behaviour policy, the transparency report, citizens' ratings of answers"),
        (name = "sign-in", description = "Web sign-in: local accounts, single sign-on (OpenID Connect), the session cookie"),
        (name = "admin", description = "Operator API behind the operator key: usage, keys, feedback and moderation queues"),
    )
)]
pub struct ApiDoc;

/// The document as served, built once from the router's registrations.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(crate::routes().into_openapi()).unwrap_or_default();
        describe_event_streams(&mut doc);
        describe_authorization(&mut doc);
        doc
    })
}

/// Every guarded operation (see [`crate::identity::RULES`]) may answer 401
/// (no or a bad credential) and 403 (a role, scope or tenant that does not
/// allow it); the document says so once here rather than in every handler.
fn describe_authorization(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Ok(m) = method.to_uppercase().parse::<axum::http::Method>() else {
                continue;
            };
            if !matches!(
                crate::identity::rule_for(&m, path),
                Some(crate::identity::Rule::Guarded { .. })
            ) {
                continue;
            }
            let has_body = op.get("requestBody").is_some();
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if has_body {
                responses.entry("400").or_insert_with(|| {
                    serde_json::json!({
                        "description": "The body is not the JSON this operation takes (`error.param` names the field)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
                    })
                });
            }
            for (code, what) in [
                (
                    "401",
                    "No credential, or one that is unknown, revoked or expired (`error.code`: `invalid_api_key`); an open node (no key, no platform admin) needs none",
                ),
                (
                    "403",
                    "The caller's role, key scopes or tenant do not allow this (`error.code`: `permission_denied`)",
                ),
            ] {
                responses.entry(code).or_insert_with(|| {
                    serde_json::json!({
                        "description": what,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
                    })
                });
            }
        }
    }
}

/// In OpenAPI 3.1 the schema of a `text/event-stream` response describes one
/// event (`data`, `event`, `id`, `retry`), not the payload inside `data`.
/// Handlers name the payload type; here each becomes an event whose `data` is
/// that JSON (or, after a failure mid-stream, an error body) or `[DONE]`.
fn describe_event_streams(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(media) = response.pointer_mut("/content/text~1event-stream") else {
            continue;
        };
        let Some(payload) = media.get("schema").cloned() else {
            continue;
        };
        media["schema"] = json!({
            "type": "object",
            "description": "One server-sent event: `data` is a JSON payload, an error body when the generation failed after the first event (the stream then ends), or `[DONE]` at the end.",
            "required": ["data"],
            "properties": {
                "data": {"anyOf": [
                    {"const": "[DONE]"},
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"anyOf": [
                            payload,
                            {"$ref": "#/components/schemas/ErrorEnvelope"}
                        ]}
                    }
                ]},
                "event": {"type": "string"},
                "id": {"type": "string"},
                "retry": {"type": "integer", "minimum": 0}
            }
        });
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_of_one_name_are_separate_schemas() {
        // utoipa keys components by name: a second `Role` silently replaced
        // the first, and every chat chunk's `delta.role` broke its schema.
        let schemas = &document()["components"]["schemas"];
        let names = |s: &str| -> Vec<String> {
            schemas[s]["enum"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(
            names("Role").contains(&"assistant".to_owned()),
            "{}",
            schemas["Role"]
        );
        assert!(
            names("UserRole").contains(&"platform_admin".to_owned()),
            "{}",
            schemas["UserRole"]
        );
        // The same for the OpenAI `Usage` and the console's.
        assert!(
            schemas["Usage"]["properties"].get("total_tokens").is_some(),
            "{}",
            schemas["Usage"]
        );
        assert!(
            schemas["ConsoleUsage"]["properties"]
                .get("requests")
                .is_some(),
            "{}",
            schemas["ConsoleUsage"]
        );
    }

    #[test]
    fn document_is_openapi_3_1_and_lists_the_whole_surface() {
        let doc = document();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        for (path, methods) in [
            ("/v1/models", &["get"][..]),
            ("/v1/models/{id}", &["get"]),
            ("/v1/chat/completions", &["post"]),
            ("/v1/completions", &["post"]),
            ("/v1/embeddings", &["post"]),
            ("/api/conversations", &["get", "post"]),
            ("/api/conversations/{id}", &["get", "patch", "delete"]),
            ("/api/conversations/{id}/messages", &["post"]),
            ("/api/conversations/{id}/messages/{message_id}", &["delete"]),
            ("/api/messages/{id}/feedback", &["post"]),
            ("/v1/moderations", &["post"]),
            ("/policy", &["get"]),
            ("/transparency", &["get"]),
            ("/admin/moderation", &["get"]),
            ("/v1/vector_stores", &["get", "post"]),
            ("/v1/vector_stores/{id}", &["get", "delete"]),
            ("/v1/vector_stores/{id}/files", &["get", "post"]),
            ("/v1/files", &["get", "post"]),
            ("/v1/files/{file_id}", &["get", "delete"]),
            ("/v1/files/{file_id}/content", &["get"]),
            ("/api/profile", &["get"]),
            ("/admin/usage", &["get"]),
            ("/admin/keys", &["get", "post"]),
            ("/admin/keys/{id}", &["get", "delete"]),
            ("/admin/tenants", &["get", "post"]),
            ("/admin/tenants/{tenant}", &["get", "delete"]),
            ("/admin/users", &["get", "post"]),
            ("/admin/users/{id}", &["get", "patch", "delete"]),
            ("/admin/whoami", &["get"]),
            ("/admin/feedback", &["get"]),
            ("/console", &["get"]),
            ("/auth/login", &["post"]),
            ("/auth/logout", &["post"]),
            ("/auth/me", &["get"]),
            ("/auth/oidc/start", &["get"]),
            ("/auth/oidc/callback", &["get"]),
            ("/healthz", &["get"]),
            ("/readyz", &["get"]),
            ("/metrics", &["get"]),
            ("/openapi.json", &["get"]),
            ("/", &["get"]),
            ("/assets/{file}", &["get"]),
        ] {
            for method in methods {
                assert!(
                    doc["paths"][path][method].is_object(),
                    "{method} {path} is not documented"
                );
            }
        }
        let chat = &doc["paths"]["/v1/chat/completions"]["post"]["responses"];
        assert!(chat["200"]["content"]["application/json"].is_object());
        assert!(chat["200"]["content"]["text/event-stream"].is_object());
        for status in ["400", "404", "413", "500", "503"] {
            assert_eq!(
                chat[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorEnvelope",
                "{status}"
            );
        }
        let event = &chat["200"]["content"]["text/event-stream"]["schema"];
        assert_eq!(
            event["properties"]["data"]["anyOf"][1]["contentSchema"]["anyOf"][0]["$ref"],
            "#/components/schemas/ChatCompletionChunk"
        );
        let error = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(
            error["required"],
            serde_json::json!(["message", "type", "param", "code"])
        );
    }

    /// Routes are served only through `routes!`, so none can miss the
    /// document: a plain `.route(..)` would serve an undocumented path.
    /// Every `ToSchema` type of the crates the document draws on has a
    /// name of its own (its `#[schema(as = ...)]`, else its type name).
    #[test]
    fn no_two_schema_types_share_a_name() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut seen: std::collections::BTreeMap<String, String> = Default::default();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if !path.ends_with("target") && !path.ends_with("tests") {
                        stack.push(path);
                    }
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let lines: Vec<&str> = text.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    if !(line.contains("derive(") && line.contains("ToSchema")) {
                        continue;
                    }
                    let mut alias = None;
                    for next in lines.iter().skip(i + 1).take(12) {
                        let t = next.trim();
                        if let Some(rest) = t.strip_prefix("#[schema(as = ") {
                            alias = rest.split(')').next().map(str::to_owned);
                        }
                        let decl = t
                            .strip_prefix("pub struct ")
                            .or_else(|| t.strip_prefix("pub enum "));
                        if let Some(decl) = decl {
                            let ty: String = decl
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            let name = alias.take().unwrap_or(ty);
                            let at = format!("{}:{}", path.display(), i + 1);
                            if let Some(first) = seen.insert(name.clone(), at.clone()) {
                                panic!(
                                    "schema name `{name}` is used by {first} and {at}: give one `#[schema(as = OtherName)]`"
                                );
                            }
                            break;
                        }
                    }
                }
            }
        }
        assert!(seen.len() > 20, "found only {} schema types", seen.len());
    }

    #[test]
    fn the_router_registers_routes_only_through_routes_macro() {
        let source = include_str!("lib.rs");
        for call in [".route(", ".route_service(", ".nest(", ".merge("] {
            assert!(
                !source.contains(call),
                "lib.rs calls `{call}..)`: register the handler with `routes!` and `#[utoipa::path]` instead"
            );
        }
    }
}
