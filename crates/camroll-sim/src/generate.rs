//! `camroll sim generate`: a media root laid out like an iPhone's
//! `/var/mobile/Media`, deterministic for a seed.
//!
//! What it writes, and why each part exists (details in docs/simulator.md):
//! * `DCIM/NNNAPPLE/IMG_####.*` numbered in Apple's per-folder windows
//!   (100APPLE from IMG_0001, 101APPLE from IMG_1001, …, wrapping after 9999),
//!   (the AFC view), or with `--dcim-view ptp` then `YYYYMM__` month folders (`_a`, `_b`…
//!   when a month overflows) for newer shots, as Windows sees them over PTP (ifuse#86);
//! * HEIC/JPEG stills with EXIF, Live Photo `.MOV`s sharing the still's basename and
//!   ContentIdentifier, plain/slo-mo/time-lapse videos, PNG screenshots, `.AAE` sidecars;
//! * edited renders in `PhotoData/Mutations/<dir>/<IMG_####>/Adjustments/FullSizeRender.*`;
//! * iCloud-synced originals from other devices in `PhotoData/CPLAssets/groupNNN/<UUID>.*`;
//! * `PhotoData/Photos.sqlite` (ZASSET, ZADDITIONALASSETATTRIBUTES, ZINTERNALRESOURCE) describing
//!   every asset, including optimised ones whose original is only in iCloud
//!   (`ZLOCALAVAILABILITY = -1`, no file) and ones in Recently Deleted (`ZTRASHEDSTATE = 1`);
//! * `.sim/manifest.json`: the ground truth for tests (hidden from AFC).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::synth::{self, AaeSpec, MovieLead, PngSpec, StillSpec, VideoContainer, VideoSpec};

/// `camroll sim generate`: write a media folder like an iPhone's.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The media folder to create (must not contain a DCIM folder yet).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// How many assets (photos, videos, screenshots; a Live Photo counts once).
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub items: usize,
    /// Seed: the same seed and item count write the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Add one large video of this many MiB (written sparse: it costs no disk or time).
    #[arg(long, value_name = "M")]
    pub video_mib: Option<u64>,
    /// What AFC shows for an original that is only in iCloud ("Optimize iPhone Storage"):
    /// no file, a file that cannot be read (ifuse#54), a small stand-in under the original's
    /// name, or a mix of the three.
    #[arg(long, value_enum, value_name = "SHAPE", default_value_t = CloudShape::None)]
    /// What AFC shows for originals only in iCloud (`--cloud-only-shape`).
    pub cloud_only_shape: CloudShape,
    /// The iOS version whose library layout Photos.sqlite takes (11–18): the asset
    /// table (`ZGENERICASSET` up to 13), the album and keyword join tables, the face
    /// columns (`docs/sidecars.md`); iOS 11 records no availability
    /// (`ZLOCALAVAILABILITY`), so which originals are only in iCloud is unknown.
    #[arg(long, value_name = "VERSION", default_value_t = 17,
          value_parser = clap::value_parser!(u32).range(11..=18))]
    pub ios: u32,
    /// Add N items that are in the library but not the owner's originals: shared-album
    /// items (`ZSAVEDASSETTYPE = 4`, files under `PhotoData/PhotoCloudSharingData`) and,
    /// from iOS 15, every third a "Shared with You" item (a syndication identifier, never
    /// saved; its file is in Syndication.photoslibrary, which AFC does not reach).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub shared_items: usize,
    /// A phone restored from iCloud: most originals (Live Photos with their movies,
    /// screenshots, videos) live under `PhotoData/CPLAssets/groupNNN/<UUID>.*`
    /// (iphone_backup_decrypt#13), not in DCIM.
    #[arg(long)]
    pub icloud_restored: bool,
    /// Which DCIM view to write: `afc` (`NNNAPPLE` folders only, what AFC and ifuse
    /// show) or `ptp` (also `YYYYMM__` month folders for shots from 2022, what
    /// Windows/Image Capture show over PTP; ifuse#86).
    #[arg(long, value_enum, value_name = "VIEW", default_value_t = DcimView::Afc)]
    pub dcim_view: DcimView,
    /// Where an edited photo's `.AAE` sits: `beside` the original in DCIM (and in
    /// `PhotoData/Mutations`), or only in `PhotoData/Mutations` (docs/simulator.md).
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = AaePlace::Beside)]
    pub aae: AaePlace,
    /// Make Photos.sqlite this many MB (10^6 bytes) long, as a real library of
    /// tens of thousands of assets is (hundreds of MB). The tail is a hole (sparse:
    /// no disk, no time) past the database's recorded size, which SQLite ignores.
    #[arg(long, value_name = "MB")]
    pub library_pad_mb: Option<u64>,
}

/// Which view of DCIM the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DcimView {
    /// `NNNAPPLE` folders only: what AFC shows.
    Afc,
    /// `NNNAPPLE`, then `YYYYMM__` month folders: the PTP (Windows) view.
    Ptp,
}

/// Where `.AAE` adjustment sidecars are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AaePlace {
    /// Beside the original in DCIM, and in `PhotoData/Mutations`.
    Beside,
    /// Only in `PhotoData/Mutations/.../Adjustments`.
    Mutations,
}

/// How a cloud-only original shows up over AFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudShape {
    /// No file at all.
    None,
    /// Listed with the original's size, but opening it fails (`.sim/unreadable.txt`).
    Unreadable,
    /// A smaller derivative under the original's name.
    Standin,
    /// The three in turn.
    Mix,
}

impl CloudShape {
    /// The shape of the `n`th cloud-only asset.
    fn nth(self, n: usize) -> &'static str {
        match self {
            CloudShape::None => "none",
            CloudShape::Unreadable => "unreadable",
            CloudShape::Standin => "standin",
            CloudShape::Mix => ["none", "unreadable", "standin"][n % 3],
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// How many assets (a Live Photo counts once).
    pub items: usize,
    /// Seeds the random choices: the same seed writes the same roll, byte for byte.
    pub seed: u64,
    /// Add one large (sparse) video of this many MiB.
    pub video_mib: Option<u64>,
    /// What AFC shows for originals only in iCloud (`--cloud-only-shape`).
    pub cloud_only_shape: CloudShape,
    /// The library layout's iOS version (11–18).
    pub ios: u32,
    /// Extra shared-album and Shared-with-You items (`--shared-items`).
    pub shared_items: usize,
    /// Most originals under `PhotoData/CPLAssets` (`--icloud-restored`).
    pub icloud_restored: bool,
    /// The DCIM view (`--dcim-view`).
    pub dcim_view: DcimView,
    /// Where `.AAE` sidecars sit (`--aae`).
    pub aae: AaePlace,
    /// Photos.sqlite padded (sparse) to this many MB (`--library-pad-mb`).
    pub library_pad_mb: Option<u64>,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS reported.
        source: std::io::Error,
    },
    /// Photos.sqlite could not be written.
    #[error("{path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// The media folder already holds a DCIM folder.
    #[error("{0}: already holds a DCIM folder; generate into a new or empty folder")]
    NotEmpty(PathBuf),
    /// A synthetic media file could not be made.
    #[error("{path}: {message}")]
    Media {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One asset as the Photos library knows it; the manifest is a list of these.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestAsset {
    /// The asset's UUID (`ZASSET.ZUUID`).
    pub uuid: String,
    /// photo, live_photo, screenshot, video, slomo, timelapse.
    pub kind: &'static str,
    /// ZASSET.ZDIRECTORY and ZFILENAME.
    pub directory: String,
    /// The original's file name (`IMG_0001.HEIC`).
    pub filename: String,
    /// The original's path in the media root; None for cloud-only (optimised) assets.
    pub path: Option<String>,
    /// The Live Photo movie's path (same basename), when on the phone.
    pub live_video: Option<String>,
    /// Every file on the phone that belongs to this asset (original, movie, sidecar, renders).
    pub files: Vec<String>,
    /// The original's size in bytes (what ZORIGINALFILESIZE says; also for cloud-only assets).
    pub size: u64,
    /// The original is only in iCloud (Optimize iPhone Storage): no file on the phone.
    pub cloud_only: bool,
    /// For cloud-only assets, what AFC shows: `none`, `unreadable` or `standin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_shape: Option<&'static str>,
    /// The size of the stand-in file (cloud_shape `standin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standin_size: Option<u64>,
    /// In Recently Deleted.
    pub trashed: bool,
    /// Has an edited render (`IMG_E0001.JPG`) and an `.AAE` sidecar.
    pub edited: bool,
    /// Came from iCloud Photos (shot on another device), stored under PhotoData/CPLAssets.
    pub icloud_synced: bool,
    /// Marked as a favourite.
    pub favorite: bool,
    /// In the Hidden album.
    pub hidden: bool,
    /// Capture time with its UTC offset (RFC 3339), as in EXIF / QuickTime metadata.
    pub captured: String,
    /// Capture time as Unix seconds.
    pub captured_unix: i64,
    /// The Apple content identifier pairing a Live Photo's still and movie.
    pub content_identifier: Option<String>,
    /// Not the owner's original: `shared_album` or `shared_with_you`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    seed: u64,
    items: usize,
    assets: &'a [ManifestAsset],
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Assets in the library.
    pub assets: usize,
    /// Files written to the media folder.
    pub files: usize,
    /// Bytes of those files (a sparse video counted at its full size).
    pub bytes: u64,
    /// Assets only in iCloud (no file written).
    pub cloud_only: usize,
    /// Assets in Recently Deleted.
    pub trashed: usize,
    /// Assets with an edited render.
    pub edited: usize,
    /// Live Photos.
    pub live: usize,
}

/// Runs `generate`; returns the exit status.
pub fn run(args: GenerateArgs) -> anyhow::Result<u8> {
    let t = std::time::Instant::now();
    let s = generate(
        &args.out,
        &GenerateOptions {
            items: args.items,
            seed: args.seed,
            video_mib: args.video_mib,
            cloud_only_shape: args.cloud_only_shape,
            ios: args.ios,
            shared_items: args.shared_items,
            icloud_restored: args.icloud_restored,
            dcim_view: args.dcim_view,
            aae: args.aae,
            library_pad_mb: args.library_pad_mb,
        },
    )?;
    println!(
        "{}: {} assets ({} Live Photos, {} edited, {} cloud-only, {} in Recently Deleted), {} files, {} bytes, in {:.1} s",
        args.out.display(),
        s.assets,
        s.live,
        s.edited,
        s.cloud_only,
        s.trashed,
        s.files,
        s.bytes,
        t.elapsed().as_secs_f64()
    );
    println!("serve it: camroll sim --media {}", args.out.display());
    Ok(0)
}

/// A file to write: its media-root-relative path, content, and mtime (capture time).
struct Job {
    rel: String,
    content: Content,
    mtime: i64,
    /// False for cloud-only originals: only the size is needed.
    write: bool,
    /// Index of the asset whose `size` this file determines.
    size_of: Option<usize>,
    /// Index of the asset whose `standin_size` this file determines.
    standin_of: Option<usize>,
}

enum Content {
    Heic(StillSpec),
    Jpeg(StillSpec),
    Png(PngSpec),
    Mov(VideoSpec),
    Aae(AaeSpec),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Heic(s) => synth::heic(s),
            Content::Jpeg(s) => synth::jpeg(s),
            Content::Png(s) => synth::png(s),
            Content::Mov(s) => synth::mov(s),
            Content::Aae(s) => synth::aae(s),
        }
    }
}

const MODELS: [&str; 4] = ["iPhone 12", "iPhone 13 Pro", "iPhone 14", "iPhone 15 Pro"];
/// UTC offsets a travelling phone sees, in seconds east.
const OFFSETS: [i32; 6] = [3600, 7200, 7200, 3600, -4 * 3600, 9 * 3600];
/// Capture times span these years; month folders start in 2022 (the iOS 14.6-era change).
fn span() -> (NaiveDateTime, NaiveDateTime, NaiveDateTime) {
    let d = |y, m, day| {
        NaiveDate::from_ymd_opt(y, m, day)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap_or_default()
    };
    (d(2020, 7, 1), d(2024, 6, 30), d(2022, 1, 1))
}

/// Core Data's epoch (2001-01-01 UTC) in Unix seconds.
const CORE_DATA_EPOCH: i64 = 978_307_200;

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "A", "B"][(b[8] & 3) as usize],
        &h[17..20],
        &h[20..32]
    )
}

/// Apple's IMG number window for camera-roll folder `n` (PLSimpleDCIMDirectory):
/// the first number is `((1000*n - 100000) mod 10000) | 1`.
fn window_start(folder: u32) -> u32 {
    ((1000 * folder).saturating_sub(100_000) % 10_000) | 1
}

struct Folders {
    apple_folder: u32,
    in_folder: u32,
    next_number: u32,
    month: Option<(i32, u32)>,
    month_part: usize,
    month_count: u32,
    last_dir: u32,
}

const PER_FOLDER: u32 = 1000;

impl Folders {
    fn new() -> Folders {
        Folders {
            apple_folder: 100,
            in_folder: 0,
            next_number: 1,
            month: None,
            month_part: 0,
            month_count: 0,
            last_dir: 100,
        }
    }

    /// The folder and IMG number of the next camera shot taken at `local`.
    fn next(&mut self, local: NaiveDateTime, month_folders: bool) -> (String, u32) {
        use chrono::Datelike;
        if !month_folders {
            if self.in_folder >= PER_FOLDER || self.next_number > 9999 {
                self.apple_folder += 1;
                self.in_folder = 0;
                self.next_number = window_start(self.apple_folder);
            }
            let n = self.next_number;
            self.next_number += 1;
            self.in_folder += 1;
            self.last_dir = self.apple_folder;
            return (format!("{}APPLE", self.apple_folder), n);
        }
        let ym = (local.year(), local.month());
        if self.month != Some(ym) {
            self.month = Some(ym);
            self.month_part = 0;
            self.month_count = 0;
        } else if self.month_count >= PER_FOLDER {
            self.month_part += 1;
            self.month_count = 0;
        }
        self.month_count += 1;
        // The IMG counter runs on across folders and wraps after 9999.
        if self.next_number > 9999 {
            self.next_number = 1;
        }
        let n = self.next_number;
        self.next_number += 1;
        let suffix = match self.month_part {
            0 => "__".to_string(),
            p => format!("_{}", (b'a' + ((p - 1) % 26) as u8) as char),
        };
        (format!("{:04}{:02}{}", ym.0, ym.1, suffix), n)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Photo,
    Live,
    Screenshot,
    Video,
    Slomo,
    Timelapse,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Photo => "photo",
            Kind::Live => "live_photo",
            Kind::Screenshot => "screenshot",
            Kind::Video => "video",
            Kind::Slomo => "slomo",
            Kind::Timelapse => "timelapse",
        }
    }
    fn is_video(self) -> bool {
        matches!(self, Kind::Video | Kind::Slomo | Kind::Timelapse)
    }
    /// ZKIND, ZKINDSUBTYPE.
    fn db_kind(self) -> (i64, i64) {
        match self {
            Kind::Photo => (0, 0),
            Kind::Live => (0, 2),
            Kind::Screenshot => (0, 10),
            Kind::Video => (1, 0),
            Kind::Slomo => (1, 101),
            Kind::Timelapse => (1, 102),
        }
    }
}

/// The plan for one asset (everything but file sizes).
struct Plan {
    m: ManifestAsset,
    kind: Kind,
    ext: &'static str,
    offset: i32,
    added_unix: i64,
    trashed_unix: Option<i64>,
    live_size_job: Option<usize>,
    live_size: u64,
}

/// Writes a camera roll into `out` (created if needed).
pub fn generate(out: &Path, opts: &GenerateOptions) -> Result<Summary, GenerateError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| GenerateError::Io { path: p, source: e }
    };
    if out.join("DCIM").exists() {
        return Err(GenerateError::NotEmpty(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    for d in [
        "DCIM",
        "PhotoData/MISC",
        "PhotoData/Metadata/DCIM",
        "PhotoData/Thumbnails",
        "PhotoData/Caches",
        "Books",
        "Downloads",
        "PublicStaging",
        "Recordings",
        "iTunes_Control/iTunes",
        ".sim",
    ] {
        std::fs::create_dir_all(out.join(d)).map_err(io(&out.join(d)))?;
    }

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let (start, end, months_from) = span();
    let range = (end - start).num_seconds().max(1);
    let mut times: Vec<i64> = (0..opts.items).map(|_| rng.gen_range(0..range)).collect();
    times.sort_unstable();

    let mut folders = Folders::new();
    let mut jobs: Vec<Job> = Vec::new();
    let mut plans: Vec<Plan> = Vec::with_capacity(opts.items + 1);
    let mut cpl_group = 100u32;
    let mut unreadable: Vec<String> = Vec::new();

    for (i, secs) in times.iter().enumerate() {
        let local = start + Duration::seconds(*secs);
        let offset = OFFSETS[rng.gen_range(0..OFFSETS.len())];
        let off = FixedOffset::east_opt(offset).unwrap_or(Utc.fix());
        let taken: DateTime<FixedOffset> = match off.from_local_datetime(&local).single() {
            Some(t) => t,
            None => continue,
        };
        let unix = taken.timestamp();
        let r: f64 = rng.gen();
        let kind = match r {
            r if r < 0.40 => Kind::Photo,
            r if r < 0.58 => Kind::Live,
            r if r < 0.70 => Kind::Screenshot,
            r if r < 0.92 => Kind::Video,
            r if r < 0.96 => Kind::Slomo,
            _ => Kind::Timelapse,
        };
        let icloud_synced = if opts.icloud_restored {
            rng.gen_bool(0.85)
        } else {
            kind != Kind::Screenshot && rng.gen_bool(0.08)
        };
        let cloud_only = !icloud_synced && rng.gen_bool(0.05);
        let trashed = rng.gen_bool(0.03);
        let edited = kind != Kind::Screenshot && !icloud_synced && rng.gen_bool(0.10);
        let favorite = rng.gen_bool(0.05);
        let hidden = rng.gen_bool(0.01);
        let model = MODELS[rng.gen_range(0..MODELS.len())];
        let seed = rng.gen::<u64>();
        let asset_uuid = uuid(&mut rng);
        let content_identifier = (kind == Kind::Live).then(|| uuid(&mut rng));
        let ext = match kind {
            Kind::Screenshot => "PNG",
            k if k.is_video() => "MOV",
            _ => {
                if rng.gen_bool(0.25) {
                    "JPG"
                } else {
                    "HEIC"
                }
            }
        };
        let (directory, filename, base) = if icloud_synced {
            if i % 500 == 0 {
                cpl_group += 1;
            }
            let dir = format!("PhotoData/CPLAssets/group{cpl_group}");
            (dir, format!("{asset_uuid}.{ext}"), asset_uuid.clone())
        } else {
            let months = opts.dcim_view == DcimView::Ptp && local >= months_from;
            let (folder, n) = folders.next(local, months);
            (
                format!("DCIM/{folder}"),
                format!("IMG_{n:04}.{ext}"),
                format!("IMG_{n:04}"),
            )
        };
        let rel = format!("{directory}/{filename}");
        let idx = plans.len();

        // The original (written unless optimised away to iCloud).
        let original = || match kind {
            Kind::Screenshot => Content::Png(PngSpec {
                xmp_date: Some(taken),
                ..PngSpec::bare(seed)
            }),
            k if k.is_video() => {
                let mut v = VideoSpec::iphone(seed, model, taken);
                v.software = Some("17.5.1".into());
                Content::Mov(v)
            }
            _ => {
                let mut s = StillSpec::iphone(seed, model, local, Some(off));
                s.content_identifier = content_identifier.clone();
                s.software = Some("17.5.1".into());
                if ext == "JPG" {
                    Content::Jpeg(s)
                } else {
                    Content::Heic(s)
                }
            }
        };
        let cloud_shape = cloud_only.then(|| {
            let n = plans.iter().filter(|p| p.m.cloud_only).count();
            opts.cloud_only_shape.nth(n)
        });
        let mut content = original();
        if cloud_shape == Some("standin") {
            // The original in iCloud is full size (only its size is needed: not written);
            // the phone keeps a small derivative.
            match &mut content {
                Content::Heic(s) | Content::Jpeg(s) => s.size_target = Some(2_400_000),
                Content::Mov(v) => v.size_target = Some(6_000_000),
                _ => {}
            }
        }
        let mut files = Vec::new();
        if !cloud_only {
            files.push(rel.clone());
        }
        match cloud_shape {
            Some("unreadable") => {
                // The original's bytes, listed, but afcd will not open it.
                files.push(rel.clone());
                unreadable.push(rel.clone());
                jobs.push(Job {
                    rel: rel.clone(),
                    content: original(),
                    mtime: unix,
                    write: true,
                    size_of: None,
                    standin_of: None,
                });
            }
            Some("standin") => {
                // A smaller derivative under the original's name (a different, smaller render).
                files.push(rel.clone());
                let content = if kind.is_video() {
                    let mut v = VideoSpec::iphone(seed ^ 0x57A9, model, taken);
                    v.software = Some("17.5.1".into());
                    Content::Mov(v)
                } else {
                    Content::Jpeg(StillSpec::iphone(seed ^ 0x57A9, model, local, Some(off)))
                };
                jobs.push(Job {
                    rel: rel.clone(),
                    content,
                    mtime: unix,
                    write: true,
                    size_of: None,
                    standin_of: Some(idx),
                });
            }
            _ => {}
        }
        jobs.push(Job {
            rel: rel.clone(),
            content,
            mtime: unix,
            write: !cloud_only,
            size_of: Some(idx),
            standin_of: None,
        });

        let mut live_video = None;
        let mut live_size_job = None;
        if kind == Kind::Live {
            let mut v = VideoSpec::iphone(seed ^ 0x11FE, model, taken);
            v.content_identifier = content_identifier.clone();
            v.lead = match rng.gen_range(0..10) {
                0 => MovieLead::Wide,
                1 => MovieLead::Mdat,
                _ => MovieLead::Ftyp,
            };
            let mov_rel = format!("{directory}/{base}.MOV");
            if !cloud_only {
                files.push(mov_rel.clone());
                live_video = Some(mov_rel.clone());
            }
            live_size_job = Some(jobs.len());
            jobs.push(Job {
                rel: mov_rel,
                content: Content::Mov(v),
                mtime: unix,
                write: !cloud_only,
                size_of: None,
                standin_of: None,
            });
        }

        if edited {
            let edit_time = unix + rng.gen_range(60..86_400 * 30);
            let ts = Utc.timestamp_opt(edit_time, 0).single().unwrap_or_default();
            let aae = AaeSpec::new(seed ^ 0xAAE, ts);
            if !icloud_synced && opts.aae == AaePlace::Beside {
                // The sidecar sits next to the original in DCIM, as Windows/Image Capture see it.
                let sidecar = format!("{directory}/{base}.AAE");
                files.push(sidecar.clone());
                jobs.push(Job {
                    rel: sidecar,
                    content: Content::Aae(aae.clone()),
                    mtime: edit_time,
                    write: true,
                    size_of: None,
                    standin_of: None,
                });
            }
            let adj = format!("PhotoData/Mutations/{directory}/{base}/Adjustments");
            files.push(format!("{adj}/Adjustments.plist"));
            jobs.push(Job {
                rel: format!("{adj}/Adjustments.plist"),
                content: Content::Aae(aae),
                mtime: edit_time,
                write: true,
                size_of: None,
                standin_of: None,
            });
            let render = if kind.is_video() {
                let mut v = VideoSpec::iphone(seed ^ 0xED17, model, taken);
                v.software = Some("Photos".into());
                (format!("{adj}/FullSizeRender.mov"), Content::Mov(v))
            } else {
                let mut s = StillSpec::iphone(seed ^ 0xED17, model, local, Some(off));
                s.software = Some("Photos".into());
                s.content_identifier = content_identifier.clone();
                if ext == "JPG" {
                    (format!("{adj}/FullSizeRender.jpg"), Content::Jpeg(s))
                } else {
                    (format!("{adj}/FullSizeRender.heic"), Content::Heic(s))
                }
            };
            files.push(render.0.clone());
            jobs.push(Job {
                rel: render.0,
                content: render.1,
                mtime: edit_time,
                write: true,
                size_of: None,
                standin_of: None,
            });
        }

        let added_unix = unix + rng.gen_range(0..120);
        let trashed_unix =
            trashed.then(|| end.and_utc().timestamp() - rng.gen_range(0..86_400 * 29));
        plans.push(Plan {
            m: ManifestAsset {
                uuid: asset_uuid,
                kind: kind.name(),
                directory,
                filename,
                path: (!cloud_only).then(|| rel.clone()),
                live_video,
                files,
                size: 0,
                cloud_only,
                cloud_shape,
                standin_size: None,
                trashed,
                edited,
                icloud_synced,
                favorite,
                hidden,
                captured: taken.to_rfc3339(),
                captured_unix: unix,
                content_identifier,
                shared: None,
            },
            kind,
            ext,
            offset,
            added_unix,
            trashed_unix,
            live_size_job,
            live_size: 0,
        });
    }

    // Items of shared albums and Shared with You: in the library, not the owner's.
    // (No random draws when there are none: other rolls keep their bytes.)
    let (owner, album) = if opts.shared_items > 0 {
        (uuid(&mut rng).replace('-', ""), uuid(&mut rng))
    } else {
        Default::default()
    };
    for k in 0..opts.shared_items {
        let local = start + Duration::seconds(rng.gen_range(0..range));
        let off = FixedOffset::east_opt(3600).unwrap_or(Utc.fix());
        let Some(taken) = off.from_local_datetime(&local).single() else {
            continue;
        };
        let unix = taken.timestamp();
        let asset_uuid = uuid(&mut rng);
        let seed = rng.gen::<u64>();
        // Shared with You arrived with iOS 15 (iLEAPP's Ph26 parsers start there).
        let swy = k % 3 == 2 && opts.ios >= 15;
        let n = k + 1;
        let (directory, write) = if swy {
            // Received in Messages and not saved: the file lives in
            // Library/Photos/Libraries/Syndication.photoslibrary, outside the
            // media root AFC serves. Where inside it is not public; the
            // `originals/<first UUID character>` of a `.photoslibrary` bundle is assumed.
            (format!("originals/{}", &asset_uuid[..1]), false)
        } else {
            (
                format!("PhotoData/PhotoCloudSharingData/{owner}/{album}/100CLOUD"),
                true,
            )
        };
        let filename = format!("IMG_{n:04}.JPG");
        let rel = format!("{directory}/{filename}");
        let idx = plans.len();
        jobs.push(Job {
            rel: rel.clone(),
            content: Content::Jpeg(StillSpec::iphone(seed, "iPhone 14", local, Some(off))),
            mtime: unix,
            write,
            size_of: Some(idx),
            standin_of: None,
        });
        plans.push(Plan {
            m: ManifestAsset {
                uuid: asset_uuid,
                kind: Kind::Photo.name(),
                directory,
                filename,
                path: write.then(|| rel.clone()),
                live_video: None,
                files: if write { vec![rel] } else { Vec::new() },
                size: 0,
                cloud_only: false,
                cloud_shape: None,
                standin_size: None,
                trashed: false,
                edited: false,
                icloud_synced: false,
                favorite: false,
                hidden: false,
                captured: taken.to_rfc3339(),
                captured_unix: unix,
                content_identifier: None,
                shared: Some(if swy {
                    "shared_with_you"
                } else {
                    "shared_album"
                }),
            },
            kind: Kind::Photo,
            ext: "JPG",
            offset: 3600,
            added_unix: unix + 3600,
            trashed_unix: None,
            live_size_job: None,
            live_size: 0,
        });
    }

    // Write every file in parallel; each job's bytes depend only on its spec.
    let results: Vec<Result<(u64, bool), GenerateError>> = jobs
        .par_iter()
        .map(|j| {
            let bytes = j.content.bytes();
            if j.write {
                let p = out.join(&j.rel);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::write(&p, &bytes).map_err(io(&p))?;
                let t = filetime::FileTime::from_unix_time(j.mtime, 0);
                filetime::set_file_mtime(&p, t).map_err(io(&p))?;
            }
            Ok((bytes.len() as u64, j.write))
        })
        .collect();
    let mut summary = Summary::default();
    let mut sizes = Vec::with_capacity(results.len());
    for r in results {
        let (n, written) = r?;
        if written {
            summary.files += 1;
            summary.bytes += n;
        }
        sizes.push(n);
    }
    for (j, job) in jobs.iter().enumerate() {
        if let Some(i) = job.size_of {
            plans[i].m.size = sizes[j];
        }
        if let Some(i) = job.standin_of {
            plans[i].m.standin_size = Some(sizes[j]);
        }
    }
    if !unreadable.is_empty() {
        // Read by the simulator at start: opens of these answer READ_ERROR.
        let p = out.join(".sim/unreadable.txt");
        std::fs::write(&p, unreadable.join("\n") + "\n").map_err(io(&p))?;
    }
    for p in plans.iter_mut() {
        if let Some(j) = p.live_size_job {
            p.live_size = sizes[j];
        }
    }

    // One large video, sparse, when asked (for throughput benchmarks).
    if let Some(mib) = opts.video_mib.filter(|m| *m > 0) {
        let local = end + Duration::hours(2);
        let off = FixedOffset::east_opt(7200).unwrap_or(Utc.fix());
        if let Some(taken) = off.from_local_datetime(&local).single() {
            let (folder, n) = folders.next(local, opts.dcim_view == DcimView::Ptp);
            let directory = format!("DCIM/{folder}");
            let filename = format!("IMG_{n:04}.MOV");
            let rel = format!("{directory}/{filename}");
            let p = out.join(&rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let mut spec = VideoSpec::iphone(opts.seed ^ 0xB16, "iPhone 15 Pro", taken);
            spec.size_target = Some(mib << 20);
            let mut f = File::create(&p).map_err(io(&p))?;
            let size =
                synth::write_video(&mut f, VideoContainer::QuickTime, &spec).map_err(|e| {
                    GenerateError::Media {
                        path: p.clone(),
                        message: e.to_string(),
                    }
                })?;
            // A trailing hole needs the length set explicitly.
            f.set_len(size).map_err(io(&p))?;
            drop(f);
            let t = filetime::FileTime::from_unix_time(taken.timestamp(), 0);
            filetime::set_file_mtime(&p, t).map_err(io(&p))?;
            summary.files += 1;
            summary.bytes += size;
            plans.push(Plan {
                m: ManifestAsset {
                    uuid: uuid(&mut rng),
                    kind: "video",
                    directory,
                    filename,
                    path: Some(rel.clone()),
                    live_video: None,
                    files: vec![rel],
                    size,
                    cloud_only: false,
                    cloud_shape: None,
                    standin_size: None,
                    trashed: false,
                    edited: false,
                    icloud_synced: false,
                    favorite: false,
                    hidden: false,
                    captured: taken.to_rfc3339(),
                    captured_unix: taken.timestamp(),
                    content_identifier: None,
                    shared: None,
                },
                kind: Kind::Video,
                ext: "MOV",
                offset: 7200,
                added_unix: taken.timestamp() + 30,
                trashed_unix: None,
                live_size_job: None,
                live_size: 0,
            });
        }
    }

    write_dcim_plist(out, &folders)?;
    write_photos_db(out, &plans, opts.ios)?;
    if let Some(mb) = opts.library_pad_mb {
        pad_library(out, mb)?;
    }
    let assets: Vec<ManifestAsset> = plans.iter().map(|p| p.m.clone()).collect();
    let manifest = Manifest {
        generator: "camroll sim generate",
        seed: opts.seed,
        items: opts.items,
        assets: &assets,
    };
    let mp = out.join(".sim/manifest.json");
    let mut f = std::io::BufWriter::new(File::create(&mp).map_err(io(&mp))?);
    serde_json::to_writer_pretty(&mut f, &manifest).map_err(|e| GenerateError::Io {
        path: mp.clone(),
        source: e.into(),
    })?;
    f.flush().map_err(io(&mp))?;

    summary.assets = plans.len();
    summary.cloud_only = plans.iter().filter(|p| p.m.cloud_only).count();
    summary.trashed = plans.iter().filter(|p| p.m.trashed).count();
    summary.edited = plans.iter().filter(|p| p.m.edited).count();
    summary.live = plans.iter().filter(|p| p.kind == Kind::Live).count();
    Ok(summary)
}

/// `--library-pad-mb`: extends the closed Photos.sqlite to `mb` MB with a hole. SQLite
/// reads the database's size from its header (offset 28, valid while the change
/// counter at 24 equals the version-valid-for number at 92, as every SQLite since
/// 3.7.0 writes it), so the pages past it are never read, and the file costs no disk.
fn pad_library(out: &Path, mb: u64) -> Result<(), GenerateError> {
    let path = out.join("PhotoData/Photos.sqlite");
    let pad = || -> std::io::Result<()> {
        let f = std::fs::OpenOptions::new().write(true).open(&path)?;
        let len = f.metadata()?.len();
        f.set_len(len.max(mb.saturating_mul(1_000_000)))
    };
    pad().map_err(|source| GenerateError::Io {
        path: path.clone(),
        source,
    })
}

/// `PhotoData/MISC/DCIM_APPLE.plist`: the camera roll's folder and file counters.
fn write_dcim_plist(out: &Path, f: &Folders) -> Result<(), GenerateError> {
    let p = out.join("PhotoData/MISC/DCIM_APPLE.plist");
    let mut d = plist::Dictionary::new();
    d.insert(
        "DCIMLastDirectoryNumber".into(),
        u64::from(f.last_dir).into(),
    );
    d.insert(
        "DCIMLastFileNumber".into(),
        u64::from(f.next_number.saturating_sub(1)).into(),
    );
    plist::to_file_xml(&p, &plist::Value::Dictionary(d)).map_err(|e| GenerateError::Io {
        path: p.clone(),
        source: std::io::Error::other(e),
    })
}

fn uti(ext: &str) -> &'static str {
    match ext {
        "HEIC" => "public.heic",
        "JPG" => "public.jpeg",
        "PNG" => "public.png",
        _ => "com.apple.quicktime-movie",
    }
}

fn core_data_time(unix: i64) -> f64 {
    (unix - CORE_DATA_EPOCH) as f64
}

/// `PhotoData/Photos.sqlite` with the Core Data tables and columns forensic readers
/// (iLEAPP, osxphotos, the SKQ queries) and camroll use to map files to assets.
fn write_photos_db(out: &Path, plans: &[Plan], ios: u32) -> Result<(), GenerateError> {
    let path = out.join("PhotoData/Photos.sqlite");
    let db = |e| GenerateError::Db {
        path: path.clone(),
        source: e,
    };
    let mut conn = rusqlite::Connection::open(&path).map_err(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
         CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR(255), Z_PLIST BLOB);
         CREATE TABLE ZASSET (
           Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZUUID VARCHAR, ZDIRECTORY VARCHAR, ZFILENAME VARCHAR,
           ZDATECREATED TIMESTAMP, ZADDEDDATE TIMESTAMP, ZMODIFICATIONDATE TIMESTAMP,
           ZTRASHEDSTATE INTEGER, ZTRASHEDDATE TIMESTAMP,
           ZKIND INTEGER, ZKINDSUBTYPE INTEGER, ZFAVORITE INTEGER, ZHIDDEN INTEGER,
           ZSAVEDASSETTYPE INTEGER, ZCLOUDLOCALSTATE INTEGER, ZUNIFORMTYPEIDENTIFIER VARCHAR,
           ZWIDTH INTEGER, ZHEIGHT INTEGER, ZHASADJUSTMENTS INTEGER,
           ZAVALANCHEUUID VARCHAR, ZAVALANCHEPICKTYPE INTEGER,
           ZMEDIAGROUPUUID VARCHAR, ZADDITIONALATTRIBUTES INTEGER);
         CREATE TABLE ZADDITIONALASSETATTRIBUTES (
           Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZASSET INTEGER,
           ZORIGINALFILENAME VARCHAR, ZORIGINALFILESIZE INTEGER,
           ZTIMEZONEOFFSET INTEGER, ZINFERREDTIMEZONEOFFSET INTEGER, ZTIMEZONENAME VARCHAR);
         CREATE TABLE ZINTERNALRESOURCE (
           Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZASSET INTEGER,
           ZDATASTORESUBTYPE INTEGER, ZRESOURCETYPE INTEGER, ZVERSION INTEGER, ZRECIPEID INTEGER,
           ZLOCALAVAILABILITY INTEGER, ZREMOTEAVAILABILITY INTEGER, ZCLOUDLOCALSTATE INTEGER,
           ZDATALENGTH INTEGER, ZFINGERPRINT VARCHAR);
         CREATE INDEX ZASSET_ZUUID_INDEX ON ZASSET (ZUUID);
         CREATE INDEX ZADDITIONALASSETATTRIBUTES_ZASSET_INDEX ON ZADDITIONALASSETATTRIBUTES (ZASSET);
         CREATE INDEX ZINTERNALRESOURCE_ZASSET_INDEX ON ZINTERNALRESOURCE (ZASSET);",
    )
    .map_err(db)?;
    let tx = conn.transaction().map_err(db)?;
    {
        let mut asset = tx
            .prepare(
                "INSERT INTO ZASSET (Z_PK, Z_ENT, Z_OPT, ZUUID, ZDIRECTORY, ZFILENAME, ZDATECREATED,
                 ZADDEDDATE, ZMODIFICATIONDATE, ZTRASHEDSTATE, ZTRASHEDDATE, ZKIND, ZKINDSUBTYPE,
                 ZFAVORITE, ZHIDDEN, ZSAVEDASSETTYPE, ZCLOUDLOCALSTATE, ZUNIFORMTYPEIDENTIFIER,
                 ZWIDTH, ZHEIGHT, ZHASADJUSTMENTS, ZAVALANCHEUUID, ZAVALANCHEPICKTYPE,
                 ZMEDIAGROUPUUID, ZADDITIONALATTRIBUTES)
                 VALUES (?1, 3, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 1, ?15,
                 ?16, ?17, ?18, NULL, 0, ?19, ?1)",
            )
            .map_err(db)?;
        let mut attrs = tx
            .prepare(
                "INSERT INTO ZADDITIONALASSETATTRIBUTES (Z_PK, Z_ENT, Z_OPT, ZASSET, ZORIGINALFILENAME,
                 ZORIGINALFILESIZE, ZTIMEZONEOFFSET, ZINFERREDTIMEZONEOFFSET, ZTIMEZONENAME)
                 VALUES (?1, 1, 1, ?1, ?2, ?3, ?4, ?4, ?5)",
            )
            .map_err(db)?;
        let mut res = tx
            .prepare(
                "INSERT INTO ZINTERNALRESOURCE (Z_ENT, Z_OPT, ZASSET, ZDATASTORESUBTYPE, ZRESOURCETYPE,
                 ZVERSION, ZRECIPEID, ZLOCALAVAILABILITY, ZREMOTEAVAILABILITY, ZCLOUDLOCALSTATE,
                 ZDATALENGTH, ZFINGERPRINT) VALUES (4, 1, ?1, ?2, ?3, ?4, 0, ?5, 1, 3, ?6, ?7)",
            )
            .map_err(db)?;
        for (i, p) in plans.iter().enumerate() {
            let pk = i as i64 + 1;
            let m = &p.m;
            let (kind, subtype) = p.kind.db_kind();
            let (w, h) = if p.kind.is_video() {
                (1920, 1080)
            } else {
                (4032, 3024)
            };
            let original_name = if m.icloud_synced {
                // Shot on another device: its own IMG name survives as the original file name.
                format!("IMG_{:04}.{}", (m.captured_unix % 9999) + 1, p.ext)
            } else {
                m.filename.clone()
            };
            asset
                .execute(rusqlite::params![
                    pk,
                    m.uuid,
                    m.directory,
                    m.filename,
                    core_data_time(m.captured_unix),
                    core_data_time(p.added_unix),
                    core_data_time(p.trashed_unix.unwrap_or(p.added_unix)),
                    i64::from(m.trashed),
                    p.trashed_unix.map(core_data_time),
                    kind,
                    subtype,
                    i64::from(m.favorite),
                    i64::from(m.hidden),
                    match m.shared {
                        Some("shared_album") => 4,
                        Some(_) => 12,
                        None if m.icloud_synced => 6,
                        None => 3,
                    },
                    uti(p.ext),
                    w,
                    h,
                    i64::from(m.edited),
                    m.content_identifier,
                ])
                .map_err(db)?;
            let tz_name = format!(
                "GMT{}{:02}{:02}",
                if p.offset < 0 { '-' } else { '+' },
                p.offset.abs() / 3600,
                (p.offset.abs() % 3600) / 60
            );
            attrs
                .execute(rusqlite::params![
                    pk,
                    original_name,
                    m.size as i64,
                    p.offset,
                    tz_name
                ])
                .map_err(db)?;
            let local = if m.cloud_only { -1 } else { 1 };
            let fp = format!("A{}", &m.uuid.replace('-', "")[..20]);
            let original_type = match p.kind {
                Kind::Screenshot => 6,
                k if k.is_video() => 1,
                _ => 0,
            };
            res.execute(rusqlite::params![
                pk,
                1,
                original_type,
                0,
                local,
                m.size as i64,
                fp
            ])
            .map_err(db)?;
            if p.kind == Kind::Live {
                res.execute(rusqlite::params![
                    pk,
                    1,
                    3,
                    0,
                    local,
                    p.live_size as i64,
                    format!("{fp}L")
                ])
                .map_err(db)?;
            }
            if m.edited {
                // Adjustment data and the full-size render (version 2) are always local.
                res.execute(rusqlite::params![
                    pk,
                    0,
                    5,
                    2,
                    1,
                    0i64,
                    Option::<String>::None
                ])
                .map_err(db)?;
                res.execute(rusqlite::params![
                    pk,
                    2,
                    original_type,
                    2,
                    1,
                    0i64,
                    Option::<String>::None
                ])
                .map_err(db)?;
            }
        }
        let n = plans.len() as i64;
        tx.execute(
            "INSERT INTO Z_PRIMARYKEY (Z_ENT, Z_NAME, Z_SUPER, Z_MAX) VALUES
             (1, 'AdditionalAssetAttributes', 0, ?1), (3, 'Asset', 0, ?1), (4, 'InternalResource', 0, 0)",
            [n],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    // Albums, keywords, people and the rest, seeded by the roll itself.
    let seed = plans.first().map_or(0, |p| {
        p.m.uuid
            .bytes()
            .fold(plans.len() as u64, |h, b| h.rotate_left(5) ^ u64::from(b))
    });
    let layout = crate::library_meta::MetaLayout::for_ios(ios);
    let tx = conn.transaction().map_err(db)?;
    if layout.asset_table != "ZASSET" {
        // iOS 13 and older: the asset entity and its table have the older names.
        tx.execute_batch(&format!(
            "ALTER TABLE ZASSET RENAME TO {t};
             UPDATE {t} SET Z_ENT = {e};
             UPDATE Z_PRIMARYKEY SET Z_ENT = {e} WHERE Z_NAME = 'Asset';",
            t = layout.asset_table,
            e = layout.asset_ent
        ))
        .map_err(db)?;
    }
    if ios <= 11 {
        // iOS 11's resources carry no availability: the library cannot say
        // which originals are only in iCloud (iLEAPP/SKQ iOS 11 queries read
        // no ZLOCALAVAILABILITY).
        tx.execute_batch(
            "ALTER TABLE ZINTERNALRESOURCE DROP COLUMN ZLOCALAVAILABILITY;
             ALTER TABLE ZINTERNALRESOURCE DROP COLUMN ZREMOTEAVAILABILITY;",
        )
        .map_err(db)?;
    }
    if ios >= 15 {
        mark_syndication(&tx, plans).map_err(db)?;
    }
    crate::library_meta::write_library_meta(&tx, &layout, seed).map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(())
}

/// The Shared with You columns of iOS 15 and later (iLEAPP `Ph26SyndicationPLAssets.py`,
/// osxphotos `photosdb_syndication.py`, #1054): `ZASSET.ZSYNDICATIONSTATE` (0 received,
/// 2 saved to the library), `ZASSET.ZBUNDLESCOPE` (3: in a Shared with You conversation),
/// `ZADDITIONALASSETATTRIBUTES.ZSYNDICATIONIDENTIFIER` (set on every syndicated asset) and
/// `ZSYNDICATIONHISTORY` (0 until saved). Unsaved items alternate between
/// `ZSAVEDASSETTYPE` 3 (the first) and 12, so a reader must look at the syndication
/// columns too. When there are Shared with You items, the roll's first DCIM photo is one
/// the user saved from a conversation: the owner's asset, archived like any other.
fn mark_syndication(tx: &rusqlite::Transaction<'_>, plans: &[Plan]) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE ZASSET ADD COLUMN ZSYNDICATIONSTATE INTEGER DEFAULT 0;
         ALTER TABLE ZASSET ADD COLUMN ZBUNDLESCOPE INTEGER DEFAULT 0;
         ALTER TABLE ZADDITIONALASSETATTRIBUTES ADD COLUMN ZSYNDICATIONIDENTIFIER VARCHAR;
         ALTER TABLE ZADDITIONALASSETATTRIBUTES ADD COLUMN ZSYNDICATIONHISTORY INTEGER DEFAULT 0;",
    )?;
    let mark = |pk: i64, state: i64, scope: i64, history: i64, saved_type: Option<i64>| {
        tx.execute(
            "UPDATE ZASSET SET ZSYNDICATIONSTATE = ?2, ZBUNDLESCOPE = ?3,
             ZSAVEDASSETTYPE = COALESCE(?4, ZSAVEDASSETTYPE) WHERE Z_PK = ?1",
            rusqlite::params![pk, state, scope, saved_type],
        )?;
        tx.execute(
            "UPDATE ZADDITIONALASSETATTRIBUTES SET ZSYNDICATIONIDENTIFIER = ?2,
             ZSYNDICATIONHISTORY = ?3 WHERE ZASSET = ?1",
            rusqlite::params![pk, format!("SWY-{pk:08}"), history],
        )
    };
    let mut unsaved = 0;
    for (i, p) in plans.iter().enumerate() {
        if p.m.shared == Some("shared_with_you") {
            let saved_type = (unsaved % 2 == 0).then_some(3);
            mark(i as i64 + 1, 0, 3, 0, saved_type)?;
            unsaved += 1;
        }
    }
    if unsaved > 0 {
        let saved = plans.iter().position(|p| {
            p.m.shared.is_none()
                && p.kind == Kind::Photo
                && p.m.path.as_deref().is_some_and(|x| x.starts_with("DCIM/"))
        });
        if let Some(i) = saved {
            mark(i as i64 + 1, 2, 0, 1, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_folder_windows_match_plsimpledcimdirectory() {
        assert_eq!(window_start(100), 1);
        assert_eq!(window_start(101), 1001);
        assert_eq!(window_start(109), 9001);
        assert_eq!(window_start(110), 1, "wraps after 9999");
    }

    #[test]
    fn month_folders_get_letter_suffixes_when_full() {
        let mut f = Folders::new();
        let t = NaiveDate::from_ymd_opt(2023, 3, 5)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .expect("valid date");
        let names: Vec<String> = (0..2001).map(|_| f.next(t, true).0).collect();
        assert_eq!(names[0], "202303__");
        assert_eq!(names[999], "202303__");
        assert_eq!(names[1000], "202303_a");
        assert_eq!(names[2000], "202303_b");
    }
}
