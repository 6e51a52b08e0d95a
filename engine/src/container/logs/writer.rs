//! The k8s-file writer the monitor feeds with the container's output.
//!
//! Behaviour follows conmon 2.1.x (`write_k8s_log`): every chunk read from a
//! pipe is stamped once; each newline-terminated line of it becomes an `F`
//! record, a trailing piece without newline a `P` record (continued by the
//! next chunk of that stream). Nothing is buffered across chunks, so a
//! reader following the file sees output as soon as it is read. With
//! `max-size`, when the next record would take the bytes written past it,
//! the file is replaced by an empty one (created as `<path>.tmp`, renamed
//! over the path) and writing goes on there: no older file is kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use super::time::format_k8s_timestamp;
use super::{LogError, Stream};
use crate::container::LogConfig;

/// Writes a container's output to its log, in the format its driver asks
/// for. Errors never stop the writer: a failed write is reported and the
/// next one tries again.
#[derive(Debug)]
pub struct LogWriter {
    file: Option<FileLog>,
}

#[derive(Debug)]
struct FileLog {
    path: PathBuf,
    file: File,
    max_size: u64,
    /// Bytes in the current file (conmon counts since its start or the last
    /// rotation; we start from the file's size so a restarted container
    /// still honours max-size).
    written: u64,
    /// Records of the current chunk, written with one write(2).
    buf: Vec<u8>,
    /// Timestamp and stream of the current chunk ("<ts> stdout ").
    header: Vec<u8>,
    /// A failed write may have left half a record: start the next one on
    /// a new line so only that record is lost.
    torn: bool,
}

impl LogWriter {
    /// Opens (creating, mode 0600, appending) the log of a container whose
    /// log configuration is `cfg`; `default_path` is used when it names no
    /// path. `none` and `passthrough` give a writer that discards
    /// everything.
    pub fn open(cfg: &LogConfig, default_path: &Path) -> Result<LogWriter, LogError> {
        match cfg.driver.as_str() {
            "" | "k8s-file" | "json-file" => {}
            "none" | "passthrough" => return Ok(LogWriter { file: None }),
            other => return Err(LogError::UnsupportedDriver(other.to_string())),
        }
        let path = cfg
            .path
            .clone()
            .unwrap_or_else(|| default_path.to_path_buf());
        let file = open_append(&path).map_err(|e| LogError::io("opening", &path, e))?;
        let written = file
            .metadata()
            .map_err(|e| LogError::io("reading the size of", &path, e))?
            .len();
        Ok(LogWriter {
            file: Some(FileLog {
                path,
                file,
                max_size: cfg.max_size,
                written,
                buf: Vec::with_capacity(16 * 1024),
                header: Vec::with_capacity(64),
                torn: false,
            }),
        })
    }

    /// The log file, or `None` for a driver that writes nothing.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Logs one chunk read from the container's `stream`, stamped `now`
    /// (normally [`super::local_now`]). An empty chunk writes nothing.
    pub fn write(
        &mut self,
        stream: Stream,
        data: &[u8],
        now: DateTime<FixedOffset>,
    ) -> Result<(), LogError> {
        match &mut self.file {
            Some(f) if !data.is_empty() => f.write_chunk(stream, data, &now),
            _ => Ok(()),
        }
    }

    /// Makes what was written durable (fsync), as conmon does at exit.
    /// Every [`LogWriter::write`] already hands its records to the kernel.
    pub fn flush(&mut self) -> Result<(), LogError> {
        match &mut self.file {
            Some(f) => f
                .file
                .sync_data()
                .map_err(|e| LogError::io("syncing", &f.path, e)),
            None => Ok(()),
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

impl FileLog {
    fn write_chunk(
        &mut self,
        stream: Stream,
        mut data: &[u8],
        now: &DateTime<FixedOffset>,
    ) -> Result<(), LogError> {
        self.header.clear();
        format_k8s_timestamp(now, &mut self.header);
        self.header.push(b' ');
        self.header.extend_from_slice(stream.as_str().as_bytes());
        self.header.push(b' ');
        self.buf.clear();
        if self.torn {
            self.buf.push(b'\n');
        }
        let mut result = Ok(());
        while !data.is_empty() {
            let (line, partial) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..=i], false),
                None => (data, true),
            };
            data = &data[line.len()..];
            let record_len = (self.header.len() + 2 + line.len() + usize::from(partial)) as u64;
            // conmon rotates even an empty file; that changes nothing but
            // costs syscalls, so an oversized record just goes in.
            if self.max_size > 0 && self.written > 0 && self.written + record_len > self.max_size {
                let flushed = self.write_buf();
                let rotated = self.rotate();
                result = result.and(flushed).and(rotated);
            }
            self.buf.extend_from_slice(&self.header);
            self.buf
                .extend_from_slice(if partial { b"P " } else { b"F " });
            self.buf.extend_from_slice(line);
            if partial {
                self.buf.push(b'\n');
            }
            self.written += record_len;
        }
        result.and(self.write_buf())
    }

    /// Writes the pending records; on failure they are dropped (as conmon
    /// does) so a full disk never makes the monitor hold output.
    fn write_buf(&mut self) -> Result<(), LogError> {
        let mut done = 0;
        let mut result = Ok(());
        while done < self.buf.len() {
            match self.file.write(&self.buf[done..]) {
                Ok(0) => {
                    result = Err(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            self.torn = self.torn || done > 0;
        } else if !self.buf.is_empty() {
            self.torn = false;
        }
        self.buf.clear();
        result.map_err(|e| LogError::io("writing", &self.path, e))
    }

    /// conmon's `reopen_k8s_file`: sync, then an empty `<path>.tmp` renamed
    /// over the path, so a reader holding the old file sees it end and
    /// finds a new file at the path.
    fn rotate(&mut self) -> Result<(), LogError> {
        self.written = 0;
        let err = |source| LogError::Rotate {
            path: self.path.clone(),
            max_size: self.max_size,
            source,
        };
        if let Err(e) = self.file.sync_data() {
            tracing::warn!(path = %self.path.display(), error = %e, "syncing log file before rotation");
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let new = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        // Only this writer writes the file, so the new descriptor (at
        // offset 0, not O_APPEND) appends all the same.
        self.file = new;
        self.torn = false;
        Ok(())
    }
}
