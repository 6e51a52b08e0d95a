//! End-to-end tests of `login` and `logout` against a TLS + basic-auth
//! docker-registry on 127.0.0.1, side by side with Podman 4.3.1: the same
//! messages and exit codes, and auth files that each accepts from the other;
//! `pull` reads the stored credentials. Needs root, docker-registry, skopeo
//! and podman.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use podman_rs_integration_tests::images::{busybox_image, push_layout_to};
use podman_rs_integration_tests::registry::{base64, Registry};
use podman_rs_integration_tests::{binary, capture, require_root, text};

const USER: &str = "loginuser";
const PASS: &str = "s3cret: pass";

/// A temporary directory with private storage for podman-rs and podman.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("podman-rs-login-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("xdg")).expect("xdg");
        Env { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// podman-rs with `XDG_RUNTIME_DIR` in the temporary directory.
    fn rs_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("--root")
            .arg(self.path("rs-root"))
            .arg("--runroot")
            .arg(self.path("rs-run"))
            .arg("--storage-driver=vfs")
            .args(args)
            .env("XDG_RUNTIME_DIR", self.path("xdg"))
            .env_remove("REGISTRY_AUTH_FILE")
            .stdin(Stdio::null());
        c
    }

    fn rs(&self, args: &[&str]) -> Output {
        capture(self.rs_cmd(args))
    }

    fn podman_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.path("p-root"))
            .arg("--runroot")
            .arg(self.path("p-run"))
            .arg("--tmpdir")
            .arg(self.path("p-tmp"))
            .args([
                "--storage-driver=vfs",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ])
            .args(args)
            .env("XDG_RUNTIME_DIR", self.path("xdg"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env_remove("REGISTRY_AUTH_FILE")
            .stdin(Stdio::null());
        c
    }

    fn podman(&self, args: &[&str]) -> Output {
        capture(self.podman_cmd(args))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.podman(&["rmi", "--all", "--force"]);
    }
}

fn ok(out: &Output, what: &str) -> (String, String) {
    let (o, e) = text(out);
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {o}{e}",
        out.status.code()
    );
    (o, e)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A TLS + auth registry holding busybox as `private/bb:1`.
fn registry() -> (Registry, String) {
    let reg = Registry::start_tls_auth(USER, PASS);
    let bb = busybox_image();
    push_layout_to(bb.path(), &reg, "private/bb:1").expect("push busybox");
    let cert_dir = s(reg.cert_dir().expect("cert dir"));
    (reg, cert_dir)
}

fn auth_json(file: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(file).expect("read auth file")).expect("auth json")
}

#[test]
fn login_with_wrong_password_fails_like_podman_and_writes_nothing() {
    require_root();
    let (reg, cert_dir) = registry();
    let env = Env::new();
    let addr = reg.addr();
    let rs_file = env.path("rs-auth.json");
    let p_file = env.path("p-auth.json");
    let args = |file: &Path| {
        vec![
            "login".to_string(),
            "-u".into(),
            USER.into(),
            "-p".into(),
            "wrong".into(),
            "--cert-dir".into(),
            cert_dir.clone(),
            "--authfile".into(),
            s(file),
            addr.clone(),
        ]
    };
    let rs_args = args(&rs_file);
    let rs = env.rs(&rs_args.iter().map(String::as_str).collect::<Vec<_>>());
    let p_args = args(&p_file);
    let p = env.podman(&p_args.iter().map(String::as_str).collect::<Vec<_>>());
    let (ro, re) = text(&rs);
    let (po, pe) = text(&p);
    assert_eq!(rs.status.code(), Some(125), "{ro}{re}");
    assert_eq!(p.status.code(), Some(125), "{po}{pe}");
    assert_eq!(
        re,
        format!("Error: logging into \"{addr}\": invalid username/password\n")
    );
    assert_eq!(re, pe);
    assert_eq!(ro, po);
    assert!(!rs_file.exists());
    assert!(!p_file.exists());
}

#[test]
fn login_stores_credentials_pull_uses_them_until_logout() {
    require_root();
    let (reg, cert_dir) = registry();
    let env = Env::new();
    let addr = reg.addr();
    let image = format!("{addr}/private/bb:1");
    let file = env.path("xdg/containers/auth.json");
    // Another entry, which login and logout keep.
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        r#"{"auths":{"other.example:5000":{"auth":"b3RoZXI6cHc="}}}"#,
    )
    .unwrap();

    // Without credentials: refused.
    let out = env.rs(&["pull", "-q", "--cert-dir", &cert_dir, &image]);
    assert_eq!(out.status.code(), Some(125), "{:?}", text(&out));

    let (o, _) = ok(
        &env.rs(&[
            "login",
            "-u",
            USER,
            "-p",
            PASS,
            "--cert-dir",
            &cert_dir,
            &addr,
        ]),
        "login",
    );
    assert_eq!(o, "Login Succeeded!\n");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let doc = auth_json(&file);
    assert_eq!(
        doc["auths"][addr.as_str()]["auth"],
        base64(format!("{USER}:{PASS}").as_bytes())
    );
    assert_eq!(doc["auths"]["other.example:5000"]["auth"], "b3RoZXI6cHc=");
    // No temporary files left beside it.
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("auth.json")]);

    let (o, _) = ok(&env.rs(&["login", "--get-login", &addr]), "get-login");
    assert_eq!(o, format!("{USER}\n"));
    // Real podman reads the same default file (XDG_RUNTIME_DIR).
    let (o, _) = ok(
        &env.podman(&["login", "--get-login", &addr]),
        "podman get-login",
    );
    assert_eq!(o, format!("{USER}\n"));

    ok(
        &env.rs(&["pull", "-q", "--cert-dir", &cert_dir, &image]),
        "pull after login",
    );
    // Without -u: the stored credentials are checked, as Podman does.
    let rs = env.rs(&["login", "--cert-dir", &cert_dir, &addr]);
    let p = env.podman(&["login", "--cert-dir", &cert_dir, &addr]);
    assert_eq!(
        ok(&rs, "login with stored credentials").0,
        format!(
            "Authenticating with existing credentials for {addr}\n\
             Existing credentials are valid. Already logged in to {addr}\n"
        )
    );
    assert_eq!(text(&rs), text(&p));
    // push reads them too.
    let dest = format!("{addr}/private/copy:2");
    ok(
        &env.rs(&["push", "-q", "--cert-dir", &cert_dir, &image, &dest]),
        "push after login",
    );
    assert_eq!(
        reg.tags("private/copy").expect("tags"),
        vec!["2".to_string()]
    );
    ok(&env.rs(&["rmi", &image]), "rmi");

    let (o, _) = ok(&env.rs(&["logout", &addr]), "logout");
    assert_eq!(o, format!("Removed login credentials for {addr}\n"));
    let doc = auth_json(&file);
    assert!(doc["auths"].get(addr.as_str()).is_none(), "{doc}");
    assert_eq!(doc["auths"]["other.example:5000"]["auth"], "b3RoZXI6cHc=");

    let out = env.rs(&["pull", "-q", "--cert-dir", &cert_dir, &image]);
    assert_eq!(out.status.code(), Some(125), "{:?}", text(&out));

    // Not logged in any more: Podman's error, from both.
    let rs = env.rs(&["logout", &addr]);
    let p = env.podman(&["logout", &addr]);
    assert_eq!(rs.status.code(), Some(125));
    assert_eq!(rs.status.code(), p.status.code());
    assert_eq!(text(&rs).1, format!("Error: not logged into {addr}\n"));
    assert_eq!(text(&rs), text(&p));
    let rs = env.rs(&["login", "--get-login", &addr]);
    let p = env.podman(&["login", "--get-login", &addr]);
    assert_eq!(rs.status.code(), p.status.code());
    assert_eq!(text(&rs), text(&p));
}

#[test]
fn auth_files_work_both_ways_with_podman() {
    require_root();
    let (reg, cert_dir) = registry();
    let env = Env::new();
    let addr = reg.addr();
    let image = format!("{addr}/private/bb:1");

    // Written by podman-rs, used by podman.
    let rs_file = s(&env.path("by-rs/auth.json"));
    ok(
        &env.rs(&[
            "login",
            "--authfile",
            &rs_file,
            "-u",
            USER,
            "-p",
            PASS,
            "--cert-dir",
            &cert_dir,
            &addr,
        ]),
        "podman-rs login",
    );
    ok(
        &env.podman(&[
            "pull",
            "-q",
            "--authfile",
            &rs_file,
            "--cert-dir",
            &cert_dir,
            &image,
        ]),
        "podman pull with podman-rs's auth file",
    );

    // Written by podman, used by podman-rs; podman-rs's --password-stdin.
    let p_file = s(&env.path("by-podman/auth.json"));
    ok(
        &env.podman(&[
            "login",
            "--authfile",
            &p_file,
            "-u",
            USER,
            "-p",
            PASS,
            "--cert-dir",
            &cert_dir,
            &addr,
        ]),
        "podman login",
    );
    ok(
        &env.rs(&[
            "pull",
            "-q",
            "--authfile",
            &p_file,
            "--cert-dir",
            &cert_dir,
            &image,
        ]),
        "podman-rs pull with podman's auth file",
    );
    ok(&env.rs(&["rmi", &image]), "rmi");
    // REGISTRY_AUTH_FILE is the default auth file.
    let mut c = env.rs_cmd(&["pull", "-q", "--cert-dir", &cert_dir, &image]);
    c.env("REGISTRY_AUTH_FILE", &p_file);
    ok(&capture(c), "pull with REGISTRY_AUTH_FILE");

    // Both logouts leave the same file behind.
    ok(&env.rs(&["logout", "--authfile", &p_file, &addr]), "logout");
    ok(
        &env.podman(&["logout", "--authfile", &rs_file, &addr]),
        "podman logout",
    );
    let out = env.rs(&[
        "pull",
        "-q",
        "--authfile",
        &p_file,
        "--cert-dir",
        &cert_dir,
        &image,
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        auth_json(Path::new(&p_file))["auths"],
        auth_json(Path::new(&rs_file))["auths"]
    );

    // --password-stdin, and logout --all.
    let mut c = env.rs_cmd(&[
        "login",
        "--authfile",
        &rs_file,
        "-u",
        USER,
        "--password-stdin",
        "--cert-dir",
        &cert_dir,
        &addr,
    ]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{PASS}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(ok(&out, "login --password-stdin").0, "Login Succeeded!\n");
    let (o, _) = ok(
        &env.rs(&["logout", "--authfile", &rs_file, "-a"]),
        "logout -a",
    );
    assert_eq!(o, "Removed login credentials for all registries\n");
    assert_eq!(
        auth_json(Path::new(&rs_file))["auths"],
        serde_json::json!({})
    );
}

/// Root without `XDG_RUNTIME_DIR`: both use /run/containers/0/auth.json
/// (containers-image's default for root). Only this test's own
/// `127.0.0.1:PORT` entry is touched; a file that did not exist before is
/// removed again.
#[test]
fn root_default_auth_file_is_run_containers_0() {
    require_root();
    let (reg, cert_dir) = registry();
    let env = Env::new();
    let addr = reg.addr();
    let file = Path::new("/run/containers/0/auth.json");
    let existed = file.exists();
    let dir_existed = Path::new("/run/containers/0").exists();
    let no_xdg = |mut c: Command| {
        c.env_remove("XDG_RUNTIME_DIR");
        capture(c)
    };
    ok(
        &no_xdg(env.podman_cmd(&[
            "login",
            "-u",
            USER,
            "-p",
            PASS,
            "--cert-dir",
            &cert_dir,
            &addr,
        ])),
        "podman login",
    );
    assert!(auth_json(file)["auths"].get(addr.as_str()).is_some());
    let (o, _) = ok(
        &no_xdg(env.rs_cmd(&["login", "--get-login", &addr])),
        "get-login",
    );
    assert_eq!(o, format!("{USER}\n"));
    let (o, _) = ok(&no_xdg(env.rs_cmd(&["logout", &addr])), "logout");
    assert_eq!(o, format!("Removed login credentials for {addr}\n"));
    let out = no_xdg(env.podman_cmd(&["login", "--get-login", &addr]));
    assert_eq!(out.status.code(), Some(125));
    ok(
        &no_xdg(env.rs_cmd(&[
            "login",
            "-u",
            USER,
            "-p",
            PASS,
            "--cert-dir",
            &cert_dir,
            &addr,
        ])),
        "podman-rs login",
    );
    let (o, _) = ok(
        &no_xdg(env.podman_cmd(&["login", "--get-login", &addr])),
        "podman get-login",
    );
    assert_eq!(o, format!("{USER}\n"));
    ok(&no_xdg(env.podman_cmd(&["logout", &addr])), "podman logout");
    if !existed {
        let _ = std::fs::remove_file(file);
    }
    if !dir_existed {
        let _ = std::fs::remove_dir("/run/containers/0");
    }
}
