//! Pieces for the observability tests: free local ports, a plain HTTP GET, the Debian
//! Prometheus and Alertmanager binaries run as children with their own folders, and a webhook
//! receiver that hands each notification it gets to the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The `ops/` folder of the repository.
pub fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

/// A port nothing listens on right now (the OS picks it; a small race remains).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?;
    Ok(listener.local_addr()?.port())
}

/// A Debian tool's path, or an error naming the package and `scripts/setup`.
pub fn tool(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!("{name} not found; install the Debian package {package} (`scripts/setup` does)")
}

/// GET `http://addr/path` (HTTP/1.0, so the answer is never chunked): status and body.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("cannot connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // One write: a server may answer (and close) after the first segment it reads.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status from {addr}{path}: {head}"))?;
    Ok((status, body.to_string()))
}

/// A child daemon, killed (and waited for) when dropped.
pub struct Daemon {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(name: &str, program: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create log {}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// Fails with the log's tail if the daemon has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; log {}:\n{}",
                self.name,
                self.log.display(),
                crate::processes::tail(&self.log, 20)
            );
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A notification the webhook received: when, and its JSON body.
pub struct Notification {
    pub at: Instant,
    pub body: serde_json::Value,
}

/// An HTTP listener on 127.0.0.1 that answers 200 to every POST and passes its body on.
pub struct Webhook {
    pub url: String,
    pub received: Receiver<Notification>,
}

impl Webhook {
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the webhook")?;
        let url = format!("http://{}/alerts", listener.local_addr()?);
        let (tx, received) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if let Some(body) = read_request_body(&mut stream) {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    if tx
                        .send(Notification {
                            at: Instant::now(),
                            body,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(Self { url, received })
    }
}

fn read_request_body(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        while data.len() < body_start + length {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
        return Some(data[body_start..].to_vec());
    }
}

/// Waits until every topic shows in the broker's metadata with its partitions: topics made by
/// `redstream-producer topics` can take a moment to appear to a new client.
pub fn wait_topics(brokers: &str, topics: &[&str], timeout: Duration) -> anyhow::Result<()> {
    let kafka = redstream_common::KafkaConfig {
        brokers: brokers.to_string(),
        ..Default::default()
    };
    let deadline = Instant::now() + timeout;
    loop {
        match redstream_common::kafka::check_topics(&kafka, topics) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}
