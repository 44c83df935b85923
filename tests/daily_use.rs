//! What every good command-line tool has: completions and man pages generated
//! from the CLI, a version that names the commit, and a config file that
//! remembers archives and defaults (flags override it; a bad line is named).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

fn stdout_of(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "camroll {args:?}: {err}");
    out
}

/// Runs `shell check_flags script` on the generated completion script.
fn parses(shell: &str, check: &[&str], script: &str) {
    let Some(bin) = tool(shell) else { return };
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(format!("camroll.{shell}"));
    std::fs::write(&f, script).unwrap();
    let out = Command::new(bin).args(check).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{shell} rejects the script: {}",
        text(&out)
    );
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let bash = stdout_of(&["completions", "bash"]);
    assert!(
        bash.contains("camroll") && bash.contains("export"),
        "{bash}"
    );
    parses("bash", &["-n"], &bash);
    parses("zsh", &["-n"], &stdout_of(&["completions", "zsh"]));
    parses(
        "fish",
        &["--no-execute"],
        &stdout_of(&["completions", "fish"]),
    );
    for shell in ["powershell", "elvish"] {
        assert!(stdout_of(&["completions", shell]).contains("camroll"));
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

/// `man -l` renders the page without warnings and shows `want`.
fn renders(page: &str, want: &str) {
    let Some(man) = tool("man") else { return };
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("page.1");
    std::fs::write(&f, page).unwrap();
    let out = Command::new(man)
        .arg("-l")
        .arg(&f)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "man -l fails: {}", text(&out));
    assert!(shown.contains(want), "{want:?} not in:\n{shown}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("warning"), "groff warns: {err}");
}

#[test]
fn man_pages_render_for_camroll_and_each_subcommand() {
    let main = stdout_of(&["man"]);
    assert!(
        main.starts_with(".ie") || main.contains(".TH camroll"),
        "{main}"
    );
    renders(&main, "camroll-export(1)");
    let export = stdout_of(&["man", "export"]);
    assert!(export.contains(".TH camroll-export"), "{export}");
    renders(&export, "--timezone");
    let (code, _, err) = run(&["man", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("export"), "names the pages that exist: {err}");
    let dir = tempfile::tempdir().unwrap();
    let listed = stdout_of(&["man", "--out-dir", &s(dir.path())]);
    for page in [
        "camroll.1",
        "camroll-export.1",
        "camroll-watch.1",
        "camroll-config.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}: {listed}");
    }
    assert!(!dir.path().join("camroll-help.1").exists());
}

#[test]
fn the_version_names_the_commit_in_a_checkout() {
    let v = stdout_of(&["--version"]);
    assert!(
        v.starts_with(&format!("camroll {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
    let in_git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    if let Some(o) = in_git {
        let head = String::from_utf8_lossy(&o.stdout).trim().to_string();
        // The binary may predate the newest commit; it names a real one all the same.
        let named = v.split("commit ").nth(1).and_then(|r| r.split(',').next());
        let named = named.unwrap_or_else(|| panic!("no commit in {v:?} (HEAD is {head})"));
        let known = Command::new("git")
            .args(["cat-file", "-e", &format!("{named}^{{commit}}")])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(known.success(), "{v:?} names no commit of this checkout");
    }
}

/// camroll with its config file at `cfg`.
fn with_config(cfg: &Path) -> Command {
    let mut c = camroll();
    c.env("CAMROLL_CONFIG", cfg);
    c
}

fn show(cfg: &Path, extra: &[&str]) -> Value {
    let (code, v, err) = output_json(
        with_config(cfg)
            .args(["config", "show", "--json"])
            .args(extra),
    );
    assert_eq!(code, 0, "{err}");
    v
}

#[test]
fn the_config_file_supplies_archives_and_defaults() {
    let r = Roll::new();
    r.photo("a.jpg", 1, dt(2023, 7, 14, 10, 0, 0), 2);
    let (a, b) = (r.at("A"), r.at("B"));
    let cfg = r.at("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "# mine\narchives = [{:?}, {:?}]\ntimezone = \"Europe/Paris\"\njobs = 3\nsidecars = \"xmp\"\n",
            s(&a),
            s(&b)
        ),
    )
    .unwrap();
    // export, verify and check with no archive named use the file's.
    let out = with_config(&cfg)
        .args(["export", "--from"])
        .arg(&r.src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(archived_files(&a).len(), 1);
    assert_eq!(archived_files(&b).len(), 1);
    let out = with_config(&cfg).arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = with_config(&cfg)
        .args(["check", "--from"])
        .arg(&r.src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = show(&cfg, &[]);
    assert_eq!(v["config_file"], s(&cfg));
    assert_eq!(v["archives"]["value"], serde_json::json!([s(&a), s(&b)]));
    assert_eq!(v["archives"]["from"], "config_file");
    assert_eq!(v["timezone"]["value"], "Europe/Paris");
    assert_eq!(
        (v["jobs"]["value"].as_u64(), v["jobs"]["from"].as_str()),
        (Some(3), Some("config_file"))
    );
    assert_eq!(v["sidecars"]["value"], "xmp");
    let human = with_config(&cfg).args(["config", "show"]).output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("Europe/Paris") && human.contains(&format!("config file {}", s(&cfg))),
        "{human}"
    );
}

#[test]
fn flags_override_the_config_file() {
    let r = Roll::new();
    r.photo("a.jpg", 1, dt(2023, 7, 14, 10, 0, 0), 2);
    let (a, c) = (r.at("A"), r.at("C"));
    let cfg = r.at("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "archives = [{:?}]\ntimezone = \"+05:30\"\njobs = 3\n",
            s(&a)
        ),
    )
    .unwrap();
    let out = with_config(&cfg)
        .args(["export", "--from"])
        .arg(&r.src)
        .arg("--to")
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!a.exists(), "--to replaces the config's archives");
    assert_eq!(archived_files(&c).len(), 1);
    let v = show(&cfg, &["--to", "/x", "--timezone", "-05:00", "--jobs", "1"]);
    for (k, val) in [("timezone", "-05:00"), ("jobs", "1")] {
        assert_eq!(v[k]["from"], "flag", "{k}");
        assert_eq!(v[k]["value"].to_string().trim_matches('"'), val, "{k}");
    }
    assert_eq!(v["archives"]["value"], serde_json::json!(["/x"]));
    // The config's zone applies where no flag is given (inspect of a UTC-only movie).
    let v = show(&cfg, &[]);
    assert_eq!(v["timezone"]["value"], "+05:30");
}

#[test]
fn a_bad_config_line_is_named_and_nothing_runs() {
    let r = Roll::new();
    r.photo("a.jpg", 1, dt(2023, 7, 14, 10, 0, 0), 2);
    let cfg = r.at("config.toml");
    for (body, line, what) in [
        (
            "jobs = 2\n\ntimezone = \"Mars/Base\"\n",
            3,
            "not a time zone",
        ),
        ("archives = [\"/a\"]\narchivez = 1\n", 2, "unknown field"),
        ("jobs = 2\njobs = [\n", 2, ""),
    ] {
        std::fs::write(&cfg, body).unwrap();
        let out = with_config(&cfg)
            .args(["export", "--from"])
            .arg(&r.src)
            .arg("--to")
            .arg(r.at("A"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body:?}: {err}");
        assert!(
            err.contains(&format!("{}:{line}: ", s(&cfg))),
            "{body:?}: {err}"
        );
        assert!(err.contains(what), "{body:?}: {err}");
        assert!(!r.at("A").exists());
        let out = with_config(&cfg).args(["config", "show"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn without_archives_in_flags_or_config_the_error_says_how_to_give_them() {
    let r = Roll::new();
    r.photo("a.jpg", 1, dt(2023, 7, 14, 10, 0, 0), 2);
    for args in [
        vec!["export", "--from", &s(&r.src)],
        vec!["verify"],
        vec!["check", "--from", &s(&r.src)],
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("no archive given") && err.contains("archives = ["),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_config_file_is_found_under_xdg_config_home() {
    let d = tempfile::tempdir().unwrap();
    let xdg = d.path().join("xdg");
    std::fs::create_dir_all(xdg.join("camroll")).unwrap();
    std::fs::write(xdg.join("camroll/config.toml"), "jobs = 5\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "show", "--json"])
        .env_remove("CAMROLL_CONFIG")
        .env("XDG_CONFIG_HOME", &xdg)
        .env("HOME", d.path().join("home"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config_file"], s(&xdg.join("camroll/config.toml")));
    assert_eq!(v["jobs"]["value"], 5);
    // Without XDG_CONFIG_HOME: ~/.config/camroll/config.toml.
    let out = Command::new(BIN)
        .args(["config", "path"])
        .env_remove("CAMROLL_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", d.path().join("home"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        s(&d.path().join("home/.config/camroll/config.toml"))
    );
}

#[test]
fn the_config_time_zone_applies_when_no_flag_is_given() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    std::fs::write(&cfg, "timezone = \"Asia/Kolkata\"\n").unwrap();
    // A movie with only its UTC header time: 2023-12-31T23:30:00Z.
    let spec = camroll_sim::synth::VideoSpec {
        created_utc: chrono::DateTime::from_timestamp(1_704_065_400, 0),
        ..camroll_sim::synth::VideoSpec::bare(1)
    };
    std::fs::write(d.path().join("clip.mov"), camroll_sim::synth::mov(&spec)).unwrap();
    let (code, v, err) = output_json(
        with_config(&cfg)
            .current_dir(d.path())
            .args(["inspect", "--json", "clip.mov"]),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["files"][0]["capture"]["offset_seconds"], 19800);
    assert_eq!(v["files"][0]["folder"], "2024/01");
}
