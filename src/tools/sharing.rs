//! Sharing: who shares their library with whom (Immich's partners).

use super::call::{Call, Outcome, bad_argument, result};
use super::registry::{Tool, any_object, id, id_list, output, schema};
use crate::immich::path::ApiPath;
use serde_json::{Value, json};

/// The sharing tools.
pub(super) fn tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listPartners",
            "List partners",
            "Immich partner sharing: the people whose whole library the user can see (sharedWithMe), and the \
                people the user shares their library with (sharedByMe).",
            &["partner.read"],
            |call| Box::pin(list_partners(call)),
        )
        .input(schema(json!({}), &[]))
        .output(output(
            json!({
                "sharedWithMe": { "type": "array", "items": any_object() },
                "sharedByMe": { "type": "array", "items": any_object() }
            }),
            &["sharedWithMe", "sharedByMe"],
        )),
    ]
}

async fn list_partners(call: &Call<'_>) -> Outcome {
    let path = ApiPath::fixed("/api/partners");
    // `shared-with`: partners who share with the caller; `shared-by`: those the caller shares with.
    let with_me: Vec<Value> = call.client().get(call.key, &path, &[("direction", "shared-with".into())]).await?;
    let by_me: Vec<Value> = call.client().get(call.key, &path, &[("direction", "shared-by".into())]).await?;
    let compact = |partners: &[Value]| -> Vec<Value> {
        partners
            .iter()
            .map(|p| json!({ "id": p["id"], "name": p["name"], "email": p["email"], "inTimeline": p["inTimeline"] }))
            .collect()
    };
    let names = |partners: &[Value]| -> String {
        let listed: Vec<String> = partners
            .iter()
            .map(|p| format!("{} <{}>", p["name"].as_str().unwrap_or(""), p["email"].as_str().unwrap_or("")))
            .collect();
        if listed.is_empty() { "nobody".into() } else { listed.join(", ") }
    };
    let text =
        format!("Sharing their library with you: {}.\nYou share yours with: {}.", names(&with_me), names(&by_me));
    Ok(result(json!({ "sharedWithMe": compact(&with_me), "sharedByMe": compact(&by_me) }), text, Vec::new()))
}

/// The shared-link tools.
pub(super) fn link_tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listSharedLinks",
            "List shared links",
            "The links the user made to share an album or photos with anyone who has the link: what each shares, \
                its address, expiry and whether it has a password.",
            &["sharedLink.read"],
            |call| Box::pin(list_shared_links(call)),
        )
        .input(schema(json!({ "albumId": id() }), &[]))
        .output(output(json!({ "links": { "type": "array", "items": link_schema() } }), &["links"])),
        Tool::reads(
            "createSharedLink",
            "Share with a link",
            "Make a link that shows an album (albumId) or chosen photos (photoIds) to anyone who has it, in Immich's \
                web app. Optional: an expiry (expiresAt, or expiresInDays), a password, a description, whether \
                downloads are allowed (default true) and metadata shown (default true).",
            &["sharedLink.create"],
            |call| Box::pin(create_shared_link(call)),
        )
        .input(schema(
            json!({
                "albumId": id(),
                "photoIds": id_list("Photos to share (instead of an album)."),
                "description": { "type": "string" },
                "expiresAt": { "type": "string", "description": "ISO 8601 date or date-time the link stops working." },
                "expiresInDays": { "type": "integer", "minimum": 1, "maximum": 3650 },
                "password": { "type": "string", "minLength": 1, "description": "Asked of whoever opens the link (never shown again)." },
                "allowDownload": { "type": "boolean" },
                "showMetadata": { "type": "boolean" }
            }),
            &[],
        ))
        .output(output(json!({ "link": link_schema() }), &["link"]))
        .writes(false),
        Tool::reads(
            "deleteSharedLink",
            "Delete a shared link",
            "Remove a shared link: whoever has it can no longer open it. The album or photos are not touched.",
            &["sharedLink.delete"],
            |call| Box::pin(delete_shared_link(call)),
        )
        .input(schema(json!({ "id": id() }), &["id"]))
        .output(output(json!({ "deleted": { "type": "string" } }), &["deleted"]))
        .writes(true)
        .destructive(),
    ]
}

fn link_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "url": { "type": ["string", "null"], "description": "The address to send people." },
        "shares": { "type": "string", "description": "The album's name, or how many photos." },
        "albumId": { "type": ["string", "null"] }, "photoCount": { "type": "integer" },
        "description": { "type": ["string", "null"] }, "expiresAt": { "type": ["string", "null"] },
        "hasPassword": { "type": "boolean" }, "allowDownload": { "type": "boolean" } },
        "required": ["id", "shares", "hasPassword"] })
}

/// A link as the tools show it: never its password, only whether it has one.
fn compact_link(call: &Call<'_>, link: &Value) -> Value {
    let url = match (call.cx.web_base.as_deref(), link["key"].as_str()) {
        (Some(base), Some(key)) => Some(format!("{base}/share/{key}")),
        _ => None,
    };
    let album = &link["album"];
    let photos = link["assets"].as_array().map_or(0, Vec::len);
    let shares = match album["albumName"].as_str() {
        Some(name) => format!("album \"{name}\""),
        None => format!("{photos} photos"),
    };
    json!({
        "id": link["id"], "url": url, "shares": shares, "albumId": album.get("id"), "photoCount": photos,
        "description": link["description"], "expiresAt": link["expiresAt"],
        "hasPassword": link["password"].as_str().is_some_and(|p| !p.is_empty()), "allowDownload": link["allowDownload"]
    })
}

fn render_link(link: &Value) -> String {
    let mut parts = vec![link["shares"].as_str().unwrap_or("").to_string()];
    parts.push(link["url"].as_str().map_or("(open Immich → Sharing for its address)".into(), str::to_string));
    if let Some(expires) = link["expiresAt"].as_str() {
        parts.push(format!("expires {expires}"));
    }
    if link["hasPassword"] == true {
        parts.push("password".into());
    }
    parts.push(format!("id {}", link["id"].as_str().unwrap_or("")));
    parts.join(" · ")
}

async fn list_shared_links(call: &Call<'_>) -> Outcome {
    let mut query = Vec::new();
    if let Some(album) = call.optional_uuid("albumId")? {
        query.push(("albumId", album.as_str().to_string()));
    }
    let links: Vec<Value> = call.client().get(call.key, &ApiPath::fixed("/api/shared-links"), &query).await?;
    let links: Vec<Value> = links.iter().map(|l| compact_link(call, l)).collect();
    let text = if links.is_empty() {
        "No shared links.".to_string()
    } else {
        links.iter().map(render_link).collect::<Vec<_>>().join("\n")
    };
    Ok(result(json!({ "links": links }), text, Vec::new()))
}

async fn create_shared_link(call: &Call<'_>) -> Outcome {
    let album = call.optional_uuid("albumId")?;
    let photos = call.uuids("photoIds")?;
    let mut body = match (album, photos.is_empty()) {
        (Some(album), true) => json!({ "type": "ALBUM", "albumId": album }),
        (None, false) => json!({ "type": "INDIVIDUAL", "assetIds": photos }),
        _ => return Err(bad_argument("give either albumId or photoIds")),
    };
    let expires = match (call.date_bound("expiresAt", true)?, call.args["expiresInDays"].as_u64()) {
        (Some(_), Some(_)) => return Err(bad_argument("give either expiresAt or expiresInDays")),
        (Some(date), None) => Some(date),
        (None, Some(days)) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Some(crate::calendar::iso_utc(now.as_secs() as i64 + days as i64 * 86_400))
        }
        (None, None) => None,
    };
    if let Some(expires) = expires {
        body["expiresAt"] = json!(expires);
    }
    for key in ["description", "password"] {
        if let Some(value) = call.str_arg(key) {
            body[key] = json!(value);
        }
    }
    for key in ["allowDownload", "showMetadata"] {
        if let Some(value) = call.args[key].as_bool() {
            body[key] = json!(value);
        }
    }
    let link: Value =
        call.client().write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/shared-links"), &body).await?;
    let link = compact_link(call, &link);
    let text = format!("Shared link made: {}", render_link(&link));
    Ok(result(json!({ "link": link }), text, Vec::new()))
}

async fn delete_shared_link(call: &Call<'_>) -> Outcome {
    let id = call.uuid("id")?;
    let path = ApiPath::fixed("/api/shared-links").id(&id);
    call.client().write_empty(call.key, reqwest::Method::DELETE, &path, &json!({})).await?;
    Ok(result(json!({ "deleted": id.as_str() }), format!("Deleted shared link {id}: it no longer opens."), Vec::new()))
}

/// The comment tools (Immich's activity on shared albums).
pub(super) fn comment_tools() -> Vec<Tool> {
    vec![
        Tool::reads(
            "listComments",
            "Read comments on an album",
            "The comments and likes people left on a shared album, or on one photo in it (photoId), oldest first.",
            &["activity.read"],
            |call| Box::pin(list_comments(call)),
        )
        .input(schema(json!({ "albumId": id(), "photoId": id() }), &["albumId"]))
        .output(output(
            json!({
                "comments": { "type": "array", "items": { "type": "object", "properties": {
                    "id": { "type": "string" }, "by": { "type": "string" }, "comment": { "type": ["string", "null"] },
                    "like": { "type": "boolean" }, "photoId": { "type": ["string", "null"] }, "at": { "type": "string" } },
                    "required": ["id", "by", "like"] } },
                "likes": { "type": "integer" }
            }),
            &["comments", "likes"],
        )),
        Tool::reads(
            "addComment",
            "Comment on an album",
            "Leave a comment (or, with like: true, a like) on a shared album, or on one photo in it (photoId). Everyone \
                the album is shared with sees it.",
            &["activity.create"],
            |call| Box::pin(add_comment(call)),
        )
        .input(schema(
            json!({ "albumId": id(), "photoId": id(), "comment": { "type": "string", "minLength": 1 },
                    "like": { "type": "boolean", "description": "A like instead of a comment." } }),
            &["albumId"],
        ))
        .output(output(json!({ "id": { "type": "string" }, "like": { "type": "boolean" } }), &["id", "like"]))
        .writes(false),
    ]
}

fn compact_activity(activity: &Value) -> Value {
    json!({ "id": activity["id"], "by": activity["user"]["name"], "comment": activity["comment"],
            "like": activity["type"] == "like", "photoId": activity["assetId"], "at": activity["createdAt"] })
}

async fn list_comments(call: &Call<'_>) -> Outcome {
    let mut query = vec![("albumId", call.uuid("albumId")?.as_str().to_string())];
    if let Some(photo) = call.optional_uuid("photoId")? {
        query.push(("assetId", photo.as_str().to_string()));
    }
    let found: Vec<Value> = call.client().get(call.key, &ApiPath::fixed("/api/activities"), &query).await?;
    let comments: Vec<Value> = found.iter().map(compact_activity).collect();
    let likes = comments.iter().filter(|c| c["like"] == true).count();
    let lines: Vec<String> = comments
        .iter()
        .filter(|c| c["like"] != true)
        .map(|c| {
            format!(
                "{} ({}): {}",
                c["by"].as_str().unwrap_or(""),
                c["at"].as_str().unwrap_or(""),
                c["comment"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut text = if lines.is_empty() { "No comments.".to_string() } else { lines.join("\n") };
    text.push_str(&format!("\n{likes} likes."));
    Ok(result(json!({ "comments": comments, "likes": likes }), text, Vec::new()))
}

async fn add_comment(call: &Call<'_>) -> Outcome {
    let album = call.uuid("albumId")?;
    let like = call.args["like"].as_bool() == Some(true);
    let mut body = match (call.str_arg("comment"), like) {
        (Some(comment), false) => json!({ "albumId": album, "type": "comment", "comment": comment }),
        (None, true) => json!({ "albumId": album, "type": "like" }),
        _ => return Err(bad_argument("give either a comment or like: true")),
    };
    if let Some(photo) = call.optional_uuid("photoId")? {
        body["assetId"] = json!(photo);
    }
    let made: Value =
        call.client().write(call.key, reqwest::Method::POST, &ApiPath::fixed("/api/activities"), &body).await?;
    let text = if like { "Liked.".to_string() } else { "Comment added.".to_string() };
    Ok(result(json!({ "id": made["id"], "like": like }), text, Vec::new()))
}
