//! `GET /exports/<token>`: an export link made by `exportPhotos`. The sealed token says what to
//! export and who made it; the download is served only to the same caller (the same gateway key,
//! or the same Immich credential in passthrough mode), re-resolves the selection with Immich's
//! `download/info`, and streams the zip from `download/archive` chunk by chunk — each chunk is
//! written to the client (and the write awaited) before the next is read from Immich, so a slow
//! client slows the upstream read and memory stays at one chunk.

use crate::auth::{self, Principal, Surface};
use crate::immich::{Credential, ImmichClient};
use crate::mcp::session::Sealer;
use crate::reply::respond_error;
use crate::runtime::Runtime;
use crate::tools::export;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;

/// Serves an export link; returns the caller, once known.
pub(super) async fn serve(
    session: &mut Session,
    runtime: &Runtime,
    sealer: &Sealer,
    request_id: &str,
    public_base: &str,
    limiter: &crate::ratelimit::Limiter,
) -> Result<Option<Principal>> {
    let token = super::routes::export_token(session.req_header().uri.path()).to_string();
    let Some(selection) =
        sealer.open(export::KIND, &token).and_then(|bytes| serde_json::from_slice::<export::Selection>(&bytes).ok())
    else {
        let message = "unknown or altered export link; call exportPhotos again";
        respond_error(session, 404, request_id, message, &[]).await?;
        return Ok(None);
    };
    if selection.expires <= crate::mcp::session::now() {
        let message = "this export link has expired; call exportPhotos again";
        respond_error(session, 410, request_id, message, &[]).await?;
        return Ok(None);
    }
    auth::prepare(session.req_header(), &runtime.credentials).await;
    let principal = match auth::authenticate(session.req_header(), &runtime.credentials, Surface::Export) {
        Ok(principal) => principal,
        Err(reason) if reason.forbidden => {
            respond_error(session, 403, request_id, reason.message, &[]).await?;
            return Ok(None);
        }
        Err(reason) => {
            let challenge = auth::challenge(public_base, runtime.config.auth.mode, &reason);
            let message = format!("{reason}; an export link needs the same credentials as the MCP call that made it");
            respond_error(session, 401, request_id, &message, &[("www-authenticate", &challenge)]).await?;
            return Ok(None);
        }
    };
    if let Err(limited) =
        limiter.request(&runtime.config.rate_limits, || principal.client_key(crate::connection::client_ip(session)))
    {
        super::api::respond_limited(session, request_id, &limited).await?;
        return Ok(Some(principal));
    }
    if principal.owner() != selection.owner {
        let message =
            "this export link belongs to another caller: download it with the credentials of the MCP call that made it";
        respond_error(session, 403, request_id, message, &[]).await?;
        return Ok(Some(principal));
    }
    let Some(key) = principal.immich.clone() else {
        let reason = auth::AuthError::new("no Immich credentials");
        let challenge = auth::challenge(public_base, runtime.config.auth.mode, &reason);
        let message = "no Immich credentials: an export link needs the same credentials as the MCP call that made it";
        respond_error(session, 401, request_id, message, &[("www-authenticate", &challenge)]).await?;
        return Ok(Some(principal));
    };
    let client = &runtime.immich;
    let ids = match selection.asset_ids(client, &key).await {
        Ok(ids) => ids,
        Err(export::Refusal(status, message)) => {
            respond_error(session, status, request_id, &message, &[]).await?;
            return Ok(Some(principal));
        }
    };
    match stream_zip(session, client, &key, &ids, selection.index, request_id).await? {
        Ok(bytes) => tracing::info!(request_id, photos = ids.len(), bytes, "export streamed"),
        Err(export::Refusal(status, message)) => respond_error(session, status, request_id, &message, &[]).await?,
    }
    Ok(Some(principal))
}

/// Streams the zip of `ids` from Immich to the client. Returns the bytes sent; an error mid-way
/// ends the response (the client sees a truncated download, as with any broken transfer).
pub(super) async fn stream_zip(
    session: &mut Session,
    client: &ImmichClient,
    key: &Credential,
    ids: &[String],
    index: usize,
    request_id: &str,
) -> Result<std::result::Result<u64, export::Refusal>> {
    let mut upstream = match client.download_archive(key, ids).await {
        Ok(response) => response,
        Err(e) => return Ok(Err(export::immich_refusal(e))),
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
