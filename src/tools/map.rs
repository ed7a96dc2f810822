//! The map: where photos were taken (streamed when there are many), and places by name.

use super::call::{Call, Outcome, result};
use super::registry::{Streams, Threshold, Tool, any_object, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The map tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "getMapMarkers",
            "Photos on the map",
            "Where geotagged photos were taken, optionally inside a bounding box and a date range. Can be large: \
                use limit, or a smaller box.",
            &["map.read"],
            |call| Box::pin(get_map_markers(call)),
        )
        .input(schema(
                json!({
                    "west": { "type": "number" }, "south": { "type": "number" }, "east": { "type": "number" }, "north": { "type": "number" },
                    "takenAfter": { "type": "string" }, "takenBefore": { "type": "string" }, "isFavorite": { "type": "boolean" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 10000000, "description": "Most markers returned (default 500). Above [streaming].auto_stream_threshold (500) they stream as notifications/stream/data events when the reply is SSE." }
                }),
                &[],
            ))
        .output(output(
                json!({ "markers": { "type": "array", "items": any_object() }, "count": { "type": "integer" },
                    "truncated": { "type": "boolean" },
                    "streamId": { "type": "string", "description": "Set when the markers were streamed; `markers` then holds only the first ones." },
                    "chunks": { "type": "integer" } }),
                &["markers", "count", "truncated"],
            ))
        .streams(Streams::Above("limit", Threshold::Page)),
        Tool::reads(
            "searchPlaces",
            "Find a place",
            "Look up a place by name (for coordinates or spelling before searching photos by place).",
            &["asset.read"],
            |call| Box::pin(search_places(call)),
        )
        .input(schema(json!({ "name": { "type": "string", "minLength": 1 } }), &["name"]))
        .output(output(json!({ "places": { "type": "array", "items": any_object() } }), &["places"])),
    ]
}

async fn get_map_markers(call: &Call<'_>) -> Outcome {
    let mut query = Vec::new();
    for (arg, field, end) in [("takenAfter", "fileCreatedAfter", false), ("takenBefore", "fileCreatedBefore", true)] {
        if let Some(bound) = call.date_bound(arg, end)? {
            query.push((field, bound));
        }
    }
    if let Some(f) = call.args["isFavorite"].as_bool() {
        query.push(("isFavorite", f.to_string()));
    }
    let bound = |k: &str| call.args[k].as_f64();
    let inside = |m: &Value| {
        let (lat, lon) = (m["lat"].as_f64().unwrap_or(f64::NAN), m["lon"].as_f64().unwrap_or(f64::NAN));
        bound("south").is_none_or(|s| lat >= s)
            && bound("north").is_none_or(|n| lat <= n)
            && bound("west").is_none_or(|w| lon >= w)
            && bound("east").is_none_or(|e| lon <= e)
    };
    let asked = call.args["limit"].as_u64().unwrap_or(500).max(1);
    let page_cap = call.catalog.page_cap as u64;
    // Markers are read one by one as Immich's (possibly huge) array arrives; only the first
    // `limit` are kept — or, above the threshold on a streaming reply, sent in chunks. Without a
    // stream at most a page is kept, whatever was asked.
    let mut stream = if asked > page_cap { call.admit_stream("getMapMarkers") } else { None };
    // Without a stream, every marker kept weighs on the gateway's buffer budget until the answer
    // is out; past the budget no more are kept (the result says it is truncated).
    let mut room = if asked > page_cap && stream.is_none() { Some(call.room_for_page(page_cap)?) } else { None };
    let limit = asked;
    let mut reader = call.client().get_array(call.key, &ApiPath::fixed("/api/map/markers"), &query).await?;
    let chunk_size = call.catalog.streaming.chunk_size;
    let (mut kept, mut batch, mut sent) = (Vec::new(), Vec::new(), 0u64);
    let mut matching = 0u64;
    let mut places: std::collections::BTreeMap<String, usize> = Default::default();
    loop {
        // A cancelled call stops reading; its result goes to no one.
        let marker = tokio::select! {
            marker = reader.next::<Value>() => marker,
            () = call.cx.cancel.cancelled() => break,
        };
        let Some(marker) = marker else { break };
        let marker = marker?;
        if !inside(&marker) {
            continue;
        }
        matching += 1;
        *places.entry(marker["city"].as_str().unwrap_or("unknown place").to_string()).or_default() += 1;
        let taken = if stream.is_some() { sent + batch.len() as u64 } else { kept.len() as u64 };
        if taken >= limit {
            continue;
        }
        match stream.as_mut() {
            Some(stream) => {
                if kept.len() < 20 {
                    kept.push(marker.clone());
                }
                batch.push(marker);
                if batch.len() >= chunk_size {
                    sent += batch.len() as u64;
                    call.send_data_event(stream, &mut batch, sent, limit, None, "markers").await;
                }
            }
            None => {
                if let Some(room) = room.as_mut() {
                    if crate::stream::stats::budget_exhausted(&call.catalog.streaming) {
                        continue;
                    }
                    room.grow(MARKER_BYTES);
                }
                kept.push(marker)
            }
        }
    }
    if let Some(stream) = stream.as_mut() {
        sent += batch.len() as u64;
        call.send_data_event(stream, &mut batch, sent, sent, None, "markers").await;
    }
    let summary = places.iter().rev().take(20).map(|(city, n)| format!("{city}: {n}")).collect::<Vec<_>>().join(", ");
    let returned = if stream.is_some() { sent } else { kept.len() as u64 };
    let truncated = matching > returned;
    let how = match &stream {
        Some(stream) => format!(", {returned} streamed in {} chunks", stream.sequence),
        None => String::new(),
    };
    let text = format!(
        "{matching} geotagged photos{}{how}. By place: {summary}",
        if truncated { format!(" ({returned} returned)") } else { String::new() }
    );
    let mut structured = json!({ "markers": kept, "count": matching, "truncated": truncated });
    if let Some(stream) = &stream {
        stream.describe(&mut structured);
    }
    Ok(result(structured, text, Vec::new()))
}

/// About what one marker weighs, in memory and in the answer.
const MARKER_BYTES: usize = 256;

async fn search_places(call: &Call<'_>) -> Outcome {
    let name = call.str_arg("name").unwrap_or_default().to_string();
    let places: Vec<Value> =
        call.client().get(call.key, &ApiPath::fixed("/api/search/places"), &[("name", name)]).await?;
    let text = if places.is_empty() {
        "No place by that name.".to_string()
    } else {
        places
            .iter()
            .map(|p| {
                format!(
                    "{} ({}) {:.4}, {:.4}",
                    p["name"].as_str().unwrap_or("?"),
                    p["admin1name"].as_str().unwrap_or(""),
                    p["latitude"].as_f64().unwrap_or(0.0),
                    p["longitude"].as_f64().unwrap_or(0.0)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(result(json!({ "places": places }), text, Vec::new()))
}
