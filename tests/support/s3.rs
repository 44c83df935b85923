//! Real S3 servers for the bucket tests, started on 127.0.0.1 on a free port
//! with their data in a temp folder and killed when dropped: moto's server
//! (Python, PyPI `moto[server]`) and `s3s-fs` (Rust, crates.io), two
//! independent implementations so camroll is not tuned to one. scripts/setup
//! test installs both under ~/.cache/camroll (venv/bin/moto_server,
//! s3s/bin/s3s-fs); a missing one is a loud skip (a failure in CI).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camroll::archive::bucket::{Bucket, BucketUrl, Settings};

use super::tools::skip_unless;

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// moto's server: keeps everything in memory, ignores signatures.
    Moto,
    /// s3s-fs: objects as plain files under its root, checks signatures.
    S3sFs,
}

/// The keys tests use; s3s-fs checks them, moto accepts any.
pub const S3_KEY: &str = "camroll-test-key";
/// The secret tests use.
pub const S3_SECRET: &str = "camroll-test-secret";

/// A running S3 server.
pub struct S3Server {
    /// Which one.
    pub kind: S3Kind,
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its data folder (s3s-fs: `<bucket>/<key>` files) and scratch space.
    pub dir: tempfile::TempDir,
    exe: PathBuf,
}

fn cache() -> PathBuf {
    std::env::var_os("CAMROLL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/camroll")
        })
}

fn find(kind: S3Kind) -> Option<PathBuf> {
    let (var, cached, name) = match kind {
        S3Kind::Moto => (
            "CAMROLL_MOTO_SERVER",
            cache().join("venv/bin/moto_server"),
            "moto_server",
        ),
        S3Kind::S3sFs => ("CAMROLL_S3S_FS", cache().join("s3s/bin/s3s-fs"), "s3s-fs"),
    };
    std::env::var_os(var)
        .map(PathBuf::from)
        .into_iter()
        .chain([cached])
        .find(|p| p.is_file())
        .or_else(|| super::tools::on_path(name))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    /// Starts a server of `kind`; `None` (after a loud skip) when it is not installed.
    #[track_caller]
    pub fn start(kind: S3Kind) -> Option<S3Server> {
        S3Server::start_on(kind, free_port())
    }

    /// The same, on a given port (to take over from a stand-in).
    #[track_caller]
    pub fn start_on(kind: S3Kind, port: u16) -> Option<S3Server> {
        let exe = find(kind);
        if !skip_unless(
            exe.is_some(),
            format!("{kind:?} S3 server not installed: run scripts/setup test"),
        ) {
            return None;
        }
        let mut s = S3Server {
            kind,
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
            exe: exe.unwrap(),
        };
        std::fs::create_dir_all(s.root()).unwrap();
        s.restart();
        Some(s)
    }

    /// s3s-fs's data folder.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts it again on the same port (s3s-fs keeps its objects; moto does not).
    pub fn restart(&mut self) {
        let mut cmd = Command::new(&self.exe);
        let port = self.port.to_string();
        match self.kind {
            S3Kind::Moto => {
                cmd.args(["-H", "127.0.0.1", "-p", &port]);
            }
            S3Kind::S3sFs => {
                cmd.args(["--host", "127.0.0.1", "--port", &port])
                    .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
                    .arg(self.root());
            }
        }
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        cmd.stdout(Stdio::null()).stderr(log);
        self.child = Some(cmd.spawn().expect("the S3 server starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{:?} did not listen on {}",
                self.kind,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (a network cut, as camroll sees it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (s3s-fs: a folder; moto: an unsigned PUT, which it accepts).
    pub fn create_bucket(&self, name: &str) {
        self.create_bucket_with(name, false)
    }

    /// Creates a bucket, with S3 Object Lock enabled when `object_lock` (moto only).
    pub fn create_bucket_with(&self, name: &str, object_lock: bool) {
        match self.kind {
            S3Kind::S3sFs => std::fs::create_dir_all(self.root().join(name)).unwrap(),
            S3Kind::Moto => {
                let mut c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
                write!(
                    c,
                    "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n{}Connection: close\r\n\r\n",
                    self.port,
                    if object_lock { "x-amz-bucket-object-lock-enabled: true\r\n" } else { "" }
                )
                .unwrap();
                let mut answer = String::new();
                let _ = c.read_to_string(&mut answer);
                assert!(
                    answer.starts_with("HTTP/1.1 200"),
                    "create bucket: {answer}"
                );
            }
        }
    }

    /// Sets the AWS variables for this server, and a cache folder of its own
    /// (the spool), on a camroll command.
    pub fn env<'c>(&self, cmd: &'c mut Command, cache: &Path) -> &'c mut Command {
        for k in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_S3",
            "AWS_DEFAULT_REGION",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", S3_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .env("XDG_CACHE_HOME", cache)
    }

    /// camroll's own client on `url` (to look at and damage the bucket).
    pub fn bucket(&self, url: &str) -> Bucket {
        Bucket::open_with(
            &BucketUrl::parse(url).unwrap(),
            &Settings {
                endpoint: Some(self.endpoint()),
                access_key_id: S3_KEY.into(),
                secret_access_key: S3_SECRET.into(),
                session_token: None,
                region: "us-east-1".into(),
            },
        )
        .unwrap()
    }

    /// Every object under `url`, relative to its prefix, sorted.
    pub fn objects(&self, url: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .bucket(url)
            .list()
            .unwrap()
            .into_iter()
            .map(|l| l.rel)
            .collect();
        v.sort();
        v
    }

    /// The object's bytes.
    pub fn get(&self, url: &str, rel: &str) -> Vec<u8> {
        let b = self.bucket(url);
        let mut out = Vec::new();
        b.reader(rel)
            .unwrap()
            .expect("object exists")
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Downloads every object under `url` into `to` (as `aws s3 cp --recursive` would).
    pub fn download(&self, url: &str, to: &Path) {
        for rel in self.objects(url) {
            let p = to.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, self.get(url, &rel)).unwrap();
        }
    }
}

impl S3Server {
    /// Multipart uploads started and neither completed nor aborted in
    /// `bucket` (s3s-fs keeps them as `.upload_id-*` files in its root,
    /// and does not list them; moto lists them).
    pub fn open_uploads(&self, bucket: &str) -> Vec<String> {
        match self.kind {
            S3Kind::S3sFs => walkdir::WalkDir::new(self.root())
                .into_iter()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".upload_id-"))
                .collect(),
            S3Kind::Moto => {
                let python = venv_python().expect("moto's venv has boto3");
                let out = Command::new(python)
                    .arg("-c")
                    .arg(format!(
                        "import boto3; s = boto3.client('s3', endpoint_url='{}', aws_access_key_id='a', aws_secret_access_key='b', region_name='us-east-1'); print('\\n'.join(u['Key'] for u in s.list_multipart_uploads(Bucket='{bucket}').get('Uploads', [])))",
                        self.endpoint()
                    ))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            }
        }
    }
}

/// The Python of the venv scripts/setup makes (moto brings boto3 into it), to
/// ask a server what camroll's own client cannot (Object Lock retention).
pub fn venv_python() -> Option<PathBuf> {
    Some(cache().join("venv/bin/python")).filter(|p| p.is_file())
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `test` against each installed server (each missing one is a loud skip).
pub fn each_s3_server(test: impl Fn(&mut S3Server)) {
    for kind in [S3Kind::Moto, S3Kind::S3sFs] {
        if let Some(mut s) = S3Server::start(kind) {
            eprintln!("-- against {kind:?}");
            test(&mut s);
        }
    }
}

/// A stand-in for a store that refuses writes, which neither moto nor s3s-fs
/// can be made to do: it lists an empty bucket and answers reads with 404.
/// `full`: takes camroll's lock object, and answers every other write with
/// `507 Insufficient Storage` (as MinIO and Ceph do when a disk is full).
/// Otherwise a read-only key: every write gets `403 AccessDenied`.
pub struct FullStore {
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FullStore {
    /// Starts a full store on a free port.
    pub fn start() -> FullStore {
        FullStore::start_with(true)
    }

    /// Starts a store whose key may read but not write.
    pub fn read_only() -> FullStore {
        FullStore::start_with(false)
    }

    fn start_with(full: bool) -> FullStore {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        std::thread::spawn(move || serve_full(c, full));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FullStore { port, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl FullStore {
    /// Stops listening; returns once the port is free again.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FullStore {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn serve_full(mut c: TcpStream, full: bool) {
    c.set_nonblocking(false).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if c.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let first = head.lines().next().unwrap_or_default().to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = c.read_exact(&mut body);
    let (status, extra, body) = if first.starts_with("GET") && first.contains("list-type=2") {
        (
            "200 OK",
            "",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>photos</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>".to_string(),
        )
    } else if first.starts_with("GET") || first.starts_with("HEAD") {
        (
            "404 Not Found",
            "",
            "<Error><Code>NoSuchKey</Code></Error>".to_string(),
        )
    } else if !full && !first.starts_with("GET") {
        (
            "403 Forbidden",
            "",
            "<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>".to_string(),
        )
    } else if first.starts_with("PUT") && first.contains(".camroll/lock") {
        ("200 OK", "ETag: \"1\"\r\n", String::new())
    } else if first.starts_with("DELETE") {
        ("204 No Content", "", String::new())
    } else {
        (
            "507 Insufficient Storage",
            "",
            "<Error><Code>XMinioStorageFull</Code><Message>Storage backend has reached its minimum free drive threshold.</Message></Error>".to_string(),
        )
    };
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
