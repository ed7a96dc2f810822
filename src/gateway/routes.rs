//! Which requests are the gateway's own and which go to Immich: the one list of the gateway's
//! paths.

pub use crate::telemetry::RouteClass as Route;

/// The gateway's own paths, and what each is. Everything under `/api` goes to Immich.
const OWN: &[(&str, Route)] = &[
    ("/health", Route::Health),
    ("/health/streaming", Route::Health),
    ("/ready", Route::Ready),
    ("/metrics", Route::Metrics),
    ("/mcp", Route::Mcp),
    ("/mcp/stream", Route::Mcp),
    ("/mcp/ws", Route::Mcp),
];

/// Path prefixes of the gateway's own.
const OWN_PREFIXES: &[(&str, Route)] =
    &[("/exports/", Route::Export), ("/.well-known/oauth-protected-resource", Route::Mcp)];

/// Classifies a request path.
pub fn route_of(path: &str) -> Route {
    if let Some((_, route)) = OWN.iter().find(|(p, _)| *p == path) {
        return *route;
    }
    if let Some((_, route)) = OWN_PREFIXES.iter().find(|(p, _)| path.starts_with(p)) {
        return *route;
    }
    if path == "/api" || path.starts_with("/api/") || path.starts_with("//") || path.starts_with("/api%") {
        Route::Api
    } else {
        Route::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified() {
        assert_eq!(route_of("/health"), Route::Health);
        assert_eq!(route_of("/api"), Route::Api);
        assert_eq!(route_of("/api/server/ping"), Route::Api);
        assert_eq!(route_of("//api/x"), Route::Api);
        assert_eq!(route_of("/apix"), Route::Other);
        assert_eq!(route_of("/"), Route::Other);
    }

    #[test]
    fn the_gateways_own_paths_are_recognised() {
        assert_eq!(route_of("/mcp/ws"), Route::Mcp);
        assert_eq!(route_of("/exports/v1.x.y"), Route::Export);
        assert_eq!(route_of("/.well-known/oauth-protected-resource/mcp"), Route::Mcp);
        assert_eq!(route_of("/metrics"), Route::Metrics);
        assert_eq!(route_of("/mcpx"), Route::Other);
    }
}
