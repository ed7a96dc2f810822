//! Export links: `exportPhotos` returns `GET /exports/<token>` links, where the token is a sealed,
//! expiring description of the selection (an album, or up to 500 ids, and which archive). Any
//! replica holding the secret serves it: the selection is re-resolved with Immich's
//! `download/info` and the zip streams from `download/archive` chunk by chunk — each chunk is
//! written to the client (and the write awaited) before the next is read from Immich, so a slow
//! client slows the upstream read and memory stays at one chunk.

use crate::immich::{ImmichClient, ImmichError};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The sealing kind of export tokens.
pub const KIND: &str = "export";
/// How long an export link stays valid.
pub const LINK_TTL_SECS: u64 = 86_400;

/// What an export link stands for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Selection {
    /// A whole album…
    pub album: Option<String>,
    /// …or these assets.
    pub ids: Option<Vec<String>>,
    /// Immich's archive size limit used when the link was made.
    pub archive_size: Option<u64>,
    /// Which of the archives.
    pub index: usize,
    /// Expiry (Unix seconds).
    pub expires: u64,
}

/// Why an export cannot start, as an HTTP status and message.
pub struct Refusal(pub u16, pub String);

impl Selection {
    /// The asset ids of this selection's archive, as Immich splits them now.
    pub async fn asset_ids(&self, client: &ImmichClient, key: &str) -> Result<Vec<String>, Refusal> {
        let mut body = match (&self.album, &self.ids) {
            (Some(album), _) => json!({ "albumId": album }),
            (None, Some(ids)) => json!({ "assetIds": ids }),
            (None, None) => return Err(Refusal(400, "the export link selects nothing".into())),
        };
        if let Some(size) = self.archive_size {
            body["archiveSize"] = json!(size);
        }
        let info: Value =
            client.write(key, reqwest::Method::POST, "/api/download/info", &body).await.map_err(immich_refusal)?;
        let archive = info["archives"]
            .get(self.index)
            .ok_or_else(|| Refusal(410, "this archive no longer exists: the selection changed; export again".into()))?;
        Ok(archive["assetIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }
}

fn immich_refusal(error: ImmichError) -> Refusal {
    let status = match error {
        ImmichError::Unauthorized(_) => 401,
        ImmichError::Forbidden(_) => 403,
        ImmichError::NotFound(_) => 404,
        ImmichError::Invalid(_) => 400,
        ImmichError::Timeout => 504,
        _ => 502,
    };
    Refusal(status, error.for_model())
}

/// Streams the zip of `ids` from Immich to the client. Returns the bytes sent; an error mid-way
/// ends the response (the client sees a truncated download, as with any broken transfer).
pub async fn stream(
    session: &mut Session,
    client: &ImmichClient,
    key: &str,
    ids: &[String],
    index: usize,
    request_id: &str,
) -> Result<std::result::Result<u64, Refusal>> {
    let mut upstream = match client.download_archive(key, ids).await {
        Ok(response) => response,
        Err(e) => return Ok(Err(immich_refusal(e))),
    };
    let mut header = ResponseHeader::build(200, Some(6))?;
    header.insert_header("content-type", "application/zip")?;
    header.insert_header("content-disposition", format!("attachment; filename=\"immich-export-{}.zip\"", index + 1))?;
    header.insert_header("transfer-encoding", "chunked")?;
    header.insert_header("cache-control", "no-store")?;
    header.insert_header("x-request-id", request_id)?;
    session.write_response_header(Box::new(header), false).await?;
    let mut sent = 0u64;
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                sent += chunk.len() as u64;
                // Awaiting the write is the flow control: Immich is read no faster than the client reads.
                session.write_response_body(Some(chunk), false).await?;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(request_id, error = %e, "export stream from Immich broke off");
                return Error::e_explain(ErrorType::ReadError, "Immich's archive stream broke off");
            }
        }
    }
    session.write_response_body(None, true).await?;
    Ok(Ok(sent))
}
