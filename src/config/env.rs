//! Environment overrides, applied after the file and before validation.
//!
//! General scheme: `IMMICH_GATEWAY__<SECTION>__<KEY>=<value>` sets `[section] key`, e.g.
//! `IMMICH_GATEWAY__IMMICH__BASE_URL=http://immich:2283`. The streaming guide's names
//! `MCP_STREAMING_<KEY>` (e.g. `MCP_STREAMING_CHUNK_SIZE=200`) set `[streaming] <key>`.
//! A value is read as a TOML value when it parses as one (`true`, `500`, `["a", "b"]`) and as a
//! string otherwise (`10MiB`, `http://…`); a comma-separated string fills a list key.

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

/// Applies every override in `vars` to `config`; each bad variable yields its own error.
pub fn apply(config: Config, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, Vec<ConfigError>> {
    let mut overrides: Vec<(String, String, String)> =
        vars.into_iter().filter_map(|(name, value)| key_for(&name).map(|key| (name, key, value))).collect();
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
}
