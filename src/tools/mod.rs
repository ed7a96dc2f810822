//! The Immich tool catalogue: [`defs`] says what each tool is; this module runs them over the
//! typed client. Results are built with the official SDK's model types (`CallToolResult`,
//! `ContentBlock`): `structuredContent` for programs plus a compact text rendering for the model.
//! Every Immich failure becomes a tool result with `isError: true` and Immich's own message.

mod ahead;
pub mod defs;
pub mod export;
pub mod photo;

use crate::config::{StreamingConfig, ToolsConfig};
use crate::immich::client::{Asset, ImmichClient, ImmichError};
use crate::mcp::catalog::{CallContext, Catalog, StreamData, ToolSpec, tool_error};
use crate::mcp::jsonrpc::RpcError;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use defs::ToolDef;
use photo::Photo;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OnceCell;

/// What the gateway's Immich key may do, as last read from `GET /api/api-keys/me`, with a version
/// that changes whenever the set does (the tool list is rebuilt then).
#[derive(Default)]
pub struct KeyPermissions {
    version: AtomicU64,
    set: arc_swap::ArcSwapOption<HashSet<String>>,
}

impl KeyPermissions {
    /// The current set (`None`: unknown, so every tool is listed) and its version.
    pub fn snapshot(&self) -> (u64, Option<Arc<HashSet<String>>>) {
        (self.version.load(Ordering::Acquire), self.set.load_full())
    }

    /// Stores a freshly read set; bumps the version only when it changed.
    pub fn update(&self, permissions: Option<HashSet<String>>) {
        let current = self.set.load_full();
        if current.as_deref() != permissions.as_ref() {
            self.set.store(permissions.map(Arc::new));
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The Immich tools for one configuration and one known set of key permissions.
pub struct ImmichCatalog {
    client: ImmichClient,
    config: ToolsConfig,
    streaming: StreamingConfig,
    page_cap: usize,
    tools: Vec<(ToolDef, bool)>,
    smart_search: OnceCell<bool>,
}

impl ImmichCatalog {
    /// The tools `config` allows, given the Immich key's permissions when known (`None`: list all).
    pub fn new(
        client: ImmichClient,
        config: &ToolsConfig,
        streaming: &StreamingConfig,
        permissions: Option<&HashSet<String>>,
    ) -> ImmichCatalog {
        let allowed = |p: &str| permissions.is_none_or(|set| set.contains("all") || set.contains(p));
        let tools = defs::all()
            .into_iter()
            .filter(|d| !(config.read_only && d.writes))
            .filter(|d| config.enabled.is_empty() || config.enabled.iter().any(|n| n == d.name))
            .filter(|d| !config.disabled.iter().any(|n| n == d.name))
            .filter_map(|d| {
                let available = d.permissions.iter().all(|p| allowed(p));
                (available || !config.hide_unavailable).then_some((d, available))
            })
            .collect();
        let page_cap = streaming.auto_stream_threshold.clamp(1, 1000);
        ImmichCatalog {
            client,
            config: config.clone(),
            streaming: streaming.clone(),
            page_cap,
            tools,
            smart_search: OnceCell::new(),
        }
    }

    fn def(&self, name: &str) -> Option<&(ToolDef, bool)> {
        self.tools.iter().find(|(d, _)| d.name == name)
    }

    async fn smart_search(&self, key: &str) -> bool {
        *self
            .smart_search
            .get_or_init(|| async {
                let features: Result<Value, _> = self.client.get(key, "/api/server/features", &[]).await;
                features.is_ok_and(|f| f["smartSearch"] == json!(true))
            })
            .await
    }
}

#[async_trait]
impl Catalog for ImmichCatalog {
    fn tools(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|(def, available)| {
                let mut tool = def.tool();
                if !available {
                    tool.description = Some(
                        format!(
                            "[Unavailable: the Immich API key lacks {}] {}",
                            def.permissions.join(", "),
                            def.description
                        )
                        .into(),
                    );
                }
                // Exports always stream (seed 000): their links go out as data events too.
                let streams_always = def.name == "exportPhotos" && self.streaming.enabled;
                let spec = ToolSpec::new(serde_json::to_value(tool).expect("tools serialize"), streams_always);
                if matches!(def.name, "queryPhotos" | "getMapMarkers" | "getAlbum") && self.streaming.enabled {
                    spec.streams_above("limit", self.page_cap as u64)
                } else if def.name == "analyzePhotos" && self.streaming.enabled {
                    spec.streams_above("ids", 10)
                } else {
                    spec
                }
            })
            .collect()
    }

    fn resource_templates(&self) -> Vec<Value> {
        vec![
            json!({ "uriTemplate": "immich://asset/{id}", "name": "asset", "title": "Photo metadata",
                    "description": "A photo's details and EXIF as JSON", "mimeType": "application/json" }),
            json!({ "uriTemplate": "immich://asset/{id}/thumbnail", "name": "asset-thumbnail", "title": "Photo thumbnail",
                    "description": "A photo's thumbnail image (webp)", "mimeType": "image/webp" }),
            json!({ "uriTemplate": "immich://album/{id}", "name": "album", "title": "Album",
                    "description": "An album's details and its first photos as JSON", "mimeType": "application/json" }),
        ]
    }

    async fn read_resource(&self, uri: &str, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let rest = uri.strip_prefix("immich://")?;
        let key = match cx.immich_key.clone() {
            Some(key) => key,
            None => return Some(Err(RpcError::invalid_params("no Immich API key for this request: send X-API-Key"))),
        };
        let not_found = |e: ImmichError| match e {
            ImmichError::NotFound(_) | ImmichError::Invalid(_) => {
                RpcError::invalid_params(e.for_model()).with_data(json!({ "uri": uri }))
            }
            other => RpcError::new(crate::mcp::jsonrpc::INTERNAL_ERROR, other.for_model()),
        };
        let text = |value: Value| json!({ "contents": [{ "uri": uri, "mimeType": "application/json", "text": value.to_string() }] });
        let parts: Vec<&str> = rest.split('/').collect();
        Some(match parts.as_slice() {
            ["asset", id] if is_uuid(id) => {
                self.client.get::<Value>(&key, &format!("/api/assets/{id}"), &[]).await.map(text).map_err(not_found)
            }
            ["asset", id, "thumbnail"] if is_uuid(id) => {
                match self.client.thumbnail(&key, id, "thumbnail", self.config.max_image_bytes.as_usize()).await {
                    Ok((bytes, mime)) => {
                        Ok(json!({ "contents": [{ "uri": uri, "mimeType": mime, "blob": STANDARD.encode(&bytes) }] }))
                    }
                    Err(e) => Err(not_found(e)),
                }
            }
            ["album", id] if is_uuid(id) => {
                let album = self.client.get::<Value>(&key, &format!("/api/albums/{id}"), &[]).await;
                let first = self
                    .client
                    .search_page(&key, false, &json!({ "albumIds": [id] }), 1, self.config.default_limit as u64)
                    .await;
                match (album, first) {
                    (Ok(mut album), Ok(page)) => {
                        album["photos"] = json!(page.items.into_iter().map(Photo::from).collect::<Vec<_>>());
                        Ok(text(album))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(not_found(e)),
                }
            }
            _ => return None,
        })
    }

    async fn call_tool(&self, name: &str, args: Value, cx: &CallContext) -> Option<Result<Value, RpcError>> {
        let (def, available) = self.def(name)?;
        if !available {
            return Some(Ok(tool_error(format!(
                "{name} is unavailable: the Immich API key lacks {}",
                def.permissions.join(", ")
            ))));
        }
        let Some(key) = cx.immich_key.clone() else {
            return Some(Ok(tool_error(
                "No Immich API key for this call: send X-API-Key (passthrough mode) or configure the gateway's key.",
            )));
        };
        let call = Call { catalog: self, key: &key, args: &args, cx };
        let outcome = tokio::select! {
            outcome = call.run(name) => outcome,
            () = cx.cancel.cancelled() => Err(ImmichError::Timeout),
        };
        Some(Ok(match outcome {
            Ok(result) => result,
            Err(error) => tool_error(error.for_model()),
        }))
    }
}

/// One tool call in progress.
struct Call<'a> {
    catalog: &'a ImmichCatalog,
    key: &'a str,
    args: &'a Value,
    cx: &'a CallContext,
}

type Outcome = Result<Value, ImmichError>;

impl Call<'_> {
    async fn run(&self, name: &str) -> Outcome {
        match name {
            "queryPhotos" => self.query_photos().await,
            "getPhoto" => self.get_photo().await,
            "analyzePhotos" => self.analyze_photos().await,
            "exportPhotos" => self.export_photos().await,
            "listAlbums" => self.list_albums().await,
            "getAlbum" => self.get_album().await,
            "createAlbum" => self.create_album().await,
            "addToAlbum" => self.album_assets(true).await,
            "removeFromAlbum" => self.album_assets(false).await,
            "listPeople" => self.list_people().await,
            "getPerson" => self.get_person().await,
            "listTags" => self.list_tags().await,
            "tagPhotos" => self.tag_photos().await,
            "getTimeline" => self.get_timeline().await,
            "getTimelineBucket" => self.get_timeline_bucket().await,
            "getMapMarkers" => self.get_map_markers().await,
            "listMemories" => self.list_memories().await,
            "getLibraryStatistics" => self.get_statistics().await,
            "searchPlaces" => self.search_places().await,
            "getSuggestions" => self.get_suggestions().await,
            "updatePhotos" => self.update_photos().await,
            _ => Err(ImmichError::Invalid(format!("unknown tool {name}"))),
        }
    }

    fn str_arg(&self, name: &str) -> Option<&str> {
        self.args[name].as_str().filter(|s| !s.is_empty())
    }

    fn ids(&self, name: &str) -> Vec<String> {
        self.args[name].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    fn limit(&self) -> usize {
        self.args["limit"]
            .as_u64()
            .map_or(self.catalog.config.default_limit, |l| l as usize)
            .clamp(1, self.catalog.page_cap)
    }

    async fn query_photos(&self) -> Outcome {
        if let Some(token) = self.str_arg("resumeToken") {
            return self.resume_photos(token).await;
        }
        let (smart, filter, page, size, skip) = match self.str_arg("cursor") {
            Some(cursor) => {
                let c = Cursor::decode(cursor).ok_or_else(|| {
                    ImmichError::Invalid("cursor is not one this tool returned; start without it".into())
                })?;
                (c.smart, c.filter, c.page, c.size, c.skip)
            }
            None => {
                let mut filter = json!({ "withExif": true, "withPeople": true });
                for (arg, field) in [
                    ("city", "city"),
                    ("state", "state"),
                    ("country", "country"),
                    ("make", "make"),
                    ("model", "model"),
                    ("albumId", "albumIds"),
                    ("type", "type"),
                    ("order", "order"),
                ] {
                    if let Some(value) = self.str_arg(arg) {
                        filter[field] = if field == "albumIds" { json!([value]) } else { json!(value) };
                    }
                    // Immich wants full date-times; a bare date covers its whole day.
                    if let Some(after) = self.str_arg("takenAfter") {
                        filter["takenAfter"] = json!(date_time(after, "T00:00:00.000Z"));
                    }
                    if let Some(before) = self.str_arg("takenBefore") {
                        filter["takenBefore"] = json!(date_time(before, "T23:59:59.999Z"));
                    }
                }
                if let Some(tags) = self.args["tagIds"].as_array().filter(|t| !t.is_empty()) {
                    filter["tagIds"] = json!(tags);
                }
                if let Some(favorite) = self.args["isFavorite"].as_bool() {
                    filter["isFavorite"] = json!(favorite);
                }
                if let Some(rating) = self.args["rating"].as_u64() {
                    filter["rating"] = json!(rating);
                }
                let people = self.ids("people");
                if !people.is_empty() {
                    filter["personIds"] = json!(self.resolve_people(&people).await?);
                }
                let mut smart = false;
                if let Some(query) = self.str_arg("query") {
                    if self.catalog.smart_search(self.key).await {
                        filter["query"] = json!(query);
                        smart = true;
                    } else {
                        filter["originalFileName"] = json!(query);
                    }
                }
                (smart, filter, 1, self.limit() as u64, 0)
            }
        };
        let wanted = self.args["limit"].as_u64().unwrap_or(size);
        if wanted > self.catalog.page_cap as u64 && self.str_arg("cursor").is_none() {
            let page_size = 1000u64.min(wanted.max(self.catalog.streaming.chunk_size as u64));
            if let Some(stream) = self.admit_stream("queryPhotos") {
                let start = Cursor { smart, filter: filter.clone(), page: 1, size: page_size, skip: 0 };
                return self.stream_photos(stream, 0, wanted, start).await;
            }
        }
        self.photo_page(smart, &filter, page, size, skip).await
    }

    /// One page of photos and the cursor after it.
    async fn photo_page(&self, smart: bool, filter: &Value, page: u64, size: u64, skip: u64) -> Outcome {
        let result = self.catalog.client.search_page(self.key, smart, filter, page, size).await?;
        let next = next_cursor(smart, filter, result.next_page, size);
        let unseen = result.items.into_iter().skip(skip as usize).map(Photo::from).collect();
        Ok(photo_page(unseen, next, Map::new(), "photos"))
    }

    /// A new result stream, when this reply can stream and the gateway has room for another.
    fn admit_stream(&self, tool: &'static str) -> Option<ResultStream> {
        let streaming = &self.catalog.streaming;
        if !(self.cx.streaming && streaming.enabled) {
            return None;
        }
        match crate::stream::stats::StreamGuard::admit(self.cx.transport, tool, &self.cx.client, streaming) {
            Ok(guard) => Some(ResultStream {
                guard,
                buffer: crate::stream::stats::StreamBuffer::new(streaming.stream_buffer_size.as_usize()),
                id: format!("stream-{}", hex::encode(rand::random::<[u8; 8]>())),
                sequence: 0,
                started: std::time::Instant::now(),
            }),
            // Paging needs no stream: the caller still gets results (and a cursor).
            Err(refusal) => {
                tracing::info!(%refusal, tool, "answering without streaming");
                None
            }
        }
    }

    /// Continues an interrupted stream right after the event whose `resumeToken` the client holds,
    /// on whichever replica receives the call: the token carries the whole position.
    async fn resume_photos(&self, token: &str) -> Outcome {
        let position = StreamPosition::open(&self.cx.input, token)?;
        let Some(cursor) = position.cursor.clone() else {
            let text = format!("Stream {} had already delivered all {} photos.", position.stream_id, position.sent);
            return Ok(result(
                json!({ "photos": [], "count": 0, "nextCursor": null, "streamId": position.stream_id, "chunks": 0 }),
                text,
                Vec::new(),
            ));
        };
        match self.admit_stream("queryPhotos") {
            Some(stream) => {
                // The stream keeps its id, and its sequence numbers go on after the token's event.
                let stream = ResultStream { id: position.stream_id, sequence: position.sequence, ..stream };
                self.stream_photos(stream, position.sent, position.wanted, cursor).await
            }
            // A reply that cannot stream continues page by page from the same place.
            None => self.photo_page(cursor.smart, &cursor.filter, cursor.page, cursor.size, cursor.skip).await,
        }
    }

    /// Streams photos from `start` (`sent` of `wanted` already out) as `notifications/stream/data`
    /// events of `chunk_size` photos (or whatever arrived within `flush_interval`), each followed
    /// by monotonic progress and carrying a resume token for the position right after it. Pages
    /// are read from Immich as their bytes arrive, and only as fast as the client takes the
    /// events; the final result holds a summary, the first photos and a cursor for what lies
    /// beyond `limit`.
    async fn stream_photos(&self, mut stream: ResultStream, mut sent: u64, wanted: u64, start: Cursor) -> Outcome {
        const FIRST: usize = 20;
        let streaming = &self.catalog.streaming;
        let Cursor { smart, filter, page: first_page, size, skip } = start;
        let (stream_id, resumed) = (stream.id.clone(), stream.sequence > 0);
        // A fresh stream's first photos come in small pages so the first event follows one quick
        // Immich call; ten pages of 100 cover exactly the first page of 1000, so the big pages that
        // follow (page 2 on: Immich's paging is by offset) line up with no gap or overlap.
        let small = (!resumed && first_page == 1 && size == 1000).then_some(100u64);
        let rest_start = if small.is_some() { 2 } else { first_page };
        // Seed 000's stream_init: the client learns at once that a stream is coming.
        self.cx
            .notify(
                "notifications/stream/init",
                json!({ "streamId": stream_id, "method": "queryPhotos", "expectedItems": wanted,
                    "chunkSize": streaming.chunk_size, "resumedAfter": resumed.then_some(stream.sequence) }),
            )
            .await;
        let mut flush = tokio::time::interval(streaming.flush_interval.0);
        flush.tick().await;
        // Seed 000's stream_timeout: past it the stream ends between two photos, and the result's
        // cursor continues from there.
        let timeout = tokio::time::sleep(streaming.stream_timeout.0);
        tokio::pin!(timeout);
        let (mut batch, mut first) = (Vec::new(), Vec::new());
        let (mut exhausted, mut timed_out) = (false, false);
        // Where the stream stands; before the first page, its starting point.
        let mut at = Position { page: first_page, size: small.unwrap_or(size), taken: skip as usize, next: None };
        let mut pages_read = 0u64;
        // The `n`th page the stream reads (from 1): its number and size.
        let page_at = |n: u64| match small {
            Some(small_size) if n <= 10 => (n, small_size),
            Some(_) => (rest_start + n - 11, size),
            None => (rest_start + n - 1, size),
        };
        let open_page = |(page_no, read_size): ahead::PageAt| -> ahead::Opening<'_> {
            Box::pin(self.catalog.client.search_page_streamed(self.key, smart, &filter, page_no, read_size))
        };
        let mut to_skip = 0usize;
        let mut page: Option<crate::immich::client::ArrayReader> = None;
        let mut ahead = ahead::PageAhead::default();
        let chunk = Chunk { wanted, smart, filter: &filter };
        while sent < wanted && !exhausted {
            let reader = match page.as_mut() {
                Some(reader) => reader,
                None => {
                    pages_read += 1;
                    let (page_no, read_size) = page_at(pages_read);
                    let opening = ahead.take((page_no, read_size)).unwrap_or_else(|| open_page((page_no, read_size)));
                    let opened = tokio::select! {
                        opened = opening => opened,
                        () = self.cx.cancel.cancelled() => break,
                        () = &mut timeout => {
                            timed_out = true;
                            break;
                        }
                    };
                    // A resumed stream skips what its first page already delivered.
                    to_skip = if pages_read == 1 { skip as usize } else { 0 };
                    at = Position { page: page_no, size: read_size, taken: 0, next: None };
                    page.insert(opened?)
                }
            };
            let next = tokio::select! {
                asset = reader.next::<Asset>() => asset,
                () = ahead.drive() => continue,
                _ = flush.tick() => {
                    let resume = chunk.cursor_after(&at);
                    self.send_chunk(&mut stream, &chunk, &mut batch, sent, resume).await;
                    continue;
                }
                () = self.cx.cancel.cancelled() => break,
                () = &mut timeout => {
                    timed_out = true;
                    break;
                }
            };
            let asset = match next {
                Some(asset) => asset?,
                None => {
                    let next_page = reader.next_page();
                    (at.next, exhausted) = (Some(next_page), next_page.is_none());
                    page = None;
                    continue;
                }
            };
            at.taken += 1;
            // From a page's first photo, with more wanted than the page still holds (this photo
            // included) and the client keeping up, the next page is asked for (see `ahead`).
            let still_in_page = at.size.saturating_sub(at.taken as u64) + 1;
            if ahead.is_idle() && sent + still_in_page < wanted && stream.buffer.keeps_up() {
                let next = page_at(pages_read + 1);
                ahead.ask(next, open_page(next));
            }
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            let photo = Photo::from(asset);
            if first.len() < FIRST {
                first.push(photo.clone());
            }
            batch.push(photo);
            sent += 1;
            if batch.len() >= streaming.chunk_size {
                let resume = chunk.cursor_after(&at);
                self.send_chunk(&mut stream, &chunk, &mut batch, sent, resume).await;
                // A partial chunk goes out only when no full one did for a whole flush_interval.
                flush.reset();
            }
        }
        // The cursor continues right after the last photo sent, inside its Immich page if need be,
        // so nothing is skipped whether the stream reached `limit` or its timeout.
        let resume = chunk.cursor_after(&at);
        self.send_chunk(&mut stream, &chunk, &mut batch, sent, resume.clone()).await;
        let (seconds, sequence) = (stream.started.elapsed().as_secs_f64(), stream.sequence);
        let mut complete =
            json!({ "streamId": stream_id, "totalProcessed": sent, "duration": seconds, "success": !timed_out });
        if timed_out {
            stream.guard.failed();
            let token = resume.as_ref().and_then(|cursor| {
                let position = StreamPosition {
                    stream_id: stream_id.clone(),
                    sequence,
                    sent,
                    wanted,
                    cursor: Some(cursor.clone()),
                };
                position.seal(&self.cx.input, streaming.resume_token_ttl.0)
            });
            complete["error"] = json!({ "code": "STREAM_TIMEOUT", "retryable": true, "resumeToken": token,
                "message": format!("the stream reached [streaming] stream_timeout ({}); nextCursor or resumeToken continues", streaming.stream_timeout) });
        }
        self.cx.notify("notifications/stream/complete", complete).await;
        let next = resume.map(|cursor| cursor.encode());
        let mut structured =
            json!({ "photos": first, "count": sent, "nextCursor": next, "streamId": stream_id, "chunks": sequence });
        if timed_out {
            structured["stoppedBy"] = json!("stream_timeout");
        }
        let lines: Vec<String> = first
            .iter()
            .take(5)
            .map(|p| format!("{} · {}", p.taken_at.as_deref().unwrap_or("undated"), p.file_name))
            .collect();
        let stopped = if timed_out { " Stopped at the stream timeout; pass nextCursor to continue." } else { "" };
        let text = format!(
            "Streamed {sent} photos in {sequence} chunks as notifications/stream/data (stream {stream_id}, {seconds:.1} s).{stopped} First ones:\n{}",
            lines.join("\n")
        );
        Ok(result(structured, text, Vec::new()))
    }

    /// Sends one `notifications/stream/data` event (seed 000's lifecycle fields, plus the token
    /// that resumes right after it) and progress.
    async fn send_chunk(
        &self,
        stream: &mut ResultStream,
        chunk: &Chunk<'_>,
        batch: &mut Vec<Photo>,
        sent: u64,
        resume: Option<Cursor>,
    ) {
        if batch.is_empty() {
            return;
        }
        let has_more = resume.is_some() && sent < chunk.wanted;
        let position = StreamPosition {
            stream_id: stream.id.clone(),
            sequence: stream.sequence + 1,
            sent,
            wanted: chunk.wanted,
            cursor: resume.filter(|_| has_more),
        };
        let token = position.seal(&self.cx.input, self.catalog.streaming.resume_token_ttl.0);
        // The last event says there is no more even when fewer photos exist than were asked for.
        let wanted = if has_more { chunk.wanted } else { sent };
        self.send_data_event(stream, batch, sent, wanted, token, "photos").await;
    }

    /// Sends `batch` as one `notifications/stream/data` event (seed 000's lifecycle fields) and
    /// progress, serialized once and held against the stream's and the gateway's buffers.
    async fn send_data_event<T: serde::Serialize>(
        &self,
        stream: &mut ResultStream,
        batch: &mut Vec<T>,
        sent: u64,
        wanted: u64,
        token: Option<String>,
        unit: &str,
    ) {
        if batch.is_empty() {
            return;
        }
        stream.sequence += 1;
        let rate = sent as f64 / stream.started.elapsed().as_secs_f64().max(1e-3);
        // sonic_rs, like the Immich elements these photos were read from (see
        // `immich::client::parse_element`): its SIMD string escaping is ~10% of a streamed
        // photo's CPU less than serde_json's.
        let params = sonic_rs::to_string(&DataParams {
            stream_id: &stream.id,
            sequence_number: stream.sequence,
            items: batch,
            has_more: sent < wanted,
            processed_items: sent,
            total_items: wanted,
            percent_complete: crate::mcp::catalog::percent_complete(sent, wanted),
            estimated_time_remaining: ((wanted.saturating_sub(sent)) as f64 / rate).round(),
            resume_token: token.as_deref(),
        })
        .expect("stream items serialize");
        batch.clear();
        stream.guard.sent(params.len(), 1);
        // Seed 000's flow control: pause while all streams hold more than high_water_mark, then
        // wait for room in this stream's own stream_buffer_size.
        crate::stream::stats::wait_for_budget(&self.catalog.streaming).await;
        let held = stream.buffer.hold(params.len()).await;
        let stream_id = stream.id.clone();
        self.cx
            .send_data(StreamData { stream_id, params, resume_token: token, processed: sent, total: wanted, held })
            .await;
        self.cx.progress(sent as f64, Some(wanted as f64), Some(&format!("{sent} of up to {wanted} {unit}"))).await;
    }

    /// Names or ids → person ids (names matched case-insensitively against `GET /people`).
    async fn resolve_people(&self, wanted: &[String]) -> Result<Vec<String>, ImmichError> {
        if wanted.iter().all(|w| is_uuid(w)) {
            return Ok(wanted.to_vec());
        }
        let listing: Value = self
            .catalog
            .client
            .get(self.key, "/api/people", &[("size", "1000".into()), ("withHidden", "true".into())])
            .await?;
        let people = listing["people"].as_array().cloned().unwrap_or_default();
        wanted
            .iter()
            .map(|w| {
                if is_uuid(w) {
                    return Ok(w.clone());
                }
                people
                    .iter()
                    .find(|p| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(w)))
                    .and_then(|p| p["id"].as_str().map(str::to_string))
                    .ok_or_else(|| {
                        ImmichError::NotFound(format!("no person named {w:?}; listPeople shows the names Immich knows"))
                    })
            })
            .collect()
    }

    async fn get_photo(&self) -> Outcome {
        let id = self.str_arg("id").unwrap_or_default();
        // The whole EXIF is shown here, so the asset is read as JSON first and typed from it.
        let raw: Value = self.catalog.client.get(self.key, &format!("/api/assets/{id}"), &[]).await?;
        let exif = raw.get("exifInfo").and_then(Value::as_object).cloned();
        let mut asset: Asset =
            serde_json::from_value(raw).map_err(|e| ImmichError::Malformed(format!("GET /api/assets/{id}: {e}")))?;
        let tags: Vec<String> = asset.tags.take().into_iter().flatten().map(|t| t.value).collect();
        let photo = Photo::from(asset);
        let mut text = photo.render();
        if let Some(exif) = &exif {
            let pick =
                |k: &str| exif.get(k).filter(|v| !v.is_null()).map(|v| v.to_string().trim_matches('"').to_string());
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
        if self.args["includeImage"].as_bool().unwrap_or(false) {
            let size = self.str_arg("imageSize").unwrap_or("preview");
            images.push(
                self.catalog
                    .client
                    .thumbnail(self.key, id, size, self.catalog.config.max_image_bytes.as_usize())
                    .await?,
            );
        }
        Ok(result(structured, text, images))
    }

    async fn analyze_photos(&self) -> Outcome {
        let ids = self.ids("ids");
        let max = self.catalog.config.analyze_max_photos;
        if ids.len() > max {
            return Err(ImmichError::Invalid(format!(
                "at most {max} photos per call; split the ids into several calls"
            )));
        }
        let size = self.str_arg("imageSize").unwrap_or("thumbnail");
        let mut photos = Vec::new();
        let mut skipped = Vec::new();
        let mut content = Vec::new();
        // Seed 000: more than 10 photos stream — each photo's metadata goes out as a data event as
        // soon as it is read (chunks of chunk_size, or every flush_interval); the images come in
        // the result.
        let mut stream = if ids.len() > 10 { self.admit_stream("analyzePhotos") } else { None };
        let streaming = &self.catalog.streaming;
        let (mut batch, mut streamed, mut flushed) = (Vec::new(), 0, std::time::Instant::now());
        let wanted = ids.len() as u64;
        for (n, id) in ids.iter().enumerate() {
            if self.cx.cancel.is_cancelled() {
                break;
            }
            self.cx.progress(n as f64, Some(ids.len() as f64), Some("fetching photos")).await;
            let asset: Result<Asset, _> = self.catalog.client.get(self.key, &format!("/api/assets/{id}"), &[]).await;
            let image = match &asset {
                Ok(_) => self
                    .catalog
                    .client
                    .thumbnail(self.key, id, size, self.catalog.config.max_image_bytes.as_usize())
                    .await
                    .ok(),
                Err(_) => None,
            };
            match (asset, image) {
                (Ok(asset), Some((bytes, mime))) => {
                    let photo = Photo::from(asset);
                    content.push(ContentBlock::text(format!("{}. {}", n + 1, photo.render())));
                    content.push(ContentBlock::image(STANDARD.encode(&bytes), mime));
                    photos.push(photo);
                }
                (Ok(asset), None) => {
                    let photo = Photo::from(asset);
                    skipped.push(photo.id.clone());
                    content.push(ContentBlock::text(format!("{}. {} (image unavailable)", n + 1, photo.render())));
                    photos.push(photo);
                }
                (Err(e), _) => {
                    skipped.push(id.clone());
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
                    self.send_data_event(stream, &mut batch, n as u64 + 1, wanted, None, "photos").await;
                    flushed = std::time::Instant::now();
                }
            }
        }
        let mut result = CallToolResult::success(content);
        let mut structured = json!({ "photos": photos, "skipped": skipped });
        if let Some(stream) = &stream {
            stream.describe(&mut structured);
        }
        result.structured_content = Some(structured);
        Ok(finish(result))
    }

    async fn export_photos(&self) -> Outcome {
        let ids = self.ids("ids");
        let album = self.str_arg("albumId").map(str::to_string);
        let mut body = match (&album, ids.is_empty()) {
            (Some(album), true) => json!({ "albumId": album }),
            (None, false) => json!({ "assetIds": ids }),
            _ => return Err(ImmichError::Invalid("give either ids or albumId".into())),
        };
        if let Some(size) = self.args["archiveSize"].as_u64() {
            body["archiveSize"] = json!(size);
        }
        let info: Value =
            self.catalog.client.write(self.key, reqwest::Method::POST, "/api/download/info", &body).await?;
        let base = self.cx.public_base.clone().unwrap_or_default();
        let expires = crate::mcp::session::now() + export::LINK_TTL_SECS;
        let mut archives = Vec::new();
        let mut content = Vec::new();
        for (index, archive) in info["archives"].as_array().into_iter().flatten().enumerate() {
            let selection = export::Selection {
                album: album.clone(),
                ids: (!ids.is_empty()).then(|| ids.clone()),
                archive_size: self.args["archiveSize"].as_u64(),
                index,
                expires,
            };
            let token = self
                .cx
                .input
                .seal(export::KIND, &serde_json::to_vec(&selection).expect("selection serializes"))
                .ok_or_else(|| {
                    ImmichError::Invalid(
                        "exports need a request that can carry signed links (not a JSON-RPC batch)".into(),
                    )
                })?;
            let url = format!("{base}/exports/{token}");
            let size = archive["size"].as_u64().unwrap_or(0);
            let count = archive["assetIds"].as_array().map_or(0, Vec::len);
            content.push(ContentBlock::resource_link(
                rmcp::model::Resource::new(url.clone(), format!("immich-export-{}.zip", index + 1))
                    .with_mime_type("application/zip")
                    .with_size(size)
                    .with_description(format!("{count} photos, {size} bytes")),
            ));
            archives.push(json!({ "index": index, "size": size, "photoCount": count, "url": url }));
        }
        // Seed 000 always streams exports: on a streaming reply each archive's link also goes out
        // as a data event, so a program can start downloading before it reads the result.
        let wanted = archives.len() as u64;
        if wanted > 0
            && let Some(mut stream) = self.admit_stream("exportPhotos")
        {
            for (n, archive) in archives.iter().enumerate() {
                let mut batch = vec![archive.clone()];
                self.send_data_event(&mut stream, &mut batch, n as u64 + 1, wanted, None, "archives").await;
            }
        }
        let total = info["totalSize"].as_u64().unwrap_or(0);
        let count: u64 = archives.iter().filter_map(|a| a["photoCount"].as_u64()).sum();
        let text =
            format!("{count} photos, {total} bytes, in {} zip archive(s); each link streams its zip.", archives.len());
        content.insert(0, ContentBlock::text(text));
        let mut result = CallToolResult::success(content);
        result.structured_content = Some(json!({ "totalSize": total, "photoCount": count, "archives": archives }));
        Ok(finish(result))
    }

    async fn list_albums(&self) -> Outcome {
        let mut query = Vec::new();
        if let Some(shared) = self.args["shared"].as_bool() {
            query.push(("isShared", shared.to_string()));
        }
        let albums: Vec<crate::immich::client::Album> =
            self.catalog.client.get(self.key, "/api/albums", &query).await?;
        let lines: Vec<String> = albums.iter().map(render_album).collect();
        let text = if lines.is_empty() { "No albums.".to_string() } else { lines.join("\n") };
        Ok(result(json!({ "albums": albums.iter().map(album_json).collect::<Vec<_>>() }), text, Vec::new()))
    }

    async fn get_album(&self) -> Outcome {
        let id = self.str_arg("id").unwrap_or_default();
        let album: crate::immich::client::Album =
            self.catalog.client.get(self.key, &format!("/api/albums/{id}"), &[]).await?;
        let (filter, page, size) = match self.str_arg("cursor").and_then(Cursor::decode) {
            Some(cursor) => (cursor.filter, cursor.page, cursor.size),
            None => (json!({ "albumIds": [id], "withExif": true, "withPeople": true }), 1, self.limit() as u64),
        };
        // A big album asked for whole streams like a large query (its resume tokens continue it
        // through queryPhotos).
        let wanted = self.args["limit"].as_u64().unwrap_or(size);
        if wanted > self.catalog.page_cap as u64
            && self.str_arg("cursor").is_none()
            && let Some(stream) = self.admit_stream("getAlbum")
        {
            let start = Cursor { smart: false, filter, page: 1, size: 1000u64.min(wanted), skip: 0 };
            let mut value = self.stream_photos(stream, 0, wanted, start).await?;
            value["structuredContent"]["album"] = album_json(&album);
            prepend_text(&mut value, &render_album(&album));
            return Ok(value);
        }
        let result_page = self.catalog.client.search_page(self.key, false, &filter, page, size).await?;
        let next = next_cursor(false, &filter, result_page.next_page, size);
        let mut extra = Map::new();
        extra.insert("album".into(), album_json(&album));
        let photos = result_page.items.into_iter().map(Photo::from).collect();
        let mut value = photo_page(photos, next, extra, "photos");
        prepend_text(&mut value, &render_album(&album));
        Ok(value)
    }

    async fn create_album(&self) -> Outcome {
        let mut body = json!({ "albumName": self.str_arg("name").unwrap_or_default() });
        if let Some(description) = self.str_arg("description") {
            body["description"] = json!(description);
        }
        let photos = self.ids("photoIds");
        if !photos.is_empty() {
            body["assetIds"] = json!(photos);
        }
        let album: crate::immich::client::Album =
            self.catalog.client.write(self.key, reqwest::Method::POST, "/api/albums", &body).await?;
        Ok(result(json!({ "album": album_json(&album) }), format!("Created {}", render_album(&album)), Vec::new()))
    }

    async fn album_assets(&self, add: bool) -> Outcome {
        let album = self.str_arg("albumId").unwrap_or_default();
        let ids = self.ids("photoIds");
        let method = if add { reqwest::Method::PUT } else { reqwest::Method::DELETE };
        let results: Vec<Value> = self
            .catalog
            .client
            .write(self.key, method, &format!("/api/albums/{album}/assets"), &json!({ "ids": ids }))
            .await?;
        let done = results.iter().filter(|r| r["success"] == json!(true)).count();
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r["success"] != json!(true))
            .map(|r| format!("{}: {}", r["id"].as_str().unwrap_or("?"), r["error"].as_str().unwrap_or("failed")))
            .collect();
        let verb = if add { "Added" } else { "Removed" };
        let mut text = format!("{verb} {done} of {} photos.", ids.len());
        if !failed.is_empty() {
            text.push_str(&format!(" Not changed: {}", failed.join(", ")));
        }
        let key = if add { "added" } else { "removed" };
        Ok(result(json!({ key: done, "results": results }), text, Vec::new()))
    }

    async fn list_people(&self) -> Outcome {
        let page: u64 = self.str_arg("cursor").and_then(|c| c.strip_prefix("people:")?.parse().ok()).unwrap_or(1);
        let size = self.limit();
        let mut query = vec![("page", page.to_string()), ("size", size.to_string())];
        if self.args["withHidden"].as_bool() == Some(true) {
            query.push(("withHidden", "true".into()));
        }
        let listing: Value = self.catalog.client.get(self.key, "/api/people", &query).await?;
        let people: Vec<Value> = listing["people"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| json!({ "id": p["id"], "name": p["name"], "birthDate": p["birthDate"], "isFavorite": p["isFavorite"], "isHidden": p["isHidden"] }))
            .collect();
        let next = (listing["hasNextPage"] == json!(true)).then(|| format!("people:{}", page + 1));
        let lines: Vec<String> = people
            .iter()
            .map(|p| {
                format!(
                    "{} ({})",
                    p["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("unnamed"),
                    p["id"].as_str().unwrap_or("")
                )
            })
            .collect();
        let text = if lines.is_empty() { "No people recognised yet.".to_string() } else { lines.join("\n") };
        Ok(result(json!({ "people": people, "total": listing["total"], "nextCursor": next }), text, Vec::new()))
    }

    async fn get_person(&self) -> Outcome {
        let id = self.str_arg("id").unwrap_or_default();
        let person: Value = self.catalog.client.get(self.key, &format!("/api/people/{id}"), &[]).await?;
        let stats: Value = self.catalog.client.get(self.key, &format!("/api/people/{id}/statistics"), &[]).await?;
        let count = stats["assets"].as_u64().unwrap_or(0);
        let name = person["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("unnamed").to_string();
        Ok(result(
            json!({ "person": person, "photoCount": count }),
            format!("{name}: in {count} photos ({id})"),
            Vec::new(),
        ))
    }

    async fn list_tags(&self) -> Outcome {
        let tags: Vec<crate::immich::client::Tag> = self.catalog.client.get(self.key, "/api/tags", &[]).await?;
        let text = if tags.is_empty() {
            "No tags.".to_string()
        } else {
            tags.iter().map(|t| format!("{} ({})", t.value, t.id)).collect::<Vec<_>>().join("\n")
        };
        Ok(result(json!({ "tags": tags }), text, Vec::new()))
    }

    async fn tag_photos(&self) -> Outcome {
        let photos = self.ids("photoIds");
        let wanted = self.ids("tags");
        let (ids, paths): (Vec<String>, Vec<String>) = wanted.into_iter().partition(|t| is_uuid(t));
        let mut tag_ids = ids;
        let mut tags = Vec::new();
        if !paths.is_empty() {
            let created: Vec<crate::immich::client::Tag> = self
                .catalog
                .client
                .write(self.key, reqwest::Method::PUT, "/api/tags", &json!({ "tags": paths }))
                .await?;
            tag_ids.extend(created.iter().map(|t| t.id.clone()));
            tags.extend(created);
        }
        let outcome: Value = self
            .catalog
            .client
            .write(
                self.key,
                reqwest::Method::PUT,
                "/api/tags/assets",
                &json!({ "tagIds": tag_ids, "assetIds": photos }),
            )
            .await?;
        let count = outcome["count"].as_u64().unwrap_or(0);
        let names: Vec<&str> = tags.iter().map(|t| t.value.as_str()).collect();
        Ok(result(
            json!({ "tagged": count, "tags": tags }),
            format!("Added {count} tag(s) to {} photos {}", photos.len(), names.join(", ")),
            Vec::new(),
        ))
    }

    fn timeline_query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        for (arg, field) in [("albumId", "albumId"), ("personId", "personId")] {
            if let Some(v) = self.str_arg(arg) {
                query.push((field, v.to_string()));
            }
        }
        if let Some(f) = self.args["isFavorite"].as_bool() {
            query.push(("isFavorite", f.to_string()));
        }
        query
    }

    async fn get_timeline(&self) -> Outcome {
        let buckets: Vec<Value> =
            self.catalog.client.get(self.key, "/api/timeline/buckets", &self.timeline_query()).await?;
        let total: u64 = buckets.iter().filter_map(|b| b["count"].as_u64()).sum();
        let months: Vec<Value> = buckets
            .iter()
            .map(|b| json!({ "month": b["timeBucket"].as_str().map(|t| &t[..7.min(t.len())]), "count": b["count"] }))
            .collect();
        let text = months
            .iter()
            .take(36)
            .map(|m| format!("{} {}", m["month"].as_str().unwrap_or("?"), m["count"]))
            .collect::<Vec<_>>()
            .join("\n");
        let more = if months.len() > 36 { format!("\n… {} more months", months.len() - 36) } else { String::new() };
        Ok(result(
            json!({ "months": months, "total": total }),
            format!("{total} photos in {} months\n{text}{more}", months.len()),
            Vec::new(),
        ))
    }

    async fn get_timeline_bucket(&self) -> Outcome {
        let month = self.str_arg("month").unwrap_or_default();
        let bucket = if month.len() == 7 { format!("{month}-01") } else { month.to_string() };
        let mut query = self.timeline_query();
        query.push(("timeBucket", bucket.clone()));
        let columns: Value = self.catalog.client.get(self.key, "/api/timeline/bucket", &query).await?;
        let rows = columns_to_rows(&columns);
        let limit = self.limit();
        let shown: Vec<Value> = rows.iter().take(limit).cloned().collect();
        let text = shown
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["fileCreatedAt"].as_str().unwrap_or("?"),
                    r["city"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(result(
            json!({ "photos": shown, "count": rows.len() }),
            format!("{} photos in {bucket}\n{text}", rows.len()),
            Vec::new(),
        ))
    }

    async fn get_map_markers(&self) -> Outcome {
        let mut query = Vec::new();
        for (arg, field, time_of_day) in [
            ("takenAfter", "fileCreatedAfter", "T00:00:00.000Z"),
            ("takenBefore", "fileCreatedBefore", "T23:59:59.999Z"),
        ] {
            if let Some(v) = self.str_arg(arg) {
                query.push((field, date_time(v, time_of_day)));
            }
        }
        if let Some(f) = self.args["isFavorite"].as_bool() {
            query.push(("isFavorite", f.to_string()));
        }
        let bound = |k: &str| self.args[k].as_f64();
        let inside = |m: &Value| {
            let (lat, lon) = (m["lat"].as_f64().unwrap_or(f64::NAN), m["lon"].as_f64().unwrap_or(f64::NAN));
            bound("south").is_none_or(|s| lat >= s)
                && bound("north").is_none_or(|n| lat <= n)
                && bound("west").is_none_or(|w| lon >= w)
                && bound("east").is_none_or(|e| lon <= e)
        };
        let limit = self.args["limit"].as_u64().unwrap_or(500).max(1);
        // Markers are read one by one as Immich's (possibly huge) array arrives; only the first
        // `limit` are kept — or, above the threshold on a streaming reply, sent in chunks.
        let mut stream = if limit > self.catalog.page_cap as u64 { self.admit_stream("getMapMarkers") } else { None };
        let mut reader = self.catalog.client.get_array(self.key, "/api/map/markers", &query).await?;
        let chunk_size = self.catalog.streaming.chunk_size;
        let (mut kept, mut batch, mut sent) = (Vec::new(), Vec::new(), 0u64);
        let mut matching = 0u64;
        let mut places: std::collections::BTreeMap<String, usize> = Default::default();
        loop {
            // A cancelled call stops reading; its result goes to no one.
            let marker = tokio::select! {
                marker = reader.next::<Value>() => marker,
                () = self.cx.cancel.cancelled() => break,
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
                        self.send_data_event(stream, &mut batch, sent, limit, None, "markers").await;
                    }
                }
                None => kept.push(marker),
            }
        }
        if let Some(stream) = stream.as_mut() {
            sent += batch.len() as u64;
            self.send_data_event(stream, &mut batch, sent, sent, None, "markers").await;
        }
        let summary =
            places.iter().rev().take(20).map(|(city, n)| format!("{city}: {n}")).collect::<Vec<_>>().join(", ");
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

    async fn list_memories(&self) -> Outcome {
        let mut query = Vec::new();
        if let Some(date) = self.str_arg("date") {
            query.push(("for", date.to_string()));
        }
        let memories: Vec<Value> = self.catalog.client.get(self.key, "/api/memories", &query).await?;
        let compacted: Vec<Value> = memories
            .iter()
            .map(|m| {
                let assets: Vec<Photo> = m["assets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| <Asset as serde::Deserialize>::deserialize(a).ok())
                    .map(Photo::from)
                    .collect();
                json!({ "id": m["id"], "type": m["type"], "year": m["data"]["year"], "photoCount": assets.len(), "photos": assets })
            })
            .collect();
        let text = if compacted.is_empty() {
            "No memories for that day.".to_string()
        } else {
            compacted
                .iter()
                .map(|m| format!("{}: {} photos", m["year"], m["photoCount"]))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Ok(result(json!({ "memories": compacted }), text, Vec::new()))
    }

    async fn get_statistics(&self) -> Outcome {
        let assets: Value = self.catalog.client.get(self.key, "/api/assets/statistics", &[]).await?;
        let albums: Value = self.catalog.client.get(self.key, "/api/albums/statistics", &[]).await?;
        let text = format!(
            "{} photos, {} videos ({} in all); {} albums",
            assets["images"], assets["videos"], assets["total"], albums["owned"]
        );
        Ok(result(
            json!({ "images": assets["images"], "videos": assets["videos"], "total": assets["total"], "albums": albums }),
            text,
            Vec::new(),
        ))
    }

    async fn search_places(&self) -> Outcome {
        let places: Vec<Value> = self
            .catalog
            .client
            .get(self.key, "/api/search/places", &[("name", self.str_arg("name").unwrap_or_default().to_string())])
            .await?;
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

    async fn get_suggestions(&self) -> Outcome {
        let mut query = vec![("type", self.str_arg("field").unwrap_or("city").to_string())];
        for arg in ["country", "make"] {
            if let Some(v) = self.str_arg(arg) {
                query.push((arg, v.to_string()));
            }
        }
        let values: Vec<String> = self.catalog.client.get(self.key, "/api/search/suggestions", &query).await?;
        let text = if values.is_empty() { "No values.".to_string() } else { values.join(", ") };
        Ok(result(json!({ "values": values }), text, Vec::new()))
    }

    async fn update_photos(&self) -> Outcome {
        let ids = self.ids("ids");
        let mut changes = Map::new();
        if let Some(v) = self.args["isFavorite"].as_bool() {
            changes.insert("isFavorite".into(), json!(v));
        }
        if let Some(v) = self.args["archived"].as_bool() {
            changes.insert("visibility".into(), json!(if v { "archive" } else { "timeline" }));
        }
        if let Some(v) = self.args["rating"].as_u64() {
            changes.insert("rating".into(), json!(v));
        }
        if let Some(v) = self.str_arg("description") {
            changes.insert("description".into(), json!(v));
        }
        if let Some(v) = self.str_arg("takenAt") {
            changes.insert("dateTimeOriginal".into(), json!(v));
        }
        match (self.args["latitude"].as_f64(), self.args["longitude"].as_f64()) {
            (Some(lat), Some(lon)) => {
                changes.insert("latitude".into(), json!(lat));
                changes.insert("longitude".into(), json!(lon));
            }
            (None, None) => {}
            _ => return Err(ImmichError::Invalid("latitude and longitude go together".into())),
        }
        if changes.is_empty() {
            return Err(ImmichError::Invalid(
                "nothing to change: give isFavorite, archived, rating, description, takenAt or latitude+longitude"
                    .into(),
            ));
        }
        let described = changes.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ");
        if self.args["dryRun"].as_bool().unwrap_or(false) {
            return Ok(result(
                json!({ "updated": 0, "dryRun": true, "changes": changes }),
                format!("Dry run: would set {described} on {} photos.", ids.len()),
                Vec::new(),
            ));
        }
        let mut body = Value::Object(changes.clone());
        body["ids"] = json!(ids);
        self.catalog.client.write_empty(self.key, reqwest::Method::PUT, "/api/assets", &body).await?;
        Ok(result(
            json!({ "updated": ids.len(), "dryRun": false, "changes": changes }),
            format!("Set {described} on {} photos.", ids.len()),
            Vec::new(),
        ))
    }
}

/// A finished tool result: structured content, a text rendering and optional images.
fn result(structured: Value, text: String, images: Vec<(bytes::Bytes, String)>) -> Value {
    let mut content = vec![ContentBlock::text(text)];
    content.extend(images.into_iter().map(|(bytes, mime)| ContentBlock::image(STANDARD.encode(&bytes), mime)));
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(structured);
    finish(result)
}

/// The result as JSON, without the 2026-07-28 `resultType` (the dispatcher adds it on that wire).
fn finish(result: CallToolResult) -> Value {
    let mut value = serde_json::to_value(result).expect("results serialize");
    if let Some(object) = value.as_object_mut() {
        object.remove("resultType");
    }
    value
}

fn prepend_text(result: &mut Value, line: &str) {
    if let Some(text) = result["content"][0]["text"].as_str() {
        let joined = format!("{line}\n{text}");
        result["content"][0]["text"] = json!(joined);
    }
}

/// A page of photos as structured content plus one line per photo.
fn photo_page(photos: Vec<Photo>, next: Option<String>, extra: Map<String, Value>, key: &str) -> Value {
    let mut text: Vec<String> = photos.iter().map(Photo::render).collect();
    if text.is_empty() {
        text.push("No photos match.".into());
    }
    if next.is_some() {
        text.push(format!("… more: call again with cursor \"{}\"", next.as_deref().unwrap_or_default()));
    }
    let mut structured = json!({ key: photos, "count": photos.len(), "nextCursor": next });
    if let Some(object) = structured.as_object_mut() {
        object.extend(extra);
    }
    result(structured, text.join("\n"), Vec::new())
}

fn album_json(album: &crate::immich::client::Album) -> Value {
    json!({ "id": album.id, "name": album.album_name, "description": album.description, "photoCount": album.asset_count,
            "startDate": album.start_date, "endDate": album.end_date, "shared": album.shared })
}

fn render_album(album: &crate::immich::client::Album) -> String {
    let dates = match (&album.start_date, &album.end_date) {
        (Some(s), Some(e)) => format!(", {} to {}", &s[..10.min(s.len())], &e[..10.min(e.len())]),
        _ => String::new(),
    };
    format!("{} ({} photos{dates}) id {}", album.album_name, album.asset_count, album.id)
}

/// Immich's columnar timeline bucket (parallel arrays) as one object per photo.
fn columns_to_rows(columns: &Value) -> Vec<Value> {
    let Some(object) = columns.as_object() else { return Vec::new() };
    let len = object.get("id").and_then(Value::as_array).map_or(0, Vec::len);
    (0..len)
        .map(|i| {
            let row: Map<String, Value> = object
                .iter()
                .filter_map(|(k, v)| v.as_array().and_then(|a| a.get(i)).map(|x| (k.clone(), x.clone())))
                .collect();
            Value::Object(row)
        })
        .collect()
}

/// A date-time Immich accepts: a bare `YYYY-MM-DD` gets `time_of_day` appended.
fn date_time(text: &str, time_of_day: &str) -> String {
    if text.len() == 10 && text.as_bytes()[4] == b'-' { format!("{text}{time_of_day}") } else { text.to_string() }
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Where a search continues: the whole search (filters, page, size) and how many photos of that
/// page were already delivered, so a call with only the cursor continues exactly where the
/// previous one stopped — also when a stream stopped inside an Immich page.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    smart: bool,
    filter: Value,
    page: u64,
    size: u64,
    skip: u64,
}

impl Cursor {
    /// The opaque form handed to the model.
    fn encode(&self) -> String {
        let mut value = json!({ "s": self.smart, "f": self.filter, "p": self.page, "n": self.size });
        if self.skip > 0 {
            value["k"] = json!(self.skip);
        }
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn decode(cursor: &str) -> Option<Cursor> {
        let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let size = value["n"].as_u64()?;
        let skip = value.get("k").map_or(Some(0), Value::as_u64)?;
        (size > 0 && skip < size).then_some(Cursor {
            smart: value["s"].as_bool()?,
            filter: value["f"].clone(),
            page: value["p"].as_u64()?,
            size,
            skip,
        })
    }
}

/// Where a photo stream stands in Immich's paging: the page being read (its number and size), how
/// many of its photos were taken, and — once it has been read to its end — the next page Immich
/// announced (`Some(None)`: there is none).
struct Position {
    page: u64,
    size: u64,
    taken: usize,
    next: Option<Option<u64>>,
}

/// A streamed result on its way out: its admission slot, its bound on queued bytes, its id, the
/// sequence number of its last data event, and when it started (for the rate estimate).
struct ResultStream {
    guard: crate::stream::stats::StreamGuard,
    buffer: crate::stream::stats::StreamBuffer,
    id: String,
    sequence: u64,
    started: std::time::Instant,
}

impl ResultStream {
    /// Names the stream in a tool's structured result: its id and how many data events it sent.
    fn describe(&self, structured: &mut Value) {
        structured["streamId"] = json!(self.id);
        structured["chunks"] = json!(self.sequence);
    }
}

/// The params of one `notifications/stream/data` event: seed 000's lifecycle fields, and the
/// token that resumes right after it. Serialized straight from the batch, with no copy of it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DataParams<'a, T> {
    stream_id: &'a str,
    sequence_number: u64,
    items: &'a [T],
    has_more: bool,
    processed_items: u64,
    total_items: u64,
    percent_complete: f64,
    estimated_time_remaining: f64,
    resume_token: Option<&'a str>,
}

/// What every chunk of one photo stream shares: how many photos were asked for, and the search.
struct Chunk<'a> {
    wanted: u64,
    smart: bool,
    filter: &'a Value,
}

impl Chunk<'_> {
    /// The cursor right after the last photo taken: inside its Immich page while the page may
    /// hold more, else the next page; `None` once Immich said there is no more.
    fn cursor_after(&self, at: &Position) -> Option<Cursor> {
        let (page, skip) = match at.next {
            Some(None) => return None,
            Some(Some(_)) => (at.page + 1, 0),
            None if (at.taken as u64) < at.size => (at.page, at.taken as u64),
            None => (at.page + 1, 0),
        };
        Some(Cursor { smart: self.smart, filter: self.filter.clone(), page, size: at.size, skip })
    }
}

/// The sealing kind of photo-stream resume tokens.
const RESUME_KIND: &str = "photo-stream";

/// Everything needed to continue a photo stream on any replica: the stream, the last sequence
/// number sent, how many photos went out of how many wanted, and the Immich position right after
/// them (`None` once nothing is left). Sealed, it is the stream's resume token.
struct StreamPosition {
    stream_id: String,
    sequence: u64,
    sent: u64,
    wanted: u64,
    cursor: Option<Cursor>,
}

impl StreamPosition {
    /// The resume token, valid for `ttl` (`None` when the request has nothing to seal with).
    fn seal(&self, input: &crate::mcp::catalog::InputRound, ttl: std::time::Duration) -> Option<String> {
        let payload = json!({
            "i": self.stream_id,
            "q": self.sequence,
            "d": self.sent,
            "w": self.wanted,
            "c": self.cursor.as_ref().map(Cursor::encode),
            "exp": crate::mcp::session::now() + ttl.as_secs(),
        });
        input.seal(RESUME_KIND, payload.to_string().as_bytes())
    }

    /// Opens a resume token: tampered, foreign, expired or malformed tokens are refused with a
    /// message saying what to do.
    fn open(input: &crate::mcp::catalog::InputRound, token: &str) -> Result<StreamPosition, ImmichError> {
        let bytes = input.open(RESUME_KIND, token).ok_or_else(|| {
            ImmichError::Invalid(
                "resumeToken failed its integrity check (altered, or sealed by a gateway with other secrets); run the query again without it".into(),
            )
        })?;
        let malformed = || ImmichError::Invalid("resumeToken is malformed; run the query again without it".into());
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        if value["exp"].as_u64().is_none_or(|exp| exp <= crate::mcp::session::now()) {
            return Err(ImmichError::Invalid(
                "resumeToken expired ([streaming] resume_token_ttl); run the query again without it".into(),
            ));
        }
        let cursor = match &value["c"] {
            Value::Null => None,
            Value::String(c) => Some(Cursor::decode(c).ok_or_else(malformed)?),
            _ => return Err(malformed()),
        };
        Ok(StreamPosition {
            stream_id: value["i"].as_str().ok_or_else(malformed)?.to_string(),
            sequence: value["q"].as_u64().ok_or_else(malformed)?,
            sent: value["d"].as_u64().ok_or_else(malformed)?,
            wanted: value["w"].as_u64().ok_or_else(malformed)?,
            cursor,
        })
    }
}

/// The cursor of the page after `page`, when Immich said there is one.
fn next_cursor(smart: bool, filter: &Value, next_page: Option<u64>, size: u64) -> Option<String> {
    next_page.map(|page| Cursor { smart, filter: filter.clone(), page, size, skip: 0 }.encode())
}
