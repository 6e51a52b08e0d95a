//! A real OCI distribution registry on 127.0.0.1 for the image tests.
//!
//! [`Registry::start`] runs Debian's `docker-registry` (distribution 2.8,
//! package `docker-registry`) on a free loopback port with filesystem storage
//! in a private temporary directory and deletes enabled; the process is killed
//! when the [`Registry`] is dropped. [`Registry::start_tls_auth`] runs one with
//! TLS (a CA and server certificate generated for the test with the `openssl`
//! CLI) and htpasswd basic auth (bcrypt hashes generated in Rust).
//!
//! [`Registry::get`] and friends talk plain HTTP(S) to it from Rust (ureq,
//! trusting only the test CA, never a proxy), for checks that do not go
//! through skopeo or podman.

use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The registry binary from Debian's `docker-registry` package.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Media types a client accepts when fetching manifests.
pub const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A running registry on 127.0.0.1. Killed on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    tls: Option<TlsFiles>,
    creds: Option<(String, String)>,
    agent: ureq::Agent,
}

/// The files of a TLS registry that clients need.
struct TlsFiles {
    ca_cert: PathBuf,
    cert_dir: PathBuf,
}

/// An HTTP response from the registry, whatever its status.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Docker-Content-Digest` header.
    pub digest: Option<String>,
    /// The `WWW-Authenticate` header.
    pub www_authenticate: Option<String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body parsed as JSON.
    pub fn json(&self) -> io::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            io::Error::other(format!(
                "response body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            ))
        })
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Registry {
    /// Starts a plain-HTTP registry without auth, or panics saying why.
    pub fn start() -> Registry {
        Self::try_start().unwrap_or_else(|e| panic!("starting docker-registry: {e}"))
    }

    /// Starts a plain-HTTP registry without auth.
    pub fn try_start() -> io::Result<Registry> {
        Self::launch(None)
    }

    /// Starts an HTTPS registry whose certificate is signed by a CA made for
    /// this test ([`Registry::ca_cert`]) and which requires basic auth as
    /// `user`/`pass`; panics saying why if it cannot.
    pub fn start_tls_auth(user: &str, pass: &str) -> Registry {
        Self::try_start_tls_auth(user, pass)
            .unwrap_or_else(|e| panic!("starting docker-registry with TLS and auth: {e}"))
    }

    /// See [`Registry::start_tls_auth`].
    pub fn try_start_tls_auth(user: &str, pass: &str) -> io::Result<Registry> {
        Self::launch(Some((user.to_owned(), pass.to_owned())))
    }

    fn launch(creds: Option<(String, String)>) -> io::Result<Registry> {
        if !Path::new(REGISTRY_BIN).is_file() {
            return Err(io::Error::other(format!(
                "{REGISTRY_BIN} not found: install Debian's docker-registry package (make deps does)"
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-registry-")
            .tempdir()?;
        let tls = match creds {
            Some((ref user, ref pass)) => {
                write_htpasswd(&dir.path().join("htpasswd"), user, pass)?;
                Some(make_certs(dir.path())?)
            }
            None => None,
        };
        let agent = make_agent(tls.as_ref().map(|t| t.ca_cert.as_path()))?;
        let port = free_port()?;
        let child = spawn_registry(dir.path(), port, tls.is_some())?;
        let mut reg = Registry {
            child,
            dir,
            port,
            tls,
            creds,
            agent,
        };
        // The free port is found by binding port 0 and releasing it, so another
        // process may take it before the registry binds: then try another.
        let mut attempts = 0;
        loop {
            match reg.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return Ok(reg),
                Err(e) => {
                    attempts += 1;
                    if attempts >= 5 || !reg.log().contains("address already in use") {
                        return Err(e);
                    }
                    let _ = reg.child.kill();
                    let _ = reg.child.wait();
                    reg.port = free_port()?;
                    reg.child = spawn_registry(reg.dir.path(), reg.port, reg.tls.is_some())?;
                }
            }
        }
    }

    /// Polls `GET /v2/` until the registry answers (200, or 401 with auth).
    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "docker-registry exited ({status}) before answering: {}",
                    self.log()
                )));
            }
            if let Ok(resp) = self.get_unauthenticated("/v2/") {
                let want = if self.creds.is_some() { 401 } else { 200 };
                if resp.status == want {
                    return Ok(());
                }
                return Err(io::Error::other(format!(
                    "GET /v2/ answered {} (wanted {want}): {}\nlog: {}",
                    resp.status,
                    resp.text(),
                    self.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "docker-registry did not answer on {} within {timeout:?}: {}",
                    self.addr(),
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// "127.0.0.1:PORT".
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it serves HTTPS (the [`Registry::start_tls_auth`] flavour).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// "http(s)://127.0.0.1:PORT" + `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr())
    }

    /// The PEM CA certificate that signed the server certificate (TLS flavour).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// A directory holding only `ca.crt`, for `--cert-dir`/`--dest-cert-dir`/
    /// `--src-cert-dir` of podman and skopeo (TLS flavour).
    pub fn cert_dir(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.cert_dir.as_path())
    }

    /// The user and password (auth flavour).
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// "user:pass" for `--creds`/`--dest-creds` (auth flavour).
    pub fn creds_arg(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    /// Where the registry stores blobs and repositories.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `GET path` with `Accept: accept…`, authenticated if the registry has creds.
    pub fn get(&self, path: &str, accept: &[&str]) -> io::Result<HttpResponse> {
        self.request("GET", path, accept, true)
    }

    /// `GET path` without credentials.
    pub fn get_unauthenticated(&self, path: &str) -> io::Result<HttpResponse> {
        self.request("GET", path, &[], false)
    }

    /// `GET path` with explicit basic-auth credentials (e.g. wrong ones).
    pub fn get_as(&self, path: &str, user: &str, pass: &str) -> io::Result<HttpResponse> {
        self.send("GET", path, &[], Some((user, pass)))
    }

    /// `DELETE path` (deletes are enabled), authenticated if the registry has creds.
    pub fn delete(&self, path: &str) -> io::Result<HttpResponse> {
        self.request("DELETE", path, &[], true)
    }

    /// `method path`, authenticated if `auth` and the registry has creds.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        accept: &[&str],
        auth: bool,
    ) -> io::Result<HttpResponse> {
        let creds = if auth { self.creds() } else { None };
        self.send(method, path, accept, creds)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        accept: &[&str],
        creds: Option<(&str, &str)>,
    ) -> io::Result<HttpResponse> {
        let url = self.url(path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if !accept.is_empty() {
            builder = builder.header("Accept", accept.join(", "));
        }
        if let Some((u, p)) = creds {
            builder = builder.header(
                "Authorization",
                format!("Basic {}", base64(format!("{u}:{p}").as_bytes())),
            );
        }
        let req = builder
            .body(())
            .map_err(|e| io::Error::other(format!("{method} {url}: {e}")))?;
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| io::Error::other(format!("{method} {url}: {e}")))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = resp.status().as_u16();
        let content_type = header("Content-Type");
        let digest = header("Docker-Content-Digest");
        let www_authenticate = header("WWW-Authenticate");
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut body)
            .map_err(|e| io::Error::other(format!("{method} {url}: reading body: {e}")))?;
        Ok(HttpResponse {
            status,
            content_type,
            digest,
            www_authenticate,
            body,
        })
    }

    /// The tags of `repo` from `/v2/<repo>/tags/list`.
    pub fn tags(&self, repo: &str) -> io::Result<Vec<String>> {
        let resp = self.get(&format!("/v2/{repo}/tags/list"), &[])?;
        if resp.status != 200 {
            return Err(io::Error::other(format!(
                "tags/list of {repo}: HTTP {}: {}",
                resp.status,
                resp.text()
            )));
        }
        let v = resp.json()?;
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        Ok(tags)
    }

    /// `GET /v2/<repo>/manifests/<reference>` accepting OCI and Docker
    /// manifests and indexes.
    pub fn manifest(&self, repo: &str, reference: &str) -> io::Result<HttpResponse> {
        self.get(
            &format!("/v2/{repo}/manifests/{reference}"),
            MANIFEST_ACCEPT,
        )
    }

    /// `GET /v2/<repo>/blobs/<digest>`.
    pub fn blob(&self, repo: &str, digest: &str) -> io::Result<HttpResponse> {
        self.get(&format!("/v2/{repo}/blobs/{digest}"), &[])
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the config for `port` and starts the registry, logging to
/// `dir/registry.log`.
fn spawn_registry(dir: &Path, port: u16, secure: bool) -> io::Result<Child> {
    let config = dir.join("config.yml");
    std::fs::write(&config, config_yaml(dir, port, secure))?;
    let log = std::fs::File::create(dir.join("registry.log"))?;
    Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(&config)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| io::Error::other(format!("spawning {REGISTRY_BIN}: {e}")))
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn config_yaml(dir: &Path, port: u16, secure: bool) -> String {
    let d = dir.display();
    let mut y = format!(
        "version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {d}/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"
    );
    if secure {
        y.push_str(&format!(
            "  tls:
    certificate: {d}/tls/server.crt
    key: {d}/tls/server.key
auth:
  htpasswd:
    realm: podman-rs-test
    path: {d}/htpasswd
"
        ));
    }
    y
}

fn write_htpasswd(path: &Path, user: &str, pass: &str) -> io::Result<()> {
    if user.contains(':') || user.contains('\n') {
        return Err(io::Error::other(format!("invalid htpasswd user {user:?}")));
    }
    // Cost 5 keeps each check fast; the registry accepts any cost >= 4.
    let hash = bcrypt::hash_with_result(pass, 5)
        .map_err(|e| io::Error::other(format!("bcrypt: {e}")))?
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(path, format!("{user}:{hash}\n"))
}

const OPENSSL_CNF: &str = "[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca

[dn]
CN = podman-rs test CA

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir/tls`,
/// made with the openssl CLI (Debian's `openssl` package).
fn make_certs(dir: &Path) -> io::Result<TlsFiles> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls)?;
    let cnf = tls.join("openssl.cnf");
    std::fs::write(&cnf, OPENSSL_CNF)?;
    let s = |p: &str| tls.join(p).into_os_string();
    let openssl = |args: Vec<std::ffi::OsString>| -> io::Result<()> {
        let out = Command::new("openssl")
            .args(&args)
            .env("OPENSSL_CONF", &cnf)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                io::Error::other(format!(
                    "running openssl (install Debian's openssl package): {e}"
                ))
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    };
    let v = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
    for key in ["ca.key", "server.key"] {
        let mut a = v(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ]);
        a.push(s(key));
        openssl(a)?;
    }
    let mut a = v(&["req", "-x509", "-new", "-days", "7", "-config"]);
    a.extend([cnf.clone().into_os_string(), "-key".into(), s("ca.key")]);
    a.extend(["-out".into(), s("ca.crt")]);
    openssl(a)?;
    let mut a = v(&["req", "-new", "-subj", "/CN=127.0.0.1", "-config"]);
    a.extend([cnf.clone().into_os_string(), "-key".into(), s("server.key")]);
    a.extend(["-out".into(), s("server.csr")]);
    openssl(a)?;
    let mut a = v(&["x509", "-req", "-days", "7", "-set_serial", "2", "-in"]);
    a.push(s("server.csr"));
    a.extend(["-CA".into(), s("ca.crt"), "-CAkey".into(), s("ca.key")]);
    a.extend(["-extfile".into(), cnf.clone().into_os_string()]);
    a.extend(["-extensions".into(), "v3_server".into()]);
    a.extend(["-out".into(), s("server.crt")]);
    openssl(a)?;
    let cert_dir = dir.join("certs.d");
    std::fs::create_dir_all(&cert_dir)?;
    std::fs::copy(tls.join("ca.crt"), cert_dir.join("ca.crt"))?;
    Ok(TlsFiles {
        ca_cert: tls.join("ca.crt"),
        cert_dir,
    })
}

/// An HTTP client that never uses a proxy, does not treat 4xx/5xx as errors
/// and, for TLS, trusts only `ca`.
fn make_agent(ca: Option<&Path>) -> io::Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut cfg = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| io::Error::other(format!("parsing {}: {e}", ca.display())))?;
        cfg = cfg.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        );
    }
    Ok(cfg.build().into())
}

/// Standard base64 with padding (the base64 crate).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
