//! `camroll inspect FILE…`: what camroll reads from each file, and the
//! folder an export would file it in.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cli::args::{JsonArg, TimezoneArg};
use crate::cli::{print_json, EXIT_OK, EXIT_PARTIAL};
use camroll::media::date::format_offset;
use camroll::media::inspect::{inspect, Placement};
use camroll::media::{DateOptions, Role};

/// `camroll inspect FILE…`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files to inspect. Files given together are grouped as an export would
    /// group them (Live Photo pairs, sidecars, edited renders, RAW+JPEG).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub format: JsonArg,
    #[command(flatten)]
    pub timezone: TimezoneArg,
}

/// Exit 0 when every file could be read, 1 otherwise.
pub fn run(args: InspectArgs) -> anyhow::Result<u8> {
    let cfg = crate::cli::settings::load()?;
    let opts = DateOptions {
        timezone: args.timezone.timezone.or(cfg.timezone),
    };
    let placed = inspect(&args.files, &opts);
    let unreadable = placed.iter().filter(|p| p.error.is_some()).count();
    if args.format.json {
        #[derive(Serialize)]
        struct Out<'a> {
            files: &'a [Placement],
            unreadable: usize,
        }
        print_json(&Out {
            files: &placed,
            unreadable,
        })?;
    } else {
        print_text(&placed);
    }
    if unreadable > 0 {
        eprintln!("camroll inspect: {unreadable} file(s) could not be read");
        Ok(EXIT_PARTIAL)
    } else {
        Ok(EXIT_OK)
    }
}

fn print_text(placed: &[Placement]) {
    use std::io::Write;
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    for p in placed {
        let _ = writeln!(o, "{}", p.path);
        if let Some(e) = &p.error {
            let _ = writeln!(o, "  error:       {e}");
            let _ = writeln!(o);
            continue;
        }
        let kind = match (p.kind, p.class) {
            (Some(k), Some(c)) => format!("{k} ({})", format!("{c:?}").to_lowercase()),
            _ => "unknown".into(),
        };
        let _ = writeln!(o, "  kind:        {kind}");
        if let (Some(c), Some(src), Some(off)) = (&p.capture_text, p.date_source, p.offset_source) {
            let _ = writeln!(o, "  capture:     {c}");
            let _ = writeln!(o, "  date from:   {src}");
            let offset = p
                .capture
                .and_then(|c| c.offset_seconds)
                .map(format_offset)
                .unwrap_or_else(|| "none".into());
            let _ = writeln!(o, "  offset:      {offset} ({off})");
        }
        if let Some(id) = &p.content_identifier {
            let _ = writeln!(o, "  content id:  {id}");
        }
        if let Some(role) = p.role {
            let with = p
                .filed_with
                .as_deref()
                .map(|w| format!(", filed with {w}"))
                .unwrap_or_default();
            let orphan = if p.orphan {
                " (orphan: its original is not among these files)"
            } else {
                ""
            };
            let role = match role {
                Role::Primary => "primary",
                Role::LivePhotoMovie => "Live Photo movie",
                Role::Sidecar => "sidecar",
                Role::EditedRender => "edited render",
                Role::Companion => "companion (same stem: RAW + JPEG/HEIC)",
            };
            let _ = writeln!(o, "  role:        {role}{with}{orphan}");
        }
        match &p.folder {
            Some(f) => {
                let _ = writeln!(o, "  folder:      {f}");
            }
            None => {
                let _ = writeln!(o, "  folder:      (skipped)");
            }
        }
        for pr in &p.problems {
            let _ = writeln!(o, "  note:        {pr}");
        }
        let _ = writeln!(o);
    }
}
