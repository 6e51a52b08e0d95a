//! Tests of the writer and the reader against what Podman 4.3.1 and
//! conmon 2.1.6 wrote and printed on the development VM (TZ UTC).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use super::*;
use crate::container::LogConfig;

/// `podman run -d --log-driver k8s-file bbtest sh -c 'echo hello; echo err >&2;
/// printf "part"; sleep 0.3; printf "ial\n"; printf "a\tb\\\\ \033[0m \"q\"\n";
/// printf "noeol"'` wrote this ctr.log (conmon 2.1.6): one timestamp per
/// chunk read, `P` for a chunk's unterminated end, no escaping.
const RECORDED: &[u8] = b"2026-11-23T08:29:20.059193581+00:00 stdout F hello
2026-11-23T08:29:20.059193581+00:00 stdout P part
2026-11-23T08:29:20.059265132+00:00 stderr F err
2026-11-23T08:29:20.360252059+00:00 stdout F ial
2026-11-23T08:29:20.360252059+00:00 stdout F a\tb\\ \x1b[0m \"q\"
2026-11-23T08:29:20.360252059+00:00 stdout P noeol
";

fn ts(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("test timestamp")
}

fn k8s(path: &Path, max_size: u64) -> LogConfig {
    LogConfig {
        driver: "k8s-file".into(),
        path: Some(path.to_path_buf()),
        max_size,
        tag: String::new(),
    }
}

fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("reading the test log")
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn writer_output_matches_conmon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctr.log");
    let mut w = LogWriter::open(&k8s(&path, 0), Path::new("/nonexistent")).expect("open");
    assert_eq!(w.path(), Some(path.as_path()));
    // The chunks conmon read from the pipes in that run.
    w.write(
        Stream::Stdout,
        b"hello\npart",
        ts("2026-11-23T08:29:20.059193581+00:00"),
    )
    .expect("write");
    w.write(
        Stream::Stderr,
        b"err\n",
        ts("2026-11-23T08:29:20.059265132+00:00"),
    )
    .expect("write");
    w.write(
        Stream::Stdout,
        b"ial\na\tb\\ \x1b[0m \"q\"\nnoeol",
        ts("2026-11-23T08:29:20.360252059+00:00"),
    )
    .expect("write");
    w.write(Stream::Stdout, b"", ts("2026-11-23T08:29:21Z"))
        .expect("empty chunk");
    w.flush().expect("flush");
    assert_eq!(s(&read_file(&path)), s(RECORDED));

    // An empty line, a non-UTC offset, a chunk of several lines.
    w.write(
        Stream::Stderr,
        b"\n\nx y\n",
        ts("2024-01-02T03:04:05.1-05:00"),
    )
    .expect("write");
    let all = read_file(&path);
    assert!(s(&all).ends_with(
        "2024-01-02T03:04:05.100000000-05:00 stderr F \n\
         2024-01-02T03:04:05.100000000-05:00 stderr F \n\
         2024-01-02T03:04:05.100000000-05:00 stderr F x y\n"
    ));
}

#[test]
fn writer_drivers_and_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = dir.path().join("ctr.log");
    for driver in ["none", "passthrough"] {
        let cfg = LogConfig {
            driver: driver.into(),
            ..Default::default()
        };
        let mut w = LogWriter::open(&cfg, &default).expect(driver);
        assert_eq!(w.path(), None);
        w.write(Stream::Stdout, b"x\n", local_now()).expect("write");
        w.flush().expect("flush");
        assert!(!default.exists(), "{driver} wrote a file");
    }
    // json-file is written as k8s-file (Podman 4.3 passes k8s-file to
    // conmon: `podman run --log-driver json-file` gave
    // "2026-11-23T08:30:14.031066299+00:00 stdout F jf").
    let cfg = LogConfig {
        driver: "json-file".into(),
        ..Default::default()
    };
    let mut w = LogWriter::open(&cfg, &default).expect("json-file");
    w.write(
        Stream::Stdout,
        b"jf\n",
        ts("2026-11-23T08:30:14.031066299+00:00"),
    )
    .expect("write");
    assert_eq!(
        s(&read_file(&default)),
        "2026-11-23T08:30:14.031066299+00:00 stdout F jf\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&default)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let cfg = LogConfig {
        driver: "journald".into(),
        ..Default::default()
    };
    let e = LogWriter::open(&cfg, &default).expect_err("journald");
    assert!(e.to_string().contains("journald"), "{e}");

    let e = LogWriter::open(&k8s(&dir.path().join("no/such/dir/log"), 0), &default)
        .expect_err("missing directory");
    assert!(e.to_string().contains("no/such/dir/log"), "{e}");
}

#[test]
fn writer_reports_a_full_disk() {
    // /dev/full fails every write with ENOSPC.
    let mut w = LogWriter::open(&k8s(Path::new("/dev/full"), 0), Path::new("/x")).expect("open");
    let e = w
        .write(Stream::Stdout, b"lost\n", local_now())
        .expect_err("ENOSPC");
    let text = e.to_string();
    assert!(text.contains("writing log file /dev/full"), "{text}");
    // And keeps going.
    assert!(w.write(Stream::Stderr, b"again", local_now()).is_err());
}

#[test]
fn writer_rotates_at_max_size_as_conmon() {
    // `podman run --log-opt max-size=200 bbtest sh -c 'for i in 1 2 3 4 5 6 7;
    // do echo line$i; sleep 0.1; done'` left only
    // "2026-11-23T08:30:17.397489497+00:00 stdout F line7": each record is
    // 51 bytes, three fit in 200, the fourth starts a new file.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctr.log");
    let mut w = LogWriter::open(&k8s(&path, 200), &path).expect("open");
    let t = ts("2026-11-23T08:30:17.397489497+00:00");
    for i in 1..=7 {
        w.write(Stream::Stdout, format!("line{i}\n").as_bytes(), t)
            .expect("write");
        if i == 3 {
            assert_eq!(read_file(&path).len(), 153);
        }
        if i == 4 {
            assert_eq!(
                s(&read_file(&path)),
                "2026-11-23T08:30:17.397489497+00:00 stdout F line4\n"
            );
        }
    }
    assert_eq!(
        s(&read_file(&path)),
        "2026-11-23T08:30:17.397489497+00:00 stdout F line7\n"
    );
    assert!(!dir.path().join("ctr.log.tmp").exists());

    // Rotation inside one chunk; a record larger than max-size still goes in.
    // 51 + 3 * 47 bytes fit in 200, "d" starts a new file.
    w.write(Stream::Stdout, b"a\nb\nc\nd\ne\n", t)
        .expect("write");
    assert_eq!(
        s(&read_file(&path)),
        "2026-11-23T08:30:17.397489497+00:00 stdout F d\n\
         2026-11-23T08:30:17.397489497+00:00 stdout F e\n"
    );
    let big = vec![b'x'; 300];
    w.write(Stream::Stderr, &big, t).expect("write");
    let file = read_file(&path);
    assert_eq!(file.len(), 43 + 2 + 300 + 1);
    assert!(file.starts_with(b"2026-11-23T08:30:17.397489497+00:00 stderr P xxx"));

    // A restarted container's writer counts what the file already holds.
    drop(w);
    std::fs::write(&path, vec![b'z'; 190]).expect("reset");
    let mut w = LogWriter::open(&k8s(&path, 200), &path).expect("reopen");
    w.write(Stream::Stdout, b"n\n", t).expect("write");
    assert_eq!(read_file(&path).len(), 43 + 2 + 2);
}

fn write_recorded(dir: &Path) -> PathBuf {
    let path = dir.join("ctr.log");
    std::fs::write(&path, RECORDED).expect("writing the test log");
    path
}

fn read(path: &Path, opts: &ReadOptions) -> (String, String, LogReadStats) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let stats = read_logs(path, opts, &mut out, &mut err, &mut || true).expect("read_logs");
    (s(&out), s(&err), stats)
}

#[test]
fn parse_records() {
    let l = parse_line(b"2026-11-23T08:29:20.059193581+00:00 stdout P a  b ").expect("parse");
    assert_eq!(l.time, ts("2026-11-23T08:29:20.059193581Z"));
    assert_eq!(l.stream, Stream::Stdout);
    assert!(l.partial);
    assert_eq!(l.content, b"a  b ");
    let l = parse_line(b"2026-11-23T08:29:20.059193581+00:00 stderr F ").expect("empty");
    assert!(!l.partial && l.content.is_empty() && l.stream == Stream::Stderr);
    assert_eq!(parse_line(b"garbage"), Err(ParseError::Fields));
    assert!(matches!(
        parse_line(b"yesterday stdout F x"),
        Err(ParseError::Time(_))
    ));
    assert!(matches!(
        parse_line(b"2026-11-23T08:29:20.059193581+00:00 stdin F x"),
        Err(ParseError::Stream(_))
    ));
}

#[test]
fn reader_prints_as_podman_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_recorded(dir.path());
    // `podman logs` of that container: "hello\npartial\na\tb\\ \e[0m \"q\"\nnoeol"
    // on stdout and "err\n" on stderr.
    let (out, err, stats) = read(&path, &ReadOptions::default());
    assert_eq!(out, "hello\npartial\na\tb\\ \x1b[0m \"q\"\nnoeol");
    assert_eq!(err, "err\n");
    assert_eq!(
        stats,
        LogReadStats {
            written: 6,
            corrupt: 0
        }
    );

    // `podman logs -t`: every record with its time ("Z" for UTC), the split
    // line's pieces each with theirs.
    let opts = ReadOptions {
        timestamps: true,
        ..Default::default()
    };
    let (out, err, _) = read(&path, &opts);
    assert_eq!(
        out,
        "2026-11-23T08:29:20.059193581Z hello\n\
         2026-11-23T08:29:20.059193581Z part2026-11-23T08:29:20.360252059Z ial\n\
         2026-11-23T08:29:20.360252059Z a\tb\\ \x1b[0m \"q\"\n\
         2026-11-23T08:29:20.360252059Z noeol"
    );
    assert_eq!(err, "2026-11-23T08:29:20.059265132Z err\n");

    // --names: the prefix goes before the timestamp.
    let opts = ReadOptions {
        timestamps: true,
        prefix: b"web ".to_vec(),
        ..Default::default()
    };
    let (_, err, _) = read(&path, &opts);
    assert_eq!(err, "web 2026-11-23T08:29:20.059265132Z err\n");

    // A missing log is an empty one (Podman: not an error).
    let (out, err, stats) = read(&dir.path().join("none.log"), &opts);
    assert!(out.is_empty() && err.is_empty() && stats.written == 0);
}

#[test]
fn reader_since_until() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_recorded(dir.path());
    // Strictly after since, strictly before until (Go's After/Before).
    let opts = ReadOptions {
        since: Some(ts("2026-11-23T08:29:20.059193581Z")),
        ..Default::default()
    };
    let (out, err, _) = read(&path, &opts);
    assert_eq!(out, "ial\na\tb\\ \x1b[0m \"q\"\nnoeol");
    assert_eq!(err, "err\n");
    let opts = ReadOptions {
        until: Some(ts("2026-11-23T08:29:20.059265132Z")),
        ..Default::default()
    };
    let (out, err, _) = read(&path, &opts);
    assert_eq!((out.as_str(), err.as_str()), ("hello\npart", ""));
    // Offsets compare as instants.
    let opts = ReadOptions {
        since: Some(ts("2026-11-23T09:29:20.2+01:00")),
        until: Some(ts("2026-11-23T08:29:21Z")),
        ..Default::default()
    };
    let (out, err, _) = read(&path, &opts);
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("ial\na\tb\\ \x1b[0m \"q\"\nnoeol", "")
    );
    // Through the flag parser.
    let now = chrono::Utc::now();
    let opts = ReadOptions {
        since: Some(parse_time_arg("1795422560.2", true, now).expect("unix")),
        ..Default::default()
    };
    assert_eq!(read(&path, &opts).0, "ial\na\tb\\ \x1b[0m \"q\"\nnoeol");
}

#[test]
fn reader_tail_joins_split_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_recorded(dir.path());
    let tail = |n: u64, timestamps: bool| {
        read(
            &path,
            &ReadOptions {
                tail: Some(n),
                timestamps,
                ..Default::default()
            },
        )
    };
    // Lines in the order they ended: hello, err, partial, a…, noeol (open).
    assert_eq!(tail(0, false).0, "");
    assert_eq!(tail(1, false).0, "noeol");
    assert_eq!(tail(2, false).0, "a\tb\\ \x1b[0m \"q\"\nnoeol");
    let (out, err, _) = tail(3, false);
    assert_eq!(out, "partial\na\tb\\ \x1b[0m \"q\"\nnoeol");
    assert_eq!(err, "");
    let (out, err, stats) = tail(4, false);
    assert_eq!(out, "partial\na\tb\\ \x1b[0m \"q\"\nnoeol");
    assert_eq!(err, "err\n");
    assert_eq!(stats.written, 4);
    assert_eq!(
        tail(5, false).0,
        "hello\npartial\na\tb\\ \x1b[0m \"q\"\nnoeol"
    );
    assert_eq!(tail(100, false).0, tail(5, false).0);
    // A joined line carries the time of the record that ended it.
    assert_eq!(
        tail(3, true).0,
        "2026-11-23T08:29:20.360252059Z partial\n\
         2026-11-23T08:29:20.360252059Z a\tb\\ \x1b[0m \"q\"\n\
         2026-11-23T08:29:20.360252059Z noeol"
    );
}

#[test]
fn reader_tail_of_a_large_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctr.log");
    let mut w = LogWriter::open(&k8s(&path, 0), &path).expect("open");
    let t = ts("2024-01-02T03:04:05Z");
    for i in 0..20_000 {
        w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), t)
            .expect("write");
    }
    // A split line longer than a read block, then a short one.
    let big = vec![b'y'; 150_000];
    w.write(Stream::Stdout, &big, t).expect("write");
    w.write(Stream::Stderr, b"between\n", t).expect("write");
    w.write(Stream::Stdout, &big, t).expect("write");
    w.write(Stream::Stdout, b"end\nlast\n", t).expect("write");
    let opts = ReadOptions {
        tail: Some(3),
        ..Default::default()
    };
    let (out, err, _) = read(&path, &opts);
    let mut want = big.clone();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"end\nlast\n");
    assert_eq!(out.len(), want.len());
    assert_eq!(out.as_bytes(), &want[..]);
    assert_eq!(err, "between\n");
    let opts = ReadOptions {
        tail: Some(5),
        ..Default::default()
    };
    let (out, _, _) = read(&path, &opts);
    assert!(
        out.starts_with("line 19998\nline 19999\nyyy"),
        "{}",
        &out[..40]
    );
}

#[test]
fn reader_skips_corrupt_lines() {
    // Podman 4.3.1 logs "Getting new log line: 'garbage' is not a valid
    // container log line" and goes on (with --tail it fails instead).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctr.log");
    let mut data = RECORDED.to_vec();
    data.extend_from_slice(
        b"garbage\n\
          2026-11-23T08:29:21.000000000+00:00 stdin F x\n\
          2026-11-23T08:29:21.000000000+00:00 stdout F after\n",
    );
    std::fs::write(&path, &data).expect("write");
    let (out, _, stats) = read(&path, &ReadOptions::default());
    assert!(out.ends_with("noeolafter\n"), "{out}");
    assert_eq!(stats.corrupt, 2);
    let opts = ReadOptions {
        tail: Some(2),
        ..Default::default()
    };
    let (out, _, stats) = read(&path, &opts);
    assert_eq!(out, "a\tb\\ \x1b[0m \"q\"\nnoeolafter\n");
    assert_eq!(stats.corrupt, 2);
}

/// A `Write` that hands each write to a channel.
struct ChanWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The receiver may be gone at the end of a test.
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn wait_for(rx: &mpsc::Receiver<Vec<u8>>, want: &str) {
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("follow did not deliver {want:?}"));
    assert_eq!(s(&got), want);
}

/// Follows `path` on a thread until `exited` is set.
fn follow(
    path: &Path,
    opts: ReadOptions,
) -> (
    mpsc::Receiver<Vec<u8>>,
    Arc<AtomicBool>,
    std::thread::JoinHandle<LogReadStats>,
) {
    let (tx, rx) = mpsc::channel();
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    let path = path.to_path_buf();
    let handle = std::thread::spawn(move || {
        let mut out = ChanWriter(tx.clone());
        let mut err = ChanWriter(tx);
        read_logs(&path, &opts, &mut out, &mut err, &mut || {
            flag.load(Ordering::SeqCst)
        })
        .expect("follow")
    });
    (rx, exited, handle)
}

#[test]
fn follow_picks_up_appended_lines_and_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_recorded(dir.path());
    let opts = ReadOptions {
        follow: true,
        tail: Some(1),
        poll_interval: Duration::from_millis(5),
        ..Default::default()
    };
    let (rx, exited, handle) = follow(&path, opts);
    wait_for(&rx, "noeol");
    let mut w = LogWriter::open(&k8s(&path, 0), &path).expect("open");
    let t = ts("2026-11-23T08:29:22Z");
    w.write(Stream::Stdout, b" now ended\n", t).expect("write");
    wait_for(&rx, " now ended\n");
    w.write(Stream::Stderr, b"oops\n", t).expect("write");
    wait_for(&rx, "oops\n");
    // Output written before the exit is still read.
    w.write(Stream::Stdout, b"bye\n", t).expect("write");
    exited.store(true, Ordering::SeqCst);
    let stats = handle.join().expect("follow thread");
    let rest: Vec<String> = rx.try_iter().map(|b| s(&b)).collect();
    assert_eq!(rest, ["bye\n"]);
    assert_eq!(stats.written, 4);
}

#[test]
fn follow_survives_rotation_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ctr.log");
    // Two 51-byte records per file.
    let mut w = LogWriter::open(&k8s(&path, 110), &path).expect("open");
    let t = ts("2026-11-23T08:30:17.397489497+00:00");
    w.write(Stream::Stdout, b"line0\n", t).expect("write");
    let opts = ReadOptions {
        follow: true,
        poll_interval: Duration::from_millis(5),
        ..Default::default()
    };
    let (rx, exited, handle) = follow(&path, opts);
    wait_for(&rx, "line0\n");
    for i in 1..8 {
        let line = format!("line{i}\n");
        w.write(Stream::Stdout, line.as_bytes(), t).expect("write");
        wait_for(&rx, &line);
    }
    // Truncated in place (not conmon's way, but `> ctr.log` by hand).
    drop(w);
    std::fs::write(&path, b"").expect("truncate");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    // Let the follower see the empty file first.
    std::thread::sleep(Duration::from_millis(50));
    f.write_all(b"2026-11-23T08:30:18Z stdout F again\n")
        .expect("append");
    wait_for(&rx, "again\n");
    exited.store(true, Ordering::SeqCst);
    let stats = handle.join().expect("follow thread");
    assert_eq!(stats.written, 9);
}
