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
    /// The movie half of a Live Photo (same stem, or same content identifier).
    LivePhotoMovie,
    /// An `.AAE` or `.XMP` sidecar of the still with the same stem.
    Sidecar,
    /// An edited render the phone made of the original (`IMG_E0001.JPG`).
    EditedRender,
    /// Another still with the same stem (RAW + JPEG/HEIC).
    Companion,
}

/// One group: indices into the caller's list; `members[0]` is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Every member: (index into the caller's list, its role).
    pub members: Vec<(usize, Role)>,
    /// A sidecar or edited render whose original is not in the list: it
    /// stands alone, is filed by its own date, and should be reported.
    pub orphan: bool,
}

impl Group {
    /// The index of the primary: the file whose capture time decides the folder.
    pub fn primary(&self) -> usize {
        self.members[0].0
    }
}

/// Extensions of files that are sidecars of the still with the same stem.
const SIDECAR_EXT: &[&str] = &["aae", "xmp"];
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
                orphan: true,
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
                (_, e) if SIDECAR_EXT.contains(&e) => Role::Sidecar,
                (Some('E'), _) => Role::EditedRender,
                (Some(_), _) => Role::Sidecar,
                (None, e) if VIDEO_EXT.contains(&e) && primary_is_still => Role::LivePhotoMovie,
                (None, e) if STILL_EXT.contains(&e) || VIDEO_EXT.contains(&e) => Role::Companion,
                _ => {
                    groups.push(Group {
                        members: vec![(*i, Role::Primary)],
                        orphan: false,
                    });
                    continue;
                }
            };
            members.push((*i, role));
        }
        groups.push(Group {
            members,
            orphan: false,
        });
    }
    groups
}

fn is_still_name(name: &str) -> bool {
    STILL_EXT.contains(&split_name(name).1.as_str())
}

/// True when the file name has a video extension (`.mov`, `.mp4`, …).
pub fn is_video_name(name: &str) -> bool {
    VIDEO_EXT.contains(&split_name(name).1.as_str())
}

/// Refines name-based groups with Apple's ContentIdentifier, once the files'
/// metadata has been read. `ids[i]` is item `i`'s identifier (the still's
/// MakerNote tag 0x11, the movie's `com.apple.quicktime.content.identifier`).
///
/// - A Live Photo movie paired by name whose identifier differs from its
///   still's (both present) is split off into a group of its own (it is not
///   that still's motion part, whatever its name says).
/// - A movie standing as the primary of its own group whose identifier equals
///   that of a still that has no Live Photo movie yet is moved into the
///   still's group as its `LivePhotoMovie`, with its own sidecars/renders
///   following it; this pairs stills and movies whose names differ (any
///   source folder).
/// - Members without an identifier keep their name-based pairing.
///
/// Every index still appears in exactly one group; group order is kept
/// (a merged movie group disappears, a split-off movie is appended).
pub fn refine_by_content_id(
    items: &[(&str, &str)],
    groups: Vec<Group>,
    ids: &[Option<&str>],
) -> Vec<Group> {
    let id = |i: usize| {
        ids.get(i)
            .copied()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut groups = groups;
    let mut split_off = Vec::new();
    for g in groups.iter_mut() {
        let primary = g.primary();
        let Some(pid) = id(primary) else { continue };
        g.members.retain(|&(i, role)| {
            let breaks = role == Role::LivePhotoMovie && id(i).is_some_and(|mid| mid != pid);
            if breaks {
                split_off.push(Group {
                    members: vec![(i, Role::Primary)],
                    orphan: false,
                });
            }
            !breaks
        });
    }
    groups.extend(split_off);

    // Stills that could take a movie, by identifier.
    let mut still_by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        let p = g.primary();
        let has_movie = g.members.iter().any(|&(_, r)| r == Role::LivePhotoMovie);
        if let (Some(pid), true, false) = (id(p), is_still_name(items[p].1), has_movie) {
            still_by_id.entry(pid).or_insert(gi);
        }
    }
    let mut merge: Vec<(usize, usize)> = Vec::new(); // (movie group, still group)
    for (gi, g) in groups.iter().enumerate() {
        let p = g.primary();
        if !is_video_name(items[p].1) {
            continue;
        }
        if let Some(target) = id(p).and_then(|mid| still_by_id.remove(mid)) {
            if target != gi {
                merge.push((gi, target));
            }
        }
    }
    let mut taken = vec![false; groups.len()];
    for &(from, to) in &merge {
        let moved: Vec<(usize, Role)> = groups[from]
            .members
            .iter()
            .map(|&(i, r)| {
                (
                    i,
                    if r == Role::Primary {
                        Role::LivePhotoMovie
                    } else {
                        r
                    },
                )
            })
            .collect();
        groups[to].members.extend(moved);
        taken[from] = true;
    }
    groups
        .into_iter()
        .zip(taken)
        .filter(|(_, t)| !t)
        .map(|(g, _)| g)
        .collect()
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

    fn names(items: &[(&str, &str)], groups: &[Group]) -> Vec<Vec<(String, Role)>> {
        groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .map(|&(i, r)| (items[i].1.to_string(), r))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn orphans_are_flagged_and_lone_items_are_not() {
        let items = [("a", "IMG_O0009.AAE"), ("a", "IMG_0010.MOV")];
        let g = group_by_name(&items);
        let aae = g.iter().find(|g| g.primary() == 0).unwrap();
        let mov = g.iter().find(|g| g.primary() == 1).unwrap();
        assert!(aae.orphan);
        assert!(!mov.orphan);
    }

    #[test]
    fn content_identifier_pairs_a_still_and_movie_with_different_names() {
        let items = [
            ("a", "IMG_0001.HEIC"),
            ("b", "IMG_0001_HEVC.MOV"),
            ("b", "IMG_0001_HEVC.AAE"),
            ("a", "other.MOV"),
        ];
        let g = group_by_name(&items);
        assert_eq!(g.len(), 3);
        let ids = [Some("ABC"), Some("ABC"), None, Some("XYZ")];
        let r = refine_by_content_id(&items, g, &ids);
        let n = names(&items, &r);
        assert_eq!(r.len(), 2, "{n:?}");
        let still = n.iter().find(|g| g[0].0 == "IMG_0001.HEIC").unwrap();
        assert!(still.contains(&("IMG_0001_HEVC.MOV".to_string(), Role::LivePhotoMovie)));
        assert!(still.contains(&("IMG_0001_HEVC.AAE".to_string(), Role::Sidecar)));
        let mut all: Vec<usize> = r
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.0))
            .collect();
        all.sort();
        assert_eq!(all, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_differing_content_identifier_breaks_a_name_pairing() {
        let items = [("a", "IMG_0002.JPG"), ("a", "IMG_0002.MOV")];
        let r = refine_by_content_id(&items, group_by_name(&items), &[Some("A"), Some("B")]);
        assert_eq!(r.len(), 2);
        assert!(r
            .iter()
            .all(|g| g.members.len() == 1 && g.members[0].1 == Role::Primary && !g.orphan));
    }

    #[test]
    fn a_missing_content_identifier_keeps_the_name_pairing() {
        let items = [("a", "live.HEIC"), ("a", "live.mov")];
        for ids in [[Some("A"), None], [None, Some("B")], [None, None]] {
            let r = refine_by_content_id(&items, group_by_name(&items), &ids);
            assert_eq!(
                names(&items, &r),
                vec![vec![
                    ("live.HEIC".to_string(), Role::Primary),
                    ("live.mov".to_string(), Role::LivePhotoMovie)
                ]]
            );
        }
    }

    #[test]
    fn a_still_takes_at_most_one_movie_by_identifier() {
        let items = [("a", "A.HEIC"), ("a", "B.MOV"), ("a", "C.MOV")];
        let r = refine_by_content_id(
            &items,
            group_by_name(&items),
            &[Some("X"), Some("X"), Some("X")],
        );
        assert_eq!(r.len(), 2);
    }
}
