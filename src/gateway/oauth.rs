//! The OAuth authorization server's HTTP side: reads the request (a body of at most
//! `oauth::MAX_BODY`, within `[server] body_timeout`), hands it to `crate::oauth`, writes the
//! reply. In any mode but `oauth` its paths answer 404.

use crate::config::AuthMode;
use crate::oauth::{self, Endpoint, Request, Server, State};
use crate::reply::{respond, respond_error, respond_json};
use crate::runtime::Runtime;
use bytes::Bytes;
use pingora::prelude::*;
use pingora_proxy::Session;

const OFF: &str = "OAuth is off: the gateway is its own authorization server only with [auth] mode = \"oauth\"";

/// The server for `runtime`, when it is in `oauth` mode.
fn server<'a>(runtime: &'a Runtime, state: &'a State) -> Option<Server<'a>> {
    let (vault, _) = runtime.credentials.oauth()?;
    (runtime.config.auth.mode == AuthMode::OAuth).then_some(Server {
        config: &runtime.config,
        vault,
        immich: &runtime.immich,
        state,
    })
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata(session: &mut Session, runtime: &Runtime, state: &State, request_id: &str) -> Result<()> {
    match server(runtime, state) {
        Some(server) => respond_json(session, 200, request_id, &oauth::authorization_server_metadata(&server)).await,
        None => respond_error(session, 404, request_id, OFF, &[]).await,
    }
}

/// One request to `/oauth/…`.
pub async fn serve(
    session: &mut Session,
    runtime: &Runtime,
    state: &State,
    endpoint: Endpoint,
    request_id: &str,
) -> Result<()> {
    let Some(server) = server(runtime, state) else {
        return respond_error(session, 404, request_id, OFF, &[]).await;
    };
    let header = |session: &Session, name: http::HeaderName| {
        session.req_header().headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    let declared = header(session, http::header::CONTENT_LENGTH).parse::<usize>().ok();
    if declared.is_some_and(|n| n > oauth::MAX_BODY) {
        let message = format!("request body larger than {} bytes", oauth::MAX_BODY);
        return respond_error(session, 413, request_id, &message, &[("connection", "close")]).await;
    }
    let limit = oauth::MAX_BODY as u64;
    let Ok(body) = crate::connection::read_body(session, limit, runtime.config.server.body_timeout.0).await? else {
        let message = "the request body was too large or too slow";
        return respond_error(session, 413, request_id, message, &[("connection", "close")]).await;
    };
    let content_type = header(session, http::header::CONTENT_TYPE);
    let cookies = header(session, http::header::COOKIE);
    let csrf_cookie = cookies.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == oauth::CSRF_COOKIE).then_some(value)
    });
    let req = session.req_header();
    let request = Request {
        endpoint,
        method: &req.method,
        query: req.uri.query().unwrap_or_default(),
        body: &body,
        content_type: &content_type,
        csrf_cookie,
        client_ip: crate::connection::client_ip(session),
    };
    let reply = server.serve(&request).await;
    let headers: Vec<(&'static str, &str)> = reply.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    respond(session, reply.status, reply.content_type, request_id, &headers, Bytes::from(reply.body)).await
}
