//! Re-framing throughput of the in-memory part: a ~100 MB JSON array of Immich-like assets
//! (~1 KB each) pushed through the splitter and SSE framing in 64 KiB chunks, as upstream bodies
//! arrive. Reports MB/s of input on one core (median of 5 runs).
//!
//!   cargo bench --bench reframe

use immich_mcp_gateway::stream::reframe::{Format, Reframer};
use std::time::Instant;

fn asset(i: usize) -> String {
    format!(
        r#"{{"id":"{i:08x}-1eb5-481c-9ec1-5a5a5a5a4aee","createdAt":"2026-11-01T09:00:00.000Z","ownerId":"1aefa800-060a-47a3-9eb1-044201d5dd56","type":"IMAGE","originalPath":"/data/upload/1aefa800/61/b6/IMG_{i:06}.jpg","originalFileName":"IMG_{i:06}.jpg","originalMimeType":"image/jpeg","thumbhash":"INkGFZZXV2d/dnaDiBiYhVd/hArI","fileCreatedAt":"2022-07-23T11:54:00.000Z","fileModifiedAt":"2022-07-23T11:54:00.000Z","localDateTime":"2022-07-23T11:54:00.000Z","updatedAt":"2026-11-01T09:00:00.000Z","isFavorite":false,"isArchived":false,"isTrashed":false,"visibility":"timeline","duration":null,"exifInfo":{{"make":"Canon","model":"Canon EOS R5","city":"Kyoto","state":"Kyoto","country":"Japan","latitude":35.0116,"longitude":135.7681,"description":"a \"quoted\" note, with commas, [brackets] and {{braces}}","rating":3}},"people":[{{"id":"p1","name":"Chen"}}],"checksum":"wSzjpCaD4LiKk0rbd+ZmtnfSYP0=","width":4000,"height":3000}}"#
    )
}

fn main() {
    let mut body = Vec::with_capacity(110 << 20);
    body.push(b'[');
    let mut i = 0;
    while body.len() < 100 << 20 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(asset(i).as_bytes());
        i += 1;
    }
    body.push(b']');
    let mb = body.len() as f64 / 1e6;
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut reframer = Reframer::new(Format::Sse, vec![vec![]], 100);
        let mut out = 0usize;
        for chunk in body.chunks(64 * 1024) {
            out += reframer.push(chunk).len();
        }
        out += reframer.finish().len();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(reframer.total() as usize, i);
        assert!(out > body.len());
        rates.push(mb / seconds);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "reframe: {mb:.0} MB array of {i} assets (~{} B each) -> SSE: median {:.0} MB/s (runs: {:?})",
        body.len() / i,
        rates[2],
        rates.iter().map(|r| r.round()).collect::<Vec<_>>()
    );
}
