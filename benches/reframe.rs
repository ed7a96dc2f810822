//! Re-framing throughput of the in-memory part: a ~100 MB JSON array of Immich-like assets
//! (~1 KB each) pushed through the splitter and SSE framing in 64 KiB chunks, as upstream bodies
//! arrive — plain, then compressed with gzip-1 and zstd-1 flushed at every chunk, as the proxy
//! does. Reports MB/s of input on one core (median of 5 runs each).
//!
//!   cargo bench --bench reframe
//!   cargo bench --bench reframe -- plain     # only the codecs named: plain, gzip, zstd

use immich_mcp_gateway::reframing::{Codec, Compressor, Format, Reframer};
use std::time::Instant;

/// A small deterministic PRNG (xorshift), so the data is realistic (random ids, hashes,
/// coordinates, words) without a dependency, and the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap()).collect()
    }
    fn b64(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..n).map(|_| A[(self.next() % 64) as usize] as char).collect()
    }
    fn words(&mut self, n: usize) -> String {
        const W: &[&str] = &[
            "sunset", "beach", "mountain", "family", "dinner", "birthday", "trip", "snow", "city", "night", "garden",
            "dog", "cat", "river", "bridge", "market",
        ];
        (0..n).map(|_| W[(self.next() % W.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
    }
}

/// An Immich-like asset (~1 KB) with realistic entropy.
fn asset(rng: &mut Rng, i: usize) -> String {
    let day = 1 + rng.next() % 28;
    let (lat, lon) = ((rng.next() % 180_000) as f64 / 1000.0 - 90.0, (rng.next() % 360_000) as f64 / 1000.0 - 180.0);
    format!(
        r#"{{"id":"{}-{}-4{}-8{}-{}","createdAt":"2026-11-01T09:{:02}:{:02}.000Z","ownerId":"1aefa800-060a-47a3-9eb1-044201d5dd56","type":"IMAGE","originalPath":"/data/upload/1aefa800/{}/{}/{}.jpg","originalFileName":"IMG_{i:06}.jpg","originalMimeType":"image/jpeg","thumbhash":"{}","fileCreatedAt":"2022-07-{day:02}T11:{:02}:00.000Z","localDateTime":"2022-07-{day:02}T11:{:02}:00.000Z","updatedAt":"2026-11-01T09:00:00.000Z","isFavorite":{},"isArchived":false,"isTrashed":false,"visibility":"timeline","duration":null,"exifInfo":{{"make":"Canon","model":"Canon EOS R5","fNumber":{}.{},"iso":{},"exposureTime":"1/{}","latitude":{lat},"longitude":{lon},"city":"Kyoto","country":"Japan","description":"{}","rating":{}}},"people":[{{"id":"{}","name":"Chen"}}],"checksum":"{}=","width":{},"height":{}}}"#,
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(3),
        rng.hex(12),
        rng.next() % 60,
        rng.next() % 60,
        rng.hex(2),
        rng.hex(2),
        rng.hex(32),
        rng.b64(28),
        rng.next() % 60,
        rng.next() % 60,
        rng.next().is_multiple_of(2),
        1 + rng.next() % 8,
        rng.next() % 10,
        100 * (1 + rng.next() % 64),
        1 + rng.next() % 4000,
        rng.words(6),
        rng.next() % 6,
        rng.hex(32),
        rng.b64(27),
        1000 + rng.next() % 5000,
        1000 + rng.next() % 5000
    )
}

fn main() {
    let mut body = Vec::with_capacity(110 << 20);
    body.push(b'[');
    let mut i = 0;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    while body.len() < 100 << 20 {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(asset(&mut rng, i).as_bytes());
        i += 1;
    }
    body.push(b']');
    let mb = body.len() as f64 / 1e6;
    println!("input: {mb:.0} MB array of {i} assets (~{} B each), 64 KiB chunks", body.len() / i);
    let runs = 5;
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for codec in [None, Some(Codec::Gzip), Some(Codec::Zstd)] {
        let name = codec.map_or("plain", |c| c.token());
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let mut rates = Vec::new();
        let mut out_bytes = 0usize;
        for _ in 0..runs {
            let started = Instant::now();
            let mut reframer = Reframer::new(Format::Sse, vec![vec![]], 100);
            let mut compressor = codec.map(|c| Compressor::new(c, 1));
            let mut out = 0usize;
            for chunk in body.chunks(64 * 1024) {
                reframer.push(chunk);
                let framed = reframer.take();
                out += match compressor.as_mut() {
                    Some(c) => c.push(&framed, true).len(),
                    None => framed.len(),
                };
            }
            reframer.finish();
            let tail = reframer.take();
            out += match compressor.as_mut() {
                Some(c) => c.push(&tail, true).len() + c.finish().len(),
                None => tail.len(),
            };
            rates.push(mb / started.elapsed().as_secs_f64());
            assert_eq!(reframer.total() as usize, i);
            out_bytes = out;
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "reframe -> SSE {name:>5}: median {:>5.0} MB/s of input (runs {:?}), output {:.1} MB",
            rates[runs / 2],
            rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
            out_bytes as f64 / 1e6
        );
    }
}
