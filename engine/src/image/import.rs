//! `import`: a root filesystem tarball (plain, gzip or zstd; a file or an
//! http(s) URL) becomes a one-layer image, as Podman 4.3.1 (libimage's
//! `Import` over containers-image's `tarball:` transport) makes it:
//!
//! * the layer blob is the file as given (a gzip or zstd file stays
//!   compressed, with the matching OCI media type); its diff ID is the
//!   digest of the uncompressed tar;
//! * the config holds the `--change` instructions ([`parse_changes`]), the
//!   platform (`--os`/`--arch`/`--variant`, else the host's), one history
//!   entry `/bin/sh -c #(nop) ADD file:<diff ID hex> in /` with the
//!   `--message` (default `imported from tarball`), and as `created` time
//!   the file's modification time, so that importing the same file twice
//!   (in podman or podman-rs) gives the same image ID;
//! * config and manifest are serialized byte for byte as Go's
//!   encoding/json writes containers-image's structs, so the image ID and
//!   the manifest digest are Podman's.
//!
//! The tarball is read twice (digests first, then extraction through the
//! layer store, which verifies them again), extracted once under its chain
//! ID and never outside the layer directory: entries that escape it
//! (`..`, absolute paths, writes through symlinks) fail the import, and a
//! failed import removes whatever it added, so the store is unchanged.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::image::archive::{
    sha256_digest, HashingReader, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD, MEDIA_TYPE_OCI_MANIFEST,
};
use crate::image::reference::Reference;
use crate::image::registry::Platform;
use crate::store::{Image, ImageRecord, Store, StoreError};
use podman_rs_rootfs::layers::{chain_id, Compression, ExtractOptions, LayerError};

/// The history comment when no `--message` is given.
pub const DEFAULT_MESSAGE: &str = "imported from tarball";

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// A file path, or an `http://`/`https://` URL to download first.
    pub source: String,
    /// The name to give the image; `None` leaves it unnamed (dangling).
    pub reference: Option<String>,
    /// `--change` instructions (`CMD`, `ENV`, …).
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
}

/// Errors of [`import`]; the messages are Podman's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A `--change` Podman refuses.
    #[error("invalid change {change:?} - {reason}")]
    InvalidChange { change: String, reason: String },
    /// The reference to name the image is not a valid name.
    #[error("normalizing name {name:?}: normalizing name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    // The causes are part of the messages (as Go prints them), not sources.
    #[error("error opening {:?}: open {}: {}", .path.display().to_string(), .path.display(), go_errno(.error))]
    Open { path: PathBuf, error: io::Error },
    #[error("error reading {:?}: read {}: {}", .path.display().to_string(), .path.display(), go_errno(.error))]
    Read { path: PathBuf, error: io::Error },
    #[error("downloading {url}: {message}")]
    Download { url: String, message: String },
    /// The tarball does not extract (not a tar, unsafe entry…).
    #[error("writing blob: adding layer with blob {digest:?}: {error}")]
    Layer {
        digest: String,
        error: Box<LayerError>,
    },
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(Box::new(e))
    }
}

/// An I/O error as Go prints it (`no such file or directory`).
fn go_errno(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `{}` as Go encodes `struct{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// The OCI image config's `config` (containers-image `v1.ImageConfig`), in
/// Go's field order, empty fields left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(rename = "ExposedPorts", skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(rename = "Env", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "Entrypoint", skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(rename = "Cmd", skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(rename = "Volumes", skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(rename = "WorkingDir", skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "StopSignal", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
}

/// Linux signal numbers by name (without `SIG`), as Podman's signal table.
fn signal_number(name: &str) -> Option<i64> {
    const TABLE: &[(&str, i64)] = &[
        ("ABRT", 6),
        ("ALRM", 14),
        ("BUS", 7),
        ("CHLD", 17),
        ("CLD", 17),
        ("CONT", 18),
        ("FPE", 8),
        ("HUP", 1),
        ("ILL", 4),
        ("INT", 2),
        ("IO", 29),
        ("IOT", 6),
        ("KILL", 9),
        ("PIPE", 13),
        ("POLL", 29),
        ("PROF", 27),
        ("PWR", 30),
        ("QUIT", 3),
        ("SEGV", 11),
        ("STKFLT", 16),
        ("STOP", 19),
        ("SYS", 31),
        ("TERM", 15),
        ("TRAP", 5),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("USR1", 10),
        ("USR2", 12),
        ("VTALRM", 26),
        ("WINCH", 28),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("RTMIN", 34),
        ("RTMAX", 64),
    ];
    if let Some((_, n)) = TABLE.iter().find(|(k, _)| *k == name) {
        return Some(*n);
    }
    // RTMIN+1 … RTMIN+15 and RTMAX-14 … RTMAX-1.
    let offset = |rest: &str, max: i64| {
        rest.parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n) && !rest.starts_with('+'))
    };
    if let Some(rest) = name.strip_prefix("RTMIN+") {
        return offset(rest, 15).map(|n| 34 + n);
    }
    if let Some(rest) = name.strip_prefix("RTMAX-") {
        return offset(rest, 14).map(|n| 64 - n);
    }
    None
}

/// Podman's `ParseSignal`: a non-zero number, or a name with or without
/// `SIG` (any case).
fn parse_signal(raw: &str) -> Result<i64, String> {
    if let Some(n) = go_atoi(raw) {
        return if n == 0 {
            Err(format!("invalid signal: {raw}"))
        } else {
            Ok(n)
        };
    }
    let upper = raw.to_uppercase();
    signal_number(upper.strip_prefix("SIG").unwrap_or(&upper))
        .ok_or_else(|| format!("invalid signal: {raw}"))
}

/// Go's `strconv.Atoi` (optional sign, decimal digits only).
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `filepath.Clean`.
fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join(a, b)` (empty elements ignored, result cleaned).
fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean_path(b),
        (false, true) => clean_path(a),
        (false, false) => clean_path(&format!("{a}/{b}")),
    }
}

/// A JSON array of strings (`null` is an empty one), else `None`.
fn json_strings(value: &str) -> Option<Vec<String>> {
    match serde_json::from_str::<serde_json::Value>(value).ok()? {
        serde_json::Value::Null => Some(Vec::new()),
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

/// Strips one pair of surrounding double quotes.
fn unquote(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        &s[1..s.len() - 1]
    } else if s == "\"" {
        ""
    } else {
        s
    }
}

/// The image config `--change` instructions make, with Podman 4.3.1's
/// rules: `INSTRUCTION VALUE` (or `INSTRUCTION=VALUE`); `CMD` and
/// `ENTRYPOINT` take a JSON array or a shell form run by `/bin/sh -c`; `ENV`
/// and `LABEL` one `key=value` each (quotes around key or value dropped);
/// `EXPOSE` one `PORT[/tcp|udp]`; `VOLUME` a JSON array or space-separated
/// paths; `WORKDIR` relative to the previous one; `STOPSIGNAL` a name or
/// number (stored as the number); `USER` as given; `ONBUILD` is accepted
/// and dropped (OCI configs have no such field). Anything else is refused.
pub fn parse_changes(changes: &[String]) -> Result<ImageConfig, ImportError> {
    let mut config = ImageConfig::default();
    for change in changes {
        let bad = |reason: String| ImportError::InvalidChange {
            change: change.clone(),
            reason,
        };
        let (key, value) = change
            .split_once(' ')
            .or_else(|| change.split_once('='))
            .ok_or_else(|| bad("must be formatted as KEY VALUE".into()))?;
        let key = key.trim().to_uppercase();
        let value = value.trim();
        match key.as_str() {
            "USER" => {
                if value.is_empty() {
                    return Err(bad("must provide a value to USER".into()));
                }
                config.user = value.to_string();
            }
            "EXPOSE" => {
                let parts: Vec<&str> = value.split('/').collect();
                if parts.len() > 2 {
                    return Err(bad("EXPOSE port must be formatted as PORT[/PROTO]".into()));
                }
                let port = go_atoi(parts[0]).ok_or_else(|| {
                    bad(format!(
                        "EXPOSE port must be an integer: strconv.Atoi: parsing {:?}: invalid syntax",
                        parts[0]
                    ))
                })?;
                if !(1..=65535).contains(&port) {
                    return Err(bad("EXPOSE port must be a valid port number".into()));
                }
                let proto = match parts.get(1).map(|p| p.to_lowercase()) {
                    None => "tcp".to_string(),
                    Some(p) if p == "tcp" || p == "udp" => p,
                    Some(_) => return Err(bad("EXPOSE protocol must be TCP or UDP".into())),
                };
                config
                    .exposed_ports
                    .insert(format!("{port}/{proto}"), Empty {});
            }
            "ENV" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                if k.is_empty() {
                    return Err(bad("ENV must have at least one argument".into()));
                }
                config.env.push(format!("{}={}", unquote(k), unquote(v)));
            }
            "ENTRYPOINT" => {
                config.entrypoint = match json_strings(value) {
                    Some(a) => a,
                    None if value.is_empty() => Vec::new(),
                    None => vec!["/bin/sh".into(), "-c".into(), value.to_string()],
                };
            }
            "CMD" => {
                config.cmd = match json_strings(value) {
                    Some(a) => a,
                    None => {
                        let mut c = vec!["/bin/sh".to_string(), "-c".to_string()];
                        if !value.is_empty() {
                            c.push(value.to_string());
                        }
                        c
                    }
                };
            }
            "VOLUME" => {
                let vols = json_strings(value)
                    .unwrap_or_else(|| value.split(' ').map(str::to_string).collect());
                if vols.is_empty() {
                    return Err(bad("must provide at least one argument to VOLUME".into()));
                }
                for v in vols {
                    if v.is_empty() {
                        return Err(bad("VOLUME paths must not be empty".into()));
                    }
                    config.volumes.insert(v, Empty {});
                }
            }
            "WORKDIR" => {
                if value.is_empty() {
                    return Err(bad("must provide a non-empty WORKDIR".into()));
                }
                config.working_dir = join_path(&config.working_dir, value);
            }
            "LABEL" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| bad("LABEL must be formatted key=value".into()))?;
                let k = unquote(k);
                if k.is_empty() {
                    return Err(bad("LABEL must have a non-empty key".into()));
                }
                config.labels.insert(k.to_string(), unquote(v).to_string());
            }
            "STOPSIGNAL" => {
                let n = parse_signal(value)
                    .map_err(|e| bad(format!("KILLSIGNAL must be given a valid signal: {e}")))?;
                config.stop_signal = n.to_string();
            }
            "ONBUILD" => {
                if value.is_empty() {
                    return Err(bad("ONBUILD must be given an argument".into()));
                }
            }
            other => return Err(bad(format!("invalid instruction {other}"))),
        }
    }
    Ok(config)
}

/// A time as Go's `time.RFC3339Nano` in UTC (trailing zeros of the
/// fraction dropped).
pub fn go_time(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = dt.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    comment: &'a str,
}

/// The image config, as containers-image's `v1.Image` encodes.
#[derive(Serialize)]
struct ConfigJson<'a> {
    created: &'a str,
    architecture: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
    os: &'a str,
    config: &'a ImageConfig,
    rootfs: RootFs<'a>,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
struct DescriptorJson<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    digest: &'a str,
    size: u64,
}

#[derive(Serialize)]
struct ManifestJson<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    config: DescriptorJson<'a>,
    layers: Vec<DescriptorJson<'a>>,
}

/// What [`import`] stored.
#[derive(Debug, Clone)]
pub struct Imported {
    pub image: Image,
    /// The layer blob's digest (Podman's `Copying blob` line).
    pub blob_digest: String,
}

/// The compression of a tarball from its first bytes.
fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The digests of a tarball file: (blob digest, blob size, compression,
/// diff ID, uncompressed size).
fn digests(path: &Path) -> Result<(String, u64, Compression, String, u64), ImportError> {
    let read_err = |error| ImportError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = File::open(path).map_err(|error| ImportError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    let mut raw = HashingReader::new(BufReader::with_capacity(128 * 1024, file));
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        let k = raw.read(&mut head[n..]).map_err(read_err)?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let compression = sniff(&head[..n]);
    let rest = io::Cursor::new(head[..n].to_vec()).chain(&mut raw);
    let mut plain = match compression {
        Compression::Gzip => HashingReader::new(
            Box::new(flate2::read::MultiGzDecoder::new(rest)) as Box<dyn Read + '_>
        ),
        Compression::Zstd => HashingReader::new(Box::new(
            zstd::stream::read::Decoder::new(rest).map_err(read_err)?,
        ) as Box<dyn Read + '_>),
        _ => HashingReader::new(Box::new(rest) as Box<dyn Read + '_>),
    };
    io::copy(&mut plain, &mut io::sink()).map_err(read_err)?;
    let (diff_id, size) = plain.finish();
    // Whatever the decompressor left unread (trailing bytes) is part of the blob.
    io::copy(&mut raw, &mut io::sink()).map_err(read_err)?;
    // The head bytes were counted when first read.
    let (blob_digest, blob_size) = raw.finish();
    Ok((blob_digest, blob_size, compression, diff_id, size))
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// A downloaded tarball, removed on drop.
struct Download(PathBuf);

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn download(store: &Store, url: &str) -> Result<Download, ImportError> {
    let err = |message: String| ImportError::Download {
        url: url.to_string(),
        message,
    };
    let dir = store.root().join("tmp");
    std::fs::create_dir_all(&dir).map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = dir.join(format!("import-{}-{nanos}", std::process::id()));
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let loopback =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    let mut cfg = ureq::Agent::config_builder();
    if loopback {
        cfg = cfg.proxy(None);
    }
    let agent: ureq::Agent = cfg.build().into();
    let resp = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    let guard = Download(path);
    let mut file =
        File::create(&guard.0).map_err(|e| err(format!("creating {}: {e}", guard.0.display())))?;
    let mut body = resp.into_body();
    io::copy(&mut body.as_reader(), &mut file).map_err(|e| err(e.to_string()))?;
    file.sync_all()
        .map_err(|e| err(format!("writing {}: {e}", guard.0.display())))?;
    Ok(guard)
}

/// Imports the tarball `req.source` into `store`. `progress` gets Podman's
/// progress lines (`Getting image source signatures`, …).
pub fn import(
    store: &Store,
    req: &ImportRequest,
    progress: &dyn Fn(&str),
) -> Result<Imported, ImportError> {
    let config = parse_changes(&req.changes)?;
    let name = req
        .reference
        .as_deref()
        .map(|n| {
            Reference::parse_local_name(n)
                .map(|r| r.to_string())
                .map_err(|e| {
                    let text = e.to_string();
                    ImportError::InvalidName {
                        name: n.to_string(),
                        reason: text
                            .strip_prefix("invalid reference format: ")
                            .unwrap_or(&text)
                            .to_string(),
                    }
                })
        })
        .transpose()?;
    let downloaded = if is_url(&req.source) {
        Some(download(store, &req.source)?)
    } else {
        None
    };
    let path = downloaded
        .as_ref()
        .map_or_else(|| PathBuf::from(&req.source), |d| d.0.clone());
    let meta = std::fs::metadata(&path).map_err(|error| ImportError::Open {
        path: path.clone(),
        error,
    })?;
    if meta.is_dir() {
        return Err(ImportError::Read {
            path,
            error: io::Error::from_raw_os_error(21), // EISDIR
        });
    }
    let created = go_time(meta.modified().unwrap_or_else(|_| SystemTime::now()));
    let (blob, blob_size, compression, diff_id, tar_size) = digests(&path)?;

    let host = Platform::host();
    let arch = req.arch.as_deref().unwrap_or(&host.architecture);
    let os = req.os.as_deref().unwrap_or(&host.os);
    let variant = req.variant.as_deref().unwrap_or_default();
    let message = req
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_MESSAGE);
    let diff_hex = diff_id.strip_prefix("sha256:").unwrap_or(&diff_id);
    let config_json = ConfigJson {
        created: &created,
        architecture: arch,
        variant,
        os,
        config: &config,
        rootfs: RootFs {
            kind: "layers",
            diff_ids: vec![&diff_id],
        },
        history: vec![History {
            created: &created,
            created_by: format!("/bin/sh -c #(nop) ADD file:{diff_hex} in /"),
            comment: message,
        }],
    };
    let config_bytes = serde_json::to_vec(&config_json).map_err(|e| {
        ImportError::Store(Box::new(StoreError::InvalidRecord {
            image: req.source.clone(),
            reason: format!("encoding config: {e}"),
        }))
    })?;
    let config_digest = sha256_digest(&config_bytes);
    let layer_media_type = match compression {
        Compression::Gzip => MEDIA_TYPE_OCI_LAYER_GZIP,
        Compression::Zstd => MEDIA_TYPE_OCI_LAYER_ZSTD,
        _ => MEDIA_TYPE_OCI_LAYER,
    };
    let manifest = ManifestJson {
        schema_version: 2,
        config: DescriptorJson {
            media_type: MEDIA_TYPE_OCI_CONFIG,
            digest: &config_digest,
            size: config_bytes.len() as u64,
        },
        layers: vec![DescriptorJson {
            media_type: layer_media_type,
            digest: &blob,
            size: blob_size,
        }],
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| {
        ImportError::Store(Box::new(StoreError::InvalidRecord {
            image: req.source.clone(),
            reason: format!("encoding manifest: {e}"),
        }))
    })?;
    let manifest_digest = sha256_digest(&manifest_bytes);
    let config_text = String::from_utf8(config_bytes).map_err(|_| {
        ImportError::Store(Box::new(StoreError::InvalidRecord {
            image: req.source.clone(),
            reason: "config is not UTF-8".into(),
        }))
    })?;
    let record = ImageRecord {
        id: config_digest.clone(),
        digest: manifest_digest,
        manifest_media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
        created: Some(created.clone()),
        size: tar_size + config_text.len() as u64 + 2 * manifest_bytes.len() as u64,
        layers: vec![chain_id(None, &diff_id)],
        layer_blobs: vec![blob.clone()],
        manifest_blobs: Vec::new(),
        names: name.into_iter().collect(),
        digests: Vec::new(),
        config: config_text,
    };

    progress("Getting image source signatures");
    let result = {
        let _lock = store.write_lock()?;
        store_image(
            store,
            &path,
            &record,
            &manifest_bytes,
            compression,
            &diff_id,
            progress,
        )
    };
    if result.is_err() {
        // After the shared lock is released (waits for concurrent writers).
        if let Err(e) = store.remove_unreferenced() {
            tracing::warn!("cleaning up after a failed import: {e}");
        }
    }
    drop(downloaded);
    Ok(Imported {
        image: result?,
        blob_digest: blob,
    })
}

fn store_image(
    store: &Store,
    path: &Path,
    record: &ImageRecord,
    manifest_bytes: &[u8],
    compression: Compression,
    diff_id: &str,
    progress: &dyn Fn(&str),
) -> Result<Image, ImportError> {
    let blob = record.layer_blobs.first().cloned().unwrap_or_default();
    let open = || {
        File::open(path).map_err(|error| ImportError::Open {
            path: path.to_path_buf(),
            error,
        })
    };
    // put_blob verifies the digest again: a file changed since it was
    // hashed is refused.
    store.put_blob(&blob, BufReader::new(open()?))?;
    let chain = chain_id(None, diff_id);
    let opts = ExtractOptions {
        label: Some(path.display().to_string()),
        expected_digest: Some(blob.clone()),
        expected_diff_id: Some(diff_id.to_string()),
        ..ExtractOptions::default()
    };
    store
        .layers()
        .put_layer(
            &chain,
            None,
            BufReader::new(store.open_blob(&blob)?),
            compression,
            &opts,
        )
        .map_err(|e| ImportError::Layer {
            digest: blob.clone(),
            error: Box::new(e),
        })?;
    progress(&format!("Copying blob {blob}"));
    store.put_blob(&record.id, record.config.as_bytes())?;
    progress(&format!("Copying config {}", record.id));
    progress("Writing manifest to image destination");
    store.put_blob(&record.digest, manifest_bytes)?;
    progress("Storing signatures");
    Ok(store.put_image(record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Result<serde_json::Value, String> {
        let changes: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        parse_changes(&changes)
            .map(|c| serde_json::to_value(&c).unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn changes_as_podman_stores_them() {
        assert_eq!(
            cfg(&["CMD echo hi there"]).unwrap(),
            serde_json::json!({"Cmd": ["/bin/sh", "-c", "echo hi there"]})
        );
        assert_eq!(
            cfg(&[r#"ENTRYPOINT ["/bin/x"]"#, "CMD arg", "cmd=[\"a\"]"]).unwrap(),
            serde_json::json!({"Entrypoint": ["/bin/x"], "Cmd": ["a"]})
        );
        assert_eq!(
            cfg(&[r#"ENV A=1 B="two words""#, "ENV C 3 4", r#"ENV "A"="b c""#]).unwrap(),
            serde_json::json!({"Env": ["A=1 B=\"two words\"", "C 3 4=", "A=b c"]})
        );
        assert_eq!(
            cfg(&["EXPOSE 80/udp", "EXPOSE 81", "EXPOSE 82/TCP"]).unwrap(),
            serde_json::json!({"ExposedPorts": {"80/udp": {}, "81/tcp": {}, "82/tcp": {}}})
        );
        assert_eq!(
            cfg(&["WORKDIR /a", "WORKDIR b/../c", "WORKDIR d/"]).unwrap(),
            serde_json::json!({"WorkingDir": "/a/c/d"})
        );
        assert_eq!(
            cfg(&["STOPSIGNAL term", "USER 1000:1000"]).unwrap(),
            serde_json::json!({"User": "1000:1000", "StopSignal": "15"})
        );
        assert_eq!(cfg(&["STOPSIGNAL RTMIN+3"]).unwrap()["StopSignal"], "37");
        assert_eq!(
            cfg(&[
                "VOLUME /data /x",
                r#"VOLUME ["/a"]"#,
                "LABEL a=\"q\"",
                "LABEL a=z",
                "ONBUILD RUN x"
            ])
            .unwrap(),
            serde_json::json!({"Volumes": {"/a": {}, "/data": {}, "/x": {}}, "Labels": {"a": "z"}})
        );
        assert_eq!(
            cfg(&["ENTRYPOINT ", "CMD []"]).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(
            cfg(&["CMD "]).unwrap(),
            serde_json::json!({"Cmd": ["/bin/sh", "-c"]})
        );
    }

    #[test]
    fn bad_changes_fail_like_podman() {
        let cases = [
            ("RUN ls", "invalid change \"RUN ls\" - invalid instruction RUN"),
            ("bogus", "invalid change \"bogus\" - must be formatted as KEY VALUE"),
            ("CMD\ttab", "invalid change \"CMD\\ttab\" - must be formatted as KEY VALUE"),
            (
                "EXPOSE 80 443/udp",
                "invalid change \"EXPOSE 80 443/udp\" - EXPOSE port must be an integer: strconv.Atoi: parsing \"80 443\": invalid syntax",
            ),
            ("EXPOSE 70000", "invalid change \"EXPOSE 70000\" - EXPOSE port must be a valid port number"),
            ("EXPOSE 80/sctp", "invalid change \"EXPOSE 80/sctp\" - EXPOSE protocol must be TCP or UDP"),
            ("LABEL x y", "invalid change \"LABEL x y\" - LABEL must be formatted key=value"),
            ("ENV =x", "invalid change \"ENV =x\" - ENV must have at least one argument"),
            ("USER ", "invalid change \"USER \" - must provide a value to USER"),
            ("VOLUME /a  /b", "invalid change \"VOLUME /a  /b\" - VOLUME paths must not be empty"),
            ("VOLUME []", "invalid change \"VOLUME []\" - must provide at least one argument to VOLUME"),
            (
                "STOPSIGNAL FOO",
                "invalid change \"STOPSIGNAL FOO\" - KILLSIGNAL must be given a valid signal: invalid signal: FOO",
            ),
            ("STOPSIGNAL 0", "invalid change \"STOPSIGNAL 0\" - KILLSIGNAL must be given a valid signal: invalid signal: 0"),
            ("  CMD x", "invalid change \"  CMD x\" - invalid instruction "),
        ];
        for (change, want) in cases {
            assert_eq!(cfg(&[change]).unwrap_err(), want, "{change}");
        }
    }

    #[test]
    fn go_formats() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(
            go_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            go_time(UNIX_EPOCH + Duration::new(1_700_000_000, 6_954_130)),
            "2023-11-14T22:13:20.00695413Z"
        );
        assert_eq!(clean_path("a/../../b"), "../b");
        assert_eq!(join_path("", "rel"), "rel");
        assert_eq!(
            go_errno(&io::Error::from_raw_os_error(2)),
            "no such file or directory"
        );
    }
}
