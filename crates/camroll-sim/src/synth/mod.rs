//! Synthetic media with exactly controlled metadata: valid JPEG, HEIC, PNG,
//! QuickTime/MP4 movies and `.AAE` sidecars, written in-process (no external
//! tools at run time) so tests, the fixture camera roll and `camroll sim
//! generate` can make tens of thousands of files per second.
//!
//! HEVC image data and movie samples come from tiny templates made once by
//! `scripts/make-templates` and embedded with `include_bytes!`; everything
//! that carries metadata (EXIF/TIFF, HEIF item boxes, QuickTime `moov`) is
//! written here, around those bytes.
//!
//! Every writer is deterministic: the same spec gives the same bytes.

mod aae;
mod bmff;
mod exif;
mod heic;
mod jpeg;
mod mov;
mod png;
pub mod roll;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

pub use aae::aae;
pub use exif::exif_tiff;
pub use heic::heic;
pub use jpeg::jpeg;
pub use mov::{mov, mp4, write_video, MovieLead, VideoContainer};
pub use png::png;

/// Errors from the writers that stream into a caller's file.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The destination could not be written.
    #[error("writing synthetic media: {0}")]
    Io(#[from] std::io::Error),
    /// The image encoder failed.
    #[error("encoding synthetic image: {0}")]
    Image(String),
}

/// A still photo (JPEG or HEIC) and the EXIF it carries. Every metadata field
/// is optional; a spec with none of them set gives a file without EXIF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StillSpec {
    /// Varies the picture (and so the file's hash) between items.
    pub seed: u64,
    /// JPEG only (HEIC images come from the 64x48 templates).
    pub width: u32,
    /// Pixel height (JPEG only).
    pub height: u32,
    /// IFD0 Make / Model / Software.
    pub make: Option<String>,
    /// IFD0 Model, e.g. `iPhone 12`.
    pub model: Option<String>,
    /// IFD0 Software, e.g. `17.1.2`.
    pub software: Option<String>,
    /// EXIF DateTimeOriginal (local wall-clock time).
    pub taken: Option<NaiveDateTime>,
    /// EXIF SubSecTimeOriginal (and SubSecTimeDigitized), e.g. `"123"`.
    pub subsec: Option<String>,
    /// EXIF OffsetTimeOriginal / OffsetTimeDigitized / OffsetTime.
    pub offset: Option<FixedOffset>,
    /// EXIF CreateDate (DateTimeDigitized).
    pub digitized: Option<NaiveDateTime>,
    /// IFD0 ModifyDate (DateTime).
    pub modified: Option<NaiveDateTime>,
    /// GPSDateStamp + GPSTimeStamp (UTC).
    pub gps_utc: Option<DateTime<Utc>>,
    /// Apple MakerNote tag 0x11 (ContentIdentifier / MediaGroupUUID): Live Photo pairing.
    pub content_identifier: Option<String>,
    /// EXIF ImageUniqueID.
    pub unique_id: Option<String>,
    /// Total file size wanted (for benchmarks with realistic photo sizes):
    /// filled with seed-derived bytes in APP15 segments (JPEG) or a `free`
    /// box (HEIC), which decoders skip. Exact when at least the natural size
    /// + 16 bytes; smaller targets are ignored.
    pub size_target: Option<u64>,
}

impl StillSpec {
    /// A still with no metadata at all.
    pub fn bare(seed: u64) -> StillSpec {
        StillSpec {
            seed,
            width: 64,
            height: 48,
            make: None,
            model: None,
            software: None,
            taken: None,
            subsec: None,
            offset: None,
            digitized: None,
            modified: None,
            gps_utc: None,
            content_identifier: None,
            unique_id: None,
            size_target: None,
        }
    }

    /// What an iPhone writes: Apple/`model`, the three dates equal to `taken`,
    /// the offset when given, GPS time in UTC when the offset is known, and
    /// SubSecTimeOriginal `format!("{:03}", seed % 1000)` (milliseconds camroll
    /// adds to the capture instant; set `subsec: None` for whole seconds).
    pub fn iphone(
        seed: u64,
        model: &str,
        taken: NaiveDateTime,
        offset: Option<FixedOffset>,
    ) -> StillSpec {
        let gps_utc = offset.and_then(|o| {
            use chrono::TimeZone;
            o.from_local_datetime(&taken)
                .single()
                .map(|d| d.with_timezone(&Utc))
        });
        StillSpec {
            make: Some("Apple".into()),
            model: Some(model.into()),
            software: Some("17.1.2".into()),
            taken: Some(taken),
            subsec: Some(format!("{:03}", seed % 1000)),
            offset,
            digitized: Some(taken),
            modified: Some(taken),
            gps_utc,
            ..StillSpec::bare(seed)
        }
    }

    /// True when the spec asks for any EXIF at all.
    pub fn has_exif(&self) -> bool {
        self.make.is_some()
            || self.model.is_some()
            || self.software.is_some()
            || self.taken.is_some()
            || self.subsec.is_some()
            || self.offset.is_some()
            || self.digitized.is_some()
            || self.modified.is_some()
            || self.gps_utc.is_some()
            || self.content_identifier.is_some()
            || self.unique_id.is_some()
    }
}

/// A movie (QuickTime `.MOV` or `.MP4`) and the metadata it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSpec {
    /// Varies the file's bytes (a small `free` box) between items.
    pub seed: u64,
    /// How the file starts (QuickTime only; MP4 always has `ftyp`).
    pub lead: MovieLead,
    /// `mvhd`/`tkhd`/`mdhd` creation and modification times (stored as UTC since 1904).
    /// `None` leaves them 0, as some tools write.
    pub created_utc: Option<DateTime<Utc>>,
    /// `com.apple.quicktime.creationdate`, e.g. `2023-07-14T18:22:05+0200`.
    pub creation_date: Option<DateTime<FixedOffset>>,
    /// `com.apple.quicktime.make` / `.model` / `.software`.
    pub make: Option<String>,
    /// `com.apple.quicktime.model`.
    pub model: Option<String>,
    /// `com.apple.quicktime.software`.
    pub software: Option<String>,
    /// `com.apple.quicktime.content.identifier` (Live Photo pairing).
    pub content_identifier: Option<String>,
    /// Total file size wanted: a `free` box between `mdat` and `moov` pads the
    /// file (sparse when written to a file). Exact when at least the natural
    /// size + 16 bytes; smaller targets are ignored.
    pub size_target: Option<u64>,
}

impl VideoSpec {
    /// A movie with no metadata (zero header times, no keys).
    pub fn bare(seed: u64) -> VideoSpec {
        VideoSpec {
            seed,
            lead: MovieLead::Ftyp,
            created_utc: None,
            creation_date: None,
            make: None,
            model: None,
            software: None,
            content_identifier: None,
            size_target: None,
        }
    }

    /// What an iPhone camera writes: header times (UTC) and the keys with the local offset.
    pub fn iphone(seed: u64, model: &str, taken: DateTime<FixedOffset>) -> VideoSpec {
        VideoSpec {
            created_utc: Some(taken.with_timezone(&Utc)),
            creation_date: Some(taken),
            make: Some("Apple".into()),
            model: Some(model.into()),
            software: Some("17.1.2".into()),
            ..VideoSpec::bare(seed)
        }
    }
}

/// A PNG (screenshots) and its optional metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngSpec {
    /// Varies the picture (and so the file's hash) between items.
    pub seed: u64,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Written as an `eXIf` chunk (same EXIF writer as the stills) when it has any field.
    pub exif: Option<StillSpec>,
    /// Written as `iTXt` XMP with `photoshop:DateCreated` / `xmp:CreateDate`.
    pub xmp_date: Option<DateTime<FixedOffset>>,
}

impl PngSpec {
    /// A 64x48 PNG without metadata.
    pub fn bare(seed: u64) -> PngSpec {
        PngSpec {
            seed,
            width: 64,
            height: 48,
            exif: None,
            xmp_date: None,
        }
    }
}

/// An Apple Photos adjustments sidecar (`.AAE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaeSpec {
    /// Varies the content (and so the file's hash) between items.
    pub seed: u64,
    /// `adjustmentTimestamp` (an XML plist date, UTC).
    pub timestamp: DateTime<Utc>,
    /// `adjustmentFormatIdentifier`, normally `com.apple.photo`.
    pub format_identifier: String,
    /// `adjustmentFormatVersion`, normally `1.5`.
    pub format_version: String,
}

impl AaeSpec {
    /// A sidecar with Apple's usual format identifier and version.
    pub fn new(seed: u64, timestamp: DateTime<Utc>) -> AaeSpec {
        AaeSpec {
            seed,
            timestamp,
            format_identifier: "com.apple.photo".into(),
            format_version: "1.5".into(),
        }
    }
}

/// A deterministic UUID-shaped identifier (`8-4-4-4-12` uppercase hex, version
/// 4 and variant bits set) for `seed`: ContentIdentifiers for Live Photo pairs.
pub fn uuid_from_seed(seed: u64) -> String {
    let mut m = Mix::new(seed ^ 0xC0DE_1D00_0000_0000);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&m.next().to_be_bytes());
    b[8..].copy_from_slice(&m.next().to_be_bytes());
    uuid_text(b)
}

/// 16 bytes as a version-4 UUID (the version and variant bits set) in Apple's
/// upper-case `8-4-4-4-12` form.
fn uuid_text(b: [u8; 16]) -> String {
    format!(
        "{:X}",
        uuid::Builder::from_random_bytes(b).into_uuid().hyphenated()
    )
}

/// `n` seed-derived bytes: filler that does not compress or dedupe away.
pub(crate) fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut m = Mix::new(seed ^ 0xF111_E400_0000_0000);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&m.next().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Small deterministic PRNG (splitmix64): synthetic content must not depend on
/// a crate's algorithm changing between versions.
#[derive(Debug, Clone)]
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Mix {
        Mix(seed ^ 0x5EED_CA3E_0000_0001)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// RGB pixels of a `w`×`h` picture derived from `seed`: a gradient of two
/// seed colours with a seed-placed block, so pictures differ visibly and in hash.
pub(crate) fn pattern_rgb(seed: u64, w: u32, h: u32) -> Vec<u8> {
    let mut m = Mix::new(seed);
    let a = m.next().to_le_bytes();
    let b = m.next().to_le_bytes();
    let bx = (m.next() % u64::from(w.max(1))) as u32;
    let by = (m.next() % u64::from(h.max(1))) as u32;
    let bs = (w.min(h) / 3).max(1);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let t = (x + y) * 255 / (w + h).max(1);
            for c in 0..3 {
                let v = (u32::from(a[c]) * (255 - t) + u32::from(b[c]) * t) / 255;
                let block = x >= bx && x < bx + bs && y >= by && y < by + bs;
                out.push(if block { 255 - v as u8 } else { v as u8 });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_and_variant_bits_are_set_in_upper_case() {
        // The text camroll wrote before using the uuid crate, for the same bytes.
        assert_eq!(
            super::uuid_text([0xFF; 16]),
            "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF"
        );
        assert_eq!(
            super::uuid_text([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
        assert_eq!(
            super::uuid_text([
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
                0xde, 0xf0
            ]),
            "12345678-9ABC-4EF0-9234-56789ABCDEF0"
        );
    }
}
