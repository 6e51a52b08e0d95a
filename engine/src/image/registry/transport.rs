//! HTTP transport: per-host TLS configuration, the `/v2/` ping (HTTPS, then
//! plain HTTP for insecure registries), basic and bearer-token auth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use ureq::http::{Response, StatusCode};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::Body;

use super::error::{RegistryError, Result};

/// The system CA bundle on Debian (what Go's crypto/x509 loads first).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Default per-host certificate directories, as containers-image looks them up.
const DEFAULT_CERT_DIRS: &[&str] = &["/etc/containers/certs.d", "/etc/docker/certs.d"];
/// Largest JSON body (manifest, config, token, error) read into memory.
pub(crate) const MAX_JSON_BODY: u64 = 32 * 1024 * 1024;
const USER_AGENT: &str = concat!("podman-rs/", env!("CARGO_PKG_VERSION"));

/// How the registry wants clients to authenticate (from the `/v2/` ping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A pinged registry host.
#[derive(Clone)]
pub(crate) struct HostConn {
    pub(crate) agent: ureq::Agent,
    /// `https://host[:port]` or `http://host[:port]`.
    pub(crate) base: String,
    pub(crate) challenge: Challenge,
}

/// Connection settings shared by all hosts.
pub(crate) struct TransportConfig {
    pub(crate) cert_dir: Option<PathBuf>,
    pub(crate) auth: Option<(String, String)>,
}

pub(crate) struct Transport {
    cfg: TransportConfig,
    /// Pinged hosts by "registry|insecure".
    hosts: Mutex<HashMap<String, HostConn>>,
    /// Bearer tokens by (host, scope).
    tokens: Mutex<HashMap<(String, String), String>>,
}

/// A request to send.
pub(crate) struct Req<'a> {
    pub(crate) method: &'a str,
    /// A path below the host (`/v2/...`) or an absolute URL (upload locations).
    pub(crate) path: &'a str,
    pub(crate) headers: Vec<(&'a str, String)>,
    /// `pull` or `pull,push`.
    pub(crate) actions: &'a str,
    /// Another repository of the registry to pull from too (cross-repository
    /// blob mount): its `pull` scope is added to the bearer token request.
    pub(crate) mount_from: Option<&'a str>,
}

impl Transport {
    pub(crate) fn new(cfg: TransportConfig) -> Result<Transport> {
        if let Some(dir) = &cfg.cert_dir {
            // Fail early on an unusable --cert-dir rather than at first use.
            load_cert_dir(dir)?;
        }
        Ok(Transport {
            cfg,
            hosts: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The pinged connection to `registry` (pinging it the first time).
    pub(crate) fn conn(&self, registry: &str, insecure: bool) -> Result<HostConn> {
        let key = format!("{registry}|{insecure}");
        if let Some(c) = lock(&self.hosts).get(&key) {
            return Ok(c.clone());
        }
        let conn = self.ping(registry, insecure)?;
        lock(&self.hosts).insert(key, conn.clone());
        Ok(conn)
    }

    fn ping(&self, registry: &str, insecure: bool) -> Result<HostConn> {
        let host = api_host(registry);
        let agent = self.agent_for(host, !insecure)?;
        let schemes: &[&str] = if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut failures = Vec::new();
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            let resp = match agent.get(&url).header("User-Agent", USER_AGENT).call() {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{url}: {e}"));
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let challenge = match status {
                200 => Challenge::None,
                401 => {
                    let header = header(&resp, "www-authenticate").unwrap_or_default();
                    parse_challenge(&header).unwrap_or(Challenge::Basic)
                }
                _ => {
                    let message = error_message(resp, status).1;
                    return Err(RegistryError::Http {
                        action: "pinging container registry".to_string(),
                        registry: registry.to_string(),
                        repository: String::new(),
                        message,
                        status,
                    });
                }
            };
            return Ok(HostConn {
                agent: agent.clone(),
                base,
                challenge,
            });
        }
        Err(RegistryError::Transport {
            action: "pinging container registry".to_string(),
            registry: registry.to_string(),
            message: failures.join("; "),
        })
    }

    fn agent_for(&self, host: &str, verify: bool) -> Result<ureq::Agent> {
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .timeout_connect(Some(Duration::from_secs(30)));
        if is_loopback(host) {
            cfg = cfg.proxy(None);
        }
        let tls = if verify {
            let dir = match &self.cfg.cert_dir {
                Some(d) => Some(d.clone()),
                None => DEFAULT_CERT_DIRS
                    .iter()
                    .map(|d| Path::new(d).join(host))
                    .find(|d| d.is_dir()),
            };
            let extra = match dir {
                Some(d) => load_cert_dir(&d)?,
                None => Vec::new(),
            };
            if extra.is_empty() {
                TlsConfig::builder().build()
            } else {
                // Extra CAs are added to the system's, as Go's cert pool does.
                let mut roots = std::fs::read(SYSTEM_CA_BUNDLE)
                    .map(|pem| parse_certs(&pem))
                    .unwrap_or_default();
                roots.extend(extra);
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(Arc::new(roots)))
                    .build()
            }
        } else {
            TlsConfig::builder().disable_verification(true).build()
        };
        Ok(cfg.tls_config(tls).build().into())
    }

    /// Sends `req` to `registry`, authenticated for `repository`.
    pub(crate) fn send(
        &self,
        registry: &str,
        repository: &str,
        insecure: bool,
        req: Req<'_>,
        body: Option<ureq::SendBody<'_>>,
        action: &str,
    ) -> Result<Response<Body>> {
        let conn = self.conn(registry, insecure)?;
        let url = if req.path.starts_with("http://") || req.path.starts_with("https://") {
            req.path.to_string()
        } else {
            format!("{}{}", conn.base, req.path)
        };
        let mut scopes = vec![format!("repository:{repository}:{}", req.actions)];
        if let Some(from) = req.mount_from {
            scopes.push(format!("repository:{from}:pull"));
        }
        let transport_err = |e: &dyn std::fmt::Display| RegistryError::Transport {
            action: format!("{action} ({} {url})", req.method),
            registry: registry.to_string(),
            message: e.to_string(),
        };
        let build = |auth: Option<String>| {
            let mut builder = ureq::http::Request::builder().method(req.method).uri(&url);
            for (k, v) in &req.headers {
                builder = builder.header(*k, v);
            }
            if let Some(auth) = auth {
                builder = builder.header("Authorization", auth);
            }
            builder
        };
        let auth = self.authorization(&conn, registry, repository, &scopes, action)?;
        let Some(body) = body else {
            let run = |auth: Option<String>| {
                build(auth)
                    .body(())
                    .map_err(|e| transport_err(&e))
                    .and_then(|r| conn.agent.run(r).map_err(|e| transport_err(&e)))
            };
            let resp = run(auth)?;
            // A cached bearer token may have expired: get a new one once.
            if resp.status() == StatusCode::UNAUTHORIZED
                && matches!(conn.challenge, Challenge::Bearer { .. })
            {
                let key = (registry.to_string(), scopes.join(" "));
                if lock(&self.tokens).remove(&key).is_some() {
                    let auth = self.authorization(&conn, registry, repository, &scopes, action)?;
                    return run(auth);
                }
            }
            return Ok(resp);
        };
        build(auth)
            .body(body)
            .map_err(|e| transport_err(&e))
            .and_then(|r| conn.agent.run(r).map_err(|e| transport_err(&e)))
    }

    /// The `Authorization` header for a request to `repository`, if any.
    fn authorization(
        &self,
        conn: &HostConn,
        registry: &str,
        repository: &str,
        scopes: &[String],
        action: &str,
    ) -> Result<Option<String>> {
        match &conn.challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.cfg.auth.as_ref().map(|(u, p)| basic(u, p))),
            Challenge::Bearer { realm, service } => {
                let key = (registry.to_string(), scopes.join(" "));
                if let Some(t) = lock(&self.tokens).get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let token = self.fetch_token(
                    conn,
                    registry,
                    repository,
                    realm,
                    service.as_deref(),
                    scopes,
                    action,
                )?;
                lock(&self.tokens).insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_token(
        &self,
        conn: &HostConn,
        registry: &str,
        repository: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        action: &str,
    ) -> Result<String> {
        let mut url = realm.to_string();
        url.push(if realm.contains('?') { '&' } else { '?' });
        if let Some(s) = service {
            url.push_str(&format!("service={}&", query_escape(s)));
        }
        let scopes: Vec<String> = scopes
            .iter()
            .map(|s| format!("scope={}", query_escape(s)))
            .collect();
        url.push_str(&scopes.join("&"));
        let mut req = conn.agent.get(&url);
        if let Some((u, p)) = &self.cfg.auth {
            req = req.header("Authorization", basic(u, p));
        }
        let resp = req.call().map_err(|e| RegistryError::Transport {
            action: format!("{action}: requesting bearer token from {realm}"),
            registry: registry.to_string(),
            message: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        if status != 200 {
            let (code, message) = error_message(resp, status);
            if status == 401 || status == 403 || code.as_deref() == Some("UNAUTHORIZED") {
                return Err(RegistryError::Unauthorized {
                    action: action.to_string(),
                    registry: registry.to_string(),
                    repository: repository.to_string(),
                    message,
                    status,
                });
            }
            return Err(RegistryError::Http {
                action: format!("{action}: requesting bearer token from {realm}"),
                registry: registry.to_string(),
                repository: repository.to_string(),
                message,
                status,
            });
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_limited(resp, MAX_JSON_BODY).map_err(|e| RegistryError::Transport {
            action: format!("{action}: reading bearer token"),
            registry: registry.to_string(),
            message: e,
        })?;
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Transport {
                action: format!("{action}: decoding bearer token"),
                registry: registry.to_string(),
                message: e.to_string(),
            })?;
        t.token
            .filter(|t| !t.is_empty())
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Transport {
                action: format!("{action}: decoding bearer token"),
                registry: registry.to_string(),
                message: "token server returned no token".to_string(),
            })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Docker Hub's API lives on registry-1.docker.io.
pub(crate) fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// Reads every `*.crt` of `dir` (containers-image's `--cert-dir` rule: `.crt`
/// files are CAs; `.cert`/`.key` client pairs are not supported yet).
pub(crate) fn load_cert_dir(dir: &Path) -> Result<Vec<Certificate<'static>>> {
    let err = |message: String| RegistryError::Certificates {
        path: dir.to_path_buf(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    files.sort();
    let mut certs = Vec::new();
    for f in files {
        let pem = std::fs::read(&f).map_err(|e| err(format!("{}: {e}", f.display())))?;
        let found = parse_certs(&pem);
        if found.is_empty() {
            return Err(err(format!("{}: no PEM certificate in it", f.display())));
        }
        certs.extend(found);
    }
    Ok(certs)
}

fn parse_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// Parses a `WWW-Authenticate` header.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

/// `k=v, k="v, with comma"` → map (keys lowercased).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        _ => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// The value of `name`, if it is valid UTF-8.
pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads at most `limit` bytes of the body.
pub(crate) fn read_limited(
    resp: Response<Body>,
    limit: u64,
) -> std::result::Result<Vec<u8>, String> {
    resp.into_body()
        .into_with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

/// The registry's error code and text from an error response: the first
/// `errors[]` entry's code, and every entry as "code words: message"
/// (distribution's errcode format, e.g. "manifest unknown: manifest
/// unknown"); else the status line.
pub(crate) fn error_message(resp: Response<Body>, status: u16) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_string();
    let fallback = format!("unexpected HTTP status {status} {reason}")
        .trim_end()
        .to_string();
    let Ok(body) = read_limited(resp, 1024 * 1024) else {
        return (None, fallback);
    };
    let Ok(env) = serde_json::from_slice::<Envelope>(&body) else {
        return (None, fallback);
    };
    let Some(first) = env.errors.first() else {
        return (None, fallback);
    };
    let parts: Vec<String> = env
        .errors
        .iter()
        .map(|e| {
            let code = e.code.to_lowercase().replace('_', " ");
            match (code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{code}: {}", e.message),
                (false, true) => code,
                _ => e.message.clone(),
            }
        })
        .collect();
    (Some(first.code.clone()), parts.join("; "))
}

/// The first error entry's message alone (e.g. "authentication required").
pub(crate) fn strip_code(code: Option<&str>, message: &str) -> String {
    match code {
        Some(c) => {
            let words = format!("{}: ", c.to_lowercase().replace('_', " "));
            message.strip_prefix(&words).unwrap_or(message).to_string()
        }
        None => message.to_string(),
    }
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        crate::auth::base64_encode(format!("{user}:{pass}").as_bytes())
    )
}

/// Percent-encodes for a query value (RFC 3986 unreserved kept).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a,b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn encoding() {
        assert_eq!(crate::auth::base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(crate::auth::base64_encode(b"ab"), "YWI=");
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
