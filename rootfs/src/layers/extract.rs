//! Streaming extraction of one layer blob into a directory.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
};
use rustix::io::Errno;
use sha2::{Digest, Sha256};
use tar::EntryType;

use super::error::{LayerError, LayerResult};
use crate::whiteout::{create_whiteout, set_opaque};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// aufs metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`): never content.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain tar.
    None,
    Gzip,
    Zstd,
    /// Sniffed from the first bytes (gzip and zstd magic, else plain tar).
    #[default]
    Auto,
}

impl Compression {
    /// The compression of an OCI or Docker layer media type.
    pub fn from_media_type(media_type: &str) -> LayerResult<Self> {
        let mt = media_type.trim();
        let c = match mt {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            _ => return Err(LayerError::UnsupportedMediaType(media_type.to_string())),
        };
        Ok(c)
    }
}

/// Maps layer uids/gids to host ones (rootless remapping), applied before chown.
#[derive(Clone)]
pub struct IdMap {
    pub uid: Arc<dyn Fn(u32) -> u32 + Send + Sync>,
    pub gid: Arc<dyn Fn(u32) -> u32 + Send + Sync>,
}

impl fmt::Debug for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdMap")
    }
}

/// Options of [`extract_layer`].
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Name of the layer in errors and logs (default: the destination path).
    pub label: Option<String>,
    /// `sha256:<hex>` the compressed blob must have (checked on the bytes as read).
    pub expected_digest: Option<String>,
    /// `sha256:<hex>` the uncompressed tar must have.
    pub expected_diff_id: Option<String>,
    /// chown entries to their (mapped) uid/gid. Default: when running as root.
    pub chown: bool,
    /// Applied to uids/gids before chown.
    pub id_map: Option<IdMap>,
    /// Create device nodes. Default: when running as root; otherwise they
    /// are skipped with a warning (and so is EPERM from mknod).
    pub devices: bool,
    /// Mark opaque dirs with `user.overlay.opaque` (overlay `userxattr`)
    /// instead of `trusted.overlay.opaque`.
    pub userxattr: bool,
    /// Restore `SCHILY.xattr.*` PAX records. Unsupported or forbidden ones
    /// are skipped with a warning.
    pub xattrs: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        let root = rustix::process::geteuid().is_root();
        // Root of a user namespace (rootless podman-rs) owns only what the
        // namespace maps and may create no device nodes (skipped, as
        // Podman); overlay there takes `user.overlay.*` attributes.
        let userns = root && podman_rs_namespaces::in_user_namespace();
        ExtractOptions {
            label: None,
            expected_digest: None,
            expected_diff_id: None,
            chown: root,
            id_map: None,
            devices: root && !userns,
            userxattr: userns,
            xattrs: true,
        }
    }
}

/// What [`extract_layer`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:<hex>` of the uncompressed tar stream.
    pub diff_id: String,
    /// `sha256:<hex>` of the blob as read (compressed).
    pub compressed_digest: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Tar entries processed (whiteouts included, skipped ones too).
    pub entries: u64,
    /// Entries skipped with a warning (device nodes when not root...).
    pub skipped: Vec<PathBuf>,
}

/// A reader that hashes and counts what passes through it.
struct HashRead<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashRead<R> {
    fn new(inner: R) -> Self {
        HashRead {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Checks `digest` is `sha256:` + 64 lowercase hex digits; returns the hex.
pub(crate) fn parse_sha256(digest: &str) -> LayerResult<&str> {
    let invalid = |reason: &str| LayerError::InvalidDigest {
        digest: digest.to_string(),
        reason: reason.to_string(),
    };
    let (algo, hex) = digest
        .split_once(':')
        .ok_or_else(|| invalid("missing algorithm prefix"))?;
    if algo != "sha256" {
        return Err(invalid("only sha256 is supported"));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid("not 64 lowercase hex digits"));
    }
    Ok(hex)
}

/// Streams layer blob `reader` into `dest` (created if absent, must be empty
/// otherwise) and returns its digests. On any error, everything written
/// under `dest` is removed again (and `dest` too if this call created it).
///
/// Nothing is fsynced here; [`super::LayerStore::put_layer`] does that.
pub fn extract_layer<R: Read>(
    reader: R,
    compression: Compression,
    dest: &Path,
    opts: &ExtractOptions,
) -> LayerResult<LayerInfo> {
    let label = opts
        .label
        .clone()
        .unwrap_or_else(|| dest.display().to_string());
    let io_err = |op, path: &Path, source| LayerError::Io {
        layer: label.clone(),
        op,
        path: path.to_path_buf(),
        source,
    };
    if let Some(d) = &opts.expected_digest {
        parse_sha256(d)?;
    }
    if let Some(d) = &opts.expected_diff_id {
        parse_sha256(d)?;
    }
    let created = match std::fs::create_dir(dest) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut it = std::fs::read_dir(dest).map_err(|e| io_err("reading", dest, e))?;
            if it.next().is_some() {
                return Err(io_err(
                    "extracting into",
                    dest,
                    io::Error::new(io::ErrorKind::AlreadyExists, "directory is not empty"),
                ));
            }
            false
        }
        Err(e) => return Err(io_err("creating", dest, e)),
    };
    let result = extract_inner(reader, compression, dest, opts, &label);
    if result.is_err() {
        let cleanup = if created {
            std::fs::remove_dir_all(dest)
        } else {
            clear_dir(dest)
        };
        if let Err(e) = cleanup {
            tracing::warn!(layer = %label, dest = %dest.display(), "cleanup after failed extraction: {e}");
        }
    }
    result
}

fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn extract_inner<R: Read>(
    reader: R,
    compression: Compression,
    dest: &Path,
    opts: &ExtractOptions,
    label: &str,
) -> LayerResult<LayerInfo> {
    let root = rfs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LayerError::Io {
        layer: label.to_string(),
        op: "opening",
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let archive_err = |after: Option<PathBuf>, source| LayerError::Archive {
        layer: label.to_string(),
        after,
        source,
    };

    let mut compressed = HashRead::new(reader);
    let (diff_id, uncompressed_size, entries, skipped) = {
        let mut buffered = BufReader::with_capacity(64 * 1024, &mut compressed);
        let kind = match compression {
            Compression::Auto => {
                let head = buffered.fill_buf().map_err(|e| archive_err(None, e))?;
                if head.starts_with(&[0x1f, 0x8b]) {
                    Compression::Gzip
                } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                    Compression::Zstd
                } else {
                    Compression::None
                }
            }
            other => other,
        };
        let decoder: Box<dyn Read + '_> = match kind {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|e| archive_err(None, e))?,
            ),
            Compression::None | Compression::Auto => Box::new(buffered),
        };
        let mut plain = HashRead::new(decoder);
        let mut ex = Extractor {
            root: root.as_fd(),
            label,
            opts,
            entries: 0,
            skipped: Vec::new(),
            dirs: Vec::new(),
            last: None,
            unmapped: 0,
            first_unmapped: None,
        };
        ex.run(&mut plain)?;
        ex.warn_unmapped();
        // The tar's end-of-archive blocks may be followed by padding: it is
        // part of the diff ID.
        io::copy(&mut plain, &mut io::sink()).map_err(|e| archive_err(ex.last.clone(), e))?;
        (plain.digest(), plain.count, ex.entries, ex.skipped)
    };
    // Whatever the decompressor did not need still counts for the blob digest.
    io::copy(&mut compressed, &mut io::sink()).map_err(|e| archive_err(None, e))?;
    let compressed_digest = compressed.digest();

    if let Some(expected) = &opts.expected_digest {
        if *expected != compressed_digest {
            return Err(LayerError::DigestMismatch {
                layer: label.to_string(),
                what: "compressed digest",
                expected: expected.clone(),
                actual: compressed_digest,
            });
        }
    }
    if let Some(expected) = &opts.expected_diff_id {
        if *expected != diff_id {
            return Err(LayerError::DigestMismatch {
                layer: label.to_string(),
                what: "diff ID",
                expected: expected.clone(),
                actual: diff_id,
            });
        }
    }
    Ok(LayerInfo {
        diff_id,
        compressed_digest,
        compressed_size: compressed.count,
        uncompressed_size,
        entries,
        skipped,
    })
}

/// What an entry's PAX records say.
#[derive(Default)]
struct Pax {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// A directory whose mode and times are set once its contents are in.
struct PendingDir {
    rel: PathBuf,
    mode: u32,
    mtime: u64,
}

/// The overflow id ("nobody") unmapped owners are given.
const NOBODY: u32 = 65534;

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    label: &'a str,
    opts: &'a ExtractOptions,
    entries: u64,
    skipped: Vec<PathBuf>,
    dirs: Vec<PendingDir>,
    last: Option<PathBuf>,
    /// Entries whose owner the user namespace does not map (given to
    /// nobody instead), and the first of them for the warning.
    unmapped: u64,
    first_unmapped: Option<(PathBuf, u32, u32)>,
}

/// `/proc/self/fd/N/name`: a path for the calls that only take paths (the
/// crate's whiteout/xattr helpers). The magic link is the fd itself, so this
/// resolves to the same directory the fd checks were made on.
fn fd_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

impl<'a> Extractor<'a> {
    fn unsafe_entry(&self, entry: &Path, reason: impl Into<String>) -> LayerError {
        LayerError::UnsafeEntry {
            layer: self.label.to_string(),
            entry: entry.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn entry_err(&self, entry: &Path, op: &'static str) -> impl Fn(Errno) -> LayerError + '_ {
        let entry = entry.to_path_buf();
        move |e| LayerError::Entry {
            layer: self.label.to_string(),
            entry: entry.clone(),
            op,
            source: e.into(),
        }
    }

    fn run<R: Read>(&mut self, plain: &mut R) -> LayerResult<()> {
        let mut archive = tar::Archive::new(plain);
        let iter = archive.entries().map_err(|e| LayerError::Archive {
            layer: self.label.to_string(),
            after: None,
            source: e,
        })?;
        for entry in iter {
            let mut entry = entry.map_err(|e| LayerError::Archive {
                layer: self.label.to_string(),
                after: self.last.clone(),
                source: e,
            })?;
            let raw_path = entry
                .path()
                .map_err(|e| LayerError::Archive {
                    layer: self.label.to_string(),
                    after: self.last.clone(),
                    source: e,
                })?
                .into_owned();
            self.entries += 1;
            self.last = Some(raw_path.clone());
            self.entry(&mut entry, &raw_path)?;
        }
        self.finish_dirs()
    }

    /// Lexical check: relative, no `..` above the root. Returns the
    /// normalized components (empty = the root itself).
    fn normalize(&self, raw: &Path) -> LayerResult<Vec<OsString>> {
        let mut out: Vec<OsString> = Vec::new();
        for c in raw.components() {
            match c {
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(raw, "absolute path"));
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    if out.pop().is_none() {
                        return Err(self.unsafe_entry(raw, "path escapes the layer with `..`"));
                    }
                }
                Component::Normal(n) => out.push(n.to_os_string()),
            }
        }
        Ok(out)
    }

    /// Opens directory `comps` (relative to the root) with RESOLVE_BENEATH;
    /// with `create`, missing directories are made (0755, like tar does).
    fn open_dir(&self, entry: &Path, comps: &[OsString], create: bool) -> LayerResult<OwnedFd> {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let join = |cs: &[OsString]| -> PathBuf {
            if cs.is_empty() {
                PathBuf::from(".")
            } else {
                cs.iter().collect()
            }
        };
        let map = |e: Errno, at: &Path| -> LayerError {
            match e {
                Errno::XDEV => self.unsafe_entry(
                    entry,
                    format!(
                        "{} resolves outside the layer (symlink escape)",
                        at.display()
                    ),
                ),
                Errno::LOOP => {
                    self.unsafe_entry(entry, format!("too many symlinks at {}", at.display()))
                }
                Errno::NOTDIR => {
                    self.unsafe_entry(entry, format!("{} is not a directory", at.display()))
                }
                e => LayerError::Entry {
                    layer: self.label.to_string(),
                    entry: entry.to_path_buf(),
                    op: "opening parent directory",
                    source: e.into(),
                },
            }
        };
        let full = join(comps);
        match rfs::openat2(self.root, &full, flags, Mode::empty(), how) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => {}
            Err(e) => return Err(map(e, &full)),
        }
        // Walk down, creating what is missing. Each step resolves from the
        // root again, so symlinks met on the way are checked the same way.
        let mut cur = rfs::openat2(self.root, ".", flags, Mode::empty(), how)
            .map_err(|e| map(e, Path::new(".")))?;
        for i in 0..comps.len() {
            let prefix = join(&comps[..=i]);
            cur = match rfs::openat2(self.root, &prefix, flags, Mode::empty(), how) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rfs::mkdirat(&cur, comps[i].as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(map(e, &prefix)),
                    }
                    rfs::openat2(self.root, &prefix, flags, Mode::empty(), how)
                        .map_err(|e| map(e, &prefix))?
                }
                Err(e) => return Err(map(e, &prefix)),
            };
        }
        Ok(cur)
    }

    /// Removes whatever is at `name` in `dir` (not following symlinks) unless
    /// both it and the new entry are directories. Returns whether a
    /// directory is kept.
    fn clear_slot(
        &self,
        entry: &Path,
        dir: &OwnedFd,
        name: &OsStr,
        new_is_dir: bool,
    ) -> LayerResult<bool> {
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(self.entry_err(entry, "stat")(e)),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if is_dir && new_is_dir {
            return Ok(true);
        }
        if is_dir {
            std::fs::remove_dir_all(fd_path(dir.as_fd(), name)).map_err(|e| LayerError::Entry {
                layer: self.label.to_string(),
                entry: entry.to_path_buf(),
                op: "replacing directory",
                source: e,
            })?;
        } else {
            rfs::unlinkat(dir, name, AtFlags::empty())
                .map_err(self.entry_err(entry, "replacing"))?;
        }
        Ok(false)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, raw: &Path) -> LayerResult<()> {
        let comps = self.normalize(raw)?;
        let kind = entry.header().entry_type();
        let header_err = |e: io::Error| LayerError::Archive {
            layer: self.label.to_string(),
            after: Some(raw.to_path_buf()),
            source: e,
        };
        let mode = entry.header().mode().map_err(header_err)? & 0o7777;
        let pax = self.pax(entry, raw)?;
        let uid = match pax.uid {
            Some(v) => v,
            None => entry.header().uid().map_err(header_err)?,
        };
        let gid = match pax.gid {
            Some(v) => v,
            None => entry.header().gid().map_err(header_err)?,
        };
        let mtime = match pax.mtime {
            Some(v) => v,
            None => entry.header().mtime().map_err(header_err)?,
        };
        let xattrs = pax.xattrs;

        let Some((name, parent)) = comps.split_last() else {
            // The root itself ("./"): only its metadata.
            if kind == EntryType::Directory {
                self.chown(raw, self.root, OsStr::new("."), uid, gid)?;
                self.set_xattrs(raw, self.root, OsStr::new("."), &xattrs);
                self.dirs.push(PendingDir {
                    rel: PathBuf::new(),
                    mode,
                    mtime,
                });
                return Ok(());
            }
            return Err(self.unsafe_entry(raw, "non-directory entry for the layer root"));
        };
        let name_bytes = name.as_bytes();

        // OCI whiteouts -> overlayfs markers.
        if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            let dir = self.open_dir(raw, parent, true)?;
            if name_bytes == OPAQUE_MARKER.as_bytes() {
                set_opaque(&fd_path(dir.as_fd(), OsStr::new(".")), self.opts.userxattr).map_err(
                    |source| LayerError::Rootfs {
                        layer: self.label.to_string(),
                        entry: raw.to_path_buf(),
                        source: Box::new(source),
                    },
                )?;
            } else if name_bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
                tracing::debug!(layer = self.label, entry = %raw.display(), "skipping aufs metadata");
            } else {
                let target = OsStr::from_bytes(&name_bytes[WHITEOUT_PREFIX.len()..]);
                if target.is_empty() || target == "." || target == ".." {
                    return Err(self.unsafe_entry(raw, "whiteout of an invalid name"));
                }
                self.clear_slot(raw, &dir, target, false)?;
                create_whiteout(&fd_path(dir.as_fd(), target)).map_err(|source| {
                    LayerError::Rootfs {
                        layer: self.label.to_string(),
                        entry: raw.to_path_buf(),
                        source: Box::new(source),
                    }
                })?;
            }
            return Ok(());
        }

        let dir = self.open_dir(raw, parent, true)?;
        let name = name.as_os_str();
        let perm = Mode::from_raw_mode(mode);
        match kind {
            EntryType::Directory => {
                if !self.clear_slot(raw, &dir, name, true)? {
                    rfs::mkdirat(&dir, name, Mode::from_raw_mode(0o700))
                        .map_err(self.entry_err(raw, "mkdir"))?;
                }
                self.chown(raw, dir.as_fd(), name, uid, gid)?;
                self.set_xattrs(raw, dir.as_fd(), name, &xattrs);
                self.dirs.push(PendingDir {
                    rel: comps.iter().collect(),
                    mode,
                    mtime,
                });
                return Ok(());
            }
            EntryType::Regular | EntryType::Continuous => {
                self.clear_slot(raw, &dir, name, false)?;
                let fd = rfs::openat(
                    &dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(self.entry_err(raw, "create"))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|e| LayerError::Archive {
                    layer: self.label.to_string(),
                    after: Some(raw.to_path_buf()),
                    source: e,
                })?;
                file.flush().map_err(|e| LayerError::Entry {
                    layer: self.label.to_string(),
                    entry: raw.to_path_buf(),
                    op: "write",
                    source: e,
                })?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(header_err)?
                    .ok_or_else(|| self.unsafe_entry(raw, "symlink without a target"))?
                    .into_owned();
                self.clear_slot(raw, &dir, name, false)?;
                // The target is stored as is: it is only ever resolved inside
                // the container's root, and writes through it here go through
                // open_dir's RESOLVE_BENEATH.
                rfs::symlinkat(target.as_os_str(), &dir, name)
                    .map_err(self.entry_err(raw, "symlink"))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(header_err)?
                    .ok_or_else(|| self.unsafe_entry(raw, "hardlink without a target"))?
                    .into_owned();
                let tcomps = self.normalize(&target).map_err(|_| {
                    self.unsafe_entry(
                        raw,
                        format!("hardlink target {} is outside the layer", target.display()),
                    )
                })?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(self.unsafe_entry(raw, "hardlink to the layer root"));
                };
                let tdir = self.open_dir(raw, tparent, false).map_err(|e| match e {
                    LayerError::UnsafeEntry { reason, .. } => self.unsafe_entry(
                        raw,
                        format!("hardlink target {}: {reason}", target.display()),
                    ),
                    other => other,
                })?;
                if comps == tcomps {
                    return Ok(());
                }
                self.clear_slot(raw, &dir, name, false)?;
                rfs::linkat(&tdir, tname.as_os_str(), &dir, name, AtFlags::empty())
                    .map_err(self.entry_err(raw, "hardlink"))?;
                // A hardlink shares the target's inode and metadata.
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ft = match kind {
                    EntryType::Char => FileType::CharacterDevice,
                    EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if ft != FileType::Fifo && !self.opts.devices {
                    // Podman skips them silently in a user namespace.
                    tracing::debug!(layer = self.label, entry = %raw.display(), "skipping device node (not root)");
                    self.skipped.push(raw.to_path_buf());
                    return Ok(());
                }
                // A fifo's device fields are often left blank: not read.
                let (major, minor) = if ft == FileType::Fifo {
                    (0, 0)
                } else {
                    (
                        entry
                            .header()
                            .device_major()
                            .map_err(header_err)?
                            .unwrap_or(0),
                        entry
                            .header()
                            .device_minor()
                            .map_err(header_err)?
                            .unwrap_or(0),
                    )
                };
                self.clear_slot(raw, &dir, name, false)?;
                match rfs::mknodat(
                    &dir,
                    name,
                    ft,
                    Mode::from_raw_mode(0o600),
                    rfs::makedev(major, minor),
                ) {
                    Ok(()) => {}
                    Err(Errno::PERM) if ft != FileType::Fifo => {
                        tracing::warn!(layer = self.label, entry = %raw.display(), "skipping device node (mknod: EPERM)");
                        self.skipped.push(raw.to_path_buf());
                        return Ok(());
                    }
                    Err(e) => return Err(self.entry_err(raw, "mknod")(e)),
                }
            }
            EntryType::XGlobalHeader => return Ok(()),
            other => {
                return Err(LayerError::Unsupported {
                    layer: self.label.to_string(),
                    entry: raw.to_path_buf(),
                    kind: format!("{other:?}"),
                });
            }
        }

        // Metadata of a non-directory: owner first (chown clears setuid),
        // then mode, xattrs (security.capability after chown too), times.
        self.chown(raw, dir.as_fd(), name, uid, gid)?;
        if kind != EntryType::Symlink {
            rfs::chmodat(&dir, name, perm, AtFlags::empty())
                .map_err(self.entry_err(raw, "chmod"))?;
        }
        self.set_xattrs(raw, dir.as_fd(), name, &xattrs);
        set_times(&dir, name, mtime).map_err(self.entry_err(raw, "setting times"))?;
        Ok(())
    }

    /// The PAX records this module uses: xattrs, and uid/gid/mtime, which
    /// override the header's (they carry values too big for its fields).
    fn pax<R: Read>(&self, entry: &mut tar::Entry<'_, R>, raw: &Path) -> LayerResult<Pax> {
        let mut out = Pax::default();
        let number = |value: &[u8]| -> LayerResult<u64> {
            let text = std::str::from_utf8(value).ok().map(str::trim);
            // mtime may have a fraction ("1600000000.123"): seconds only.
            let whole = text.map(|t| t.split('.').next().unwrap_or(t));
            whole.and_then(|t| t.parse().ok()).ok_or_else(|| {
                self.unsafe_entry(
                    raw,
                    format!("bad PAX number {:?}", String::from_utf8_lossy(value)),
                )
            })
        };
        let exts = entry.pax_extensions().map_err(|e| LayerError::Archive {
            layer: self.label.to_string(),
            after: Some(raw.to_path_buf()),
            source: e,
        })?;
        if let Some(exts) = exts {
            for ext in exts {
                let ext = ext.map_err(|e| LayerError::Archive {
                    layer: self.label.to_string(),
                    after: Some(raw.to_path_buf()),
                    source: e,
                })?;
                match ext.key_bytes() {
                    b"uid" => out.uid = Some(number(ext.value_bytes())?),
                    b"gid" => out.gid = Some(number(ext.value_bytes())?),
                    b"mtime" => out.mtime = Some(number(ext.value_bytes())?),
                    key => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            if self.opts.xattrs {
                                out.xattrs.push((
                                    OsStr::from_bytes(name).to_os_string(),
                                    ext.value_bytes().to_vec(),
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn chown(
        &mut self,
        raw: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        uid: u64,
        gid: u64,
    ) -> LayerResult<()> {
        if !self.opts.chown {
            return Ok(());
        }
        let to_u32 = |v: u64| {
            u32::try_from(v)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| self.unsafe_entry(raw, format!("uid/gid {v} out of range")))
        };
        let (mut uid, mut gid) = (to_u32(uid)?, to_u32(gid)?);
        if let Some(map) = &self.opts.id_map {
            uid = (map.uid)(uid);
            gid = (map.gid)(gid);
        }
        let chown = |uid: u32, gid: u32| {
            rfs::chownat(
                dir,
                name,
                Some(rfs::Uid::from_raw(uid)),
                Some(rfs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
        };
        match chown(uid, gid) {
            Ok(()) => Ok(()),
            // EINVAL: the id has no mapping in our user namespace (rootless,
            // outside the user's subordinate ranges). The entry is kept and
            // given to nobody, or left to the extracting user when even
            // nobody is unmapped; the pull goes on and one warning says so.
            Err(e) if e == Errno::INVAL => {
                if let Err(e) = chown(NOBODY, NOBODY) {
                    if e != Errno::INVAL {
                        return Err(self.entry_err(raw, "chown")(e));
                    }
                }
                self.unmapped += 1;
                if self.first_unmapped.is_none() {
                    self.first_unmapped = Some((raw.to_path_buf(), uid, gid));
                }
                Ok(())
            }
            Err(e) => Err(self.entry_err(raw, "chown")(e)),
        }
    }

    /// One warning per layer for the owners [`Self::chown`] could not keep.
    fn warn_unmapped(&self) {
        if let Some((entry, uid, gid)) = &self.first_unmapped {
            let more = match self.unmapped {
                0 | 1 => String::new(),
                n => format!(" ({} more entries too)", n - 1),
            };
            tracing::warn!(
                "{}{more}; such entries are owned by nobody (65534) instead",
                LayerError::UnmappedOwner {
                    layer: self.label.to_string(),
                    entry: entry.clone(),
                    uid: *uid,
                    gid: *gid,
                }
            );
        }
    }

    fn set_xattrs(
        &mut self,
        raw: &Path,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        xattrs: &[(OsString, Vec<u8>)],
    ) {
        if xattrs.is_empty() {
            return;
        }
        let path = fd_path(dir, name);
        for (key, value) in xattrs {
            if let Err(e) = crate::xattr::set(&path, key, value) {
                tracing::warn!(layer = self.label, entry = %raw.display(), xattr = %key.to_string_lossy(), "skipping xattr: {e}");
            }
        }
    }

    /// Directory modes and times, set after all contents (deepest first so a
    /// read-only parent does not get in the way).
    fn finish_dirs(&mut self) -> LayerResult<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.rel.components().count()));
        for d in dirs {
            let comps: Vec<OsString> = d.rel.iter().map(|c| c.to_os_string()).collect();
            let fd = self.open_dir(&d.rel, &comps, false)?;
            rfs::chmodat(&fd, ".", Mode::from_raw_mode(d.mode), AtFlags::empty())
                .map_err(self.entry_err(&d.rel, "chmod"))?;
            set_times(&fd, OsStr::new("."), d.mtime)
                .map_err(self.entry_err(&d.rel, "setting times"))?;
        }
        Ok(())
    }
}

fn set_times(dir: impl AsFd, name: &OsStr, mtime: u64) -> rustix::io::Result<()> {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    rfs::utimensat(
        dir,
        name,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_digests_are_validated() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_sha256(&format!("sha256:{hex}")).ok(),
            Some(hex.as_str())
        );
        for bad in [
            "a".repeat(64),
            format!("sha512:{hex}"),
            format!("sha256:{}", "A".repeat(64)),
            "sha256:../../etc".to_string(),
            format!("sha256:{hex}/.."),
        ] {
            assert!(parse_sha256(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn media_types() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar").ok(),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+gzip").ok(),
            Some(Compression::Gzip)
        );
        assert!(matches!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"),
            Err(LayerError::UnsupportedMediaType(_))
        ));
    }
}
