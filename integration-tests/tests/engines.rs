//! podman-rs as the OCI runtime of other engines, and other runtimes behind
//! podman-rs's `Runtime` trait (`External`), on the same bundle.

use std::process::Command;

use podman_rs_integration_tests::{
    binary, capture, make_rootfs, require_root, text, unique, Bundle,
};
use podman_rs_runtime::{CreateOptions, External, Runtime, Status};

/// A directory with a `podman-rs-runtime` link to the binary under test: invoked
/// under that name it speaks the runc command line directly.
fn runtime_link(dir: &std::path::Path) -> std::path::PathBuf {
    let link = dir.join("podman-rs-runtime");
    std::os::unix::fs::symlink(binary(), &link).unwrap();
    link
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Podman 4.3 runs containers with podman-rs as its OCI runtime (conmon calls
/// create/start/state/kill/delete/exec/pause/resume on our binary).
#[test]
fn podman_runs_containers_through_podman_rs() {
    require_root();
    assert!(
        have("podman"),
        "podman is not installed (make deps installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let rt = runtime_link(tmp.path());
    let rootfs = tmp.path().join("rootfs");
    make_rootfs(&rootfs);
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(tmp.path().join("storage"))
            .arg("--runroot")
            .arg(tmp.path().join("run"))
            .arg("--runtime")
            .arg(&rt)
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args);
        capture(c)
    };
    // podman's default RLIMIT_NOFILE/NPROC exceed this host's hard limits (root
    // lacks CAP_SYS_RESOURCE here), as crun also refuses: pass limits that fit.
    let ul = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let tar = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {} -c . > {}/rootfs.tar",
            rootfs.display(),
            tmp.path().display()
        ))
        .status()
        .unwrap();
    assert!(tar.success());
    let tarpath = tmp.path().join("rootfs.tar");
    let out = podman(&[
        "import",
        "-q",
        tarpath.to_str().unwrap(),
        "localhost/prs-it:latest",
    ]);
    assert!(out.status.success(), "import: {}", text(&out).1);

    let mut args = vec!["run", "--rm"];
    args.extend(ul);
    args.extend(["localhost/prs-it", "sh", "-c", "echo via-podman-rs; exit 4"]);
    let out = podman(&args);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    assert_eq!(text(&out).0, "via-podman-rs\n");

    let name = unique("prs");
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend(ul);
    args.extend([
        "localhost/prs-it",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done",
    ]);
    let out = podman(&args);
    assert!(out.status.success(), "run -d: {}", text(&out).1);
    let out = podman(&["exec", &name, "sh", "-c", "echo exec-ok"]);
    assert_eq!(text(&out).0, "exec-ok\n", "{}", text(&out).1);
    let out = podman(&["pause", &name]);
    assert!(out.status.success(), "pause: {}", text(&out).1);
    let out = podman(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(text(&out).0.trim(), "paused");
    assert!(podman(&["unpause", &name]).status.success());
    let out = podman(&["stop", "-t", "10", &name]);
    assert!(out.status.success(), "stop: {}", text(&out).1);
    let out = podman(&["logs", &name]);
    assert_eq!(text(&out).0, "up\nbye\n");
    let out = podman(&["rm", &name]);
    assert!(out.status.success(), "rm: {}", text(&out).1);
}

/// The same bundle through `External` (runc, crun) and through our own
/// binary used as an external runtime.
#[test]
fn external_runtimes_run_the_same_bundle() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let link = runtime_link(tmp.path());
    let mut runtimes = vec![link];
    for r in ["runc", "crun"] {
        assert!(have(r), "{r} is not installed (make deps installs it)");
        runtimes.push(r.into());
    }
    for bin in runtimes {
        let mut b = Bundle::busybox(&["sleep", "600"]);
        b.config["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]);
        b.save();
        let root = tempfile::tempdir().unwrap();
        let rt = External::new(&bin, Some(root.path().to_path_buf()));
        let id = unique("ext");
        let opts = CreateOptions {
            bundle: b.path().to_path_buf(),
            ..Default::default()
        };
        rt.create(&id, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert_eq!(
            rt.state(&id).unwrap().status,
            Status::Created,
            "{}",
            bin.display()
        );
        rt.start(&id).unwrap();
        let st = rt.state(&id).unwrap();
        assert_eq!(st.status, Status::Running, "{}", bin.display());
        assert_eq!(rt.pids(&id).unwrap(), vec![st.pid], "{}", bin.display());
        assert_eq!(rt.list().unwrap().len(), 1);
        rt.kill(&id, "KILL", false).unwrap();
        for _ in 0..100 {
            if rt.state(&id).unwrap().status == Status::Stopped {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            rt.state(&id).unwrap().status,
            Status::Stopped,
            "{}",
            bin.display()
        );
        rt.delete(&id, false).unwrap();
        assert!(rt.state(&id).is_err());
    }
}

/// `run` through the External runtime returns the container's exit code.
#[test]
fn external_run_returns_exit_code() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let link = runtime_link(tmp.path());
    let b = Bundle::busybox(&["sh", "-c", "exit 42"]);
    let root = tempfile::tempdir().unwrap();
    let rt = External::new(&link, Some(root.path().to_path_buf()));
    let code = rt
        .run(
            &unique("extrun"),
            &CreateOptions {
                bundle: b.path().to_path_buf(),
                ..Default::default()
            },
            false,
        )
        .unwrap();
    assert_eq!(code, Some(42));
}
