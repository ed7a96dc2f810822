//! Photos: search (paged or streamed), one photo's details, several photos as images, and edits.

use super::call::{Call, Outcome, ToolError, bad_argument, finish, photo_page, result};
use super::cursor::{Cursor, StreamPosition, next_cursor};
use super::registry::{
    Streams, Threshold, Tool, any_object, cursor, id, id_list, photo_page_schema, photo_schema, schema,
};
use crate::config::Toolset;
use crate::immich::ImmichError;
use crate::immich::client::Asset;
use crate::immich::path::{ApiPath, Uuid};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};

/// The photo tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "queryPhotos",
            "Search photos",
            "Find photos and videos. `query` is free text matched by meaning (CLIP) when Immich has smart search, \
                else by file name. `text` finds words written in the photo (signs, documents: Immich's OCR). Narrow with dates \
                (ISO 8601), place, camera, people (names or ids), album, tag, favourites, type and rating. Returns compact photos (id, file name, date, place, camera, people) and a nextCursor for more.",
            &["asset.read"],
            |call| Box::pin(query_photos(call)),
        )
        .input(schema(
                json!({
                    "query": { "type": "string", "description": "What the photos show, e.g. 'sunset at the beach'." },
                    "text": { "type": "string", "description": "Words written in the photo (Immich's OCR), e.g. 'platform 3'." },
                    "takenAfter": { "type": "string", "description": "ISO 8601 date or date-time." },
                    "takenBefore": { "type": "string", "description": "ISO 8601 date or date-time." },
                    "city": { "type": "string" }, "state": { "type": "string" }, "country": { "type": "string" },
                    "make": { "type": "string", "description": "Camera make, e.g. 'Canon'." },
                    "model": { "type": "string", "description": "Camera model." },
                    "people": { "type": "array", "items": { "type": "string" }, "description": "Names or ids; every person must appear." },
                    "albumId": id(),
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
            ))
        .output(photo_page_schema(json!({})))
        .streams(Streams::Above("limit", Threshold::Page)),
        Tool::reads(
            "getPhoto",
            "Photo details",
            "Everything about one photo: dates, EXIF (camera, lens, exposure, GPS), place, people, tags. With \
                includeImage, the photo itself comes back as image content so you can look at it.",
            &["asset.read"],
            |call| Box::pin(get_photo(call)),
        )
        .input(schema(
                json!({
                    "id": id(),
                    "includeImage": { "type": "boolean", "description": "Attach the image (default false)." },
                    "imageSize": { "type": "string", "enum": ["thumbnail", "preview"], "description": "thumbnail (small webp) or preview (larger jpeg, default)." }
                }),
                &["id"],
            ))
        .output(json!({ "type": "object", "properties": { "photo": photo_schema(), "exif": any_object(),
                "tags": { "type": "array", "items": { "type": "string" } } }, "required": ["photo"] })),
        Tool::reads(
            "analyzePhotos",
            "Look at photos",
            "Look at several photos at once: metadata plus each photo as image content, for a multimodal model to \
                describe, compare or judge them. Up to 20 ids per call (configurable).",
            &["asset.read", "asset.view"],
            |call| Box::pin(analyze_photos(call)),
        )
        .input(schema(
                json!({
                    "ids": id_list("Photo ids, e.g. from queryPhotos."),
                    "imageSize": { "type": "string", "enum": ["thumbnail", "preview"], "description": "thumbnail (default, small) or preview." }
                }),
                &["ids"],
            ))
        .output(json!({ "type": "object", "properties": { "photos": { "type": "array", "items": photo_schema() },
                "skipped": { "type": "array", "items": { "type": "string" } },
                "streamId": { "type": "string", "description": "Set when more than 10 photos were asked for: their metadata also streamed as notifications/stream/data events." },
                "chunks": { "type": "integer" } }, "required": ["photos"] }))
        .streams(Streams::Above("ids", Threshold::Fixed(10))),
        Tool::reads(
            "updatePhotos",
            "Edit photos",
            "Change several photos at once: favourite, archive, rating, description, date or location. With dryRun \
                the change is only described, not made.",
            &["asset.update"],
            |call| Box::pin(update_photos(call)),
        )
        .input(schema(
                json!({
                    "ids": id_list("Photos to change."),
                    "isFavorite": { "type": "boolean" },
                    "archived": { "type": "boolean", "description": "true moves to the archive, false back to the timeline." },
                    "rating": { "type": "integer", "minimum": 0, "maximum": 5, "description": "1 to 5 stars; 0 clears the rating (unrated)." },
                    "description": { "type": "string" },
                    "takenAt": { "type": "string", "description": "New capture date-time (ISO 8601)." },
                    "latitude": { "type": "number", "minimum": -90, "maximum": 90 },
                    "longitude": { "type": "number", "minimum": -180, "maximum": 180 },
                    "dryRun": { "type": "boolean", "description": "Only describe the change (default false)." }
                }),
                &["ids"],
            ))
        .output(json!({ "type": "object", "properties": { "updated": { "type": "integer" }, "dryRun": { "type": "boolean" }, "changes": any_object() },
                "required": ["updated", "dryRun", "changes"] }))
        .writes(true)
        .toolset(Toolset::Organize),
    ]
}

async fn query_photos(call: &Call<'_>) -> Outcome {
    if let Some(token) = call.str_arg("resumeToken") {
        return resume_photos(call, token).await;
    }
    let (smart, filter, page, size, skip) = match call.str_arg("cursor") {
        Some(cursor) => {
            let c = Cursor::decode_arg(cursor)?;
            (c.smart, c.filter, c.page, c.size, c.skip)
        }
        None => {
            let mut filter = json!({ "withExif": true, "withPeople": true });
            for (arg, field) in
                [("city", "city"), ("state", "state"), ("country", "country"), ("make", "make"), ("model", "model")]
                    .into_iter()
                    .chain([("type", "type"), ("order", "order")])
            {
                if let Some(value) = call.str_arg(arg) {
                    filter[field] = json!(value);
                }
            }
            if let Some(text) = call.str_arg("text") {
                filter["ocr"] = json!(text);
            }
            if let Some(album) = call.optional_uuid("albumId")? {
                filter["albumIds"] = json!([album]);
            }
            // Immich wants full date-times; a bare date covers its whole day.
            if let Some(after) = call.date_bound("takenAfter", false)? {
                filter["takenAfter"] = json!(after);
            }
            if let Some(before) = call.date_bound("takenBefore", true)? {
                filter["takenBefore"] = json!(before);
            }
            let tags = call.uuids("tagIds")?;
            if !tags.is_empty() {
                filter["tagIds"] = json!(tags);
            }
            if let Some(favorite) = call.args["isFavorite"].as_bool() {
                filter["isFavorite"] = json!(favorite);
            }
            if let Some(rating) = call.args["rating"].as_u64() {
                filter["rating"] = json!(rating);
            }
            let people = call.strings("people");
            if !people.is_empty() {
                filter["personIds"] = json!(resolve_people(call, &people).await?);
            }
            let mut smart = false;
            if let Some(query) = call.str_arg("query") {
                if call.catalog.smart_search(call.key).await {
                    filter["query"] = json!(query);
                    smart = true;
                } else {
                    filter["originalFileName"] = json!(query);
                }
            }
            (smart, filter, 1, call.limit() as u64, 0)
        }
    };
    let wanted = call.args["limit"].as_u64().unwrap_or(size);
    if wanted > call.catalog.page_cap as u64 && call.str_arg("cursor").is_none() {
        let page_size = 1000u64.min(wanted.max(call.catalog.streaming.chunk_size as u64));
        if let Some(stream) = call.admit_stream("queryPhotos") {
            let start = Cursor { smart, filter: filter.clone(), page: 1, size: page_size, skip: 0 };
            return call.stream_photos(stream, 0, wanted, start).await;
        }
        // No stream: a page instead, if there is room for it.
        let _room = call.room_for_page(size)?;
        return photo_search_page(call, smart, &filter, page, size, skip).await;
    }
    photo_search_page(call, smart, &filter, page, size, skip).await
}

/// One page of photos and the cursor after it.
pub(crate) async fn photo_search_page(
    call: &Call<'_>,
    smart: bool,
    filter: &Value,
    page: u64,
    size: u64,
    skip: u64,
) -> Outcome {
    let result = call.client().search_page(call.key, smart, filter, page, size).await?;
    let next = next_cursor(smart, filter, result.next_page, size);
    let unseen = result.items.into_iter().skip(skip as usize).map(|a| call.photo(a)).collect();
    Ok(photo_page(unseen, next, Map::new(), "photos"))
}

/// Continues an interrupted stream right after the event whose `resumeToken` the client holds,
/// on whichever replica receives the call: the token carries the whole position.
async fn resume_photos(call: &Call<'_>, token: &str) -> Outcome {
    let position = StreamPosition::open(&call.cx.input, token)?;
    let Some(cursor) = position.cursor.clone() else {
        let text = format!("Stream {} had already delivered all {} photos.", position.stream_id, position.sent);
        return Ok(result(
            json!({ "photos": [], "count": 0, "nextCursor": null, "streamId": position.stream_id, "chunks": 0 }),
            text,
            Vec::new(),
        ));
    };
    match call.admit_stream("queryPhotos") {
        Some(stream) => {
            // The stream keeps its id, and its sequence numbers go on after the token's event.
            let stream = super::stream::ResultStream { id: position.stream_id, sequence: position.sequence, ..stream };
            call.stream_photos(stream, position.sent, position.wanted, cursor).await
        }
        // A reply that cannot stream continues page by page from the same place.
        None => {
            let _room = call.room_for_page(cursor.size)?;
            photo_search_page(call, cursor.smart, &cursor.filter, cursor.page, cursor.size, cursor.skip).await
        }
    }
}

/// Names or ids → person ids (names matched case-insensitively against `GET /people`).
async fn resolve_people(call: &Call<'_>, wanted: &[String]) -> Result<Vec<Uuid>, ToolError> {
    let parsed: Vec<Option<Uuid>> = wanted.iter().map(|w| Uuid::parse(w)).collect();
    if parsed.iter().all(Option::is_some) {
        return Ok(parsed.into_iter().flatten().collect());
    }
    let listing: Value = call
        .client()
        .get(call.key, &ApiPath::fixed("/api/people"), &[("size", "1000".into()), ("withHidden", "true".into())])
        .await?;
    let people = listing["people"].as_array().cloned().unwrap_or_default();
    wanted
        .iter()
        .zip(parsed)
        .map(|(name, id)| {
            if let Some(id) = id {
                return Ok(id);
            }
            people
                .iter()
                .find(|p| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .and_then(|p| p["id"].as_str().and_then(Uuid::parse))
                .ok_or_else(|| {
                    bad_argument(format!("no person named {name:?}; listPeople shows the names Immich knows"))
                })
        })
        .collect()
}

async fn get_photo(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let path = ApiPath::fixed("/api/assets").id(&id);
    // The whole EXIF is shown here, so the asset is read as JSON first and typed from it.
    let raw: Value = call.client().get(call.key, &path, &[]).await?;
    let exif = raw.get("exifInfo").and_then(Value::as_object).cloned();
    let mut asset: Asset =
        serde_json::from_value(raw).map_err(|e| crate::immich::ImmichError::Malformed(format!("GET {path}: {e}")))?;
    let tags: Vec<String> = asset.tags.take().into_iter().flatten().map(|t| t.value).collect();
    let photo = call.photo(asset);
    let mut text = photo.render();
    if let Some(exif) = &exif {
        let pick = |k: &str| exif.get(k).filter(|v| !v.is_null()).map(|v| v.to_string().trim_matches('"').to_string());
        let details: Vec<String> = [
            ("lens", "lensModel"),
            ("f", "fNumber"),
            ("focal", "focalLength"),
            ("iso", "iso"),
            ("exposure", "exposureTime"),
            ("lat", "latitude"),
            ("lon", "longitude"),
        ]
        .iter()
        .filter_map(|(label, key)| pick(key).map(|v| format!("{label} {v}")))
        .collect();
        if !details.is_empty() {
            text.push_str(&format!("\n{}", details.join(" · ")));
        }
    }
    if !tags.is_empty() {
        text.push_str(&format!("\ntags: {}", tags.join(", ")));
    }
    let structured = json!({ "photo": photo, "exif": exif, "tags": tags });
    let mut images = Vec::new();
    if call.args["includeImage"].as_bool().unwrap_or(false) {
        let size = call.str_arg("imageSize").unwrap_or("preview");
        images
            .push(call.client().thumbnail(call.key, &id, size, call.catalog.config.max_image_bytes.as_usize()).await?);
    }
    Ok(result(structured, text, images))
}

async fn analyze_photos(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("ids")?;
    let max = call.catalog.config.analyze_max_photos;
    if ids.len() > max {
        return Err(bad_argument(format!("at most {max} photos per call; split the ids into several calls")));
    }
    let size = call.str_arg("imageSize").unwrap_or("thumbnail");
    let mut photos = Vec::new();
    let mut skipped = Vec::new();
    let mut content = Vec::new();
    // The streaming guide: more than 10 photos stream — each photo's metadata goes out as a data
    // event as soon as it is read (chunks of chunk_size, or every flush_interval); the images come
    // in the result.
    let mut stream = if ids.len() > 10 { call.admit_stream("analyzePhotos") } else { None };
    let streaming = &call.catalog.streaming;
    let (mut batch, mut streamed, mut flushed) = (Vec::new(), 0, std::time::Instant::now());
    let wanted = ids.len() as u64;
    // Images returned, and the first permission refusal among those that could not be.
    let (mut images, mut forbidden) = (0usize, None::<String>);
    for (n, id) in ids.iter().enumerate() {
        if call.cx.cancel.is_cancelled() {
            break;
        }
        call.cx.progress(n as f64, Some(ids.len() as f64), Some("fetching photos")).await;
        let asset: Result<Asset, _> = call.client().get(call.key, &ApiPath::fixed("/api/assets").id(id), &[]).await;
        let image = match &asset {
            Ok(_) => {
                Some(call.client().thumbnail(call.key, id, size, call.catalog.config.max_image_bytes.as_usize()).await)
            }
            Err(_) => None,
        };
        match (asset, image) {
            (Ok(asset), Some(Ok((bytes, mime)))) => {
                let photo = call.photo(asset);
                content.push(ContentBlock::text(format!("{}. {}", n + 1, photo.render())));
                content.push(ContentBlock::image(STANDARD.encode(&bytes), mime));
                photos.push(photo);
                images += 1;
            }
            (Ok(asset), image) => {
                let photo = call.photo(asset);
                skipped.push(photo.id.clone());
                // Why there is no image, in Immich's words (a key without asset.view said nothing).
                let why = match image {
                    Some(Err(e)) => {
                        if let ImmichError::Forbidden(m) = &e {
                            forbidden.get_or_insert_with(|| m.clone());
                        }
                        e.for_model()
                    }
                    _ => "unavailable".to_string(),
                };
                content.push(ContentBlock::text(format!("{}. {} (no image: {why})", n + 1, photo.render())));
                photos.push(photo);
            }
            (Err(e), _) => {
                skipped.push(id.to_string());
                content.push(ContentBlock::text(format!("{}. {id}: {}", n + 1, e.for_model())));
            }
        }
        if let Some(stream) = stream.as_mut() {
            // The photo just read (if it could be) goes out with the next data event.
            if photos.len() > streamed {
                batch.push(photos[photos.len() - 1].clone());
                streamed = photos.len();
            }
            let last = n + 1 == ids.len();
            if last || batch.len() >= streaming.chunk_size || flushed.elapsed() >= streaming.flush_interval.0 {
                call.send_data_event(stream, &mut batch, n as u64 + 1, wanted, None, "photos").await;
                flushed = std::time::Instant::now();
            }
        }
    }
    // Not one image, because the key may not view them: the call failed, and says why.
    if images == 0
        && let Some(message) = forbidden
    {
        return Err(ImmichError::Forbidden(message).into());
    }
    let mut result = CallToolResult::success(content);
    let mut structured = json!({ "photos": photos, "skipped": skipped });
    if let Some(stream) = &stream {
        stream.describe(&mut structured);
    }
    result.structured_content = Some(structured);
    Ok(finish(result))
}

async fn update_photos(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("ids")?;
    let mut changes = Map::new();
    if let Some(v) = call.args["isFavorite"].as_bool() {
        changes.insert("isFavorite".into(), json!(v));
    }
    if let Some(v) = call.args["archived"].as_bool() {
        changes.insert("visibility".into(), json!(if v { "archive" } else { "timeline" }));
    }
    if let Some(v) = call.args["rating"].as_u64() {
        // Immich v3 refuses 0; "unrated" is null on v2 and v3 alike.
        changes.insert("rating".into(), if v == 0 { Value::Null } else { json!(v) });
    }
    if let Some(v) = call.str_arg("description") {
        changes.insert("description".into(), json!(v));
    }
    if let Some(v) = call.date_arg("takenAt")? {
        changes.insert("dateTimeOriginal".into(), json!(v));
    }
    match (call.args["latitude"].as_f64(), call.args["longitude"].as_f64()) {
        (Some(lat), Some(lon)) => {
            changes.insert("latitude".into(), json!(lat));
            changes.insert("longitude".into(), json!(lon));
        }
        (None, None) => {}
        _ => return Err(bad_argument("latitude and longitude go together")),
    }
    if changes.is_empty() {
        return Err(bad_argument(
            "nothing to change: give isFavorite, archived, rating, description, takenAt or latitude+longitude",
        ));
    }
    let described = changes.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ");
    if call.args["dryRun"].as_bool().unwrap_or(false) {
        // A dry run says what the key could do: one that may not update photos is told so.
        call.may("asset.update").await?;
        return Ok(result(
            json!({ "updated": 0, "dryRun": true, "changes": changes }),
            format!("Dry run: would set {described} on {} photos.", ids.len()),
            Vec::new(),
        ));
    }
    let mut body = Value::Object(changes.clone());
    body["ids"] = json!(ids);
    call.client().write_empty(call.key, reqwest::Method::PUT, &ApiPath::fixed("/api/assets"), &body).await?;
    Ok(result(
        json!({ "updated": ids.len(), "dryRun": false, "changes": changes }),
        format!("Set {described} on {} photos.", ids.len()),
        Vec::new(),
    ))
}
