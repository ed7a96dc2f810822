//! Assembles the Pingora server: the proxy service on the configured listeners, the config
//! reloader, and under `--demo` the embedded Immich.

use crate::config::{Config, ConfigErrors};
use crate::connection::Limits;
use crate::gateway::{Front, Gateway};
use crate::runtime::{ConfigStore, Reloader, Source};
use crate::telemetry;
use pingora::apps::HttpServerOptions;
use pingora::listeners::ListenerConfig;
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::Server;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::Arc;

/// Pingora's server settings derived from ours.
fn server_conf(config: &Config) -> ServerConf {
    let server = &config.server;
    ServerConf {
        threads: server.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        upstream_keepalive_pool_size: config.immich.pool_size,
        grace_period_seconds: Some(server.grace_period.0.as_secs()),
        graceful_shutdown_timeout_seconds: Some(server.graceful_shutdown_timeout.0.as_secs()),
        upgrade_sock: server.upgrade_sock.clone(),
        pid_file: server.pid_file.clone(),
        // Pingora's "retries" count attempts: a first try and one retry, which covers a pooled
        // connection Immich closed; more would only delay a 502.
        max_retries: 2,
        work_stealing: false,
        ..ServerConf::default()
    }
}

/// Loads the configuration and runs the gateway until shutdown. Returns only on start-up errors.
pub fn run(mut source: Source, demo: bool, opt: Opt) -> Result<(), ConfigErrors> {
    let demo_listener = if demo { Some(demo::listen(&mut source)?) } else { None };
    let store = ConfigStore::open(source)?;
    let runtime = store.current();
    let config = &runtime.config;
    if !opt.upgrade {
        // An upgrade inherits its sockets; a fresh start must be able to open its own.
        check_listeners(&config.server)?;
    }
    check_writable_files(&config.server, &opt)?;
    telemetry::init_logging(&config.telemetry);
    raise_file_limit(config.server.max_connections);

    warn_if_exposed_without_auth(config);
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(config));
    server.bootstrap();

    let permissions = Arc::new(crate::tools::KeyPermissions::default());
    let gateway = Gateway::new(store.clone(), permissions.clone());
    let mut proxy =
        Service::new("immich-mcp-gateway".to_string(), front(&server, gateway.clone(), &store, Limits::new()));
    for addr in &config.server.listen {
        proxy.add_listener(ListenerConfig::tcp(addr.as_str()).l4_buffer(connection_buffers()));
        tracing::info!(%addr, "listening");
    }
    for addr in &config.server.tls_listen {
        let listener = ListenerConfig::tcp(addr.as_str()).tls(tls_settings(&store)).l4_buffer(connection_buffers());
        proxy.add_listener(listener);
        tracing::info!(%addr, "listening (HTTPS)");
    }
    server.add_service(proxy);
    if let Some(addr) = &config.server.admin_listen {
        // Its own connection count: a flood on the main listeners does not fail the probes.
        let admin = front(&server, gateway.for_admin_listener(), &store, Limits::new());
        let mut service = Service::new("admin".to_string(), admin);
        service.add_listener(ListenerConfig::tcp(addr.as_str()));
        tracing::info!(%addr, "listening (health, readiness and metrics)");
        server.add_service(service);
    }
    server.add_service(background_service("config reloader", Reloader { store: store.clone() }));
    server.add_service(background_service("shutdown notice", ShutdownNotice));
    server.add_service(background_service(
        "immich key permissions",
        PermissionRefresher { store: store.clone(), permissions },
    ));

    if let Some(listener) = demo_listener {
        demo::serve(&mut server, config, listener);
    } else {
        server.add_service(background_service("immich probe", StartupProbe { store: store.clone() }));
    }
    tracing::info!(immich = %config.immich.base_url, mode = ?config.auth.mode, "immich-mcp-gateway {} starting", env!("CARGO_PKG_VERSION"));
    server.run_forever();
}

/// Opens and closes each listen address once, so one the process may not use (a port below 1024
/// without privileges, an address in use or not on this machine) is a configuration error before
/// anything starts — Pingora would panic in its listener thread and the process would hang on.
fn check_listeners(server: &crate::config::ServerConfig) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    for (key, addr) in server.keyed_listeners() {
        if let Err(e) = std::net::TcpListener::bind(addr.as_str()) {
            let hint = match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    ": ports below 1024 need root or CAP_NET_BIND_SERVICE; use 8080 and map the port instead"
                }
                std::io::ErrorKind::AddrInUse => ": another process listens there (for an upgrade, start with -u)",
                _ => "",
            };
            errors.push(crate::config::ConfigError::unplaced(
                "listen",
                Some(key.to_string()),
                format!("cannot listen on {addr}: {e}{hint}"),
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
}

/// The files Pingora writes where a failure would panic (after the daemon's fork, the parent
/// having exited 0): the pid file in daemon mode, and the upgrade socket a `-u` process listens
/// on. Each is tried first, so a read-only or missing directory is a configuration error.
fn check_writable_files(server: &crate::config::ServerConfig, opt: &Opt) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut check = |key: &str, path: &str, why: &str| {
        let probe = format!("{path}.check-{}", std::process::id());
        match std::fs::OpenOptions::new().create(true).truncate(true).write(true).open(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => errors.push(crate::config::ConfigError::unplaced(
                "start",
                Some(key.to_string()),
                format!("cannot create {why} at {path}: {e}; point it at a writable directory (e.g. /tmp)"),
            )),
        }
    };
    if opt.daemon {
        check("server.pid_file", &server.pid_file, "the pid file");
    }
    if opt.upgrade {
        check("server.upgrade_sock", &server.upgrade_sock, "the upgrade socket");
    }
    if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
}

/// The connection-admitting app in front of `gateway`'s Pingora proxy, with the server options
/// every listener shares.
fn front(
    server: &Server,
    gateway: Gateway,
    store: &Arc<ConfigStore>,
    limits: Arc<Limits>,
) -> Front<pingora_proxy::HttpProxy<Gateway>> {
    let config = store.current();
    let mut proxy = pingora_proxy::http_proxy(&server.configuration, gateway);
    let mut options = HttpServerOptions::default();
    options.h2c = config.config.server.h2c;
    // An HTTP/2 connection with no stream open closes like an idle HTTP/1 one.
    options.h2_idle_timeout = Some(config.config.server.keepalive_timeout.0);
    proxy.server_options = Some(options);
    Front { proxy: Arc::new(proxy), store: store.clone(), limits }
}

/// The embedded demo Immich (`--demo`), when this build has it.
mod demo {
    use super::*;

    /// A loopback port for the demo Immich, clear of the gateway's own listen ports (bound after
    /// it), and the configuration pointed at it.
    #[cfg(feature = "demo")]
    pub fn listen(source: &mut Source) -> Result<std::net::TcpListener, ConfigErrors> {
        let own_ports = source.load().map(|c| c.server.ports()).unwrap_or_default();
        let listener =
            crate::demo::bind(&own_ports).map_err(|e| refused(format!("cannot bind a loopback port: {e}")))?;
        let addr = listener.local_addr().map_err(|e| refused(e.to_string()))?;
        source.demo_base_url = Some(crate::config::BaseUrl::parse(&format!("http://{addr}")).map_err(refused)?);
        Ok(listener)
    }

    /// Runs the demo Immich on `listener` beside the gateway.
    #[cfg(feature = "demo")]
    pub fn serve(server: &mut Server, config: &Config, listener: std::net::TcpListener) {
        // Its keys are in the README; keys are never logged, not even the demo's.
        tracing::info!(immich = %config.immich.base_url, assets = config.demo.assets, "demo Immich running");
        let demo = crate::demo::DemoImmich::new(config.demo.assets, config.demo.fault.clone());
        let service = crate::demo::DemoService { demo, listener: parking_lot::Mutex::new(Some(listener)) };
        server.add_service(background_service("demo immich", service));
    }

    /// This build has no demo.
    #[cfg(not(feature = "demo"))]
    pub fn listen(_source: &mut Source) -> Result<std::net::TcpListener, ConfigErrors> {
        Err(refused("this build has no demo Immich (built without the `demo` feature)".into()))
    }

    /// This build has no demo.
    #[cfg(not(feature = "demo"))]
    pub fn serve(_server: &mut Server, _config: &Config, _listener: std::net::TcpListener) {}

    fn refused(message: String) -> ConfigErrors {
        ConfigErrors(vec![crate::config::ConfigError::unplaced("--demo", None, message)])
    }
}

/// Turns Pingora's shutdown broadcast into [`crate::shutdown::begun`].
struct ShutdownNotice;

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for ShutdownNotice {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        tracing::info!("graceful shutdown: ending open streams with a resume point");
        crate::shutdown::begin();
    }
}

/// HTTPS with HTTP/2 offered by ALPN beside HTTP/1.1, serving the certificate of the configuration
/// in force at each handshake (see [`crate::runtime::tls`]).
fn tls_settings(store: &Arc<ConfigStore>) -> TlsSettings {
    // The paths stay empty: the resolver supplies the certificate.
    let mut tls = TlsSettings::intermediate("", "").expect("TLS settings without files");
    tls.set_cert_resolver(Arc::new(crate::runtime::tls::CurrentCertificate { store: store.clone() }));
    tls.enable_h2();
    tls
}

/// Each connection's socket buffers in the gateway: Pingora's default read buffer is 64 KiB a
/// connection, which 20,000 idle connections turn into 1.3 GB; request heads are read into their
/// own 4 KiB buffer and bodies into 64 KiB chunks anyway, so a small read buffer costs no
/// throughput (bench/passthrough.sh) and an idle connection costs a few KiB.
fn connection_buffers() -> L4BufferSettings {
    L4BufferSettings::new(CONNECTION_READ_BUFFER, pingora::protocols::l4::stream::DEFAULT_L4_WRITE_BUFFER_SIZE)
}

/// See [`connection_buffers`].
const CONNECTION_READ_BUFFER: usize = 2048;

/// Raises the soft limit on open files to the hard limit (connections are files), and warns when
/// `max_connections` does not leave room under it for Immich connections, streams and files: past
/// the limit `accept` fails, and nobody, not even `/health`, gets in.
fn raise_file_limit(max_connections: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    let (soft, hard) = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let hard = limit.rlim_max;
        if limit.rlim_cur < hard {
            limit.rlim_cur = hard;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
        }
        (limit.rlim_cur, hard)
    };
    // Each connection may hold an Immich connection too; keep a margin for files and the pool.
    let needed = (max_connections as u64).saturating_mul(2).saturating_add(1024);
    if soft < needed {
        tracing::warn!(
            open_files = soft,
            hard_limit = hard,
            max_connections,
            "the open-file limit is below what [server] max_connections may need (twice it, plus 1024); lower max_connections or raise the limit (ulimit -n, LimitNOFILE=)"
        );
    } else {
        tracing::debug!(open_files = soft, "open-file limit");
    }
}

/// Without gateway keys (`passthrough`), anyone who reaches `/mcp` can call tools with whatever
/// Immich key they present, or none. That is fine on loopback (a sidecar, a desktop) and
/// dangerous anywhere else, so say so loudly.
fn warn_if_exposed_without_auth(config: &Config) {
    let exposed: Vec<&String> = config
        .server
        .listeners()
        .filter(|addr| addr.parse::<std::net::SocketAddr>().map_or(true, |a| !a.ip().is_loopback()))
        .collect();
    if config.auth.mode == crate::config::AuthMode::Passthrough && config.mcp.enabled && !exposed.is_empty() {
        tracing::warn!(
            listen = ?exposed,
            "!!! /mcp is served WITHOUT gateway authentication on a non-loopback address: anyone who can reach it \
             can use the tools. Set [auth] mode = \"inject\" with [[auth.keys]], or bind to 127.0.0.1. !!!"
        );
    }
}

/// Reads what the gateway's Immich key may do (`GET /api/api-keys/me`) at start, after each reload
/// and every minute, so that tools the key cannot use are hidden (or marked unavailable).
struct PermissionRefresher {
    store: Arc<ConfigStore>,
    permissions: Arc<crate::tools::KeyPermissions>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for PermissionRefresher {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut seen_generation = None;
        let mut last_read = std::time::Instant::now();
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => return,
            }
            let runtime = self.store.current();
            let due = seen_generation != Some(runtime.generation)
                || last_read.elapsed() >= std::time::Duration::from_secs(60);
            if !due {
                continue;
            }
            let Some(key) = runtime.credentials.default_immich().cloned() else {
                // No key of the gateway's own (passthrough): each caller's key decides, per call.
                self.permissions.update(None);
                seen_generation = Some(runtime.generation);
                continue;
            };
            match runtime.immich.permissions(&key).await {
                Ok(list) => {
                    self.permissions.update(Some(list.into_iter().collect()));
                    seen_generation = Some(runtime.generation);
                    last_read = std::time::Instant::now();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the Immich key's permissions; listing every tool for now")
                }
            }
        }
    }
}

/// Checks once at start-up that Immich answers, so a wrong URL shows in the first log lines.
struct StartupProbe {
    store: Arc<ConfigStore>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for StartupProbe {
    async fn start(&self, _shutdown: pingora::server::ShutdownWatch) {
        let runtime = self.store.current();
        let client = &runtime.immich;
        match client.ping(runtime.upstream.base(), std::time::Duration::from_secs(5)).await {
            Ok(()) => {
                let version = match runtime.credentials.default_immich() {
                    Some(key) => client
                        .version(key)
                        .await
                        .map(|(major, minor, patch)| format!("v{major}.{minor}.{patch}"))
                        .unwrap_or_else(|e| e.to_string()),
                    None => "unknown (no gateway key)".to_string(),
                };
                tracing::info!(immich = %runtime.config.immich.base_url, %version, "Immich is reachable");
            }
            Err(reason) => tracing::error!(
                immich = %runtime.config.immich.base_url,
                %reason,
                "Immich is not reachable; serving anyway, /ready answers 503 until it is"
            ),
        }
    }
}
