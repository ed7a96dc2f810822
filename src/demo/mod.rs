//! The embedded demo Immich (`--demo`): an in-process fake of Immich's REST API on an ephemeral
//! loopback port, serving a deterministic synthetic library with the real server's response
//! shapes, status codes and error bodies. Tests and benchmarks use it too.
//!
//! Keys: [`ADMIN_KEY`] may do everything; [`READONLY_KEY`] only reads, so writes get Immich's
//! `403 Missing required permission: …`. A fault switch (`[demo].fault` or the `x-demo-fault`
//! header) makes responses slow, fail, reset or truncated.

pub mod library;
mod media;
mod routes;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use library::Library;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::net::SocketAddr;
use std::sync::Arc;

/// The demo key with every permission.
pub const ADMIN_KEY: &str = "demo-admin-key";
/// The demo key that can only read.
pub const READONLY_KEY: &str = "demo-readonly-key";
/// The key of the demo's second user, whose library is empty.
pub const FRIEND_KEY: &str = "demo-friend-key";

/// Permissions of [`READONLY_KEY`].
pub const READONLY_PERMISSIONS: &[&str] = &[
    "asset.read",
    "asset.view",
    "asset.download",
    "asset.statistics",
    "album.read",
    "album.statistics",
    "albumAsset.read",
    "person.read",
    "person.statistics",
    "tag.read",
    "timeline.read",
    "map.read",
    "memory.read",
    "user.read",
    "apiKey.read",
    "server.about",
];

/// Faults to inject into demo responses (parsed with the configuration: `[demo] fault`).
pub use crate::config::FaultSpec as Fault;

/// The body type of demo responses: whole or streamed.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// The demo server's state.
pub struct DemoImmich {
    /// The admin's synthetic library.
    library: Library,
    /// The second user's library (empty).
    friend: Library,
    /// Login sessions: token → user.
    sessions: parking_lot::Mutex<std::collections::HashMap<String, usize>>,
    /// API keys by secret.
    api_keys: parking_lot::Mutex<std::collections::HashMap<String, Arc<routes::users::DemoKey>>>,
    fault: Fault,
    /// The Immich version it answers as (`GET /api/server/version`): 3.1.0 unless told otherwise.
    version: (u64, u64, u64),
}

impl DemoImmich {
    /// A demo Immich with `assets` synthetic assets and a standing fault (usually none).
    pub fn new(assets: u64, fault: Fault) -> Arc<DemoImmich> {
        Arc::new(DemoImmich {
            library: Library::new(assets),
            friend: Library::empty(),
            sessions: Default::default(),
            api_keys: parking_lot::Mutex::new(routes::users::initial_keys()),
            fault,
            version: (3, 1, 0),
        })
    }

    /// The library of the user at `index` (see `routes::users::USERS`).
    fn library_of(&self, user: usize) -> &Library {
        if user == 0 { &self.library } else { &self.friend }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
        // The body is read before anything can refuse the request, as Immich's body parser does:
        // an answer sent over an unread body makes hyper close the connection with a reset, which
        // a client may already have taken from its pool for its next request.
        let (req, body) = req.into_parts();
        let body = match Limited::new(body, routes::MAX_REQUEST_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Ok(routes::message(413, "request entity too large")),
        };
        let fault = match req.headers.get("x-demo-fault").and_then(|v| v.to_str().ok()) {
            Some(text) => Fault::parse(text).unwrap_or_default(),
            None => self.fault.clone(),
        };
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if fault.reset {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset"));
        }
        if let Some(status) = fault.status {
            return Ok(routes::message(status, "Injected fault"));
        }
        let response = routes::route_request(&self, req, body).await;
        if !(fault.truncate || fault.stall.is_some() || fault.cut) {
            return Ok(response);
        }
        // The body faults: something happens after its first half.
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let (first, rest) = (bytes.slice(..bytes.len() / 2), bytes.slice(bytes.len() / 2..));
        if fault.truncate {
            let mut response = Response::from_parts(parts, full(first.clone()));
            response.headers_mut().insert("content-length", first.len().into());
            return Ok(response);
        }
        // The declared length stays that of the whole body, so a cut is a broken response.
        let second = async move {
            if let Some(stall) = fault.stall {
                tokio::time::sleep(stall).await;
            }
            match fault.cut {
                true => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "injected cut")),
                false => Ok(hyper::body::Frame::data(rest)),
            }
        };
        let frames = futures::stream::once(async move { Ok(hyper::body::Frame::data(first)) })
            .chain(futures::stream::once(second));
        Ok(Response::from_parts(parts, BodyExt::boxed_unsync(http_body_util::StreamBody::new(frames))))
    }

    /// Serves connections from `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let demo = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| demo.clone().handle(req));
                let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }
}

/// Binds the demo's loopback listener on an ephemeral port (before Pingora forks or starts), not
/// one of `avoid` — the gateway's own listen ports, which are bound later: a port someone freed
/// for the gateway to take can be the next one the kernel hands out.
pub fn bind(avoid: &[u16]) -> std::io::Result<std::net::TcpListener> {
    // Ports refused so far stay bound until the end, so the kernel hands out another each time.
    let mut refused = Vec::new();
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        if avoid.contains(&listener.local_addr()?.port()) {
            refused.push(listener);
            continue;
        }
        listener.set_nonblocking(true)?;
        return Ok(listener);
    }
}

/// Pingora background service running the demo on a pre-bound listener.
pub struct DemoService {
    /// The demo state.
    pub demo: Arc<DemoImmich>,
    /// The pre-bound listener, taken on start.
    pub listener: parking_lot::Mutex<Option<std::net::TcpListener>>,
}

#[async_trait]
impl BackgroundService for DemoService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(std_listener) = self.listener.lock().take() else {
            return;
        };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "demo Immich cannot start");
                return;
            }
        };
        self.demo
            .clone()
            .serve(listener, async move {
                let _ = shutdown.changed().await;
            })
            .await;
    }
}

/// Starts a demo Immich on its own thread and runtime, for tests and benchmarks; it lives until
/// the process ends. Returns its address.
pub fn spawn(assets: u64, fault: Fault) -> SocketAddr {
    spawn_as(assets, fault, (3, 1, 0))
}

/// [`spawn`], answering `GET /api/server/version` as Immich `version` (e.g. the v2 line's 2.7.5,
/// for what the gateway sends an older server).
pub fn spawn_as(assets: u64, fault: Fault, version: (u64, u64, u64)) -> SocketAddr {
    let listener = bind(&[]).expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let mut demo = DemoImmich::new(assets, fault);
    if let Some(only) = Arc::get_mut(&mut demo) {
        only.version = version;
    }
    std::thread::Builder::new()
        .name("demo-immich".into())
        .spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                demo.serve(listener, std::future::pending()).await;
            });
        })
        .expect("spawn demo thread");
    addr
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bind_keeps_clear_of_the_gateways_ports() {
        // Every port the kernel handed out so far is to be avoided: the next bind must skip them
        // even when one is free again.
        let taken: Vec<u16> = (0..20).map(|_| bind(&[]).unwrap().local_addr().unwrap().port()).collect();
        for _ in 0..20 {
            let port = bind(&taken).unwrap().local_addr().unwrap().port();
            assert!(!taken.contains(&port), "{port} is one of the gateway's");
        }
    }

    #[test]
    fn faults_parse() {
        assert_eq!(Fault::parse("").unwrap(), Fault::default());
        let f = Fault::parse("slow=250ms, status=503").unwrap();
        assert_eq!((f.delay, f.status), (Some(Duration::from_millis(250)), Some(503)));
        assert!(Fault::parse("reset").unwrap().reset);
        assert!(Fault::parse("truncate").unwrap().truncate);
        assert!(Fault::parse("explode").is_err());
        assert!(Fault::parse("status=200").is_err());
    }
}
