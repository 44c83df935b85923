//! The HTTP client object_store sends camroll's requests through, and the
//! one S3 request object_store has no call for (PutObjectRetention).
//!
//! Why a client of our own: object_store 0.13 completes every multipart
//! upload of `put_multipart` without a condition (its create-only
//! completion is internal, used only by `copy_if_not_exists`), so a large
//! original could replace an object written at its name while its parts were
//! in flight. [`CreateOnlyConnector`] wraps object_store's own reqwest client
//! and adds `If-None-Match: *` to every CompleteMultipartUpload
//! (`POST ?uploadId=`): S3 (since August 2024), MinIO, moto and s3s-fs then
//! refuse to complete over an existing object (412), and camroll never
//! completes a multipart upload that should replace one. A completion that
//! is meant to replace one object (a repair, a rewritten sidecar) carries
//! `If-Match: <ETag>` instead, set through the task-local [`REPLACING`]
//! (S3 and s3s-fs honour it; moto ignores it). The header is added
//! after object_store has signed the request, exactly as object_store adds
//! it itself for its create-only completion: SigV4 needs `host` and the
//! `x-amz-*` headers signed, not `If-None-Match`.
//!
//! It also keeps the client options' default headers (the Object Lock
//! retention, `Bucket::with_object_lock`) out of reqwest: object_store adds
//! them to the requests it signs, while reqwest would add them again,
//! unsigned, to those it does not (the completion), which S3 refuses
//! ("headers present in the request which were not signed").

use std::time::Duration;

use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::{ClientOptions, HeaderMap, HeaderValue};

tokio::task_local! {
    /// Set around a multipart completion that replaces an object: the ETag
    /// it must still find (`If-Match`), instead of no object at all.
    pub(super) static REPLACING: String;
}

/// Builds object_store's HTTP clients: see the module's documentation.
#[derive(Debug, Default)]
pub(super) struct CreateOnlyConnector;

impl HttpConnector for CreateOnlyConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let plain = options.clone().with_default_headers(HeaderMap::new());
        let inner = ReqwestConnector::default().connect(&plain)?;
        Ok(HttpClient::new(CreateOnly { inner }))
    }
}

#[derive(Debug)]
struct CreateOnly {
    inner: HttpClient,
}

#[async_trait::async_trait]
impl HttpService for CreateOnly {
    async fn call(&self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if is_completion(&req) {
            // A task-local, as object_store passes nothing of the caller's to
            // the completion request: set only in `Bucket::put_multipart`.
            let e_tag = REPLACING
                .try_with(|e| HeaderValue::from_str(e).ok())
                .ok()
                .flatten();
            let headers = req.headers_mut();
            match e_tag {
                Some(e_tag) => headers.insert(http::header::IF_MATCH, e_tag),
                None => headers.insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("*")),
            };
        }
        self.inner.execute(req).await
    }
}

/// CompleteMultipartUpload: `POST /KEY?uploadId=…` (creating one is `POST ?uploads`).
fn is_completion(req: &HttpRequest) -> bool {
    req.method() == http::Method::POST
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("uploadId=")))
}

/// A client for the requests camroll signs itself (PutObjectRetention).
pub(super) fn plain_client(timeout: Duration) -> object_store::Result<HttpClient> {
    ReqwestConnector::default().connect(
        &ClientOptions::new()
            .with_allow_http(true)
            .with_timeout(timeout),
    )
}

/// The body of PutObjectRetention: COMPLIANCE until `until` (`%Y-%m-%dT%H:%M:%SZ`).
pub(super) fn retention_xml(until: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: http::Method, uri: &str) -> HttpRequest {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Vec::new().into())
            .unwrap()
    }

    #[test]
    fn only_completions_are_made_conditional() {
        use http::Method;
        assert!(is_completion(&req(
            Method::POST,
            "http://h/b/k?uploadId=abc"
        )));
        for (m, u) in [
            (Method::POST, "http://h/b/k?uploads"),
            (Method::PUT, "http://h/b/k?partNumber=1&uploadId=abc"),
            (Method::DELETE, "http://h/b/k?uploadId=abc"),
            (Method::POST, "http://h/b?delete"),
            (Method::PUT, "http://h/b/k"),
        ] {
            assert!(!is_completion(&req(m.clone(), u)), "{m} {u}");
        }
    }
}
