//! Prompts for the common jobs people give an agent with their photos, and completion of the
//! album, person and tag names their arguments take (read from Immich with the caller's key).

use super::ImmichCatalog;
use crate::immich::path::ApiPath;
use crate::mcp::catalog::CallContext;
use crate::mcp::jsonrpc::RpcError;
use serde_json::{Value, json};

/// Completion values returned at most (MCP caps a completion at 100).
const MAX_VALUES: usize = 100;

/// One prompt: its name, description, arguments (name, description, required, what completes
/// it) and the text it renders, `{argument}` replaced by the argument's value.
struct Prompt {
    name: &'static str,
    description: &'static str,
    arguments: &'static [(&'static str, &'static str, bool, Option<Names>)],
    text: &'static str,
}

/// What an argument's completion lists.
#[derive(Clone, Copy)]
enum Names {
    Album,
    Person,
    Tag,
}

const PROMPTS: &[Prompt] = &[
    Prompt {
        name: "find-duplicates",
        description: "Find duplicate photos and clean them up, asking before anything moves to the trash.",
        arguments: &[],
        text: "Find the duplicate photos in my Immich library and help me clean them up. Call listDuplicates, tell me how \
               many groups there are and how much space following Immich's suggestions would free, and show me a few \
               groups. Then resolve the ones I agree to with resolveDuplicates — first as a dry run, and with dryRun: \
               false only after I say yes.",
    },
    Prompt {
        name: "trip-album",
        description: "Make an album of a trip: the photos taken at a place between two dates.",
        arguments: &[
            ("place", "City or country, e.g. Lisbon", true, None),
            ("from", "First day, YYYY-MM-DD", true, None),
            ("to", "Last day, YYYY-MM-DD", true, None),
            ("name", "The album's name", false, Some(Names::Album)),
        ],
        text: "Make an album of my trip to {place} from {from} to {to}. Find the photos with queryPhotos (city or \
               country {place}, takenAfter {from}, takenBefore {to}; page with nextCursor until there are no more), \
               tell me how many there are and describe a few, then create the album \"{name}\" with createAlbum and add \
               them with addToAlbum.",
    },
    Prompt {
        name: "who-is-in",
        description: "Who is in an album's photos, and how often.",
        arguments: &[("album", "The album's name", true, Some(Names::Album))],
        text: "Who is in the photos of my album \"{album}\"? Find it with listAlbums, read its photos with getAlbum, and \
               tell me which people appear and in how many photos each; name anyone Immich has not named as unnamed.",
    },
    Prompt {
        name: "photos-of",
        description: "The best photos of one person.",
        arguments: &[("person", "The person's name", true, Some(Names::Person))],
        text: "Show me the best photos of {person}: find them with queryPhotos (people: [\"{person}\"]), look at a few \
               with analyzePhotos, and tell me which ones you would pick and why.",
    },
    Prompt {
        name: "tagged",
        description: "What the photos with a tag show.",
        arguments: &[("tag", "The tag, e.g. trip/2026", true, Some(Names::Tag))],
        text: "Tell me what my photos tagged \"{tag}\" show: find the tag's id with listTags, its photos with queryPhotos \
               (tagIds), and summarise when and where they were taken.",
    },
    Prompt {
        name: "tidy-trash",
        description: "Review the trash: what is in it, what to restore, whether to empty it.",
        arguments: &[],
        text: "Review my Immich trash: list it with listTrash, tell me how many photos it holds and from when, and point \
               out any that look worth keeping. Restore the ones I choose with restorePhotos; empty it with emptyTrash \
               (confirm: true) only after I say so — that deletes them for good.",
    },
];

/// The prompts, as `prompts/list` lists them.
pub(super) fn list() -> Vec<Value> {
    PROMPTS
        .iter()
        .map(|p| {
            let arguments: Vec<Value> = p
                .arguments
                .iter()
                .map(|(name, description, required, _)| json!({ "name": name, "description": description, "required": required }))
                .collect();
            json!({ "name": p.name, "description": p.description, "arguments": arguments })
        })
        .collect()
}

/// `prompts/get` for a prompt of ours: its one user message, or which argument is missing.
pub(super) fn get(name: &str, arguments: &Value) -> Option<Result<Value, RpcError>> {
    let prompt = PROMPTS.iter().find(|p| p.name == name)?;
    let mut text = prompt.text.to_string();
    for (argument, _, required, _) in prompt.arguments {
        let value = arguments[*argument].as_str().map(str::trim).filter(|v| !v.is_empty());
        let value = match (value, required) {
            (Some(value), _) => value.to_string(),
            (None, true) => {
                return Some(Err(RpcError::invalid_params(format!("missing required argument `{argument}`"))));
            }
            // An album's name, when not given: the place and dates make one.
            (None, false) => format!(
                "{} {}",
                arguments["place"].as_str().unwrap_or("Trip"),
                arguments["from"].as_str().unwrap_or("")
            )
            .trim()
            .to_string(),
        };
        text = text.replace(&format!("{{{argument}}}"), &value);
    }
    Some(Ok(json!({ "description": prompt.description,
        "messages": [{ "role": "user", "content": { "type": "text", "text": text } }] })))
}

/// `completion/complete` for an argument of one of our prompts that takes an album, person or tag
/// name: the names in the caller's library starting with what was typed (case-insensitively).
pub(super) async fn complete(
    catalog: &ImmichCatalog,
    reference: &Value,
    argument: &Value,
    cx: &CallContext,
) -> Option<Value> {
    let prompt = PROMPTS.iter().find(|p| reference["type"] == "ref/prompt" && reference["name"] == p.name)?;
    let wanted = argument["name"].as_str()?;
    let typed = argument["value"].as_str().unwrap_or_default().to_lowercase();
    let names = prompt.arguments.iter().find(|(name, ..)| *name == wanted).and_then(|(.., names)| *names);
    let (Some(names), Some(key)) = (names, cx.immich.as_ref()) else {
        return Some(json!({ "completion": { "values": [], "total": 0, "hasMore": false } }));
    };
    let (path, query, field): (&'static str, Vec<(&str, String)>, &str) = match names {
        Names::Album => ("/api/albums", Vec::new(), "albumName"),
        Names::Person => ("/api/people", vec![("size", "1000".into())], "name"),
        Names::Tag => ("/api/tags", Vec::new(), "value"),
    };
    let listed: Value = catalog.client.get(key, &ApiPath::fixed(path), &query).await.unwrap_or(Value::Null);
    let items = match names {
        Names::Person => &listed["people"],
        _ => &listed,
    };
    let mut values: Vec<String> = items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str())
        .filter(|name| !name.is_empty() && name.to_lowercase().starts_with(&typed))
        .map(str::to_string)
        .collect();
    values.sort();
    values.dedup();
    let total = values.len();
    values.truncate(MAX_VALUES);
    Some(json!({ "completion": { "values": values, "total": total, "hasMore": total > MAX_VALUES } }))
}
