//! A local stand-in for Reddit, on 127.0.0.1, for the live producer's tests.
//!
//! It serves the recorded real responses of `shared/data/reddit/api/` (status, rate-limit and
//! auth headers, body) and responses the tests write (pages built from recorded items, empty
//! listings, 429s, 401s, 500s). Its token endpoint checks HTTP basic auth against the clients
//! a test registers and issues tokens; its API checks the bearer token. It keeps, per client
//! id, a budget window of its own and answers with `x-ratelimit-*` from it; a request that
//! arrives while that budget is exhausted is recorded as a violation (and answered 429), which
//! is what the budget tests assert never happens.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const API_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/reddit/api");

/// Headers of a recording that a replay keeps; the rest describe the original connection.
const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "retry-after",
    "www-authenticate",
    "location",
];

/// One canned response.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    /// The recorded response in `api/<file>` (name without `.json`), unchanged.
    pub fn recorded(file: &str) -> Self {
        let doc = recording(file);
        let response = &doc["response"];
        let status = response["status"].as_u64().expect("recorded status") as u16;
        let mut headers = Vec::new();
        if let Some(map) = response["headers"].as_object() {
            for (name, value) in map {
                if !KEPT_HEADERS.contains(&name.as_str()) {
                    continue;
                }
                match value {
                    Value::String(s) => headers.push((name.clone(), s.clone())),
                    Value::Array(list) => {
                        for v in list.iter().filter_map(Value::as_str) {
                            headers.push((name.clone(), v.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
        let body = match response["body_format"].as_str() {
            Some("json") => serde_json::to_vec(&response["body"]).expect("json body"),
            Some("text") => response["body"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
            _ => Vec::new(),
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// A listing page written by a test: `children` as given, `after` as given.
    pub fn listing(children: Vec<Value>, after: Option<&str>) -> Self {
        let body = serde_json::json!({
            "kind": "Listing",
            "data": {"after": after, "dist": children.len(), "modhash": "", "geo_filter": "",
                     "children": children, "before": null}
        });
        Self::json(200, &body)
    }

    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body: serde_json::to_vec(body).expect("json"),
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The parsed JSON of one recording.
pub fn recording(file: &str) -> Value {
    let path = format!("{API_DIR}/{file}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// The `children` of a recorded listing.
pub fn recorded_children(file: &str) -> Vec<Value> {
    recording(file)["response"]["body"]["data"]["children"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How the token endpoint treats one client id.
#[derive(Debug, Clone)]
pub struct Client {
    pub secret: String,
    /// `None`: grant tokens; `Some(canned)`: answer the token request with it (e.g. api/04).
    pub refuse_with: Option<Canned>,
    /// Tokens of this client are accepted for this many API requests, then answered 401
    /// (api/12) as expired. `None`: forever.
    pub token_uses: Option<u32>,
    /// Budget window: requests per window and its length. `None`: pass recorded headers.
    pub budget: Option<(u32, Duration)>,
}

impl Client {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.into(),
            refuse_with: None,
            token_uses: None,
            budget: None,
        }
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Token requests: the basic-auth user; API requests: the client id of the bearer token.
    pub client_id: Option<String>,
    /// Token requests: the form fields.
    pub form: HashMap<String, String>,
    pub user_agent: String,
    pub status: u16,
}

#[derive(Default)]
struct Window {
    used: u32,
    ends: Option<Instant>,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, Client>,
    tokens: HashMap<String, (String, u32)>,
    routes: HashMap<String, Vec<Canned>>,
    windows: HashMap<String, Window>,
    seen: Vec<Seen>,
    violations: Vec<String>,
    issued: u32,
}

#[derive(Clone)]
pub struct ReplayServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ReplayServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let server = Self {
            addr,
            state: Arc::default(),
        };
        let state = Arc::clone(&server.state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let _ = handle(stream, state).await;
                });
            }
        });
        server
    }

    pub fn auth_url(&self) -> String {
        format!("http://{}/api/v1/access_token", self.addr)
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self, id: &str, client: Client) {
        self.state.lock().unwrap().clients.insert(id.into(), client);
    }

    /// Responses for `path` (optionally `path?after=X`), served in order; the last repeats.
    pub fn route(&self, path: &str, responses: Vec<Canned>) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.into(), responses);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    pub fn clear_seen(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

async fn handle(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), decode_form(q)),
        None => (target.clone(), HashMap::new()),
    };
    let canned = {
        let mut state = state.lock().unwrap();
        respond(&mut state, &path, query, &headers, &body)
    };
    let reason = match canned.status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", canned.status);
    for (k, v) in &canned.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        canned.body.len()
    ));
    stream.write_all(out.as_bytes()).await?;
    stream.write_all(&canned.body).await?;
    stream.shutdown().await
}

fn respond(
    state: &mut State,
    path: &str,
    query: HashMap<String, String>,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Canned {
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut seen = Seen {
        at: Instant::now(),
        path: path.to_string(),
        query: query.clone(),
        client_id: None,
        form: HashMap::new(),
        user_agent,
        status: 0,
    };
    let canned = if path == "/api/v1/access_token" {
        token(state, headers, body, &mut seen)
    } else {
        api(state, path, &query, headers, &mut seen)
    };
    seen.status = canned.status;
    state.seen.push(seen);
    canned
}

fn token(
    state: &mut State,
    headers: &HashMap<String, String>,
    body: &[u8],
    seen: &mut Seen,
) -> Canned {
    seen.form = decode_form(&String::from_utf8_lossy(body));
    let (id, secret) = headers
        .get("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(base64_decode)
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .unwrap_or_default();
    seen.client_id = Some(id.clone());
    let Some(client) = state.clients.get(&id).cloned() else {
        return Canned::recorded("12_error_401_invalid_token");
    };
    if client.secret != secret {
        return Canned::recorded("12_error_401_invalid_token");
    }
    if let Some(refusal) = client.refuse_with {
        return refusal;
    }
    state.issued += 1;
    let access = format!("tok{}x{}", state.issued, id.len());
    state.tokens.insert(access.clone(), (id, 0));
    // The recorded token response, with a token of our own.
    let mut recorded = recording("01_auth_token_client_credentials")["response"]["body"].clone();
    recorded["access_token"] = Value::String(access);
    Canned::json(200, &recorded)
}

fn api(
    state: &mut State,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
    seen: &mut Seen,
) -> Canned {
    let bearer = headers
        .get("authorization")
        .and_then(|h| {
            h.strip_prefix("bearer ")
                .or_else(|| h.strip_prefix("Bearer "))
        })
        .unwrap_or_default()
        .to_string();
    let Some((client_id, uses)) = state.tokens.get(&bearer).cloned() else {
        return Canned::recorded("12_error_401_invalid_token");
    };
    seen.client_id = Some(client_id.clone());
    let client = state
        .clients
        .get(&client_id)
        .cloned()
        .expect("token of a known client");
    if client.token_uses.is_some_and(|max| uses >= max) {
        return Canned::recorded("12_error_401_invalid_token");
    }
    state.tokens.insert(bearer, (client_id.clone(), uses + 1));

    let mut budget_headers = None;
    if let Some((limit, length)) = client.budget {
        let now = Instant::now();
        let window = state.windows.entry(client_id.clone()).or_default();
        if window.ends.is_none_or(|e| now >= e) {
            window.used = 0;
            window.ends = Some(now + length);
        }
        let ends = window.ends.unwrap_or(now);
        if window.used >= limit {
            state.violations.push(format!(
                "{path} with client {client_id}: budget of {limit} spent, {} ms before reset",
                ends.saturating_duration_since(now).as_millis()
            ));
            return Canned::recorded("11_error_429_html_with_retry_after");
        }
        window.used += 1;
        let reset = ends.saturating_duration_since(now).as_secs_f64().ceil() as u64;
        budget_headers = Some([
            ("x-ratelimit-used", window.used.to_string()),
            // The two real shapes: "598.0" on oauth.reddit.com, "988" elsewhere.
            (
                "x-ratelimit-remaining",
                format!("{}.0", limit - window.used),
            ),
            ("x-ratelimit-reset", reset.to_string()),
        ]);
    }

    let mut key = path.to_string();
    if let Some(after) = query.get("after") {
        key = format!("{path}?after={after}");
    }
    if !state.routes.contains_key(&key) {
        key = path.to_string();
    }
    let canned = match state.routes.get_mut(&key) {
        Some(list) if list.len() > 1 => list.remove(0),
        Some(list) if !list.is_empty() => list[0].clone(),
        _ => Canned::recorded("15_error_404_wiki_page_not_created"),
    };
    let mut canned = canned;
    if let Some(extra) = budget_headers {
        canned
            .headers
            .retain(|(k, _)| !k.starts_with("x-ratelimit-"));
        for (k, v) in extra {
            canned.headers.push((k.into(), v));
        }
    }
    canned
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn decode_form(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.push(b'%'),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn base64_decode(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.trim().bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}
