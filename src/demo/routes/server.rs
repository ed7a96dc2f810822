//! The server's own endpoints: features, about, statistics, and the calling key.

#![allow(clippy::result_large_err)]

use super::prelude::*;

pub(super) fn features() -> Value {
    json!({
        "smartSearch": true, "facialRecognition": true, "duplicateDetection": false, "map": true,
        "reverseGeocoding": true, "importFaces": false, "sidecar": true, "search": true, "trash": true,
        "oauth": false, "oauthAutoLaunch": false, "ocr": false, "passwordLogin": true, "configFile": false,
        "email": false, "realtimeTranscoding": false
    })
}

pub(super) fn about() -> Value {
    json!({
        "version": "v3.1.0",
        "versionUrl": "https://github.com/immich-app/immich/releases/tag/v3.1.0",
        "licensed": false,
        "nodejs": "v24.15.0",
        "exiftool": "13.59",
        "ffmpeg": "",
        "libvips": "8.17.3",
        "imagemagick": ""
    })
}

pub(super) fn video_count(len: u64) -> u64 {
    len / 25 + u64::from(len % 25 > 7)
}

/// (total bytes, photo bytes, video bytes); estimated from the mean file size.
pub(super) fn usage(lib: &Library) -> (u64, u64, u64) {
    let mean = 120_000;
    let videos = video_count(lib.len);
    ((lib.len) * mean, (lib.len - videos) * mean, videos * mean)
}

pub(super) fn server_statistics(lib: &Library) -> Value {
    let videos = video_count(lib.len);
    let (total, photos_bytes, video_bytes) = usage(lib);
    json!({
        "photos": lib.len - videos, "videos": videos, "usage": total, "usagePhotos": photos_bytes, "usageVideos": video_bytes,
        "usageByUser": [{
            "userId": OWNER_ID, "userName": "Demo Admin", "photos": lib.len - videos, "videos": videos,
            "usage": total, "usagePhotos": photos_bytes, "usageVideos": video_bytes, "quotaSizeInBytes": null
        }]
    })
}
