//! Immich's other paths — the web app and its assets, `/.well-known/immich` (how the mobile app
//! finds the API) — proxied unchanged: no authentication of the gateway's (the web app signs in
//! to Immich itself, and its cookie goes along as sent), no re-framing, no compression.

use super::RequestCtx;
use pingora::prelude::*;
use pingora_proxy::Session;

/// Admits a request for one of Immich's other paths, or answers it. `Ok(true)` when answered.
pub(super) async fn admit(session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    super::api::admit_body(session, ctx).await
}
