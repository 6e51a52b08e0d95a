//! registries.conf (v2, and v1 converted) as containers-image's
//! `pkg/sysregistriesv2` and `pkg/shortnames` read and apply it.
//!
//! * Load order ([`RegistriesConf::load`]): `$CONTAINERS_REGISTRIES_CONF` if
//!   set (must exist), else `$HOME/.config/containers/registries.conf` if it
//!   exists (then only `$HOME/.config/containers/registries.conf.d` is read),
//!   else `/etc/containers/registries.conf` (may be missing). Unless the user
//!   file was chosen, drop-ins come from `/etc/containers/registries.conf.d`
//!   then `$HOME/.config/containers/registries.conf.d`, each in lexical order
//!   of `*.conf` file names, later files winning.
//! * Merging a drop-in: `[[registry]]` entries replace same-prefix entries,
//!   `unqualified-search-registries` / `short-name-mode` replace when set,
//!   `[aliases]` merge key by key (an empty value removes an alias).
//! * Drop-ins must be v2; mixing v1 (`[registries.search]` ...) and v2 in one
//!   file is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use super::reference::{is_valid_domain, Reference, ReferenceError};

/// System-wide registries.conf.
pub const SYSTEM_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
/// System-wide drop-in directory.
pub const SYSTEM_REGISTRIES_CONF_DIR: &str = "/etc/containers/registries.conf.d";
/// Per-user registries.conf, relative to `$HOME`.
pub const USER_REGISTRIES_CONF: &str = ".config/containers/registries.conf";
/// Per-user drop-in directory, relative to `$HOME`.
pub const USER_REGISTRIES_CONF_DIR: &str = ".config/containers/registries.conf.d";
/// Environment variable overriding the registries.conf path.
pub const REGISTRIES_CONF_ENV: &str = "CONTAINERS_REGISTRIES_CONF";

/// Errors from loading registries.conf or applying it to a reference.
#[derive(Debug, Error)]
pub enum RegistriesError {
    /// The file could not be read.
    #[error("loading registries configuration {path:?}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or type error.
    #[error("loading registries configuration {path:?}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Semantically invalid configuration (containers-image `InvalidRegistries` etc.).
    #[error("loading registries configuration {path:?}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The reference's registry is blocked.
    #[error("registry {prefix} is blocked in {origin}")]
    Blocked {
        /// The matching `prefix`.
        prefix: String,
        /// The configuration sources (registries.conf and drop-in dirs).
        origin: String,
    },
    /// Enforcing mode, several candidates, no TTY to prompt on.
    #[error("short-name resolution enforced but cannot prompt without a TTY")]
    EnforcingNoTty,
    /// No alias and no unqualified-search registries.
    #[error("short-name {name:?} did not resolve to an alias and no unqualified-search registries are defined in {origin:?}")]
    NoSearchRegistries {
        /// The short name.
        name: String,
        /// Where unqualified-search-registries would have been defined.
        origin: String,
    },
    /// A fully qualified reference was required.
    #[error("{reference} is a short name: resolve it through registries.conf first")]
    ShortName {
        /// The short name.
        reference: String,
    },
    /// Rewriting a reference with a `location` produced an invalid reference.
    #[error("rewriting reference {reference} with location {location:?}: {source}")]
    Rewrite {
        /// Original reference.
        reference: String,
        /// The location.
        location: String,
        /// Why the result does not parse.
        #[source]
        source: ReferenceError,
    },
}

/// `short-name-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    /// Prompt on a TTY; error without one when there are several candidates.
    Enforcing,
    /// Prompt on a TTY; try all candidates without one. The default.
    #[default]
    Permissive,
    /// Never prompt; try all candidates.
    Disabled,
}

impl ShortNameMode {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "enforcing" => Some(Self::Enforcing),
            "permissive" => Some(Self::Permissive),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

impl fmt::Display for ShortNameMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enforcing => "enforcing",
            Self::Permissive => "permissive",
            Self::Disabled => "disabled",
        })
    }
}

/// A mirror's `pull-from-mirror`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFromMirror {
    /// Used for tag and digest pulls (default).
    #[default]
    All,
    /// Only for digest pulls.
    DigestOnly,
    /// Only for tag pulls.
    TagOnly,
}

/// A place to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// host[:port][/namespace...]
    pub location: String,
    /// Skip TLS verification / allow plain HTTP.
    pub insecure: bool,
}

/// A `[[registry.mirror]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Mirror location.
    pub location: String,
    /// Skip TLS verification / allow plain HTTP.
    pub insecure: bool,
    /// Which pulls may use this mirror.
    pub pull_from_mirror: PullFromMirror,
}

/// A `[[registry]]` table after post-processing (prefix defaulted to location,
/// trailing slashes trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Matched against references; `*.example.com` matches subdomains.
    pub prefix: String,
    /// Where to pull from; empty only for wildcard prefixes (no rewriting).
    pub location: String,
    /// Skip TLS verification / allow plain HTTP.
    pub insecure: bool,
    /// Pulls are refused.
    pub blocked: bool,
    /// Mirrors are used only for digest references.
    pub mirror_by_digest_only: bool,
    /// Mirrors, tried in order before `location`.
    pub mirrors: Vec<Mirror>,
}

/// One source to try when pulling: the endpoint and the reference rewritten
/// for it (`prefix` replaced by the endpoint's location).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// What to ask it for.
    pub reference: Reference,
}

/// Result of short-name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Fully qualified candidates, in the order to try them (tag `latest`
    /// added when the input had neither tag nor digest).
    pub candidates: Vec<Reference>,
    /// The name matched an `[aliases]` entry (then there is one candidate).
    pub from_alias: bool,
    /// Podman would prompt the user to pick one candidate (TTY available,
    /// mode enforcing/permissive, several candidates).
    pub needs_prompt: bool,
    /// Which file the alias or the search registries came from.
    pub origin: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Alias {
    /// `None` when reset with an empty value.
    value: Option<Reference>,
    origin: PathBuf,
}

/// The merged registries configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    unqualified_search_registries: Vec<String>,
    search_origin: Option<PathBuf>,
    short_name_mode: ShortNameMode,
    registries: Vec<RegistryConfig>,
    aliases: BTreeMap<String, Alias>,
    /// registries.conf path and drop-in directories, for messages.
    sources: Vec<PathBuf>,
}

// ---- raw TOML ----

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    aliases: Option<BTreeMap<String, String>>,
    /// v1 format: `[registries.search] registries = [...]` etc.
    registries: Option<RawV1>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    pull_from_mirror: String,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: String,
}

#[derive(Debug, Default, Deserialize)]
struct RawV1 {
    #[serde(default)]
    search: RawV1List,
    #[serde(default)]
    insecure: RawV1List,
    #[serde(default)]
    block: RawV1List,
}

#[derive(Debug, Default, Deserialize)]
struct RawV1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// One parsed file, before merging.
#[derive(Debug, Default)]
struct FileConf {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<ShortNameMode>,
    registries: Vec<RegistryConfig>,
    aliases: BTreeMap<String, Alias>,
}

fn invalid(path: &Path, message: impl Into<String>) -> RegistriesError {
    RegistriesError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// containers-image `parseLocation`: trim trailing `/`, refuse URI schemes.
fn parse_location(path: &Path, input: &str) -> Result<String, RegistriesError> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(invalid(
            path,
            format!("invalid location '{input}': URI schemes are not supported"),
        ));
    }
    Ok(trimmed.to_string())
}

fn parse_file(path: &Path, text: &str, force_v2: bool) -> Result<FileConf, RegistriesError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| RegistriesError::Toml {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let v1_set = raw.registries.as_ref().is_some_and(|v1| {
        !(v1.search.registries.is_empty()
            && v1.insecure.registries.is_empty()
            && v1.block.registries.is_empty())
    });
    let v2_set = raw.unqualified_search_registries.is_some()
        || raw.short_name_mode.is_some()
        || !raw.registry.is_empty()
        || raw.aliases.as_ref().is_some_and(|a| !a.is_empty());
    let mut raw_registries = raw.registry;
    let mut search = raw.unqualified_search_registries;
    if v1_set {
        if force_v2 {
            return Err(invalid(path, "registry must be in v2 format but is in v1"));
        }
        if v2_set {
            return Err(invalid(path, "mixing sysregistry v1/v2 is not supported"));
        }
        let v1 = raw.registries.unwrap_or_default();
        // ConvertToV2: one registry per location, blocked first then insecure.
        let mut order: Vec<String> = Vec::new();
        let mut map: BTreeMap<String, RawRegistry> = BTreeMap::new();
        let lists = [
            (&v1.block.registries, true),
            (&v1.insecure.registries, false),
        ];
        for (list, is_block) in lists {
            for loc in list {
                let loc = parse_location(path, loc)?;
                let entry = map.entry(loc.clone()).or_insert_with(|| {
                    order.push(loc.clone());
                    RawRegistry {
                        prefix: loc.clone(),
                        location: loc.clone(),
                        ..RawRegistry::default()
                    }
                });
                if is_block {
                    entry.blocked = true;
                } else {
                    entry.insecure = true;
                }
            }
        }
        raw_registries = order.iter().filter_map(|l| map.remove(l)).collect();
        search = Some(v1.search.registries);
    }

    let mut registries = Vec::new();
    for r in raw_registries {
        registries.push(post_process_registry(path, r)?);
    }
    // Conflicting insecure/blocked settings for the same location.
    for a in &registries {
        let key_a = if a.location.is_empty() {
            &a.prefix
        } else {
            &a.location
        };
        for b in &registries {
            let key_b = if b.location.is_empty() {
                &b.prefix
            } else {
                &b.location
            };
            if key_a != key_b {
                continue;
            }
            if a.insecure != b.insecure {
                return Err(invalid(path, format!("registry '{}' is defined multiple times with conflicting 'insecure' setting", a.location)));
            }
            if a.blocked != b.blocked {
                return Err(invalid(path, format!("registry '{}' is defined multiple times with conflicting 'blocked' setting", a.location)));
            }
        }
    }
    // First entry for a prefix wins; keep them sorted by prefix.
    let mut unique: BTreeMap<String, RegistryConfig> = BTreeMap::new();
    for r in registries {
        unique.entry(r.prefix.clone()).or_insert(r);
    }
    let registries: Vec<RegistryConfig> = unique.into_values().collect();

    let search = match search {
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for entry in list {
                let reg = parse_location(path, &entry)?;
                if !is_valid_domain(&reg) {
                    return Err(invalid(
                        path,
                        format!("Invalid unqualified-search-registries entry {reg:?}"),
                    ));
                }
                out.push(reg);
            }
            Some(out)
        }
        None => None,
    };

    let short_name_mode = match raw.short_name_mode.as_deref() {
        None | Some("") => None,
        Some(m) => Some(
            ShortNameMode::parse(m)
                .ok_or_else(|| invalid(path, format!("invalid short-name mode: {m:?}")))?,
        ),
    };

    let mut aliases = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, value) in raw.aliases.unwrap_or_default() {
        if let Err(e) = validate_short_name(&name) {
            errors.push(e);
            continue;
        }
        if value.is_empty() {
            aliases.insert(
                name,
                Alias {
                    value: None,
                    origin: path.to_path_buf(),
                },
            );
            continue;
        }
        match parse_alias_value(&value) {
            Ok(r) => {
                aliases.insert(
                    name,
                    Alias {
                        value: Some(r),
                        origin: path.to_path_buf(),
                    },
                );
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(
            path,
            format!("validating short-name aliases: {}", errors.join("\n")),
        ));
    }

    Ok(FileConf {
        unqualified_search_registries: search,
        short_name_mode,
        registries,
        aliases,
    })
}

fn post_process_registry(path: &Path, r: RawRegistry) -> Result<RegistryConfig, RegistriesError> {
    let location = parse_location(path, &r.location)?;
    let prefix = if r.prefix.is_empty() {
        if location.is_empty() {
            return Err(invalid(
                path,
                "invalid condition: both location and prefix are unset",
            ));
        }
        location.clone()
    } else {
        let p = parse_location(path, &r.prefix)?;
        if !p.starts_with("*.") && location.is_empty() {
            return Err(invalid(path, "invalid condition: location is unset and prefix is not in the format: *.example.com"));
        }
        p
    };
    if prefix.starts_with("*.") && prefix.contains(['/', '@', ':']) {
        return Err(invalid(path, format!("Wildcarded prefix should be in the format: *.example.com. Current prefix {prefix:?} is incorrectly formatted")));
    }
    if !r.pull_from_mirror.is_empty() {
        return Err(invalid(
            path,
            format!("pull-from-mirror must not be set for a non-mirror registry {prefix:?}"),
        ));
    }
    let mut mirrors = Vec::new();
    for m in r.mirror {
        let loc = parse_location(path, &m.location)?;
        if loc.is_empty() {
            return Err(invalid(path, "invalid condition: mirror location is unset"));
        }
        if r.mirror_by_digest_only && !m.pull_from_mirror.is_empty() {
            return Err(invalid(path, format!("cannot set mirror usage mirror-by-digest-only for the registry ({prefix:?}) and pull-from-mirror for per-mirror ({loc:?}) at the same time")));
        }
        let pull_from_mirror = match m.pull_from_mirror.as_str() {
            "" | "all" => PullFromMirror::All,
            "digest-only" => PullFromMirror::DigestOnly,
            "tag-only" => PullFromMirror::TagOnly,
            other => {
                return Err(invalid(
                    path,
                    format!("unsupported pull-from-mirror value {other:?} for mirror {loc:?}"),
                ))
            }
        };
        mirrors.push(Mirror {
            location: loc,
            insecure: m.insecure,
            pull_from_mirror,
        });
    }
    Ok(RegistryConfig {
        prefix,
        location,
        insecure: r.insecure,
        blocked: r.blocked,
        mirror_by_digest_only: r.mirror_by_digest_only,
        mirrors,
    })
}

/// Left-hand side of an alias: a short name without tag or digest.
fn validate_short_name(name: &str) -> Result<(), String> {
    let r =
        Reference::parse(name).map_err(|e| format!("cannot parse short name: {name:?}: {e}"))?;
    if r.digest.is_some() {
        return Err(format!(
            "invalid short name {name:?}: must not contain digest"
        ));
    }
    if r.tag.is_some() {
        return Err(format!("invalid short name {name:?}: must not contain tag"));
    }
    if !r.is_short_name() {
        return Err(format!(
            "invalid short name {name:?}: must not contain registry"
        ));
    }
    Ok(())
}

/// Right-hand side of an alias: fully qualified, without tag or digest.
fn parse_alias_value(value: &str) -> Result<Reference, String> {
    let r = Reference::parse(value).map_err(|e| format!("parsing alias {value:?}: {e}"))?;
    if r.digest.is_some() {
        return Err(format!("invalid alias {value:?}: must not contain digest"));
    }
    if r.tag.is_some() {
        return Err(format!("invalid alias {value:?}: must not contain tag"));
    }
    if r.is_short_name() {
        return Err(format!(
            "invalid alias {value:?}: must contain registry and repository"
        ));
    }
    Ok(r)
}

/// containers-image `refMatchingPrefix`: length of the match or `None`.
fn ref_matching_prefix(reference: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        // "*.example.com": ".example.com" inside the host part.
        let index = reference.find(domain)?;
        if reference[..index].contains('/') {
            return None;
        }
        let end = index + domain.len();
        return match reference.as_bytes().get(end) {
            None | Some(b':' | b'/' | b'@') => Some(end),
            Some(_) => None,
        };
    }
    if !reference.starts_with(prefix) {
        return None;
    }
    match reference.as_bytes().get(prefix.len()) {
        None | Some(b':' | b'/' | b'@') => Some(prefix.len()),
        Some(_) => None,
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `*.conf` files directly in `dir`, sorted by name; a missing dir is empty.
fn drop_in_files(dir: &Path) -> Result<Vec<PathBuf>, RegistriesError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistriesError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RegistriesError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir && path.to_string_lossy().ends_with(".conf") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl RegistriesConf {
    /// Load from the default locations (see the module docs).
    pub fn load() -> Result<Self, RegistriesError> {
        let home = home_dir();
        if let Some(env) = std::env::var_os(REGISTRIES_CONF_ENV).filter(|v| !v.is_empty()) {
            let mut dirs = vec![PathBuf::from(SYSTEM_REGISTRIES_CONF_DIR)];
            dirs.extend(home.as_ref().map(|h| h.join(USER_REGISTRIES_CONF_DIR)));
            return Self::load_paths(Path::new(&env), true, &dirs);
        }
        if let Some(h) = &home {
            let user = h.join(USER_REGISTRIES_CONF);
            if user.exists() {
                return Self::load_paths(&user, true, &[h.join(USER_REGISTRIES_CONF_DIR)]);
            }
        }
        let mut dirs = vec![PathBuf::from(SYSTEM_REGISTRIES_CONF_DIR)];
        dirs.extend(home.as_ref().map(|h| h.join(USER_REGISTRIES_CONF_DIR)));
        Self::load_paths(Path::new(SYSTEM_REGISTRIES_CONF), false, &dirs)
    }

    /// Load `path` (must exist) plus the drop-in directory next to it
    /// (`<path>.d`, i.e. `registries.conf.d` for `registries.conf`).
    pub fn load_from(path: impl AsRef<Path>) -> Result<Self, RegistriesError> {
        let path = path.as_ref();
        let mut dir = path.as_os_str().to_os_string();
        dir.push(".d");
        Self::load_paths(path, true, &[PathBuf::from(dir)])
    }

    /// Load `path` and the `*.conf` files of `dirs` (in order, each sorted).
    /// If `must_exist` is false a missing `path` counts as an empty file.
    pub fn load_paths(
        path: &Path,
        must_exist: bool,
        dirs: &[PathBuf],
    ) -> Result<Self, RegistriesError> {
        let mut conf = RegistriesConf {
            sources: std::iter::once(path.to_path_buf())
                .chain(dirs.iter().cloned())
                .collect(),
            ..RegistriesConf::default()
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let file = parse_file(path, &text, false)?;
                conf.merge(path, file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {}
            Err(source) => {
                return Err(RegistriesError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        for dir in dirs {
            for file in drop_in_files(dir)? {
                let text = match std::fs::read_to_string(&file) {
                    Ok(t) => t,
                    // Removed between listing and reading: ignore, as containers-image does.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(source) => return Err(RegistriesError::Io { path: file, source }),
                };
                let parsed = parse_file(&file, &text, true)?;
                conf.merge(&file, parsed);
            }
        }
        tracing::debug!(sources = ?conf.sources, "loaded registries configuration");
        Ok(conf)
    }

    /// Parse a single registries.conf text (no drop-ins); `origin` is used in
    /// messages.
    pub fn from_str_with_origin(text: &str, origin: &Path) -> Result<Self, RegistriesError> {
        let mut conf = RegistriesConf {
            sources: vec![origin.to_path_buf()],
            ..RegistriesConf::default()
        };
        let file = parse_file(origin, text, false)?;
        conf.merge(origin, file);
        Ok(conf)
    }

    fn merge(&mut self, path: &Path, file: FileConf) {
        let mut map: BTreeMap<String, RegistryConfig> = self
            .registries
            .drain(..)
            .map(|r| (r.prefix.clone(), r))
            .collect();
        for r in file.registries {
            map.insert(r.prefix.clone(), r);
        }
        self.registries = map.into_values().collect();
        if let Some(search) = file.unqualified_search_registries {
            self.unqualified_search_registries = search;
            self.search_origin = Some(path.to_path_buf());
        }
        if let Some(mode) = file.short_name_mode {
            self.short_name_mode = mode;
        }
        self.aliases.extend(file.aliases);
    }

    /// `unqualified-search-registries`, in order.
    pub fn unqualified_search_registries(&self) -> &[String] {
        &self.unqualified_search_registries
    }

    /// The effective `short-name-mode` (permissive when unset).
    pub fn short_name_mode(&self) -> ShortNameMode {
        self.short_name_mode
    }

    /// All `[[registry]]` entries, sorted by prefix.
    pub fn registries(&self) -> &[RegistryConfig] {
        &self.registries
    }

    /// The alias for a short name (no tag/digest), if one is set and not reset.
    pub fn alias(&self, short_name: &str) -> Option<&Reference> {
        self.aliases.get(short_name).and_then(|a| a.value.as_ref())
    }

    /// All effective aliases.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &Reference)> {
        self.aliases
            .iter()
            .filter_map(|(k, a)| a.value.as_ref().map(|v| (k.as_str(), v)))
    }

    /// Where the configuration came from, as containers-image describes it
    /// ("registries.conf, drop-in dir, ...").
    pub fn source_description(&self) -> String {
        if self.sources.is_empty() {
            return "registries.conf".to_string();
        }
        self.sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolve a short name, detecting a TTY like Podman (stdin and stdout).
    pub fn resolve_short_name(&self, reference: &Reference) -> Result<Resolution, RegistriesError> {
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        self.resolve_short_name_with_tty(reference, tty)
    }

    /// Resolve a short name as containers-image `shortnames.Resolve` does:
    ///
    /// * fully qualified → itself;
    /// * alias hit → the alias (with the input's tag/digest);
    /// * otherwise one candidate per unqualified-search registry; with
    ///   several candidates: `disabled` → all, no TTY → all (`permissive`)
    ///   or [`RegistriesError::EnforcingNoTty`] (`enforcing`), TTY →
    ///   `needs_prompt`.
    pub fn resolve_short_name_with_tty(
        &self,
        reference: &Reference,
        tty: bool,
    ) -> Result<Resolution, RegistriesError> {
        let with_suffix = |base: &Reference| {
            let mut r = base.clone();
            r.tag = reference.tag.clone();
            r.digest = reference.digest.clone();
            r.with_default_tag()
        };
        if !reference.is_short_name() {
            return Ok(Resolution {
                candidates: vec![reference.clone().with_default_tag()],
                from_alias: false,
                needs_prompt: false,
                origin: None,
            });
        }
        if let Some(alias) = self.aliases.get(&reference.repository) {
            if let Some(value) = &alias.value {
                return Ok(Resolution {
                    candidates: vec![with_suffix(value)],
                    from_alias: true,
                    needs_prompt: false,
                    origin: Some(alias.origin.clone()),
                });
            }
        }
        if self.unqualified_search_registries.is_empty() {
            return Err(RegistriesError::NoSearchRegistries {
                name: reference.repository.clone(),
                origin: self
                    .search_origin
                    .as_ref()
                    .or(self.sources.first())
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "registries.conf".to_string()),
            });
        }
        let candidates: Vec<Reference> = self
            .unqualified_search_registries
            .iter()
            .map(|reg| with_suffix(&reference.with_registry(reg)))
            .collect();
        let several = candidates.len() > 1;
        let needs_prompt = match self.short_name_mode {
            ShortNameMode::Disabled => false,
            _ if !several => false,
            ShortNameMode::Enforcing if !tty => return Err(RegistriesError::EnforcingNoTty),
            _ => tty,
        };
        Ok(Resolution {
            candidates,
            from_alias: false,
            needs_prompt,
            origin: self.search_origin.clone(),
        })
    }

    /// The `[[registry]]` with the longest prefix matching `name`
    /// (`registry/repository`, as containers-image `FindRegistry`), blocked or not.
    pub fn find_registry(&self, name: &str) -> Option<&RegistryConfig> {
        let mut best: Option<&RegistryConfig> = None;
        for r in &self.registries {
            if ref_matching_prefix(name, &r.prefix).is_some()
                && best.is_none_or(|b| r.prefix.len() > b.prefix.len())
            {
                best = Some(r);
            }
        }
        best
    }

    /// The registry configuration for a fully qualified reference; `Ok(None)`
    /// when no `[[registry]]` matches; an error if it is blocked or a short name.
    pub fn registry_for(
        &self,
        reference: &Reference,
    ) -> Result<Option<RegistryConfig>, RegistriesError> {
        if reference.is_short_name() {
            return Err(RegistriesError::ShortName {
                reference: reference.to_string(),
            });
        }
        match self.find_registry(&reference.name()) {
            Some(r) if r.blocked => Err(RegistriesError::Blocked {
                prefix: r.prefix.clone(),
                origin: self.source_description(),
            }),
            other => Ok(other.cloned()),
        }
    }

    /// Where to pull a fully qualified reference from: usable mirrors first,
    /// then the primary location, each with the reference rewritten
    /// (`prefix` → `location`). Without a matching `[[registry]]` this is the
    /// reference's own registry, secure.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>, RegistriesError> {
        let Some(reg) = self.registry_for(reference)? else {
            return Ok(vec![PullSource {
                endpoint: Endpoint {
                    location: reference.registry.clone().unwrap_or_default(),
                    insecure: false,
                },
                reference: reference.clone(),
            }]);
        };
        let digested = reference.digest.is_some();
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for m in &reg.mirrors {
            let usable = if reg.mirror_by_digest_only {
                digested
            } else {
                match m.pull_from_mirror {
                    PullFromMirror::All => true,
                    PullFromMirror::DigestOnly => digested,
                    PullFromMirror::TagOnly => !digested,
                }
            };
            if usable {
                endpoints.push(Endpoint {
                    location: m.location.clone(),
                    insecure: m.insecure,
                });
            }
        }
        endpoints.push(Endpoint {
            location: reg.location.clone(),
            insecure: reg.insecure,
        });
        let full = reference.to_string();
        let prefix_len = ref_matching_prefix(&full, &reg.prefix).unwrap_or(0);
        let mut sources = Vec::with_capacity(endpoints.len());
        for ep in endpoints {
            let rewritten = if ep.location.is_empty() {
                reference.clone()
            } else {
                let s = format!("{}{}", ep.location, &full[prefix_len..]);
                let rewrite_err = |source| RegistriesError::Rewrite {
                    reference: full.clone(),
                    location: ep.location.clone(),
                    source,
                };
                let parsed = Reference::parse(&s).map_err(rewrite_err)?;
                // containers-image uses ParseNamed: the result must already be
                // canonical and fully qualified.
                if parsed.is_short_name() || parsed.to_string() != s {
                    return Err(rewrite_err(ReferenceError::InvalidFormat {
                        input: s,
                        reason: "repository name must be canonical".to_string(),
                    }));
                }
                parsed
            };
            let endpoint = if ep.location.is_empty() {
                Endpoint {
                    location: rewritten.registry.clone().unwrap_or_default(),
                    insecure: ep.insecure,
                }
            } else {
                ep
            };
            sources.push(PullSource {
                endpoint,
                reference: rewritten,
            });
        }
        Ok(sources)
    }
}
