//! Registry credentials in the `auth.json` Podman (containers-image) uses:
//! `{"auths": {"host[:port][/namespace]": {"auth": base64("user:pass")}}}`.
//!
//! The file is `--authfile`, else `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`, else (as containers-image does
//! for root) `/run/containers/<uid>/auth.json`. Writes go through a
//! temporary file and a rename, mode 0600, keeping the other entries.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Errors reading or writing the auth file, and of login/logout.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unmarshaling JSON at {path:?}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The registry refused the credentials (Podman's wording).
    #[error("logging into {0:?}: invalid username/password")]
    InvalidCredentials(String),
    /// Reaching or asking the registry failed.
    #[error("authenticating creds for {registry:?}: {message}")]
    Login { registry: String, message: String },
    /// `logout`/`login --get-login` of a registry without an entry.
    #[error("not logged into {0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// The auth file used when none is given: `$REGISTRY_AUTH_FILE`, else the
/// per-user runtime one.
pub fn default_auth_file() -> PathBuf {
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return PathBuf::from(f);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("containers").join("auth.json");
    }
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's (effective) user.
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    PathBuf::from(format!("/run/containers/{uid}/auth.json"))
}

/// `explicit` (`--authfile`) or [`default_auth_file`].
pub fn auth_file(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(default_auth_file)
}

/// The key for a `login`/`logout` argument: without `http(s)://` and
/// trailing `/`; `docker.io` for Docker Hub's aliases.
pub fn normalize_registry(registry: &str) -> String {
    let r = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let r = r
        .strip_prefix("docker://")
        .unwrap_or(r)
        .trim_end_matches('/');
    match r {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => r.to_string(),
    }
}

/// The host part of a legacy key (`https://host/v1/` → `host`).
fn key_host(key: &str) -> String {
    let k = normalize_registry(key);
    k.split('/').next().unwrap_or_default().to_string()
}

/// Standard base64 with padding (the base64 crate).
pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes base64 as auth files carry it: standard or URL-safe alphabet,
/// padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    use base64::Engine;
    STANDARD_PAD_INDIFFERENT
        .decode(s)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(s))
        .ok()
}

/// The whole file as JSON (`{}` when it does not exist).
fn read(path: &Path) -> Result<Map<String, Value>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(AuthError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&data) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AuthError::Parse {
            path: path.to_path_buf(),
            message: "not a JSON object".to_string(),
        }),
        Err(e) => Err(AuthError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Writes `doc` atomically (temporary file in the same directory, 0600,
/// then rename); creates the directory (0700) if needed.
fn write(path: &Path, doc: &Map<String, Value>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| AuthError::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io("creating", &dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "auth.json".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let mut json = serde_json::to_vec_pretty(&Value::Object(doc.clone()))
        .map_err(|e| AuthError::Invalid(format!("encoding {}: {e}", path.display())))?;
    json.push(b'\n');
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        f.write_all(&json).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("renaming to", path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn auths(doc: &Map<String, Value>) -> Option<&Map<String, Value>> {
    doc.get("auths").and_then(Value::as_object)
}

/// Decodes one entry's `auth` field.
fn decode_entry(entry: &Value) -> Option<(String, String)> {
    let auth = entry.get("auth").and_then(Value::as_str)?;
    let raw = base64_decode(auth)?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.trim_end_matches('\0').to_string()))
}

/// Credentials stored for exactly `key` (a normalized registry or
/// `registry/namespace`), also accepting a legacy `https://host/…` key when
/// `key` is a bare host.
pub fn get_for_key(file: &Path, key: &str) -> Result<Option<(String, String)>> {
    let doc = read(file)?;
    let Some(auths) = auths(&doc) else {
        return Ok(None);
    };
    if let Some(c) = auths.get(key).and_then(decode_entry) {
        return Ok(Some(c));
    }
    if !key.contains('/') {
        for (k, v) in auths {
            if k.contains("://") && key_host(k) == key {
                if let Some(c) = decode_entry(v) {
                    return Ok(Some(c));
                }
            }
        }
    }
    Ok(None)
}

/// Credentials for an image `registry/repository`, as containers-image
/// looks them up: the most specific `registry/namespace…` key first, then
/// the registry itself.
pub fn lookup(file: &Path, registry: &str, repository: &str) -> Result<Option<(String, String)>> {
    let registry = normalize_registry(registry);
    let mut key = format!("{registry}/{repository}");
    loop {
        if let Some(c) = get_for_key(file, &key)? {
            return Ok(Some(c));
        }
        match key.rsplit_once('/') {
            Some((parent, _)) => key = parent.to_string(),
            None => return Ok(None),
        }
    }
}

/// Stores `user:pass` for `key`, keeping everything else in the file.
pub fn store(file: &Path, key: &str, user: &str, pass: &str) -> Result<()> {
    let mut doc = read(file)?;
    let auths = doc
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    if let Some(m) = auths.as_object_mut() {
        let mut entry = Map::new();
        entry.insert(
            "auth".to_string(),
            Value::String(base64_encode(format!("{user}:{pass}").as_bytes())),
        );
        m.insert(key.to_string(), Value::Object(entry));
    }
    write(file, &doc)
}

/// Removes the entry for `key` (and legacy `https://key/…` ones); false if
/// there was none.
pub fn remove(file: &Path, key: &str) -> Result<bool> {
    let mut doc = read(file)?;
    let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let doomed: Vec<String> = auths
        .keys()
        .filter(|k| {
            k.as_str() == key || (!key.contains('/') && k.contains("://") && key_host(k) == key)
        })
        .cloned()
        .collect();
    if doomed.is_empty() {
        return Ok(false);
    }
    for k in doomed {
        auths.remove(&k);
    }
    write(file, &doc)?;
    Ok(true)
}

/// Removes every entry of `auths` (`logout --all`).
pub fn remove_all(file: &Path) -> Result<()> {
    let mut doc = read(file)?;
    if doc.is_empty() {
        return Ok(());
    }
    doc.insert("auths".to_string(), Value::Object(Map::new()));
    write(file, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:s3cret pass", "pusher:p@ss:w0rd"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes(), "{e}");
        }
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn store_lookup_remove_keep_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"x.io":"pass"}}"#,
        )
        .unwrap();
        store(&f, "localhost:5000", "user", "pa:ss").unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let c = lookup(&f, "localhost:5000", "ns/repo").unwrap();
        assert_eq!(c, Some(("user".into(), "pa:ss".into())));
        store(&f, "localhost:5000/ns", "nsuser", "p").unwrap();
        let c = lookup(&f, "localhost:5000", "ns/repo").unwrap();
        assert_eq!(c, Some(("nsuser".into(), "p".into())));
        assert_eq!(
            lookup(&f, "other.io", "a").unwrap(),
            Some(("x".into(), "y".into()))
        );
        assert!(remove(&f, "localhost:5000").unwrap());
        assert!(!remove(&f, "localhost:5000").unwrap());
        let doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert!(doc["auths"]["other.io"].is_object());
        assert!(doc["auths"]["localhost:5000/ns"].is_object());
        assert_eq!(doc["credHelpers"]["x.io"], "pass");
        remove_all(&f).unwrap();
        assert_eq!(lookup(&f, "other.io", "a").unwrap(), None);
    }

    #[test]
    fn legacy_keys_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth.json");
        assert_eq!(lookup(&f, "h.io", "r").unwrap(), None);
        std::fs::write(&f, r#"{"auths":{"https://h.io/v1/":{"auth":"dTpw"}}}"#).unwrap();
        assert_eq!(
            lookup(&f, "h.io", "r").unwrap(),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(normalize_registry("https://index.docker.io/"), "docker.io");
    }
}
