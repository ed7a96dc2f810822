//! People Immich recognised: list them, read one.

use super::call::{Call, Outcome, bad_argument, result};
use super::registry::{Tool, any_object, cursor, id, limit, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The people tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listPeople",
            "List people",
            "People Immich recognised in the library. Use their names or ids in queryPhotos to find their photos.",
            &["person.read"],
            |call| Box::pin(list_people(call)),
        )
        .input(schema(json!({ "withHidden": { "type": "boolean" }, "limit": limit(), "cursor": cursor() }), &[]))
        .output(output(
            json!({ "people": { "type": "array", "items": any_object() }, "total": { "type": "integer" },
                    "nextCursor": { "type": ["string", "null"] } }),
            &["people", "nextCursor"],
        )),
        Tool::reads(
            "getPerson",
            "Person details",
            "One person and how many photos they are in.",
            &["person.read", "person.statistics"],
            |call| Box::pin(get_person(call)),
        )
        .input(schema(json!({ "id": id() }), &["id"]))
        .output(output(
            json!({ "person": any_object(), "photoCount": { "type": "integer" } }),
            &["person", "photoCount"],
        )),
    ]
}

async fn list_people(call: &Call<'_>) -> Outcome {
    let page: u64 = match call.str_arg("cursor") {
        None => 1,
        Some(cursor) => cursor
            .strip_prefix("people:")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_argument("cursor is not one this tool returned; start without it"))?,
    };
    let size = call.limit();
    let mut query = vec![("page", page.to_string()), ("size", size.to_string())];
    if call.args["withHidden"].as_bool() == Some(true) {
        query.push(("withHidden", "true".into()));
    }
    let listing: Value = call.client().get(call.key, &ApiPath::fixed("/api/people"), &query).await?;
    let people: Vec<Value> = listing["people"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({ "id": p["id"], "name": p["name"], "birthDate": p["birthDate"], "isFavorite": p["isFavorite"], "isHidden": p["isHidden"] }))
        .collect();
    let next = (listing["hasNextPage"] == json!(true)).then(|| format!("people:{}", page + 1));
    let lines: Vec<String> = people
        .iter()
        .map(|p| {
            format!(
                "{} ({})",
                p["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("unnamed"),
                p["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut text = if lines.is_empty() { "No people recognised yet.".to_string() } else { lines.join("\n") };
    if next.is_some() {
        // The structured result has the cursor; the text says so too (REAL-IMMICH.md defect 12).
        text.push_str(&format!(
            "\n… more people: call listPeople again with cursor {:?}.",
            next.as_deref().unwrap_or("")
        ));
    }
    Ok(result(json!({ "people": people, "total": listing["total"], "nextCursor": next }), text, Vec::new()))
}

async fn get_person(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let path = ApiPath::fixed("/api/people").id(&id);
    let person: Value = call.client().get(call.key, &path, &[]).await?;
    let stats: Value = call.client().get(call.key, &path.then("statistics"), &[]).await?;
    let count = stats["assets"].as_u64().unwrap_or(0);
    let name = person["name"].as_str().filter(|n| !n.is_empty()).unwrap_or("unnamed").to_string();
    Ok(result(
        json!({ "person": person, "photoCount": count }),
        format!("{name}: in {count} photos ({id})"),
        Vec::new(),
    ))
}
