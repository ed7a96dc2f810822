//! The conformance suite's fixtures (`[mcp] conformance_fixtures = true`, test-only): the tools,
//! resources and prompts that `@modelcontextprotocol/conformance` calls by name.

use super::catalog::{CallContext, Catalog, LogLevel, ToolSpec, tool_error, tool_text};
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
    ToolSpec { definition: json!({ "name": name, "description": description, "inputSchema": input_schema }), notifies }
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
            ToolSpec {
                definition: json!({
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
                notifies: false,
            },
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
        ]
    }

    async fn get_prompt(&self, name: &str, arguments: &Value) -> Option<Result<Value, RpcError>> {
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
            "test_prompt_with_image" => json!({ "messages": [
                { "role": "user", "content": { "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" } },
                { "role": "user", "content": text("Please analyze the image above.") }] }),
            _ => return None,
        }))
    }

    async fn complete(&self, reference: &Value, argument: &Value) -> Option<Value> {
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
