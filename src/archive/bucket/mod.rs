//! An archive in S3-compatible object storage (`s3://BUCKET/PREFIX`): the
//! same `YYYY/MM/<name>` layout and `BLAKE3SUMS` as on a disk, with the
//! catalog kept as JSON lines (`manifest`) and a lock object.
//!
//! `object_store` (docs/object-storage.md says why this crate) is async; a
//! small current-thread tokio runtime inside [`Bucket`] runs it, and the rest
//! of camroll sees a blocking API.
//!
//! Writes of originals are create-only: a single PUT with `If-None-Match: *`
//! (`PutMode::Create`), or for large files a multipart upload with bounded
//! parts whose completion carries `If-None-Match: *` too (added by
//! [`transport`], as object_store does not expose it): a server that honours
//! it (S3, MinIO, moto, s3s-fs) refuses to complete over an object written at
//! the name meanwhile, and the upload is aborted. A HEAD just before the
//! completion narrows that window on servers that ignore the condition.
//! Every request carries an `x-amz-checksum-sha256` the server verifies.

pub mod config;
pub mod manifest;
mod transport;

use std::fmt;
use std::io::{self, Read};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::HttpClient;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions,
    PutOptions, PutPayload, RetryConfig, UpdateVersion, WriteMultipart,
};
use thiserror::Error;

/// The longest one request may take (connecting is bounded separately).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Files up to this size go up in one PUT; larger ones in parts.
pub const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;
/// The size of one part of a multipart upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once: with the part being filled, at most
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE` = 40 MiB of a file is in memory.
pub const PARTS_IN_FLIGHT: usize = 4;
/// A lock object older than this is taken to belong to a run that died.
pub const LOCK_STALE: Duration = Duration::from_secs(24 * 3600);
/// The lock object, relative to the prefix.
pub const LOCK_OBJECT: &str = ".camroll/lock";
/// The compacted manifest, relative to the prefix.
pub const MANIFEST_OBJECT: &str = ".camroll/manifest.jsonl";
/// Written with `--object-lock-days` to learn whether the bucket has Object Lock.
pub const OBJECT_LOCK_PROBE: &str = ".camroll/object-lock";
/// Where run logs live, relative to the prefix.
pub const LOG_DIR: &str = ".camroll/log";
/// User-metadata key of the BLAKE3 (`x-amz-meta-blake3`).
pub const META_BLAKE3: &str = "blake3";
/// User-metadata key of the local capture time (`x-amz-meta-capture-time`).
pub const META_CAPTURE: &str = "capture-time";

/// What went wrong with a bucket; each message says what to do.
#[derive(Debug, Error)]
pub enum BucketError {
    /// Not an `s3://BUCKET/PREFIX` address.
    #[error("{url}: not a bucket address ({why}). Write s3://BUCKET/PREFIX")]
    BadUrl {
        /// What was given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The client could not be set up (bad endpoint, region, …).
    #[error(
        "{url}: cannot set up the S3 client: {message}. Check AWS_ENDPOINT_URL and AWS_REGION"
    )]
    Config {
        /// The bucket.
        url: String,
        /// From the client library.
        message: String,
    },
    /// The bucket does not exist.
    #[error("{url}: the bucket does not exist at {endpoint}. Create it first, or check the bucket name and AWS_ENDPOINT_URL")]
    NoBucket {
        /// The bucket.
        url: String,
        /// Where it was looked for.
        endpoint: String,
    },
    /// 401/403: wrong keys, or a key without the rights needed.
    #[error("{url}: access denied ({what}): {message}. Check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and that the key may list, read and write this bucket")]
    Denied {
        /// The bucket.
        url: String,
        /// What was being done.
        what: String,
        /// The server's answer.
        message: String,
    },
    /// 507 or a quota error: the remote equivalent of a full disk.
    #[error("{url}: the storage is full or over its quota ({what}): {message}. Free space or raise the quota, then run again")]
    Full {
        /// The bucket.
        url: String,
        /// What was being done.
        what: String,
        /// The server's answer.
        message: String,
    },
    /// `--object-lock-days` on a bucket created without S3 Object Lock.
    #[error("{url}: the bucket does not have S3 Object Lock enabled, so --object-lock-days cannot protect its objects: {message}. Use a bucket created with Object Lock, or leave the flag out")]
    NoObjectLock {
        /// The bucket.
        url: String,
        /// The server's answer.
        message: String,
    },
    /// No manifest and no `BLAKE3SUMS` under the prefix.
    #[error("{url}: no camroll archive here (no .camroll/manifest.jsonl or BLAKE3SUMS). Check the bucket and prefix, or export to it first")]
    NotAnArchive {
        /// The bucket and prefix.
        url: String,
    },
    /// Another run holds the prefix's lock object.
    #[error("{url}: locked by another run ({holder}). Wait for it to finish; a lock older than {} hours is taken over", LOCK_STALE.as_secs() / 3600)]
    Locked {
        /// The bucket.
        url: String,
        /// What the lock object says.
        holder: String,
    },
    /// Any other failure of a request (network, server error after retries).
    #[error("{url}: {what}: {message}. Check the network and the server, then run again: nothing is overwritten")]
    Request {
        /// The bucket.
        url: String,
        /// What was being done.
        what: String,
        /// What happened.
        message: String,
    },
    /// A local file could not be read for upload.
    #[error("{path}: cannot read for upload: {source}")]
    Local {
        /// The local file.
        path: String,
        /// What the OS said.
        source: io::Error,
    },
}

impl BucketError {
    /// Whether this is a refusal with its own exit status: no archive (10), locked (11).
    pub fn refusal(&self) -> Option<super::Refusal> {
        match self {
            BucketError::NoBucket { .. } | BucketError::NotAnArchive { .. } => {
                Some(super::Refusal::NoArchive)
            }
            BucketError::Locked { .. } => Some(super::Refusal::Locked),
            _ => None,
        }
    }

    /// Whether this stops every request to the bucket (missing, denied,
    /// full), rather than one object.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BucketError::NoBucket { .. }
                | BucketError::Denied { .. }
                | BucketError::Full { .. }
                | BucketError::NoObjectLock { .. }
        )
    }
}

/// `s3://BUCKET/PREFIX`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketUrl {
    /// The bucket name.
    pub bucket: String,
    /// The prefix inside it, without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl BucketUrl {
    /// Whether `text` is meant as a bucket address.
    pub fn is_bucket_url(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// Parses and validates `s3://BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<BucketUrl, BucketError> {
        let bad = |why: &str| BucketError::BadUrl {
            url: text.to_string(),
            why: why.to_string(),
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        // The S3 bucket naming rules (3-63 of a-z 0-9 . -, starting and ending alphanumeric).
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            || !bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(bad("bucket names are 3 to 63 of a-z, 0-9, '.' and '-'"));
        }
        if !prefix.is_empty() {
            super::layout::checked_rel_path(prefix).map_err(|e| bad(e.why))?;
            if prefix.chars().any(|c| c.is_control()) || manifest::is_own_object(prefix) {
                return Err(bad(
                    "the prefix has control characters or names camroll's own folder",
                ));
            }
        }
        Ok(BucketUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key of `rel` (relative to the prefix).
    fn key(&self, rel: &str) -> Result<Path, BucketError> {
        let full = if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        Path::parse(&full).map_err(|e| BucketError::BadUrl {
            url: format!("{self}/{rel}"),
            why: e.to_string(),
        })
    }

    /// `rel` of a key under the prefix.
    fn rel<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Explicit client settings (instead of the AWS environment).
#[derive(Clone, Default)]
pub struct Settings {
    /// `http://127.0.0.1:9000`; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The access key id.
    pub access_key_id: String,
    /// The secret key (never printed: this type has no `Debug`).
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
    /// The region (`us-east-1` for most local servers).
    pub region: String,
}

/// What the metadata of an upload says.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    /// BLAKE3 of the content.
    pub blake3: String,
    /// Local capture time, when known.
    pub capture_time: Option<String>,
}

impl UploadMeta {
    /// The metadata of an archived file's object: its hash and capture time.
    pub fn of(r: &crate::archive::catalog::FileRecord) -> UploadMeta {
        UploadMeta {
            blake3: r.hash.clone(),
            capture_time: manifest::capture_text(r),
        }
    }

    /// The object's user metadata (`x-amz-meta-blake3`, `-capture-time`).
    fn attributes(&self) -> Attributes {
        let mut a = Attributes::new();
        a.insert(
            Attribute::Metadata(META_BLAKE3.into()),
            self.blake3.clone().into(),
        );
        if let Some(c) = &self.capture_time {
            a.insert(Attribute::Metadata(META_CAPTURE.into()), c.clone().into());
        }
        a
    }
}

/// How a create-only put ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created.
    Created,
    /// An object already had the key; nothing was written.
    Exists,
}

/// An object found by [`Bucket::list`].
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the prefix.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
}

/// What a HEAD found.
#[derive(Debug, Clone)]
pub struct Head {
    /// Size in bytes.
    pub size: u64,
    /// The `blake3` user metadata, when set.
    pub blake3: Option<String>,
    /// The ETag.
    pub e_tag: Option<String>,
    /// When it was last written.
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// The async runtime object_store's requests run on, with SIGPIPE held off
/// while they run.
///
/// camroll restores SIGPIPE's default action (`main`: end quietly when the
/// reader of its output goes away), and a server that closes a connection
/// while a request body is being written would then kill the whole run
/// without a word (hyper writes bodies with `writev`, which raises SIGPIPE
/// where `send` would not). Blocked, it turns into an `EPIPE` error for that
/// request, which is retried or reported like any network error.
#[derive(Debug)]
struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        without_sigpipe(|| self.0.block_on(f))
    }

    fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.0.enter()
    }
}

/// Runs `f` with SIGPIPE blocked on this thread; a SIGPIPE raised meanwhile
/// is taken off before the mask is restored, so it is never delivered.
/// Threads started inside `f` (tokio's blocking pool) keep it blocked.
fn without_sigpipe<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    // SAFETY: plain signal-mask calls on this thread with initialised sets.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        if libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old) != 0 {
            return f();
        }
        let r = f();
        if libc::sigismember(&old, libc::SIGPIPE) == 0 {
            let now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&pipe, std::ptr::null_mut(), &now) == libc::SIGPIPE {}
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        r
    }
    #[cfg(not(unix))]
    f()
}

/// One bucket archive, opened: the client, its runtime, counters.
pub struct Bucket {
    /// Where it is.
    pub url: BucketUrl,
    /// The endpoint, for messages and the spool folder (`aws` when none is set).
    pub endpoint: String,
    rt: Runtime,
    store: Arc<AmazonS3>,
    /// The client originals are uploaded with: `store`, or one that sends
    /// S3 Object Lock retention headers (`with_object_lock`).
    upload_store: Arc<AmazonS3>,
    /// The client settings before the bucket's own, to build `upload_store` from.
    base: AmazonS3Builder,
    endpoint_setting: Option<String>,
    requests: AtomicU64,
    bytes_uploaded: AtomicU64,
    /// This run holds the prefix's lock object (deleted when dropped).
    locked: std::sync::atomic::AtomicBool,
    /// The region requests are signed for.
    region: String,
    /// For the requests camroll signs itself (PutObjectRetention).
    http: HttpClient,
    /// `--object-lock-days`: new originals are retained until then
    /// (`%Y-%m-%dT%H:%M:%SZ`).
    lock_until: Option<String>,
}

impl Bucket {
    /// Sets up the client from the AWS environment and profile files (no request yet).
    pub fn open(url: &BucketUrl) -> Result<Bucket, BucketError> {
        let profile = config::profile();
        let endpoint = config::endpoint(&profile);
        let mut b = AmazonS3Builder::from_env();
        // Environment first, then the profile, as the AWS CLI does.
        let env_set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
        if !env_set("AWS_ACCESS_KEY_ID") {
            if let (Some(id), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key) {
                b = b.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(t) = &profile.session_token {
                    b = b.with_token(t);
                }
            }
        }
        let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .or(profile.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        Bucket::build(url, b.with_region(region), endpoint)
    }

    /// Sets up the client from explicit settings, ignoring the environment
    /// (tests, and callers that hold their own configuration).
    pub fn open_with(url: &BucketUrl, s: &Settings) -> Result<Bucket, BucketError> {
        let mut b = AmazonS3Builder::new()
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_region(&s.region);
        if let Some(t) = &s.session_token {
            b = b.with_token(t);
        }
        Bucket::build(url, b, s.endpoint.clone())
    }

    fn build(
        url: &BucketUrl,
        base: AmazonS3Builder,
        endpoint: Option<String>,
    ) -> Result<Bucket, BucketError> {
        let cfg_err = |message: String| BucketError::Config {
            url: url.to_string(),
            message,
        };
        let store = Arc::new(Bucket::client(
            url,
            base.clone(),
            endpoint.as_deref(),
            None,
        )?);
        let rt = Runtime(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| cfg_err(e.to_string()))?,
        );
        let region = base
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".into());
        let http = transport::plain_client(REQUEST_TIMEOUT).map_err(|e| cfg_err(e.to_string()))?;
        Ok(Bucket {
            url: url.clone(),
            endpoint: endpoint.clone().unwrap_or_else(|| "aws".into()),
            rt,
            upload_store: Arc::clone(&store),
            store,
            base,
            endpoint_setting: endpoint,
            requests: AtomicU64::new(0),
            bytes_uploaded: AtomicU64::new(0),
            locked: std::sync::atomic::AtomicBool::new(false),
            region,
            http,
            lock_until: None,
        })
    }

    /// Uploads of originals from now on carry S3 Object Lock retention in
    /// COMPLIANCE mode until `days` from now: nobody, the account's root
    /// included, can delete or overwrite those object versions before then.
    /// A bucket without Object Lock refuses the first upload
    /// ([`BucketError::NoObjectLock`]).
    pub fn with_object_lock(&mut self, days: u32) -> Result<(), BucketError> {
        let until = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
        let mut headers = object_store::HeaderMap::new();
        headers.insert(
            "x-amz-object-lock-mode",
            object_store::HeaderValue::from_static("COMPLIANCE"),
        );
        // S3 requires a checksum the SDK way on locked uploads; object_store
        // sends x-amz-checksum-sha256, this names its algorithm.
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            object_store::HeaderValue::from_static("SHA256"),
        );
        let date = until.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        headers.insert(
            "x-amz-object-lock-retain-until-date",
            object_store::HeaderValue::from_str(&date).map_err(|e| BucketError::Config {
                url: self.url.to_string(),
                message: e.to_string(),
            })?,
        );
        self.upload_store = Arc::new(Bucket::client(
            &self.url,
            self.base.clone(),
            self.endpoint_setting.as_deref(),
            Some(headers),
        )?);
        self.lock_until = Some(date.clone());
        // Asked now rather than at the first upload, so a bucket without
        // Object Lock is refused before anything is read: a small object of
        // camroll's own, written with the retention (each run adds a version
        // of a few bytes, kept for `days`).
        let key = self.url.key(OBJECT_LOCK_PROBE)?;
        self.count(1);
        let body = PutPayload::from(
            format!("camroll checks S3 Object Lock with this object ({date})\n").into_bytes(),
        );
        let put = self
            .rt
            .block_on(self.upload_store.put(&key, body))
            .map_err(|e| self.err("checking S3 Object Lock", e))?;
        // A store may take the headers and lock nothing (s3s-fs does): the
        // probe's HEAD must say COMPLIANCE, else the flag is refused rather
        // than leave objects unprotected while saying otherwise.
        let (status, headers, _) = self.signed_request(
            "checking S3 Object Lock",
            http::Method::HEAD,
            &key,
            None,
            put.version.as_deref(),
            None,
        )?;
        let mode = headers
            .get("x-amz-object-lock-mode")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        if !status.is_success() || mode != "COMPLIANCE" {
            return Err(BucketError::NoObjectLock {
                url: self.url.to_string(),
                message: format!(
                    "the store took the retention headers, but a HEAD of the object written with them says {status}, lock mode {mode} (with S3 itself, the key also needs s3:GetObjectRetention)"
                ),
            });
        }
        Ok(())
    }

    fn client(
        url: &BucketUrl,
        b: AmazonS3Builder,
        endpoint: Option<&str>,
        headers: Option<object_store::HeaderMap>,
    ) -> Result<AmazonS3, BucketError> {
        let cfg_err = |message: String| BucketError::Config {
            url: url.to_string(),
            message,
        };
        // First: the options set below (allow_http) add to these. A request
        // may take minutes: completing a multipart upload of a large video
        // makes the server assemble gigabytes before it answers (S3's docs
        // say "several minutes"; a local s3s-fs took over 30 s for 4 GiB),
        // and object_store's default of 30 s would abort and redo it.
        let mut options = object_store::ClientOptions::new().with_timeout(REQUEST_TIMEOUT);
        if let Some(h) = headers {
            options = options.with_default_headers(h);
        }
        let mut b = b
            .with_bucket_name(&url.bucket)
            .with_client_options(options)
            .with_http_connector(transport::CreateOnlyConnector);
        if let Some(ep) = &endpoint {
            // A custom endpoint (MinIO, Garage, a local test server): path-style
            // requests, plain HTTP allowed when the endpoint says http://.
            b = b
                .with_endpoint(*ep)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(ep.starts_with("http://"));
        }
        b = b
            .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
            .with_retry(RetryConfig {
                max_retries: 4,
                retry_timeout: Duration::from_secs(30),
                ..Default::default()
            });
        b.build().map_err(|e| cfg_err(e.to_string()))
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Bytes of originals and camroll's objects uploaded so far.
    pub fn bytes_uploaded(&self) -> u64 {
        self.bytes_uploaded.load(Ordering::Relaxed)
    }

    fn count(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }

    /// Turns a client error into one that says what to do. Secrets never
    /// appear in object_store's messages (requests are signed, not echoed).
    fn err(&self, what: &str, e: object_store::Error) -> BucketError {
        let url = self.url.to_string();
        let what = what.to_string();
        let message = e.to_string();
        match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                BucketError::Denied { url, what, message }
            }
            _ if message.contains("ObjectLockConfiguration") || message.contains("Object Lock") => {
                BucketError::NoObjectLock { url, message }
            }
            _ if message.contains("NoSuchBucket") => BucketError::NoBucket {
                url,
                endpoint: self.endpoint.clone(),
            },
            _ if message.contains("507")
                || message.contains("Insufficient Storage")
                || message.contains("QuotaExceeded")
                || message.contains("EntityTooLarge")
                || message.contains("StorageFull") =>
            {
                BucketError::Full { url, what, message }
            }
            _ if message.contains("AccessDenied") || message.contains("403") => {
                BucketError::Denied { url, what, message }
            }
            _ => BucketError::Request { url, what, message },
        }
    }

    /// Checks that the bucket exists and the keys may list it (one request).
    pub fn check_access(&self) -> Result<(), BucketError> {
        let prefix = self.url.key(".camroll")?;
        self.count(1);
        let r = self
            .rt
            .block_on(self.store.list_with_delimiter(Some(&prefix)));
        match r {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(BucketError::NoBucket {
                url: self.url.to_string(),
                endpoint: self.endpoint.clone(),
            }),
            Err(e) => Err(self.err("listing the bucket", e)),
        }
    }

    /// Every object under the prefix (camroll's own included).
    pub fn list(&self) -> Result<Vec<Listed>, BucketError> {
        let prefix = if self.url.prefix.is_empty() {
            None
        } else {
            Some(
                Path::parse(&self.url.prefix).map_err(|e| BucketError::BadUrl {
                    url: self.url.to_string(),
                    why: e.to_string(),
                })?,
            )
        };
        let mut out = Vec::new();
        let mut stream = self.store.list(prefix.as_ref());
        self.count(1);
        let mut n = 0u64;
        while let Some(item) = self.rt.block_on(stream.next()) {
            let meta = item.map_err(|e| self.err("listing the bucket", e))?;
            n += 1;
            if n % 1000 == 0 {
                self.count(1);
            }
            if let Some(rel) = self.url.rel(meta.location.as_ref()) {
                out.push(Listed {
                    rel: rel.to_string(),
                    size: meta.size,
                });
            }
        }
        Ok(out)
    }

    /// HEAD of `rel` with its user metadata; `None` when there is no such object.
    pub fn head(&self, rel: &str) -> Result<Option<Head>, BucketError> {
        let key = self.url.key(rel)?;
        self.count(1);
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        match self.rt.block_on(self.store.get_opts(&key, opts)) {
            Ok(r) => Ok(Some(Head {
                size: r.meta.size,
                blake3: r
                    .attributes
                    .get(&Attribute::Metadata(META_BLAKE3.into()))
                    .map(|v| v.to_string()),
                e_tag: r.meta.e_tag.clone(),
                last_modified: r.meta.last_modified,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(&format!("reading {rel}"), e)),
        }
    }

    /// A reader streaming the object `rel` (bounded memory: one response
    /// chunk at a time); `None` when there is no such object.
    pub fn reader(&self, rel: &str) -> Result<Option<ObjectReader<'_>>, BucketError> {
        let key = self.url.key(rel)?;
        self.count(1);
        match self.rt.block_on(self.store.get(&key)) {
            Ok(r) => Ok(Some(ObjectReader {
                bucket: self,
                stream: r.into_stream(),
                chunk: bytes::Bytes::new(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(&format!("reading {rel}"), e)),
        }
    }

    /// A small object's text, at most `max` bytes (longer is an error);
    /// `None` when there is no such object.
    pub fn read_text(&self, rel: &str, max: u64) -> Result<Option<String>, BucketError> {
        let Some(r) = self.reader(rel)? else {
            return Ok(None);
        };
        let mut text = String::new();
        r.take(max + 1)
            .read_to_string(&mut text)
            .map_err(|e| BucketError::Request {
                url: self.url.to_string(),
                what: format!("reading {rel}"),
                message: e.to_string(),
            })?;
        if text.len() as u64 > max {
            return Err(BucketError::Request {
                url: self.url.to_string(),
                what: format!("reading {rel}"),
                message: format!("larger than {max} bytes: not camroll's"),
            });
        }
        Ok(Some(text))
    }

    /// Puts `bytes` at `rel`: create-only, or replacing (camroll's own
    /// objects only: the manifest and `BLAKE3SUMS`).
    pub fn put_bytes(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        create: bool,
    ) -> Result<PutOutcome, BucketError> {
        let key = self.url.key(rel)?;
        let len = bytes.len() as u64;
        let opts = PutOptions {
            mode: if create {
                PutMode::Create
            } else {
                PutMode::Overwrite
            },
            ..Default::default()
        };
        self.count(1);
        match self
            .rt
            .block_on(self.store.put_opts(&key, PutPayload::from(bytes), opts))
        {
            Ok(_) => {
                self.bytes_uploaded.fetch_add(len, Ordering::Relaxed);
                Ok(PutOutcome::Created)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::Exists),
            Err(e) => Err(self.err(&format!("writing {rel}"), e)),
        }
    }

    /// Uploads the local file `local` to `rel`, create-only, with its BLAKE3
    /// and capture time as user metadata: one PUT up to [`SINGLE_PUT_MAX`],
    /// else a multipart upload with at most [`PARTS_IN_FLIGHT`] parts in
    /// flight. Never replaces an object.
    pub fn put_file(
        &self,
        rel: &str,
        local: &FsPath,
        meta: &UploadMeta,
    ) -> Result<PutOutcome, BucketError> {
        let key = self.url.key(rel)?;
        let local_err = |source| BucketError::Local {
            path: local.display().to_string(),
            source,
        };
        let mut file = std::fs::File::open(local).map_err(local_err)?;
        let size = file.metadata().map_err(local_err)?.len();
        let attributes = meta.attributes();
        if size <= SINGLE_PUT_MAX {
            let mut buf = Vec::with_capacity(size as usize);
            file.read_to_end(&mut buf).map_err(local_err)?;
            // What is sent must be what was archived (the server's SHA-256
            // only proves the transfer).
            let sent = crate::hash::hash_reader(&mut buf.as_slice()).map_err(local_err)?;
            if sent.hash != meta.blake3 {
                return Err(self.changed(rel, local, &sent.hash, &meta.blake3));
            }
            let len = buf.len() as u64;
            let opts = PutOptions {
                mode: PutMode::Create,
                attributes,
                ..Default::default()
            };
            self.count(1);
            return match self.rt.block_on(self.upload_store.put_opts(
                &key,
                PutPayload::from(buf),
                opts,
            )) {
                Ok(_) => {
                    self.bytes_uploaded.fetch_add(len, Ordering::Relaxed);
                    Ok(PutOutcome::Created)
                }
                Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::Exists),
                Err(e) => Err(self.err(&format!("uploading {rel}"), e)),
            };
        }
        if self.head(rel)?.is_some() {
            return Ok(PutOutcome::Exists);
        }
        self.put_multipart(rel, &key, local, file, meta, None)
    }

    /// Uploads `file` (the local `local`) to `key` in parts, streamed through
    /// BLAKE3, and completes the upload only if what was sent is `meta`'s
    /// hash. The completion is conditional (`transport`): on no object at all,
    /// or with `replacing`, on the object whose ETag that is (`If-Match`).
    /// `Exists` when the condition failed: the object is left as it is and
    /// the upload aborted.
    fn put_multipart(
        &self,
        rel: &str,
        key: &Path,
        local: &FsPath,
        mut file: std::fs::File,
        meta: &UploadMeta,
        replacing: Option<String>,
    ) -> Result<PutOutcome, BucketError> {
        let local_err = |source| BucketError::Local {
            path: local.display().to_string(),
            source,
        };
        let attributes = meta.attributes();
        // A replacement goes up without retention, as `replace_file`'s PUT.
        let store = if replacing.is_some() {
            &self.store
        } else {
            &self.upload_store
        };
        let opts = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        self.count(1);
        let upload = self
            .rt
            .block_on(store.put_multipart_opts(key, opts))
            .map_err(|e| self.err(&format!("starting the upload of {rel}"), e))?;
        // WriteMultipart spawns each part as a task on the current runtime.
        let _in_runtime = self.rt.enter();
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        // The file is streamed through BLAKE3 as it is sent, and the upload
        // completed only if what was sent is what was archived.
        let mut buf = Vec::new();
        let mut written = 0u64;
        let streamed = crate::hash::stream(&mut file, &mut buf, 0, |chunk| {
            if written % PART_SIZE as u64 == 0 {
                // A new part: wait for room, so at most PARTS_IN_FLIGHT are in flight.
                self.rt
                    .block_on(w.wait_for_capacity(PARTS_IN_FLIGHT))
                    .map_err(|e| self.err(&format!("uploading {rel}"), e))?;
                crate::faults::point("bucket-part");
                // Lets a test cut the network in the middle of an upload.
                #[cfg(feature = "fault-injection")]
                crate::faults::pause("CAMROLL_TEST_PAUSE_BEFORE_PART_MS");
                self.count(1);
            }
            w.write(chunk);
            written += chunk.len() as u64;
            self.bytes_uploaded
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Ok(())
        });
        let result = match streamed {
            Ok(d) if d.hash == meta.blake3 => Ok(()),
            Ok(d) => Err(self.changed(rel, local, &d.hash, &meta.blake3)),
            Err(crate::hash::StreamError::Read(e)) => Err(local_err(e)),
            Err(crate::hash::StreamError::Sink(e)) => Err(e),
        };
        if let Err(e) = result {
            self.count(1);
            let _ = self.rt.block_on(w.abort());
            return Err(e);
        }
        // The completion is conditional (see `transport`); this look first
        // spares it on servers that honour that, and narrows the window on
        // those that do not.
        let now = self.head(rel)?;
        let still = match &replacing {
            None => now.is_none(),
            Some(e_tag) => now.is_some_and(|h| h.e_tag.as_ref() == Some(e_tag)),
        };
        if !still {
            self.count(1);
            let _ = self.rt.block_on(w.abort());
            return Ok(PutOutcome::Exists);
        }
        #[cfg(feature = "fault-injection")]
        if let Some(other) = crate::faults::racing_object() {
            // Another writer's object at the name, between the look and the completion.
            let _ = self
                .rt
                .block_on(self.store.put(key, PutPayload::from(other)));
        }
        self.count(1);
        let finish = w.finish();
        let done = match &replacing {
            None => self.rt.block_on(finish),
            Some(e_tag) => self
                .rt
                .block_on(transport::REPLACING.scope(e_tag.clone(), finish)),
        };
        let done = match done {
            Ok(done) => done,
            // 412: an object took the name meanwhile. It is left as it is;
            // WriteMultipart aborted the upload (its parts are gone).
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => {
                self.count(1);
                return Ok(PutOutcome::Exists);
            }
            Err(e) => {
                self.count(1);
                return Err(self.err(&format!("completing the upload of {rel}"), e));
            }
        };
        if let (Some(until), None) = (&self.lock_until, &replacing) {
            // The retention headers ride on CreateMultipartUpload, which S3
            // honours and others (moto) ignore: set on the new version itself.
            self.put_retention(rel, key, done.version.as_deref(), until)?;
        }
        Ok(PutOutcome::Created)
    }

    /// Sets S3 Object Lock retention, COMPLIANCE until `until`, on `version`
    /// of `rel` (PutObjectRetention).
    fn put_retention(
        &self,
        rel: &str,
        key: &Path,
        version: Option<&str>,
        until: &str,
    ) -> Result<(), BucketError> {
        let what = format!("setting the Object Lock retention of {rel}");
        let body = transport::retention_xml(until);
        let (status, _, text) = self.signed_request(
            &what,
            http::Method::PUT,
            key,
            Some("retention"),
            version,
            Some(body),
        )?;
        if status.is_success() {
            return Ok(());
        }
        let message = format!("{status}: {}", text.chars().take(500).collect::<String>());
        Err(match status.as_u16() {
            401 | 403 => BucketError::Denied {
                url: self.url.to_string(),
                what,
                message,
            },
            _ if text.contains("ObjectLockConfiguration") || text.contains("Object Lock") => {
                BucketError::NoObjectLock {
                    url: self.url.to_string(),
                    message,
                }
            }
            _ => BucketError::Request {
                url: self.url.to_string(),
                what,
                message,
            },
        })
    }

    /// Sends `method` on `key` (`?query`, of `version`), with `body`
    /// (Content-MD5 set), and returns the status, headers and the answer's text.
    /// object_store has no call for Object Lock retention, so the request is
    /// built here on object_store's own URL for the key (`signed_url`:
    /// endpoint, path style, key encoding) and signed with its `AwsAuthorizer`.
    fn signed_request(
        &self,
        what: &str,
        method: http::Method,
        key: &Path,
        query: Option<&str>,
        version: Option<&str>,
        body: Option<String>,
    ) -> Result<(http::StatusCode, object_store::HeaderMap, String), BucketError> {
        use md5::Digest;
        let request_err = |message: String| BucketError::Request {
            url: self.url.to_string(),
            what: what.to_string(),
            message,
        };
        self.count(1);
        self.rt.block_on(async {
            let mut url = self
                .upload_store
                .signed_url(method.clone(), key, Duration::from_secs(300))
                .await
                .map_err(|e| self.err(what, e))?;
            url.set_query(None);
            if let Some(q) = query {
                url.query_pairs_mut().append_key_only(q);
            }
            if let Some(v) = version {
                url.query_pairs_mut().append_pair("versionId", v);
            }
            let mut req = http::Request::builder().method(method).uri(url.as_str());
            if let Some(b) = &body {
                let md5 = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    md5::Md5::digest(b.as_bytes()),
                );
                req = req
                    .header("content-md5", md5)
                    .header("content-type", "application/xml");
            }
            let mut req = req
                .body(body.unwrap_or_default().into())
                .map_err(|e| request_err(e.to_string()))?;
            let credential = self
                .upload_store
                .credentials()
                .get_credential()
                .await
                .map_err(|e| self.err(what, e))?;
            AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut req, None);
            let response = self
                .http
                .execute(req)
                .await
                .map_err(|e| request_err(e.to_string()))?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = response
                .into_body()
                .bytes()
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Ok((status, headers, text))
        })
    }

    fn changed(&self, rel: &str, local: &FsPath, actual: &str, expected: &str) -> BucketError {
        BucketError::Request {
            url: self.url.to_string(),
            what: format!("uploading {rel}"),
            message: format!(
                "{} hashes to {actual}, not {expected}: not uploaded (the local copy changed or is damaged)",
                local.display()
            ),
        }
    }

    fn not_replaced(&self, rel: &str, why: &str) -> BucketError {
        BucketError::Request {
            url: self.url.to_string(),
            what: format!("replacing {rel}"),
            message: format!("{why}: not replaced. Verify again"),
        }
    }

    /// Replaces the object `rel` with the local file `local`, only if it is
    /// still the object whose ETag is `e_tag` (a conditional PUT with
    /// `If-Match`): used by `verify --repair-from` to put the archived content
    /// back over an object found damaged or written over, never anything
    /// else. Files over [`SINGLE_PUT_MAX`] go up in parts, the completion
    /// conditional on the ETag (`If-Match`, see `transport`).
    pub fn replace_file(
        &self,
        rel: &str,
        local: &FsPath,
        meta: &UploadMeta,
        e_tag: Option<String>,
    ) -> Result<(), BucketError> {
        let key = self.url.key(rel)?;
        let local_err = |source| BucketError::Local {
            path: local.display().to_string(),
            source,
        };
        let file = std::fs::File::open(local).map_err(local_err)?;
        let size = file.metadata().map_err(local_err)?.len();
        if size > SINGLE_PUT_MAX {
            let Some(e_tag) = e_tag else {
                return Err(self.not_replaced(
                    rel,
                    "the object has no ETag to make the replacement conditional on",
                ));
            };
            return match self.put_multipart(rel, &key, local, file, meta, Some(e_tag))? {
                PutOutcome::Created => Ok(()),
                PutOutcome::Exists => {
                    Err(self.not_replaced(rel, "the object changed since it was looked at"))
                }
            };
        }
        drop(file);
        let bytes = std::fs::read(local).map_err(local_err)?;
        let attributes = meta.attributes();
        let len = bytes.len() as u64;
        let opts = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag,
                version: None,
            }),
            attributes,
            ..Default::default()
        };
        self.count(1);
        self.rt
            .block_on(self.store.put_opts(&key, PutPayload::from(bytes), opts))
            .map_err(|e| self.err(&format!("replacing {rel}"), e))?;
        self.bytes_uploaded.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes `rel` (camroll's own objects only: the lock, folded run logs).
    pub fn delete(&self, rel: &str) -> Result<(), BucketError> {
        let key = self.url.key(rel)?;
        self.count(1);
        match self.rt.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(&format!("deleting {rel}"), e)),
        }
    }

    /// Takes the prefix's lock object for a run described by `holder`: created
    /// if absent; if present and older than [`LOCK_STALE`], replaced only if
    /// it is still the object we looked at (its ETag).
    pub fn lock(&self, holder: &str) -> Result<(), BucketError> {
        self.take_lock(holder)?;
        self.locked.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn take_lock(&self, holder: &str) -> Result<(), BucketError> {
        let body = holder.as_bytes().to_vec();
        if self.put_bytes(LOCK_OBJECT, body.clone(), true)? == PutOutcome::Created {
            return Ok(());
        }
        let head = self.head(LOCK_OBJECT)?;
        let text = self
            .read_text(LOCK_OBJECT, 4096)
            .ok()
            .flatten()
            .unwrap_or_default();
        let locked = || BucketError::Locked {
            url: self.url.to_string(),
            holder: text.trim().chars().filter(|c| !c.is_control()).collect(),
        };
        let Some(head) = head else {
            // Released in between: try once more.
            return match self.put_bytes(LOCK_OBJECT, body, true)? {
                PutOutcome::Created => Ok(()),
                PutOutcome::Exists => Err(locked()),
            };
        };
        let age = chrono::Utc::now() - head.last_modified;
        if age.to_std().unwrap_or_default() < LOCK_STALE && !holder_is_dead(&text) {
            return Err(locked());
        }
        let key = self.url.key(LOCK_OBJECT)?;
        let opts = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag: head.e_tag.clone(),
                version: None,
            }),
            ..Default::default()
        };
        self.count(1);
        match self
            .rt
            .block_on(self.store.put_opts(&key, PutPayload::from(body), opts))
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::Precondition { .. }) => Err(locked()),
            Err(e) => Err(self.err("taking over a stale lock", e)),
        }
    }

    /// Reads the manifest and every run log not yet folded into it.
    pub fn read_manifest(&self, listed: &[Listed]) -> Result<manifest::Manifest, BucketError> {
        let mut m = manifest::Manifest::default();
        // A manifest line is at most MAX_LINE bytes; a billion objects is not camroll's.
        const MAX_OBJECT: u64 = 4 << 30;
        if let Some(text) = self.read_text(MANIFEST_OBJECT, MAX_OBJECT)? {
            m.add_text(MANIFEST_OBJECT, &text);
        }
        let mut logs: Vec<&Listed> = listed
            .iter()
            .filter(|l| l.rel.starts_with(LOG_DIR) && l.rel.ends_with(".jsonl"))
            .collect();
        logs.sort_by(|a, b| a.rel.cmp(&b.rel));
        for l in logs {
            if let Some(text) = self.read_text(&l.rel, MAX_OBJECT)? {
                m.add_text(&l.rel, &text);
            }
        }
        Ok(m)
    }

    /// Ends a run that added `new` (already in `manifest`): writes the run's
    /// log (create-only), then replaces the compacted manifest and
    /// `BLAKE3SUMS`, then deletes the run logs `folded` (read at the start,
    /// now in the manifest). A crash in between leaves logs that are folded
    /// again by the next reader.
    pub fn commit_run(
        &self,
        manifest: &manifest::Manifest,
        new: &[manifest::Entry],
        folded: &[String],
        run_id: &str,
    ) -> Result<(), BucketError> {
        let mut logs = folded.to_vec();
        if !new.is_empty() {
            let log: String = new.iter().map(manifest::to_line).collect();
            let name = format!("{LOG_DIR}/{run_id}.jsonl");
            self.put_bytes(&name, log.into_bytes(), true)?;
            logs.push(name);
        }
        crate::faults::point("bucket-before-manifest");
        self.put_bytes(MANIFEST_OBJECT, manifest.to_text().into_bytes(), false)?;
        self.put_bytes(
            super::sums::SUMS_FILE,
            manifest.sums_text().into_bytes(),
            false,
        )?;
        for l in logs {
            self.delete(&l)?;
        }
        Ok(())
    }

    /// Streams the object `rel` into the new file `staged` through BLAKE3;
    /// the content must hash to `expected`. The file is fsynced and read back
    /// (page cache dropped where the OS allows) before this returns its size;
    /// on any error it is removed.
    pub fn download_verified(
        &self,
        rel: &str,
        staged: &FsPath,
        expected: &str,
    ) -> Result<u64, BucketError> {
        let r = self.download_inner(rel, staged, expected);
        if r.is_err() {
            let _ = std::fs::remove_file(staged);
        }
        r
    }

    fn download_inner(
        &self,
        rel: &str,
        staged: &FsPath,
        expected: &str,
    ) -> Result<u64, BucketError> {
        use std::io::Write;
        let local = |source| BucketError::Local {
            path: staged.display().to_string(),
            source,
        };
        let mismatch = |actual: String| BucketError::Request {
            url: self.url.to_string(),
            what: format!("reading {rel}"),
            message: format!(
                "it hashes to {actual}, not {expected}: run `camroll verify {}`",
                self.url
            ),
        };
        let mut input = self.reader(rel)?.ok_or_else(|| BucketError::Request {
            url: self.url.to_string(),
            what: format!("reading {rel}"),
            message: "no such object".into(),
        })?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(staged)
            .map_err(local)?;
        let mut buf = Vec::new();
        let d = crate::hash::stream(&mut input, &mut buf, 0, |c| out.write_all(c)).map_err(
            |e| match e {
                crate::hash::StreamError::Read(e) => BucketError::Request {
                    url: self.url.to_string(),
                    what: format!("reading {rel}"),
                    message: e.to_string(),
                },
                crate::hash::StreamError::Sink(e) => local(e),
            },
        )?;
        if d.hash != expected {
            return Err(mismatch(d.hash));
        }
        out.sync_all().map_err(local)?;
        drop(out);
        let back = crate::hash::hash_file(staged, true).map_err(local)?;
        if back.hash != expected {
            return Err(mismatch(back.hash));
        }
        Ok(d.size)
    }

    /// Hashes the object `rel` as it is in the bucket, streamed.
    pub fn hash_object(&self, rel: &str) -> Result<Option<crate::hash::Digest>, BucketError> {
        let Some(mut r) = self.reader(rel)? else {
            return Ok(None);
        };
        crate::hash::hash_reader(&mut r)
            .map(Some)
            .map_err(|e| BucketError::Request {
                url: self.url.to_string(),
                what: format!("reading {rel}"),
                message: e.to_string(),
            })
    }
}

/// This machine's host name, as lock objects record it.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether a lock object's holder (`{"host": …, "pid": …}`) is a process of
/// this machine that no longer runs: a run killed here, whose lock can be
/// taken over at once rather than after [`LOCK_STALE`].
fn holder_is_dead(text: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    let (Some(host), Some(pid)) = (v["host"].as_str(), v["pid"].as_i64()) else {
        return false;
    };
    if host.is_empty() || host != host_name() || pid <= 0 || pid > i64::from(i32::MAX) {
        return false;
    }
    // SAFETY: signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

impl Drop for Bucket {
    /// Releases the prefix's lock object if this run took it.
    fn drop(&mut self) {
        if self.locked.swap(false, Ordering::Relaxed) {
            let _ = self.delete(LOCK_OBJECT);
        }
    }
}

/// A blocking reader over an object's body.
pub struct ObjectReader<'a> {
    bucket: &'a Bucket,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.bucket.rt.block_on(self.stream.next()) {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_urls() {
        let u = BucketUrl::parse("s3://photos-1/camroll/main/").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("photos-1", "camroll/main")
        );
        assert_eq!(u.to_string(), "s3://photos-1/camroll/main");
        assert_eq!(
            u.key("2020/01/A~2.JPG").unwrap().as_ref(),
            "camroll/main/2020/01/A~2.JPG"
        );
        assert_eq!(u.rel("camroll/main/x"), Some("x"));
        assert_eq!(u.rel("camroll/mainx"), None);
        assert_eq!(BucketUrl::parse("s3://abc").unwrap().prefix, "");
        for bad in [
            "/tmp/x",
            "s3://AB",
            "s3://ab",
            "s3://a_b/x",
            "s3://abc/../x",
            "s3://abc/a//b",
            "s3://abc/.camroll",
        ] {
            assert!(BucketUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
