//! Structured output and function calling on the chat API.
//!
//! This module turns OpenAI's `response_format`, `tools`, `tool_choice` and
//! `parallel_tool_calls` into an engine [`Constraint`] (checked the way
//! OpenAI checks them, with errors that name the parameter), shows the
//! tools to the model in the system prompt, and parses the model's
//! `<tool_call>` blocks back into OpenAI `tool_calls` — incrementally, so a
//! streamed answer carries tool-call deltas the SDKs assemble.

use serde_json::{Value, json};
use sovra_core::ApiError;
use sovra_core::ids::new_id;
use sovra_core::openai::{ChatCompletionRequest, FunctionCall, ResponseFormat, Role, ToolCall};
use sovra_engine::{Constraint, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolSpec, Turn};

/// Most tools one request may declare (OpenAI's limit).
const MAX_TOOLS: usize = 128;

/// What a chat request asks of the output's shape, once checked.
#[derive(Debug, Clone, Default)]
pub struct OutputPlan {
    pub constraint: Option<Constraint>,
    /// Tools to show the model, as OpenAI `tools` entries.
    pub tools: Vec<Value>,
    /// Parse `<tool_call>` blocks out of the answer.
    pub parse_tool_calls: bool,
    /// A named function was forced: OpenAI then ends with `stop`, not `tool_calls`.
    pub forced_function: bool,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn invalid_value(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_param(param, message).with_code("invalid_value")
}

/// Check `response_format`, `tools`, `tool_choice` and `parallel_tool_calls`.
pub fn plan(req: &ChatCompletionRequest) -> Result<OutputPlan, ApiError> {
    let format = match &req.response_format {
        Some(format) => response_format(format, req)?,
        None => None,
    };
    let Some(tools) = &req.tools else {
        if req.tool_choice.is_some() {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            ));
        }
        if req.parallel_tool_calls.is_some() {
            return Err(ApiError::invalid_param(
                "parallel_tool_calls",
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.",
            ));
        }
        return Ok(OutputPlan {
            constraint: format,
            ..OutputPlan::default()
        });
    };
    if tools.len() > MAX_TOOLS {
        return Err(ApiError::invalid_param(
            "tools",
            format!(
                "Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, but got an array with length {} instead.",
                tools.len()
            ),
        )
        .with_code("array_above_max_length"));
    }
    let specs = tools
        .iter()
        .enumerate()
        .map(|(i, t)| tool_spec(i, t))
        .collect::<Result<Vec<_>, _>>()?;
    if tools.is_empty() {
        return Err(ApiError::invalid_param(
            "tools",
            "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        )
        .with_code("empty_array"));
    }
    let parallel = req.parallel_tool_calls.unwrap_or(true);
    let (chosen, required, forced) = match &req.tool_choice {
        None => (specs, false, false),
        Some(Value::String(mode)) => match mode.as_str() {
            "none" => {
                return Ok(OutputPlan {
                    constraint: format,
                    ..OutputPlan::default()
                });
            }
            "auto" => (specs, false, false),
            "required" => (specs, true, false),
            other => {
                return Err(invalid_value(
                    "tool_choice",
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'none', 'auto', and 'required'."
                    ),
                ));
            }
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .filter(|_| choice.get("type").and_then(Value::as_str) == Some("function"));
            let Some(name) = name else {
                return Err(invalid_value(
                    "tool_choice",
                    "Invalid 'tool_choice': expected 'none', 'auto', 'required', or {\"type\": \"function\", \"function\": {\"name\": \"...\"}}.",
                ));
            };
            let Some(spec) = specs.into_iter().find(|s| s.name == name) else {
                return Err(invalid_value(
                    "tool_choice",
                    format!(
                        "Invalid value for 'tool_choice': function '{name}' is not one of the 'tools'."
                    ),
                ));
            };
            (vec![spec], true, true)
        }
    };
    if format.is_some() {
        return Err(ApiError::invalid_param(
            "response_format",
            "A structured 'response_format' together with callable 'tools' is not supported by this server; send one of them, or tool_choice 'none'.",
        )
        .with_code("unsupported_parameter"));
    }
    Ok(OutputPlan {
        constraint: Some(Constraint::ToolCalls {
            tools: chosen,
            required,
            parallel: parallel && !forced,
        }),
        tools: tools.clone(),
        parse_tool_calls: true,
        forced_function: forced,
    })
}

fn tool_spec(i: usize, tool: &Value) -> Result<ToolSpec, ApiError> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return Err(invalid_value(
            &format!("tools[{i}].type"),
            format!("Invalid value for 'tools[{i}].type': only 'function' tools are supported."),
        ));
    }
    let Some(function) = tool.get("function").filter(|f| f.is_object()) else {
        return Err(ApiError::invalid_param(
            &format!("tools[{i}].function"),
            format!("Missing required parameter: 'tools[{i}].function'."),
        ));
    };
    let Some(name) = function.get("name").and_then(Value::as_str) else {
        return Err(ApiError::invalid_param(
            &format!("tools[{i}].function.name"),
            format!("Missing required parameter: 'tools[{i}].function.name'."),
        ));
    };
    if !valid_name(name) {
        return Err(invalid_value(
            &format!("tools[{i}].function.name"),
            format!(
                "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters."
            ),
        ));
    }
    let parameters = match function.get("parameters") {
        None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => {
            return Err(ApiError::invalid_param(
                &format!("tools[{i}].function.parameters"),
                format!("Invalid 'tools[{i}].function.parameters': expected a JSON Schema object."),
            ));
        }
    };
    if function.get("strict").and_then(Value::as_bool) == Some(true) {
        check_strict(&parameters, &format!("tools[{i}].function.parameters"))?;
    }
    Ok(ToolSpec {
        name: name.to_owned(),
        parameters,
    })
}

fn response_format(
    format: &ResponseFormat,
    req: &ChatCompletionRequest,
) -> Result<Option<Constraint>, ApiError> {
    match format.kind.as_str() {
        "text" => Ok(None),
        "json_object" => {
            // OpenAI's rule: the prompt must ask for JSON, or a model may
            // emit whitespace until it runs out of tokens.
            let mentions_json = req.messages.iter().any(|m| {
                m.content
                    .as_ref()
                    .and_then(|c| c.text().ok())
                    .is_some_and(|t| t.to_lowercase().contains("json"))
            });
            if !mentions_json {
                return Err(ApiError::invalid_param(
                    "messages",
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                ));
            }
            Ok(Some(Constraint::JsonObject))
        }
        "json_schema" => {
            let Some(spec) = format.json_schema.as_ref().filter(|s| s.is_object()) else {
                return Err(ApiError::invalid_param(
                    "response_format.json_schema",
                    "Missing required parameter: 'response_format.json_schema'.",
                )
                .with_code("missing_required_parameter"));
            };
            let Some(name) = spec.get("name").and_then(Value::as_str) else {
                return Err(ApiError::invalid_param(
                    "response_format.json_schema.name",
                    "Missing required parameter: 'response_format.json_schema.name'.",
                )
                .with_code("missing_required_parameter"));
            };
            if !valid_name(name) {
                return Err(invalid_value(
                    "response_format.json_schema.name",
                    "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters.",
                ));
            }
            let schema = match spec.get("schema") {
                None | Some(Value::Null) => json!({}),
                Some(s) if s.is_object() => s.clone(),
                Some(_) => {
                    return Err(ApiError::invalid_param(
                        "response_format.json_schema.schema",
                        "Invalid 'response_format.json_schema.schema': expected a JSON Schema object.",
                    ));
                }
            };
            if spec.get("strict").and_then(Value::as_bool) == Some(true) {
                check_strict(&schema, &format!("response_format '{name}'"))?;
            }
            Ok(Some(Constraint::JsonSchema(schema)))
        }
        other => Err(invalid_value(
            "response_format.type",
            format!(
                "Invalid value: '{other}'. Supported values are: 'text', 'json_object', and 'json_schema'."
            ),
        )),
    }
}

/// OpenAI's rules for `strict: true` schemas: every object lists all its
/// properties as required and forbids others. (Sovra could enforce looser
/// schemas, but a schema OpenAI refuses in strict mode should fail here too,
/// so code written against Sovra keeps working elsewhere.)
fn check_strict(schema: &Value, what: &str) -> Result<(), ApiError> {
    fn walk(node: &Value, path: &mut Vec<String>, what: &str) -> Result<(), ApiError> {
        let Some(obj) = node.as_object() else {
            return Ok(());
        };
        let context = || {
            let parts: Vec<String> = path.iter().map(|p| format!("'{p}'")).collect();
            format!("({})", parts.join(", "))
        };
        let is_object = obj.get("type").and_then(Value::as_str) == Some("object")
            || obj.contains_key("properties");
        if is_object {
            if obj.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Err(ApiError::invalid_param(
                    "response_format",
                    format!(
                        "Invalid schema for {what}: In context={}, 'additionalProperties' is required to be supplied and to be false.",
                        context()
                    ),
                )
                .with_code("invalid_json_schema"));
            }
            let required: Vec<&str> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = obj.get("properties").and_then(Value::as_object)
                && let Some(missing) = props.keys().find(|k| !required.contains(&k.as_str()))
            {
                return Err(ApiError::invalid_param(
                    "response_format",
                    format!(
                        "Invalid schema for {what}: In context={}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'.",
                        context()
                    ),
                )
                .with_code("invalid_json_schema"));
            }
        }
        for (key, child) in obj {
            match (key.as_str(), child) {
                ("properties" | "$defs" | "definitions", Value::Object(map)) => {
                    for (name, sub) in map {
                        path.push(key.clone());
                        path.push(name.clone());
                        walk(sub, path, what)?;
                        path.truncate(path.len() - 2);
                    }
                }
                ("items", sub) => {
                    path.push(key.clone());
                    walk(sub, path, what)?;
                    path.pop();
                }
                ("anyOf" | "allOf" | "oneOf", Value::Array(list)) => {
                    for (i, sub) in list.iter().enumerate() {
                        path.push(key.clone());
                        path.push(i.to_string());
                        walk(sub, path, what)?;
                        path.truncate(path.len() - 2);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    walk(schema, &mut Vec::new(), what)
}

/// Show the tools to the model: the Hermes-style system prompt most open
/// chat models are trained on, appended to the first system (or developer)
/// message, or as a new first system message.
pub fn show_tools(turns: &mut Vec<Turn>, tools: &[Value]) {
    if tools.is_empty() {
        return;
    }
    let mut text = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for tool in tools {
        text.push('\n');
        text.push_str(&tool.to_string());
    }
    text.push_str(&format!(
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within {TOOL_CALL_OPEN}{TOOL_CALL_CLOSE} XML tags:\n{TOOL_CALL_OPEN}\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n{TOOL_CALL_CLOSE}"
    ));
    match turns.first_mut() {
        Some(first) if matches!(first.role, Role::System | Role::Developer) => {
            first.content.push_str("\n\n");
            first.content.push_str(&text);
        }
        _ => turns.insert(0, Turn::new(Role::System, text)),
    }
}

/// A piece of a parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Call(ToolCall),
}

/// Splits streamed text into plain text and complete tool calls. Text that
/// might be the start of `<tool_call>` is held back until it is decided; a
/// call is released when its closing tag arrives.
#[derive(Debug, Default)]
pub struct ToolCallParser {
    held: String,
    in_call: bool,
    calls: usize,
}

impl ToolCallParser {
    /// How many calls have been released.
    pub fn calls(&self) -> usize {
        self.calls
    }

    pub fn push(&mut self, text: &str, out: &mut Vec<Piece>) {
        self.held.push_str(text);
        loop {
            if self.in_call {
                let Some(end) = self.held.find(TOOL_CALL_CLOSE) else {
                    return;
                };
                let body: String = self.held[..end].to_owned();
                self.held.drain(..end + TOOL_CALL_CLOSE.len());
                self.in_call = false;
                match parse_call(&body) {
                    Some(call) => {
                        self.calls += 1;
                        out.push(Piece::Call(call));
                    }
                    // Not a call after all: give the client the text as written.
                    None => out.push(Piece::Text(format!(
                        "{TOOL_CALL_OPEN}{body}{TOOL_CALL_CLOSE}"
                    ))),
                }
                continue;
            }
            if let Some(start) = self.held.find(TOOL_CALL_OPEN) {
                let before: String = self.held[..start].to_owned();
                self.held.drain(..start + TOOL_CALL_OPEN.len());
                self.in_call = true;
                // Whitespace between calls is layout, not content.
                if !(before.is_empty() || self.calls > 0 && before.trim().is_empty()) {
                    out.push(Piece::Text(before));
                }
                continue;
            }
            // Release all but a tail that could still open a call.
            let keep = (1..TOOL_CALL_OPEN.len())
                .rev()
                .find(|&n| self.held.ends_with(&TOOL_CALL_OPEN[..n]))
                .unwrap_or(0);
            let release = self.held.len() - keep;
            if release > 0 {
                let text: String = self.held.drain(..release).collect();
                if !(self.calls > 0 && text.trim().is_empty()) {
                    out.push(Piece::Text(text));
                }
            }
            return;
        }
    }

    /// The end of the answer: whatever is held is text (an unfinished call
    /// is shown as written, as the answer was cut short).
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        let held = std::mem::take(&mut self.held);
        let text = if self.in_call {
            format!("{TOOL_CALL_OPEN}{held}")
        } else {
            held
        };
        self.in_call = false;
        if !(text.is_empty() || self.calls > 0 && text.trim().is_empty()) {
            out.push(Piece::Text(text));
        }
    }
}

fn parse_call(body: &str) -> Option<ToolCall> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    let name = value.get("name")?.as_str()?.to_owned();
    let arguments = match value.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "{}".to_owned(),
    };
    Some(ToolCall {
        id: new_tool_call_id(),
        kind: "function".into(),
        function: FunctionCall { name, arguments },
    })
}

/// `call_…`, as OpenAI names tool calls.
fn new_tool_call_id() -> String {
    new_id("call").replacen('-', "_", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&str]) -> Vec<Piece> {
        let mut parser = ToolCallParser::default();
        let mut out = Vec::new();
        for c in chunks {
            parser.push(c, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn texts(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                Piece::Call(_) => None,
            })
            .collect()
    }

    #[test]
    fn plain_text_passes_through_even_with_angle_brackets() {
        let out = parse_all(&["a < b and <tool", "s> are <", "fine"]);
        assert_eq!(texts(&out), "a < b and <tools> are <fine");
        assert!(out.iter().all(|p| matches!(p, Piece::Text(_))));
    }

    #[test]
    fn calls_split_across_chunks_are_assembled() {
        let out = parse_all(&[
            "Let me check.\n<tool",
            "_call>\n{\"name\": \"get_weather\", \"argu",
            "ments\": {\"city\": \"Tallinn\"}}\n</tool_",
            "call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        ]);
        assert_eq!(texts(&out), "Let me check.\n");
        let calls: Vec<&ToolCall> = out
            .iter()
            .filter_map(|p| match p {
                Piece::Call(c) => Some(c),
                Piece::Text(_) => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].function.name, "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(),
            json!({"city": "Tallinn"})
        );
        assert!(calls[0].id.starts_with("call_"));
        assert_ne!(calls[0].id, calls[1].id);
    }

    #[test]
    fn a_cut_short_call_comes_back_as_text() {
        let out = parse_all(&["<tool_call>\n{\"name\": \"f\", \"argu"]);
        assert_eq!(texts(&out), "<tool_call>\n{\"name\": \"f\", \"argu");
    }

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn tool_choice_modes_become_constraints() {
        let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}},
                           {"type": "function", "function": {"name": "g"}}]);
        let base = |choice: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools});
            if !choice.is_null() {
                body["tool_choice"] = choice;
            }
            plan(&request(body))
        };
        let auto = base(Value::Null).unwrap();
        assert!(
            matches!(&auto.constraint, Some(Constraint::ToolCalls { required: false, parallel: true, tools }) if tools.len() == 2)
        );
        let none = base(json!("none")).unwrap();
        assert!(none.constraint.is_none() && !none.parse_tool_calls && none.tools.is_empty());
        let required = base(json!("required")).unwrap();
        assert!(matches!(
            required.constraint,
            Some(Constraint::ToolCalls { required: true, .. })
        ));
        let named = base(json!({"type": "function", "function": {"name": "g"}})).unwrap();
        assert!(named.forced_function);
        assert!(
            matches!(&named.constraint, Some(Constraint::ToolCalls { tools, required: true, parallel: false }) if tools[0].name == "g")
        );
        let missing = base(json!({"type": "function", "function": {"name": "h"}})).unwrap_err();
        assert_eq!(missing.param.as_deref(), Some("tool_choice"));
        let bad = base(json!("sometimes")).unwrap_err();
        assert_eq!(bad.param.as_deref(), Some("tool_choice"));
    }

    #[test]
    fn strict_schemas_follow_openais_rules() {
        let body = |schema: Value| {
            request(
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": schema}}}),
            )
        };
        let good = json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"], "additionalProperties": false}}, "required": ["a"], "additionalProperties": false});
        assert!(matches!(
            plan(&body(good)).unwrap().constraint,
            Some(Constraint::JsonSchema(_))
        ));
        let open =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        let e = plan(&body(open)).unwrap_err();
        assert!(e.message.contains("additionalProperties"), "{}", e.message);
        let partial = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"], "additionalProperties": false});
        let e = plan(&body(partial)).unwrap_err();
        assert!(e.message.contains("Missing 'b'"), "{}", e.message);
    }

    #[test]
    fn json_object_needs_the_word_json() {
        let e = plan(&request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}))).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        let ok = plan(&request(json!({"model": "m", "messages": [{"role": "user", "content": "Answer in JSON"}], "response_format": {"type": "json_object"}}))).unwrap();
        assert_eq!(ok.constraint, Some(Constraint::JsonObject));
    }

    #[test]
    fn tools_are_shown_in_the_system_prompt() {
        let mut turns = vec![Turn::new(Role::User, "hi")];
        show_tools(
            &mut turns,
            &[json!({"type": "function", "function": {"name": "f"}})],
        );
        assert_eq!(turns[0].role, Role::System);
        assert!(turns[0].content.contains("<tools>") && turns[0].content.contains("\"f\""));
        let mut turns = vec![
            Turn::new(Role::System, "Be brief."),
            Turn::new(Role::User, "hi"),
        ];
        show_tools(
            &mut turns,
            &[json!({"type": "function", "function": {"name": "f"}})],
        );
        assert_eq!(turns.len(), 2);
        assert!(turns[0].content.starts_with("Be brief.\n\n# Tools"));
    }
}
