//! `camroll watch` against the simulated iPhone: plug, unplug, plug again
//! gives exactly two exports; a phone not enrolled is left alone; enrolling
//! writes the config file; service definitions are printed, not installed.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

/// `camroll watch …` started with its config file and the simulator's usbmuxd.
struct Watch {
    child: Child,
    /// Lines from stdout and stderr, tagged, as they come.
    lines: mpsc::Receiver<(bool, String)>,
    seen: Vec<String>,
}

impl Watch {
    fn start(cfg: &Path, addr: &str, cache: &Path, args: &[&str]) -> Watch {
        let mut child = device_camroll(addr, cache)
            .env("CAMROLL_CONFIG", cfg)
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        for (is_out, pipe) in [
            (
                true,
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            ),
            (false, Box::new(child.stderr.take().unwrap())),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send((is_out, line));
                }
            });
        }
        Watch {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `want` (stdout when `out`), up to `limit`.
    fn wait_for(&mut self, out: bool, want: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok((is_out, line)) => {
                    self.seen
                        .push(format!("{}{line}", if is_out { "out: " } else { "err: " }));
                    if is_out == out && line.contains(want) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!(
            "no {want:?} within {limit:?}; seen:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for the exit status; every remaining line is kept.
    fn finish(&mut self, limit: Duration) -> i32 {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                while let Ok((o, l)) = self.lines.recv_timeout(Duration::from_millis(300)) {
                    self.seen
                        .push(format!("{}{l}", if o { "out: " } else { "err: " }));
                }
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "watch did not exit within {limit:?}:\n{}",
                    self.seen.join("\n")
                );
            }
            while let Ok((o, l)) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen
                    .push(format!("{}{l}", if o { "out: " } else { "err: " }));
            }
        }
    }

    fn results(&self) -> Vec<&String> {
        self.seen
            .iter()
            .filter(|l| l.starts_with("out: "))
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(sim: &SimProc, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(sim.pid() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "signal the simulator");
}

/// Waits (up to 30 s) until usbmuxd lists no phone: the unplug is done.
fn wait_unplugged(sim: &SimProc) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let (code, json, err) = output_json(
            camroll()
                .env("USBMUXD_SOCKET_ADDRESS", &sim.addr)
                .args(["devices", "--json"]),
        );
        assert_eq!(code, 0, "{err}");
        if json["devices"].as_array().is_some_and(|d| d.is_empty()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the simulated phone was still listed 30 s after the unplug");
}

#[test]
fn plug_unplug_replug_gives_exactly_two_exports() {
    let dir = tempfile::tempdir().unwrap();
    let media = generate(&dir.path().join("phone"), 6, 3);
    let sim = SimProc::start(&media, &[]);
    let cache = dir.path().join("cache");
    let cfg = dir.path().join("config.toml");
    let archive = dir.path().join("archive");
    // Enrol by the phone's name: the config file records its UDID.
    let out = device_camroll(&sim.addr, &cache)
        .env("CAMROLL_CONFIG", &cfg)
        .args(["watch", "--enroll", "Camroll's iPhone"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        written.contains(&sim.udid) && written.contains("watch = true"),
        "{written}"
    );

    let mut w = Watch::start(
        &cfg,
        &sim.addr,
        &cache,
        &["--to", &s(&archive), "--exit-after", "2"],
    );
    let first = w.wait_for(true, "Camroll's iPhone:", Duration::from_secs(120));
    assert!(first.contains(" new ("), "{first}");
    let files = archived_files(&archive).len();
    assert!(files > 0, "the first export archived the roll");
    // Still plugged in: nothing more happens.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(w.results().len(), 1, "{:?}", w.seen);
    signal(&sim, libc::SIGUSR1);
    w.wait_for(false, "left", Duration::from_secs(30));
    signal(&sim, libc::SIGUSR2);
    let second = w.wait_for(true, "Camroll's iPhone:", Duration::from_secs(120));
    assert!(
        second.contains(": 0 new ("),
        "nothing new the second time: {second}"
    );
    let code = w.finish(Duration::from_secs(30));
    assert_eq!(
        w.results().len(),
        2,
        "exactly two exports:\n{}",
        w.seen.join("\n")
    );
    assert_eq!(archived_files(&archive).len(), files);
    // One archive, so one verified copy each is the bar; exit 0 only when met.
    let safe = second.contains("in 1 verified copy: safe to delete from the phone");
    assert!(safe || second.contains("NOT"), "{second}");
    assert_eq!(code, if safe { 0 } else { 1 }, "{}", w.seen.join("\n"));
}

#[test]
fn a_usbmuxd_restart_is_survived_without_archiving_the_same_plug_in_twice() {
    let dir = tempfile::tempdir().unwrap();
    let media = generate(&dir.path().join("phone"), 4, 5);
    let sock = dir.path().join("usbmuxd.sock");
    let sim = SimProc::start(&media, &["--socket", &s(&sock)]);
    let (addr, udid) = (sim.addr.clone(), sim.udid.clone());
    let cache = dir.path().join("cache");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, format!("[phones.\"{udid}\"]\nwatch = true\n")).unwrap();
    let archive = dir.path().join("archive");
    let mut w = Watch::start(
        &cfg,
        &addr,
        &cache,
        &["--to", &s(&archive), "--exit-after", "2"],
    );
    w.wait_for(true, " new (", Duration::from_secs(120));
    // usbmuxd dies (killed: its socket file stays behind) and comes back with the phone still attached.
    drop(sim);
    w.wait_for(false, "trying again", Duration::from_secs(30));
    let sim = SimProc::start(&media, &["--socket", &s(&sock)]);
    w.wait_for(false, "listening", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        w.results().len(),
        1,
        "the same plug-in is not archived again:\n{}",
        w.seen.join("\n")
    );
    // A real unplug and replug after the restart is a new plug-in.
    signal(&sim, libc::SIGUSR1);
    w.wait_for(false, "left", Duration::from_secs(30));
    signal(&sim, libc::SIGUSR2);
    w.wait_for(true, ": 0 new (", Duration::from_secs(120));
    w.finish(Duration::from_secs(30));
    assert_eq!(w.results().len(), 2, "{}", w.seen.join("\n"));
}

#[test]
fn a_phone_not_enrolled_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let media = generate(&dir.path().join("phone"), 3, 4);
    let sim = SimProc::start(&media, &[]);
    let cache = dir.path().join("cache");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[phones.\"00008030-0000000000000001\"]\nwatch = true\n",
    )
    .unwrap();
    let archive = dir.path().join("archive");
    let mut w = Watch::start(
        &cfg,
        &sim.addr,
        &cache,
        &["--to", &s(&archive), "--exit-after", "1"],
    );
    let line = w.wait_for(false, "not enrolled", Duration::from_secs(60));
    assert!(
        line.contains(&sim.udid) && line.contains("--enroll"),
        "{line}"
    );
    // Replugging it changes nothing. The simulator handles its two signals
    // on separate streams: the replug waits until the unplug has happened.
    signal(&sim, libc::SIGUSR1);
    wait_unplugged(&sim);
    signal(&sim, libc::SIGUSR2);
    w.wait_for(false, "not enrolled", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    assert!(w.results().is_empty(), "{:?}", w.seen);
    assert!(archived_files(&archive).is_empty());
    assert!(w.child.try_wait().unwrap().is_none(), "still watching");
}

#[test]
fn watch_waits_for_usbmuxd_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "").unwrap();
    // Nothing listens on this socket.
    let addr = format!("UNIX:{}", s(&dir.path().join("no-usbmuxd.sock")));
    let mut w = Watch::start(
        &cfg,
        &addr,
        dir.path(),
        &["--to", &s(&dir.path().join("a"))],
    );
    let first = w.wait_for(false, "trying again in 1 s", Duration::from_secs(20));
    assert!(first.contains("no-usbmuxd.sock"), "{first}");
    w.wait_for(false, "trying again in 2 s", Duration::from_secs(20));
    assert!(w.child.try_wait().unwrap().is_none(), "still waiting");
}

#[test]
fn service_definitions_are_printed_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("my archive");
    let (code, unit, err) = run(&["watch", "--print-service", "systemd", "--to", &s(&a)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        unit.contains("[Service]") && unit.contains("WantedBy=default.target"),
        "{unit}"
    );
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.contains(&format!("\"{}\"", s(&a))) && exec.contains("\"watch\""),
        "{exec}"
    );
    assert!(
        unit.contains("systemctl --user enable --now camroll-watch.service"),
        "{unit}"
    );
    if let Some(sa) = on_path("systemd-analyze") {
        let f = dir.path().join("camroll-watch.service");
        std::fs::write(&f, &unit).unwrap();
        let out = Command::new(sa)
            .arg("verify")
            .arg("--user")
            .arg(&f)
            .output()
            .unwrap();
        let said = text(&out);
        assert!(
            !said.contains("Unknown key") && !said.contains("bad-setting"),
            "{said}"
        );
    }
    let (code, agent, err) = run(&["watch", "--print-service", "launchd", "--to", &s(&a)]);
    assert_eq!(code, 0, "{err}");
    let v: plist::Value = plist::from_bytes(agent.as_bytes()).expect("a valid plist");
    let d = v.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some("org.camroll.watch"));
    let argv: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_string())
        .collect();
    assert_eq!(&argv[1..], ["watch", "--to", &s(&a)]);
}
