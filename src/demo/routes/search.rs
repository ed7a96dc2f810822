//! Search: metadata (filters, paging, order), smart search faked deterministically, random picks,
//! statistics, places, suggestions and the explore page.

#![allow(clippy::result_large_err)]

use super::prelude::*;

/// Metadata search filters, as `MetadataSearchDto` names them.
#[derive(Default)]
pub(super) struct Filters {
    taken_after: Option<i64>,
    taken_before: Option<i64>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    make: Option<String>,
    model: Option<String>,
    album_ids: Vec<usize>,
    person_ids: Vec<usize>,
    tag_ids: Vec<usize>,
    is_video: Option<bool>,
    is_favorite: Option<bool>,
    visibility: Option<String>,
    rating: Option<i64>,
    file_name: Option<String>,
    description: Option<String>,
    /// Text in the photo (`ocr`): a case-insensitive substring of a line, where Immich ranks by
    /// trigram similarity.
    ocr: Option<String>,
    id: Option<u64>,
    /// Trashed assets too (`withDeleted`, or implied by a `trashedAfter`/`trashedBefore`, as in
    /// Immich's search builder).
    with_deleted: bool,
    trashed_after: Option<i64>,
    trashed_before: Option<i64>,
    /// Any id that matched nothing known: the result is empty.
    impossible: bool,
}

impl Filters {
    pub(super) fn from_json(body: &Value, state: &Mutations) -> Result<Filters, Response<Body>> {
        let mut f = Filters::default();
        let text = |key: &str| -> Result<Option<String>, Response<Body>> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(validation(key, "Invalid input: expected string")),
            }
        };
        let date = |key: &str| -> Result<Option<i64>, Response<Body>> {
            match text(key)? {
                None => Ok(None),
                // Immich validates these as full date-times (a bare date is refused).
                Some(s) if s.len() >= 19 => {
                    library::parse_iso(&s).map(Some).ok_or_else(|| validation(key, "Invalid ISO datetime"))
                }
                Some(_) => Err(validation(key, "Invalid ISO datetime")),
            }
        };
        let flag = |key: &str| -> Result<Option<bool>, Response<Body>> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(validation(key, "Invalid input: expected boolean")),
            }
        };
        let ids = |key: &str, kind: Kind, known: usize, impossible: &mut bool| -> Result<Vec<usize>, Response<Body>> {
            let Some(value) = body.get(key).filter(|v| !v.is_null()) else {
                return Ok(Vec::new());
            };
            let list = value.as_array().ok_or_else(|| validation(key, "Invalid input: expected array"))?;
            let mut out = Vec::new();
            for item in list {
                let s = item.as_str().filter(|s| library::is_uuid(s)).ok_or_else(|| validation(key, "Invalid UUID"))?;
                match index_of(kind, s).filter(|i| (*i as usize) < known) {
                    Some(i) => out.push(i as usize),
                    None => *impossible = true,
                }
            }
            Ok(out)
        };
        f.taken_after = date("takenAfter")?;
        f.taken_before = date("takenBefore")?;
        f.trashed_after = date("trashedAfter")?;
        f.trashed_before = date("trashedBefore")?;
        f.with_deleted =
            flag("withDeleted")?.unwrap_or(false) || f.trashed_after.is_some() || f.trashed_before.is_some();
        f.city = text("city")?;
        f.state = text("state")?;
        f.country = text("country")?;
        f.make = text("make")?;
        f.model = text("model")?;
        let mut impossible = false;
        f.album_ids = ids("albumIds", Kind::Album, state.albums.len(), &mut impossible)?;
        f.person_ids = ids("personIds", Kind::Person, PEOPLE.len(), &mut impossible)?;
        f.tag_ids = ids("tagIds", Kind::Tag, state.tags.len(), &mut impossible)?;
        f.impossible = impossible;
        f.is_video = match text("type")?.as_deref() {
            None => None,
            Some("IMAGE") => Some(false),
            Some("VIDEO") => Some(true),
            Some("AUDIO" | "OTHER") => {
                f.impossible = true;
                None
            }
            Some(_) => {
                return Err(validation(
                    "type",
                    "Invalid option: expected one of \"IMAGE\"|\"VIDEO\"|\"AUDIO\"|\"OTHER\"",
                ));
            }
        };
        f.is_favorite = flag("isFavorite")?;
        f.visibility = text("visibility")?;
        if let Some(v) = &f.visibility
            && !["archive", "timeline", "hidden", "locked"].contains(&v.as_str())
        {
            return Err(validation("visibility", "Invalid option"));
        }
        f.rating = match body.get("rating") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(r) if (-1..=5).contains(&r) => Some(r),
                _ => return Err(validation("rating", "Too big: expected number to be <=5")),
            },
        };
        f.file_name = text("originalFileName")?.map(|s| s.to_lowercase());
        f.description = text("description")?.map(|s| s.to_lowercase());
        f.ocr = text("ocr")?.map(|s| s.to_lowercase());
        if let Some(s) = text("id")? {
            match index_of(Kind::Asset, &s) {
                Some(i) => f.id = Some(i),
                None => f.impossible = true,
            }
        }
        Ok(f)
    }

    pub(super) fn is_trivial(&self) -> bool {
        self.taken_after.is_none()
            && self.taken_before.is_none()
            && self.city.is_none()
            && self.state.is_none()
            && self.country.is_none()
            && self.make.is_none()
            && self.model.is_none()
            && self.album_ids.is_empty()
            && self.person_ids.is_empty()
            && self.tag_ids.is_empty()
            && self.is_video.is_none()
            && self.is_favorite.is_none()
            && self.visibility.is_none()
            && self.rating.is_none()
            && self.file_name.is_none()
            && self.description.is_none()
            && self.ocr.is_none()
            && self.id.is_none()
            && !self.with_deleted
            && !self.impossible
    }

    pub(super) fn matches(&self, lib: &Library, state: &Mutations, a: &Asset) -> bool {
        let place = a.place.map(|p| PLACES[p]);
        let (make, model, _) = CAMERAS[a.camera];
        let eq = |want: &Option<String>, have: Option<&str>| want.as_ref().is_none_or(|w| have == Some(w.as_str()));
        !self.impossible
            && !a.purged
            && (a.trashed.is_none() || self.with_deleted)
            && self.trashed_after.is_none_or(|t| a.trashed.is_some_and(|d| d >= t))
            && self.trashed_before.is_none_or(|t| a.trashed.is_some_and(|d| d <= t))
            && self.taken_after.is_none_or(|t| a.taken >= t)
            && self.taken_before.is_none_or(|t| a.taken <= t)
            && eq(&self.city, place.map(|p| p.0))
            && eq(&self.state, place.map(|p| p.1))
            && eq(&self.country, place.map(|p| p.2))
            && eq(&self.make, Some(make))
            && eq(&self.model, Some(model))
            && self.album_ids.iter().all(|&i| lib.in_album(&state.albums[i], i, a.index))
            && self.person_ids.iter().all(|p| a.people.contains(p))
            && self.tag_ids.iter().all(|&i| lib.has_tag(&state.tags[i], i, a.index))
            && self.is_video.is_none_or(|v| a.is_video == v)
            && self.is_favorite.is_none_or(|f| a.is_favorite == f)
            && self.visibility.as_ref().is_none_or(|v| &a.visibility == v)
            && self.rating.is_none_or(|r| a.rating.unwrap_or(0) == r.max(0))
            && self.file_name.as_ref().is_none_or(|n| a.file_name().to_lowercase().contains(n))
            && self.description.as_ref().is_none_or(|d| a.description.to_lowercase().contains(d))
            && self.ocr.as_ref().is_none_or(|t| a.ocr().iter().any(|(line, _)| line.to_lowercase().contains(t)))
            && self.id.is_none_or(|i| a.index == i)
    }
}

/// `page` and `size` as Immich validates them.
pub(super) fn paging(body: &Value, default_size: u64) -> Result<(u64, u64), Response<Body>> {
    let size = match body.get("size") {
        None | Some(Value::Null) => default_size,
        Some(v) => match v.as_i64() {
            Some(n) if n > 1000 => {
                return Err(json_response(
                    400,
                    &json!({ "message": "Validation failed", "errors": [{ "origin": "number", "code": "too_big", "maximum": 1000, "inclusive": true, "path": ["size"], "message": "Too big: expected number to be <=1000" }] }),
                ));
            }
            Some(n) if n >= 1 => n as u64,
            _ => return Err(validation("size", "Too small: expected number to be >=1")),
        },
    };
    let page = match body.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => n as u64,
            _ => return Err(validation("page", "Too small: expected number to be >=1")),
        },
    };
    Ok((page, size))
}

/// Walks the library in `order`, starting at `start` (a rotation, for smart search), yielding
/// matching assets lazily.
pub(super) fn walk<'a>(
    lib: &'a Library,
    state: &'a Mutations,
    filters: &'a Filters,
    ascending: bool,
    start: u64,
) -> impl Iterator<Item = Asset> + 'a {
    (0..lib.len)
        .map(move |k| {
            let k = (k + start) % lib.len;
            if ascending { lib.len - 1 - k } else { k }
        })
        .filter_map(move |i| lib.asset(i, &state.assets))
        .filter(move |a| filters.matches(lib, state, a))
}

pub(super) fn search_page(lib: &Library, body: &Value, default_size: u64, rotation: u64) -> Response<Body> {
    let state = lib.state.lock();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (page, size) = match paging(body, default_size) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ascending = match body.get("order").and_then(Value::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return validation("order", "Invalid option: expected one of \"asc\"|\"desc\""),
    };
    let with_exif = body.get("withExif").and_then(Value::as_bool).unwrap_or(false);
    let with_people = body.get("withPeople").and_then(Value::as_bool).unwrap_or(false);
    let offset = (page - 1).saturating_mul(size);
    let cacheable = filters.is_trivial() && rotation == 0 && state.assets.is_empty();
    // Straight by index only while every asset is in the library.
    let by_index = filters.is_trivial() && rotation == 0 && !state.any_removed();
    let key = (offset, size, ascending, with_exif, with_people);
    if cacheable && let Some(page) = lib.pages.get(&key) {
        return rendered_json(200, page);
    }
    if !cacheable {
        lib.pages.clear();
    }
    let mut items: Vec<Asset> = if by_index {
        (offset..offset.saturating_add(size + 1).min(lib.len))
            .filter_map(|k| lib.asset(if ascending { lib.len - 1 - k } else { k }, &state.assets))
            .collect()
    } else {
        walk(lib, &state, &filters, ascending, rotation).skip(offset as usize).take(size as usize + 1).collect()
    };
    // JSON is made without the lock, so concurrent searches (100 streams) run in parallel.
    drop(state);
    let has_more = items.len() as u64 > size;
    items.truncate(size as usize);
    let rendered = Bytes::from(render_search_page(&items, has_more.then_some(page + 1), |a| {
        a.to_json(with_exif, with_people, None)
    }));
    if cacheable {
        lib.pages.put(key, rendered.clone());
    }
    rendered_json(200, rendered)
}

/// Immich's search page, in Immich's key order, rendered one asset at a time: a page of a thousand
/// assets as one `Value` tree costs tens of megabytes, as bytes about two.
pub(super) fn render_search_page(
    items: &[Asset],
    next_page: Option<u64>,
    to_json: impl Fn(&Asset) -> Value,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + items.len() * 1024);
    let count = items.len();
    out.extend_from_slice(
        format!(
            r#"{{"albums":{{"total":0,"count":0,"items":[],"facets":[]}},"assets":{{"total":{count},"count":{count},"items":["#
        )
        .as_bytes(),
    );
    for (i, asset) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &to_json(asset)).expect("serializable");
    }
    let next_page = next_page.map_or_else(|| "null".to_string(), |p| format!(r#""{p}""#));
    out.extend_from_slice(format!(r#"],"facets":[],"nextPage":{next_page}}}}}"#).as_bytes());
    out
}

pub(super) fn search_metadata(lib: &Library, body: &Value) -> Response<Body> {
    search_page(lib, body, 250, 0)
}

/// CLIP search, faked deterministically: words naming a known city, country, camera make or
/// person narrow the results; the ranking is a rotation of the library chosen by the query.
pub(super) fn search_smart(lib: &Library, body: &Value) -> Response<Body> {
    let query = match (body.get("query").and_then(Value::as_str), body.get("queryAssetId").and_then(Value::as_str)) {
        (Some(q), _) if !q.trim().is_empty() => q.to_lowercase(),
        (_, Some(id)) => id.to_string(),
        _ => return validation("query", "Either query or queryAssetId is required"),
    };
    let mut narrowed = body.clone();
    for word in query.split_whitespace() {
        if let Some(p) = PLACES.iter().find(|p| p.0.to_lowercase() == word) {
            narrowed["city"] = json!(p.0);
        } else if let Some(p) = PLACES.iter().find(|p| p.2.to_lowercase() == word) {
            narrowed["country"] = json!(p.2);
        } else if let Some(c) = CAMERAS.iter().find(|c| c.0.to_lowercase() == word) {
            narrowed["make"] = json!(c.0);
        } else if let Some(p) = PEOPLE.iter().position(|p| p.to_lowercase() == word) {
            narrowed["personIds"] = json!([id(Kind::Person, p as u64)]);
        }
    }
    let rotation = query.bytes().fold(0u64, |h, b| library::hash(Kind::Asset, h ^ u64::from(b))) % lib.len.max(1);
    search_page(lib, &narrowed, 100, rotation.max(1))
}

pub(super) fn search_random(lib: &Library, body: &Value) -> Response<Body> {
    let state = lib.state.lock();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let size = match paging(body, 250) {
        Ok((_, s)) => s,
        Err(r) => return r,
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..size * 20 {
        if out.len() as u64 >= size || lib.len == 0 {
            break;
        }
        let i = rand::random::<u64>() % lib.len;
        if seen.insert(i)
            && let Some(a) = lib.asset(i, &state.assets).filter(|a| filters.matches(lib, &state, a))
        {
            out.push(a.to_json(false, false, None));
        }
    }
    json_response(200, &Value::Array(out))
}

pub(super) fn search_statistics(lib: &Library, body: &Value) -> Response<Body> {
    let state = lib.state.lock();
    let filters = match Filters::from_json(body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let total = if filters.is_trivial() && !state.any_removed() {
        lib.len as usize
    } else {
        walk(lib, &state, &filters, false, 0).count()
    };
    json_response(200, &json!({ "total": total }))
}

pub(super) fn search_places(query: &BTreeMap<String, String>) -> Response<Body> {
    let Some(name) = query.get("name").filter(|n| !n.is_empty()) else {
        return validation("name", "Invalid input: expected string");
    };
    let name = name.to_lowercase();
    let places: Vec<Value> = PLACES
        .iter()
        .filter(|p| p.0.to_lowercase().starts_with(&name))
        .map(|p| json!({ "name": p.0, "latitude": p.3, "longitude": p.4, "admin1name": p.1, "admin2name": p.2 }))
        .collect();
    json_response(200, &Value::Array(places))
}

pub(super) fn search_suggestions(query: &BTreeMap<String, String>) -> Response<Body> {
    let country = query.get("country");
    let make = query.get("make");
    let mut values: Vec<&str> = match query.get("type").map(String::as_str) {
        Some("country") => PLACES.iter().map(|p| p.2).collect(),
        Some("state") => PLACES.iter().filter(|p| country.is_none_or(|c| c == p.2)).map(|p| p.1).collect(),
        Some("city") => PLACES.iter().filter(|p| country.is_none_or(|c| c == p.2)).map(|p| p.0).collect(),
        Some("camera-make") => CAMERAS.iter().map(|c| c.0).collect(),
        Some("camera-model") => CAMERAS.iter().filter(|c| make.is_none_or(|m| m == c.0)).map(|c| c.1).collect(),
        Some("camera-lens-model") => {
            CAMERAS.iter().filter(|c| make.is_none_or(|m| m == c.0)).filter_map(|c| c.2).collect()
        }
        _ => {
            return validation(
                "type",
                "Invalid option: expected one of \"country\"|\"state\"|\"city\"|\"camera-make\"|\"camera-model\"|\"camera-lens-model\"",
            );
        }
    };
    values.sort_unstable();
    values.dedup();
    json_response(200, &json!(values))
}

/// The first asset taken in each city.
pub(super) fn first_per_city(lib: &Library, state: &Mutations) -> Vec<Asset> {
    let mut found: Vec<Option<Asset>> = vec![None; PLACES.len()];
    for i in 0..lib.len {
        let Some(a) = lib.asset(i, &state.assets) else {
            break;
        };
        if let Some(p) = a.place.filter(|_| a.present())
            && found[p].is_none()
        {
            found[p] = Some(a);
            if found.iter().all(Option::is_some) {
                break;
            }
        }
    }
    found.into_iter().flatten().collect()
}

pub(super) fn search_explore(lib: &Library) -> Response<Body> {
    let state = lib.state.lock();
    let items: Vec<Value> = first_per_city(lib, &state)
        .iter()
        .map(|a| json!({ "value": PLACES[a.place.unwrap()].0, "data": a.to_json(true, false, Some(Vec::new())) }))
        .collect();
    json_response(200, &json!([{ "fieldName": "exifInfo.city", "items": items }]))
}

pub(super) fn search_cities(lib: &Library) -> Response<Body> {
    let state = lib.state.lock();
    let items: Vec<Value> = first_per_city(lib, &state).iter().map(|a| a.to_json(true, false, None)).collect();
    json_response(200, &Value::Array(items))
}

/// `POST /api/search/large-assets`: the largest photos, biggest first, every parameter in the
/// query string (`minFileSize`, `size` — 250 by default — and the metadata filters as text).
pub(super) fn search_large(lib: &Library, query: &BTreeMap<String, String>) -> Response<Body> {
    let number = |key: &str| -> Result<Option<u64>, Response<Body>> {
        query
            .get(key)
            .map(|v| v.parse::<u64>().map_err(|_| validation(key, "Invalid input: expected number")))
            .transpose()
    };
    let (min, size) = match (number("minFileSize"), number("size")) {
        (Ok(min), Ok(size)) => (min.unwrap_or(0), size.unwrap_or(250)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if !(1..=1000).contains(&size) {
        return validation("size", "Too big: expected number to be <=1000");
    }
    let with_exif = query.get("withExif").is_some_and(|v| v == "true");
    // The filters the tools send, as MetadataSearchDto would carry them.
    let mut body = json!({});
    for key in ["type", "city", "country", "make", "model", "takenAfter", "takenBefore", "ocr"] {
        if let Some(v) = query.get(key) {
            body[key] = json!(v);
        }
    }
    let state = lib.state.lock();
    let filters = match Filters::from_json(&body, &state) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut found: Vec<Asset> = walk(lib, &state, &filters, false, 0).filter(|a| a.file_size >= min).collect();
    drop(state);
    found.sort_by(|a, b| b.file_size.cmp(&a.file_size).then(a.index.cmp(&b.index)));
    found.truncate(size as usize);
    json_response(200, &Value::Array(found.iter().map(|a| a.to_json(with_exif, false, None)).collect()))
}
