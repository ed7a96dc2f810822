//! Export links: `exportPhotos` returns `GET /exports/<token>` links, where the token is a sealed,
//! expiring description of the selection (an album, or up to 100 ids packed 16 bytes each, and
//! which archive) and of who made it. More ids are exported in groups of 100, each with its own
//! archives: a link stays a few kilobytes, under any proxy's request-line limit (155 ids in one
//! link made an 8 KiB URL the gateway itself refused with 431). Any replica holding the secret serves it (see `gateway::exports`): only to the
//! same caller, with the selection re-resolved by Immich's `download/info`.

use super::call::{Call, Outcome, bad_argument, finish};
use super::registry::{Streams, Tool, output, schema};
use crate::immich::path::ApiPath;
use crate::immich::{ImmichClient, ImmichError};
use rmcp::model::{CallToolResult, ContentBlock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The sealing kind of export tokens.
pub const KIND: &str = "export";
/// How long an export link stays valid.
pub const LINK_TTL_SECS: u64 = 86_400;
/// The most ids one link carries (a link of 100 is about 3 KB).
const IDS_PER_LINK: usize = 100;

/// The export tool.
pub(super) fn tools() -> Vec<Tool> {
    vec![Tool::reads(
        "exportPhotos",
        "Export photos",
        "Package photos (by ids) or a whole album as zip downloads. Returns the total size and one link per \
            archive (Immich splits large exports; more than 100 ids come as one archive per 100 or so); each link \
            streams its zip from the gateway and stays valid for a day.",
        &["asset.download"],
        |call| Box::pin(export_photos(call)),
    )
    .input(schema(
            json!({
                "ids": { "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": 500, "description": "Photos to export (up to 500; for more, export an album)." },
                "albumId": { "format": "uuid", "description": "Export this whole album instead.", "type": "string" },
                "archiveSize": { "type": "integer", "minimum": 1048576, "description": "Largest archive in bytes (Immich's default 4 GiB)." }
            }),
            &[],
        ))
    .output(output(
            json!({ "totalSize": { "type": "integer" }, "photoCount": { "type": "integer" },
                "archives": { "type": "array", "items": { "type": "object", "properties": { "index": { "type": "integer" }, "size": { "type": "integer" },
                "photoCount": { "type": "integer" }, "url": { "type": "string" } }, "required": ["index", "size", "photoCount", "url"] } } }),
            &["totalSize", "photoCount", "archives"],
        ))
    .streams(Streams::Always)]
}

async fn export_photos(call: &Call<'_>) -> Outcome {
    let ids = call.uuids("ids")?;
    let album = call.optional_uuid("albumId")?;
    // The selections to resolve: the album, or the ids in groups of `IDS_PER_LINK`.
    let groups: Vec<(Option<String>, Option<Vec<String>>)> = match (&album, ids.is_empty()) {
        (Some(album), true) => vec![(Some(album.to_string()), None)],
        (None, false) => ids
            .chunks(IDS_PER_LINK)
            .map(|group| (None, Some(group.iter().map(ToString::to_string).collect())))
            .collect(),
        _ => return Err(bad_argument("give either ids or albumId, not both and not neither")),
    };
    let base = call.cx.public_base.clone().unwrap_or_default();
    let expires = crate::mcp::session::now() + LINK_TTL_SECS;
    let (mut archives, mut content, mut total) = (Vec::new(), Vec::new(), 0u64);
    for (album, ids) in groups {
        let mut selection = Selection {
            album,
            ids: None,
            packed: ids.as_deref().map(pack),
            archive_size: call.args["archiveSize"].as_u64(),
            index: 0,
            expires,
            owner: call.cx.owner(),
        };
        let info: Value = call
            .client()
            .write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/download/info"), &selection.body(ids))
            .await?;
        total += info["totalSize"].as_u64().unwrap_or(0);
        for (index, archive) in info["archives"].as_array().into_iter().flatten().enumerate() {
            selection.index = index;
            let token =
                call.cx.input.seal(KIND, &serde_json::to_vec(&selection).expect("selection serializes")).ok_or_else(
                    || bad_argument("exports need a request that can carry signed links (not a JSON-RPC batch)"),
                )?;
            let url = format!("{base}/exports/{token}");
            let size = archive["size"].as_u64().unwrap_or(0);
            let count = archive["assetIds"].as_array().map_or(0, Vec::len);
            let n = archives.len();
            content.push(ContentBlock::resource_link(
                rmcp::model::Resource::new(url.clone(), format!("immich-export-{}.zip", n + 1))
                    .with_mime_type("application/zip")
                    .with_size(size)
                    .with_description(format!("{count} photos, {size} bytes")),
            ));
            archives.push(json!({ "index": n, "size": size, "photoCount": count, "url": url }));
        }
    }
    // The streaming guide always streams exports: on a streaming reply each archive's link also
    // goes out as a data event, so a program can start downloading before it reads the result.
    let wanted = archives.len() as u64;
    if wanted > 0
        && let Some(mut stream) = call.admit_stream("exportPhotos")
    {
        for (n, archive) in archives.iter().enumerate() {
            let mut batch = vec![archive.clone()];
            call.send_data_event(&mut stream, &mut batch, n as u64 + 1, wanted, None, "archives").await;
        }
    }
    let count: u64 = archives.iter().filter_map(|a| a["photoCount"].as_u64()).sum();
    let text =
        format!("{count} photos, {total} bytes, in {} zip archive(s); each link streams its zip.", archives.len());
    content.insert(0, ContentBlock::text(text));
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(json!({ "totalSize": total, "photoCount": count, "archives": archives }));
    Ok(finish(result))
}

/// What an export link stands for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Selection {
    /// A whole album…
    pub album: Option<String>,
    /// …or these assets (links made before ids were packed)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// …or these assets, 16 bytes each, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<String>,
    /// Immich's archive size limit used when the link was made.
    pub archive_size: Option<u64>,
    /// Which of the archives.
    pub index: usize,
    /// Expiry (Unix seconds).
    pub expires: u64,
    /// Who made it (`auth::Principal::owner`): only the same caller may download it.
    pub owner: String,
}

impl Selection {
    /// Immich's `download/info` body for this selection.
    fn body(&self, ids: Option<Vec<String>>) -> Value {
        let mut body = match (&self.album, ids) {
            (Some(album), _) => json!({ "albumId": album }),
            (None, ids) => json!({ "assetIds": ids.unwrap_or_default() }),
        };
        if let Some(size) = self.archive_size {
            body["archiveSize"] = json!(size);
        }
        body
    }
}

/// UUIDs packed 16 bytes each, base64url (a third of their text).
fn pack(ids: &[String]) -> String {
    let bytes: Vec<u8> =
        ids.iter().flat_map(|id| hex::decode(id.replace('-', "")).unwrap_or_else(|_| vec![0; 16])).collect();
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// The UUIDs of [`pack`]; `None` for anything that is not such a packing.
fn unpack(packed: &str) -> Option<Vec<String>> {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, packed).ok()?;
    if bytes.len() % 16 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks(16)
            .map(|b| {
                let h = hex::encode(b);
                format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
            })
            .collect(),
    )
}

/// Why an export cannot start, as an HTTP status and message.
pub struct Refusal(pub u16, pub String);

impl Selection {
    /// The asset ids of this selection's archive, as Immich splits them now.
    pub async fn asset_ids(
        &self,
        client: &ImmichClient,
        key: &crate::immich::Credential,
    ) -> Result<Vec<String>, Refusal> {
        let ids = match (&self.ids, &self.packed) {
            (Some(ids), _) => Some(ids.clone()),
            (None, Some(packed)) => {
                Some(unpack(packed).ok_or_else(|| Refusal(400, "the export link is damaged".into()))?)
            }
            (None, None) => None,
        };
        if self.album.is_none() && ids.is_none() {
            return Err(Refusal(400, "the export link selects nothing".into()));
        }
        let body = self.body(ids);
        let path = ApiPath::fixed("/api/download/info");
        let info: Value = client.write(key, reqwest::Method::POST, &path, &body).await.map_err(immich_refusal)?;
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

/// The HTTP status and message an Immich failure gives a download.
pub fn immich_refusal(error: ImmichError) -> Refusal {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pack_to_sixteen_bytes_and_back() {
        let ids =
            vec!["0e8ba1cc-0c87-4e79-85dd-5a5a5a5a5a3e".to_string(), "24fc5fea-d01d-4fef-9dac-5a5a5a5a5a3f".into()];
        let packed = pack(&ids);
        assert_eq!(packed.len(), 43, "32 bytes in base64url");
        assert_eq!(unpack(&packed), Some(ids));
        assert_eq!(unpack("abc"), None);
    }
}
