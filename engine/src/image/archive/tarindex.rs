//! Reading entries of an archive by name, without extracting it.
//!
//! [`TarIndex::open`] walks the tar headers once and records, for each
//! entry name (normalised lexically: `./`, `.` and `..` resolved, names
//! leaving the root dropped), its type and the offset of its data in the
//! file. Entries are then read with positioned reads there: nothing is ever
//! written under a name taken from the archive. A compressed archive is
//! decompressed into an unlinked temp file first. Symlinks and hardlinks are
//! followed among the archive's own entries (at most 16 hops).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{invalid, io_err, ArchiveResult};

#[derive(Debug, Clone)]
enum Kind {
    File {
        pos: u64,
        size: u64,
    },
    /// Target already resolved to an archive path (relative to the root).
    Link(Option<String>),
    Dir,
    Other,
}

/// The entries of a tar file, by normalised name.
#[derive(Debug)]
pub(crate) struct TarIndex {
    path: PathBuf,
    file: Arc<File>,
    entries: HashMap<String, Kind>,
}

/// Normalises an archive path lexically; `None` if it leaves the root or is empty.
pub(crate) fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// `target` of a symlink at `name`, as an archive path.
fn resolve_link(name: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let parent = match name.rfind('/') {
        Some(i) => &name[..i],
        None => "",
    };
    normalize(&format!("{parent}/{target}"))
}

/// Reads one entry's data with positioned reads (readers do not share a
/// file offset).
pub(crate) struct EntryReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for EntryReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "archive entry is truncated",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A gzip or zstd compressed archive, decompressed into an unlinked temp
/// file (as `podman load` accepts `docker save | gzip`).
fn decompressed(path: &Path, mut file: File, zstd: bool) -> ArchiveResult<File> {
    let dir = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    let tmp_path = dir.join(format!(
        ".podman-rs-load-{}-{}.tar",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut tmp = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp_path)
        .map_err(io_err(
            path,
            "creating temp file for",
            "decompressed archive",
        ))?;
    // Unlinked at once: nothing is left behind, whatever happens.
    let _ = std::fs::remove_file(&tmp_path);
    file.seek(SeekFrom::Start(0))
        .map_err(io_err(path, "reading", "archive"))?;
    let res = if zstd {
        zstd::stream::read::Decoder::new(file).and_then(|mut d| std::io::copy(&mut d, &mut tmp))
    } else {
        std::io::copy(&mut flate2::read::MultiGzDecoder::new(file), &mut tmp)
    };
    res.map_err(io_err(path, "decompressing", "archive"))?;
    Ok(tmp)
}

impl TarIndex {
    /// Indexes the tar file at `path` (gzip or zstd compressed tars are
    /// decompressed into a temp file first).
    pub fn open(path: &Path) -> ArchiveResult<TarIndex> {
        let mut file = File::open(path).map_err(io_err(path, "opening", "archive"))?;
        let mut magic = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            let k = file
                .read(&mut magic[n..])
                .map_err(io_err(path, "reading", "archive"))?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n >= 2 && magic[..2] == [0x1f, 0x8b] {
            file = decompressed(path, file, false)?;
        } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            file = decompressed(path, file, true)?;
        }
        file.seek(SeekFrom::Start(0))
            .map_err(io_err(path, "reading", "archive"))?;
        let file = Arc::new(file);
        let mut archive = tar::Archive::new(&*file);
        let mut entries = HashMap::new();
        let iter = archive
            .entries()
            .map_err(io_err(path, "reading tar headers of", "archive"))?;
        for entry in iter {
            let entry = entry.map_err(io_err(path, "reading tar header in", "archive"))?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&raw_name) else {
                tracing::debug!(archive = %path.display(), entry = raw_name, "ignoring entry outside the archive root");
                continue;
            };
            let header = entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File {
                    pos: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    Kind::Link(resolve_link(&name, &target))
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    Kind::Link(normalize(&target))
                }
                _ => Kind::Other,
            };
            entries.insert(name, kind);
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a regular file (maybe through links) named `name` exists.
    pub fn has_file(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    fn locate(&self, name: &str) -> ArchiveResult<(u64, u64)> {
        let mut cur = normalize(name)
            .ok_or_else(|| invalid(&self.path, name, "entry name leaves the archive root"))?;
        for _ in 0..16 {
            match self.entries.get(&cur) {
                None => return Err(invalid(&self.path, name, "no such entry in the archive")),
                Some(Kind::File { pos, size }) => return Ok((*pos, *size)),
                Some(Kind::Link(Some(target))) => cur = target.clone(),
                Some(Kind::Link(None)) => {
                    return Err(invalid(
                        &self.path,
                        name,
                        "link target leaves the archive root",
                    ))
                }
                Some(Kind::Dir) | Some(Kind::Other) => {
                    return Err(invalid(&self.path, name, "not a regular file"))
                }
            }
        }
        Err(invalid(&self.path, name, "too many levels of links"))
    }

    /// A reader of the data of entry `name`, and its size.
    pub fn open_entry(&self, name: &str) -> ArchiveResult<(EntryReader, u64)> {
        let (pos, size) = self.locate(name)?;
        let end = pos
            .checked_add(size)
            .ok_or_else(|| invalid(&self.path, name, "entry size overflows"))?;
        Ok((
            EntryReader {
                file: Arc::clone(&self.file),
                pos,
                end,
            },
            size,
        ))
    }

    /// The whole data of a small entry (JSON), at most `limit` bytes.
    pub fn read_small(&self, name: &str, limit: u64) -> ArchiveResult<Vec<u8>> {
        let (mut r, size) = self.open_entry(name)?;
        if size > limit {
            return Err(invalid(
                &self.path,
                name,
                format!("entry is {size} bytes, more than the {limit} allowed"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.read_to_end(&mut buf)
            .map_err(io_err(&self.path, "reading", name))?;
        if buf.len() as u64 != size {
            return Err(invalid(&self.path, name, "entry is truncated"));
        }
        Ok(buf)
    }
}
