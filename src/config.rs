//! The user's config file, `config.toml`: the archives to use when a command
//! names none, the default time zone, jobs, the sidecar mode, and the phones
//! (a friendly name each, and whether `camroll watch` archives them).
//!
//! Where it is: `$CAMROLL_CONFIG` if set; else the first that exists of
//! `$XDG_CONFIG_HOME/camroll/config.toml` (or `~/.config/camroll/config.toml`)
//! and, on macOS, `~/Library/Application Support/camroll/config.toml`; when
//! none exists, the first is where `camroll watch --enroll` writes.
//!
//! ```toml
//! archives = ["/mnt/photos-a", "~/offsite"]
//! timezone = "Europe/Paris"
//! jobs = 4
//! sidecars = "keep"
//!
//! [phones."00008030-001A2B3C4D5E6F70"]
//! name = "Anna's iPhone"
//! watch = true
//! ```
//!
//! Unknown keys are errors (a typo must not silently drop a setting), and
//! every error names the file and line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::media::date::Zone;

/// The file name inside the `camroll` config folder.
pub const FILE_NAME: &str = "config.toml";

/// What the config file says (everything optional: a missing file is an empty config).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    /// The file these settings came from; `None` when no file exists.
    pub path: Option<PathBuf>,
    /// Default archives for export, check, verify and watch.
    pub archives: Vec<PathBuf>,
    /// Default zone for UTC-only video times.
    #[serde(serialize_with = "zone_text")]
    pub timezone: Option<Zone>,
    /// Default parallel readers.
    pub jobs: Option<usize>,
    /// Sidecar mode, stored as written (read by the commands that use it).
    pub sidecars: Option<String>,
    /// Known phones by UDID.
    pub phones: BTreeMap<String, Phone>,
}

/// One phone in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// A friendly name, used in messages and accepted by `--from device:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `camroll watch` archives this phone whenever it is plugged in.
    #[serde(default)]
    pub watch: bool,
}

fn zone_text<S: serde::Serializer>(z: &Option<Zone>, s: S) -> Result<S::Ok, S::Error> {
    match z {
        Some(z) => s.serialize_some(&z.to_string()),
        None => s.serialize_none(),
    }
}

/// A config file that cannot be read, understood or written.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("{path}: cannot read the config file: {error}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file is not valid, with the line (1-based) the problem is on.
    #[error("{path}:{line}: {message}. Fix that line of the config file (or move the file away)")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be written (enrolling a phone).
    #[error("{path}: cannot write the config file: {error}")]
    Write {
        /// The config file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// No home folder to look in.
    #[error("no config folder: set HOME, XDG_CONFIG_HOME or CAMROLL_CONFIG")]
    NoHome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    archives: Option<toml::Spanned<Vec<toml::Spanned<String>>>>,
    timezone: Option<toml::Spanned<String>>,
    jobs: Option<toml::Spanned<i64>>,
    sidecars: Option<toml::Spanned<String>>,
    #[serde(default)]
    phones: BTreeMap<String, Phone>,
}

/// The places the config file is looked for, in order.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("CAMROLL_CONFIG").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let mut out = Vec::new();
    match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(x) => out.push(PathBuf::from(x).join("camroll").join(FILE_NAME)),
        None => out.extend(
            home.iter()
                .map(|h| h.join(".config").join("camroll").join(FILE_NAME)),
        ),
    }
    if cfg!(target_os = "macos") {
        out.extend(home.iter().map(|h| {
            h.join("Library/Application Support")
                .join("camroll")
                .join(FILE_NAME)
        }));
    }
    out
}

/// The config file in use: the first candidate that exists, else the first
/// candidate (where a new file would be written).
pub fn location() -> Result<PathBuf, ConfigError> {
    let all = candidates();
    all.iter()
        .find(|p| p.is_file())
        .or(all.first())
        .cloned()
        .ok_or(ConfigError::NoHome)
}

/// Loads the config file from [`location`]; no file is an empty config.
pub fn load() -> Result<Config, ConfigError> {
    match location() {
        Ok(p) => load_from(&p),
        Err(ConfigError::NoHome) => Ok(Config::default()),
        Err(e) => Err(e),
    }
}

/// Loads `path`; a missing file is an empty config.
pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
    // A folder this user may not look into (another user's HOME, as under `sudo -u`)
    // hides whether a file is there at all: that is no config, not an error. A file
    // that is there but unreadable is an error.
    if std::fs::metadata(path).is_err() {
        return Ok(Config::default());
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.into(),
                error,
            })
        }
    };
    parse(&text, path)
}

/// 1-based line of a byte offset.
fn line_of(text: &str, span: Option<Range<usize>>) -> usize {
    let at = span.map_or(0, |s| s.start.min(text.len()));
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses config text; `path` is for messages and is recorded in the result.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |span: Option<Range<usize>>, message: String| ConfigError::Invalid {
        path: path.into(),
        line: line_of(text, span),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().trim_end_matches('.').to_string();
        invalid(e.span(), msg)
    })?;
    let mut cfg = Config {
        path: Some(path.into()),
        phones: raw.phones,
        ..Config::default()
    };
    for a in raw.archives.map(|a| a.into_inner()).unwrap_or_default() {
        let span = a.span();
        let p = expand_home(a.get_ref());
        if !p.is_absolute() {
            return Err(invalid(
                Some(span),
                format!(
                    "archive {:?} is not an absolute path: write it in full, or start it with ~/",
                    a.get_ref()
                ),
            ));
        }
        cfg.archives.push(p);
    }
    if let Some(tz) = raw.timezone {
        let zone = tz
            .get_ref()
            .parse::<Zone>()
            .map_err(|e| invalid(Some(tz.span()), e.to_string()))?;
        cfg.timezone = Some(zone);
    }
    if let Some(j) = raw.jobs {
        match usize::try_from(*j.get_ref()) {
            Ok(n) if n >= 1 => cfg.jobs = Some(n),
            _ => return Err(invalid(Some(j.span()), "jobs must be at least 1".into())),
        }
    }
    if let Some(s) = raw.sidecars {
        if s.get_ref().trim().is_empty() {
            return Err(invalid(Some(s.span()), "sidecars is empty".into()));
        }
        cfg.sidecars = Some(s.into_inner());
    }
    Ok(cfg)
}

/// `~/x` → `$HOME/x`.
fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ if s == "~" => std::env::var_os("HOME").map_or_else(|| s.into(), PathBuf::from),
        _ => PathBuf::from(s),
    }
}

impl Config {
    /// The UDID a phone's configured name stands for (case-insensitive), if any.
    pub fn udid_named(&self, name: &str) -> Option<&str> {
        self.phones
            .iter()
            .find(|(_, p)| {
                p.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|(u, _)| u.as_str())
    }

    /// The UDIDs `camroll watch` archives.
    pub fn watched(&self) -> Vec<String> {
        self.phones
            .iter()
            .filter(|(_, p)| p.watch)
            .map(|(u, _)| u.clone())
            .collect()
    }
}

/// Marks the phone `udid` for `camroll watch` in the config file at `path`
/// (created with its folder if missing), keeping the file's other contents,
/// comments and layout. `name` is recorded when the phone has none yet.
pub fn enroll(path: &Path, udid: &str, name: Option<&str>) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.into(),
                error,
            })
        }
    };
    // Refuse to rewrite a file camroll cannot read: the user's error comes first.
    parse(&text, path)?;
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.into(),
                line: line_of(&text, e.span()),
                message: e.message().to_string(),
            })?;
    let phones = doc
        .entry("phones")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| ConfigError::Invalid {
            path: path.into(),
            line: 1,
            message: "phones must be a table".into(),
        })?;
    let phone = phones
        .entry(udid)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| ConfigError::Invalid {
            path: path.into(),
            line: 1,
            message: format!("phones.\"{udid}\" must be a table"),
        })?;
    if let Some(n) = name.filter(|_| !phone.contains_key("name")) {
        phone.insert("name", toml_edit::value(n));
    }
    phone.insert("watch", toml_edit::value(true));
    let write_err = |error| ConfigError::Write {
        path: path.into(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    // Write beside, then rename: a crash never leaves half a config file.
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/home/u/.config/camroll/config.toml")
    }

    #[test]
    fn a_full_file_is_read() {
        let c = parse(
            "archives = [\"/a\", \"/b\"]\ntimezone = \"Europe/Paris\"\njobs = 3\nsidecars = \"keep\"\n\
             [phones.\"0000-1\"]\nname = \"Anna\"\nwatch = true\n",
            p(),
        )
        .unwrap();
        assert_eq!(c.archives, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.timezone.unwrap().to_string(), "Europe/Paris");
        assert_eq!((c.jobs, c.sidecars.as_deref()), (Some(3), Some("keep")));
        assert_eq!(c.udid_named("anna"), Some("0000-1"));
        assert_eq!(c.watched(), ["0000-1"]);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, what) in [
            ("jobs = 2\ntimezone = \"Mars/Base\"\n", 2, "not a time zone"),
            ("\n\njobs = 0\n", 3, "at least 1"),
            (
                "archives = [\n  \"/a\",\n  \"relative\",\n]\n",
                3,
                "absolute",
            ),
            ("jobs = 2\narchive = [\"/a\"]\n", 2, "unknown field"),
            ("jobs = 2\n\njobs = = 3\n", 3, ""),
        ] {
            match parse(text, p()) {
                Err(ConfigError::Invalid {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text:?}: {message}");
                    assert!(message.contains(what), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn enrolling_keeps_comments_and_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/config.toml");
        enroll(&f, "0000-2", Some("Ben")).unwrap();
        std::fs::write(
            &f,
            format!(
                "# mine\narchives = [\"/a\"]\n{}",
                std::fs::read_to_string(&f).unwrap()
            ),
        )
        .unwrap();
        enroll(&f, "0000-3", None).unwrap();
        enroll(&f, "0000-2", Some("Other")).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("# mine\n"), "{text}");
        let c = load_from(&f).unwrap();
        assert_eq!(c.watched(), ["0000-2", "0000-3"]);
        assert_eq!(c.phones["0000-2"].name.as_deref(), Some("Ben"));
        assert_eq!(c.archives, [PathBuf::from("/a")]);
    }
}
