//! What a file is and when it was taken: kind sniffing by content, capture
//! times from EXIF/XMP/QuickTime metadata, and grouping of Live Photos,
//! sidecars, edited renders and RAW+JPEG pairs with the still they belong to.

pub mod bmff;
pub mod container;
pub mod date;
pub mod exif_read;
pub mod group;
pub mod inspect;
pub mod kind;
pub mod sidecar;
pub mod timefmt;
pub mod xmp;

pub use date::{read_media_info, CaptureTime, DateOptions, DateSource, MediaInfo, OffsetSource};
pub use group::{group_by_name, refine_by_content_id, Group, Role};
pub use kind::{sniff, Class, Kind, SNIFF_LEN};
