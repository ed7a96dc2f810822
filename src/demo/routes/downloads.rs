//! Downloads: how a selection splits into archives, and an archive's ZIP, streamed.

#![allow(clippy::result_large_err)]

use super::prelude::*;

/// The assets a download request selects: `assetIds`, `albumId` or `userId`.
pub(super) fn download_selection(lib: &Library, body: &Value) -> Result<Vec<u64>, Response<Body>> {
    if body.get("assetIds").is_some() {
        return asset_ids(body, "assetIds", lib, "asset.download");
    }
    if let Some(album) = body.get("albumId").and_then(Value::as_str) {
        let state = lib.state.lock();
        let index = find_album(&state, album)?;
        return Ok((0..lib.len).filter(|i| lib.in_album(&state.albums[index], index, *i)).collect());
    }
    if body.get("userId").and_then(Value::as_str) == Some(OWNER_ID) {
        return Ok((0..lib.len).collect());
    }
    Err(validation("assetIds", "assetIds, albumId or userId is required"))
}

pub(super) fn download_info(lib: &Library, body: &Value) -> Response<Body> {
    let selection = match download_selection(lib, body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = body.get("archiveSize").and_then(Value::as_u64).unwrap_or(4 << 30).max(1);
    let state = lib.state.lock();
    let mut archives: Vec<(u64, Vec<String>)> = Vec::new();
    let mut total = 0;
    for i in selection {
        let size = lib.asset(i, &state.assets).map_or(0, |a| a.file_size);
        total += size;
        match archives.last_mut() {
            Some((used, ids)) if *used + size <= limit => {
                *used += size;
                ids.push(id(Kind::Asset, i));
            }
            _ => archives.push((size, vec![id(Kind::Asset, i)])),
        }
    }
    let archives: Vec<Value> =
        archives.into_iter().map(|(size, ids)| json!({ "size": size, "assetIds": ids })).collect();
    json_response(201, &json!({ "totalSize": total, "archives": archives }))
}

/// A ZIP of the originals, written one entry at a time as the client reads.
pub(super) fn download_archive(demo: Arc<DemoImmich>, user: usize, body: &Value) -> Response<Body> {
    let ids = match asset_ids(body, "assetIds", demo.library_of(user), "asset.download") {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let stream = futures::stream::unfold((ids.into_iter(), Some(ZipWriter::default())), move |(mut ids, zip)| {
        let demo = demo.clone();
        async move {
            let mut zip = zip?;
            match ids.next() {
                Some(i) => {
                    let asset = {
                        let lib = demo.library_of(user);
                        let state = lib.state.lock();
                        lib.asset(i, &state.assets)
                    }?;
                    let entry = zip.entry(&asset.file_name(), &media::original(&asset));
                    Some((Ok::<_, std::io::Error>(Frame::data(entry)), (ids, Some(zip))))
                }
                None => Some((Ok(Frame::data(zip.finish())), (ids, None))),
            }
        }
    })
    .boxed();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header("content-disposition", "attachment; filename=\"immich-download.zip\"")
        .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
        .expect("valid response")
}
