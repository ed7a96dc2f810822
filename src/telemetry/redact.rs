//! Secrets never reach the log, at any level: every line the logger writes — the gateway's own
//! and those of the libraries under it (Pingora prints whole request heads at `debug` and
//! `trace`) — passes through [`redact`] first. It blanks the values of credential headers
//! (`x-api-key`, `authorization`, `proxy-authorization`, `cookie`, `set-cookie`, `x-immich-*`)
//! however they are printed, bearer tokens, credential query parameters (`apiKey`, `key`,
//! `sessionKey`, `access_token`, `token`), and any of the secrets the configuration holds
//! wherever they appear.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::LazyLock;

/// What stands in for a secret.
const REDACTED: &str = "[redacted]";

/// Names of headers whose values are credentials, and of JSON fields that carry one (a login's
/// answer, an API key's secret, a password) in bodies Pingora prints at `trace`.
const HEADERS: &str = r"x-api-key|authorization|proxy-authorization|cookie|set-cookie|x-immich-[a-z0-9-]+|accessToken|access_token|refreshToken|refresh_token|id_token|secret|apiKey|api_key|password|sessionKey";

/// A credential header and its value, printed as a Debug map entry (`"name": "value"`), with
/// quotes escaped when the line is JSON (`\"name\": \"value\"`).
static QUOTED: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(&format!(r#"(?i)(\\?"(?:{HEADERS})\\?"\s*:\s*\\?")((?:[^"\\]|\\[^"])*)(\\?")"#))
        .expect("a valid pattern")
});

/// A credential header as a line of a head (`name: value`), also inside a Debug-printed string
/// whose line breaks are escaped (`\r\nname: value\r\n`).
static PLAIN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(&format!(r"(?im)(^|[\s,{{(]|\\n)((?:{HEADERS})\s*:\s*)([^\r\n,}})\\]+)"))
        .expect("a valid pattern")
});

/// A bearer token anywhere.
static BEARER: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+").expect("a valid pattern"));

/// A credential in a query string.
static QUERY: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)([?&](?:apikey|key|sessionkey|access_token|token)=)[^&\s#\x22\\]*")
        .expect("a valid pattern")
});

/// Words without which a line holds no credential header, token or parameter: most lines (the
/// access log's) have none, and are let through after one scan for them.
const TRIGGERS: [&str; 10] =
    ["key", "auth", "cookie", "token", "immich", "secret", "password", "bearer", "session", "api_key"];

/// The configuration's own secrets (Immich keys, session secrets), blanked wherever they appear,
/// and one automaton that finds them and the trigger words in a single pass.
struct Secrets {
    secrets: Vec<String>,
    scan: aho_corasick::AhoCorasick,
}

static SECRETS: LazyLock<arc_swap::ArcSwap<Secrets>> =
    LazyLock::new(|| arc_swap::ArcSwap::from_pointee(secrets(Vec::new())));

fn secrets(secrets: Vec<String>) -> Secrets {
    let scan = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(TRIGGERS.iter().map(|t| t.to_string()).chain(secrets.iter().cloned()))
        .expect("literal patterns always build");
    Secrets { secrets, scan }
}

/// The secrets of the configuration in force; short ones (under 8 characters) are left out, as
/// they would blank ordinary words. Called on every load and reload.
pub fn set_secrets(list: impl IntoIterator<Item = String>) {
    let mut list: Vec<String> = list.into_iter().filter(|s| s.len() >= 8).collect();
    // Longer first, so a secret that contains another is blanked whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    SECRETS.store(std::sync::Arc::new(secrets(list)));
}

/// `text` with `re`'s matches replaced by `with` (no copy when nothing matched).
fn replace<'a>(text: Cow<'a, str>, re: &regex::Regex, with: &str) -> Cow<'a, str> {
    match re.replace_all(&text, with) {
        Cow::Borrowed(_) => text,
        Cow::Owned(changed) => Cow::Owned(changed),
    }
}

/// `line` with every secret it holds blanked.
pub fn redact(line: &str) -> Cow<'_, str> {
    let known = SECRETS.load();
    if !known.scan.is_match(line) {
        return Cow::Borrowed(line);
    }
    let mut text = Cow::Borrowed(line);
    text = replace(text, &QUOTED, &format!("${{1}}{REDACTED}${{3}}"));
    text = replace(text, &PLAIN, &format!("${{1}}${{2}}{REDACTED}"));
    text = replace(text, &BEARER, &format!("${{1}}{REDACTED}"));
    text = replace(text, &QUERY, &format!("${{1}}{REDACTED}"));
    for secret in known.secrets.iter() {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
        }
    }
    text
}

/// A writer that redacts each line before it reaches `W` (the logger writes one event per call).
pub struct Redacting<W>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact(text).as_bytes()),
            // Not text: written as it is (the logger writes only text).
            Err(_) => self.0.write_all(buf),
        }?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Makes [`Redacting`] writers around standard error.
#[derive(Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = Redacting<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(io::stderr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_blanked_however_they_are_printed() {
        let debug = r#"headers: {"host": "127.0.0.1", "x-api-key": "demo-admin-key", "Cookie": "immich_access_token=abc; theme=dark", "x-immich-user-token": "u-123", "accept": "*/*"}"#;
        let out = redact(debug);
        assert!(!out.contains("demo-admin-key") && !out.contains("abc") && !out.contains("u-123"), "{out}");
        assert!(out.contains(r#""host": "127.0.0.1""#) && out.contains(r#""accept": "*/*""#), "{out}");
        let json = r#"{"fields":{"message":"Request header: {\"x-api-key\": \"gw-secret\", \"authorization\": \"Bearer t0k\"}"}}"#;
        let out = redact(json);
        assert!(!out.contains("gw-secret") && !out.contains("t0k"), "{out}");
        let plain = "GET /x HTTP/1.1\r\nX-Api-Key: raw-secret\r\nAuthorization: Basic dXNlcjpwYXNz\r\nHost: a";
        let out = redact(plain);
        assert!(!out.contains("raw-secret") && !out.contains("dXNlcjpwYXNz") && out.contains("Host: a"), "{out}");
        let body = r#"Response body: Some(b"{\"accessToken\":\"tok-7\",\"isAdmin\":false,\"password\":\"pw\"}")"#;
        let out = redact(body);
        assert!(!out.contains("tok-7") && !out.contains("\"pw") && out.contains("isAdmin"), "{out}");
        let escaped = r#"Raw Response header: "HTTP/1.1 201 Created\r\nset-cookie: immich_access_token=tok-9; Path=/\r\ncontent-length: 2\r\n""#;
        let out = redact(escaped);
        assert!(!out.contains("tok-9") && out.contains("content-length: 2"), "{out}");
    }

    #[test]
    fn tokens_query_parameters_and_configured_secrets_are_blanked() {
        let out = redact("calling with Bearer abc.def-ghi and /api/x?size=1&apiKey=qk&sessionKey=sk&key=shr");
        assert!(
            !out.contains("abc.def") && !out.contains("qk") && !out.contains("=sk") && !out.contains("shr"),
            "{out}"
        );
        assert!(out.contains("size=1"), "{out}");
        set_secrets(["a-configured-immich-key".to_string(), "short".to_string()]);
        let out = redact("error: key a-configured-immich-key refused; short words stay");
        assert_eq!(out, "error: key [redacted] refused; short words stay");
        set_secrets(Vec::new());
        assert!(matches!(redact("an ordinary line"), Cow::Borrowed(_)), "no copy when nothing is secret");
    }
}
