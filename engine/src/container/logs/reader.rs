//! Reading k8s-file logs for `podman-rs logs`, as Podman 4.3 does
//! (libpod/logs and `Container.readFromLogFile`):
//!
//! - Without `--tail`, every record is printed on its own: a `P` record's
//!   content without a newline, an `F` record's with one, so split lines
//!   come out whole; with `-t` each record gets its timestamp.
//! - `--tail N` prints the last N lines, a line being the `P` records of a
//!   stream joined with the `F` record that ends them (one timestamp, the
//!   `F` record's). The file is read backwards from its end, only as far as
//!   those lines need.
//! - `--since T` keeps records strictly after T, `--until T` strictly
//!   before (after `--tail`).
//! - A record that does not parse is skipped with a warning.
//! - `--follow` goes on reading as the file grows, follows max-size
//!   rotation (a new file renamed over the path) and truncation, and after
//!   the caller says the container exited reads to the end and returns.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use super::time::format_podman_timestamp;
use super::{LogError, Stream};

/// How often `--follow` looks for new output (Podman polls every 250 ms).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Bytes read per step when reading forwards or backwards.
const BLOCK: usize = 64 * 1024;
/// Enough of a record's start to hold its timestamp, stream and tag.
const HEADER_MAX: usize = 80;

/// One record of a k8s-file log, borrowing its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub time: DateTime<FixedOffset>,
    pub stream: Stream,
    /// `P`: the content does not end a line.
    pub partial: bool,
    /// The container's bytes, without the record's newline.
    pub content: &'a [u8],
}

/// An owned line, as `--tail` assembles them from `P` and `F` records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub time: DateTime<FixedOffset>,
    pub stream: Stream,
    /// True only for output at the end of the log that no newline ended yet.
    pub partial: bool,
    pub content: Vec<u8>,
}

/// Why a record is not a valid k8s-file record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a valid container log line (expected \"TIME STREAM F|P CONTENT\")")]
    Fields,
    #[error("unable to convert time {0:?} from container log")]
    Time(String),
    #[error("unknown device type {0:?} in log file")]
    Stream(String),
}

/// Parses one record (without its trailing newline): `TIME STREAM TAG
/// CONTENT`, split at the first three spaces. As Podman, a tag other than
/// `P` means a full line.
pub fn parse_line(line: &[u8]) -> Result<LogLine<'_>, ParseError> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let (Some(time), Some(stream), Some(tag), Some(content)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(ParseError::Fields);
    };
    let time_str = std::str::from_utf8(time)
        .map_err(|_| ParseError::Time(String::from_utf8_lossy(time).into_owned()))?;
    let time = DateTime::parse_from_rfc3339(time_str)
        .map_err(|_| ParseError::Time(time_str.to_string()))?;
    let stream = parse_stream(stream)?;
    Ok(LogLine {
        time,
        stream,
        partial: tag == b"P",
        content,
    })
}

fn parse_stream(s: &[u8]) -> Result<Stream, ParseError> {
    match s {
        b"stdout" => Ok(Stream::Stdout),
        b"stderr" => Ok(Stream::Stderr),
        other => Err(ParseError::Stream(
            String::from_utf8_lossy(other).into_owned(),
        )),
    }
}

/// Stream and tag of a record from its first bytes, for the backward scan.
fn parse_header(header: &[u8]) -> Option<(Stream, bool)> {
    let mut fields = header.splitn(4, |b| *b == b' ');
    let _time = fields.next()?;
    let stream = parse_stream(fields.next()?).ok()?;
    let tag = fields.next()?;
    fields.next()?;
    Some((stream, tag == b"P"))
}

/// `podman logs` options.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// `--since`: only records strictly after this time.
    pub since: Option<DateTime<FixedOffset>>,
    /// `--until`: only records strictly before this time.
    pub until: Option<DateTime<FixedOffset>>,
    /// `--tail N`: the last N lines (`Some(0)`: none; `None`: all).
    pub tail: Option<u64>,
    /// `-t`: each line starts with its time, as Podman prints it.
    pub timestamps: bool,
    /// `-f`: keep reading until the caller's `exited` says so.
    pub follow: bool,
    /// Written before every line (before the timestamp): Podman writes
    /// `NAME ` with `--names`, else the 12-character ID and a space, when
    /// it shows the logs of more than one container.
    pub prefix: Vec<u8>,
    /// How often `--follow` looks for new output.
    pub poll_interval: Duration,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            since: None,
            until: None,
            tail: None,
            timestamps: false,
            follow: false,
            prefix: Vec::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// What [`read_logs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogReadStats {
    /// Lines (records, or joined lines with `--tail`) written out.
    pub written: u64,
    /// Records skipped because they did not parse.
    pub corrupt: u64,
}

/// Writes the log at `path` to `stdout` and `stderr` (each record to the
/// writer of its stream) as `podman logs` does. A missing file is an empty
/// log. With `opts.follow`, `exited` is asked between polls; once it
/// returns true the rest of the file is read and the call returns.
pub fn read_logs(
    path: &Path,
    opts: &ReadOptions,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    exited: &mut dyn FnMut() -> bool,
) -> Result<LogReadStats, LogError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LogReadStats::default()),
        Err(e) => return Err(LogError::io("opening", path, e)),
    };
    let mut out = Output {
        opts,
        path,
        stdout,
        stderr,
        line: Vec::with_capacity(1024),
        stats: LogReadStats::default(),
    };
    let mut reader = Follower::new(path, file)?;
    match opts.tail {
        None => {
            reader.drain(&mut |off, rec| out.record(off, rec))?;
        }
        Some(n) => {
            let start = tail_start(&mut reader.file, path, n)?;
            reader.seek(start)?;
            let mut tail = TailLines::new(n);
            reader.drain(&mut |off, rec| {
                tail.record(off, rec, &mut out);
                Ok(())
            })?;
            if !opts.follow {
                reader.finish(&mut |off, rec| {
                    tail.record(off, rec, &mut out);
                    Ok(())
                })?;
            }
            for entry in tail.finish() {
                out.entry(&entry)?;
            }
        }
    }
    out.flush()?;
    if !opts.follow {
        if opts.tail.is_none() {
            reader.finish(&mut |off, rec| out.record(off, rec))?;
            out.flush()?;
        }
        return Ok(out.stats);
    }
    loop {
        let stop = exited();
        reader.drain(&mut |off, rec| out.record(off, rec))?;
        reader.check_replaced(&mut |off, rec| out.record(off, rec))?;
        out.flush()?;
        if stop {
            reader.finish(&mut |off, rec| out.record(off, rec))?;
            out.flush()?;
            return Ok(out.stats);
        }
        std::thread::sleep(opts.poll_interval);
    }
}

/// Formats and writes lines.
struct Output<'a> {
    opts: &'a ReadOptions,
    path: &'a Path,
    stdout: &'a mut dyn Write,
    stderr: &'a mut dyn Write,
    line: Vec<u8>,
    stats: LogReadStats,
}

impl Output<'_> {
    fn corrupt(&mut self, offset: u64, err: &ParseError, record: &[u8]) {
        self.stats.corrupt += 1;
        tracing::warn!(
            path = %self.path.display(),
            offset,
            line = %String::from_utf8_lossy(&record[..record.len().min(200)]),
            "skipping log line: {err}"
        );
    }

    /// One record, printed on its own (the untailed and followed output).
    fn record(&mut self, offset: u64, record: &[u8]) -> Result<(), LogError> {
        match parse_line(record) {
            Ok(l) => self.write(l.time, l.stream, l.partial, l.content),
            Err(e) => {
                self.corrupt(offset, &e, record);
                Ok(())
            }
        }
    }

    fn entry(&mut self, e: &LogEntry) -> Result<(), LogError> {
        self.write(e.time, e.stream, e.partial, &e.content)
    }

    fn write(
        &mut self,
        time: DateTime<FixedOffset>,
        stream: Stream,
        partial: bool,
        content: &[u8],
    ) -> Result<(), LogError> {
        if self.opts.since.is_some_and(|s| time <= s) || self.opts.until.is_some_and(|u| time >= u)
        {
            return Ok(());
        }
        self.line.clear();
        self.line.extend_from_slice(&self.opts.prefix);
        if self.opts.timestamps {
            format_podman_timestamp(&time, &mut self.line);
            self.line.push(b' ');
        }
        self.line.extend_from_slice(content);
        if !partial {
            self.line.push(b'\n');
        }
        let w: &mut dyn Write = match stream {
            Stream::Stdout => &mut *self.stdout,
            Stream::Stderr => &mut *self.stderr,
        };
        w.write_all(&self.line).map_err(|source| LogError::Output {
            path: self.path.to_path_buf(),
            stream,
            source,
        })?;
        self.stats.written += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LogError> {
        for (stream, w) in [
            (Stream::Stdout, &mut *self.stdout),
            (Stream::Stderr, &mut *self.stderr),
        ] {
            w.flush().map_err(|source| LogError::Output {
                path: self.path.to_path_buf(),
                stream,
                source,
            })?;
        }
        Ok(())
    }
}

/// Joins `P` records with the `F` record ending them, per stream, keeping
/// the last `n` lines.
struct TailLines {
    n: usize,
    lines: VecDeque<LogEntry>,
    pending: [Option<LogEntry>; 2],
}

impl TailLines {
    fn new(n: u64) -> Self {
        TailLines {
            n: usize::try_from(n).unwrap_or(usize::MAX),
            lines: VecDeque::new(),
            pending: [None, None],
        }
    }

    fn record(&mut self, offset: u64, record: &[u8], out: &mut Output<'_>) {
        let l = match parse_line(record) {
            Ok(l) => l,
            Err(e) => return out.corrupt(offset, &e, record),
        };
        let slot = &mut self.pending[l.stream.index()];
        let mut entry = match slot.take() {
            Some(mut e) => {
                e.content.extend_from_slice(l.content);
                e.time = l.time;
                e
            }
            None => LogEntry {
                time: l.time,
                stream: l.stream,
                partial: true,
                content: l.content.to_vec(),
            },
        };
        if l.partial {
            *slot = Some(entry);
        } else {
            entry.partial = false;
            self.push(entry);
        }
    }

    fn push(&mut self, entry: LogEntry) {
        if self.n == 0 {
            return;
        }
        if self.lines.len() == self.n {
            self.lines.pop_front();
        }
        self.lines.push_back(entry);
    }

    /// The last lines, then output no newline ended yet.
    fn finish(mut self) -> VecDeque<LogEntry> {
        for i in 0..self.pending.len() {
            if let Some(e) = self.pending[i].take() {
                self.push(e);
            }
        }
        self.lines
    }
}

/// The offset from which reading forwards gives the last `n` lines, found
/// by reading records backwards from the end: first counting `F` records
/// (and, per stream, output at the end that no newline ended) up to `n`,
/// then going further back until, in each stream, the record before the
/// earliest one kept is an `F` (or there is none), so that no kept line
/// misses the `P` records it begins with. Streams interleave, so a `P`
/// record found then can pull in records of the other stream, whose own
/// beginning is then looked for in turn.
fn tail_start(file: &mut File, path: &Path, n: u64) -> Result<u64, LogError> {
    let len = file
        .metadata()
        .map_err(|e| LogError::io("reading the size of", path, e))?
        .len();
    let mut scan = Backwards {
        file,
        buf: Vec::new(),
        buf_start: len,
        end: 0,
    };
    let mut start = len;
    let mut lines = 0u64;
    let mut counting = true;
    // Counting: whether a later record of the stream is kept already.
    // Then: whether the stream's earliest kept record may be continuing a
    // `P` record before `start`.
    let mut need = [false; 2];
    // Whether records of the stream were passed over since `start` moved.
    let mut passed = [false; 2];
    while let Some((offset, header)) = scan
        .prev_record()
        .map_err(|e| LogError::io("reading", path, e))?
    {
        let parsed = parse_header(header);
        if counting {
            if lines < n {
                start = offset;
                if let Some((s, partial)) = parsed {
                    if !partial || !need[s.index()] {
                        lines += 1;
                    }
                    need[s.index()] = true;
                }
                continue;
            }
            counting = false;
        }
        // A record that does not parse is left out unless a `P` record
        // before it is needed.
        let Some((s, partial)) = parsed else { continue };
        let i = s.index();
        if need[i] && partial {
            start = offset;
            for t in 0..need.len() {
                if passed[t] {
                    need[t] = true;
                }
            }
            passed = [false; 2];
        } else {
            need[i] = false;
            passed[i] = true;
        }
        if !need.iter().any(|n| *n) {
            break;
        }
    }
    Ok(start)
}

/// Records from the end of a file to its start, without reading more of
/// each than its header.
struct Backwards<'a> {
    file: &'a mut File,
    /// File bytes from `buf_start`: whole blocks, then (at most
    /// HEADER_MAX) bytes of the record whose start is not found yet.
    buf: Vec<u8>,
    buf_start: u64,
    /// Records from `buf[end]` on have been returned.
    end: usize,
}

impl Backwards<'_> {
    /// The previous record's offset and its first bytes.
    fn prev_record(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        if self.end == 0 && self.buf_start == 0 {
            return Ok(None);
        }
        loop {
            // The record's own newline is its last byte: search before it.
            let search = self.end.saturating_sub(1);
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[..search]) {
                let start = i + 1;
                let end = std::mem::replace(&mut self.end, start);
                let header = &self.buf[start..end.min(start + HEADER_MAX)];
                return Ok(Some((self.buf_start + start as u64, header)));
            }
            if self.buf_start == 0 {
                let end = std::mem::replace(&mut self.end, 0);
                return Ok(Some((0, &self.buf[..end.min(HEADER_MAX)])));
            }
            // Read the block before; keep only the header of the record
            // being looked for.
            let size = self.buf_start.min(BLOCK as u64);
            let new_start = self.buf_start - size;
            let mut block = vec![0; size as usize];
            self.file.seek(SeekFrom::Start(new_start))?;
            self.file.read_exact(&mut block)?;
            let keep = self.end.min(HEADER_MAX);
            block.extend_from_slice(&self.buf[..keep]);
            self.buf = block;
            self.end = size as usize + keep;
            self.buf_start = new_start;
        }
    }
}

/// Reads records forwards from an offset; follows the file through
/// rotation (a new file at the path) and truncation.
struct Follower {
    path: PathBuf,
    file: File,
    id: (u64, u64),
    /// File offset of `buf[0]`.
    offset: u64,
    /// Bytes read but not yet handed out (the start of an unfinished record).
    buf: Vec<u8>,
}

type RecordFn<'a> = dyn FnMut(u64, &[u8]) -> Result<(), LogError> + 'a;

impl Follower {
    fn new(path: &Path, file: File) -> Result<Self, LogError> {
        let m = file
            .metadata()
            .map_err(|e| LogError::io("reading the status of", path, e))?;
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            id: (m.dev(), m.ino()),
            offset: 0,
            buf: Vec::with_capacity(BLOCK),
        })
    }

    fn seek(&mut self, offset: u64) -> Result<(), LogError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| LogError::io("seeking in", &self.path, e))?;
        self.offset = offset;
        self.buf.clear();
        Ok(())
    }

    /// Hands out every complete record up to the end of the file.
    fn drain(&mut self, f: &mut RecordFn<'_>) -> Result<(), LogError> {
        loop {
            let old = self.buf.len();
            self.buf.resize(old + BLOCK, 0);
            let n = loop {
                match self.file.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(LogError::io("reading", &self.path, e));
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                return Ok(());
            }
            let mut start = 0;
            let mut result = Ok(());
            while let Some(i) = memchr::memchr(b'\n', &self.buf[start..]) {
                let rec = &self.buf[start..start + i];
                if !rec.is_empty() {
                    result = f(self.offset + start as u64, rec);
                }
                start += i + 1;
                if result.is_err() {
                    break;
                }
            }
            self.buf.drain(..start);
            self.offset += start as u64;
            result?;
        }
    }

    /// Hands out what is left after the last newline (a record cut short).
    fn finish(&mut self, f: &mut RecordFn<'_>) -> Result<(), LogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let rec = std::mem::take(&mut self.buf);
        let offset = self.offset;
        self.offset += rec.len() as u64;
        f(offset, &rec)
    }

    /// After reading to the end: when another file was renamed over the
    /// path (conmon's max-size rotation), go on in it from its start; when
    /// the file shrank (truncated), from its new start.
    fn check_replaced(&mut self, f: &mut RecordFn<'_>) -> Result<(), LogError> {
        let m = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Between an unlink and a new file: look again at the next poll.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LogError::io("reading the status of", &self.path, e)),
        };
        if (m.dev(), m.ino()) != self.id {
            // The old file is complete: nothing more will be appended.
            self.drain(f)?;
            self.finish(f)?;
            let file = match File::open(&self.path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(LogError::io("reopening", &self.path, e)),
            };
            *self = Follower::new(&self.path, file)?;
            return self.drain(f);
        }
        let end = self.offset + self.buf.len() as u64;
        if m.len() < end {
            self.seek(0)?;
            return self.drain(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(dir: &Path, records: &[&str]) -> (PathBuf, File) {
        let path = dir.join("ctr.log");
        let mut data = Vec::new();
        for r in records {
            data.extend_from_slice(b"2024-01-02T03:04:05.000000000+00:00 ");
            data.extend_from_slice(r.as_bytes());
            data.push(b'\n');
        }
        std::fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        (path, file)
    }

    #[test]
    fn tail_reads_only_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records: Vec<String> = (0..50_000).map(|i| format!("stdout F {i}")).collect();
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let (path, mut file) = log(dir.path(), &refs);
        let len = file.metadata().expect("stat").len();
        let start = tail_start(&mut file, &path, 2).expect("tail");
        // Two records of 51 bytes (timestamp and space, "stdout F ", 5 digits, newline).
        assert_eq!(len - start, 102);
        assert_eq!(tail_start(&mut file, &path, 0).expect("tail 0"), len);
        assert_eq!(tail_start(&mut file, &path, 1_000_000).expect("all"), 0);
    }

    #[test]
    fn tail_joins_across_the_other_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = log(
            dir.path(),
            &[
                "stdout F old",
                "stdout P a",
                "stderr P e",
                "stderr F 1",
                "stdout P b",
                "stderr F e2",
                "stdout F c",
            ],
        );
        let tail = |n| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let opts = ReadOptions {
                tail: Some(n),
                ..Default::default()
            };
            read_logs(&path, &opts, &mut out, &mut err, &mut || true).expect("read");
            (
                String::from_utf8_lossy(&out).into_owned(),
                String::from_utf8_lossy(&err).into_owned(),
            )
        };
        assert_eq!(tail(1), ("abc\n".into(), String::new()));
        assert_eq!(tail(2), ("abc\n".into(), "e2\n".into()));
        assert_eq!(tail(3), ("abc\n".into(), "e1\ne2\n".into()));
        assert_eq!(tail(4), ("old\nabc\n".into(), "e1\ne2\n".into()));
    }
}
