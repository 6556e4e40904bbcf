//! Output constraints as llama.cpp grammars.
//!
//! A [`Constraint`] (JSON object, JSON Schema, tool calls) becomes a GBNF
//! grammar that the sampler enforces token by token, so the answer parses
//! and validates by construction. JSON Schema goes through llama.cpp's own
//! converter (the one llama-server uses for `response_format`); tool calls
//! wrap the schema of every tool's arguments in the `<tool_call>` blocks the
//! server parses back. Conversion runs before a request is queued, so a
//! schema the converter cannot handle is a 400 for the client, not a failed
//! stream.

use serde_json::{Value, json};
use sovra_engine::{
    Constraint, EngineError, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolSpec, tool_call_schema,
};

/// Most tool calls one answer may hold when parallel calls are allowed.
const MAX_PARALLEL_CALLS: usize = 8;

/// A grammar ready for the sampler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grammar {
    pub gbnf: String,
    /// When set, the grammar applies only from this text on (a lazy
    /// grammar): free text until the model opens a tool call.
    pub trigger: Option<String>,
}

fn convert(schema: &Value, param: &str) -> Result<String, EngineError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
        EngineError::InvalidParam {
            param: param.to_owned(),
            message: format!("this JSON Schema cannot be enforced: {e}"),
        }
    })
}

/// The grammar for a constraint.
pub(crate) fn grammar(constraint: &Constraint) -> Result<Grammar, EngineError> {
    match constraint {
        Constraint::JsonObject => Ok(Grammar {
            gbnf: convert(&json!({"type": "object"}), "response_format")?,
            trigger: None,
        }),
        Constraint::JsonSchema(schema) => Ok(Grammar {
            gbnf: convert(schema, "response_format.json_schema.schema")?,
            trigger: None,
        }),
        Constraint::ToolCalls {
            tools,
            required,
            parallel,
        } => tool_calls(tools, *required, *parallel),
    }
}

fn tool_calls(tools: &[ToolSpec], required: bool, parallel: bool) -> Result<Grammar, EngineError> {
    let json_rules = convert(&tool_call_schema(tools), "tools")?;
    // The converter names its start rule `root`; it becomes one rule of ours.
    let mut gbnf = String::with_capacity(json_rules.len() + 256);
    for line in json_rules.lines() {
        match line.strip_prefix("root ::=") {
            Some(rest) => {
                gbnf.push_str("tool-call-json ::=");
                gbnf.push_str(rest);
            }
            None => gbnf.push_str(line),
        }
        gbnf.push('\n');
    }
    let open = serde_json::to_string(&format!("{TOOL_CALL_OPEN}\n")).unwrap_or_default();
    let close = serde_json::to_string(&format!("\n{TOOL_CALL_CLOSE}")).unwrap_or_default();
    gbnf.push_str(&format!("tool-call ::= {open} tool-call-json {close}\n"));
    if parallel {
        gbnf.push_str(&format!(
            "root ::= tool-call (\"\\n\" tool-call){{0,{}}}\n",
            MAX_PARALLEL_CALLS - 1
        ));
    } else {
        gbnf.push_str("root ::= tool-call\n");
    }
    Ok(Grammar {
        gbnf,
        trigger: (!required).then(|| TOOL_CALL_OPEN.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_becomes_a_grammar_with_a_root() {
        let g = grammar(&Constraint::JsonSchema(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["city", "population"],
            "additionalProperties": false
        })))
        .unwrap();
        assert!(g.gbnf.contains("root ::="), "{}", g.gbnf);
        assert!(g.gbnf.contains("city"), "{}", g.gbnf);
        assert!(g.trigger.is_none());
    }

    #[test]
    fn tool_calls_wrap_each_tool_in_a_block() {
        let tools = vec![
            ToolSpec {
                name: "get_weather".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            },
            ToolSpec {
                name: "get_time".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        ];
        let auto = grammar(&Constraint::ToolCalls {
            tools: tools.clone(),
            required: false,
            parallel: true,
        })
        .unwrap();
        assert_eq!(auto.trigger.as_deref(), Some(TOOL_CALL_OPEN));
        assert_eq!(auto.gbnf.matches("root ::=").count(), 1, "{}", auto.gbnf);
        assert!(auto.gbnf.contains("tool-call-json ::="));
        assert!(auto.gbnf.contains("get_weather") && auto.gbnf.contains("get_time"));
        let forced = grammar(&Constraint::ToolCalls {
            tools,
            required: true,
            parallel: false,
        })
        .unwrap();
        assert!(forced.trigger.is_none());
        assert!(forced.gbnf.contains("root ::= tool-call\n"));
    }
}
