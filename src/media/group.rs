//! Groups: a still with its Live Photo movie, `.AAE` sidecars, edited renders
//! (`IMG_E####`) and RAW/JPEG twin are filed together, in the folder of the
//! still (the group's primary).

use std::collections::BTreeMap;

use serde::Serialize;

/// The part a file plays in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The still (or a lone video) that decides the group's folder.
    Primary,
    LivePhotoMovie,
    Sidecar,
    EditedRender,
    /// Another still with the same stem (RAW + JPEG/HEIC).
    Companion,
}

/// One group: indices into the caller's list; `members[0]` is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<(usize, Role)>,
}

impl Group {
    pub fn primary(&self) -> usize {
        self.members[0].0
    }
}

const STILL_EXT: &[&str] = &[
    "heic", "heif", "hif", "jpg", "jpeg", "png", "gif", "webp", "tif", "tiff", "dng", "cr2", "cr3",
    "nef", "arw", "raf", "orf", "rw2",
];
const RAW_EXT: &[&str] = &["dng", "cr2", "cr3", "nef", "arw", "raf", "orf", "rw2"];
const VIDEO_EXT: &[&str] = &["mov", "mp4", "m4v", "3gp"];

fn split_name(name: &str) -> (&str, String) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], name[i + 1..].to_ascii_lowercase()),
        _ => (name, String::new()),
    }
}

/// `IMG_E0001` / `IMG_O0001` → (`IMG_0001`, Some('E'|'O')).
fn base_stem(stem: &str) -> (String, Option<char>) {
    let upper = stem.to_uppercase();
    if let Some(rest) = upper.strip_prefix("IMG_") {
        let mut chars = rest.chars();
        if let Some(c @ ('E' | 'O')) = chars.next() {
            let digits = chars.as_str();
            if !digits.is_empty() && digits.chars().all(|d| d.is_ascii_digit()) {
                return (format!("IMG_{digits}"), Some(c));
            }
        }
    }
    (upper, None)
}

/// Groups files by name within their source folder. `items` are
/// `(source folder, file name)`; every index appears in exactly one group.
pub fn group_by_name(items: &[(&str, &str)]) -> Vec<Group> {
    let mut by_key: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, (dir, name)) in items.iter().enumerate() {
        let (stem, _) = split_name(name);
        let (base, _) = base_stem(stem);
        by_key.entry((dir.to_string(), base)).or_default().push(i);
    }
    let mut groups = Vec::new();
    for (_, idxs) in by_key {
        let info: Vec<(usize, String, Option<char>)> = idxs
            .iter()
            .map(|&i| {
                let (stem, ext) = split_name(items[i].1);
                (i, ext, base_stem(stem).1)
            })
            .collect();
        let rank = |ext: &str| -> Option<u8> {
            if STILL_EXT.contains(&ext) {
                Some(if RAW_EXT.contains(&ext) { 1 } else { 0 })
            } else if VIDEO_EXT.contains(&ext) {
                Some(2)
            } else {
                None
            }
        };
        let primary = info
            .iter()
            .filter(|(_, ext, prefix)| prefix.is_none() && rank(ext).is_some())
            .min_by_key(|(i, ext, _)| (rank(ext), *i))
            .map(|(i, _, _)| *i);
        let Some(primary) = primary else {
            // Orphans: each is filed by its own date.
            groups.extend(idxs.iter().map(|&i| Group {
                members: vec![(i, Role::Primary)],
            }));
            continue;
        };
        let primary_is_still = STILL_EXT.contains(&split_name(items[primary].1).1.as_str());
        let mut members = vec![(primary, Role::Primary)];
        for (i, ext, prefix) in &info {
            if *i == primary {
                continue;
            }
            let role = match (prefix, ext.as_str()) {
                (_, "aae") => Role::Sidecar,
                (Some('E'), _) => Role::EditedRender,
                (Some(_), _) => Role::Sidecar,
                (None, e) if VIDEO_EXT.contains(&e) && primary_is_still => Role::LivePhotoMovie,
                (None, e) if STILL_EXT.contains(&e) || VIDEO_EXT.contains(&e) => Role::Companion,
                _ => {
                    groups.push(Group {
                        members: vec![(*i, Role::Primary)],
                    });
                    continue;
                }
            };
            members.push((*i, role));
        }
        groups.push(Group { members });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(items: &[(&str, &str)]) -> Vec<Vec<(String, Role)>> {
        group_by_name(items)
            .into_iter()
            .map(|g| {
                g.members
                    .into_iter()
                    .map(|(i, r)| (items[i].1.to_string(), r))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn live_photo_sidecar_and_render_group_with_the_still() {
        let g = roles(&[
            ("DCIM/100APPLE", "IMG_0100.MOV"),
            ("DCIM/100APPLE", "IMG_0100.HEIC"),
            ("DCIM/100APPLE", "IMG_0100.AAE"),
            ("DCIM/100APPLE", "IMG_E0100.JPG"),
            ("DCIM/100APPLE", "IMG_O0100.AAE"),
        ]);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0][0], ("IMG_0100.HEIC".to_string(), Role::Primary));
        assert!(g[0].contains(&("IMG_0100.MOV".to_string(), Role::LivePhotoMovie)));
        assert!(g[0].contains(&("IMG_E0100.JPG".to_string(), Role::EditedRender)));
        assert!(g[0].contains(&("IMG_O0100.AAE".to_string(), Role::Sidecar)));
    }

    #[test]
    fn same_stem_in_another_folder_is_another_group() {
        let g = roles(&[
            ("DCIM/100APPLE", "IMG_0001.JPG"),
            ("DCIM/101APPLE", "IMG_0001.MOV"),
        ]);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn an_orphan_sidecar_stands_alone() {
        let g = roles(&[("a", "IMG_0007.AAE"), ("a", "IMG_E0007.JPG")]);
        assert_eq!(g.len(), 2);
        assert!(g.iter().all(|m| m.len() == 1 && m[0].1 == Role::Primary));
    }

    #[test]
    fn raw_and_jpeg_pair_with_the_jpeg_as_primary() {
        let g = roles(&[("a", "IMG_0004.DNG"), ("a", "IMG_0004.JPG")]);
        assert_eq!(g[0][0].0, "IMG_0004.JPG");
        assert_eq!(g[0][1], ("IMG_0004.DNG".to_string(), Role::Companion));
    }
}
