//! Manifests, indexes, descriptors, platforms and digests.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::error::{RegistryError, Result};

/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The media types sent in `Accept` when fetching manifests.
pub const MANIFEST_ACCEPT: &[&str] = &[
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
];

/// An OS/architecture/variant triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// GOOS name: `linux`, `windows`, …
    #[serde(default)]
    pub os: String,
    /// GOARCH name: `amd64`, `arm64`, `arm`, …
    #[serde(default)]
    pub architecture: String,
    /// CPU variant: `v7`, `v8`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// A platform; an empty variant means none.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// The host's platform with Go's names (`x86_64` → `amd64`, `aarch64` →
    /// `arm64`); no variant, so any variant of the architecture matches.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch, None)
    }

    /// Parses `os/arch[/variant]` (as `--platform` takes it).
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let arch = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next();
        if parts.next().is_some() {
            return None;
        }
        Some(Platform::new(os, arch, variant))
    }

    /// Whether an index entry for `candidate` satisfies this wanted platform:
    /// same OS and architecture; a wanted variant must equal the candidate's,
    /// unless the candidate has none (then it is the architecture's default).
    pub fn matches(&self, candidate: &Platform) -> bool {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return false;
        }
        match (&self.variant, &candidate.variant) {
            (None, _) | (Some(_), None) => true,
            (Some(w), Some(c)) => w == c,
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::host()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An image manifest (OCI or Docker schema 2: same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An OCI image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedManifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// Whether `media_type` names an index / manifest list.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_LIST
}

/// Whether `media_type` names an image manifest.
pub fn is_manifest_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// The media type of a manifest: the `mediaType` field if set, else the
/// `Content-Type` the registry sent, else guessed from the shape (an OCI
/// manifest or index may omit `mediaType`).
pub fn detect_media_type(raw: &[u8], content_type: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
        fs_layers: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(raw).ok()?;
    if let Some(mt) = probe.media_type.filter(|m| !m.is_empty()) {
        return Some(mt);
    }
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
    if let Some(ct) = ct {
        return Some(ct);
    }
    if probe.schema_version == Some(1) || probe.fs_layers.is_some() {
        return Some("application/vnd.docker.distribution.manifest.v1+json".to_string());
    }
    if probe.manifests.is_some() {
        return Some(MEDIA_TYPE_OCI_INDEX.to_string());
    }
    if probe.layers.is_some() {
        return Some(MEDIA_TYPE_OCI_MANIFEST.to_string());
    }
    None
}

/// Parses `raw` as the manifest kind `media_type` names.
pub fn parse_manifest(raw: &[u8], media_type: &str) -> Result<ParsedManifest, String> {
    if is_index_media_type(media_type) {
        let index: ImageIndex = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        if index.schema_version != 2 {
            return Err(format!(
                "unsupported schemaVersion {}",
                index.schema_version
            ));
        }
        Ok(ParsedManifest::Index(index))
    } else if is_manifest_media_type(media_type) {
        let m: ImageManifest = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        if m.schema_version != 2 {
            return Err(format!("unsupported schemaVersion {}", m.schema_version));
        }
        Ok(ParsedManifest::Image(m))
    } else {
        Err(format!("unsupported media type {media_type:?}"))
    }
}

/// Picks the first index entry whose platform matches `wanted`; entries
/// without a platform never match. `Err` lists the available platforms.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
) -> std::result::Result<&'a Descriptor, Vec<String>> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .ok_or_else(|| {
            index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                .collect()
        })
}

/// Supported digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

/// A validated `algorithm:hex` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDigest {
    pub algorithm: DigestAlgorithm,
    /// Lowercase hex of the right length (safe as a file name).
    pub hex: String,
}

impl ParsedDigest {
    /// Validates `digest` (go-digest rules: known algorithm, lowercase hex of
    /// the algorithm's length).
    pub fn parse(digest: &str) -> Result<ParsedDigest> {
        let invalid = |reason: &str| RegistryError::InvalidDigest {
            digest: digest.to_string(),
            reason: reason.to_string(),
        };
        let (alg, hex) = digest
            .split_once(':')
            .ok_or_else(|| invalid("invalid checksum digest format"))?;
        let (algorithm, len) = match alg {
            "sha256" => (DigestAlgorithm::Sha256, 64),
            "sha384" => (DigestAlgorithm::Sha384, 96),
            "sha512" => (DigestAlgorithm::Sha512, 128),
            _ => return Err(invalid("unsupported digest algorithm")),
        };
        if hex.len() != len {
            return Err(invalid("invalid checksum digest length"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("invalid checksum digest format"));
        }
        Ok(ParsedDigest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// A hasher for this digest's algorithm.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }
}

impl fmt::Display for ParsedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alg = match self.algorithm {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
        };
        write!(f, "{alg}:{}", self.hex)
    }
}

/// An incremental hasher producing `algorithm:hex`.
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: DigestAlgorithm) -> Hasher {
        match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// `algorithm:hex` of everything hashed.
    pub fn finish(self) -> String {
        let (alg, bytes) = match self {
            Hasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Hasher::Sha384(h) => ("sha384", h.finalize().to_vec()),
            Hasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        let mut s = String::with_capacity(alg.len() + 1 + bytes.len() * 2);
        s.push_str(alg);
        s.push(':');
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let mut h = Hasher::new(DigestAlgorithm::Sha256);
    h.update(data);
    h.finish()
}

/// The digest of `data` with the algorithm of `like` (sha256 if unparsable).
pub fn digest_like(like: &str, data: &[u8]) -> String {
    let alg = ParsedDigest::parse(like)
        .map(|d| d.algorithm)
        .unwrap_or(DigestAlgorithm::Sha256);
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finish()
}
