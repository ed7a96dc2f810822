//! The tool registry: each tool's definition — stable name, title, description written for a
//! model, input and output JSON Schemas, annotations, the Immich permissions it needs, how its
//! results stream — and its handler, side by side in the file of its family. Adding a tool is one
//! entry in one family's `tools()`. The tool reference (`docs/tools.md`) is generated from here.

use super::call::{Call, Outcome};
use crate::config::Toolset;
use futures::future::BoxFuture;
use rmcp::model::{Tool as McpTool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A tool's handler.
pub(crate) type Handler = for<'a> fn(&'a Call<'a>) -> BoxFuture<'a, Outcome>;

/// Whether a tool's calls stream their results (`notifications/stream/data`) on a streamed reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Streams {
    /// Never: one result.
    Never,
    /// When the argument (a count, or a list's length) exceeds [`Threshold`].
    Above(&'static str, Threshold),
    /// Always (its links go out as data events too).
    Always,
}

/// Where streaming starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threshold {
    /// Above one page (`[streaming] auto_stream_threshold`, at most 1000).
    Page,
    /// Above this many.
    Fixed(u64),
}

/// One tool: what clients see and the handler that runs it.
pub struct Tool {
    /// Stable name.
    pub name: &'static str,
    /// Short human title.
    pub title: &'static str,
    /// What it does, for a model.
    pub description: &'static str,
    /// Input schema (an object schema).
    pub input: Value,
    /// Output schema of `structuredContent`.
    pub output: Value,
    /// Immich permissions every call needs.
    pub permissions: &'static [&'static str],
    /// Changes the library.
    pub writes: bool,
    /// May remove something (album membership).
    pub destructive: bool,
    /// The same call twice changes nothing more than once.
    pub idempotent: bool,
    /// The toolset it is offered in (`[tools] toolsets`).
    pub toolset: Toolset,
    pub(crate) streams: Streams,
    pub(crate) run: Handler,
}

impl Tool {
    /// A tool that reads, idempotent and never streaming, needing `permissions`; the builder
    /// methods below say otherwise.
    pub(crate) fn reads(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        permissions: &'static [&'static str],
        run: Handler,
    ) -> Tool {
        Tool {
            name,
            title,
            description,
            input: schema(json!({}), &[]),
            output: output(json!({}), &[]),
            permissions,
            writes: false,
            destructive: false,
            idempotent: true,
            toolset: Toolset::Core,
            streams: Streams::Never,
            run,
        }
    }

    /// Its input schema.
    pub(crate) fn input(mut self, input: Value) -> Tool {
        self.input = input;
        self
    }

    /// Its output schema.
    pub(crate) fn output(mut self, output: Value) -> Tool {
        self.output = output;
        self
    }

    /// It changes the library; `idempotent` when doing it twice changes nothing more.
    pub(crate) fn writes(mut self, idempotent: bool) -> Tool {
        self.writes = true;
        self.idempotent = idempotent;
        self
    }

    /// It belongs to `toolset` (every tool of a family that is not `core` is in its family's).
    pub(crate) fn toolset(mut self, toolset: Toolset) -> Tool {
        self.toolset = toolset;
        self
    }

    /// It may remove something.
    pub(crate) fn destructive(mut self) -> Tool {
        self.destructive = true;
        self
    }

    /// How its results stream.
    pub(crate) fn streams(mut self, streams: Streams) -> Tool {
        self.streams = streams;
        self
    }

    /// The MCP `Tool`, built with the official SDK's model type.
    pub fn definition(&self) -> McpTool {
        let annotations = ToolAnnotations::with_title(self.title)
            .read_only(!self.writes)
            .destructive(self.destructive)
            .idempotent(!self.writes || self.idempotent)
            .open_world(false);
        McpTool::new(self.name, self.description, Arc::new(object(&self.input)))
            .with_title(self.title)
            .with_annotations(annotations)
            .with_raw_output_schema(Arc::new(object(&self.output)))
    }
}

/// Every Immich tool, in listing order: one family after another. The core families' tools that
/// write are `organize`'s (said where each is defined); the other families are a toolset each.
pub fn all() -> Vec<Tool> {
    let whole = |tools: Vec<Tool>, toolset: Toolset| tools.into_iter().map(move |t| t.toolset(toolset));
    [
        super::photos::tools(),
        super::export::tools(),
        super::albums::tools(),
        super::people::tools(),
        super::stacks::tools(),
        super::edits::tools(),
        super::tags::tools(),
        super::timeline::tools(),
        super::map::tools(),
        super::library::tools(),
        super::text::tools(),
    ]
    .into_iter()
    .flatten()
    .chain(whole(super::sharing::tools(), Toolset::Sharing))
    .chain(whole(super::sharing::link_tools(), Toolset::Sharing))
    .chain(whole(super::sharing::comment_tools(), Toolset::Sharing))
    .chain(whole(super::cleanup::tools(), Toolset::Cleanup))
    .chain(whole(super::duplicates::tools(), Toolset::Cleanup))
    .chain(whole(super::trash::tools(), Toolset::Cleanup))
    .collect()
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// An object schema with these properties; `required` lists the required ones; no others allowed.
pub(crate) fn schema(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// A compact photo as tools return it.
pub(crate) fn photo_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "fileName": { "type": "string" }, "type": { "type": "string" },
        "takenAt": { "type": ["string", "null"] }, "favorite": { "type": "boolean" },
        "city": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] },
        "camera": { "type": ["string", "null"] }, "people": { "type": "array", "items": { "type": "string" } },
        "width": { "type": ["integer", "null"] }, "height": { "type": ["integer", "null"] },
        "webUrl": { "type": "string", "description": "The photo in Immich's web app." } },
        "required": ["id", "fileName", "type"] })
}

/// A page of photos, plus `extra` properties.
pub(crate) fn photo_page_schema(extra: Value) -> Value {
    let mut properties = json!({
        "photos": { "type": "array", "items": photo_schema() },
        "count": { "type": "integer" },
        "nextCursor": { "type": ["string", "null"], "description": "Pass as cursor to get the next page: it continues right after the last photo in `photos`; null when there are no more." },
        "streamId": { "type": "string", "description": "Set when the photos were streamed; `photos` then holds only the first ones (`held`)." },
        "held": { "type": "integer", "description": "On a streamed result: how many of the `count` photos `photos` holds." },
        "streamCursor": { "type": ["string", "null"], "description": "On a streamed result: continues after the last photo streamed (for clients that took the notifications/stream/data events)." },
        "summary": { "type": "object", "description": "On a streamed result: the photos streamed, counted by year, place, camera and person (the top ten of each, and other)." },
        "chunks": { "type": "integer" },
        "stoppedBy": { "type": "string", "description": "Set when a stream ended early (`stream_timeout`); nextCursor continues after the last photo sent." }
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({ "type": "object", "properties": properties, "required": ["photos", "count", "nextCursor"] })
}

/// A list of 1 to 1000 ids.
pub(crate) fn id_list(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": 1000, "description": description })
}

/// One id.
pub(crate) fn id() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

/// `limit` of a paged listing.
pub(crate) fn limit() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 1000, "description": "Results per page (default 50)." })
}

/// `cursor` of a paged listing.
pub(crate) fn cursor() -> Value {
    json!({ "type": "string", "description": "The nextCursor of a previous call, to continue." })
}

/// Any object.
pub(crate) fn any_object() -> Value {
    json!({ "type": "object" })
}

/// An output schema: an object of `properties`, `required` of them always present.
pub(crate) fn output(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

/// The tool reference (`docs/tools.md`), generated from the registry so that it cannot drift
/// from what the server lists. Regenerate with `immich-mcp-gateway --tool-reference > docs/tools.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Immich tools\n\nGenerated from the tool registry (`src/tools/`) by `immich-mcp-gateway --tool-reference`; a test fails when this file is stale.\n\n\
         Every tool returns `structuredContent` (matching its output schema) and a compact text rendering. Immich failures come back as \
         results with `isError: true` and Immich's own message; arguments the gateway refuses itself (an id that is not a UUID, a cursor it \
         did not hand out) say `Invalid arguments` and never reach Immich. Tools the Immich key lacks permissions for are hidden (or marked \
         unavailable with `[tools] hide_unavailable = false`); `[tools] read_only = true` hides every tool that writes. \
         `[tools] toolsets` picks the toolsets offered (`core` and `organize` by default; `sharing`, `cleanup`, or `all`).\n\n\
         | tool | title | toolset | reads/writes | Immich permissions |\n|---|---|---|---|---|\n",
    );
    let tools = all();
    for d in &tools {
        let kind = if d.destructive {
            "writes (removes)"
        } else if d.writes {
            "writes"
        } else {
            "reads"
        };
        let toolset = serde_json::to_value(d.toolset).ok().and_then(|v| v.as_str().map(str::to_string));
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} | {} |\n",
            d.name,
            d.name.to_lowercase(),
            d.title,
            toolset.unwrap_or_default(),
            kind,
            d.permissions.join(", ")
        ));
    }
    for d in &tools {
        out.push_str(&format!("\n## {}\n\n**{}.** {}\n\n", d.name, d.title, d.description));
        let properties = d.input["properties"].as_object().cloned().unwrap_or_default();
        let required: Vec<&str> =
            d.input["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if properties.is_empty() {
            out.push_str("No arguments.\n");
        } else {
            out.push_str("| argument | type | required | description |\n|---|---|---|---|\n");
            for (name, schema) in &properties {
                let kind = match (&schema["type"], schema["enum"].as_array()) {
                    (_, Some(values)) => values
                        .iter()
                        .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(" \\| "),
                    (Value::String(t), None) if t == "array" => {
                        let item = &schema["items"];
                        match item["format"].as_str() {
                            Some(format) => format!("array of {format}"),
                            None => format!("array of {}", item["type"].as_str().unwrap_or("values")),
                        }
                    }
                    (Value::String(_), None) if schema["format"] == "uuid" => "uuid".into(),
                    (Value::String(t), None) => t.clone(),
                    _ => "any".into(),
                };
                let description = schema["description"].as_str().unwrap_or("").replace('|', "\\|");
                let required = if required.contains(&name.as_str()) { "yes" } else { "" };
                out.push_str(&format!("| `{name}` | {kind} | {required} | {description} |\n"));
            }
        }
        let outputs: Vec<String> = d.output["properties"]
            .as_object()
            .map(|p| p.keys().map(|k| format!("`{k}`")).collect())
            .unwrap_or_default();
        out.push_str(&format!("\nReturns {}.\n", outputs.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_id_argument_is_typed() {
        let tools = all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len(), "tool names are unique");
        for tool in &tools {
            for (name, schema) in tool.input["properties"].as_object().into_iter().flatten() {
                let is_id = name == "id" || name.ends_with("Id");
                let is_id_list = name.ends_with("Ids") || name == "ids";
                if is_id {
                    assert_eq!(schema["format"], "uuid", "{}.{name} is an id", tool.name);
                }
                if is_id_list {
                    assert_eq!(schema["items"]["format"], "uuid", "{}.{name} lists ids", tool.name);
                }
            }
        }
    }
}
