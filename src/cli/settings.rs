//! Settings that flags override and the config file supplies (`camroll::config`):
//! each value with where it came from, for the commands and `camroll config show`.

use std::path::PathBuf;

use serde::Serialize;

use camroll::config::{self, Config};

/// Where an effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// The config file.
    ConfigFile,
    /// camroll's built-in default.
    Default,
}

impl Origin {
    /// In words, for `config show`.
    pub fn text(self, cfg: &Config) -> String {
        match self {
            Origin::Flag => "flag".into(),
            Origin::ConfigFile => match &cfg.path {
                Some(p) => format!("config file {}", p.display()),
                None => "config file".into(),
            },
            Origin::Default => "default".into(),
        }
    }
}

/// The flag's value, else the config file's.
pub fn pick<T>(flag: Option<T>, file: Option<T>) -> (Option<T>, Origin) {
    match (flag, file) {
        (Some(v), _) => (Some(v), Origin::Flag),
        (None, Some(v)) => (Some(v), Origin::ConfigFile),
        (None, None) => (None, Origin::Default),
    }
}

/// Loads the config file; its errors already name the file and line.
pub fn load() -> anyhow::Result<Config> {
    Ok(config::load()?)
}

/// The archives named on the command line, else the config file's; an error
/// saying how to give some when neither has any.
pub fn archives(given: Vec<PathBuf>, cfg: &Config, how: &str) -> anyhow::Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given);
    }
    if !cfg.archives.is_empty() {
        return Ok(cfg.archives.clone());
    }
    let file = config::location()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "the config file".into());
    anyhow::bail!("no archive given: {how}, or set archives = [\"/path/to/archive\"] in {file}")
}
