//! The synthetic library: every asset, album, person and tag is computed from its index, so a
//! library of a million assets costs no more memory than one of ten. Only writes made through
//! the API (favourites, new albums, tags) are stored.

use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The owner of every demo asset.
pub const OWNER_ID: &str = "1aefa800-060a-47a3-9eb1-044201d5dd56";
const OWNER_NAME: &str = "Demo Admin";
const OWNER_EMAIL: &str = "admin@demo.immich.test";

/// Newest asset's capture time (seconds since the epoch): 2026-10-31T12:00:00Z.
const NEWEST: i64 = 1_793_448_000;
/// The library spans ten years back from `NEWEST`.
const SPAN_SECS: i64 = 10 * 365 * 86_400;
/// When the demo's users and library were made (uploads happened a fixed time after capture).
pub const CREATED_AT: &str = "2026-11-01T09:00:00.000Z";

/// A place assets are taken at: (city, state, country, latitude, longitude).
pub const PLACES: &[(&str, &str, &str, f64, f64)] = &[
    ("Berlin", "Berlin", "Germany", 52.5200, 13.4050),
    ("Paris", "Île-de-France", "France", 48.8566, 2.3522),
    ("Lisbon", "Lisbon", "Portugal", 38.7223, -9.1393),
    ("Kyoto", "Kyoto", "Japan", 35.0116, 135.7681),
    ("New York", "New York", "United States of America", 40.7128, -74.0060),
    ("Cape Town", "Western Cape", "South Africa", -33.9249, 18.4241),
    ("Reykjavik", "Capital Region", "Iceland", 64.1466, -21.9426),
    ("Sydney", "New South Wales", "Australia", -33.8688, 151.2093),
    ("Mexico City", "Mexico City", "Mexico", 19.4326, -99.1332),
    ("Munich", "Bavaria", "Germany", 48.1351, 11.5820),
];

/// Cameras: (make, model, lens).
pub const CAMERAS: &[(&str, &str, Option<&str>)] = &[
    ("Canon", "Canon EOS R5", Some("RF24-105mm F4 L IS USM")),
    ("Apple", "iPhone 15 Pro", None),
    ("FUJIFILM", "X-T5", Some("XF16-55mmF2.8 R LM WR")),
    ("NIKON CORPORATION", "NIKON Z 6_2", Some("NIKKOR Z 24-70mm f/4 S")),
    ("SONY", "ILCE-7M4", Some("FE 24-70mm F2.8 GM II")),
    ("Google", "Pixel 8", None),
];

/// People found in the library.
pub const PEOPLE: &[&str] = &["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Gustav", "Hana"];

/// Albums that exist from the start.
pub const SEEDED_ALBUMS: &[(&str, &str)] = &[
    ("Summer holidays", "Beaches, boats and ice cream"),
    ("Family", "Everyone, every year"),
    ("Best of Kyoto", "Temples and gardens"),
    ("Favourites 2024", ""),
    ("Street photography", "Cities at night"),
    ("Birthdays", ""),
];

/// Tags that exist from the start: (name, full value, parent index).
pub const SEEDED_TAGS: &[(&str, &str, Option<usize>)] = &[
    ("family", "family", None),
    ("trip", "trip", None),
    ("2020", "trip/2020", Some(1)),
    ("nature", "nature", None),
    ("food", "food", None),
];

/// Kinds of entity, mixed into ids so an album id never parses as an asset id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// An asset.
    Asset = 1,
    /// An album.
    Album = 2,
    /// A person.
    Person = 3,
    /// A tag.
    Tag = 4,
    /// A memory.
    Memory = 5,
    /// An API key.
    ApiKey = 6,
    /// A group of duplicate assets.
    Duplicate = 7,
    /// A shared link.
    SharedLink = 8,
    /// A stack of assets.
    Stack = 9,
    /// A comment or like on an album.
    Activity = 10,
    /// One edit of an asset.
    Edit = 11,
}

const INDEX_MASK: u64 = 0x5a5a_5a5a_5a5a;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A stable pseudo-random 64-bit value for an entity.
pub fn hash(kind: Kind, index: u64) -> u64 {
    mix(index ^ ((kind as u64) << 56))
}

/// The v4 UUID of an entity; its last group encodes the index so lookups need no table.
pub fn id(kind: Kind, index: u64) -> String {
    let h = hash(kind, index);
    let g = mix(h);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        8 + (g & 3),
        (g >> 2) & 0xfff,
        (index ^ INDEX_MASK) & 0xffff_ffff_ffff
    )
}

/// The index behind an id of `kind`, if the id is one the library issued.
pub fn index_of(kind: Kind, text: &str) -> Option<u64> {
    let last = text.get(24..)?;
    if text.len() != 36 {
        return None;
    }
    let index = u64::from_str_radix(last, 16).ok()? ^ INDEX_MASK;
    (id(kind, index) == text.to_ascii_lowercase()).then_some(index)
}

/// Is `text` a syntactically valid UUID (any version)?
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SS.000Z`.
pub fn iso(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.000Z")
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Seconds since the epoch → an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
pub fn http_date(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    let weekday = WEEKDAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    format!("{weekday}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} GMT", MONTHS[m as usize - 1])
}

/// An HTTP date (the preferred form) → seconds since the epoch.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace().skip(1);
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    Some(epoch(year, month, day) + h * 3600 + m * 60 + s)
}

pub use crate::calendar::civil;

/// (year, month, day) → seconds since the epoch at midnight UTC.
pub fn epoch(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400
}

/// Parses an ISO-8601 date or date-time (UTC or with offset) into seconds since the epoch.
pub fn parse_iso(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = text.get(0..4)?.parse().ok()?;
    let m: u32 = text.get(5..7)?.parse().ok()?;
    let d: u32 = text.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = epoch(y, m, d);
    if b.len() >= 19 && (b[10] == b'T' || b[10] == b' ') {
        let hh: i64 = text.get(11..13)?.parse().ok()?;
        let mm: i64 = text.get(14..16)?.parse().ok()?;
        let ss: i64 = text.get(17..19)?.parse().ok()?;
        secs += hh * 3600 + mm * 60 + ss;
        let tail = text[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
        if let Some(sign) = tail.chars().next().filter(|c| *c == '+' || *c == '-') {
            let oh: i64 = tail.get(1..3)?.parse().ok()?;
            let om: i64 = tail.get(4..6).and_then(|s| s.parse().ok()).unwrap_or(0);
            let offset = oh * 3600 + om * 60;
            secs += if sign == '+' { -offset } else { offset };
        }
    }
    Some(secs)
}

/// Changes made to an asset through `PUT /api/assets`.
#[derive(Clone, Debug, Default)]
pub struct AssetPatch {
    /// New favourite flag.
    pub is_favorite: Option<bool>,
    /// New rating (0 clears it).
    pub rating: Option<i64>,
    /// New description.
    pub description: Option<String>,
    /// New visibility.
    pub visibility: Option<String>,
    /// New capture time.
    pub taken: Option<i64>,
    /// New position.
    pub position: Option<(f64, f64)>,
    /// When it was moved to the trash (seconds since the epoch); `None` when it is not there.
    pub trashed: Option<i64>,
    /// Deleted for good (the trash emptied, or deleted with `force`): gone from every answer.
    pub purged: bool,
    /// Its duplicate group was resolved (or dismissed).
    pub resolved: bool,
}

/// An album made or changed through the API.
#[derive(Clone, Debug)]
pub struct AlbumState {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Seeded albums take membership from a predicate; created ones only from `added`.
    pub seeded: bool,
    /// Assets added through the API.
    pub added: BTreeSet<u64>,
    /// Assets removed through the API.
    pub removed: BTreeSet<u64>,
    /// Creation time.
    pub created_at: String,
}

/// A tag made through the API, or a seeded one.
#[derive(Clone, Debug)]
pub struct TagState {
    /// Last path component.
    pub name: String,
    /// Full path, e.g. `trip/2020`.
    pub value: String,
    /// Parent tag index.
    pub parent: Option<u64>,
    /// Seeded tags take membership from a predicate.
    pub seeded: bool,
    /// Assets tagged through the API.
    pub added: BTreeSet<u64>,
}

/// Everything written through the API.
#[derive(Debug, Default)]
pub struct Mutations {
    /// Per-asset patches.
    pub assets: HashMap<u64, AssetPatch>,
    /// Albums by index.
    pub albums: Vec<AlbumState>,
    /// Tags by index.
    pub tags: Vec<TagState>,
    /// Shared links by index (removed ones stay, marked).
    pub links: Vec<SharedLinkState>,
    /// Stacks by index: their primary asset first, then the others (`None` once merged away).
    pub stacks: Vec<Option<Vec<u64>>>,
    /// Comments and likes on albums, oldest first.
    pub activities: Vec<ActivityState>,
    /// Each edited asset's edits (`AssetEditActionItemResponseDto`s, in order).
    pub edits: HashMap<u64, Vec<Value>>,
}

/// A comment or like on an album, or on a photo in it.
#[derive(Clone, Debug)]
pub struct ActivityState {
    /// The album.
    pub album: usize,
    /// The photo, when it is about one.
    pub asset: Option<u64>,
    /// Who (an index into the demo's users).
    pub user: usize,
    /// The comment; `None` for a like.
    pub comment: Option<String>,
    /// When.
    pub created_at: String,
}

/// A shared link made through the API.
#[derive(Clone, Debug)]
pub struct SharedLinkState {
    /// The album it shares, or `None` for chosen assets.
    pub album: Option<usize>,
    /// The assets it shares (an individual link).
    pub assets: Vec<u64>,
    /// Description.
    pub description: Option<String>,
    /// Expiry (ISO 8601), if any.
    pub expires_at: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Downloads allowed.
    pub allow_download: bool,
    /// Metadata shown.
    pub show_metadata: bool,
    /// The key in its URL (`/share/<key>`).
    pub key: String,
    /// Creation time.
    pub created_at: String,
    /// Removed.
    pub deleted: bool,
}

/// The URL key of shared link `index`: 48 bytes in base64url, as Immich makes them.
pub fn link_key(index: u64) -> String {
    let bytes: Vec<u8> = (0..6).flat_map(|n| mix(hash(Kind::SharedLink, index) ^ n).to_le_bytes()).collect();
    base64(&bytes).replace('+', "-").replace('/', "_").trim_end_matches('=').to_string()
}

impl Mutations {
    /// Whether any asset is trashed or deleted: the library's views can no longer read assets
    /// straight by index.
    pub fn any_removed(&self) -> bool {
        self.assets.values().any(|p| p.trashed.is_some() || p.purged)
    }
}

/// The synthetic library.
#[derive(Debug)]
pub struct Library {
    /// Number of assets.
    pub len: u64,
    /// Writes made through the API.
    pub state: Mutex<Mutations>,
    /// Recently rendered unfiltered search pages, while no asset is patched: many streams
    /// walking the library together ask for the same pages, and rendering one costs the demo
    /// far more than serving it (see [`PageCache`]).
    pub pages: PageCache,
}

/// What identifies a rendered unfiltered search page.
pub type PageKey = (u64, u64, bool, bool, bool);

/// A small most-recently-used cache of rendered search pages.
#[derive(Debug, Default)]
pub struct PageCache(Mutex<std::collections::VecDeque<(PageKey, bytes::Bytes)>>);

impl PageCache {
    const CAPACITY: usize = 16;

    /// The page rendered for `key`, if still cached.
    pub fn get(&self, key: &PageKey) -> Option<bytes::Bytes> {
        let pages = self.0.lock();
        pages.iter().find(|(k, _)| k == key).map(|(_, page)| page.clone())
    }

    /// Keeps `page` for `key`, dropping the oldest page beyond the capacity.
    pub fn put(&self, key: PageKey, page: bytes::Bytes) {
        let mut pages = self.0.lock();
        pages.retain(|(k, _)| *k != key);
        pages.push_back((key, page));
        if pages.len() > Self::CAPACITY {
            pages.pop_front();
        }
    }

    /// Forgets every page (an asset changed).
    pub fn clear(&self) {
        self.0.lock().clear();
    }
}

/// One asset's properties, computed from its index and patches.
#[derive(Clone, Debug)]
pub struct Asset {
    /// Index in the library (0 is the newest).
    pub index: u64,
    /// Its id.
    pub id: String,
    /// Capture time, seconds since the epoch.
    pub taken: i64,
    /// Video or image.
    pub is_video: bool,
    /// Index into [`CAMERAS`].
    pub camera: usize,
    /// Index into [`PLACES`], if geotagged.
    pub place: Option<usize>,
    /// Position, if geotagged.
    pub position: Option<(f64, f64)>,
    /// Favourite flag.
    pub is_favorite: bool,
    /// Rating 1–5, if rated.
    pub rating: Option<i64>,
    /// Description.
    pub description: String,
    /// `timeline`, `archive`, `hidden` or `locked`.
    pub visibility: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Size of the original in bytes.
    pub file_size: u64,
    /// Indices into [`PEOPLE`].
    pub people: Vec<usize>,
    /// When it was moved to the trash, if it is there.
    pub trashed: Option<i64>,
    /// Deleted for good.
    pub purged: bool,
    /// Still in an unresolved duplicate group (see [`duplicate_group`]).
    pub duplicate: bool,
}

impl Asset {
    /// In the library's views (the timeline, search, the map): neither trashed nor deleted.
    pub fn present(&self) -> bool {
        self.trashed.is_none() && !self.purged
    }
}

impl Library {
    /// An empty library: no photos, albums, tags or people (another user's, who has none yet).
    pub fn empty() -> Library {
        Library { len: 0, state: Mutex::new(Mutations::default()), pages: PageCache::default() }
    }

    /// How many of [`PEOPLE`] this library has recognised (all, once it has photos).
    pub fn people(&self) -> usize {
        if self.len == 0 { 0 } else { PEOPLE.len() }
    }

    /// A library of `len` synthetic assets with the seeded albums and tags.
    pub fn new(len: u64) -> Library {
        let albums = SEEDED_ALBUMS
            .iter()
            .map(|(name, description)| AlbumState {
                name: name.to_string(),
                description: description.to_string(),
                seeded: true,
                added: BTreeSet::new(),
                removed: BTreeSet::new(),
                created_at: CREATED_AT.to_string(),
            })
            .collect();
        let tags = SEEDED_TAGS
            .iter()
            .map(|(name, value, parent)| TagState {
                name: name.to_string(),
                value: value.to_string(),
                parent: parent.map(|p| p as u64),
                seeded: true,
                added: BTreeSet::new(),
            })
            .collect();
        Library {
            len,
            state: Mutex::new(Mutations {
                assets: HashMap::new(),
                albums,
                tags,
                links: Vec::new(),
                stacks: Vec::new(),
                activities: Vec::new(),
                edits: HashMap::new(),
            }),
            pages: PageCache::default(),
        }
    }

    /// The capture time of asset `index` before any patch: evenly spread, newest first.
    pub fn base_time(&self, index: u64) -> i64 {
        // Strictly decreasing in the index (the jitter stays below one step), which lets time
        // ranges be found by binary search.
        let step = SPAN_SECS as f64 / self.len.max(1) as f64;
        let jitter = (hash(Kind::Asset, index) % 1000) as f64 / 1000.0 * 0.9 * step;
        NEWEST - (index as f64 * step + jitter) as i64
    }

    /// The index range of assets captured in `[from, to)` (before patches), using the ordering.
    pub fn index_range(&self, from: i64, to: i64) -> std::ops::Range<u64> {
        let first = self.first_index_at_or_before(to - 1);
        let end = self.first_index_at_or_before(from - 1);
        first..end
    }

    fn first_index_at_or_before(&self, t: i64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.base_time(mid) <= t { hi = mid } else { lo = mid + 1 }
        }
        lo
    }

    /// Asset `index` with patches applied, or `None` past the end.
    pub fn asset(&self, index: u64, patches: &HashMap<u64, AssetPatch>) -> Option<Asset> {
        if index >= self.len {
            return None;
        }
        let h = hash(Kind::Asset, index);
        let place = ((h >> 8) % 100 >= 15).then_some(((h >> 16) % PLACES.len() as u64) as usize);
        let position = place.map(|p| {
            let (_, _, _, lat, lon) = PLACES[p];
            let jitter = |bits: u64| ((bits % 2000) as f64 - 1000.0) / 20_000.0;
            (lat + jitter(h >> 20), lon + jitter(h >> 32))
        });
        let landscape = !(h >> 40).is_multiple_of(4);
        let (width, height) = if landscape { (4000, 3000) } else { (3000, 4000) };
        let people = (0..PEOPLE.len()).filter(|p| (h >> (p * 3 + 5)).is_multiple_of(7)).collect();
        let mut asset = Asset {
            index,
            id: id(Kind::Asset, index),
            taken: self.base_time(index),
            is_video: index % 25 == 7,
            camera: ((h >> 24) % CAMERAS.len() as u64) as usize,
            place,
            position,
            is_favorite: (h >> 44).is_multiple_of(11),
            rating: Some(((h >> 48) % 6) as i64).filter(|r| *r > 0),
            description: String::new(),
            visibility: if (h >> 52).is_multiple_of(97) { "archive".into() } else { "timeline".into() },
            width,
            height,
            file_size: 40_000 + (h >> 12) % 160_000,
            people,
            trashed: None,
            purged: false,
            duplicate: duplicate_group(index).is_some(),
        };
        if let Some(patch) = patches.get(&index) {
            if let Some(v) = patch.is_favorite {
                asset.is_favorite = v;
            }
            if let Some(r) = patch.rating {
                asset.rating = (r > 0).then_some(r);
            }
            if let Some(d) = &patch.description {
                asset.description = d.clone();
            }
            if let Some(v) = &patch.visibility {
                asset.visibility = v.clone();
            }
            if let Some(t) = patch.taken {
                asset.taken = t;
            }
            if let Some(p) = patch.position {
                asset.position = Some(p);
            }
            asset.trashed = patch.trashed;
            asset.purged = patch.purged;
            asset.duplicate &= !patch.resolved;
        }
        Some(asset)
    }

    /// Is asset `index` in album `album`?
    pub fn in_album(&self, album: &AlbumState, album_index: usize, index: u64) -> bool {
        if album.removed.contains(&index) {
            return false;
        }
        album.added.contains(&index)
            || (album.seeded && (hash(Kind::Asset, index) >> (album_index * 2 + 3)).is_multiple_of(9))
    }

    /// Does asset `index` carry tag `tag`?
    pub fn has_tag(&self, tag: &TagState, tag_index: usize, index: u64) -> bool {
        tag.added.contains(&index)
            || (tag.seeded && (hash(Kind::Asset, index) >> (tag_index * 2 + 1)).is_multiple_of(13))
    }
}

/// Assets `DUPLICATE_EVERY * g + DUPLICATE_AT` and the one after it are near-duplicates (a burst
/// shot twice): duplicate group `g`.
pub const DUPLICATE_EVERY: u64 = 50;
/// See [`DUPLICATE_EVERY`].
pub const DUPLICATE_AT: u64 = 10;

/// The duplicate group asset `index` was found in, if any.
pub fn duplicate_group(index: u64) -> Option<u64> {
    let offset = index % DUPLICATE_EVERY;
    (offset == DUPLICATE_AT || offset == DUPLICATE_AT + 1).then_some(index / DUPLICATE_EVERY)
}

/// Text the demo's "OCR" finds in some photos: signs, shop fronts, a cake.
const SIGNS: &[&str] = &["EXIT", "Café Central", "Platform 3", "No Parking", "Happy Birthday", "Museum", "Bus Stop"];

impl Asset {
    /// The lines of text recognised in the photo (Immich's OCR), with their boxes as fractions
    /// of the image: about one photo in four shows a sign, and one in eight geotagged ones a
    /// "Welcome to" its city. Videos have none.
    pub fn ocr(&self) -> Vec<(String, [f64; 4])> {
        let h = hash(Kind::Asset, self.index);
        let mut lines = Vec::new();
        if self.is_video {
            return lines;
        }
        if (h >> 56).is_multiple_of(4) {
            lines.push((SIGNS[((h >> 8) % SIGNS.len() as u64) as usize].to_string(), [0.1, 0.2, 0.45, 0.3]));
        }
        if let Some(p) = self.place.filter(|_| (h >> 59).is_multiple_of(8)) {
            lines.push((format!("Welcome to {}", PLACES[p].0), [0.3, 0.6, 0.9, 0.7]));
        }
        lines
    }

    /// The file name of the original.
    pub fn file_name(&self) -> String {
        if self.is_video { format!("VID_{:06}.mp4", self.index) } else { format!("IMG_{:06}.jpg", self.index) }
    }

    /// The original's MIME type.
    pub fn mime(&self) -> &'static str {
        if self.is_video { "video/mp4" } else { "image/jpeg" }
    }

    /// `AssetResponseDto`, as Immich v3 writes it.
    pub fn to_json(&self, with_exif: bool, with_people: bool, with_tags: Option<Vec<Value>>) -> Value {
        let h = hash(Kind::Asset, self.index);
        let checksum_bytes: Vec<u8> = (0..20).map(|i| (mix(h ^ i) & 0xff) as u8).collect();
        let taken = iso(self.taken);
        let mut v = json!({
            "id": self.id,
            "createdAt": CREATED_AT,
            "ownerId": OWNER_ID,
            "libraryId": null,
            "type": if self.is_video { "VIDEO" } else { "IMAGE" },
            "originalPath": format!("/data/upload/{OWNER_ID}/{:02x}/{:02x}/{}", h & 0xff, (h >> 8) & 0xff, self.file_name()),
            "originalFileName": self.file_name(),
            "originalMimeType": self.mime(),
            "thumbhash": "INkGFZZXV2d/dnaDiBiYhVd/hArI",
            "fileCreatedAt": taken,
            "fileModifiedAt": taken,
            "localDateTime": taken,
            "updatedAt": CREATED_AT,
            "isFavorite": self.is_favorite,
            "isArchived": self.visibility == "archive",
            "isTrashed": self.trashed.is_some(),
            "visibility": self.visibility,
            "duration": if self.is_video { Value::from(5_000 + (h % 55_000)) } else { Value::Null },
            "livePhotoVideoId": null,
            "people": if with_people { self.people.iter().map(|p| person_json(*p)).collect() } else { Vec::new() },
            "checksum": base64(&checksum_bytes),
            "isOffline": false,
            "hasMetadata": true,
            "duplicateId": duplicate_group(self.index).filter(|_| self.duplicate).map(|g| id(Kind::Duplicate, g)),
            "resized": true,
            "width": self.width,
            "height": self.height,
            "isEdited": false,
        });
        if with_exif {
            v["exifInfo"] = self.exif_json();
        }
        if let Some(tags) = with_tags {
            v["tags"] = Value::Array(tags);
        }
        v
    }

    /// `ExifResponseDto`.
    pub fn exif_json(&self) -> Value {
        let (make, model, lens) = CAMERAS[self.camera];
        let place = self.place.map(|p| PLACES[p]);
        let taken = iso(self.taken).replace(".000Z", "+00:00");
        json!({
            "make": make,
            "model": model,
            "exifImageWidth": self.width,
            "exifImageHeight": self.height,
            "fileSizeInByte": self.file_size,
            "orientation": null,
            "dateTimeOriginal": taken,
            "modifyDate": taken,
            "timeZone": "UTC",
            "lensModel": lens,
            "fNumber": 2.8,
            "focalLength": 35.0,
            "iso": 200,
            "exposureTime": "1/250",
            "latitude": self.position.map(|p| p.0),
            "longitude": self.position.map(|p| p.1),
            "city": place.map(|p| p.0),
            "state": place.map(|p| p.1),
            "country": place.map(|p| p.2),
            "description": self.description,
            "projectionType": null,
            "rating": self.rating,
        })
    }
}

/// `PersonResponseDto` for person `p`.
pub fn person_json(p: usize) -> Value {
    let id = id(Kind::Person, p as u64);
    json!({
        "id": id,
        "name": PEOPLE[p],
        "birthDate": null,
        "thumbnailPath": format!("/data/thumbs/{OWNER_ID}/{id}.jpeg"),
        "isHidden": false,
        "isFavorite": p == 0,
        "updatedAt": CREATED_AT,
    })
}

/// `UserResponseDto` of the demo owner.
pub fn owner_json() -> Value {
    json!({
        "id": OWNER_ID,
        "email": OWNER_EMAIL,
        "name": OWNER_NAME,
        "profileImagePath": "",
        "avatarColor": "orange",
        "profileChangedAt": CREATED_AT,
    })
}

/// `UserAdminResponseDto` of the demo owner.
pub fn owner_admin_json(usage: u64) -> Value {
    let mut v = owner_json();
    let extra = json!({
        "storageLabel": "admin",
        "shouldChangePassword": false,
        "isAdmin": true,
        "createdAt": CREATED_AT,
        "deletedAt": null,
        "updatedAt": CREATED_AT,
        "oauthId": "",
        "quotaSizeInBytes": null,
        "quotaUsageInBytes": usage,
        "status": "active",
        "license": null,
    });
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    v
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v4_and_invertible() {
        for i in [0u64, 1, 9_999, 999_999] {
            let text = id(Kind::Asset, i);
            assert!(is_uuid(&text));
            assert_eq!(&text[14..15], "4");
            assert!("89ab".contains(&text[19..20]));
            assert_eq!(index_of(Kind::Asset, &text), Some(i));
            assert_eq!(index_of(Kind::Album, &text), None);
        }
        assert_eq!(index_of(Kind::Asset, "00000000-0000-4000-8000-000000000000"), None);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(NEWEST), "2026-10-31T12:00:00.000Z");
        assert_eq!(parse_iso("2026-10-31T12:00:00.000Z"), Some(NEWEST));
        assert_eq!(parse_iso("2026-10-31T14:00:00+02:00"), Some(NEWEST));
        assert_eq!(parse_iso("2024-02-29"), Some(epoch(2024, 2, 29)));
        assert_eq!(parse_iso("nope"), None);
        // RFC 9110's example date.
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date(&http_date(NEWEST)), Some(NEWEST));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn time_ranges_match_a_scan() {
        let lib = Library::new(5_000);
        let (from, to) = (epoch(2020, 3, 1), epoch(2020, 4, 1));
        let range = lib.index_range(from, to);
        let scanned: Vec<u64> = (0..lib.len).filter(|i| (from..to).contains(&lib.base_time(*i))).collect();
        assert_eq!(range.collect::<Vec<_>>(), scanned);
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }
}
