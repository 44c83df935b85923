//! What a file is and when it was taken: kind sniffing by content, capture
//! times from EXIF/QuickTime metadata, and grouping of Live Photos, sidecars
//! and edited renders with the still they belong to.

pub mod date;
pub mod group;
pub mod inspect;
pub mod kind;

pub use date::{read_media_info, CaptureTime, DateOptions, DateSource, MediaInfo, OffsetSource};
pub use group::{group_by_name, Group, Role};
pub use kind::{sniff, Class, Kind, SNIFF_LEN};
