//! A small, dependency-free WebDriver client for end-to-end tests.
//!
//! It drives Debian's headless Chromium through chromedriver using the W3C
//! WebDriver JSON protocol over hyper-util's legacy client. Include it from a
//! test file either as
//!
//! ```ignore
//! mod support { pub mod browser; }
//! ```
//!
//! or as
//!
//! ```ignore
//! #[path = "support/browser.rs"]
//! mod browser;
//! ```
//!
//! Binaries default to `/usr/bin/chromedriver` and `/usr/bin/chromium`; the
//! environment variables `CONSENTRY_CHROMEDRIVER` and `CONSENTRY_CHROMIUM`
//! override them.
//!
//! Every WebDriver error panics with the command and the error message: these
//! are test helpers, and a failed browser command is a failed test.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The W3C key under which an element reference is returned.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long one WebDriver command may take before the test helper panics.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long chromedriver may take to answer `GET /status` after spawning.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long creating the session (launching Chromium) may take. Generous:
/// the test machine has two cores shared with parallel tests.
const SESSION_TIMEOUT: Duration = Duration::from_secs(90);

/// Special keys for [`Browser::press_key`] and [`Browser::send_keys`].
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = "\u{E00D}";
    pub const SHIFT: &str = "\u{E008}";
    pub const ARROW_LEFT: &str = "\u{E012}";
    pub const ARROW_UP: &str = "\u{E013}";
    pub const ARROW_RIGHT: &str = "\u{E014}";
    pub const ARROW_DOWN: &str = "\u{E015}";
}

/// One cookie of the browser's jar, as reported by the DevTools protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    /// `"Strict"`, `"Lax"` or `"None"` when the cookie set one.
    pub same_site: Option<String>,
    /// True for a session cookie (no Expires / Max-Age).
    pub session: bool,
}

/// A WebDriver error answer (or a transport failure, with `error` "transport").
#[derive(Debug, Clone)]
struct WdError {
    status: u16,
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.error, self.status, self.message)
    }
}

/// A headless Chromium session driven through its own chromedriver process.
pub struct Browser {
    driver: Option<Child>,
    port: u16,
    base: String,
    session: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Holds the Chromium profile (`profile/`) and `chromedriver.log`.
    work_dir: PathBuf,
    session_deleted: bool,
}

fn unique_work_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "consentry-browser-{}-{}-{}",
        std::process::id(),
        nanos,
        n
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind 127.0.0.1:0 to pick a port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read local address: {e}"))
}

fn binary(var: &str, default: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        Ok(path)
    } else {
        let what = if var == "CONSENTRY_CHROMEDRIVER" {
            "chromedriver"
        } else {
            "chromium"
        };
        Err(format!(
            "{what} not found at {} (install Debian's `chromium` and `chromium-driver`, which .ci/run does, or set {var})",
            path.display()
        ))
    }
}

fn read_log(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => "<chromedriver log is empty>".to_string(),
        Ok(s) => {
            // Keep the error readable: the tail holds the failure.
            const MAX: usize = 8000;
            if s.len() > MAX {
                let mut start = s.len() - MAX;
                while !s.is_char_boundary(start) {
                    start += 1;
                }
                format!("...{}", &s[start..])
            } else {
                s
            }
        }
        Err(e) => format!("<cannot read chromedriver log {}: {e}>", path.display()),
    }
}

fn is_ci() -> bool {
    std::env::var("CI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// Prints `SKIPPED: <test>: <reason>` where `cargo test` shows it: straight to the
/// process's stderr, which the test harness does not capture (it captures only
/// `eprintln!`), so a skipped browser test is seen even though it passes.
pub fn skipped(test_name: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test_name}: {reason}");
}

/// Percent-encodes a path segment (attribute names, ids) for a WebDriver URL.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn element_id(value: &Value) -> Option<String> {
    value
        .get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Sends one HTTP request to chromedriver and decodes the WebDriver answer.
async fn wd_request(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Value, WdError> {
    let transport = |message: String| WdError {
        status: 0,
        error: "transport".to_string(),
        message,
    };
    let mut builder = Request::builder().method(method).uri(url);
    let payload = match body {
        Some(v) => {
            builder = builder.header("content-type", "application/json; charset=utf-8");
            Bytes::from(serde_json::to_vec(v).expect("serialize WebDriver body"))
        }
        None => Bytes::new(),
    };
    let request = builder
        .body(Full::new(payload))
        .map_err(|e| transport(format!("cannot build request: {e}")))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| transport(format!("request failed: {e}")))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(format!("reading response body failed: {e}")))?
            .to_bytes();
        Ok::<_, WdError>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| transport(format!("no answer within {timeout:?}")))??;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| WdError {
        status,
        error: "invalid json".to_string(),
        message: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
    })?;
    let value = json.get("value").cloned().unwrap_or(Value::Null);
    let error = value.get("error").and_then(Value::as_str);
    if status >= 400 || error.is_some() {
        return Err(WdError {
            status,
            error: error.unwrap_or("unknown error").to_string(),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
        });
    }
    Ok(value)
}

impl Browser {
    /// Starts chromedriver on a free 127.0.0.1 port and a headless Chromium
    /// session with a fresh profile. Errs with a clear reason when chromedriver
    /// or Chromium is missing or does not start.
    pub async fn start() -> Result<Browser, String> {
        Browser::start_with_args(Vec::new()).await
    }

    /// [`Browser::start`] with more Chromium flags (`--host-resolver-rules=…`).
    pub async fn start_with_args(extra_args: Vec<String>) -> Result<Browser, String> {
        let driver_bin = binary("CONSENTRY_CHROMEDRIVER", DEFAULT_CHROMEDRIVER)?;
        let chromium_bin = binary("CONSENTRY_CHROMIUM", DEFAULT_CHROMIUM)?;

        let work_dir = unique_work_dir();
        let profile = work_dir.join("profile");
        std::fs::create_dir_all(&profile)
            .map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
        let log_path = work_dir.join("chromedriver.log");

        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();

        // The port is picked by binding and releasing it, so another process
        // may grab it in between: retry a few times with a fresh port.
        let mut last_err = String::new();
        let mut started = None;
        for _attempt in 0..3 {
            let port = match free_port() {
                Ok(p) => p,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&work_dir);
                    return Err(e);
                }
            };
            let mut child = match Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log_path.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&work_dir);
                    return Err(format!("cannot run {}: {e}", driver_bin.display()));
                }
            };
            let base = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
            let ready = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("chromedriver exited early with {status}"));
                }
                match wd_request(
                    &client,
                    Method::GET,
                    &format!("{base}/status"),
                    None,
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok(v) if v.get("ready").and_then(Value::as_bool) == Some(true) => {
                        break Ok(());
                    }
                    Ok(v) => last_err = format!("chromedriver not ready: {v}"),
                    Err(e) => last_err = format!("chromedriver not answering: {e}"),
                }
                if Instant::now() >= deadline {
                    break Err(format!(
                        "chromedriver did not become ready within {DRIVER_READY_TIMEOUT:?}: {last_err}"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            match ready {
                Ok(()) => {
                    started = Some((child, port, base));
                    break;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = format!("{e}\nchromedriver log:\n{}", read_log(&log_path));
                }
            }
        }
        let Some((child, port, base)) = started else {
            let _ = std::fs::remove_dir_all(&work_dir);
            return Err(last_err);
        };

        let mut browser = Browser {
            driver: Some(child),
            port,
            base,
            session: String::new(),
            client,
            work_dir,
            session_deleted: true,
        };

        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--password-store=basic".to_string(),
            "--window-size=1280,900".to_string(),
            // The HTTPS tests serve certificates rcgen made a moment ago.
            "--ignore-certificate-errors".to_string(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra_args);
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30000, "script": 30000 },
                    "goog:chromeOptions": {
                        "binary": chromium_bin.to_string_lossy(),
                        "args": args,
                    }
                }
            }
        });
        let created = wd_request(
            &browser.client,
            Method::POST,
            &format!("{}/session", browser.base),
            Some(&capabilities),
            SESSION_TIMEOUT,
        )
        .await;
        match created {
            Ok(value) => {
                let Some(session) = value.get("sessionId").and_then(Value::as_str) else {
                    let log = read_log(&browser.work_dir.join("chromedriver.log"));
                    return Err(format!(
                        "chromedriver answered POST /session without a sessionId: {value}\nchromedriver log:\n{log}"
                    ));
                };
                browser.session = session.to_string();
                browser.session_deleted = false;
                Ok(browser)
            }
            Err(e) => {
                let log = read_log(&browser.work_dir.join("chromedriver.log"));
                Err(format!(
                    "cannot start a Chromium session ({}): {e}\nchromedriver log:\n{log}",
                    chromium_bin.display()
                ))
                // `browser` drops here: chromedriver is killed, the dir removed.
            }
        }
    }

    /// For tests: `Some(browser)` when a browser can be started. Otherwise,
    /// under CI (`CI=true`) panics with the reason; elsewhere prints
    /// `SKIPPED: <test>: <reason>` to stderr and returns `None`.
    pub async fn for_test(test_name: &str) -> Option<Browser> {
        Browser::for_test_with_args(test_name, Vec::new()).await
    }

    /// [`Browser::for_test`] with more Chromium flags.
    pub async fn for_test_with_args(test_name: &str, extra_args: Vec<String>) -> Option<Browser> {
        match Browser::start_with_args(extra_args).await {
            Ok(b) => Some(b),
            Err(reason) if is_ci() => {
                panic!("{test_name}: browser unavailable under CI: {reason}")
            }
            Err(reason) => {
                skipped(test_name, &reason);
                None
            }
        }
    }

    /// The WebDriver session id.
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// chromedriver's base URL (`http://127.0.0.1:<port>`).
    pub fn driver_url(&self) -> &str {
        &self.base
    }

    async fn try_cmd(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        wd_request(&self.client, method, &url, body.as_ref(), COMMAND_TIMEOUT).await
    }

    /// Runs one session command; panics on any WebDriver error.
    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let label = format!("{method} /session/{{id}}{path}");
        match self.try_cmd(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver command {label} failed: {e}"),
        }
    }

    /// Navigates and waits for the page load (pageLoadStrategy "normal").
    pub async fn goto(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Navigates like [`Browser::goto`], but returns a failed navigation (an answer
    /// Chromium will not read, say) as an error instead of panicking.
    pub async fn try_goto(&self, url: &str) -> Result<(), String> {
        self.try_cmd(Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The browser's name and version, as chromedriver reports them.
    pub async fn version(&self) -> String {
        let v = self.cdp("Browser.getVersion", json!({})).await;
        v.get("product")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    }

    pub async fn current_url(&self) -> String {
        as_string(self.cmd(Method::GET, "/url", None).await)
    }

    pub async fn title(&self) -> String {
        as_string(self.cmd(Method::GET, "/title", None).await)
    }

    /// The serialized current DOM (not the bytes the server sent).
    pub async fn page_source(&self) -> String {
        as_string(self.cmd(Method::GET, "/source", None).await)
    }

    /// The element id of the first match for `css`, or `None`.
    pub async fn find(&self, css: &str) -> Option<String> {
        let body = json!({ "using": "css selector", "value": css });
        match self.try_cmd(Method::POST, "/element", Some(body)).await {
            Ok(v) => Some(element_id(&v).unwrap_or_else(|| {
                panic!("WebDriver find {css:?}: answer without element reference: {v}")
            })),
            Err(e) if e.error == "no such element" => None,
            Err(e) => {
                panic!("WebDriver command POST /session/{{id}}/element ({css:?}) failed: {e}")
            }
        }
    }

    /// Element ids of every match for `css` (possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let body = json!({ "using": "css selector", "value": css });
        let v = self.cmd(Method::POST, "/elements", Some(body)).await;
        v.as_array()
            .map(|a| a.iter().filter_map(element_id).collect())
            .unwrap_or_default()
    }

    /// Polls for `css` until it matches or `timeout` passes.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.find(css).await {
                return Some(id);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, element: &str) {
        let path = format!("/element/{}/click", path_segment(element));
        self.cmd(Method::POST, &path, Some(json!({}))).await;
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &str) -> String {
        let path = format!("/element/{}/text", path_segment(element));
        as_string(self.cmd(Method::GET, &path, None).await)
    }

    /// The element's content attribute as written in the DOM, `None` when
    /// absent. (Live state such as an input's typed `value` is a property:
    /// see [`Browser::property`].)
    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let path = format!(
            "/element/{}/attribute/{}",
            path_segment(element),
            path_segment(name)
        );
        match self.cmd(Method::GET, &path, None).await {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// The element's DOM property (`value`, `checked`, ...) as JSON;
    /// `Value::Null` when undefined.
    pub async fn property(&self, element: &str, name: &str) -> Value {
        let path = format!(
            "/element/{}/property/{}",
            path_segment(element),
            path_segment(name)
        );
        self.cmd(Method::GET, &path, None).await
    }

    /// Whether the element is displayed.
    pub async fn is_displayed(&self, element: &str) -> bool {
        let path = format!("/element/{}/displayed", path_segment(element));
        self.cmd(Method::GET, &path, None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Runs a synchronous script (`return ...;` to get a value). Element
    /// arguments are `json!({"element-6066-11e4-a52e-4f735466cecf": id})`,
    /// see [`element_arg`].
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        let body = json!({ "script": script, "args": args });
        self.cmd(Method::POST, "/execute/sync", Some(body)).await
    }

    /// Types `text` into the element (special keys from [`keys`] allowed).
    pub async fn send_keys(&self, element: &str, text: &str) {
        let path = format!("/element/{}/value", path_segment(element));
        self.cmd(Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    /// Presses and releases one key on whatever has focus, through the W3C
    /// actions endpoint: e.g. [`keys::TAB`] ("\u{E004}"), [`keys::ENTER`]
    /// ("\u{E007}") or a plain character.
    pub async fn press_key(&self, key: &str) {
        let body = json!({
            "actions": [{
                "type": "key",
                "id": "keyboard",
                "actions": [
                    { "type": "keyDown", "value": key },
                    { "type": "keyUp", "value": key },
                ]
            }]
        });
        self.cmd(Method::POST, "/actions", Some(body)).await;
        self.cmd(Method::DELETE, "/actions", None).await;
    }

    /// Presses the mouse's left button at (`x`, `y`) in the viewport, holds it for
    /// `hold`, and releases it there, through the W3C actions endpoint (no scrolling
    /// into view first, unlike an element click).
    pub async fn press_at(&self, x: f64, y: f64, hold: Duration) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        let body = json!({
            "actions": [{
                "type": "pointer",
                "id": "mouse",
                "parameters": { "pointerType": "mouse" },
                "actions": [
                    { "type": "pointerMove", "origin": "viewport", "x": x, "y": y, "duration": 0 },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pause", "duration": hold.as_millis() as u64 },
                    { "type": "pointerUp", "button": 0 },
                ]
            }]
        });
        self.cmd(Method::POST, "/actions", Some(body)).await;
        self.cmd(Method::DELETE, "/actions", None).await;
    }

    /// The element id of the focused element (`document.body` when none).
    pub async fn active_element(&self) -> String {
        let v = self.cmd(Method::GET, "/element/active", None).await;
        element_id(&v).unwrap_or_else(|| panic!("WebDriver active element: unexpected answer {v}"))
    }

    /// Runs a Chrome DevTools protocol command via chromedriver's
    /// `POST /session/{id}/goog/cdp/execute`.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let body = json!({ "cmd": cmd, "params": params });
        self.cmd(Method::POST, "/goog/cdp/execute", Some(body))
            .await
    }

    /// Every cookie in the browser's jar, HttpOnly included.
    pub async fn all_cookies(&self) -> Vec<Cookie> {
        let v = self.cdp("Network.getAllCookies", json!({})).await;
        let Some(list) = v.get("cookies").and_then(Value::as_array) else {
            panic!("Network.getAllCookies: unexpected answer {v}");
        };
        list.iter()
            .map(|c| {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let b = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
                Cookie {
                    name: s("name"),
                    value: s("value"),
                    domain: s("domain"),
                    path: s("path"),
                    http_only: b("httpOnly"),
                    secure: b("secure"),
                    same_site: c
                        .get("sameSite")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    session: b("session"),
                }
            })
            .collect()
    }

    /// The named cookie from [`Browser::all_cookies`] (first match, any domain).
    pub async fn cookie(&self, name: &str) -> Option<Cookie> {
        self.all_cookies()
            .await
            .into_iter()
            .find(|c| c.name == name)
    }

    /// Empties the browser's whole cookie jar.
    pub async fn clear_cookies(&self) {
        self.cdp("Network.clearBrowserCookies", json!({})).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        let v = self.cmd(Method::GET, "/screenshot", None).await;
        let Some(b64) = v.as_str() else {
            panic!("WebDriver screenshot: unexpected answer {v}");
        };
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("WebDriver screenshot: bad base64: {e}"))
    }

    /// Writes `target/screenshots/<name>.png` and returns its path.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let png = self.screenshot_png().await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{file}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Ends the session, stops chromedriver and removes the profile.
    pub async fn quit(mut self) {
        if !self.session_deleted {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = wd_request(
                &self.client,
                Method::DELETE,
                &url,
                None,
                Duration::from_secs(20),
            )
            .await;
            self.session_deleted = true;
        }
        self.cleanup();
    }

    /// Best-effort teardown, safe to run twice and outside any runtime.
    fn cleanup(&mut self) {
        if !self.session_deleted {
            // Drop cannot await: end the session with a plain blocking request
            // so chromedriver closes Chromium itself.
            blocking_delete(self.port, &self.session);
            self.session_deleted = true;
        }
        if let Some(mut child) = self.driver.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Chromium can outlive a killed chromedriver (or a session creation
        // that timed out): stop every process still running on our profile.
        // Chromium quits by itself within moments of a session's end; give
        // it that long, then SIGKILL what is left and wait for it to go.
        let profile = self.work_dir.join("profile");
        let grace = Instant::now() + Duration::from_secs(2);
        let mut killed_at = None;
        loop {
            let pids = profile_pids(&profile);
            if pids.is_empty() {
                break;
            }
            match killed_at {
                None if Instant::now() >= grace => {
                    for pid in pids {
                        let _ = Command::new("kill")
                            .arg("-KILL")
                            .arg(pid.to_string())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status();
                    }
                    killed_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() >= Duration::from_secs(2) => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..5 {
            match std::fs::remove_dir_all(&self.work_dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => break,
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A WebDriver element reference for [`Browser::execute`] arguments.
pub fn element_arg(element: &str) -> Value {
    json!({ ELEMENT_KEY: element })
}

fn as_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn screenshot_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() { t } else { manifest.join(t) }
        }
        None => manifest.join("target"),
    };
    target.join("screenshots")
}

/// Ids of live (non-zombie) processes whose command line names `profile`
/// (a directory unique to one [`Browser`]).
fn profile_pids(profile: &Path) -> Vec<u32> {
    let needle = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(&needle) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let rest = rest.trim_start();
                if rest.starts_with('Z') || rest.starts_with('X') {
                    continue;
                }
            }
        }
        pids.push(pid);
    }
    pids
}

/// `DELETE /session/{id}` over a plain std socket, ignoring every error.
fn blocking_delete(port: u16, session: &str) {
    if session.is_empty() {
        return;
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // chromedriver answers once Chromium has quit, but keeps the connection
    // open despite `Connection: close`: read just the one response.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
