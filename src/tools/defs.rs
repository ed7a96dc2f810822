//! The Immich tools as MCP clients see them: stable names, titles, descriptions written for a
//! model, input and output JSON Schemas, annotations, and the Immich permissions each needs. The
//! tool reference (`docs/tools.md`) is generated from these same definitions.

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One tool's definition.
pub struct ToolDef {
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
}

impl ToolDef {
    /// The MCP `Tool`, built with the official SDK's model type.
    pub fn tool(&self) -> Tool {
        let annotations = ToolAnnotations::with_title(self.title)
            .read_only(!self.writes)
            .destructive(self.destructive)
            .idempotent(!self.writes || self.name == "updatePhotos")
            .open_world(false);
        Tool::new(self.name, self.description, Arc::new(object(&self.input)))
            .with_title(self.title)
            .with_annotations(annotations)
            .with_raw_output_schema(Arc::new(object(&self.output)))
    }
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// A compact photo as tools return it.
fn photo_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "fileName": { "type": "string" }, "type": { "type": "string" },
        "takenAt": { "type": ["string", "null"] }, "favorite": { "type": "boolean" },
        "city": { "type": ["string", "null"] }, "country": { "type": ["string", "null"] },
        "camera": { "type": ["string", "null"] }, "people": { "type": "array", "items": { "type": "string" } },
        "width": { "type": ["integer", "null"] }, "height": { "type": ["integer", "null"] } },
        "required": ["id", "fileName", "type"] })
}

fn photo_page_schema(extra: Value) -> Value {
    let mut properties = json!({
        "photos": { "type": "array", "items": photo_schema() },
        "count": { "type": "integer" },
        "nextCursor": { "type": ["string", "null"], "description": "Pass as cursor to get the next page; null when there are no more." },
        "streamId": { "type": "string", "description": "Set when the photos were streamed; `photos` then holds only the first ones." },
        "chunks": { "type": "integer" },
        "stoppedBy": { "type": "string", "description": "Set when a stream ended early (`stream_timeout`); nextCursor continues after the last photo sent." }
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({ "type": "object", "properties": properties, "required": ["photos", "count", "nextCursor"] })
}

fn id_list(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": 1000, "description": description })
}

fn limit() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 1000, "description": "Results per page (default 50)." })
}

fn cursor() -> Value {
    json!({ "type": "string", "description": "The nextCursor of a previous call, to continue." })
}

fn any_object() -> Value {
    json!({ "type": "object" })
}

/// Every Immich tool, in listing order.
pub fn all() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "queryPhotos",
            title: "Search photos",
            description: "Find photos and videos. `query` is free text matched by meaning (CLIP) when Immich has smart search, \
                else by file name. Narrow with dates (ISO 8601), place, camera, people (names or ids), album, tag, favourites, type \
                and rating. Returns compact photos (id, file name, date, place, camera, people) and a nextCursor for more.",
            input: schema(
                json!({
                    "query": { "type": "string", "description": "What the photos show, e.g. 'sunset at the beach'." },
                    "takenAfter": { "type": "string", "description": "ISO 8601 date or date-time." },
                    "takenBefore": { "type": "string", "description": "ISO 8601 date or date-time." },
                    "city": { "type": "string" }, "state": { "type": "string" }, "country": { "type": "string" },
                    "make": { "type": "string", "description": "Camera make, e.g. 'Canon'." },
                    "model": { "type": "string", "description": "Camera model." },
                    "people": { "type": "array", "items": { "type": "string" }, "description": "Names or ids; every person must appear." },
                    "albumId": { "type": "string", "format": "uuid" },
                    "tagIds": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                    "isFavorite": { "type": "boolean" },
                    "type": { "type": "string", "enum": ["IMAGE", "VIDEO"] },
                    "rating": { "type": "integer", "minimum": 1, "maximum": 5, "description": "Exact star rating." },
                    "order": { "type": "string", "enum": ["asc", "desc"], "description": "By capture date; newest first by default." },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10000000,
                        "description": "How many photos (default 50). Above [streaming].auto_stream_threshold (500) they stream as notifications/stream/data events when the reply is SSE; otherwise pages of 500 come with a cursor." },
                    "cursor": cursor(),
                    "resumeToken": { "type": "string",
                        "description": "The resumeToken of the last notifications/stream/data event received, to continue an interrupted stream right after it (other arguments are then ignored)." }
                }),
                &[],
            ),
            output: photo_page_schema(json!({})),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getPhoto",
            title: "Photo details",
            description: "Everything about one photo: dates, EXIF (camera, lens, exposure, GPS), place, people, tags. With \
                includeImage, the photo itself comes back as image content so you can look at it.",
            input: schema(
                json!({
                    "id": { "type": "string", "format": "uuid" },
                    "includeImage": { "type": "boolean", "description": "Attach the image (default false)." },
                    "imageSize": { "type": "string", "enum": ["thumbnail", "preview"], "description": "thumbnail (small webp) or preview (larger jpeg, default)." }
                }),
                &["id"],
            ),
            output: json!({ "type": "object", "properties": { "photo": photo_schema(), "exif": any_object(),
                "tags": { "type": "array", "items": { "type": "string" } } }, "required": ["photo"] }),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "analyzePhotos",
            title: "Look at photos",
            description: "Look at several photos at once: metadata plus each photo as image content, for a multimodal model to \
                describe, compare or judge them. Up to 20 ids per call (configurable).",
            input: schema(
                json!({
                    "ids": id_list("Photo ids, e.g. from queryPhotos."),
                    "imageSize": { "type": "string", "enum": ["thumbnail", "preview"], "description": "thumbnail (default, small) or preview." }
                }),
                &["ids"],
            ),
            output: json!({ "type": "object", "properties": { "photos": { "type": "array", "items": photo_schema() },
                "skipped": { "type": "array", "items": { "type": "string" } },
                "streamId": { "type": "string", "description": "Set when more than 10 photos were asked for: their metadata also streamed as notifications/stream/data events." },
                "chunks": { "type": "integer" } }, "required": ["photos"] }),
            permissions: &["asset.read", "asset.view"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "exportPhotos",
            title: "Export photos",
            description: "Package photos (by ids) or a whole album as zip downloads. Returns the total size and one link per \
                archive (Immich splits large exports); each link streams its zip from the gateway and stays valid for a day.",
            input: schema(
                json!({
                    "ids": { "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": 500, "description": "Photos to export (up to 500; for more, export an album)." },
                    "albumId": { "type": "string", "format": "uuid", "description": "Export this whole album instead." },
                    "archiveSize": { "type": "integer", "minimum": 1048576, "description": "Largest archive in bytes (Immich's default 4 GiB)." }
                }),
                &[],
            ),
            output: json!({ "type": "object", "properties": { "totalSize": { "type": "integer" }, "photoCount": { "type": "integer" },
                "archives": { "type": "array", "items": { "type": "object", "properties": { "index": { "type": "integer" }, "size": { "type": "integer" },
                "photoCount": { "type": "integer" }, "url": { "type": "string" } }, "required": ["index", "size", "photoCount", "url"] } } },
                "required": ["totalSize", "photoCount", "archives"] }),
            permissions: &["asset.download"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "listAlbums",
            title: "List albums",
            description: "All albums with their photo counts and date ranges.",
            input: schema(
                json!({ "shared": { "type": "boolean", "description": "Only shared (true) or only not shared (false)." } }),
                &[],
            ),
            output: json!({ "type": "object", "properties": { "albums": { "type": "array", "items": any_object() } }, "required": ["albums"] }),
            permissions: &["album.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getAlbum",
            title: "Album and its photos",
            description: "One album's details and a page of its photos (newest first), with a nextCursor for more.",
            input: schema(
                json!({ "id": { "type": "string", "format": "uuid" }, "cursor": cursor(),
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10000000,
                        "description": "Photos to return (default 50). Above [streaming].auto_stream_threshold (500) a big album's photos stream as notifications/stream/data events when the reply is SSE; otherwise pages of 500 come with a cursor." } }),
                &["id"],
            ),
            output: photo_page_schema(json!({ "album": any_object() })),
            permissions: &["album.read", "asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "createAlbum",
            title: "Create an album",
            description: "Create an album, optionally with photos in it.",
            input: schema(
                json!({ "name": { "type": "string", "minLength": 1 }, "description": { "type": "string" },
                "photoIds": id_list("Photos to put in it.") }),
                &["name"],
            ),
            output: json!({ "type": "object", "properties": { "album": any_object() }, "required": ["album"] }),
            permissions: &["album.create"],
            writes: true,
            destructive: false,
        },
        ToolDef {
            name: "addToAlbum",
            title: "Add photos to an album",
            description: "Add photos to an album. Reports, per photo, whether it was added or already there.",
            input: schema(
                json!({ "albumId": { "type": "string", "format": "uuid" }, "photoIds": id_list("Photos to add.") }),
                &["albumId", "photoIds"],
            ),
            output: json!({ "type": "object", "properties": { "added": { "type": "integer" }, "results": { "type": "array", "items": any_object() } }, "required": ["added", "results"] }),
            permissions: &["albumAsset.create"],
            writes: true,
            destructive: false,
        },
        ToolDef {
            name: "removeFromAlbum",
            title: "Remove photos from an album",
            description: "Take photos out of an album (the photos themselves stay in the library).",
            input: schema(
                json!({ "albumId": { "type": "string", "format": "uuid" }, "photoIds": id_list("Photos to remove.") }),
                &["albumId", "photoIds"],
            ),
            output: json!({ "type": "object", "properties": { "removed": { "type": "integer" }, "results": { "type": "array", "items": any_object() } }, "required": ["removed", "results"] }),
            permissions: &["albumAsset.delete"],
            writes: true,
            destructive: true,
        },
        ToolDef {
            name: "listPeople",
            title: "List people",
            description: "People Immich recognised in the library. Use their names or ids in queryPhotos to find their photos.",
            input: schema(json!({ "withHidden": { "type": "boolean" }, "limit": limit(), "cursor": cursor() }), &[]),
            output: json!({ "type": "object", "properties": { "people": { "type": "array", "items": any_object() }, "total": { "type": "integer" },
                "nextCursor": { "type": ["string", "null"] } }, "required": ["people", "nextCursor"] }),
            permissions: &["person.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getPerson",
            title: "Person details",
            description: "One person and how many photos they are in.",
            input: schema(json!({ "id": { "type": "string", "format": "uuid" } }), &["id"]),
            output: json!({ "type": "object", "properties": { "person": any_object(), "photoCount": { "type": "integer" } }, "required": ["person", "photoCount"] }),
            permissions: &["person.read", "person.statistics"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "listTags",
            title: "List tags",
            description: "All tags, with their full paths (e.g. 'trip/2020').",
            input: schema(json!({}), &[]),
            output: json!({ "type": "object", "properties": { "tags": { "type": "array", "items": any_object() } }, "required": ["tags"] }),
            permissions: &["tag.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "tagPhotos",
            title: "Tag photos",
            description: "Tag photos. Give tag paths like 'trip/2024' (created when missing) or existing tag ids.",
            input: schema(
                json!({ "photoIds": id_list("Photos to tag."), "tags": { "type": "array", "items": { "type": "string" }, "minItems": 1,
                "description": "Tag paths (created when missing) or tag ids." } }),
                &["photoIds", "tags"],
            ),
            output: json!({ "type": "object", "properties": { "tagged": { "type": "integer" }, "tags": { "type": "array", "items": any_object() } }, "required": ["tagged"] }),
            permissions: &["tag.create", "tag.asset"],
            writes: true,
            destructive: false,
        },
        ToolDef {
            name: "getTimeline",
            title: "Timeline overview",
            description: "How many photos each month has, newest first — a quick map of when things happened.",
            input: schema(
                json!({ "albumId": { "type": "string", "format": "uuid" }, "personId": { "type": "string", "format": "uuid" },
                "isFavorite": { "type": "boolean" } }),
                &[],
            ),
            output: json!({ "type": "object", "properties": { "months": { "type": "array", "items": any_object() }, "total": { "type": "integer" } }, "required": ["months", "total"] }),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getTimelineBucket",
            title: "Photos of a month",
            description: "The photos of one month of the timeline (e.g. '2024-09'), one row each.",
            input: schema(
                json!({ "month": { "type": "string", "description": "YYYY-MM or YYYY-MM-01." }, "albumId": { "type": "string", "format": "uuid" },
                "personId": { "type": "string", "format": "uuid" }, "limit": limit() }),
                &["month"],
            ),
            output: json!({ "type": "object", "properties": { "photos": { "type": "array", "items": any_object() }, "count": { "type": "integer" } }, "required": ["photos", "count"] }),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getMapMarkers",
            title: "Photos on the map",
            description: "Where geotagged photos were taken, optionally inside a bounding box and a date range. Can be large: \
                use limit, or a smaller box.",
            input: schema(
                json!({
                    "west": { "type": "number" }, "south": { "type": "number" }, "east": { "type": "number" }, "north": { "type": "number" },
                    "takenAfter": { "type": "string" }, "takenBefore": { "type": "string" }, "isFavorite": { "type": "boolean" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10000000, "description": "Most markers returned (default 500). Above [streaming].auto_stream_threshold (500) they stream as notifications/stream/data events when the reply is SSE." }
                }),
                &[],
            ),
            output: json!({ "type": "object", "properties": { "markers": { "type": "array", "items": any_object() }, "count": { "type": "integer" },
                "truncated": { "type": "boolean" },
                "streamId": { "type": "string", "description": "Set when the markers were streamed; `markers` then holds only the first ones." },
                "chunks": { "type": "integer" } }, "required": ["markers", "count", "truncated"] }),
            permissions: &["map.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "listMemories",
            title: "Memories",
            description: "Immich's 'on this day' memories: photos from the same date in earlier years.",
            input: schema(json!({ "date": { "type": "string", "description": "ISO date; today by default." } }), &[]),
            output: json!({ "type": "object", "properties": { "memories": { "type": "array", "items": any_object() } }, "required": ["memories"] }),
            permissions: &["memory.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getLibraryStatistics",
            title: "Library statistics",
            description: "How many photos, videos and albums the library has.",
            input: schema(json!({}), &[]),
            output: json!({ "type": "object", "properties": { "images": { "type": "integer" }, "videos": { "type": "integer" }, "total": { "type": "integer" },
                "albums": any_object() }, "required": ["images", "videos", "total"] }),
            permissions: &["asset.statistics", "album.statistics"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "searchPlaces",
            title: "Find a place",
            description: "Look up a place by name (for coordinates or spelling before searching photos by place).",
            input: schema(json!({ "name": { "type": "string", "minLength": 1 } }), &["name"]),
            output: json!({ "type": "object", "properties": { "places": { "type": "array", "items": any_object() } }, "required": ["places"] }),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "getSuggestions",
            title: "Known values",
            description: "The values that exist in the library for a field — countries, states, cities, camera makes, models or \
                lenses — to spell filters of queryPhotos exactly.",
            input: schema(
                json!({ "field": { "type": "string", "enum": ["country", "state", "city", "camera-make", "camera-model", "camera-lens-model"] },
                "country": { "type": "string" }, "make": { "type": "string" } }),
                &["field"],
            ),
            output: json!({ "type": "object", "properties": { "values": { "type": "array", "items": { "type": "string" } } }, "required": ["values"] }),
            permissions: &["asset.read"],
            writes: false,
            destructive: false,
        },
        ToolDef {
            name: "updatePhotos",
            title: "Edit photos",
            description: "Change several photos at once: favourite, archive, rating, description, date or location. With dryRun \
                the change is only described, not made.",
            input: schema(
                json!({
                    "ids": id_list("Photos to change."),
                    "isFavorite": { "type": "boolean" },
                    "archived": { "type": "boolean", "description": "true moves to the archive, false back to the timeline." },
                    "rating": { "type": "integer", "minimum": 0, "maximum": 5, "description": "0 clears the rating." },
                    "description": { "type": "string" },
                    "takenAt": { "type": "string", "description": "New capture date-time (ISO 8601)." },
                    "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
                    "longitude": { "type": "number", "minimum": -180, "maximum": 180 },
                    "dryRun": { "type": "boolean", "description": "Only describe the change (default false)." }
                }),
                &["ids"],
            ),
            output: json!({ "type": "object", "properties": { "updated": { "type": "integer" }, "dryRun": { "type": "boolean" }, "changes": any_object() },
                "required": ["updated", "dryRun", "changes"] }),
            permissions: &["asset.update"],
            writes: true,
            destructive: false,
        },
    ]
}

/// The tool reference (`docs/tools.md`), generated from the definitions above so that it cannot
/// drift from what the server lists. Regenerate with `immich-mcp-gateway --tool-reference > docs/tools.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Immich tools\n\nGenerated from `src/tools/defs.rs` by `immich-mcp-gateway --tool-reference`; a test fails when this file is stale.\n\n\
         Every tool returns `structuredContent` (matching its output schema) and a compact text rendering. Immich failures come back as \
         results with `isError: true` and Immich's own message. Tools the Immich key lacks permissions for are hidden (or marked \
         unavailable with `[tools] hide_unavailable = false`); `[tools] read_only = true` hides every tool that writes.\n\n\
         | tool | title | reads/writes | Immich permissions |\n|---|---|---|---|\n",
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
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            d.name,
            d.name.to_lowercase(),
            d.title,
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
                        format!("array of {}", schema["items"]["type"].as_str().unwrap_or("values"))
                    }
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
