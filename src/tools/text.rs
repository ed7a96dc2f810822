//! Text in photos: what Immich's OCR read in one photo. Finding photos by their text is
//! `queryPhotos`' `text` argument.

use super::call::{Call, Outcome, result};
use super::registry::{Tool, id, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The text tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "getPhotoText",
            "Text in a photo",
            "The words Immich's OCR read in one photo (signs, documents, screenshots), line by line with how sure it \
                is. To find photos by the words in them, use queryPhotos with `text`.",
            &["asset.read"],
            |call| Box::pin(get_photo_text(call)),
        )
        .input(schema(json!({ "id": id() }), &["id"]))
        .output(output(
            json!({
                "id": { "type": "string" },
                "text": { "type": "string", "description": "Every line, joined by newlines." },
                "lines": { "type": "array", "items": { "type": "object", "properties": {
                    "text": { "type": "string" },
                    "confidence": { "type": ["number", "null"], "description": "Immich's text score, 0 to 1." },
                    "box": { "type": "array", "items": { "type": "number" }, "description": "x1, y1 … x4, y4 as fractions of the image." } },
                    "required": ["text"] } }
            }),
            &["id", "text", "lines"],
        )),
    ]
}

async fn get_photo_text(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let found: Vec<Value> =
        call.client().get(call.key, &ApiPath::fixed("/api/assets").id(&id).then("ocr"), &[]).await?;
    let lines: Vec<Value> = found
        .iter()
        .filter_map(|line| {
            let text = line["text"].as_str()?;
            let corner = |k: &str| line[k].as_f64().unwrap_or(0.0);
            let corners = ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"].map(corner);
            Some(json!({ "text": text, "confidence": line["textScore"], "box": corners }))
        })
        .collect();
    let text = lines.iter().filter_map(|l| l["text"].as_str()).collect::<Vec<_>>().join("\n");
    let rendered = if text.is_empty() { format!("No text found in {id}.") } else { format!("Text in {id}:\n{text}") };
    Ok(result(json!({ "id": id.as_str(), "text": text, "lines": lines }), rendered, Vec::new()))
}
