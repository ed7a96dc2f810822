//! The timeline: photos per month, and the photos of one month.

use super::call::{Call, Outcome, ToolError, bad_argument, is_iso_date_time, result};
use super::registry::{Tool, any_object, id, limit, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Map, Value, json};

/// The timeline tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "getTimeline",
            "Timeline overview",
            "How many photos each month has, newest first — a quick map of when things happened.",
            &["asset.read"],
            |call| Box::pin(get_timeline(call)),
        )
        .input(schema(json!({ "albumId": id(), "personId": id(), "isFavorite": { "type": "boolean" } }), &[]))
        .output(output(
            json!({ "months": { "type": "array", "items": any_object() }, "total": { "type": "integer" } }),
            &["months", "total"],
        )),
        Tool::reads(
            "getTimelineBucket",
            "Photos of a month",
            "The photos of one month of the timeline (e.g. '2024-09'), one row each.",
            &["asset.read"],
            |call| Box::pin(get_timeline_bucket(call)),
        )
        .input(schema(
            json!({ "month": { "type": "string", "description": "YYYY-MM or YYYY-MM-01." }, "albumId": id(),
                "personId": id(), "limit": limit() }),
            &["month"],
        ))
        .output(output(
            json!({ "photos": { "type": "array", "items": any_object() }, "count": { "type": "integer" } }),
            &["photos", "count"],
        )),
    ]
}

/// The filters both timeline tools pass to Immich.
fn timeline_query(call: &Call<'_>) -> Result<Vec<(&'static str, String)>, ToolError> {
    let mut query = Vec::new();
    for (arg, field) in [("albumId", "albumId"), ("personId", "personId")] {
        if let Some(id) = call.optional_uuid(arg)? {
            query.push((field, id.to_string()));
        }
    }
    if let Some(f) = call.args["isFavorite"].as_bool() {
        query.push(("isFavorite", f.to_string()));
    }
    Ok(query)
}

async fn get_timeline(call: &Call<'_>) -> Outcome {
    let buckets: Vec<Value> =
        call.client().get(call.key, &ApiPath::fixed("/api/timeline/buckets"), &timeline_query(call)?).await?;
    let total: u64 = buckets.iter().filter_map(|b| b["count"].as_u64()).sum();
    let months: Vec<Value> = buckets
        .iter()
        .map(|b| json!({ "month": b["timeBucket"].as_str().map(|t| &t[..7.min(t.len())]), "count": b["count"] }))
        .collect();
    let text = months
        .iter()
        .take(36)
        .map(|m| format!("{} {}", m["month"].as_str().unwrap_or("?"), m["count"]))
        .collect::<Vec<_>>()
        .join("\n");
    let more = if months.len() > 36 { format!("\n… {} more months", months.len() - 36) } else { String::new() };
    Ok(result(
        json!({ "months": months, "total": total }),
        format!("{total} photos in {} months\n{text}{more}", months.len()),
        Vec::new(),
    ))
}

async fn get_timeline_bucket(call: &Call<'_>) -> Outcome {
    let month = call.str_arg("month").unwrap_or_default();
    // Immich answers a malformed bucket with a 500, which no retry can help: checked here.
    let month_part = month.strip_suffix("-01").filter(|m| m.len() == 7).unwrap_or(month);
    let well_formed =
        month_part.len() == 7 && is_iso_date_time(&format!("{month_part}-01")) && month_part.as_bytes()[4] == b'-';
    if !well_formed {
        return Err(bad_argument(format!(
            "`month` must be a month as YYYY-MM (e.g. 2024-09), as getTimeline lists them (got {month:?})"
        )));
    }
    let bucket = format!("{month_part}-01");
    let mut query = timeline_query(call)?;
    query.push(("timeBucket", bucket.clone()));
    let columns: Value = call.client().get(call.key, &ApiPath::fixed("/api/timeline/bucket"), &query).await?;
    let rows = columns_to_rows(&columns);
    let limit = call.limit();
    let shown: Vec<Value> = rows.iter().take(limit).cloned().collect();
    let text = shown
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["fileCreatedAt"].as_str().unwrap_or("?"),
                r["city"].as_str().unwrap_or(""),
                r["id"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(result(
        json!({ "photos": shown, "count": rows.len() }),
        format!("{} photos in {bucket}\n{text}", rows.len()),
        Vec::new(),
    ))
}

/// Immich's columnar timeline bucket (parallel arrays) as one object per photo.
fn columns_to_rows(columns: &Value) -> Vec<Value> {
    let Some(object) = columns.as_object() else { return Vec::new() };
    let len = object.get("id").and_then(Value::as_array).map_or(0, Vec::len);
    (0..len)
        .map(|i| {
            let row: Map<String, Value> = object
                .iter()
                .filter_map(|(k, v)| v.as_array().and_then(|a| a.get(i)).map(|x| (k.clone(), x.clone())))
                .collect();
            Value::Object(row)
        })
        .collect()
}
