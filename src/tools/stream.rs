//! Large results as streams (the streaming guide's `notifications/stream/*` lifecycle): admission
//! against the gateway's stream limits, data events held against the buffers until written, and
//! the photo stream that reads Immich's pages only as fast as the client takes its events.

use super::ahead;
use super::call::{Call, Outcome, ToolError, result};
use super::cursor::{Chunk, Cursor, Position, StreamPosition};
use super::photo::Photo;
use crate::immich::client::Asset;
use crate::mcp::catalog::StreamData;
use serde_json::{Value, json};

/// A streamed result on its way out: its admission slot, its bound on queued bytes, its id, the
/// sequence number of its last data event, and when it started (for the rate estimate).
pub(crate) struct ResultStream {
    pub(crate) guard: crate::stream::stats::StreamGuard,
    pub(crate) buffer: crate::stream::stats::StreamBuffer,
    pub(crate) id: String,
    pub(crate) sequence: u64,
    pub(crate) started: std::time::Instant,
}

impl ResultStream {
    /// Names the stream in a tool's structured result: its id and how many data events it sent.
    pub(crate) fn describe(&self, structured: &mut Value) {
        structured["streamId"] = json!(self.id);
        structured["chunks"] = json!(self.sequence);
    }
}

/// The params of one `notifications/stream/data` event: the streaming guide's lifecycle fields,
/// and the token that resumes right after it. Serialized straight from the batch, with no copy of
/// it.
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

impl Call<'_> {
    /// A new result stream, when this reply can stream and the gateway has room for another.
    pub(crate) fn admit_stream(&self, tool: &'static str) -> Option<ResultStream> {
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

    /// Room for a page of `size` items answered instead of a stream: refused when the gateway's
    /// buffers are full (the page would wait in memory behind clients that read nothing, as the
    /// streams do), else reserved against them while it is built (about 2 KB an item).
    pub(crate) fn room_for_page(&self, size: u64) -> Result<crate::stream::stats::ReplyHeld, ToolError> {
        let streaming = &self.catalog.streaming;
        if crate::stream::stats::budget_exhausted(streaming) {
            crate::telemetry::metrics().streaming_refused.with_label_values(&["buffer_full"]).inc();
            return Err(ToolError::Busy(format!(
                "streams and answers waiting for their clients hold [streaming] max_buffer_size ({})",
                streaming.max_buffer_size
            )));
        }
        Ok(crate::stream::stats::hold_reply(size.saturating_mul(2048) as usize))
    }

    /// Streams photos from `start` (`sent` of `wanted` already out) as `notifications/stream/data`
    /// events of `chunk_size` photos (or whatever arrived within `flush_interval`), each followed
    /// by monotonic progress and carrying a resume token for the position right after it. Pages
    /// are read from Immich as their bytes arrive, and only as fast as the client takes the
    /// events; the final result holds a summary, the first photos and a cursor for what lies
    /// beyond `limit`.
    pub(crate) async fn stream_photos(
        &self,
        mut stream: ResultStream,
        mut sent: u64,
        wanted: u64,
        start: Cursor,
    ) -> Outcome {
        const FIRST: usize = 20;
        let streaming = &self.catalog.streaming;
        // A token for where this stream starts: a client that leaves before the first data event
        // resumes from it (so the gateway keeps nothing for it, see transport/writer.rs).
        let start_token = StreamPosition {
            stream_id: stream.id.clone(),
            sequence: stream.sequence,
            sent,
            wanted,
            cursor: Some(start.clone()),
        }
        .seal(&self.cx.input, streaming.resume_token_ttl.0);
        let Cursor { smart, filter, page: first_page, size, skip } = start;
        let (stream_id, resumed) = (stream.id.clone(), stream.sequence > 0);
        // A fresh stream's first photos come in small pages so the first event follows one quick
        // Immich call; ten pages of 100 cover exactly the first page of 1000, so the big pages that
        // follow (page 2 on: Immich's paging is by offset) line up with no gap or overlap.
        let small = (!resumed && first_page == 1 && size == 1000).then_some(100u64);
        let rest_start = if small.is_some() { 2 } else { first_page };
        // The streaming guide's stream_init: the client learns at once that a stream is coming.
        self.cx
            .notify(
                "notifications/stream/init",
                json!({ "streamId": stream_id, "method": "queryPhotos", "expectedItems": wanted,
                    "chunkSize": streaming.chunk_size, "resumedAfter": resumed.then_some(stream.sequence),
                    "resumeToken": start_token }),
            )
            .await;
        let mut flush = tokio::time::interval(streaming.flush_interval.0);
        flush.tick().await;
        // The streaming guide's stream_timeout: past it the stream ends between two photos, and
        // the result's cursor continues from there.
        let timeout = tokio::time::sleep(streaming.stream_timeout.0);
        tokio::pin!(timeout);
        let (mut batch, mut first) = (Vec::new(), Vec::new());
        // Where the result's own photos end (a result must stand alone: a stock client drops the
        // data events), and what the stream held, counted as it passes.
        let mut after_first: Option<Option<Cursor>> = None;
        let mut summary = super::summary::Summary::default();
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
            Box::pin(self.client().search_page_streamed(self.key, smart, &filter, page_no, read_size))
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
                    // A chunk that filled up on the page's last photo went out only now that
                    // Immich said whether anything follows (see below).
                    if batch.len() >= streaming.chunk_size {
                        let resume = chunk.cursor_after(&at);
                        self.send_chunk(&mut stream, &chunk, &mut batch, sent, resume).await;
                        flush.reset();
                    }
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
            let photo = self.photo(asset);
            summary.add(&photo);
            if first.len() < FIRST {
                first.push(photo.clone());
                if first.len() == FIRST {
                    after_first = Some(chunk.cursor_after(&at));
                }
            }
            batch.push(photo);
            sent += 1;
            // A chunk that fills up on a page's last photo waits for the page's end: only then is
            // it known whether more follows, so the last event never says `hasMore` wrongly (a
            // library of exactly 200 photos, asked for 1000, ended at "20 %" with more to come).
            if batch.len() >= streaming.chunk_size && (at.taken as u64) < at.size {
                let resume = chunk.cursor_after(&at);
                self.send_chunk(&mut stream, &chunk, &mut batch, sent, resume).await;
                // A partial chunk goes out only when no full one did for a whole flush_interval.
                flush.reset();
            }
        }
        // Reaching `limit` on a page's last photo: the page's end (already read from Immich, a
        // few bytes) says whether another follows, so the cursor never leads to an empty page
        // (200 photos asked of a library of exactly 200 gave "No photos match" when followed).
        if !timed_out
            && !self.cx.cancel.is_cancelled()
            && at.next.is_none()
            && (at.taken as u64) >= at.size
            && let Some(reader) = page.as_mut()
            && reader.next::<Asset>().await.is_none()
        {
            at.next = Some(reader.next_page());
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
        let after_stream = resume.map(|cursor| cursor.encode());
        // nextCursor continues right after the result's last photo; streamCursor after the stream's.
        let next = match after_first {
            Some(cursor) if sent > first.len() as u64 => cursor.map(|c| c.encode()),
            _ => after_stream.clone(),
        };
        let held = first.len();
        let mut structured = json!({ "photos": first, "count": sent, "held": held, "nextCursor": next,
            "streamCursor": after_stream, "summary": summary.to_json(), "streamId": stream_id, "chunks": sequence });
        if timed_out {
            structured["stoppedBy"] = json!("stream_timeout");
        }
        let lines: Vec<String> = first
            .iter()
            .take(5)
            .map(|p| format!("{} · {}", p.taken_at.as_deref().unwrap_or("undated"), p.file_name))
            .collect();
        let stopped = if timed_out { " It stopped at the stream timeout." } else { "" };
        let rest = if sent > held as u64 {
            format!(
                " This result holds the first {held}; the other {} went out only as notifications/stream/data events \
                 (which many clients do not show). To page through them here, call queryPhotos with nextCursor: it \
                 continues right after photo {held}. streamCursor continues after all {sent}.",
                sent - held as u64
            )
        } else {
            String::new()
        };
        let text = format!(
            "{sent} photos streamed in {sequence} chunks (stream {stream_id}, {seconds:.1} s).{stopped}{rest}\n{}\nFirst ones:\n{}",
            summary.render(),
            lines.join("\n")
        );
        Ok(result(structured, text, Vec::new()))
    }

    /// Sends one `notifications/stream/data` event (the streaming guide's lifecycle fields, plus
    /// the token that resumes right after it) and progress.
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

    /// Sends `batch` as one `notifications/stream/data` event (the streaming guide's lifecycle
    /// fields) and progress, serialized once and held against the stream's and the gateway's
    /// buffers.
    pub(crate) async fn send_data_event<T: serde::Serialize>(
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
        // The streaming guide's flow control: pause while all streams hold more than
        // high_water_mark, then wait for room in this stream's own stream_buffer_size.
        crate::stream::stats::wait_for_budget(&self.catalog.streaming).await;
        let held = stream.buffer.hold(params.len()).await;
        let stream_id = stream.id.clone();
        self.cx
            .send_data(StreamData { stream_id, params, resume_token: token, processed: sent, total: wanted, held })
            .await;
        self.cx.progress(sent as f64, Some(wanted as f64), Some(&format!("{sent} of up to {wanted} {unit}"))).await;
    }
}
