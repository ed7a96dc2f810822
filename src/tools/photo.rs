//! The compact photo every photo tool returns (see `registry::photo_schema`), and its one-line
//! rendering for the model.
//!
//! A typed struct rather than a `serde_json::Value`: a streamed `queryPhotos` turns every asset of
//! a library into one, and a map per photo (a dozen allocated keys, kept sorted) cost more than
//! reading the asset from Immich's JSON.

use crate::immich::client::{Asset, Text};
use serde::Serialize;

/// One photo, as tools return it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    /// Immich asset id.
    pub id: String,
    /// Original file name.
    pub file_name: Text,
    /// `IMAGE`, `VIDEO`, `AUDIO` or `OTHER`.
    #[serde(rename = "type")]
    pub kind: Text,
    /// Capture time (local), else the file's creation time.
    pub taken_at: Option<Text>,
    /// Favourite flag.
    pub favorite: bool,
    /// City, from EXIF.
    pub city: Option<Text>,
    /// Country, from EXIF.
    pub country: Option<Text>,
    /// Camera maker and model, from EXIF (the model alone when it already names the maker).
    pub camera: Option<Text>,
    /// Names of the people recognised in it (unnamed people left out).
    pub people: Vec<Text>,
    /// Pixel width.
    pub width: Option<u64>,
    /// Pixel height.
    pub height: Option<u64>,
    /// The photo in Immich's web app, when its address is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// Immich writes a memory's asset dates `…+00:00` where it writes every other `….000Z`: one form
/// for every tool (REAL-IMMICH.md defect 12).
fn same_format(date: Text) -> Text {
    match date.strip_suffix("+00:00") {
        Some(base) if base.len() == 19 => compact_str::format_compact!("{base}.000Z"),
        Some(base) => compact_str::format_compact!("{base}Z"),
        None => date,
    }
}

impl From<Asset> for Photo {
    fn from(asset: Asset) -> Photo {
        let exif = asset.exif_info.unwrap_or_default();
        let camera = match (exif.make, exif.model) {
            (Some(make), Some(model)) if model.starts_with(make.as_str()) => Some(model),
            (Some(make), Some(model)) => Some(compact_str::format_compact!("{make} {model}")),
            (make, model) => make.or(model),
        };
        Photo {
            id: asset.id,
            file_name: asset.original_file_name,
            kind: asset.kind,
            taken_at: asset.local_date_time.or(asset.file_created_at).map(same_format),
            favorite: asset.is_favorite,
            city: exif.city,
            country: exif.country,
            camera,
            people: asset.people.into_iter().map(|p| p.name).filter(|n| !n.is_empty()).collect(),
            width: asset.width,
            height: asset.height,
            web_url: None,
        }
    }
}

impl Photo {
    /// The photo, linked to its page in Immich's web app at `web` (`<web>/photos/<id>`).
    pub fn linked(mut self, web: Option<&str>) -> Photo {
        self.web_url = web.map(|base| format!("{base}/photos/{}", self.id));
        self
    }

    /// One line: date · place · camera · people · file · id.
    pub fn render(&self) -> String {
        let mut parts = vec![
            self.taken_at
                .as_deref()
                .map_or("undated".to_string(), |t| t.chars().take(16).collect::<String>().replace('T', " ")),
        ];
        match (&self.city, &self.country) {
            (Some(city), Some(country)) => parts.push(format!("{city}, {country}")),
            (Some(place), None) | (None, Some(place)) => parts.push(place.to_string()),
            _ => {}
        }
        if let Some(camera) = &self.camera {
            parts.push(camera.to_string());
        }
        if !self.people.is_empty() {
            parts.push(format!("with {}", self.people.join(", ")));
        }
        let mut file = self.file_name.to_string();
        if self.kind == "VIDEO" {
            file.push_str(" (video)");
        }
        if self.favorite {
            file.push_str(" ★");
        }
        parts.push(file);
        parts.push(format!("id {}", self.id));
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_dates_are_written_like_every_other() {
        assert_eq!(same_format("2024-05-01T10:20:30+00:00".into()), "2024-05-01T10:20:30.000Z");
        assert_eq!(same_format("2024-05-01T10:20:30.250+00:00".into()), "2024-05-01T10:20:30.250Z");
        assert_eq!(same_format("2024-05-01T10:20:30.000Z".into()), "2024-05-01T10:20:30.000Z");
    }

    fn asset(exif: serde_json::Value) -> Asset {
        serde_json::from_value(json!({
            "id": "c9ed9924-11bb-4661-9770-5a5a5a5a5a5a", "type": "VIDEO", "originalFileName": "IMG_1.mov",
            "localDateTime": "2024-05-01T10:20:30.000Z", "isFavorite": true, "width": 4000, "height": 3000,
            "exifInfo": exif, "unknownField": [1, 2, { "x": "y" }],
            "people": [{ "id": "p1", "name": "Dana" }, { "id": "p2", "name": "" }],
        }))
        .unwrap()
    }

    #[test]
    fn a_photo_reads_exif_people_and_dates_from_the_asset() {
        let photo = Photo::from(asset(json!({ "make": "Google", "model": "Google Pixel 8", "city": "Paris",
            "country": "France", "fNumber": 1.8, "description": "a \"quoted\" line" })));
        let expected = json!({
            "id": "c9ed9924-11bb-4661-9770-5a5a5a5a5a5a", "fileName": "IMG_1.mov", "type": "VIDEO",
            "takenAt": "2024-05-01T10:20:30.000Z", "favorite": true, "city": "Paris", "country": "France",
            "camera": "Google Pixel 8", "people": ["Dana"], "width": 4000, "height": 3000,
        });
        assert_eq!(serde_json::to_value(&photo).unwrap(), expected);
        assert_eq!(
            photo.render(),
            "2024-05-01 10:20 · Paris, France · Google Pixel 8 · with Dana · IMG_1.mov (video) ★ · id c9ed9924-11bb-4661-9770-5a5a5a5a5a5a"
        );
    }

    #[test]
    fn the_camera_joins_maker_and_model_unless_the_model_names_the_maker() {
        let camera = |exif| Photo::from(asset(exif)).camera;
        assert_eq!(camera(json!({ "make": "Canon", "model": "EOS R5" })).as_deref(), Some("Canon EOS R5"));
        assert_eq!(camera(json!({ "make": "Canon" })).as_deref(), Some("Canon"));
        assert_eq!(camera(json!({ "model": "EOS R5" })).as_deref(), Some("EOS R5"));
        assert_eq!(camera(json!(null)), None);
        let bare = Photo::from(asset(json!(null)));
        assert_eq!((bare.city, bare.country), (None, None));
    }
}
