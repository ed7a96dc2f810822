//! File → typed [`Config`]: every syntax error, every bad key and every invalid value is reported
//! with its file, line and column, not just the first.

use super::Config;
use super::env;
use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};

/// One problem found in a configuration, located as precisely as its source allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path, or `env NAME` for an environment override.
    pub origin: String,
    /// 1-based line in the file, when the problem has a place in it.
    pub line: Option<usize>,
    /// 1-based column in the file.
    pub column: Option<usize>,
    /// The dotted key concerned, e.g. `streaming.chunk_size`.
    pub key: Option<String>,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl ConfigError {
    /// A problem with no place in a file: a whole file, an environment variable, or a value that
    /// parsed but cannot be used (e.g. a key file that does not exist).
    pub fn unplaced(origin: impl Into<String>, key: Option<String>, message: impl Into<String>) -> ConfigError {
        ConfigError { origin: origin.into(), line: None, column: None, key, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, e) in self.0.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads, parses, overrides from the process environment and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::unplaced(origin.clone(), None, format!("cannot read the file: {e}"))])
    })?;
    load_str(&text, &origin, std::env::vars())
}

/// Parses `text` (named `origin` in errors), applies environment overrides from `vars`, and
/// validates the result.
pub fn load_str(
    text: &str,
    origin: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let locator = Locator { origin, text };
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        return Err(ConfigErrors(
            syntax_errors.iter().map(|e| locator.error(e.span(), None, e.message().to_string())).collect(),
        ));
    }

    let key_errors = check_every_key(&document, &locator);
    if !key_errors.is_empty() {
        return Err(ConfigErrors(key_errors));
    }

    let whole = Spanned::new(document.span(), DeValue::Table(document.get_ref().clone()));
    let config = Config::deserialize_from(whole)
        .map_err(|e| ConfigErrors(vec![locator.error(e.span(), None, e.message().to_string())]))?;

    let config = env::apply(config, vars).map_err(ConfigErrors)?;

    let problems = config.validate();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(key, message)| {
                    let span = locate(document.get_ref(), &key);
                    let message = if span.is_none() {
                        format!("{message} (value from a default or the environment)")
                    } else {
                        message
                    };
                    locator.error(span, Some(key), message)
                })
                .collect(),
        ))
    }
}

impl Config {
    fn deserialize_from(value: Spanned<DeValue<'_>>) -> Result<Config, toml::de::Error> {
        serde::Deserialize::deserialize(ValueDeserializer::from(value))
    }
}

/// The sections of [`Config`], each checked key by key with its own type.
const SECTIONS: &[&str] = &[
    "server",
    "immich",
    "streaming",
    "mcp",
    "auth",
    "oauth",
    "jwt",
    "rate_limits",
    "audit",
    "telemetry",
    "demo",
    "tools",
];

/// Deserializes each key on its own (every field has a default), so that each bad key yields
/// its own error instead of serde stopping at the first.
fn check_every_key(document: &Spanned<DeTable<'_>>, locator: &Locator<'_>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (section, value) in document.get_ref().iter() {
        let name = section.get_ref().as_ref_str();
        let Some(table) = value.get_ref().as_table() else {
            errors.push(locator.error(
                Some(section.span()),
                Some(name.to_string()),
                format!("`{name}` must be a table, written [{name}]"),
            ));
            continue;
        };
        if !SECTIONS.contains(&name) {
            errors.push(locator.error(
                Some(section.span()),
                Some(name.to_string()),
                format!("unknown section; expected one of: {}", SECTIONS.join(", ")),
            ));
            continue;
        }
        for (key, item) in table.iter() {
            let result = match name {
                "server" => check_one::<super::ServerConfig>(key, item),
                "immich" => check_one::<super::ImmichConfig>(key, item),
                "streaming" => check_one::<super::StreamingConfig>(key, item),
                "mcp" => check_one::<super::McpConfig>(key, item),
                "auth" => check_one::<super::AuthConfig>(key, item),
                "oauth" => check_one::<super::OAuthConfig>(key, item),
                "jwt" => check_one::<super::JwtConfig>(key, item),
                "rate_limits" => check_one::<super::RateLimitsConfig>(key, item),
                "audit" => check_one::<super::AuditConfig>(key, item),
                "telemetry" => check_one::<super::TelemetryConfig>(key, item),
                "tools" => check_one::<super::ToolsConfig>(key, item),
                _ => check_one::<super::DemoConfig>(key, item),
            };
            if let Err(e) = result {
                let dotted = format!("{name}.{}", key.get_ref());
                let span = e.span().filter(|s| s.start >= key.span().start).or(Some(key.span()));
                errors.push(locator.error(span, Some(dotted), e.message().to_string()));
            }
        }
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors
}

trait RefStr {
    fn as_ref_str(&self) -> &str;
}

impl RefStr for DeString<'_> {
    fn as_ref_str(&self) -> &str {
        self.as_ref()
    }
}

fn check_one<T: DeserializeOwned>(
    key: &Spanned<DeString<'_>>,
    item: &Spanned<DeValue<'_>>,
) -> Result<(), toml::de::Error> {
    let mut single = DeTable::new();
    single.insert(key.clone(), item.clone());
    let span = key.span().start..item.span().end;
    T::deserialize(ValueDeserializer::from(Spanned::new(span, DeValue::Table(single)))).map(drop)
}

/// Finds the span of a dotted key such as `auth.keys[0].hash` in the parsed document.
fn locate(document: &DeTable<'_>, dotted: &str) -> Option<Range<usize>> {
    let mut table = document;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (key, value) = table.get_key_value(name)?;
        let value = match index {
            Some(i) => value.get_ref().as_array()?.get(i)?,
            None => value,
        };
        if parts.peek().is_none() {
            return Some(if index.is_some() { value.span() } else { key.span() });
        }
        table = value.get_ref().as_table()?;
    }
    None
}

struct Locator<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Option<Range<usize>>, key: Option<String>, message: String) -> ConfigError {
        let (line, column) = match span {
            Some(span) => {
                let (l, c) = line_column(self.text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError { origin: self.origin.to_string(), line, column, key, message: message.trim().to_string() }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dur, Size, Transport};

    fn load(text: &str) -> Result<Config, ConfigErrors> {
        load_str(text, "test.toml", Vec::new())
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(load("").unwrap(), Config::default());
    }

    #[test]
    fn single_key_file_changes_only_that_key() {
        let config = load("[streaming]\nchunk_size = 250\n").unwrap();
        let mut expected = Config::default();
        expected.streaming.chunk_size = 250;
        assert_eq!(config, expected);
    }

    #[test]
    fn tls_keys_parse() {
        let config = load(
            "[server]\ntls_listen = [\"0.0.0.0:8443\"]\ntls_cert_file = \"/etc/tls/tls.crt\"\ntls_key_file = \"/etc/tls/tls.key\"\n",
        )
        .unwrap();
        let mut expected = Config::default();
        expected.server.tls_listen = vec!["0.0.0.0:8443".into()];
        expected.server.tls_cert_file = Some("/etc/tls/tls.crt".into());
        expected.server.tls_key_file = Some("/etc/tls/tls.key".into());
        assert_eq!(config, expected);
        assert_eq!(config.server.ports(), vec![8080, 8443], "plain and HTTPS listeners");
        let errors = load("[server]\ntls_cert_file = \"/etc/tls/tls.crt\"\n").unwrap_err().0;
        assert_eq!(errors[0].key.as_deref(), Some("server.tls_cert_file"));
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn units_and_enums_parse() {
        let config = load(
            "[streaming]\nflush_interval = \"250ms\"\nhigh_water_mark = \"20MiB\"\nmax_buffer_size = 104857600\npreferred_transport = \"chunked\"\n",
        )
        .unwrap();
        assert_eq!(config.streaming.flush_interval, Dur::ms(250));
        assert_eq!(config.streaming.high_water_mark, Size::mib(20));
        assert_eq!(config.streaming.max_buffer_size, Size::mib(100));
        assert_eq!(config.streaming.preferred_transport, Transport::Chunked);
    }

    #[test]
    fn every_bad_key_is_reported_with_line_and_column() {
        let text =
            "[server]\nthreads = \"two\"\nbogus = 1\n\n[streaming]\nchunk_size = -5\nflush_interval = \"soon\"\n";
        let errors = load(text).unwrap_err().0;
        let located: Vec<_> = errors.iter().map(|e| (e.key.clone().unwrap(), e.line.unwrap())).collect();
        assert_eq!(
            located,
            vec![
                ("server.threads".to_string(), 2),
                ("server.bogus".to_string(), 3),
                ("streaming.chunk_size".to_string(), 6),
                ("streaming.flush_interval".to_string(), 7),
            ]
        );
        assert!(errors[1].message.contains("unknown field"), "{}", errors[1].message);
        assert_eq!(errors[0].column, Some(11));
    }

    #[test]
    fn syntax_errors_are_located() {
        let errors = load("[server\nthreads = 2\n").unwrap_err().0;
        assert_eq!(errors[0].line, Some(1));
        assert!(errors[0].to_string().starts_with("test.toml:1:"));
    }

    #[test]
    fn unknown_section_is_an_error() {
        let errors = load("[serverr]\nthreads = 2\n").unwrap_err().0;
        assert_eq!(errors[0].key.as_deref(), Some("serverr"));
        assert!(errors[0].message.contains("unknown section"));
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let text = "[streaming]\nhigh_water_mark = \"1MiB\"\nlow_water_mark = \"2MiB\"\nchunk_size = 0\n";
        let errors = load(text).unwrap_err().0;
        let keys: Vec<_> = errors.iter().map(|e| (e.key.clone().unwrap(), e.line)).collect();
        assert!(keys.contains(&("streaming.chunk_size".to_string(), Some(4))), "{keys:?}");
        assert!(keys.contains(&("streaming.low_water_mark".to_string(), Some(3))), "{keys:?}");
    }

    #[test]
    fn zero_and_negative_sizes_are_refused() {
        assert!(load("[mcp]\nmax_body_size = 0\n").is_err());
        assert!(load("[mcp]\nmax_body_size = -1\n").is_err());
        assert!(load("[immich]\nbase_url = \"ftp://x\"\n").is_err());
    }
}
