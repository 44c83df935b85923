//! Stages 2 and 3, **group** and **skip known**: stills are grouped with
//! their Live Photo movies, sidecars and renders; items every destination
//! already recorded (same source, path, size and mtime) are skipped, so a
//! no-change re-run reads nothing; an item a destination's filesystem cannot
//! hold is refused there before anything is read.

use super::dest::Dest;
use super::summary::ExportSummary;
use crate::archive::filesystem::FsInfo;
use crate::media::{self, Group};
use crate::ops::Failed;
use crate::progress::Progress;
use crate::source::SourceItem;

/// What the run has to read, and in which order.
pub(super) struct Plan<'g> {
    /// Per item (by scan index), the destinations that still need it.
    pub needs: Vec<Vec<usize>>,
    /// Groups with something to read, in placing order.
    pub work: Vec<&'g Group>,
    /// Items to read.
    pub items: u64,
    /// Bytes to read.
    pub bytes: u64,
}

/// Stage 2: groups the scanned items by name (Live Photo pairs, sidecars,
/// renders, RAW+JPEG).
fn group(items: &[SourceItem]) -> Vec<Group> {
    let names: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.dir.as_str(), i.name.as_str()))
        .collect();
    media::group_by_name(&names)
}

/// Stage 3: what each item still needs, and the order to read the groups in.
/// The items are grouped (stage 2, into `groups`) only when something is
/// to be read: a no-change re-run of 100,000 files does not hold a group
/// per file beside the catalog's maps.
pub(super) fn plan<'g>(
    items: &[SourceItem],
    groups: &'g mut Vec<Group>,
    dests: &mut [Dest],
    source_fs: Option<&FsInfo>,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) -> Plan<'g> {
    // Mtimes compare with the source filesystem's granularity (FAT: 2 s),
    // so a re-run reads nothing new.
    let mut needs: Vec<Vec<usize>> = items
        .iter()
        .map(|item| {
            dests
                .iter()
                .enumerate()
                .filter(|(_, d)| !known(d, item, source_fs))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    summary.already_archived = needs.iter().filter(|n| n.is_empty()).count() as u64;
    for (i, d) in dests.iter_mut().enumerate() {
        d.summary.already_archived = needs.iter().filter(|n| !n.contains(&i)).count() as u64;
    }
    // A file the destination's filesystem cannot hold (over 4 GiB on FAT32)
    // is refused up front, before anything is read: never a truncated copy.
    for (item, need) in items.iter().zip(needs.iter_mut()) {
        need.retain(|&di| {
            let d = &mut dests[di];
            let Some(why) = d.fs.refuses_size(item.size) else {
                return true;
            };
            d.summary.failed += 1;
            progress.message(&format!("camroll: {}: {why}", item.rel_path));
            summary.failed.push(Failed {
                path: item.rel_path.clone(),
                error: why,
                destination: Some(d.summary.path.clone()),
            });
            false
        });
    }
    let groups: &'g [Group] = if needs.iter().any(|n| !n.is_empty()) {
        *groups = group(items);
        groups
    } else {
        groups
    };
    // Movies standing alone go last: one whose ContentIdentifier matches a
    // still placed earlier joins that still as its Live Photo movie, whatever
    // its name (AirDropped and renamed pairs).
    let is_lone_movie = |g: &&Group| {
        g.members.len() == 1 && media::group::is_video_name(&items[g.members[0].0].name)
    };
    let (mut work, lone_movies): (Vec<&Group>, Vec<&Group>) = groups
        .iter()
        .filter(|g| g.members.iter().any(|(i, _)| !needs[*i].is_empty()))
        .partition(|g| !is_lone_movie(g));
    work.extend(lone_movies);
    let to_read = || {
        work.iter()
            .flat_map(|g| &g.members)
            .filter(|(i, _)| !needs[*i].is_empty())
    };
    let bytes = to_read().map(|(i, _)| items[*i].size).sum();
    let count = to_read().count() as u64;
    Plan {
        needs,
        work,
        items: count,
        bytes,
    }
}

/// The item is recorded in this destination with the same size and mtime
/// (the same stored time on the source's filesystem, see `archive::fs`).
pub(super) fn known(d: &Dest, item: &SourceItem, source_fs: Option<&FsInfo>) -> bool {
    let mtime = item.mtime_ns();
    d.archive.knows_item(&item.rel_path, |r| {
        r.size == item.size
            && source_fs.map_or(r.mtime_ns == mtime, |f| f.same_mtime(r.mtime_ns, mtime))
    })
}
