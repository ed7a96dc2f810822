//! Where each request goes: the one list of the gateway's own paths, where they live
//! (`[server] path_prefix`, `[server] admin_listen`), and everything else to Immich.

use crate::config::ServerConfig;
use crate::mcp::transport::Endpoint;
pub use crate::telemetry::RouteClass as Route;

/// One of the gateway's own endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Own {
    /// `/health`: liveness.
    Health,
    /// `/health/streaming`: stream counts.
    HealthStreaming,
    /// `/ready`: Immich reachable, configuration loaded.
    Ready,
    /// `/metrics`: Prometheus.
    Metrics,
    /// An MCP path.
    Mcp(Endpoint),
    /// `/exports/<token>`: a zip download made by `exportPhotos`.
    Export,
    /// An endpoint of the OAuth authorization server (`/oauth/…`).
    OAuth(crate::oauth::Endpoint),
    /// RFC 8414 metadata: `/.well-known/oauth-authorization-server`.
    AuthServerMetadata,
}

impl Own {
    /// Health, readiness and metrics: what `[server] admin_listen` takes off the main listeners.
    fn is_admin(self) -> bool {
        matches!(self, Own::Health | Own::HealthStreaming | Own::Ready | Own::Metrics)
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Answered by the gateway.
    Own(Own),
    /// Immich's API: normalised, authenticated, possibly re-framed.
    Api,
    /// Anything else of Immich's (the web app, `/.well-known/immich`): proxied unchanged.
    Web,
    /// Nothing here (an unknown path on the admin listener).
    NotFound,
}

impl Target {
    /// The route class its metrics and logs are counted under.
    pub fn route(self) -> Route {
        match self {
            Target::Own(Own::Health | Own::HealthStreaming) => Route::Health,
            Target::Own(Own::Ready) => Route::Ready,
            Target::Own(Own::Metrics) => Route::Metrics,
            Target::Own(Own::Mcp(_)) => Route::Mcp,
            Target::Own(Own::Export) => Route::Export,
            Target::Own(Own::OAuth(_) | Own::AuthServerMetadata) => Route::OAuth,
            Target::Api => Route::Api,
            Target::Web => Route::Web,
            Target::NotFound => Route::Other,
        }
    }
}

/// Which listener a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// `listen` and `tls_listen`: the gateway's own paths and all of Immich.
    Main,
    /// `admin_listen`: health, readiness and metrics only.
    Admin,
}

/// The gateway's own paths below `[server] path_prefix`.
const OWN: &[(&str, Own)] = &[
    ("/health", Own::Health),
    ("/health/streaming", Own::HealthStreaming),
    ("/ready", Own::Ready),
    ("/metrics", Own::Metrics),
    ("/mcp", Own::Mcp(Endpoint::Mcp)),
    ("/mcp/stream", Own::Mcp(Endpoint::Stream)),
    ("/mcp/ws", Own::Mcp(Endpoint::Ws)),
];
/// Export links, below `[server] path_prefix`.
const EXPORTS: &str = "/exports/";
/// RFC 9728 metadata: always at the root (the path-aware form appends the resource's path).
const RESOURCE_METADATA: &str = "/.well-known/oauth-protected-resource";
/// RFC 8414 metadata: at the root, with the issuer's path (the prefix) appended.
const AUTH_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";

/// Where a request for `path` arriving on `listener` goes.
pub fn target(path: &str, server: &ServerConfig, listener: Listener) -> Target {
    if listener == Listener::Admin {
        return match OWN.iter().find(|(p, own)| *p == path && own.is_admin()) {
            Some((_, own)) => Target::Own(*own),
            None => Target::NotFound,
        };
    }
    if path.starts_with(RESOURCE_METADATA) {
        return Target::Own(Own::Mcp(Endpoint::ResourceMetadata));
    }
    if path.strip_prefix(AUTH_SERVER_METADATA) == Some(server.path_prefix.as_str()) {
        return Target::Own(Own::AuthServerMetadata);
    }
    if let Some(rest) = path.strip_prefix(server.path_prefix.as_str()) {
        let admin_apart = server.admin_listen.is_some();
        if let Some((_, own)) = OWN.iter().find(|(p, own)| *p == rest && !(admin_apart && own.is_admin())) {
            return Target::Own(*own);
        }
        if rest.starts_with(EXPORTS) {
            return Target::Own(Own::Export);
        }
        if let Some((_, endpoint)) = crate::oauth::Endpoint::PATHS.iter().find(|(p, _)| *p == rest) {
            return Target::Own(Own::OAuth(*endpoint));
        }
    }
    // A path that is not plain could resolve into /api (`/x/../api/…`, `/%61pi/…`): it takes the
    // API's normalisation, which either lands in /api (and its authentication) or refuses it.
    if path == "/api" || path.starts_with("/api/") || !is_plain(path) { Target::Api } else { Target::Web }
}

/// Nothing to decode or resolve: no empty, `.` or `..` segment, no percent escape, no backslash,
/// and a first segment that is not `api` in another case (Immich's router ignores case).
fn is_plain(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains("//")
        && !path.bytes().any(|b| b == b'%' || b == b'\\' || b == 0)
        && !path.split('/').any(|s| s == "." || s == "..")
        && !path[1..].split('/').next().is_some_and(|first| first.eq_ignore_ascii_case("api"))
}

/// The token of an export link's path.
pub fn export_token(path: &str) -> &str {
    path.split_once(EXPORTS).map_or("", |(_, token)| token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main(path: &str) -> Target {
        target(path, &ServerConfig::default(), Listener::Main)
    }

    #[test]
    fn immich_gets_everything_that_is_not_the_gateways() {
        assert_eq!(main("/api"), Target::Api);
        assert_eq!(main("/api/server/ping"), Target::Api);
        assert_eq!(main("/"), Target::Web);
        assert_eq!(main("/photos/1234"), Target::Web);
        assert_eq!(main("/_app/immutable/entry/start.js"), Target::Web);
        assert_eq!(main("/.well-known/immich"), Target::Web);
        assert_eq!(main("/apix"), Target::Web);
        assert_eq!(main("/mcpx"), Target::Web);
    }

    #[test]
    fn paths_that_could_resolve_into_the_api_take_its_normalisation() {
        for path in ["//api/x", "/x/../api/albums", "/%61pi/albums", "/./api", "/a\\b", "//", "/API/albums", "/Api"] {
            assert_eq!(main(path), Target::Api, "{path}");
        }
    }

    #[test]
    fn the_gateways_own_paths_are_recognised() {
        assert_eq!(main("/health"), Target::Own(Own::Health));
        assert_eq!(main("/health/streaming"), Target::Own(Own::HealthStreaming));
        assert_eq!(main("/mcp"), Target::Own(Own::Mcp(Endpoint::Mcp)));
        assert_eq!(main("/mcp/ws"), Target::Own(Own::Mcp(Endpoint::Ws)));
        assert_eq!(main("/exports/v1.x.y"), Target::Own(Own::Export));
        assert_eq!(export_token("/exports/v1.x.y"), "v1.x.y");
        assert_eq!(
            main("/.well-known/oauth-protected-resource/mcp"),
            Target::Own(Own::Mcp(Endpoint::ResourceMetadata))
        );
        assert_eq!(main("/metrics"), Target::Own(Own::Metrics));
        assert_eq!(main("/oauth/authorize"), Target::Own(Own::OAuth(crate::oauth::Endpoint::Authorize)));
        assert_eq!(main("/oauth/token"), Target::Own(Own::OAuth(crate::oauth::Endpoint::Token)));
        assert_eq!(main("/.well-known/oauth-authorization-server"), Target::Own(Own::AuthServerMetadata));
        assert_eq!(main("/.well-known/oauth-authorization-server/x"), Target::Web);
    }

    #[test]
    fn a_prefix_moves_the_gateways_paths_and_frees_the_old_ones_for_immich() {
        let server = ServerConfig { path_prefix: "/gateway".into(), ..ServerConfig::default() };
        let at = |path| target(path, &server, Listener::Main);
        assert_eq!(at("/gateway/mcp"), Target::Own(Own::Mcp(Endpoint::Mcp)));
        assert_eq!(at("/gateway/exports/t"), Target::Own(Own::Export));
        assert_eq!(export_token("/gateway/exports/t"), "t");
        assert_eq!(at("/gateway/health"), Target::Own(Own::Health));
        assert_eq!(at("/mcp"), Target::Web);
        assert_eq!(at("/health"), Target::Web);
        assert_eq!(at("/gatewayx/mcp"), Target::Web);
        assert_eq!(at("/gateway/oauth/revoke"), Target::Own(Own::OAuth(crate::oauth::Endpoint::Revoke)));
        assert_eq!(at("/oauth/revoke"), Target::Web);
        assert_eq!(at("/.well-known/oauth-authorization-server/gateway"), Target::Own(Own::AuthServerMetadata));
        assert_eq!(
            at("/.well-known/oauth-protected-resource/gateway/mcp"),
            Target::Own(Own::Mcp(Endpoint::ResourceMetadata))
        );
    }

    #[test]
    fn an_admin_listener_takes_health_readiness_and_metrics() {
        let server = ServerConfig { admin_listen: Some("127.0.0.1:9090".into()), ..ServerConfig::default() };
        assert_eq!(target("/health", &server, Listener::Admin), Target::Own(Own::Health));
        assert_eq!(target("/metrics", &server, Listener::Admin), Target::Own(Own::Metrics));
        assert_eq!(target("/mcp", &server, Listener::Admin), Target::NotFound);
        assert_eq!(target("/api/server/ping", &server, Listener::Admin), Target::NotFound);
        assert_eq!(target("/health", &server, Listener::Main), Target::Web);
        assert_eq!(target("/metrics", &server, Listener::Main), Target::Web);
        assert_eq!(target("/mcp", &server, Listener::Main), Target::Own(Own::Mcp(Endpoint::Mcp)));
    }
}
