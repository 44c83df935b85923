//! Media kind by content (magic bytes); the extension only breaks ties.

use serde::Serialize;

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_LEN: usize = 64;

/// The container/format of a media file, decided from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Jpeg,
    Heif,
    Png,
    Gif,
    Webp,
    /// TIFF and TIFF-based RAW (DNG, most camera RAW).
    Tiff,
    /// Canon CR3 and other ISO-BMFF RAW.
    Raw,
    QuickTime,
    Mp4,
    /// Apple Photos adjustments sidecar (`.AAE`, an XML plist).
    Aae,
}

/// What role a kind plays in a camera roll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Still,
    Video,
    Sidecar,
}

impl Kind {
    pub fn class(self) -> Class {
        match self {
            Kind::QuickTime | Kind::Mp4 => Class::Video,
            Kind::Aae => Class::Sidecar,
            _ => Class::Still,
        }
    }

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
        let brand = &head[8..12];
        return match brand {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"heim" | b"heis" => {
                Some(Kind::Heif)
            }
            b"crx " => Some(Kind::Raw),
            b"qt  " => Some(Kind::QuickTime),
            _ => Some(if ext.as_deref() == Some("mov") {
                Kind::QuickTime
            } else {
                Kind::Mp4
            }),
        };
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
