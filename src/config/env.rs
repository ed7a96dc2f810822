//! Environment overrides, applied after the file and before validation.
//!
//! General scheme: `IMMICH_GATEWAY__<SECTION>__<KEY>=<value>` sets `[section] key`, e.g.
//! `IMMICH_GATEWAY__IMMICH__BASE_URL=http://immich:2283`. The streaming guide's names
//! `MCP_STREAMING_<KEY>` (e.g. `MCP_STREAMING_CHUNK_SIZE=200`) set `[streaming] <key>`.
//! A value is read as a TOML value when it parses as one (`true`, `500`, `["a", "b"]`) and as a
//! string otherwise (`10MiB`, `http://…`); a comma-separated string fills a list key.
//!
//! The transport document's names are honoured too: `MCP_HTTP_HOST` and `MCP_HTTP_PORT` set the
//! listen address (each keeps the other part of the first configured one), `MCP_STRICT_COMPLIANCE`
//! sets `[mcp] strict`, `ANALYTICS_MODE` `[mcp] analytics`, `MCP_SERVER_URL` `[mcp] public_url`,
//! `OAUTH_ISSUER_URL` `[mcp] authorization_servers`, `LOG_LEVEL` `[telemetry] log_level` (any
//! case). `MCP_TRANSPORT` is read by the command line (`stdio` or `streamable_http`). The general
//! scheme wins over these where both name a key.

use super::Config;
use super::load::ConfigError;

/// Prefix of the general scheme.
pub const PREFIX: &str = "IMMICH_GATEWAY__";
/// Prefix of the streaming guide's streaming variables.
pub const STREAMING_PREFIX: &str = "MCP_STREAMING_";

/// The dotted key an environment variable sets, if it is one of ours.
pub fn key_for(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix(PREFIX) {
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        return (parts.len() == 2 && parts.iter().all(|p| !p.is_empty())).then(|| parts.join("."));
    }
    name.strip_prefix(STREAMING_PREFIX)
        .filter(|k| !k.is_empty())
        .map(|k| format!("streaming.{}", k.to_ascii_lowercase()))
}

/// The transport document's variables among `vars`, as (name, key, value) overrides; `listen` is
/// the configured listen list, whose first address fills in a host or port left unnamed.
fn transport_document(vars: &[(String, String)], listen: &[String]) -> Vec<(String, String, String)> {
    let get = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string());
    let mut found = Vec::new();
    let (host, port) = (get("MCP_HTTP_HOST"), get("MCP_HTTP_PORT"));
    if host.is_some() || port.is_some() {
        let first = listen.first().map(String::as_str).unwrap_or("127.0.0.1:8080");
        let (old_host, old_port) = first.rsplit_once(':').unwrap_or((first, "8080"));
        let host = host.unwrap_or_else(|| old_host.to_string());
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
        let address = format!("{host}:{}", port.unwrap_or_else(|| old_port.to_string()));
        found.push((
            "MCP_HTTP_HOST/MCP_HTTP_PORT".to_string(),
            "server.listen".to_string(),
            format!("[\"{address}\"]"),
        ));
    }
    for (name, key) in [
        ("MCP_STRICT_COMPLIANCE", "mcp.strict"),
        ("ANALYTICS_MODE", "mcp.analytics"),
        ("MCP_SERVER_URL", "mcp.public_url"),
        ("OAUTH_ISSUER_URL", "mcp.authorization_servers"),
        ("LOG_LEVEL", "telemetry.log_level"),
    ] {
        if let Some(value) = get(name) {
            let value = match name {
                "MCP_STRICT_COMPLIANCE" | "ANALYTICS_MODE" | "LOG_LEVEL" => value.to_ascii_lowercase(),
                _ => value,
            };
            let value = if name == "LOG_LEVEL" { format!("\"{value}\"") } else { value };
            found.push((name.to_string(), key.to_string(), value));
        }
    }
    found
}

/// Applies every override in `vars` to `config`; each bad variable yields its own error.
pub fn apply(config: Config, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, Vec<ConfigError>> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let general: Vec<(String, String, String)> =
        vars.iter().filter_map(|(name, value)| key_for(name).map(|key| (name.clone(), key, value.clone()))).collect();
    let mut overrides: Vec<(String, String, String)> = transport_document(&vars, &config.server.listen)
        .into_iter()
        .filter(|(_, key, _)| !general.iter().any(|(_, k, _)| k == key))
        .collect();
    overrides.extend(general);
    if overrides.is_empty() {
        return Ok(config);
    }
    overrides.sort();
    let mut tree = toml::Value::try_from(&config).expect("config always serializes");
    let mut errors = Vec::new();
    for (name, key, value) in overrides {
        let mut candidate = tree.clone();
        let result = set(&mut candidate, &key, &value).and_then(|()| {
            candidate.clone().try_into::<Config>().map(drop).map_err(|e| e.message().trim().to_string())
        });
        match result {
            Ok(()) => tree = candidate,
            Err(message) => errors.push(ConfigError::unplaced(format!("env {name}"), Some(key), message)),
        }
    }
    if errors.is_empty() { Ok(tree.try_into().expect("checked above")) } else { Err(errors) }
}

fn set(tree: &mut toml::Value, key: &str, raw: &str) -> Result<(), String> {
    let (section, field) = key.split_once('.').expect("keys are section.field");
    let table = tree
        .as_table_mut()
        .and_then(|t| t.get_mut(section))
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| format!("unknown section `{section}`"))?;
    let existing_is_list = table.get(field).is_some_and(toml::Value::is_array);
    let value = parse_value(raw, existing_is_list);
    table.insert(field.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str, as_list: bool) -> toml::Value {
    if let Ok(mut doc) = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        && let Some(v) = doc.remove("v")
    {
        return v;
    }
    if as_list {
        return toml::Value::Array(raw.split(',').map(|s| toml::Value::String(s.trim().to_string())).collect());
    }
    toml::Value::String(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Size;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_streaming_guides_variables_apply() {
        let config = apply(
            Config::default(),
            vars(&[
                ("MCP_STREAMING_ENABLED", "false"),
                ("MCP_STREAMING_AUTO_STREAM_THRESHOLD", "1000"),
                ("MCP_STREAMING_CHUNK_SIZE", "200"),
                ("MCP_STREAMING_HIGH_WATER_MARK", "20971520"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert!(!config.streaming.enabled);
        assert_eq!(config.streaming.auto_stream_threshold, 1000);
        assert_eq!(config.streaming.chunk_size, 200);
        assert_eq!(config.streaming.high_water_mark, Size::mib(20));
    }

    #[test]
    fn general_scheme_sets_any_key() {
        let config = apply(
            Config::default(),
            vars(&[
                ("IMMICH_GATEWAY__IMMICH__BASE_URL", "http://immich:2283"),
                ("IMMICH_GATEWAY__SERVER__LISTEN", "0.0.0.0:8080, [::]:8080"),
                ("IMMICH_GATEWAY__SERVER__MAX_BODY_SIZE", "1GiB"),
            ]),
        )
        .unwrap();
        assert_eq!(config.immich.base_url.to_string(), "http://immich:2283");
        assert_eq!(config.server.listen, vec!["0.0.0.0:8080", "[::]:8080"]);
        assert_eq!(config.server.max_body_size, Size::gib(1));
    }

    #[test]
    fn bad_variables_are_each_reported() {
        let errors = apply(
            Config::default(),
            vars(&[("MCP_STREAMING_CHUNK_SIZE", "lots"), ("IMMICH_GATEWAY__SERVER__NOPE", "1")]),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].origin, "env IMMICH_GATEWAY__SERVER__NOPE");
        assert_eq!(errors[1].key.as_deref(), Some("streaming.chunk_size"));
    }

    #[test]
    fn the_transport_documents_names_set_their_keys() {
        let config = apply(
            Config::default(),
            vars(&[
                ("MCP_HTTP_HOST", "0.0.0.0"),
                ("MCP_STRICT_COMPLIANCE", "True"),
                ("ANALYTICS_MODE", "false"),
                ("MCP_SERVER_URL", "https://photos.example.com"),
                ("OAUTH_ISSUER_URL", "https://id.example.com"),
                ("LOG_LEVEL", "DEBUG"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen, vec!["0.0.0.0:8080"], "the port of the configured address stays");
        assert!(config.mcp.strict && !config.mcp.analytics);
        assert_eq!(config.mcp.public_url.as_deref(), Some("https://photos.example.com"));
        assert_eq!(config.mcp.authorization_servers, vec!["https://id.example.com"]);
        assert_eq!(config.telemetry.log_level.to_string(), "debug");
        let port = apply(Config::default(), vars(&[("MCP_HTTP_PORT", "8087")])).unwrap();
        assert_eq!(port.server.listen, vec!["127.0.0.1:8087"]);
        // The general scheme wins where both name a key.
        let both = apply(
            Config::default(),
            vars(&[("MCP_HTTP_PORT", "8087"), ("IMMICH_GATEWAY__SERVER__LISTEN", "[::1]:9000")]),
        )
        .unwrap();
        assert_eq!(both.server.listen, vec!["[::1]:9000"]);
    }
}
