//! The floor for `bench/passthrough.sh`: the smallest Pingora reverse proxy — every request to one
//! upstream over a keep-alive pool, no filters, no logging, no metrics — built with the same
//! Pingora, allocator and server settings as the gateway. What it cannot beat, the gateway cannot
//! either; the gap between the two is the gateway's own per-request work.
//!
//! `cargo run --release --example bare-proxy -- LISTEN UPSTREAM THREADS`, e.g.
//! `cargo run --release --example bare-proxy -- 127.0.0.1:8081 127.0.0.1:8080 1`.
//! `BARE_READ_BUFFER=2048` gives each connection the gateway's read buffer instead of Pingora's
//! 64 KiB (bench/attack.sh compares the memory an idle connection costs in each).

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::{Opt, ServerConf};
use std::net::SocketAddr;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare-proxy LISTEN UPSTREAM THREADS";
    let listen = args.next().expect(usage);
    let upstream = args.next().and_then(|a| a.parse().ok()).expect(usage);
    let threads = args.next().and_then(|t| t.parse().ok()).expect(usage);
    let conf = ServerConf {
        threads,
        work_stealing: false,
        max_retries: 1,
        // A benchmark's SIGTERM ends it at once.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Bare { upstream });
    match std::env::var("BARE_READ_BUFFER").ok().and_then(|b| b.parse().ok()) {
        Some(read) => proxy.add_listener(
            pingora::listeners::ListenerConfig::tcp(listen.as_str())
                .l4_buffer(pingora::protocols::l4::stream::L4BufferSettings::new(read, 1460)),
        ),
        None => proxy.add_tcp(&listen),
    }
    server.add_service(proxy);
    server.run_forever();
}
