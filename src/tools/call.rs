//! One tool call in progress: its arguments read into typed values, the Immich client and key it
//! acts with, and the pieces every result is made of.

use super::ImmichCatalog;
use crate::immich::client::{ImmichClient, ImmichError};
use crate::immich::path::Uuid;
use crate::mcp::catalog::CallContext;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};

/// Why a tool call failed: its arguments, as the gateway checked them, or Immich.
#[derive(Debug)]
pub(crate) enum ToolError {
    /// The gateway refused the arguments itself; nothing reached Immich.
    Argument(String),
    /// Immich refused or failed the request.
    Immich(ImmichError),
    /// The gateway has no room for this answer now.
    Busy(String),
}

impl ToolError {
    /// The message for the model: what was wrong with the arguments, or Immich's own words.
    pub(crate) fn for_model(&self) -> String {
        match self {
            ToolError::Argument(message) => format!("Invalid arguments: {message}"),
            ToolError::Immich(error) => error.for_model(),
            ToolError::Busy(message) => format!("The gateway is busy: {message}. Retry in a moment, or ask for less."),
        }
    }
}

impl From<ImmichError> for ToolError {
    fn from(error: ImmichError) -> ToolError {
        ToolError::Immich(error)
    }
}

/// What a tool's handler returns: its result, or why it has none.
pub(crate) type Outcome = Result<Value, ToolError>;

/// An argument error.
pub(crate) fn bad_argument(message: impl Into<String>) -> ToolError {
    ToolError::Argument(message.into())
}

/// One tool call: the catalogue it runs in, the Immich key it acts with, its arguments and its
/// client's context.
pub(crate) struct Call<'a> {
    pub(crate) catalog: &'a ImmichCatalog,
    pub(crate) key: &'a crate::immich::Credential,
    pub(crate) args: &'a Value,
    pub(crate) cx: &'a CallContext,
}

impl Call<'_> {
    /// The Immich client.
    pub(crate) fn client(&self) -> &ImmichClient {
        &self.catalog.client
    }

    /// `asset` as tools return a photo: compact, and linked to Immich's web app when its address
    /// is known.
    pub(crate) fn photo(&self, asset: crate::immich::client::Asset) -> super::photo::Photo {
        super::photo::Photo::from(asset).linked(self.cx.web_base.as_deref())
    }

    /// A non-empty string argument.
    pub(crate) fn str_arg(&self, name: &str) -> Option<&str> {
        self.args[name].as_str().filter(|s| !s.is_empty())
    }

    /// A date argument, when given: ISO 8601, or an argument error naming it.
    pub(crate) fn date_arg(&self, name: &str) -> Result<Option<&str>, ToolError> {
        match self.str_arg(name) {
            Some(text) if !is_iso_date_time(text) => Err(bad_argument(format!(
                "`{name}` must be an ISO 8601 date or date-time, such as 2024-09-30 or 2024-09-30T18:05:00Z (got {text:?})"
            ))),
            given => Ok(given),
        }
    }

    /// A date argument as Immich takes it, when given: a full date-time as is, a bare date as the
    /// start of its day, or with `end` its last millisecond (so a bare date covers its whole day).
    pub(crate) fn date_bound(&self, name: &str, end: bool) -> Result<Option<String>, ToolError> {
        let time_of_day = if end { "T23:59:59.999Z" } else { "T00:00:00.000Z" };
        Ok(self.date_arg(name)?.map(|date| date_time(date, time_of_day)))
    }

    /// Whether the Immich key may use `permission`, for a dry run that must fail as the real call
    /// would: an API key's permissions are known; a session (which cannot say) may do anything.
    pub(crate) async fn may(&self, permission: &str) -> Result<(), ToolError> {
        match self.client().permissions(self.key).await {
            Ok(permissions) if !permissions.iter().any(|p| p == "all" || p == permission) => {
                Err(ImmichError::Forbidden(format!("Missing required permission: {permission}")).into())
            }
            _ => Ok(()),
        }
    }

    /// A required id argument (the input schema has already made sure it is present).
    pub(crate) fn uuid(&self, name: &str) -> Result<Uuid, ToolError> {
        self.optional_uuid(name)?.ok_or_else(|| bad_argument(format!("`{name}` is required")))
    }

    /// An optional id argument: absent is `None`, anything but a UUID an argument error.
    pub(crate) fn optional_uuid(&self, name: &str) -> Result<Option<Uuid>, ToolError> {
        match &self.args[name] {
            Value::Null => Ok(None),
            Value::String(text) => Uuid::parse(text).map(Some).ok_or_else(|| not_a_uuid(name, text)),
            other => Err(not_a_uuid(name, &other.to_string())),
        }
    }

    /// A list of ids: every item must be a UUID.
    pub(crate) fn uuids(&self, name: &str) -> Result<Vec<Uuid>, ToolError> {
        self.args[name]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| match item {
                Value::String(text) => Uuid::parse(text).ok_or_else(|| not_a_uuid(name, text)),
                other => Err(not_a_uuid(name, &other.to_string())),
            })
            .collect()
    }

    /// A list of strings (names, paths, or ids to be told apart by the tool).
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.args[name].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    /// `limit`, or the configured default, within one page.
    pub(crate) fn limit(&self) -> usize {
        self.args["limit"]
            .as_u64()
            .map_or(self.catalog.config.default_limit, |l| l as usize)
            .clamp(1, self.catalog.page_cap)
    }
}

/// "`albumId` must be a UUID", quoting (the start of) what was given.
fn not_a_uuid(name: &str, given: &str) -> ToolError {
    let shown: String = given.chars().take(40).collect();
    bad_argument(format!("`{name}` must be a UUID (got {shown:?})"))
}

/// A finished tool result: structured content, a text rendering and optional images.
pub(crate) fn result(structured: Value, text: String, images: Vec<(bytes::Bytes, String)>) -> Value {
    let mut content = vec![ContentBlock::text(text)];
    content.extend(images.into_iter().map(|(bytes, mime)| ContentBlock::image(STANDARD.encode(&bytes), mime)));
    let mut result = CallToolResult::success(content);
    result.structured_content = Some(structured);
    finish(result)
}

/// The result as JSON, without the 2026-07-28 `resultType` (the dispatcher adds it on that wire).
pub(crate) fn finish(result: CallToolResult) -> Value {
    let mut value = serde_json::to_value(result).expect("results serialize");
    if let Some(object) = value.as_object_mut() {
        object.remove("resultType");
    }
    value
}

/// Puts `line` before the result's text.
pub(crate) fn prepend_text(result: &mut Value, line: &str) {
    if let Some(text) = result["content"][0]["text"].as_str() {
        let joined = format!("{line}\n{text}");
        result["content"][0]["text"] = json!(joined);
    }
}

/// A page of photos as structured content plus one line per photo.
pub(crate) fn photo_page(
    photos: Vec<super::photo::Photo>,
    next: Option<String>,
    extra: Map<String, Value>,
    key: &str,
) -> Value {
    let mut text: Vec<String> = photos.iter().map(super::photo::Photo::render).collect();
    if text.is_empty() {
        text.push("No photos match.".into());
    }
    if next.is_some() {
        text.push(format!("… more: call again with cursor \"{}\"", next.as_deref().unwrap_or_default()));
    }
    let mut structured = json!({ key: photos, "count": photos.len(), "nextCursor": next });
    if let Some(object) = structured.as_object_mut() {
        object.extend(extra);
    }
    result(structured, text.join("\n"), Vec::new())
}

/// Whether `text` is an ISO 8601 date (`2024-09-30`) or date-time (`2024-09-30T18:05`,
/// `…:07`, `…:07.250`, with `Z` or `±HH:MM`), every field in range. Immich reads anything
/// `new Date()` takes ("tomorrow" became a date once), so the gateway checks first.
pub(crate) fn is_iso_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let in_range = |v: Option<u32>, lo: u32, hi: u32| v.is_some_and(|v| (lo..=hi).contains(&v));
    let date = b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4).is_some()
        && in_range(digits(5..7), 1, 12)
        && in_range(digits(8..10), 1, 31);
    if !date || b.len() == 10 {
        return date;
    }
    if !(b[10] == b'T' || b[10] == b' ') || b.len() < 16 || b[13] != b':' {
        return false;
    }
    if !(in_range(digits(11..13), 0, 23) && in_range(digits(14..16), 0, 59)) {
        return false;
    }
    let mut rest = &text[16..];
    if let Some(seconds) = rest.strip_prefix(':') {
        if !in_range(seconds.get(..2).and_then(|s| s.parse().ok()), 0, 60)
            || !seconds.as_bytes()[..2].iter().all(u8::is_ascii_digit)
        {
            return false;
        }
        rest = &seconds[2..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &fraction[n..];
        }
    }
    match rest.as_bytes() {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && in_range(rest[1..3].parse().ok(), 0, 14)
                && in_range(rest[4..6].parse().ok(), 0, 59)
        }
        _ => false,
    }
}

/// A date-time Immich accepts: a bare `YYYY-MM-DD` gets `time_of_day` appended.
fn date_time(text: &str, time_of_day: &str) -> String {
    if text.len() == 10 && text.as_bytes()[4] == b'-' { format!("{text}{time_of_day}") } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::is_iso_date_time;

    #[test]
    fn iso_dates_and_date_times_are_told_from_everything_else() {
        for ok in [
            "2024-09-30",
            "2024-09-30T18:05",
            "2024-09-30T18:05:07",
            "2024-09-30T18:05:07.250Z",
            "2024-09-30T18:05:07+09:00",
            "2024-09-30 18:05:07Z",
        ] {
            assert!(is_iso_date_time(ok), "{ok}");
        }
        for bad in [
            "tomorrow",
            "2024-13-01",
            "2024-09-32",
            "2024-09",
            "2024-09-30T25:00",
            "2024-09-30T18:05:07.Z",
            "2024-09-30Tnoon",
            "2024-09-30T18:05+9",
            "",
            "２０２４-09-30",
        ] {
            assert!(!is_iso_date_time(bad), "{bad}");
        }
    }
}
