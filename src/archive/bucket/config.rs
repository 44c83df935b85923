//! Where a bucket's endpoint, region and keys come from: the AWS conventions
//! only. Environment variables first (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, read by
//! `object_store`'s `AmazonS3Builder::from_env`), then the profile
//! (`AWS_PROFILE`, else `default`) in `~/.aws/credentials` and `~/.aws/config`
//! (or `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`) for what the
//! environment did not set, as the AWS CLI does.
//!
//! The profile files are INI. `object_store` does not read them, and camroll
//! needs five keys of two sections, so the few lines below parse them by hand
//! rather than pulling in an INI crate (comments, `[section]`, `key = value`).

use std::collections::HashMap;
use std::path::PathBuf;

/// What the profile files say for one profile (only the keys camroll uses).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `aws_access_key_id`
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key` (never printed)
    pub secret_access_key: Option<String>,
    /// `aws_session_token` (never printed)
    pub session_token: Option<String>,
    /// `region`
    pub region: Option<String>,
    /// `endpoint_url`
    pub endpoint_url: Option<String>,
}

/// The section `name` of an INI text: its `key = value` pairs, keys lower-cased.
pub fn ini_section(text: &str, name: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    // Profile files are small; a line over this is not a setting camroll needs.
    for line in text.lines().take(100_000) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == name;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

fn home_file(env: &str, default: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(default))
}

fn read_small(path: &PathBuf) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    // A profile file is a few KiB; refuse to read a huge one into memory.
    f.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The profile named by `AWS_PROFILE` (else `default`) from the shared files.
pub fn profile() -> Profile {
    let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let mut p = Profile::default();
    if let Some(text) =
        home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials").and_then(|f| read_small(&f))
    {
        let s = ini_section(&text, &name);
        p.access_key_id = s.get("aws_access_key_id").cloned();
        p.secret_access_key = s.get("aws_secret_access_key").cloned();
        p.session_token = s.get("aws_session_token").cloned();
    }
    if let Some(text) = home_file("AWS_CONFIG_FILE", "config").and_then(|f| read_small(&f)) {
        // In `config` a profile other than the default is `[profile NAME]`.
        let section = if name == "default" {
            name.clone()
        } else {
            format!("profile {name}")
        };
        let s = ini_section(&text, &section);
        p.region = s.get("region").cloned();
        p.endpoint_url = s.get("endpoint_url").cloned();
        for (k, v) in [
            ("aws_access_key_id", &mut p.access_key_id),
            ("aws_secret_access_key", &mut p.secret_access_key),
            ("aws_session_token", &mut p.session_token),
        ] {
            if v.is_none() {
                *v = s.get(k).cloned();
            }
        }
    }
    p
}

/// The endpoint in use: `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`), else
/// the profile's `endpoint_url`; `None` means AWS itself.
pub fn endpoint(profile: &Profile) -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| profile.endpoint_url.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_section() {
        let text = "# c\n[default]\naws_access_key_id = A\n[profile x]\nregion= eu-west-1\n; c\nendpoint_url =http://127.0.0.1:9000\n";
        assert_eq!(
            ini_section(text, "default")
                .get("aws_access_key_id")
                .unwrap(),
            "A"
        );
        let x = ini_section(text, "profile x");
        assert_eq!(x.get("region").unwrap(), "eu-west-1");
        assert_eq!(x.get("endpoint_url").unwrap(), "http://127.0.0.1:9000");
        assert!(ini_section(text, "nope").is_empty());
    }
}
