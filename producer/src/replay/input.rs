//! Dump files: what they are (plain or zstd, told by their first bytes), when they were written,
//! and their lines, read one at a time with a bound on line length so a multi-gigabyte file (or
//! a file with no newlines) never has to fit in memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context};

/// The four bytes that open a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Pushshift and Arctic Shift dumps are compressed with a 2 GiB window (`--long=31`); the
/// decoder refuses windows above 128 MiB unless told otherwise.
const ZSTD_WINDOW_LOG_MAX: u32 = 31;

const READ_BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Zstd,
}

/// A dump file checked before the replay starts.
#[derive(Debug, Clone)]
pub struct Input {
    /// Absolute path: what dead letters name in `redstream.source.file`.
    pub path: PathBuf,
    pub compression: Compression,
    /// Modification time in seconds: the retrieval time of lines that carry none.
    pub mtime: i64,
    pub size: u64,
}

impl Input {
    /// The live producer's stand-in for a file: it publishes through the same `Publisher`,
    /// and `label` names the source in dead letters and progress lines.
    pub fn live(label: &str) -> Self {
        Self {
            path: PathBuf::from(label),
            compression: Compression::Plain,
            mtime: 0,
            size: 0,
        }
    }

    /// Checks that `path` is a readable plain or zstd file and reads its metadata.
    pub fn inspect(path: &Path) -> anyhow::Result<Self> {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut file = File::open(path)
            .with_context(|| format!("cannot open dump file {}", absolute.display()))?;
        let metadata = file
            .metadata()
            .with_context(|| format!("cannot read metadata of {}", absolute.display()))?;
        if !metadata.is_file() {
            bail!(
                "{} is not a regular file; pass NDJSON dump files",
                absolute.display()
            );
        }
        let mtime = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .with_context(|| {
                format!(
                    "cannot tell when {} was modified; its mtime is the retrieval time of lines \
                     without retrieved_on (set it with `touch`)",
                    absolute.display()
                )
            })?;

        let mut head = [0u8; 6];
        let n = read_up_to(&mut file, &mut head)
            .with_context(|| format!("cannot read {}", absolute.display()))?;
        let compression = sniff(&head[..n], &absolute)?;

        Ok(Self {
            path: absolute,
            compression,
            mtime,
            size: metadata.len(),
        })
    }

    /// Opens the file for reading lines, decompressing on the fly.
    pub fn open(&self) -> anyhow::Result<Box<dyn BufRead + Send>> {
        let file = File::open(&self.path)
            .with_context(|| format!("cannot open dump file {}", self.path.display()))?;
        Ok(match self.compression {
            Compression::Plain => Box::new(BufReader::with_capacity(READ_BUFFER, file)),
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::new(file).with_context(|| {
                    format!("cannot start a zstd decoder for {}", self.path.display())
                })?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .with_context(|| {
                        format!("cannot configure zstd for {}", self.path.display())
                    })?;
                Box::new(BufReader::with_capacity(READ_BUFFER, decoder))
            }
        })
    }
}

/// Tells the format by the first bytes; rejects other compressions up front rather than
/// dead-lettering every line of a file nobody can read.
fn sniff(head: &[u8], path: &Path) -> anyhow::Result<Compression> {
    let named_zst = path.extension().is_some_and(|e| e == "zst");
    let other = if head.starts_with(&[0x1F, 0x8B]) {
        Some(("gzip", "gunzip"))
    } else if head.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(("xz", "unxz"))
    } else if head.starts_with(b"BZh") {
        Some(("bzip2", "bunzip2"))
    } else if head.starts_with(&[0x04, 0x22, 0x4D, 0x18]) {
        Some(("lz4", "unlz4"))
    } else {
        None
    };
    if let Some((format, tool)) = other {
        bail!(
            "{} is {format}-compressed; replay reads plain NDJSON or zstd only. Decompress it \
             first ({tool}) or recompress it with `zstd`",
            path.display()
        );
    }

    // Skippable frames (0x184D2A50..5F, little-endian) may open a zstd stream too.
    let skippable = head.len() >= 4 && head[1..4] == [0x2A, 0x4D, 0x18] && head[0] & 0xF0 == 0x50;
    if head.starts_with(&ZSTD_MAGIC) || skippable {
        Ok(Compression::Zstd)
    } else if named_zst && !head.is_empty() {
        bail!(
            "{} is named .zst but does not start with the zstd magic bytes 28 B5 2F FD \
             (starts with {:02X?}); is it truncated or mislabelled?",
            path.display(),
            head
        )
    } else {
        Ok(Compression::Plain)
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One line of a dump file, without its `\n` (or `\r\n`).
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Whole(&'a [u8]),
    /// Longer than the limit: its first `limit` bytes and its full length.
    TooLong {
        head: &'a [u8],
        len: u64,
    },
}

/// Reads lines up to a length limit; the rest of an overlong line is skipped, not buffered.
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    line_no: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
            line_no: 0,
        }
    }

    /// The next line and its 1-based number, or `None` at the end of the file. A final line
    /// without a trailing newline counts; the empty "line" after a final newline does not.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let mut len: u64 = 0;
        let mut saw_anything = false;

        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            saw_anything = true;

            let (chunk, consumed, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            self.inner.consume(consumed);
            if done {
                break;
            }
        }

        if !saw_anything {
            return Ok(None);
        }
        self.line_no += 1;
        if len > self.max as u64 {
            return Ok(Some((
                self.line_no,
                Line::TooLong {
                    head: &self.buf,
                    len,
                },
            )));
        }
        let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
        Ok(Some((self.line_no, Line::Whole(line))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn read_all(text: &[u8], max: usize) -> Vec<(u64, String)> {
        let mut reader = LineReader::new(BufReader::with_capacity(4, Cursor::new(text)), max);
        let mut out = Vec::new();
        while let Some((n, line)) = reader.next_line().expect("reads") {
            out.push(match line {
                Line::Whole(l) => (n, String::from_utf8_lossy(l).into_owned()),
                Line::TooLong { head, len } => (
                    n,
                    format!("TOO LONG {len}: {}", String::from_utf8_lossy(head)),
                ),
            });
        }
        out
    }

    #[test]
    fn lines_are_numbered_and_stripped() {
        let lines = read_all(b"{\"a\":1}\r\n\n{\"b\":2}\nlast", 100);
        assert_eq!(
            lines,
            vec![
                (1, "{\"a\":1}".to_string()),
                (2, String::new()),
                (3, "{\"b\":2}".to_string()),
                (4, "last".to_string()),
            ]
        );
        assert_eq!(read_all(b"one\n", 100), vec![(1, "one".to_string())]);
        assert!(read_all(b"", 100).is_empty());
    }

    #[test]
    fn overlong_lines_are_cut_and_reading_goes_on() {
        let lines = read_all(b"short\n0123456789abcdef\nnext\n", 8);
        assert_eq!(
            lines,
            vec![
                (1, "short".to_string()),
                (2, "TOO LONG 16: 01234567".to_string()),
                (3, "next".to_string()),
            ]
        );
    }

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "redstream-producer-input-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write temp file");
        path
    }

    fn lines_of(input: &Input) -> Vec<String> {
        let mut reader = LineReader::new(input.open().expect("opens"), 1 << 20);
        let mut out = Vec::new();
        while let Some((_, Line::Whole(l))) = reader.next_line().expect("reads") {
            out.push(String::from_utf8_lossy(l).into_owned());
        }
        out
    }

    #[test]
    fn zstd_is_told_by_magic_not_by_name() {
        let text = b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n";
        let compressed = zstd::encode_all(&text[..], 3).expect("compresses");

        // Compressed, but named like a plain file.
        let hidden = Input::inspect(&temp_file("dump.ndjson", &compressed)).expect("inspects");
        assert_eq!(hidden.compression, Compression::Zstd);
        assert_eq!(lines_of(&hidden), vec!["{\"id\":\"a\"}", "{\"id\":\"b\"}"]);

        let plain = Input::inspect(&temp_file("dump.txt", text)).expect("inspects");
        assert_eq!(plain.compression, Compression::Plain);
        assert_eq!(lines_of(&plain).len(), 2);
        assert!(plain.mtime > 1_600_000_000);
        assert!(plain.path.is_absolute());

        let mislabelled =
            Input::inspect(&temp_file("dump.ndjson.zst", text)).expect_err("plain text named .zst");
        assert!(
            mislabelled.to_string().contains("zstd magic"),
            "{mislabelled}"
        );

        let gzip =
            Input::inspect(&temp_file("dump.gz", &[0x1F, 0x8B, 8, 0, 0, 0])).expect_err("gzip");
        assert!(gzip.to_string().contains("gzip-compressed"), "{gzip}");

        let missing =
            Input::inspect(Path::new("/nonexistent/RC_2005-12.zst")).expect_err("missing file");
        assert!(
            format!("{missing:#}").contains("/nonexistent/RC_2005-12.zst"),
            "{missing:#}"
        );
    }

    /// Concatenated frames, as `cat a.zst b.zst` makes, decode as one stream.
    #[test]
    fn concatenated_zstd_frames_are_read_through() {
        let mut both = zstd::encode_all(&b"{\"n\":1}\n"[..], 1).expect("compresses");
        both.extend(zstd::encode_all(&b"{\"n\":2}\n"[..], 1).expect("compresses"));
        let input = Input::inspect(&temp_file("both.zst", &both)).expect("inspects");
        assert_eq!(lines_of(&input), vec!["{\"n\":1}", "{\"n\":2}"]);
    }
}
