//! Duplicates Immich's duplicate detection found: list the groups with which copy looks best, and
//! resolve them — keep one (Immich's suggestion unless told otherwise), move the rest to the
//! trash. Resolving is a dry run unless `dryRun: false`.

use super::call::{Call, Outcome, bad_argument, result};
use super::cleanup::megabytes;
use super::registry::{Tool, cursor, output, photo_schema, schema};
use crate::immich::client::Asset;
use crate::immich::path::ApiPath;
use serde::Deserialize;
use serde_json::{Value, json};

/// Groups resolved in one call, at most.
const MAX_GROUPS: usize = 100;

/// The duplicate tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listDuplicates",
            "List duplicate photos",
            "Groups of photos Immich found to be duplicates of each other, each with its copies (size in bytes) and \
                the one Immich suggests keeping (the best file). resolveDuplicates keeps one and moves the others to \
                the trash.",
            &["duplicate.read"],
            |call| Box::pin(list_duplicates(call)),
        )
        .input(schema(
            json!({
                "limit": { "type": "integer", "minimum": 1, "maximum": 200, "description": "Groups per page (default 20)." },
                "cursor": cursor()
            }),
            &[],
        ))
        .output(output(
            json!({
                "groups": { "type": "array", "items": group_schema() },
                "total": { "type": "integer", "description": "Groups in the library." },
                "bytesToFree": { "type": "integer", "description": "Of the groups listed, if the suggestions are followed." },
                "nextCursor": { "type": ["string", "null"] }
            }),
            &["groups", "total", "bytesToFree", "nextCursor"],
        )),
        Tool::reads(
            "resolveDuplicates",
            "Resolve duplicate photos",
            "Resolve duplicate groups from listDuplicates: in each, keep the photos named in keepIds (Immich's \
                suggestion when left out) and move every other copy to the trash. dryRun is true unless set to false: \
                a dry run says what would be kept and trashed, and changes nothing. Each group succeeds or fails on \
                its own; the answer says which.",
            &["duplicate.read", "duplicate.delete", "asset.delete"],
            |call| Box::pin(resolve_duplicates(call)),
        )
        .input(schema(
            json!({
                "groups": { "type": "array", "minItems": 1, "maxItems": MAX_GROUPS, "items": {
                    "type": "object", "properties": {
                        "duplicateId": { "type": "string", "format": "uuid" },
                        "keepIds": { "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1,
                            "description": "Copies to keep; Immich's suggestion when left out." } },
                    "required": ["duplicateId"], "additionalProperties": false } },
                "dryRun": { "type": "boolean", "description": "Only say what would happen (default true)." }
            }),
            &["groups"],
        ))
        .output(output(
            json!({
                "dryRun": { "type": "boolean" },
                "groups": { "type": "array", "items": { "type": "object", "properties": {
                    "duplicateId": { "type": "string" }, "keep": { "type": "array", "items": { "type": "string" } },
                    "trash": { "type": "array", "items": { "type": "string" } }, "resolved": { "type": "boolean" },
                    "error": { "type": "string" } }, "required": ["duplicateId", "resolved"] } },
                "resolved": { "type": "integer" }, "failed": { "type": "integer" }
            }),
            &["dryRun", "groups", "resolved", "failed"],
        ))
        .writes(true)
        .destructive(),
    ]
}

fn group_schema() -> Value {
    json!({ "type": "object", "properties": {
        "duplicateId": { "type": "string" },
        "copies": { "type": "array", "items": { "type": "object", "properties": {
            "photo": photo_schema(), "bytes": { "type": ["integer", "null"] }, "suggested": { "type": "boolean" } },
            "required": ["photo", "suggested"] } } },
        "required": ["duplicateId", "copies"] })
}

/// `DuplicateResponseDto`, as far as the tools read it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    duplicate_id: String,
    assets: Vec<Asset>,
    #[serde(default)]
    suggested_keep_asset_ids: Vec<String>,
}

impl Group {
    /// The copies kept: `keep`, else Immich's suggestion, else the first.
    fn keeping(&self, keep: &[String]) -> Vec<String> {
        if !keep.is_empty() {
            return keep.to_vec();
        }
        match self.suggested_keep_asset_ids.is_empty() {
            false => self.suggested_keep_asset_ids.clone(),
            true => self.assets.iter().take(1).map(|a| a.id.clone()).collect(),
        }
    }

    fn bytes(asset: &Asset) -> Option<u64> {
        asset.exif_info.as_ref().and_then(|e| e.file_size_in_byte)
    }
}

async fn list_duplicates(call: &Call<'_>) -> Outcome {
    let skip: usize = match call.str_arg("cursor") {
        None => 0,
        Some(c) => c
            .strip_prefix("duplicates:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad_argument("cursor is not one listDuplicates returned; start without it"))?,
    };
    let limit = call.args["limit"].as_u64().map_or(20, |l| l.clamp(1, 200) as usize);
    // Read element by element: the groups before the page are skipped unparsed, those after it
    // only counted, so a library with thousands of groups is never held whole.
    let mut reader = call.client().get_array(call.key, &ApiPath::fixed("/api/duplicates"), &[]).await?;
    let (mut groups, mut total) = (Vec::new(), 0usize);
    loop {
        let in_page = total >= skip && groups.len() < limit;
        let next = if in_page {
            reader.next::<Group>().await.map(|g| g.map(Some))
        } else {
            reader.next::<serde::de::IgnoredAny>().await.map(|g| g.map(|_| None))
        };
        match next {
            None => break,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(group)) => groups.extend(group),
        }
        total += 1;
    }
    let mut to_free = 0;
    let mut lines = vec![format!("{total} duplicate groups in the library.")];
    let listed: Vec<Value> = groups
        .iter()
        .map(|group| {
            let keep = group.keeping(&[]);
            lines.push(format!("Group {}:", group.duplicate_id));
            let copies: Vec<Value> = group
                .assets
                .iter()
                .map(|asset| {
                    let (suggested, bytes) = (keep.contains(&asset.id), Group::bytes(asset));
                    if !suggested {
                        to_free += bytes.unwrap_or(0);
                    }
                    let photo = call.photo(asset.clone());
                    let verdict = if suggested { "keep (suggested)" } else { "trash" };
                    lines.push(format!("  {verdict} · {} · {}", megabytes(bytes), photo.render()));
                    json!({ "photo": photo, "bytes": bytes, "suggested": suggested })
                })
                .collect();
            json!({ "duplicateId": group.duplicate_id, "copies": copies })
        })
        .collect();
    let next = (skip + groups.len() < total).then(|| format!("duplicates:{}", skip + groups.len()));
    if let Some(next) = &next {
        lines.push(format!("… more groups: call listDuplicates again with cursor {next:?}."));
    }
    if total > 0 {
        lines.push(format!("Following the suggestions for these groups frees {}.", megabytes(Some(to_free))));
    }
    Ok(result(
        json!({ "groups": listed, "total": total, "bytesToFree": to_free, "nextCursor": next }),
        lines.join("\n"),
        Vec::new(),
    ))
}

async fn resolve_duplicates(call: &Call<'_>) -> Outcome {
    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    for group in call.args["groups"].as_array().into_iter().flatten() {
        let id = group["duplicateId"].as_str().unwrap_or_default();
        if crate::immich::path::Uuid::parse(id).is_none() {
            return Err(bad_argument(format!("`duplicateId` must be a UUID (got {id:?})")));
        }
        let keep: Vec<String> =
            group["keepIds"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        wanted.push((id.to_string(), keep));
    }
    if wanted.is_empty() || wanted.len() > MAX_GROUPS {
        return Err(bad_argument(format!("give 1 to {MAX_GROUPS} groups")));
    }
    // Each group's copies, as Immich has them now (every copy must be named kept or trashed).
    let mut reader = call.client().get_array(call.key, &ApiPath::fixed("/api/duplicates"), &[]).await?;
    let mut found: Vec<Option<Group>> = wanted.iter().map(|_| None).collect();
    while let Some(group) = reader.next::<Group>().await {
        let group = group?;
        if let Some(at) = wanted.iter().position(|(id, _)| *id == group.duplicate_id) {
            found[at] = Some(group);
        }
    }
    let dry_run = call.args["dryRun"].as_bool().unwrap_or(true);
    let mut plans = Vec::new();
    let mut report = Vec::new();
    for ((id, keep), group) in wanted.iter().zip(&found) {
        let Some(group) = group else {
            report.push(
                json!({ "duplicateId": id, "resolved": false, "error": "no such duplicate group (already resolved?)" }),
            );
            continue;
        };
        let keep = group.keeping(keep);
        if let Some(stranger) = keep.iter().find(|k| !group.assets.iter().any(|a| a.id == **k)) {
            report.push(
                json!({ "duplicateId": id, "resolved": false, "error": format!("{stranger} is not in this group") }),
            );
            continue;
        }
        let trash: Vec<String> = group.assets.iter().map(|a| a.id.clone()).filter(|a| !keep.contains(a)).collect();
        report.push(json!({ "duplicateId": id, "keep": keep, "trash": trash, "resolved": false }));
        plans.push(json!({ "duplicateId": id, "keepAssetIds": keep, "trashAssetIds": trash }));
    }
    if !dry_run && !plans.is_empty() {
        let answers: Vec<Value> = call
            .client()
            .write(
                call.key,
                reqwest::Method::POST,
                &ApiPath::fixed("/api/duplicates/resolve"),
                &json!({ "groups": plans }),
            )
            .await?;
        for answer in answers {
            if let Some(entry) = report.iter_mut().find(|r| r["duplicateId"] == answer["id"]) {
                entry["resolved"] = json!(answer["success"] == true);
                if answer["success"] != true {
                    let why = answer["errorMessage"].as_str().or(answer["error"].as_str()).unwrap_or("Immich refused");
                    entry["error"] = json!(format!("Immich: {why}"));
                }
            }
        }
    }
    let resolved = report.iter().filter(|r| r["resolved"] == true).count();
    let failed = report.iter().filter(|r| r.get("error").is_some()).count();
    let mut lines = vec![if dry_run {
        format!("Dry run: nothing changed; call again with dryRun: false to resolve {} groups.", plans.len())
    } else {
        format!("Resolved {resolved} groups; {failed} failed.")
    }];
    for entry in &report {
        let listed = |key: &str| {
            entry[key].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        };
        match entry["error"].as_str() {
            Some(error) => {
                lines.push(format!("{}: not resolved — {error}", entry["duplicateId"].as_str().unwrap_or("")))
            }
            None => lines.push(format!(
                "{}: keep {}; trash {}",
                entry["duplicateId"].as_str().unwrap_or(""),
                listed("keep").unwrap_or_default(),
                listed("trash").unwrap_or_default()
            )),
        }
    }
    let outcome = json!({ "dryRun": dry_run, "groups": report, "resolved": resolved, "failed": failed });
    let mut answer = result(outcome, lines.join("\n"), Vec::new());
    if resolved == 0 && failed > 0 && (!dry_run || plans.is_empty()) {
        // Nothing changed, or nothing could: an error result the model cannot miss, with every
        // group's reason (ours, or Immich's words marked as Immich's).
        answer["isError"] = json!(true);
    }
    Ok(answer)
}
