//! Every synthetic-media writer's output opens in a real decoder and its
//! metadata reads back exactly as specified (kamadak-exif, camroll's own date
//! reader, and exiftool/ffprobe when installed).

mod support;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use camroll::media::{read_media_info, DateOptions, DateSource, Kind, OffsetSource};
use camroll_sim::synth::{self, AaeSpec, MovieLead, PngSpec, StillSpec, VideoContainer, VideoSpec};
use chrono::{DateTime, TimeZone, Utc};
use support::*;

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// exiftool's view of a file: one JSON object, values as exiftool prints them.
fn exiftool_json(path: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("exiftool")
        .env("TZ", "UTC")
        .args(["-j", "-a"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exiftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

fn full_still() -> StillSpec {
    StillSpec {
        subsec: Some("042".into()),
        digitized: Some(dt(2023, 7, 14, 18, 22, 6)),
        modified: Some(dt(2023, 7, 14, 18, 22, 7)),
        content_identifier: Some("8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B".into()),
        ..StillSpec::iphone(7, "iPhone 13 Pro", dt(2023, 7, 14, 18, 22, 5), Some(off(2)))
    }
}

fn exif_fields(bytes: &[u8]) -> exif::Exif {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .expect("EXIF reads back")
}

fn ascii(ex: &exif::Exif, tag: exif::Tag) -> String {
    let f = ex
        .get_field(tag, exif::In::PRIMARY)
        .unwrap_or_else(|| panic!("{tag} missing"));
    match &f.value {
        exif::Value::Ascii(v) => String::from_utf8_lossy(&v[0]).into_owned(),
        v => panic!("{tag}: not ASCII: {v:?}"),
    }
}

fn check_still_exif(bytes: &[u8], kind: Kind) {
    use exif::Tag;
    let ex = exif_fields(bytes);
    assert_eq!(ascii(&ex, Tag::Make), "Apple");
    assert_eq!(ascii(&ex, Tag::Model), "iPhone 13 Pro");
    assert_eq!(ascii(&ex, Tag::DateTimeOriginal), "2023:07:14 18:22:05");
    assert_eq!(ascii(&ex, Tag::DateTimeDigitized), "2023:07:14 18:22:06");
    assert_eq!(ascii(&ex, Tag::DateTime), "2023:07:14 18:22:07");
    assert_eq!(ascii(&ex, Tag::OffsetTimeOriginal), "+02:00");
    assert_eq!(ascii(&ex, Tag::OffsetTimeDigitized), "+02:00");
    assert_eq!(ascii(&ex, Tag::OffsetTime), "+02:00");
    assert_eq!(ascii(&ex, Tag::SubSecTimeOriginal), "042");
    assert_eq!(ascii(&ex, Tag::GPSDateStamp), "2023:07:14");
    let ts = ex
        .get_field(Tag::GPSTimeStamp, exif::In::PRIMARY)
        .expect("GPSTimeStamp");
    assert_eq!(ts.display_value().to_string(), "16:22:05");
    let mn = ex
        .get_field(Tag::MakerNote, exif::In::PRIMARY)
        .expect("MakerNote");
    match &mn.value {
        exif::Value::Undefined(b, _) => assert!(b.starts_with(b"Apple iOS\0\0\x01MM")),
        v => panic!("MakerNote: {v:?}"),
    }
    let info = read_media_info(&mut Cursor::new(bytes), kind, &DateOptions::default());
    let c = info.capture.expect("camroll reads a capture time");
    assert_eq!(c.display(), "2023-07-14T18:22:05+02:00");
    assert_eq!(c.source, DateSource::ExifDateTimeOriginal);
    assert_eq!(c.offset_source, OffsetSource::Recorded);
    assert_eq!(
        info.content_identifier.as_deref(),
        Some("8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B"),
        "camroll reads the MakerNote ContentIdentifier"
    );
}

fn check_exiftool_still(path: &Path) {
    let j = exiftool_json(
        path,
        &[
            "-Make",
            "-Model",
            "-DateTimeOriginal",
            "-SubSecTimeOriginal",
            "-OffsetTimeOriginal",
            "-CreateDate",
            "-ModifyDate",
            "-GPSDateTime",
            "-MediaGroupUUID",
            "-ContentIdentifier",
            "-SubSecDateTimeOriginal",
        ],
    );
    assert_eq!(j["Make"], "Apple", "{j}");
    assert_eq!(j["Model"], "iPhone 13 Pro");
    assert_eq!(j["DateTimeOriginal"], "2023:07:14 18:22:05");
    // exiftool's JSON keeps the leading zero of "042" as a string (a number without one).
    assert!(
        j["SubSecTimeOriginal"] == 42 || j["SubSecTimeOriginal"] == "042",
        "{}",
        j["SubSecTimeOriginal"]
    );
    assert_eq!(j["OffsetTimeOriginal"], "+02:00");
    assert_eq!(j["CreateDate"], "2023:07:14 18:22:06");
    assert_eq!(j["ModifyDate"], "2023:07:14 18:22:07");
    assert_eq!(j["GPSDateTime"], "2023:07:14 16:22:05Z");
    assert_eq!(j["SubSecDateTimeOriginal"], "2023:07:14 18:22:05.042+02:00");
    // exiftool ≥ 12.19 names Apple MakerNote tag 0x11 MediaGroupUUID (ContentIdentifier before).
    let id = if j["MediaGroupUUID"].is_string() {
        &j["MediaGroupUUID"]
    } else {
        &j["ContentIdentifier"]
    };
    assert_eq!(id, "8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B", "{j}");
    assert_exiftool_validates(path);
}

/// `exiftool -validate`: structure and required tags are as the specs want.
fn assert_exiftool_validates(path: &Path) {
    let w = exiftool_json(path, &["-validate", "-Warning", "-Error"]);
    // Padding segments (APP15) are "unknown" to exiftool: a minor warning, not a defect.
    let verdict = w["Validate"].as_str().unwrap_or("");
    let only_padding = verdict.ends_with("(all minor)")
        && w["Warning"]
            .as_str()
            .is_some_and(|m| m.contains("Unknown APP15"));
    assert!(
        verdict == "OK" || only_padding,
        "exiftool -validate complains: {w}"
    );
    assert!(w.get("Error").is_none(), "exiftool complains: {w}");
}

#[test]
fn jpeg_decodes_and_its_exif_reads_back_exactly() {
    let bytes = synth::jpeg(&full_still());
    let img =
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).expect("decodes");
    assert_eq!((img.width(), img.height()), (64, 48));
    check_still_exif(&bytes, Kind::Jpeg);
    if have("exiftool") {
        let dir = tempfile::tempdir().unwrap();
        check_exiftool_still(&write_temp(dir.path(), "a.jpg", &bytes));
    }
}

#[test]
fn jpeg_without_metadata_has_no_exif_and_seeds_change_the_picture() {
    let bare = synth::jpeg(&StillSpec::bare(1));
    image::load_from_memory(&bare).expect("decodes");
    assert!(exif::Reader::new()
        .read_from_container(&mut Cursor::new(&bare))
        .is_err());
    let info = read_media_info(&mut Cursor::new(&bare), Kind::Jpeg, &DateOptions::default());
    assert!(info.capture.is_none());
    assert_ne!(bare, synth::jpeg(&StillSpec::bare(2)));
    assert_eq!(bare, synth::jpeg(&StillSpec::bare(1)), "deterministic");
    let big = synth::jpeg(&StillSpec {
        width: 640,
        height: 480,
        ..StillSpec::bare(3)
    });
    let img = image::load_from_memory(&big).unwrap();
    assert_eq!((img.width(), img.height()), (640, 480));
}

#[test]
fn exif_without_offset_or_content_id_leaves_them_out() {
    let spec = StillSpec::iphone(1, "iPhone 8", dt(2019, 6, 9, 12, 57, 32), None);
    let bytes = synth::jpeg(&spec);
    let ex = exif_fields(&bytes);
    assert!(ex
        .get_field(exif::Tag::OffsetTimeOriginal, exif::In::PRIMARY)
        .is_none());
    assert!(ex
        .get_field(exif::Tag::MakerNote, exif::In::PRIMARY)
        .is_none());
    assert!(ex
        .get_field(exif::Tag::GPSDateStamp, exif::In::PRIMARY)
        .is_none());
    let c = read_media_info(
        &mut Cursor::new(&bytes),
        Kind::Jpeg,
        &DateOptions::default(),
    )
    .capture
    .unwrap();
    assert_eq!(c.display(), "2019-06-09T12:57:32");
    assert_eq!(c.offset_source, OffsetSource::Unknown);
}

#[test]
fn heic_decodes_with_libheif_and_its_exif_reads_back_exactly() {
    let bytes = synth::heic(&full_still());
    assert_eq!(
        camroll::media::sniff(&bytes[..64], Some("HEIC")),
        Some(Kind::Heif)
    );
    let lib = libheif_rs::LibHeif::new();
    let ctx = libheif_rs::HeifContext::read_from_bytes(&bytes).expect("libheif parses");
    let handle = ctx.primary_image_handle().expect("primary image");
    assert_eq!((handle.width(), handle.height()), (64, 48));
    let mut ids = vec![0; 2];
    assert_eq!(
        handle.metadata_block_ids(&mut ids, b"Exif"),
        1,
        "the Exif item is linked to the image"
    );
    let img = lib
        .decode(
            &handle,
            libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
            None,
        )
        .expect("libheif decodes the HEVC image");
    assert_eq!((img.width(), img.height()), (64, 48));
    let plane = img.planes().interleaved.expect("interleaved RGB");
    // The template is not a flat picture: decoded pixels vary.
    let first = &plane.data[..3];
    assert!(plane.data.chunks(3).take(48 * 64).any(|p| p != first));
    check_still_exif(&bytes, Kind::Heif);
    if have("exiftool") {
        let dir = tempfile::tempdir().unwrap();
        check_exiftool_still(&write_temp(dir.path(), "a.heic", &bytes));
    }
}

#[test]
fn heic_without_metadata_decodes_and_items_differ_by_seed() {
    let bare = synth::heic(&StillSpec::bare(5));
    let lib = libheif_rs::LibHeif::new();
    let ctx = libheif_rs::HeifContext::read_from_bytes(&bare).unwrap();
    let handle = ctx.primary_image_handle().unwrap();
    let mut ids = vec![0; 2];
    assert_eq!(handle.metadata_block_ids(&mut ids, b"Exif"), 0);
    lib.decode(
        &handle,
        libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
        None,
    )
    .unwrap();
    // Seeds 1 and 5 share a template; the files still differ.
    assert_ne!(bare, synth::heic(&StillSpec::bare(1)));
    assert_eq!(bare, synth::heic(&StillSpec::bare(5)));
}

#[test]
fn png_decodes_with_exif_and_xmp_dates() {
    let when = off(-5).with_ymd_and_hms(2023, 12, 31, 23, 30, 0).unwrap();
    let spec = PngSpec {
        exif: Some(StillSpec {
            taken: Some(when.naive_local()),
            offset: Some(off(-5)),
            ..StillSpec::bare(0)
        }),
        xmp_date: Some(when),
        ..PngSpec::bare(9)
    };
    let bytes = synth::png(&spec);
    let img =
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("decodes");
    assert_eq!((img.width(), img.height()), (64, 48));
    let ex = exif_fields(&bytes);
    assert_eq!(
        ascii(&ex, exif::Tag::DateTimeOriginal),
        "2023:12:31 23:30:00"
    );
    assert_eq!(ascii(&ex, exif::Tag::OffsetTimeOriginal), "-05:00");
    let plain = synth::png(&PngSpec::bare(9));
    image::load_from_memory(&plain).unwrap();
    assert!(exif::Reader::new()
        .read_from_container(&mut Cursor::new(&plain))
        .is_err());
    if have("exiftool") {
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(dir.path(), "s.png", &bytes);
        let j = exiftool_json(
            &p,
            &[
                "-DateTimeOriginal",
                "-OffsetTimeOriginal",
                "-XMP:DateCreated",
                "-XMP:CreateDate",
                "-Warning",
            ],
        );
        assert_eq!(j["DateTimeOriginal"], "2023:12:31 23:30:00", "{j}");
        assert_eq!(j["OffsetTimeOriginal"], "-05:00");
        assert_eq!(j["DateCreated"], "2023:12:31 23:30:00-05:00");
        assert_eq!(j["CreateDate"], "2023:12:31 23:30:00-05:00");
        assert!(j.get("Warning").is_none(), "{j}");
        assert_exiftool_validates(&p);
    }
}

#[test]
fn aae_is_an_apple_adjustments_plist() {
    let ts = Utc.with_ymd_and_hms(2023, 2, 1, 8, 0, 5).unwrap();
    let bytes = synth::aae(&AaeSpec::new(3, ts));
    assert!(bytes.starts_with(b"<?xml"));
    assert_eq!(
        camroll::media::sniff(&bytes[..64], Some("AAE")),
        Some(Kind::Aae)
    );
    let v: plist::Value = plist::from_bytes(&bytes).expect("plist parses");
    let d = v.as_dictionary().unwrap();
    assert_eq!(
        d["adjustmentFormatIdentifier"].as_string(),
        Some("com.apple.photo")
    );
    assert_eq!(d["adjustmentFormatVersion"].as_string(), Some("1.5"));
    let date = d["adjustmentTimestamp"].as_date().unwrap();
    assert_eq!(DateTime::<Utc>::from(std::time::SystemTime::from(date)), ts);
    // adjustmentData: raw DEFLATE (stored blocks) of the edits as JSON, as Photos writes it.
    let data = d["adjustmentData"].as_data().unwrap();
    assert_eq!(data[0], 1, "one final stored block");
    let len = u16::from_le_bytes([data[1], data[2]]) as usize;
    assert_eq!(!u16::from_le_bytes([data[3], data[4]]) as usize, len);
    assert_eq!(data.len(), 5 + len);
    let inner: serde_json::Value = serde_json::from_slice(&data[5..]).expect("inner JSON");
    assert_eq!(inner["formatVersion"], 1);
    assert_eq!(inner["metadata"]["masterWidth"], 4032);
    assert!(inner["adjustments"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    let python = Command::new("python3")
        .arg("-c")
        .arg("pass")
        .output()
        .is_ok_and(|o| o.status.success());
    if skip_unless(python, "the zlib cross-check: python3 not installed") {
        // A real inflater agrees (python's zlib, raw deflate).
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(dir.path(), "IMG_0001.AAE", &bytes);
        let out = Command::new("python3")
            .arg("-c")
            .arg("import plistlib,zlib,sys,json; d=plistlib.load(open(sys.argv[1],'rb')); print(json.loads(zlib.decompress(d['adjustmentData'],-15))['formatVersion'])")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_ne!(bytes, synth::aae(&AaeSpec::new(4, ts)));
}

fn live_movie(lead: MovieLead) -> VideoSpec {
    let taken = off(2).with_ymd_and_hms(2023, 7, 14, 18, 22, 5).unwrap();
    VideoSpec {
        lead,
        content_identifier: Some("8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B".into()),
        ..VideoSpec::iphone(11, "iPhone 13 Pro", taken)
    }
}

/// ffprobe's JSON for a file, asserting it opens and has one 64x48 video stream.
fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["streams"][0]["codec_type"], "video", "{v}");
    assert_eq!(v["streams"][0]["width"], 64);
    assert_eq!(v["streams"][0]["height"], 48);
    v
}

/// Decodes every frame with ffmpeg (when present): real samples at the offsets the moov names.
fn ffmpeg_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mov_reads_back_creationdate_offset_and_content_identifier() {
    for lead in [MovieLead::Ftyp, MovieLead::Wide, MovieLead::Mdat] {
        let bytes = synth::mov(&live_movie(lead));
        match lead {
            MovieLead::Ftyp => assert_eq!(&bytes[4..12], b"ftypqt  "),
            MovieLead::Wide => assert_eq!(&bytes[4..8], b"wide"),
            MovieLead::Mdat => assert_eq!(&bytes[4..8], b"mdat"),
        }
        assert_eq!(
            camroll::media::sniff(&bytes[..64], Some("MOV")),
            Some(Kind::QuickTime)
        );
        let info = read_media_info(
            &mut Cursor::new(&bytes),
            Kind::QuickTime,
            &DateOptions::default(),
        );
        let c = info.capture.expect("capture time");
        assert_eq!(c.display(), "2023-07-14T18:22:05+02:00");
        assert_eq!(c.source, DateSource::QuickTimeCreationDate);
        assert_eq!(
            info.content_identifier.as_deref(),
            Some("8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B")
        );
        if have("ffprobe") {
            let dir = tempfile::tempdir().unwrap();
            let p = write_temp(dir.path(), "IMG_0001.MOV", &bytes);
            let v = ffprobe(&p);
            let tags = &v["format"]["tags"];
            assert_eq!(
                tags["com.apple.quicktime.creationdate"], "2023-07-14T18:22:05+0200",
                "{v}"
            );
            assert_eq!(
                tags["com.apple.quicktime.content.identifier"],
                "8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B"
            );
            assert_eq!(tags["creation_time"], "2023-07-14T16:22:05.000000Z");
            assert_eq!(v["streams"][0]["codec_name"], "hevc");
            ffmpeg_decodes(&p);
            if lead == MovieLead::Ftyp && have("exiftool") {
                let j = exiftool_json(
                    &p,
                    &[
                        "-api",
                        "QuickTimeUTC",
                        "-CreationDate",
                        "-ContentIdentifier",
                        "-CreateDate",
                        "-TrackCreateDate",
                        "-MediaCreateDate",
                        "-Warning",
                    ],
                );
                assert_eq!(j["CreationDate"], "2023:07:14 18:22:05+02:00", "{j}");
                assert_eq!(
                    j["ContentIdentifier"],
                    "8D3F2C1A-4B5E-4F60-9A7B-1C2D3E4F5A6B"
                );
                // QuickTimeUTC: header times are UTC, shown in exiftool's zone (TZ=UTC above).
                assert_eq!(j["CreateDate"], "2023:07:14 16:22:05+00:00", "{j}");
                assert_eq!(j["TrackCreateDate"], "2023:07:14 16:22:05+00:00");
                assert_eq!(j["MediaCreateDate"], "2023:07:14 16:22:05+00:00");
                assert!(j.get("Warning").is_none(), "{j}");
                assert_exiftool_validates(&p);
            }
        }
    }
}

#[test]
fn mp4_has_mvhd_time_only_and_opens() {
    let when = Utc.with_ymd_and_hms(2022, 8, 15, 12, 0, 0).unwrap();
    let spec = VideoSpec {
        created_utc: Some(when),
        ..VideoSpec::bare(2)
    };
    let bytes = synth::mp4(&spec);
    assert_eq!(&bytes[4..12], b"ftypmp42");
    assert_eq!(
        camroll::media::sniff(&bytes[..64], Some("MP4")),
        Some(Kind::Mp4)
    );
    let opts = DateOptions {
        timezone: Some(camroll::media::date::Zone::Fixed(off(0))),
    };
    let info = read_media_info(&mut Cursor::new(&bytes), Kind::Mp4, &opts);
    let c = info.capture.expect("mvhd time");
    assert_eq!(c.source, DateSource::QuickTimeMvhd);
    assert_eq!(c.display(), "2022-08-15T12:00:00+00:00");
    assert!(info.content_identifier.is_none());
    if have("ffprobe") {
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(dir.path(), "clip.mp4", &bytes);
        let v = ffprobe(&p);
        assert_eq!(
            v["format"]["tags"]["creation_time"], "2022-08-15T12:00:00.000000Z",
            "{v}"
        );
        assert!(v["format"]["tags"]
            .get("com.apple.quicktime.creationdate")
            .is_none());
        assert_eq!(v["format"]["tags"]["major_brand"], "mp42");
        assert_eq!(v["streams"][0]["codec_name"], "h264");
        ffmpeg_decodes(&p);
        if have("exiftool") {
            assert_exiftool_validates(&p);
        }
    }
}

#[test]
fn movies_differ_by_seed_and_bare_movies_have_no_date() {
    let a = synth::mov(&VideoSpec::bare(1));
    assert_ne!(a, synth::mov(&VideoSpec::bare(2)));
    assert_eq!(a, synth::mov(&VideoSpec::bare(1)));
    let info = read_media_info(
        &mut Cursor::new(&a),
        Kind::QuickTime,
        &DateOptions::default(),
    );
    assert!(info.capture.is_none(), "zero mvhd time is no date");
}

#[test]
fn padded_movie_reaches_the_exact_size_in_memory_and_sparse_on_disk() {
    let spec = VideoSpec {
        size_target: Some(200_000),
        ..live_movie(MovieLead::Ftyp)
    };
    let bytes = synth::mov(&spec);
    assert_eq!(bytes.len(), 200_000);
    let info = read_media_info(
        &mut Cursor::new(&bytes),
        Kind::QuickTime,
        &DateOptions::default(),
    );
    assert_eq!(info.capture.unwrap().display(), "2023-07-14T18:22:05+02:00");

    // Beyond 4 GiB: a 64-bit `free` box, written with a seek (no 4 GiB buffer).
    let target = (4u64 << 30) + 12_345;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("BIG.MOV");
    let mut f = std::fs::File::create(&path).unwrap();
    let spec = VideoSpec {
        size_target: Some(target),
        ..live_movie(MovieLead::Wide)
    };
    let n = synth::write_video(&mut f, VideoContainer::QuickTime, &spec).unwrap();
    drop(f);
    assert_eq!(n, target);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), target);
    {
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(&path).unwrap().blocks();
        assert!(blocks * 512 < 1 << 20, "sparse: {blocks} blocks allocated");
    }
    let mut f = std::fs::File::open(&path).unwrap();
    let info = read_media_info(&mut f, Kind::QuickTime, &DateOptions::default());
    assert_eq!(info.capture.unwrap().display(), "2023-07-14T18:22:05+02:00");
    if have("ffprobe") {
        let v = ffprobe(&path);
        assert_eq!(v["format"]["size"], target.to_string());
        ffmpeg_decodes(&path);
    }
}

#[test]
fn stills_pad_to_an_exact_size_and_still_decode() {
    for target in [150_000u64, 3_000_000, 65_537 * 3 + 2_000] {
        let spec = StillSpec {
            size_target: Some(target),
            ..full_still()
        };
        let j = synth::jpeg(&spec);
        assert_eq!(j.len() as u64, target);
        let img = image::load_from_memory_with_format(&j, image::ImageFormat::Jpeg)
            .expect("padded JPEG decodes");
        assert_eq!((img.width(), img.height()), (64, 48));
        check_still_exif(&j, Kind::Jpeg);
        let h = synth::heic(&spec);
        assert_eq!(h.len() as u64, target);
        let ctx = libheif_rs::HeifContext::read_from_bytes(&h).expect("padded HEIC parses");
        let handle = ctx.primary_image_handle().unwrap();
        libheif_rs::LibHeif::new()
            .decode(
                &handle,
                libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
                None,
            )
            .expect("padded HEIC decodes");
        check_still_exif(&h, Kind::Heif);
        if target == 150_000 && have("exiftool") {
            let dir = tempfile::tempdir().unwrap();
            check_exiftool_still(&write_temp(dir.path(), "p.jpg", &j));
            check_exiftool_still(&write_temp(dir.path(), "p.heic", &h));
        }
    }
    // Too small a target is ignored rather than producing a broken file.
    let natural = synth::jpeg(&full_still()).len() as u64;
    assert_eq!(
        synth::jpeg(&StillSpec {
            size_target: Some(natural + 3),
            ..full_still()
        })
        .len() as u64,
        natural
    );
}

#[test]
fn uuids_from_seeds_are_stable_and_well_formed() {
    let a = synth::uuid_from_seed(1);
    assert_eq!(a, synth::uuid_from_seed(1));
    assert_ne!(a, synth::uuid_from_seed(2));
    let parts: Vec<&str> = a.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(a
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert!(parts[2].starts_with('4'));
}

/// Top-level boxes of a movie: (type, payload start, end). Panics unless they tile the file exactly.
fn top_level_boxes(b: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < b.len() {
        let size32 = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        let ty: [u8; 4] = b[pos + 4..pos + 8].try_into().unwrap();
        let (size, hdr) = if size32 == 1 {
            (
                u64::from_be_bytes(b[pos + 8..pos + 16].try_into().unwrap()) as usize,
                16,
            )
        } else {
            (size32, 8)
        };
        assert!(
            size >= hdr && pos + size <= b.len(),
            "box {:?} at {pos} overruns the file",
            String::from_utf8_lossy(&ty)
        );
        out.push((ty, pos + hdr, pos + size));
        pos += size;
    }
    out
}

/// Every `stco` chunk offset, found by walking moov/trak/mdia/minf/stbl.
fn chunk_offsets(b: &[u8], start: usize, end: usize, out: &mut Vec<u64>) {
    let mut pos = start;
    while pos + 8 <= end {
        let size = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        let ty = &b[pos + 4..pos + 8];
        assert!(size >= 8 && pos + size <= end);
        match ty {
            b"trak" | b"mdia" | b"minf" | b"stbl" => chunk_offsets(b, pos + 8, pos + size, out),
            b"stco" => {
                let n = u32::from_be_bytes(b[pos + 12..pos + 16].try_into().unwrap()) as usize;
                for i in 0..n {
                    let p = pos + 16 + 4 * i;
                    out.push(u32::from_be_bytes(b[p..p + 4].try_into().unwrap()) as u64);
                }
            }
            _ => {}
        }
        pos += size;
    }
}

#[test]
fn movie_structure_is_consistent_for_every_lead_and_container() {
    let specs = [
        (VideoContainer::QuickTime, live_movie(MovieLead::Ftyp)),
        (VideoContainer::QuickTime, live_movie(MovieLead::Wide)),
        (
            VideoContainer::QuickTime,
            VideoSpec {
                size_target: Some(100_000),
                ..live_movie(MovieLead::Mdat)
            },
        ),
        (VideoContainer::Mp4, VideoSpec::bare(3)),
    ];
    for (container, spec) in specs {
        let mut c = Cursor::new(Vec::new());
        let n = synth::write_video(&mut c, container, &spec).unwrap();
        let b = c.into_inner();
        assert_eq!(n as usize, b.len());
        let boxes = top_level_boxes(&b);
        let names: Vec<String> = boxes
            .iter()
            .map(|(t, _, _)| String::from_utf8_lossy(t).into_owned())
            .collect();
        let (_, mdat_start, mdat_end) = *boxes.iter().find(|(t, _, _)| t == b"mdat").expect("mdat");
        let (_, moov_start, moov_end) = *boxes.iter().find(|(t, _, _)| t == b"moov").expect("moov");
        assert_eq!(names.last().map(String::as_str), Some("moov"), "{names:?}");
        let mut offsets = Vec::new();
        chunk_offsets(&b, moov_start, moov_end, &mut offsets);
        assert!(!offsets.is_empty());
        for o in offsets {
            assert!(
                (mdat_start as u64..mdat_end as u64).contains(&o),
                "chunk offset {o} outside mdat {mdat_start}..{mdat_end} ({names:?})"
            );
        }
    }
}
