//! Normalisation of proxied paths: dot segments resolved, duplicate slashes collapsed, and
//! anything that could leave Immich's `/api` (encoded slashes, backslashes, NUL, double
//! encoding) refused before it reaches an upstream.

use percent_encoding::percent_decode_str;

/// Normalises the path of a request for `/api/*`. The result starts with `/api` and keeps each
/// surviving segment exactly as the client encoded it.
pub fn normalize_api_path(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err("the request path must start with /".into());
    }
    if is_plain_api_path(raw) {
        return Ok(raw.to_string());
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        let decoded = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| "the request path is not valid UTF-8 once decoded".to_string())?;
        if decoded.contains(['/', '\\', '\0']) {
            return Err("encoded slashes, backslashes and NUL are not allowed in paths".into());
        }
        let lower = decoded.to_ascii_lowercase();
        if lower.contains("%2e") || lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
            return Err("double-encoded path characters are not allowed".into());
        }
        match &*decoded {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err("the path climbs above the root".into());
                }
            }
            _ => segments.push(segment),
        }
    }
    if segments.first() != Some(&"api") {
        return Err("the normalised path leaves /api".into());
    }
    let mut path = String::with_capacity(raw.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if raw.ends_with('/') && segments.len() > 1 {
        path.push('/');
    }
    Ok(path)
}

/// A path with nothing to decode or resolve (the common case) is its own normal form.
fn is_plain_api_path(raw: &str) -> bool {
    (raw == "/api" || raw.starts_with("/api/"))
        && !raw.contains("//")
        && !raw.contains("/.")
        && !raw.bytes().any(|b| b == b'%' || b == b'\\' || b == 0)
}

#[cfg(test)]
mod tests {
    use super::normalize_api_path as n;

    #[test]
    fn ordinary_paths_are_unchanged() {
        assert_eq!(n("/api/server/ping").unwrap(), "/api/server/ping");
        assert_eq!(n("/api").unwrap(), "/api");
        assert_eq!(n("/api/search/metadata/").unwrap(), "/api/search/metadata/");
        assert_eq!(n("/api/assets/a%20b").unwrap(), "/api/assets/a%20b");
    }

    #[test]
    fn dot_segments_and_slashes_collapse_inside_api() {
        assert_eq!(n("//api//server/./ping").unwrap(), "/api/server/ping");
        assert_eq!(n("/api/albums/../server/ping").unwrap(), "/api/server/ping");
        assert_eq!(n("/api/albums/%2e%2e/server").unwrap(), "/api/server");
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "/api/../health",
            "/api/%2e%2e/metrics",
            "/api/..%2fmetrics",
            "/api/x%2F..%2F..%2Fetc",
            "/api/%5c..%5c",
            "/api/%252e%252e/x",
            "/api/a%00b",
            "/api/%ff",
            "/../../etc/passwd",
            "api/x",
        ] {
            assert!(n(bad).is_err(), "{bad} should be refused");
        }
    }
}
