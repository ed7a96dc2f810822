//! Immich as MCP resources: `immich://asset/{id}` (JSON), `immich://asset/{id}/thumbnail` (an
//! image) and `immich://album/{id}` (JSON with its first photos).

use super::ImmichCatalog;
use super::photo::Photo;
use crate::immich::ImmichError;
use crate::immich::path::{ApiPath, Uuid};
use crate::mcp::catalog::CallContext;
use crate::mcp::jsonrpc::RpcError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The resource templates.
pub(super) fn templates() -> Vec<Value> {
    vec![
        json!({ "uriTemplate": "immich://asset/{id}", "name": "asset", "title": "Photo metadata",
                "description": "A photo's details and EXIF as JSON", "mimeType": "application/json" }),
        json!({ "uriTemplate": "immich://asset/{id}/thumbnail", "name": "asset-thumbnail", "title": "Photo thumbnail",
                "description": "A photo's thumbnail image (webp)", "mimeType": "image/webp" }),
        json!({ "uriTemplate": "immich://album/{id}", "name": "album", "title": "Album",
                "description": "An album's details and its first photos as JSON", "mimeType": "application/json" }),
    ]
}

/// Reads `uri`, if it is one of the templates'; `None` for any other URI.
pub(super) async fn read(catalog: &ImmichCatalog, uri: &str, cx: &CallContext) -> Option<Result<Value, RpcError>> {
    let rest = uri.strip_prefix("immich://")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (kind, id, thumbnail) = match parts.as_slice() {
        ["asset", id] => ("asset", Uuid::parse(id)?, false),
        ["asset", id, "thumbnail"] => ("asset", Uuid::parse(id)?, true),
        ["album", id] => ("album", Uuid::parse(id)?, false),
        _ => return None,
    };
    let Some(key) = cx.immich.clone() else {
        return Some(Err(RpcError::invalid_params("no Immich API key for this request: send X-API-Key")));
    };
    let client = &catalog.client;
    let not_found = |e: ImmichError| match e {
        // A key without the permission is the caller's to fix, like a wrong id: never an
        // internal error (REAL-IMMICH.md defect 11).
        ImmichError::NotFound(_) | ImmichError::Invalid(_) | ImmichError::Forbidden(_) => {
            RpcError::invalid_params(e.for_model()).with_data(json!({ "uri": uri }))
        }
        ImmichError::Unauthorized(_) => RpcError::invalid_params(e.for_model()).with_data(json!({ "uri": uri })),
        // Immich failing is not the resource missing: MCP clients read -32002 as "resource not
        // found" (the TypeScript SDK names it so), so an upstream failure is an internal error
        // whose message says what Immich did (tests/faults.rs).
        other => RpcError::new(crate::mcp::jsonrpc::INTERNAL_ERROR, other.for_model()).with_data(json!({ "uri": uri })),
    };
    let text = |value: Value| json!({ "contents": [{ "uri": uri, "mimeType": "application/json", "text": value.to_string() }] });
    Some(match (kind, thumbnail) {
        ("asset", false) => {
            client.get::<Value>(&key, &ApiPath::fixed("/api/assets").id(&id), &[]).await.map(text).map_err(not_found)
        }
        ("asset", true) => {
            match client.thumbnail(&key, &id, "thumbnail", catalog.config.max_image_bytes.as_usize()).await {
                Ok((bytes, mime)) => {
                    Ok(json!({ "contents": [{ "uri": uri, "mimeType": mime, "blob": STANDARD.encode(&bytes) }] }))
                }
                Err(e) => Err(not_found(e)),
            }
        }
        _ => {
            let album = client.get::<Value>(&key, &ApiPath::fixed("/api/albums").id(&id), &[]).await;
            let first = client
                .search_page(&key, false, &json!({ "albumIds": [id] }), 1, catalog.config.default_limit as u64)
                .await;
            match (album, first) {
                (Ok(mut album), Ok(page)) => {
                    album["photos"] = json!(page.items.into_iter().map(Photo::from).collect::<Vec<_>>());
                    Ok(text(album))
                }
                (Err(e), _) | (_, Err(e)) => Err(not_found(e)),
            }
        }
    })
}
