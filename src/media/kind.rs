//! Media kind by content (magic bytes); the extension only breaks ties.

use serde::Serialize;

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_LEN: usize = 64;

/// The container/format of a media file, decided from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// HEIF/HEIC/AVIF stills (ISO-BMFF with an image brand).
    Heif,
    /// PNG.
    Png,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
    /// TIFF and TIFF-based RAW (DNG, most camera RAW).
    Tiff,
    /// Canon CR3 and other ISO-BMFF RAW.
    Raw,
    /// QuickTime movie (`.MOV`, `qt  ` brand).
    QuickTime,
    /// MPEG-4 movie (`.MP4`, `.M4V`, other ISO-BMFF video brands).
    Mp4,
    /// Apple Photos adjustments sidecar (`.AAE`, an XML plist).
    Aae,
}

/// What role a kind plays in a camera roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A photo: filed by its own capture time.
    Still,
    /// A movie.
    Video,
    /// A metadata file that belongs to a photo (`.AAE`).
    Sidecar,
}

impl Kind {
    /// Whether this kind is a still, a video or a sidecar.
    pub fn class(self) -> Class {
        match self {
            Kind::QuickTime | Kind::Mp4 => Class::Video,
            Kind::Aae => Class::Sidecar,
            _ => Class::Still,
        }
    }

    /// The lower-case name the catalog, `inspect` and `--json` use (`jpeg`, `heif`, `quicktime`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Heif => "heif",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Tiff => "tiff",
            Kind::Raw => "raw",
            Kind::QuickTime => "quicktime",
            Kind::Mp4 => "mp4",
            Kind::Aae => "aae",
        }
    }
}

/// The kind a photo or video extension stands for (`jpg`, `HEIC`, `mov`…),
/// for a file whose content camroll cannot recognise: it is archived as is
/// (never left behind), recorded as the kind its name claims.
pub fn kind_by_extension(ext: &str) -> Option<Kind> {
    Some(match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Kind::Jpeg,
        "heic" | "heif" | "hif" | "avif" => Kind::Heif,
        "png" => Kind::Png,
        "gif" => Kind::Gif,
        "webp" => Kind::Webp,
        "tif" | "tiff" | "dng" | "cr2" | "nef" | "arw" | "raf" | "orf" | "rw2" => Kind::Tiff,
        "cr3" => Kind::Raw,
        "mov" => Kind::QuickTime,
        "mp4" | "m4v" | "3gp" => Kind::Mp4,
        _ => return None,
    })
}

/// Decides the kind from the first bytes of a file (at least [`SNIFF_LEN`]
/// when the file is that long) and its extension. `None` means "not media".
pub fn sniff(head: &[u8], ext: Option<&str>) -> Option<Kind> {
    let ext = ext.map(|e| e.to_ascii_lowercase());
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Kind::Png);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(Kind::Gif);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(Kind::Webp);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some(Kind::Tiff);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        // The major brand decides; an unknown major brand is resolved by the
        // compatible brands that fit in `head`. Unknown brands are not guessed.
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = size.clamp(12, head.len());
        let compatible = head.get(16..end).unwrap_or(&[]).chunks_exact(4);
        let kind = std::iter::once(&head[8..12])
            .chain(compatible)
            .find_map(brand_kind)?;
        return Some(match (kind, ext.as_deref()) {
            (Kind::Mp4, Some("mov")) => Kind::QuickTime,
            (k, _) => k,
        });
    }
    // QuickTime movies without `ftyp` (Live Photo movies pulled over AFC can start so).
    if head.len() >= 8 && matches!(&head[4..8], b"wide" | b"mdat" | b"moov" | b"free" | b"skip") {
        return Some(Kind::QuickTime);
    }
    if ext.as_deref() == Some("aae") && looks_like_plist(head) {
        return Some(Kind::Aae);
    }
    None
}

/// The kind an ISO-BMFF brand stands for.
fn brand_kind(brand: &[u8]) -> Option<Kind> {
    Some(match brand {
        b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" | b"avif"
        | b"avis" => Kind::Heif,
        b"crx " => Kind::Raw,
        b"qt  " => Kind::QuickTime,
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"avc1"
        | b"3gp4" | b"3gp5" | b"3gp6" | b"3gp7" | b"3g2a" | b"M4V " | b"M4VH" | b"M4VP"
        | b"XAVC" | b"MSNV" | b"mmp4" => Kind::Mp4,
        _ => return None,
    })
}

fn looks_like_plist(head: &[u8]) -> bool {
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF)
        .map(|i| &head[i..])
        .unwrap_or(&[]);
    trimmed.starts_with(b"<?xml")
        || trimmed.starts_with(b"<plist")
        || trimmed.starts_with(b"bplist")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_named_heic_is_a_jpeg() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE1, 0, 0], Some("HEIC")),
            Some(Kind::Jpeg)
        );
    }

    #[test]
    fn heif_brands_are_heif_and_qt_is_quicktime() {
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0", None), Some(Kind::Heif));
        assert_eq!(
            sniff(b"\0\0\0\x14ftypqt  \0\0\0\0", None),
            Some(Kind::QuickTime)
        );
        assert_eq!(
            sniff(b"\0\0\0\x08wide\0\0\0\0mdat", Some("MOV")),
            Some(Kind::QuickTime)
        );
    }

    #[test]
    fn mp4_brands_are_mp4_and_the_extension_only_breaks_ties() {
        for brand in [b"isom", b"mp41", b"mp42", b"avc1", b"3gp4", b"XAVC"] {
            let mut h = b"\0\0\0\x14ftyp".to_vec();
            h.extend_from_slice(brand);
            h.extend_from_slice(b"\0\0\0\0");
            assert_eq!(sniff(&h, Some("mp4")), Some(Kind::Mp4), "{brand:?}");
        }
        assert_eq!(
            sniff(b"\0\0\0\x14ftypisom\0\0\0\0", Some("MOV")),
            Some(Kind::QuickTime)
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypcrx \0\0\0\x01crx isom", Some("CR3")),
            Some(Kind::Raw)
        );
    }

    #[test]
    fn an_unknown_major_brand_is_resolved_by_compatible_brands_or_not_at_all() {
        assert_eq!(
            sniff(b"\0\0\0\x18ftypzzzz\0\0\0\0mif1heic", Some("hif")),
            Some(Kind::Heif)
        );
        assert_eq!(sniff(b"\0\0\0\x14ftypzzzz\0\0\0\0yyyy", Some("mp4")), None);
    }

    #[test]
    fn quicktime_without_ftyp_is_a_video() {
        assert_eq!(
            sniff(b"\0\0\0\x08wide\0\0\0\0mdat", None),
            Some(Kind::QuickTime)
        );
        assert_eq!(
            sniff(b"\0\0\x10\0mdat....", Some("MOV")),
            Some(Kind::QuickTime)
        );
        assert_eq!(
            sniff(b"\0\0\x10\0moov\0\0\0\x6cmvhd", None),
            Some(Kind::QuickTime)
        );
    }

    #[test]
    fn every_still_container_is_recognised() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0", None), Some(Kind::Png));
        assert_eq!(sniff(b"GIF89a\x01\0", None), Some(Kind::Gif));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8X", None), Some(Kind::Webp));
        assert_eq!(sniff(b"II*\0\x08\0\0\0", Some("DNG")), Some(Kind::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08", None), Some(Kind::Tiff));
        assert_eq!(sniff(b"bplist00\xd1\x01", Some("aae")), Some(Kind::Aae));
    }

    #[test]
    fn unknown_content_is_not_media_whatever_the_extension() {
        assert_eq!(sniff(b"hello world", Some("jpg")), None);
        assert_eq!(sniff(b"", Some("mov")), None);
    }

    #[test]
    fn aae_needs_plist_content() {
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><plist>", Some("AAE")),
            Some(Kind::Aae)
        );
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><plist>", Some("txt")), None);
    }
}
