//! The monitor's attach protocol, and the client side of it.
//!
//! A Unix stream socket per container (see [`super::layout::Layout::attach_socket`]).
//! Both directions carry frames `[kind: u8][len: u32 big-endian][data]`:
//! monitor → client: [`STDOUT`], [`STDERR`], [`EXIT`] (the exit code as
//! 4 bytes, sent after the exit is recorded, and after `--rm` removal);
//! client → monitor: [`STDIN`], [`STDIN_EOF`], [`RESIZE`] (rows, cols as
//! u16 each).
//!
//! Starting an initialized container (`init`, then `start`): the client
//! sends [`START`]; the monitor answers [`STARTED`] (the init's pid, 4
//! bytes) once the runtime started it, or [`START_ERROR`] (`[code u8]` and
//! the message) after recording the failure. The same connection then
//! carries the container's output like any attach session.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::options::{AttachEnd, AttachStreams};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const RESIZE: u8 = 4;
pub const STDIN_EOF: u8 = 5;
pub const START: u8 = 6;
pub const STARTED: u8 = 7;
pub const START_ERROR: u8 = 8;

/// Largest frame payload accepted (bigger frames are a protocol error).
pub const MAX_FRAME: usize = 1 << 20;

/// Encodes one frame.
pub fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + data.len());
    out.push(kind);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Takes one complete frame off the front of `buf`, if there is one.
/// `Err` on an oversized frame.
pub fn take_frame(buf: &mut Vec<u8>) -> io::Result<Option<(u8, Vec<u8>)>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    if buf.len() < 5 + len {
        return Ok(None);
    }
    let kind = buf[0];
    let data = buf[5..5 + len].to_vec();
    buf.drain(..5 + len);
    Ok(Some((kind, data)))
}

fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

/// Parses Podman's `--detach-keys` ("ctrl-p,ctrl-q", "a,ctrl-a", "" = none)
/// into the byte sequence.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for key in spec.split(',') {
        let b = if let Some(c) = key.strip_prefix("ctrl-") {
            match c {
                "@" => 0,
                "[" => 27,
                "\\" => 28,
                "]" => 29,
                "^" => 30,
                "_" => 31,
                s if s.len() == 1 && s.as_bytes()[0].is_ascii_lowercase() => {
                    s.as_bytes()[0] - b'a' + 1
                }
                _ => return Err(format!("invalid detach keys: {spec}")),
            }
        } else if key.len() == 1 && key.is_ascii() {
            key.as_bytes()[0]
        } else {
            return Err(format!("invalid detach keys: {spec}"));
        };
        out.push(b);
    }
    Ok(out)
}

/// Scans input for the detach sequence, holding back a partial match.
#[derive(Debug, Default)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    /// Feeds `input`; returns the bytes to forward and whether the sequence
    /// was completed (bytes after it are dropped, as Podman does).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                // Release what was held back, then retry this byte.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        return (out, true);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Connects to a monitor's attach socket.
pub fn connect(socket: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(socket)
}

/// The monitor's answer to [`START`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartReply {
    Started(i32),
    Failed(u8, String),
}

/// Asks the monitor of an initialized container to start it and waits for
/// its answer (output frames before it are not expected: the container's
/// process has not run yet).
pub fn request_start(stream: &mut UnixStream) -> io::Result<StartReply> {
    stream.write_all(&frame(START, &[]))?;
    loop {
        match read_frame(stream)? {
            Some((STARTED, d)) if d.len() == 4 => {
                return Ok(StartReply::Started(i32::from_be_bytes([
                    d[0], d[1], d[2], d[3],
                ])))
            }
            Some((START_ERROR, d)) if !d.is_empty() => {
                return Ok(StartReply::Failed(
                    d[0],
                    String::from_utf8_lossy(&d[1..]).into_owned(),
                ))
            }
            Some((EXIT, d)) if d.len() == 4 => {
                let code = i32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                return Ok(StartReply::Failed(
                    125,
                    format!("the container exited ({code}) before it was started"),
                ));
            }
            Some(_) => {}
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Runs an attach session on a connected socket until the container exits,
/// the user detaches, or the monitor goes away.
pub fn run_client(stream: UnixStream, mut io: AttachStreams) -> io::Result<AttachEnd> {
    let detached = Arc::new(AtomicBool::new(false));
    let writer = Arc::new(std::sync::Mutex::new(stream.try_clone()?));
    if let Some((rows, cols)) = io.initial_size {
        let mut data = rows.to_be_bytes().to_vec();
        data.extend_from_slice(&cols.to_be_bytes());
        let _ = lock(&writer).write_all(&frame(RESIZE, &data));
    }
    if let Some(rx) = io.resize.take() {
        let w = Arc::clone(&writer);
        std::thread::spawn(move || {
            while let Ok((rows, cols)) = rx.recv() {
                let mut data = rows.to_be_bytes().to_vec();
                data.extend_from_slice(&cols.to_be_bytes());
                if lock(&w).write_all(&frame(RESIZE, &data)).is_err() {
                    break;
                }
            }
        });
    }
    if let Some(mut stdin) = io.stdin.take() {
        let w = Arc::clone(&writer);
        let flag = Arc::clone(&detached);
        let mut scanner = DetachScanner::new(io.detach_keys.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => {
                        let _ = lock(&w).write_all(&frame(STDIN_EOF, &[]));
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let (data, detach) = scanner.feed(&buf[..n]);
                let mut w = lock(&w);
                if !data.is_empty() && w.write_all(&frame(STDIN, &data)).is_err() {
                    break;
                }
                if detach {
                    flag.store(true, Ordering::SeqCst);
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    break;
                }
            }
        });
    }
    let mut reader = stream;
    loop {
        let frame = match read_frame(&mut reader) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) if detached.load(Ordering::SeqCst) => break,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        };
        match frame {
            (STDOUT, data) if io.attach_stdout => {
                io.stdout.write_all(&data)?;
                io.stdout.flush()?;
            }
            (STDERR, data) if io.attach_stderr => {
                io.stderr.write_all(&data)?;
                io.stderr.flush()?;
            }
            (EXIT, data) if data.len() == 4 => {
                let code = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                return Ok(AttachEnd::Exited(code));
            }
            _ => {}
        }
    }
    if detached.load(Ordering::SeqCst) {
        Ok(AttachEnd::Detached)
    } else {
        Ok(AttachEnd::Lost)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = frame(STDOUT, b"hello");
        buf.extend(frame(EXIT, &3i32.to_be_bytes()));
        buf.extend(&frame(STDERR, b"partial")[..4]);
        assert_eq!(
            take_frame(&mut buf).unwrap(),
            Some((STDOUT, b"hello".to_vec()))
        );
        assert_eq!(
            take_frame(&mut buf).unwrap(),
            Some((EXIT, 3i32.to_be_bytes().to_vec()))
        );
        assert_eq!(take_frame(&mut buf).unwrap(), None);
        let mut big = vec![STDIN, 0xff, 0xff, 0xff, 0xff];
        assert!(take_frame(&mut big).is_err());
    }

    #[test]
    fn detach_keys_parse_like_podman() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-a").unwrap(), vec![b'a', 1]);
        assert_eq!(parse_detach_keys("").unwrap(), Vec::<u8>::new());
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn scanner_holds_back_partial_sequences() {
        let mut s = DetachScanner::new(vec![16, 17]);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(s.feed(b"\x10\x10\x11rest"), (b"\x10".to_vec(), true));
        let mut none = DetachScanner::new(vec![]);
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }
}
