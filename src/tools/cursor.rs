//! Where a photo search continues: the opaque `nextCursor` handed to the model, the position a
//! stream has reached in Immich's paging, and the sealed resume token that carries it to any
//! replica.

use super::call::{ToolError, bad_argument};
use crate::mcp::catalog::InputRound;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The search fields a cursor may carry: the ones `queryPhotos`, `getAlbum` and `listTrash` set
/// themselves. A cursor is the client's to hand back, so a forged one must not reach Immich with
/// any other field (`withDeleted`, `visibility`, …); `trashedAfter` lists the trash, which any key
/// that may search may list.
const CURSOR_FIELDS: &[&str] = &[
    "withExif",
    "withPeople",
    "city",
    "state",
    "country",
    "make",
    "model",
    "albumIds",
    "type",
    "order",
    "takenAfter",
    "takenBefore",
    "tagIds",
    "isFavorite",
    "rating",
    "personIds",
    "query",
    "originalFileName",
    "trashedAfter",
    "ocr",
];

/// Where a search continues: the whole search (filters, page, size) and how many photos of that
/// page were already delivered, so a call with only the cursor continues exactly where the
/// previous one stopped — also when a stream stopped inside an Immich page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cursor {
    pub(crate) smart: bool,
    pub(crate) filter: Value,
    pub(crate) page: u64,
    pub(crate) size: u64,
    pub(crate) skip: u64,
}

impl Cursor {
    /// The opaque form handed to the model.
    pub(crate) fn encode(&self) -> String {
        let mut value = json!({ "s": self.smart, "f": self.filter, "p": self.page, "n": self.size });
        if self.skip > 0 {
            value["k"] = json!(self.skip);
        }
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// A cursor this gateway handed out; `None` for anything else, including a cursor whose search
    /// names a field the tools never set.
    pub(crate) fn decode(cursor: &str) -> Option<Cursor> {
        let value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let size = value["n"].as_u64()?;
        let skip = value.get("k").map_or(Some(0), Value::as_u64)?;
        let filter = value["f"].as_object()?;
        if !filter.keys().all(|k| CURSOR_FIELDS.contains(&k.as_str())) {
            return None;
        }
        (size > 0 && size <= 1000 && skip < size).then_some(Cursor {
            smart: value["s"].as_bool()?,
            filter: Value::Object(filter.clone()),
            page: value["p"].as_u64().filter(|p| *p >= 1)?,
            size,
            skip,
        })
    }

    /// [`Cursor::decode`], or the argument error that says what to do.
    pub(crate) fn decode_arg(cursor: &str) -> Result<Cursor, ToolError> {
        Cursor::decode(cursor).ok_or_else(|| bad_argument("cursor is not one this tool returned; start without it"))
    }
}

/// The cursor of the page after `page`, when Immich said there is one.
pub(crate) fn next_cursor(smart: bool, filter: &Value, next_page: Option<u64>, size: u64) -> Option<String> {
    next_page.map(|page| Cursor { smart, filter: filter.clone(), page, size, skip: 0 }.encode())
}

/// Where a photo stream stands in Immich's paging: the page being read (its number and size), how
/// many of its photos were taken, and — once it has been read to its end — the next page Immich
/// announced (`Some(None)`: there is none).
pub(crate) struct Position {
    pub(crate) page: u64,
    pub(crate) size: u64,
    pub(crate) taken: usize,
    pub(crate) next: Option<Option<u64>>,
}

/// What every chunk of one photo stream shares: how many photos were asked for, and the search.
pub(crate) struct Chunk<'a> {
    pub(crate) wanted: u64,
    pub(crate) smart: bool,
    pub(crate) filter: &'a Value,
}

impl Chunk<'_> {
    /// The cursor right after the last photo taken: inside its Immich page while the page may
    /// hold more, else the next page; `None` once Immich said there is no more.
    pub(crate) fn cursor_after(&self, at: &Position) -> Option<Cursor> {
        let (page, skip) = match at.next {
            Some(None) => return None,
            Some(Some(_)) => (at.page + 1, 0),
            None if (at.taken as u64) < at.size => (at.page, at.taken as u64),
            None => (at.page + 1, 0),
        };
        Some(Cursor { smart: self.smart, filter: self.filter.clone(), page, size: at.size, skip })
    }
}

/// The sealing kind of photo-stream resume tokens.
const RESUME_KIND: &str = "photo-stream";

/// Everything needed to continue a photo stream on any replica: the stream, the last sequence
/// number sent, how many photos went out of how many wanted, and the Immich position right after
/// them (`None` once nothing is left). Sealed, it is the stream's resume token.
pub(crate) struct StreamPosition {
    pub(crate) stream_id: String,
    pub(crate) sequence: u64,
    pub(crate) sent: u64,
    pub(crate) wanted: u64,
    pub(crate) cursor: Option<Cursor>,
}

impl StreamPosition {
    /// The resume token, valid for `ttl` (`None` when the request has nothing to seal with).
    pub(crate) fn seal(&self, input: &InputRound, ttl: std::time::Duration) -> Option<String> {
        let payload = json!({
            "i": self.stream_id,
            "q": self.sequence,
            "d": self.sent,
            "w": self.wanted,
            "c": self.cursor.as_ref().map(Cursor::encode),
            "exp": crate::mcp::session::now() + ttl.as_secs(),
        });
        input.seal(RESUME_KIND, payload.to_string().as_bytes())
    }

    /// Opens a resume token: tampered, foreign, expired or malformed tokens are refused with a
    /// message saying what to do.
    pub(crate) fn open(input: &InputRound, token: &str) -> Result<StreamPosition, ToolError> {
        let bytes = input.open(RESUME_KIND, token).ok_or_else(|| {
            bad_argument(
                "resumeToken failed its integrity check (altered, or sealed by a gateway with other secrets); run the query again without it",
            )
        })?;
        let malformed = || bad_argument("resumeToken is malformed; run the query again without it");
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        if value["exp"].as_u64().is_none_or(|exp| exp <= crate::mcp::session::now()) {
            return Err(bad_argument(
                "resumeToken expired ([streaming] resume_token_ttl); run the query again without it",
            ));
        }
        let cursor = match &value["c"] {
            Value::Null => None,
            Value::String(c) => Some(Cursor::decode(c).ok_or_else(malformed)?),
            _ => return Err(malformed()),
        };
        Ok(StreamPosition {
            stream_id: value["i"].as_str().ok_or_else(malformed)?.to_string(),
            sequence: value["q"].as_u64().ok_or_else(malformed)?,
            sent: value["d"].as_u64().ok_or_else(malformed)?,
            wanted: value["w"].as_u64().ok_or_else(malformed)?,
            cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forged_ones_are_refused() {
        let cursor = Cursor { smart: false, filter: json!({ "city": "Paris" }), page: 3, size: 100, skip: 7 };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let forge = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
        for forged in [
            json!({ "s": false, "f": { "withDeleted": true }, "p": 1, "n": 100 }),
            json!({ "s": false, "f": { "visibility": "locked" }, "p": 1, "n": 100 }),
            json!({ "s": false, "f": [], "p": 1, "n": 100 }),
            json!({ "s": false, "f": {}, "p": 0, "n": 100 }),
            json!({ "s": false, "f": {}, "p": 1, "n": 100_000 }),
            json!({ "s": false, "f": {}, "p": 1, "n": 100, "k": 100 }),
        ] {
            assert_eq!(Cursor::decode(&forge(forged.clone())), None, "{forged}");
        }
        assert!(Cursor::decode("not-a-cursor").is_none());
    }
}
