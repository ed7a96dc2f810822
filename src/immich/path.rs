//! Immich API paths that no argument can redirect.
//!
//! A tool's ids end up in Immich URLs (`/api/albums/{id}/assets`). Built with `format!`, an id
//! such as `..` or `../../users/me?x=` turned `DELETE /api/albums/../assets` into Immich's bulk
//! delete `DELETE /api/assets`. Here a path is made only of fixed segments written in the code and
//! [`Uuid`]s, a type that can hold nothing but a UUID, each percent-encoded as a path segment; the
//! client takes nothing else.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::borrow::Cow;
use std::fmt;

/// A UUID as Immich writes ids: 32 hex digits in groups of 8-4-4-4-12, any version.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Uuid(String);

impl Uuid {
    /// The UUID in `text`, or `None` when `text` is anything else (a name, a path, `..`).
    pub fn parse(text: &str) -> Option<Uuid> {
        let well_formed = text.len() == 36
            && text.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        well_formed.then(|| Uuid(text.to_ascii_lowercase()))
    }

    /// The UUID's text (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({})", self.0)
    }
}

/// Characters escaped in a path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A path of Immich's API, such as `/api/albums/{id}/assets`: fixed segments from the code and
/// typed ids, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiPath(Cow<'static, str>);

impl ApiPath {
    /// A path written in the code, e.g. `ApiPath::fixed("/api/albums")`.
    pub const fn fixed(path: &'static str) -> ApiPath {
        ApiPath(Cow::Borrowed(path))
    }

    /// This path followed by the segment of `id`.
    pub fn id(self, id: &Uuid) -> ApiPath {
        let mut path = self.0.into_owned();
        path.push('/');
        path.extend(utf8_percent_encode(id.as_str(), SEGMENT));
        ApiPath(Cow::Owned(path))
    }

    /// This path followed by a fixed segment, e.g. `.then("assets")`.
    pub fn then(self, segment: &'static str) -> ApiPath {
        let mut path = self.0.into_owned();
        path.push('/');
        path.push_str(segment);
        ApiPath(Cow::Owned(path))
    }

    /// The path's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_parse() {
        let id = Uuid::parse("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap();
        assert_eq!(id.as_str(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        for bad in [
            "",
            "..",
            "%2e%2e",
            "../../api-keys",
            "../admin/users",
            "../../users/me?x=",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330",
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301/",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330?",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330#",
            "3f2504e0/4f89-41d3-9a0c-0305e82c3301",
            "3f2504e0-4f89-41d3-9a0c-0305e82c33g1",
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301 ",
            "3f2504e0-4f89-41d3-9a0c-0305e82c33é",
        ] {
            assert!(Uuid::parse(bad).is_none(), "{bad:?} is no UUID");
        }
    }

    #[test]
    fn paths_are_fixed_segments_and_ids() {
        let id = Uuid::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap();
        let path = ApiPath::fixed("/api/albums").id(&id).then("assets");
        assert_eq!(path.as_str(), "/api/albums/3f2504e0-4f89-41d3-9a0c-0305e82c3301/assets");
        assert_eq!(ApiPath::fixed("/api/tags").as_str(), "/api/tags");
    }
}
