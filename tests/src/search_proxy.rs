//! A small HTTP proxy in front of the real search store that misbehaves on demand, the way a
//! loaded cluster does: whole `_bulk` requests answered `429 Too Many Requests`, and chosen
//! documents refused item by item (`429` inside a `200` answer) while the rest of the bulk is
//! really indexed. Everything else passes through unchanged.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// What the proxy does wrong, changeable while it runs.
#[derive(Default)]
pub struct Faults {
    /// The next this-many `_bulk` requests get a `429` as a whole, without reaching the store.
    pub throttle_bulks: AtomicUsize,
    /// Documents (`_id`) refused with a per-item `429`, never sent to the store.
    pub doomed: Mutex<BTreeSet<String>>,
    /// How many whole requests and single items were refused so far.
    pub throttled_bulks: AtomicUsize,
    pub refused_items: AtomicUsize,
    stop: AtomicBool,
}

/// A running proxy; stops accepting when dropped.
pub struct SearchProxy {
    pub url: String,
    pub faults: Arc<Faults>,
}

impl SearchProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> anyhow::Result<Self> {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the proxy")?;
        let url = format!("http://{}", listener.local_addr()?);
        let faults = Arc::new(Faults::default());
        let shared = faults.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let faults = shared.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &faults);
                });
            }
        });
        Ok(Self { url, faults })
    }
}

impl Drop for SearchProxy {
    fn drop(&mut self) {
        self.faults.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("the proxy does not take chunked requests");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request { method, path, body }))
}

fn respond(out: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

/// One request to the real store (HTTP/1.0, so the answer is never chunked).
fn forward(upstream: &str, req: &Request) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut conn = TcpStream::connect(upstream)
        .with_context(|| format!("proxy cannot reach the search store at {upstream}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        conn,
        "{} {} HTTP/1.0\r\nHost: {upstream}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n\r\n",
        req.method,
        req.path,
        req.body.len()
    )?;
    conn.write_all(&req.body)?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("answer without headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    Ok((status, raw[split + 4..].to_vec()))
}

fn serve(conn: TcpStream, upstream: &str, faults: &Faults) -> anyhow::Result<()> {
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader)? {
        let is_bulk = req
            .path
            .split('?')
            .next()
            .is_some_and(|p| p.ends_with("/_bulk"));
        if is_bulk {
            let throttle = faults
                .throttle_bulks
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if throttle {
                faults.throttled_bulks.fetch_add(1, Ordering::SeqCst);
                respond(
                    &mut out,
                    429,
                    br#"{"error":{"type":"es_rejected_execution_exception","reason":"injected by the test proxy"},"status":429}"#,
                )?;
                continue;
            }
            let (status, body) = bulk(upstream, req, faults)?;
            respond(&mut out, status, &body)?;
        } else {
            let (status, body) = forward(upstream, &req)?;
            respond(&mut out, status, &body)?;
        }
    }
    Ok(())
}

/// Forwards a `_bulk` without the doomed documents and answers as if the store had refused
/// each of them with a `429`.
fn bulk(upstream: &str, req: Request, faults: &Faults) -> anyhow::Result<(u16, Vec<u8>)> {
    let doomed = faults.doomed.lock().map(|d| d.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    // Every action here is `index`, followed by its document line.
    let mut kept = String::new();
    let mut slots: Vec<Option<Value>> = Vec::new();
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).unwrap_or_default();
        let id = action["index"]["_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if doomed.contains(&id) {
            faults.refused_items.fetch_add(1, Ordering::SeqCst);
            slots.push(Some(serde_json::json!({"index": {
                "_index": action["index"]["_index"], "_id": id, "status": 429,
                "error": {"type": "es_rejected_execution_exception",
                          "reason": "injected by the test proxy: write queue full"}}})));
        } else {
            for l in pair {
                kept.push_str(l);
                kept.push('\n');
            }
            slots.push(None);
        }
    }
    let mut real: Vec<Value> = Vec::new();
    if !kept.is_empty() {
        let (status, body) = forward(
            upstream,
            &Request {
                method: req.method,
                path: req.path,
                body: kept.into_bytes(),
            },
        )?;
        if !(200..300).contains(&status) {
            return Ok((status, body));
        }
        let answer: Value = serde_json::from_slice(&body).context("_bulk answer is not JSON")?;
        real = answer["items"].as_array().cloned().unwrap_or_default();
    }
    let mut real = real.into_iter();
    let items: Vec<Value> = slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| real.next().unwrap_or_default()))
        .collect();
    let answer = serde_json::json!({"took": 1, "errors": true, "items": items});
    Ok((200, answer.to_string().into_bytes()))
}
