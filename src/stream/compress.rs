//! Response compression (gzip, zstd, br) through async-compression — Pingora 0.9's built-in br
//! leaves streams unfinished. Chosen from `Accept-Encoding` with q-values; streams are flushed at
//! every event boundary so a compressed SSE or NDJSON stream stays live.
//!
//! Pingora's body filter is synchronous; an encoder writing into a `Vec` never waits, so its
//! futures complete on the first poll (`now_or_never`).

use async_compression::Level;
use async_compression::tokio::write::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use bytes::Bytes;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;

/// A content coding the gateway produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// `gzip`.
    Gzip,
    /// `zstd`.
    Zstd,
    /// `br`.
    Brotli,
}

impl Codec {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Brotli => "br",
        }
    }
}

/// The best codec the client accepts: highest q-value, ties broken by speed (zstd, gzip, br);
/// `q=0` refuses a coding; `*` stands for any not named.
pub fn negotiate(accept_encoding: &str) -> Option<Codec> {
    let mut named: Vec<(String, f32)> = Vec::new();
    for part in accept_encoding.split(',') {
        let mut pieces = part.split(';');
        let token = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        if token.is_empty() {
            continue;
        }
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        named.push((token, q));
    }
    let q_of = |token: &str| -> f32 {
        named
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, q)| *q)
            .or_else(|| named.iter().find(|(t, _)| t == "*").map(|(_, q)| *q))
            .unwrap_or(0.0)
    };
    [Codec::Zstd, Codec::Gzip, Codec::Brotli]
        .into_iter()
        .map(|c| (c, q_of(c.token())))
        .filter(|(_, q)| *q > 0.0)
        .fold(None::<(Codec, f32)>, |best, (c, q)| match best {
            Some((_, bq)) if bq >= q => best,
            _ => Some((c, q)),
        })
        .map(|(c, _)| c)
}

/// Whether a content type is worth compressing.
pub fn compressible(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    t.contains("json")
        || t.starts_with("text/")
        || t.contains("event-stream")
        || t.contains("javascript")
        || t.contains("xml")
}

// Boxed: one encoder per response, and the variants differ a lot in size.
enum Encoder {
    Gzip(Box<GzipEncoder<Vec<u8>>>),
    Zstd(Box<ZstdEncoder<Vec<u8>>>),
    Brotli(Box<BrotliEncoder<Vec<u8>>>),
}

/// The configured level for `codec` (streams and bodies use the same fast levels).
pub fn level(codec: Codec, streaming: &crate::config::StreamingConfig) -> i32 {
    match codec {
        Codec::Gzip => streaming.gzip_level,
        Codec::Zstd => streaming.zstd_level,
        Codec::Brotli => streaming.brotli_level,
    }
}

/// Compresses a whole body that is already in memory (an MCP JSON reply).
pub fn compress_all(codec: Codec, level: i32, data: &[u8]) -> Bytes {
    let mut compressor = Compressor::new(codec, level);
    let head = compressor.push(data, false);
    let tail = compressor.finish();
    let mut out = Vec::with_capacity(head.len() + tail.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&tail);
    Bytes::from(out)
}

/// One response's encoder.
pub struct Compressor {
    encoder: Encoder,
    finished: bool,
}

impl Compressor {
    /// An encoder for `codec` at `level` (1 = fastest).
    pub fn new(codec: Codec, level: i32) -> Compressor {
        let level = Level::Precise(level);
        let encoder = match codec {
            Codec::Gzip => Encoder::Gzip(Box::new(GzipEncoder::with_quality(Vec::new(), level))),
            Codec::Zstd => Encoder::Zstd(Box::new(ZstdEncoder::with_quality(Vec::new(), level))),
            Codec::Brotli => Encoder::Brotli(Box::new(BrotliEncoder::with_quality(Vec::new(), level))),
        };
        Compressor { encoder, finished: false }
    }

    /// Compresses `data`; with `flush`, everything so far is made decodable now (an event
    /// boundary). Returns the bytes to send.
    pub fn push(&mut self, data: &[u8], flush: bool) -> Bytes {
        macro_rules! drive {
            ($e:expr) => {{
                let e = $e;
                if !data.is_empty() {
                    e.write_all(data)
                        .now_or_never()
                        .expect("a Vec sink is always ready")
                        .expect("writing to memory cannot fail");
                }
                if flush {
                    e.flush()
                        .now_or_never()
                        .expect("a Vec sink is always ready")
                        .expect("flushing to memory cannot fail");
                }
                Bytes::from(std::mem::take(e.get_mut()))
            }};
        }
        match &mut self.encoder {
            Encoder::Gzip(e) => drive!(e),
            Encoder::Zstd(e) => drive!(e),
            Encoder::Brotli(e) => drive!(e),
        }
    }

    /// Ends the compressed stream (its trailer); call once, at the end of the body.
    pub fn finish(&mut self) -> Bytes {
        if self.finished {
            return Bytes::new();
        }
        self.finished = true;
        macro_rules! end {
            ($e:expr) => {{
                let e = $e;
                e.shutdown()
                    .now_or_never()
                    .expect("a Vec sink is always ready")
                    .expect("finishing in memory cannot fail");
                Bytes::from(std::mem::take(e.get_mut()))
            }};
        }
        match &mut self.encoder {
            Encoder::Gzip(e) => end!(e),
            Encoder::Zstd(e) => end!(e),
            Encoder::Brotli(e) => end!(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn negotiation_follows_q_values() {
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Some(Codec::Zstd));
        assert_eq!(negotiate("gzip;q=1.0, zstd;q=0.5"), Some(Codec::Gzip));
        assert_eq!(negotiate("br"), Some(Codec::Brotli));
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("gzip;q=0, *;q=0.1"), Some(Codec::Zstd));
        assert_eq!(negotiate("*;q=0"), None);
        assert_eq!(negotiate(""), None);
    }

    async fn decode(codec: Codec, bytes: &[u8]) -> Vec<u8> {
        use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
        let mut out = Vec::new();
        match codec {
            Codec::Gzip => GzipDecoder::new(bytes).read_to_end(&mut out).await.unwrap(),
            Codec::Zstd => ZstdDecoder::new(bytes).read_to_end(&mut out).await.unwrap(),
            Codec::Brotli => BrotliDecoder::new(bytes).read_to_end(&mut out).await.unwrap(),
        };
        out
    }

    #[tokio::test]
    async fn every_codec_round_trips_and_flushed_prefixes_decode() {
        let events: Vec<String> = (0..50)
            .map(|i| format!("event: data\ndata: {{\"n\":{i},\"text\":\"{}\"}}\n\n", "x".repeat(i * 10)))
            .collect();
        for codec in [Codec::Gzip, Codec::Zstd, Codec::Brotli] {
            let mut c = Compressor::new(codec, 1);
            let mut wire = Vec::new();
            for (i, event) in events.iter().enumerate() {
                wire.extend_from_slice(&c.push(event.as_bytes(), true));
                if i == 10 {
                    // After a flush, what was sent so far already decodes to the first events.
                    let mut partial = Vec::new();
                    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
                    let _ = match codec {
                        Codec::Gzip => GzipDecoder::new(&wire[..]).read_to_end(&mut partial).await,
                        Codec::Zstd => ZstdDecoder::new(&wire[..]).read_to_end(&mut partial).await,
                        Codec::Brotli => BrotliDecoder::new(&wire[..]).read_to_end(&mut partial).await,
                    };
                    let expected: String = events[..=10].concat();
                    assert!(
                        String::from_utf8_lossy(&partial).starts_with(&expected),
                        "{codec:?} flushes at event boundaries"
                    );
                }
            }
            wire.extend_from_slice(&c.finish());
            assert_eq!(decode(codec, &wire).await, events.concat().into_bytes(), "{codec:?}");
        }
    }
}
