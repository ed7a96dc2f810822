//! Generated media: real WebP thumbnails, JPEG previews and originals, and ZIP archives written
//! entry by entry.

use super::library::{Asset, Kind, hash};
use bytes::{BufMut, Bytes, BytesMut};

fn pixels(asset: &Asset, width: u32, height: u32) -> Vec<u8> {
    let h = hash(Kind::Asset, asset.index);
    let (r0, g0, b0) = ((h & 0xff) as u32, ((h >> 8) & 0xff) as u32, ((h >> 16) & 0xff) as u32);
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let fx = x * 255 / width.max(1);
            let fy = y * 255 / height.max(1);
            data.push(((r0 + fx) / 2) as u8);
            data.push(((g0 + fy) / 2) as u8);
            data.push(((b0 + 255 - fx) / 2) as u8);
        }
    }
    data
}

fn fit(asset: &Asset, long_edge: u32) -> (u32, u32) {
    if asset.width >= asset.height {
        (long_edge, long_edge * asset.height / asset.width)
    } else {
        (long_edge * asset.width / asset.height, long_edge)
    }
}

/// The `thumbnail` size: a small lossless WebP, as Immich serves (`image/webp`).
pub fn thumbnail_webp(asset: &Asset) -> Vec<u8> {
    let (w, h) = fit(asset, 64);
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&pixels(asset, w, h), w, h, image_webp::ColorType::Rgb8)
        .expect("encoding to memory cannot fail");
    out
}

/// A JPEG whose long edge is `long_edge` pixels (the `preview` size, and the start of originals).
pub fn jpeg(asset: &Asset, long_edge: u32) -> Vec<u8> {
    let (w, h) = fit(asset, long_edge);
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels(asset, w, h), w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .expect("encoding to memory cannot fail");
    out
}

/// The original file: a valid JPEG padded after its end marker to the asset's `fileSizeInByte`
/// (decoders ignore trailing bytes), so sizes are known without encoding anything.
pub fn original(asset: &Asset) -> Vec<u8> {
    let mut bytes = jpeg(asset, 320);
    let target = asset.file_size as usize;
    if bytes.len() < target {
        bytes.resize(target, 0);
    }
    bytes
}

/// Writes a ZIP archive of stored (uncompressed) entries one at a time.
#[derive(Default)]
pub struct ZipWriter {
    offset: u64,
    central: BytesMut,
    entries: u16,
}

impl ZipWriter {
    /// The local header and data of one entry.
    pub fn entry(&mut self, name: &str, data: &[u8]) -> Bytes {
        let crc = crc32fast::hash(data);
        let size = data.len() as u32;
        let mut out = BytesMut::with_capacity(30 + name.len() + data.len());
        out.put_u32_le(0x0403_4b50);
        out.put_u16_le(20); // version needed
        out.put_u16_le(0x0800); // UTF-8 names
        out.put_u16_le(0); // stored
        out.put_u32_le(0); // time and date
        out.put_u32_le(crc);
        out.put_u32_le(size);
        out.put_u32_le(size);
        out.put_u16_le(name.len() as u16);
        out.put_u16_le(0);
        out.put_slice(name.as_bytes());
        out.put_slice(data);

        let c = &mut self.central;
        c.put_u32_le(0x0201_4b50);
        c.put_u16_le(20);
        c.put_u16_le(20);
        c.put_u16_le(0x0800);
        c.put_u16_le(0);
        c.put_u32_le(0);
        c.put_u32_le(crc);
        c.put_u32_le(size);
        c.put_u32_le(size);
        c.put_u16_le(name.len() as u16);
        c.put_u16_le(0);
        c.put_u16_le(0);
        c.put_u16_le(0);
        c.put_u16_le(0);
        c.put_u32_le(0);
        c.put_u32_le(self.offset as u32);
        c.put_slice(name.as_bytes());

        self.offset += out.len() as u64;
        self.entries += 1;
        out.freeze()
    }

    /// The central directory and end record.
    pub fn finish(self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.central.len() + 22);
        let central_len = self.central.len() as u32;
        out.put_slice(&self.central);
        out.put_u32_le(0x0605_4b50);
        out.put_u16_le(0);
        out.put_u16_le(0);
        out.put_u16_le(self.entries);
        out.put_u16_le(self.entries);
        out.put_u32_le(central_len);
        out.put_u32_le(self.offset as u32);
        out.put_u16_le(0);
        out.freeze()
    }
}
