//! One HTTP server: JSON requests and server-sent event streams, with per-request timeouts,
//! retries on what a retry can fix (connection errors, timeouts, 429 and 5xx; never other 4xx),
//! cancellation while a request is in flight, and errors that name the server.
//!
//! The rest of stepscope is synchronous (the model thread, CLI commands), so each call blocks on
//! one shared tokio runtime; a cancel flag is polled beside the request, so `Esc` drops a
//! connection to a slow server at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use serde_json::Value;

/// How a request failed. Only some failures are worth a retry or count against the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No connection (refused, reset, DNS).
    Connect(String),
    /// The answer started but stopped before it was whole (a stream cut, a connection reset).
    Cut(String),
    /// No answer (or no next event) within the timeout.
    Timeout(Duration),
    /// The server answered with an error status.
    Status {
        code: u16,
        message: String,
    },
    /// The answer could not be read (not JSON, a malformed event, a missing field).
    Malformed(String),
    Cancelled,
}

impl Failure {
    /// Whether trying again (here or on another server) may succeed: the failure is the
    /// server's (it counts against it in a pool), not the request's.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Connect(_) | Failure::Cut(_) | Failure::Timeout(_) => true,
            Failure::Status { code, .. } => *code == 429 || *code >= 500,
            Failure::Malformed(_) | Failure::Cancelled => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Cut(e) => write!(f, "the answer was cut off: {e}"),
            Failure::Timeout(d) => write!(f, "no answer within {:.1} s", d.as_secs_f64()),
            Failure::Status { code: 401, message } => {
                write!(f, "HTTP 401 unauthorized ({message}): give the server's key with --api-key or OPENAI_API_KEY")
            }
            Failure::Status { code, message } => write!(f, "HTTP {code}: {message}"),
            Failure::Malformed(e) => write!(f, "malformed answer: {e}"),
            Failure::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl Failure {
    /// The failure with `secret` (the API key) blanked out of any text the server sent back: a
    /// server that echoes the Authorization header never gets the key printed.
    fn redacted(self, secret: Option<&str>) -> Failure {
        let Some(secret) = secret.filter(|s| s.len() >= 4) else { return self };
        let hide = |t: String| t.replace(secret, "[api key]");
        match self {
            Failure::Connect(t) => Failure::Connect(hide(t)),
            Failure::Cut(t) => Failure::Cut(hide(t)),
            Failure::Status { code, message } => Failure::Status { code, message: hide(message) },
            Failure::Malformed(t) => Failure::Malformed(hide(t)),
            other => other,
        }
    }
}

/// `url` without its user and password (`http://alice:pw@host:1` → `http://host:1`): what may be
/// printed, stored or shown of a server's address.
pub fn without_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A failure at one server, naming it.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub server: String,
    pub failure: Failure,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server {}: {}", self.server, self.failure)
    }
}

impl std::error::Error for ServerError {}

/// Timeouts and retries for one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A whole plain request, or the wait for the next event of a stream.
    pub timeout: Duration,
    /// Extra tries after a retryable failure.
    pub retries: usize,
    /// The first backoff delay (doubled each time, with jitter).
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { timeout: Duration::from_secs(120), retries: 3, backoff: Duration::from_millis(250) }
    }
}

/// What an event handler tells the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The event carried something new (a token): the wait for the next one starts again.
    Continue,
    /// The event carried nothing new: the wait for progress goes on (a server sending empty
    /// events cannot hold a request for ever).
    Idle,
    Stop,
}

/// The largest plain answer read (a JSON body); a larger one is refused, not buffered.
pub const MAX_BODY: usize = 64 << 20;
/// The largest single server-sent event (a streamed chunk is a few KiB).
pub const MAX_EVENT: usize = 4 << 20;

/// One server at a base URL (`http://host:port`, without `/v1`).
pub struct Server {
    /// The URL requests go to (with the user and password, when the URL has them).
    base: String,
    /// The URL as shown: never the user's password.
    shown: String,
    key: Option<String>,
    client: reqwest::Client,
    limits: Limits,
}

impl std::fmt::Debug for Server {
    // The key is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("base", &self.shown).field("key", &self.key.as_ref().map(|_| "…")).finish()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stepscope-http")
            .enable_all()
            .build()
            .expect("the HTTP runtime starts")
    })
}

impl Server {
    /// A server at `url` (a trailing `/` or `/v1` is dropped).
    pub fn new(url: &str, key: Option<String>, limits: Limits) -> Result<Server, String> {
        let base = url.trim_end_matches('/').trim_end_matches("/v1").trim_end_matches('/').to_string();
        let shown = without_userinfo(&base);
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("'{shown}' is not a server URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("'{shown}' is not a server URL (expected http://HOST:PORT or https://…)"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Server { base, shown, key, client, limits })
    }

    /// The server's address as it may be printed or stored (no user or password).
    pub fn url(&self) -> &str {
        &self.shown
    }

    fn error(&self, failure: Failure) -> ServerError {
        ServerError { server: self.shown.clone(), failure: failure.redacted(self.key.as_deref()) }
    }

    /// `GET path`, as JSON.
    pub fn get(&self, path: &str, cancel: &AtomicBool) -> Result<Value, ServerError> {
        self.json(reqwest::Method::GET, path, None, cancel)
    }

    /// `POST path` with a JSON body, as JSON.
    pub fn post(&self, path: &str, body: &Value, cancel: &AtomicBool) -> Result<Value, ServerError> {
        self.json(reqwest::Method::POST, path, Some(body), cancel)
    }

    fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        cancel: &AtomicBool,
    ) -> Result<Value, ServerError> {
        let once = || async {
            let mut response = self.send(method.clone(), path, body).await?;
            let mut bytes = Vec::new();
            while let Some(piece) = response.chunk().await.map_err(|e| Failure::Cut(reqwest_reason(&e)))? {
                if bytes.len() + piece.len() > MAX_BODY {
                    return Err(Failure::Malformed(format!(
                        "{path}: the answer is larger than {} MiB",
                        MAX_BODY >> 20
                    )));
                }
                bytes.extend_from_slice(&piece);
            }
            serde_json::from_slice(&bytes).map_err(|e| Failure::Malformed(format!("{path}: not JSON ({e})")))
        };
        let timeout = self.limits.timeout;
        let with_timeout =
            || async { tokio::time::timeout(timeout, once()).await.unwrap_or(Err(Failure::Timeout(timeout))) };
        block_on(with_timeout.retry(self.backoff()).when(Failure::retryable), cancel).map_err(|f| self.error(f))
    }

    /// `POST path` asking for a server-sent event stream; `on_event` gets each event's data until
    /// `[DONE]`, the end of the stream, or `Flow::Stop`. The request is retried only while no
    /// event has arrived (an event already handed out cannot be taken back). The timeout is the
    /// wait for progress: events that `on_event` calls idle do not restart it.
    pub fn stream(
        &self,
        path: &str,
        body: &Value,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&str) -> Result<Flow, String>,
    ) -> Result<(), ServerError> {
        let timeout = self.limits.timeout;
        let open = || async {
            let r = tokio::time::timeout(timeout, self.send(reqwest::Method::POST, path, Some(body))).await;
            r.unwrap_or(Err(Failure::Timeout(timeout)))
        };
        let read = async {
            let response = open.retry(self.backoff()).when(Failure::retryable).await?;
            let mut bytes = response.bytes_stream();
            let mut framer = super::sse::Framer::new(MAX_EVENT);
            let mut deadline = tokio::time::Instant::now() + timeout;
            loop {
                let next =
                    tokio::time::timeout_at(deadline, bytes.next()).await.map_err(|_| Failure::Timeout(timeout))?;
                let piece = match next {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(Failure::Cut(reqwest_reason(&e))),
                    Some(Ok(piece)) => piece,
                };
                let events = framer.push(&piece).map_err(|e| Failure::Malformed(format!("{path}: {e}")))?;
                for data in events {
                    if data.trim() == "[DONE]" {
                        return Ok(());
                    }
                    match on_event(&data).map_err(|e| Failure::Malformed(format!("{path}: {e}")))? {
                        Flow::Stop => return Ok(()),
                        Flow::Continue => deadline = tokio::time::Instant::now() + timeout,
                        Flow::Idle => {}
                    }
                }
            }
        };
        block_on(read, cancel).map_err(|f| self.error(f))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, Failure> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Failure::Connect(reqwest_reason(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(Failure::Status { code: status.as_u16(), message: error_message(path, &text) })
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.limits.backoff)
            .with_max_delay(self.limits.backoff * 8)
            .with_max_times(self.limits.retries)
            .with_jitter()
    }
}

/// The server's own words about an error status: `error.message` of an OpenAI-style body, else
/// the body's first line.
fn error_message(path: &str, body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let e = v.get("error")?;
        e.get("message").and_then(Value::as_str).map(str::to_string).or_else(|| e.as_str().map(str::to_string))
    });
    let text = from_json.unwrap_or_else(|| body.lines().next().unwrap_or("").chars().take(200).collect());
    if text.is_empty() {
        format!("{path} failed")
    } else {
        format!("{path}: {text}")
    }
}

/// What went wrong, in the words of the innermost cause ("Connection refused (os error 111)"):
/// reqwest's own text names the URL again and its layers.
fn reqwest_reason(e: &reqwest::Error) -> String {
    let mut last = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        format!("timed out ({last})")
    } else {
        last
    }
}

/// Runs `work` to completion on the shared runtime unless `cancel` is set first.
fn block_on<T>(work: impl std::future::Future<Output = Result<T, Failure>>, cancel: &AtomicBool) -> Result<T, Failure> {
    if tokio::runtime::Handle::try_current().is_ok() {
        // Blocking inside async code would stall (or panic) its runtime.
        return Err(Failure::Connect("a server call was made from async code".into()));
    }
    let cancelled = async {
        while !cancel.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    runtime().block_on(async {
        tokio::select! {
            r = work => r,
            _ = cancelled => Err(Failure::Cancelled),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_only_what_a_retry_can_fix() {
        assert!(Failure::Connect("refused".into()).retryable());
        assert!(Failure::Timeout(Duration::from_secs(1)).retryable());
        assert!(Failure::Status { code: 429, message: String::new() }.retryable());
        assert!(Failure::Status { code: 503, message: String::new() }.retryable());
        assert!(!Failure::Status { code: 400, message: String::new() }.retryable());
        assert!(!Failure::Status { code: 401, message: String::new() }.retryable());
        assert!(!Failure::Malformed("x".into()).retryable());
    }

    #[test]
    fn urls_are_checked_and_the_key_is_not_printed() {
        assert!(Server::new("localhost:8080", None, Limits::default()).is_err());
        let s = Server::new("http://127.0.0.1:8080/v1/", Some("sk-secret".into()), Limits::default()).unwrap();
        assert_eq!(s.url(), "http://127.0.0.1:8080");
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn passwords_in_urls_and_echoed_keys_are_never_shown() {
        assert_eq!(without_userinfo("http://alice:PASSWORD@host:8080/v1"), "http://host:8080/v1");
        assert_eq!(without_userinfo("https://tok@h/x@y"), "https://h/x@y");
        assert_eq!(without_userinfo("http://h:1"), "http://h:1");
        let s = Server::new("http://alice:PASSWORD@127.0.0.1:9/", None, Limits::default()).unwrap();
        assert_eq!(s.url(), "http://127.0.0.1:9");
        assert!(!format!("{s:?}").contains("PASSWORD"));
        let e = Server::new("ftp://bob:PASSWORD@h", None, Limits::default()).unwrap_err();
        assert!(!e.contains("PASSWORD"), "{e}");
        let key = Server::new("http://127.0.0.1:9", Some("sk-secret-1".into()), Limits::default()).unwrap();
        let echoed = Failure::Status { code: 400, message: "bad header: Bearer sk-secret-1".into() };
        let shown = key.error(echoed).to_string();
        assert!(!shown.contains("sk-secret-1") && shown.contains("Bearer [api key]"), "{shown}");
    }

    #[test]
    fn error_bodies_give_the_servers_words() {
        assert_eq!(error_message("/x", r#"{"error":{"message":"bad key","code":401}}"#), "/x: bad key");
        assert_eq!(error_message("/x", "File Not Found\nmore"), "/x: File Not Found");
        assert_eq!(error_message("/x", ""), "/x failed");
    }
}
