//! The conformance suite's fixtures (`[mcp] conformance_fixtures = true`, test-only): the tools,
//! resources and prompts that `@modelcontextprotocol/conformance` calls by name.

use super::catalog::{CallContext, Catalog, LogLevel, ToolSpec, tool_error};
use super::jsonrpc::{self, RpcError};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::Duration;

/// A 1×1 red PNG.
const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A minimal mono 8 kHz WAV with a few samples of silence.
fn tiny_wav() -> String {
    let samples = [128u8; 8];
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    STANDARD.encode(wav)
}

/// The conformance fixtures.
pub struct ConformanceFixtures;

fn tool(name: &str, description: &str, input_schema: Value, notifies: bool) -> ToolSpec {
    ToolSpec::new(json!({ "name": name, "description": description, "inputSchema": input_schema }), notifies)
}

fn no_arguments() -> Value {
    json!({ "type": "object", "properties": {} })
}

fn string_argument(name: &str, description: &str) -> Value {
    json!({ "type": "object", "properties": { name: { "type": "string", "description": description } }, "required": [name] })
}

#[async_trait]
impl Catalog for ConformanceFixtures {
    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            tool("test_simple_text", "Returns a simple text response", no_arguments(), false),
            tool("test_image_content", "Returns an image", no_arguments(), false),
            tool("test_audio_content", "Returns audio", no_arguments(), false),
            tool("test_embedded_resource", "Returns an embedded resource", no_arguments(), false),
            tool("test_multiple_content_types", "Returns text, an image and a resource", no_arguments(), false),
            tool("test_tool_with_logging", "Sends three log messages while it runs", no_arguments(), true),
            tool("test_error_handling", "Always fails", no_arguments(), false),
            tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100", no_arguments(), true),
            tool(
                "test_sampling",
                "Asks the client's LLM to answer a prompt",
                string_argument("prompt", "The prompt to send to the LLM"),
                true,
            ),
            tool(
                "test_elicitation",
                "Asks the user for input",
                string_argument("message", "The message to show the user"),
                true,
            ),
            tool(
                "test_elicitation_sep1034_defaults",
                "Elicitation with defaults for every primitive type",
                no_arguments(),
                true,
            ),
            tool("test_elicitation_sep1330_enums", "Elicitation with every enum variant", no_arguments(), true),
            tool(
                "test_reconnection",
                "Closes its SSE stream mid-call; the result arrives after the client reconnects",
                no_arguments(),
                true,
            ),
            tool(
                "test_input_required_result_elicitation",
                "Asks for the user's name through an input-required result",
                no_arguments(),
                false,
            ),
            tool(
                "test_input_required_result_sampling",
                "Asks the client's LLM through an input-required result",
                no_arguments(),
                false,
            ),
            tool(
                "test_input_required_result_list_roots",
                "Asks for the client's roots through an input-required result",
                no_arguments(),
                false,
            ),
            tool(
                "test_input_required_result_request_state",
                "Round-trips a sealed requestState",
                no_arguments(),
                false,
            ),
            tool("test_input_required_result_multiple_inputs", "Asks for three inputs at once", no_arguments(), false),
            tool(
                "test_input_required_result_multi_round",
                "Asks in two rounds with evolving state",
                no_arguments(),
                false,
            ),
            tool("test_input_required_result_tampered_state", "Rejects a tampered requestState", no_arguments(), false),
            tool(
                "test_input_required_result_capabilities",
                "Asks only for inputs the client declared it can give",
                no_arguments(),
                false,
            ),
            tool("test_missing_capability", "Needs the client's sampling capability", no_arguments(), false)
                .requires(json!({ "sampling": {} })),
            tool("test_streaming_elicitation", "Streams progress, then asks for input", no_arguments(), true),
            tool(
                "test_logging_tool",
                "Logs while it runs (only when the request set a log level)",
                no_arguments(),
                true,
            ),
            tool("test_trigger_tool_change", "Announces that the tool list changed", no_arguments(), false),
            tool("test_trigger_prompt_change", "Announces that the prompt list changed", no_arguments(), false),
            tool(
                "test_custom_header",
                "Echoes a region sent both as an argument and in the Mcp-Param-Region header",
                json!({ "type": "object", "properties": { "region": { "type": "string", "x-mcp-header": "Region" } }, "required": ["region"] }),
                false,
            ),
            ToolSpec::new(
                json!({
                    "name": "json_schema_2020_12_tool",
                    "description": "Tool with JSON Schema 2020-12 features",
                    "inputSchema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "$defs": { "address": { "$anchor": "addressDef", "type": "object", "properties": { "street": { "type": "string" }, "city": { "type": "string" } } } },
                        "properties": {
                            "name": { "type": "string" },
                            "address": { "$ref": "#/$defs/address" },
                            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                            "phone": { "type": "string" },
                            "email": { "type": "string" }
                        },
                        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
                        "then": { "required": ["phone"] },
                        "else": { "required": ["email"] },
                        "additionalProperties": false
                    }
                }),
                false,
            ),
        ]
    }

    async fn call_tool(&self, name: &str, arguments: Value, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let pause = || tokio::time::sleep(Duration::from_millis(50));
        Some(Ok(match name {
            "test_simple_text" => tool_text("This is a simple text response for testing."),
            "test_image_content" => {
                json!({ "content": [{ "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" }] })
            }
            "test_audio_content" => {
                json!({ "content": [{ "type": "audio", "data": tiny_wav(), "mimeType": "audio/wav" }] })
            }
            "test_embedded_resource" => json!({ "content": [{ "type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content." } }] }),
            "test_multiple_content_types" => json!({ "content": [
                { "type": "text", "text": "Multiple content types test:" },
                { "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" },
                { "type": "resource", "resource": { "uri": "test://mixed-content-resource", "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}" } }
            ] }),
            "test_tool_with_logging" => {
                cx.log(LogLevel::Info, "conformance", json!("Tool execution started")).await;
                pause().await;
                cx.log(LogLevel::Info, "conformance", json!("Tool processing data")).await;
                pause().await;
                cx.log(LogLevel::Info, "conformance", json!("Tool execution completed")).await;
                tool_text("Tool with logging executed successfully")
            }
            "test_error_handling" => tool_error("This tool intentionally returns an error for testing"),
            "test_tool_with_progress" => {
                for (step, value) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if step > 0 {
                        pause().await;
                    }
                    cx.progress(value, Some(100.0), None).await;
                }
                tool_text("Tool with progress executed successfully")
            }
            "test_sampling" => {
                if cx.client_capabilities.get("sampling").is_none() {
                    return Some(Ok(tool_error("The client does not support sampling")));
                }
                let prompt = arguments["prompt"].as_str().unwrap_or_default();
                let params = json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }], "maxTokens": 100 });
                match cx.request_client("sampling/createMessage", params).await {
                    Ok(answer) => {
                        let text = answer["content"]["text"]
                            .as_str()
                            .map_or_else(|| answer["content"].to_string(), str::to_string);
                        tool_text(format!("LLM response: {text}"))
                    }
                    Err(e) => tool_error(format!("Sampling failed: {}", e.message)),
                }
            }
            "test_elicitation" => {
                let message = arguments["message"].as_str().unwrap_or_default();
                let schema = json!({ "type": "object", "properties": {
                    "username": { "type": "string", "description": "User's response" },
                    "email": { "type": "string", "description": "User's email address" } }, "required": ["username", "email"] });
                elicit(cx, message, schema, "User response").await
            }
            "test_elicitation_sep1034_defaults" => {
                let schema = json!({ "type": "object", "properties": {
                    "name": { "type": "string", "default": "John Doe" },
                    "age": { "type": "integer", "default": 30 },
                    "score": { "type": "number", "default": 95.5 },
                    "status": { "type": "string", "enum": ["active", "inactive", "pending"], "default": "active" },
                    "verified": { "type": "boolean", "default": true } } });
                elicit(cx, "Please review and update the form fields with defaults", schema, "Elicitation completed")
                    .await
            }
            "test_elicitation_sep1330_enums" => {
                let schema = json!({ "type": "object", "properties": {
                    "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
                    "titledSingle": { "type": "string", "oneOf": [
                        { "const": "value1", "title": "First Option" }, { "const": "value2", "title": "Second Option" }, { "const": "value3", "title": "Third Option" }] },
                    "legacyEnum": { "type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"] },
                    "untitledMulti": { "type": "array", "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                    "titledMulti": { "type": "array", "items": { "anyOf": [
                        { "const": "value1", "title": "First Choice" }, { "const": "value2", "title": "Second Choice" }, { "const": "value3", "title": "Third Choice" }] } } } });
                elicit(cx, "Please select options from the enum fields", schema, "Elicitation completed").await
            }
            "test_reconnection" => {
                cx.log(LogLevel::Info, "conformance", json!("Closing the stream to test reconnection")).await;
                pause().await;
                cx.close_stream().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                cx.log(LogLevel::Info, "conformance", json!("Reconnection test continuing")).await;
                tool_text("Reconnection test completed successfully")
            }
            "json_schema_2020_12_tool" => tool_text(format!("Received: {arguments}")),
            "test_input_required_result_elicitation" => match elicited(cx, "user_name", "name") {
                Some(name) => tool_text(format!("Hello, {name}!")),
                None => cx.input.input_required(json!({ "user_name": ask_name("What is your name?") }), None),
            },
            "test_input_required_result_sampling" => match cx.input.response("capital_question").and_then(sampled_text)
            {
                Some(text) => tool_text(format!("The model answered: {text}")),
                None => cx.input.input_required(
                    json!({ "capital_question": ask_model("What is the capital of France?", 100) }),
                    None,
                ),
            },
            "test_input_required_result_list_roots" => {
                match cx.input.response("client_roots").and_then(|r| r["roots"].as_array()) {
                    Some(roots) => {
                        let uris: Vec<&str> = roots.iter().filter_map(|r| r["uri"].as_str()).collect();
                        tool_text(format!("Client roots: {}", uris.join(", ")))
                    }
                    None => cx
                        .input
                        .input_required(json!({ "client_roots": { "method": "roots/list", "params": {} } }), None),
                }
            }
            "test_input_required_result_request_state" => {
                let confirmed = cx.input.response("confirm").is_some_and(|r| r["action"] == "accept");
                if confirmed && cx.input.state == Some(json!({ "tool": "request_state", "awaiting": "confirm" })) {
                    tool_text("state-ok: the requestState came back intact")
                } else {
                    let confirm = json!({ "method": "elicitation/create", "params": { "message": "Please confirm",
                        "requestedSchema": { "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] } } });
                    cx.input.input_required(
                        json!({ "confirm": confirm }),
                        Some(json!({ "tool": "request_state", "awaiting": "confirm" })),
                    )
                }
            }
            "test_input_required_result_multiple_inputs" => {
                let mut missing = serde_json::Map::new();
                if elicited(cx, "user_name", "name").is_none() {
                    missing.insert("user_name".into(), ask_name("What is your name?"));
                }
                if cx.input.response("greeting").and_then(sampled_text).is_none() {
                    missing.insert("greeting".into(), ask_model("Generate a greeting", 50));
                }
                if cx.input.response("client_roots").and_then(|r| r["roots"].as_array()).is_none() {
                    missing.insert("client_roots".into(), json!({ "method": "roots/list", "params": {} }));
                }
                if missing.is_empty() {
                    tool_text("All three inputs received")
                } else {
                    cx.input.input_required(Value::Object(missing), Some(json!({ "tool": "multiple_inputs" })))
                }
            }
            "test_input_required_result_multi_round" => {
                match (&cx.input.state, elicited(cx, "step1", "name"), elicited(cx, "step2", "color")) {
                    (Some(state), _, Some(color)) if state["round"] == 2 => {
                        tool_text(format!("Done: {} likes {color}", state["name"].as_str().unwrap_or("someone")))
                    }
                    (Some(state), Some(name), _) if state["round"] == 1 => {
                        let ask = json!({ "method": "elicitation/create", "params": { "message": "Step 2: What is your favorite color?",
                        "requestedSchema": { "type": "object", "properties": { "color": { "type": "string" } }, "required": ["color"] } } });
                        cx.input.input_required(json!({ "step2": ask }), Some(json!({ "round": 2, "name": name })))
                    }
                    _ => cx.input.input_required(
                        json!({ "step1": ask_name("Step 1: What is your name?") }),
                        Some(json!({ "round": 1 })),
                    ),
                }
            }
            "test_input_required_result_tampered_state" => match &cx.input.state {
                Some(state) if state["tool"] == "tampered_state" => tool_text("state verified"),
                _ => cx.input.input_required(
                    json!({ "user_name": ask_name("What is your name?") }),
                    Some(json!({ "tool": "tampered_state" })),
                ),
            },
            "test_input_required_result_capabilities" => {
                let caps = &cx.client_capabilities;
                let mut requests = serde_json::Map::new();
                if caps.get("elicitation").is_some() && elicited(cx, "user_name", "name").is_none() {
                    requests.insert("user_name".into(), ask_name("What is your name?"));
                }
                if caps.get("sampling").is_some() && cx.input.response("summary").and_then(sampled_text).is_none() {
                    requests.insert("summary".into(), ask_model("Summarize the day in one sentence", 50));
                }
                if requests.is_empty() {
                    tool_text("every input the client can give was received")
                } else {
                    cx.input.input_required(Value::Object(requests), None)
                }
            }
            "test_missing_capability" => tool_text("the client declared sampling"),
            "test_streaming_elicitation" => {
                cx.progress(0.0, Some(1.0), Some("about to ask")).await;
                match elicited(cx, "user_name", "name") {
                    Some(name) => tool_text(format!("Hello, {name}!")),
                    None => cx.input.input_required(json!({ "user_name": ask_name("What is your name?") }), None),
                }
            }
            "test_logging_tool" => {
                cx.log(LogLevel::Info, "conformance", json!("logging tool ran")).await;
                tool_text("logged (if the request asked for logs)")
            }
            "test_trigger_tool_change" => {
                cx.announce("notifications/tools/list_changed");
                tool_text("announced a tool list change")
            }
            "test_trigger_prompt_change" => {
                cx.announce("notifications/prompts/list_changed");
                tool_text("announced a prompt list change")
            }
            "test_custom_header" => tool_text(format!("region: {}", arguments["region"].as_str().unwrap_or_default())),
            _ => return None,
        }))
    }

    fn resources(&self) -> Vec<Value> {
        vec![
            json!({ "uri": "test://static-text", "name": "static-text", "description": "A static text resource", "mimeType": "text/plain" }),
            json!({ "uri": "test://static-binary", "name": "static-binary", "description": "A static binary resource (PNG)", "mimeType": "image/png" }),
            json!({ "uri": "test://watched-resource", "name": "watched-resource", "description": "A resource to subscribe to", "mimeType": "text/plain" }),
        ]
    }

    fn resource_templates(&self) -> Vec<Value> {
        vec![
            json!({ "uriTemplate": "test://template/{id}/data", "name": "template-data", "description": "Data for an id", "mimeType": "application/json" }),
        ]
    }

    async fn read_resource(&self, uri: &str, _cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let contents = match uri {
            "test://static-text" => {
                json!({ "uri": uri, "mimeType": "text/plain", "text": "This is the content of the static text resource." })
            }
            "test://static-binary" => json!({ "uri": uri, "mimeType": "image/png", "blob": RED_PIXEL_PNG }),
            "test://watched-resource" => {
                json!({ "uri": uri, "mimeType": "text/plain", "text": "Watched resource content." })
            }
            _ => {
                let id = uri.strip_prefix("test://template/")?.strip_suffix("/data")?;
                if id.is_empty() || id.contains('/') {
                    return None;
                }
                let text = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string();
                json!({ "uri": uri, "mimeType": "application/json", "text": text })
            }
        };
        Some(Ok(json!({ "contents": [contents] })))
    }

    fn prompts(&self) -> Vec<Value> {
        vec![
            json!({ "name": "test_simple_prompt", "description": "A simple prompt without arguments" }),
            json!({ "name": "test_prompt_with_arguments", "description": "A prompt with two arguments", "arguments": [
                { "name": "arg1", "description": "First test argument", "required": true },
                { "name": "arg2", "description": "Second test argument", "required": true }] }),
            json!({ "name": "test_prompt_with_embedded_resource", "description": "A prompt embedding a resource", "arguments": [
                { "name": "resourceUri", "description": "URI of the resource to embed", "required": true }] }),
            json!({ "name": "test_prompt_with_image", "description": "A prompt with an image" }),
            json!({ "name": "test_input_required_result_prompt", "description": "A prompt that first asks the user for context" }),
        ]
    }

    async fn get_prompt(&self, name: &str, arguments: &Value, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let text = |t: &str| json!({ "type": "text", "text": t });
        let argument = |key: &str| -> Result<String, RpcError> {
            arguments[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| RpcError::invalid_params(format!("missing required argument `{key}`")))
        };
        Some(Ok(match name {
            "test_simple_prompt" => {
                json!({ "messages": [{ "role": "user", "content": text("This is a simple prompt for testing.") }] })
            }
            "test_prompt_with_arguments" => {
                let (a, b) = match (argument("arg1"), argument("arg2")) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
                };
                json!({ "messages": [{ "role": "user", "content": text(&format!("Prompt with arguments: arg1='{a}', arg2='{b}'")) }] })
            }
            "test_prompt_with_embedded_resource" => {
                let uri = match argument("resourceUri") {
                    Ok(u) => u,
                    Err(e) => return Some(Err(e)),
                };
                json!({ "messages": [
                    { "role": "user", "content": { "type": "resource", "resource": { "uri": uri, "mimeType": "text/plain", "text": "Embedded resource content for testing." } } },
                    { "role": "user", "content": text("Please process the embedded resource above.") }] })
            }
            "test_input_required_result_prompt" => match elicited(cx, "user_context", "context") {
                Some(context) => {
                    json!({ "messages": [{ "role": "user", "content": text(&format!("Use this context: {context}")) }] })
                }
                None => {
                    let ask = json!({ "method": "elicitation/create", "params": { "message": "What context should the prompt use?",
                        "requestedSchema": { "type": "object", "properties": { "context": { "type": "string" } }, "required": ["context"] } } });
                    cx.input.input_required(json!({ "user_context": ask }), None)
                }
            },
            "test_prompt_with_image" => json!({ "messages": [
                { "role": "user", "content": { "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" } },
                { "role": "user", "content": text("Please analyze the image above.") }] }),
            _ => return None,
        }))
    }

    async fn complete(&self, reference: &Value, argument: &Value, _cx: &CallContext) -> Option<Value> {
        let known = reference["name"].as_str().is_some_and(|n| n.starts_with("test_"))
            || reference["uri"].as_str().is_some_and(|u| u.starts_with("test://"));
        if !known {
            return None;
        }
        let prefix = argument["value"].as_str().unwrap_or_default();
        let values: Vec<&str> = ["paris", "park", "party"].into_iter().filter(|v| v.starts_with(prefix)).collect();
        Some(json!({ "completion": { "values": values, "total": values.len(), "hasMore": false } }))
    }
}

/// An elicitation input request for one required string field `name`.
fn ask_name(message: &str) -> Value {
    json!({ "method": "elicitation/create", "params": { "message": message,
        "requestedSchema": { "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] } } })
}

/// A sampling input request.
fn ask_model(question: &str, max_tokens: u32) -> Value {
    json!({ "method": "sampling/createMessage", "params": {
        "messages": [{ "role": "user", "content": { "type": "text", "text": question } }], "maxTokens": max_tokens } })
}

/// The string field `field` of an accepted elicitation answered under `key`; anything else
/// (missing, declined, malformed) reads as not answered, so the tool asks again.
fn elicited(cx: &CallContext, key: &str, field: &str) -> Option<String> {
    let answer = cx.input.response(key)?;
    (answer["action"] == "accept").then(|| answer["content"][field].as_str().map(str::to_string)).flatten()
}

/// The text of a sampling answer.
fn sampled_text(answer: &Value) -> Option<String> {
    answer["content"]["text"].as_str().map(str::to_string)
}

async fn elicit(cx: &CallContext, message: &str, schema: Value, label: &str) -> Value {
    if cx.client_capabilities.get("elicitation").is_none() {
        return tool_error("The client does not support elicitation");
    }
    match cx.request_client("elicitation/create", json!({ "message": message, "requestedSchema": schema })).await {
        Ok(answer) => {
            let action = answer["action"].as_str().unwrap_or("unknown");
            let content = answer.get("content").cloned().unwrap_or(json!({}));
            if label == "User response" {
                tool_text(format!("User response: <action: {action}, content: {content}>"))
            } else {
                tool_text(format!("{label}: action={action}, content={content}"))
            }
        }
        Err(e) if e.code == jsonrpc::INTERNAL_ERROR => tool_error(format!("Elicitation failed: {}", e.message)),
        Err(e) => tool_error(format!("Elicitation failed: {}", e.message)),
    }
}

/// A tool result with one text block.
fn tool_text(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }] })
}
