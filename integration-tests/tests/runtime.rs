//! End-to-end tests of `podman-rs runtime`: real busybox containers as root.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Stdio;

use podman_rs_integration_tests::{require_root, text, unique, Bundle, Root};
use serde_json::json;

fn run_in(root: &Root, bundle: &Bundle) -> (i32, String, String) {
    let id = unique("run");
    let out = root.run(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

#[test]
fn run_prints_output_and_returns_exit_code() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&["sh", "-c", "echo hello; exit 3"]);
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello\n");
    b.args(&["true"]);
    assert_eq!(run_in(&root, &b).0, 0);
    // run deletes the container afterwards
    assert!(
        root.entries().is_empty(),
        "left behind: {:?}",
        root.entries()
    );
}

#[test]
fn hostname_pid1_proc_and_masked_paths() {
    require_root();
    let root = Root::new();
    // Masked files that this kernel has (each must read empty inside).
    let masked: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect();
    assert!(
        !masked.is_empty(),
        "no masked /proc file exists on this host"
    );
    let script = format!(
        "hostname; echo pid=$$; test -r /proc/self/status && echo proc=ok; \
         grep -c ' /proc ' /proc/mounts; ls -A /sys/firmware | wc -l; \
         for f in {}; do echo \"$f $(cat $f | wc -c)\"; done",
        masked.join(" ")
    );
    let mut b = Bundle::busybox(&["sh", "-c", &script]);
    b.config["hostname"] = json!("it-host");
    b.save();
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "it-host");
    assert_eq!(lines[1], "pid=1");
    assert_eq!(lines[2], "proc=ok");
    assert_ne!(lines[3].trim(), "0", "/proc must be mounted");
    assert_eq!(lines[4].trim(), "0", "/sys/firmware must be masked (empty)");
    for (line, path) in lines[5..].iter().zip(&masked) {
        assert_eq!(*line, format!("{path} 0"), "{path} must be masked");
    }
    assert_eq!(lines.len(), 5 + masked.len(), "{out}");
}

#[test]
fn capabilities_match_config() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&["sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"]);
    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    b.config["process"]["capabilities"]["inheritable"] = json!([]);
    b.config["process"]["capabilities"]["ambient"] = json!([]);
    b.save();
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    // CAP_CHOWN = bit 0, CAP_KILL = bit 5 → 0x21
    for l in out.lines() {
        assert!(l.ends_with("0000000000000021"), "{l}");
    }
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn seccomp_rule_denies_with_configured_errno() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "mkdir /tmp/x; echo rc=$?; touch /tmp/y && echo touch=ok",
    ]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}]
    });
    b.save();
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    // errno 28 is ENOSPC
    assert!(err.contains("No space left on device"), "stderr: {err}");
    assert!(out.contains("rc=1"), "{out}");
    assert!(out.contains("touch=ok"), "other syscalls still work: {out}");
}

#[test]
fn memory_and_pids_limits_apply_and_stop_a_fork_loop() {
    require_root();
    let root = Root::new();
    let id = unique("limits");
    // The fork loop runs in a subshell that dies when fork fails; the outer
    // shell then reads pids.current with builtins only (no fork needed).
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
         sh -c 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done'; \
         read c < /sys/fs/cgroup/pids/pids.current; echo current=$c; kill -9 -1; true",
    ]);
    b.config["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    b.config["linux"]["cgroupsPath"] = json!(format!("/podman-rs-test/{id}"));
    b.save();
    let out = root.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], (64 * 1024 * 1024).to_string());
    assert_eq!(lines[1], "10");
    assert!(e.contains("fork"), "the fork loop must hit pids.max: {e}");
    let current: u32 = lines[2]
        .trim_start_matches("current=")
        .parse()
        .expect("pids.current");
    assert!(current <= 10, "pids.current {current} above the limit");
    // the cgroup is removed with the container
    for ctl in ["memory", "pids"] {
        let p = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("podman-rs-test")
            .join(&id);
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn rlimits_are_set_and_impossible_ones_named() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&["sh", "-c", "ulimit -n; ulimit -Hn"]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1500}]);
    b.save();
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1000\n1500\n");

    // Above the caller's hard limit: allowed only with CAP_SYS_RESOURCE.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let capeff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap();
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let want = hard.saturating_add(1000).min(1 << 20).max(hard + 1);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}]);
    b.save();
    let (code, out, err) = run_in(&root, &b);
    if capeff & (1 << 24) != 0 {
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().next(), Some(want.to_string().as_str()));
    } else {
        assert_ne!(code, 0);
        assert!(
            err.contains("RLIMIT_NOFILE"),
            "error must name the limit: {err}"
        );
        assert!(root.entries().is_empty());
    }
}

#[test]
fn state_machine_and_kill_with_signal() {
    require_root();
    let root = Root::new();
    let id = unique("sm");
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    // A createRuntime hook records the state seen during creation.
    let hook_out = b.path().join("state-during-create.json");
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("{} runtime --root {} state {} > {}",
            podman_rs_integration_tests::binary().display(), root.dir.path().display(), id, hook_out.display())]
    }]});
    b.save();
    let log = b.path().join("out.log");
    let logf = std::fs::File::create(&log).unwrap();
    let out = root
        .cmd(&["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdout(Stdio::from(logf))
        .status()
        .unwrap();
    assert!(out.success());
    let during: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hook_out).unwrap()).unwrap();
    assert_eq!(during["status"], "creating");
    let st = root.state(&id);
    assert_eq!(st["status"], "created");
    assert!(st["pid"].as_i64().unwrap() > 0);
    assert_eq!(st["id"], id.as_str());
    root.ok(&["start", &id]);
    assert_eq!(root.state(&id)["status"], "running");
    // start twice is refused
    assert!(!root.run(&["start", &id]).status.success());
    // wait for the trap to be installed, then signal
    for _ in 0..100 {
        if std::fs::read_to_string(&log).unwrap().contains("ready") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    root.ok(&["kill", &id, "USR1"]);
    let st = root.wait_status(&id, "stopped");
    assert_eq!(st["pid"], 0);
    assert!(std::fs::read_to_string(&log).unwrap().contains("got-usr1"));
    // list shows it
    let list: serde_json::Value =
        serde_json::from_str(&root.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "stopped");
    root.ok(&["delete", &id]);
    assert!(
        root.entries().is_empty(),
        "state dir left: {:?}",
        root.entries()
    );
    // unknown signal and unknown container are errors
    let out = root.run(&["kill", &id, "NOPE"]);
    assert!(!out.status.success());
    let out = root.run(&["state", &id]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("does not exist"));
}

#[test]
fn delete_force_kills_a_running_container_and_removes_its_cgroup() {
    require_root();
    let root = Root::new();
    let id = unique("del");
    let mut b = Bundle::busybox(&["sleep", "600"]);
    b.config["linux"]["cgroupsPath"] = json!(format!("/podman-rs-test/{id}"));
    b.save();
    root.ok(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = root.state(&id)["pid"].as_i64().unwrap() as i32;
    let cg = Path::new("/sys/fs/cgroup/memory/podman-rs-test").join(&id);
    assert!(cg.exists());
    let pids: Vec<i32> = serde_json::from_str(&root.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids, vec![pid]);
    // delete without --force refuses a running container
    assert!(!root.run(&["delete", &id]).status.success());
    root.ok(&["delete", "--force", &id]);
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    assert!(!cg.exists(), "cgroup left behind");
    assert!(root.entries().is_empty());
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
        .unwrap_or(true)
}

#[test]
fn pause_and_resume() {
    require_root();
    let root = Root::new();
    let id = unique("pause");
    let b = Bundle::busybox(&["sleep", "600"]);
    root.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    root.ok(&["pause", &id]);
    assert_eq!(root.state(&id)["status"], "paused");
    let pid = root.state(&id)["pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let st = stat.split(") ").nth(1).unwrap().chars().next().unwrap();
    assert!(st == 'D' || st == 'S', "frozen state {st}");
    root.ok(&["resume", &id]);
    assert_eq!(root.state(&id)["status"], "running");
    root.ok(&["delete", "-f", &id]);
}

#[test]
fn exec_runs_in_the_container_with_env_cwd_user() {
    require_root();
    let root = Root::new();
    let id = unique("exec");
    let b = Bundle::busybox(&["sh", "-c", "echo $$ > /tmp/init; exec sleep 600"]);
    root.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = root.run(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        &id,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u) $(hostname); cat /tmp/init; exit 5",
    ]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{e}");
    let mut lines = o.lines();
    assert_eq!(
        lines.next().unwrap().split(' ').take(3).collect::<Vec<_>>(),
        ["bar", "/tmp", "65534"]
    );
    assert_eq!(
        lines.next(),
        Some("1"),
        "exec sees the container's pid namespace"
    );
    // --process with a process.json
    let pj = b.path().join("process.json");
    std::fs::write(
        &pj,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo from-process-json"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = root.run(&["exec", "--process", pj.to_str().unwrap(), &id]);
    assert_eq!(text(&out).0, "from-process-json\n", "{}", text(&out).1);
    root.ok(&["delete", "-f", &id]);
    // exec into a missing container fails clearly
    let out = root.run(&["exec", &id, "true"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("does not exist"));
}

#[test]
fn every_hook_runs_once_with_the_state_json() {
    require_root();
    let root = Root::new();
    let id = unique("hooks");
    let mut b = Bundle::busybox(&["true"]);
    // The log directory is bind-mounted at the same path inside the container,
    // so hooks run in either namespace write to the same file.
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("hooks.log");
    let dir = logdir.path().to_str().unwrap().to_string();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": dir, "type": "bind", "source": dir, "options": ["rbind", "rw"]}),
    );
    b.config["mounts"] = json!(mounts);
    let mut hooks = serde_json::Map::new();
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let script = format!("read -r s; echo \"{name} $s\" >> {}", log.display());
        hooks.insert(
            name.into(),
            json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]),
        );
    }
    b.config["hooks"] = serde_json::Value::Object(hooks);
    b.save();
    let out = root.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", text(&out).1);
    let text = std::fs::read_to_string(&log).unwrap();
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.split(' ').next() == Some(name))
            .collect();
        assert_eq!(lines.len(), 1, "{name} ran {} times:\n{text}", lines.len());
        let json_part = lines[0].split_once(' ').unwrap().1;
        let st: serde_json::Value = serde_json::from_str(json_part)
            .unwrap_or_else(|e| panic!("{name}: state is not JSON ({e}): {json_part}"));
        assert_eq!(st["id"], id.as_str(), "{name}");
        assert_eq!(st["bundle"].as_str(), b.path().to_str(), "{name}: {st}");
    }
}

#[test]
fn a_failing_hook_fails_create_and_leaves_nothing() {
    require_root();
    let root = Root::new();
    let id = unique("badhook");
    let mut b = Bundle::busybox(&["true"]);
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    b.save();
    let out = root.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(root.entries().is_empty(), "{:?}", root.entries());
}

/// A console socket receiver: listens at `sock` and hands back the pty master
/// the runtime sends over SCM_RIGHTS.
fn console_receiver(sock: &Path) -> std::thread::JoinHandle<std::fs::File> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let listener = std::os::unix::net::UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                fd = fds.first().copied();
            }
        }
        let fd = fd.expect("no fd received over the console socket");
        // SAFETY: the descriptor was just received over SCM_RIGHTS and is ours alone.
        unsafe { std::fs::File::from_raw_fd(fd) }
    })
}

/// Reads a pty master until the other side closes (EIO) or `lines` lines came.
fn read_pty(master: &mut std::fs::File, lines: usize) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&out).lines().count() >= lines {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn terminal_through_console_socket() {
    require_root();
    let root = Root::new();
    let id = unique("tty");
    let mut b = Bundle::busybox(&["sh", "-c", "tty; test -t 0 && echo isatty; stty size"]);
    b.config["process"]["terminal"] = json!(true);
    b.save();
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("console.sock");
    let receiver = console_receiver(&sock);
    root.ok(&[
        "create",
        "--console-socket",
        sock.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let mut master = receiver.join().unwrap();
    root.ok(&["start", &id]);
    let s = read_pty(&mut master, 3);
    assert!(s.contains("/dev/pts/"), "{s}");
    assert!(s.contains("isatty"), "{s}");
    root.wait_status(&id, "stopped");
    root.ok(&["delete", &id]);
}

#[test]
fn exec_with_tty_and_the_containers_user_by_default() {
    require_root();
    let root = Root::new();
    let id = unique("exectty");
    let mut b = Bundle::busybox(&["sleep", "600"]);
    b.config["process"]["user"] = json!({"uid": 65534, "gid": 65534});
    b.config["process"]["env"] = json!(["PATH=/bin", "FROM_SPEC=yes"]);
    b.save();
    root.ok(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    // no --user: the container's user, its env, plus ours
    let out = root.run(&[
        "exec",
        "-e",
        "EXTRA=1",
        &id,
        "sh",
        "-c",
        "echo $(id -u) $FROM_SPEC $EXTRA",
    ]);
    assert_eq!(text(&out).0, "65534 yes 1\n", "{}", text(&out).1);
    // --tty through a console socket (detached, as engines call it)
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("exec.sock");
    let receiver = console_receiver(&sock);
    root.ok(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; echo done",
    ]);
    let mut master = receiver.join().unwrap();
    let s = read_pty(&mut master, 2);
    assert!(s.contains("/dev/pts/") && s.contains("done"), "{s}");
    root.ok(&["delete", "-f", &id]);
}

#[test]
fn no_host_fd_leaks_into_the_container() {
    use std::os::unix::process::CommandExt;
    require_root();
    let root = Root::new();
    let b = Bundle::busybox(&["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"]);
    let id = unique("fds");
    // Hand the runtime an inherited (non-CLOEXEC) descriptor 7 to a host directory.
    let host_dir = std::fs::File::open("/").unwrap();
    let raw = host_dir.as_raw_fd();
    let mut cmd = root.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = podman_rs_integration_tests::capture(cmd);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{e}");
    // 0-2 stdio, 3 is ls's own directory handle
    assert_eq!(o.trim(), "0 1 2 3", "fds visible in the container: {o}");
}

#[test]
fn runtime_binary_cannot_be_overwritten_through_proc_exe() {
    require_root();
    let root = Root::new();
    let id = unique("exe");
    let b = Bundle::busybox(&["sleep", "600"]);
    let pidfile = b.path().join("pid");
    // A copy of the binary that no other test runs, so that the only thing
    // standing between us and a write is the read-only mount (not ETXTBSY).
    let bindir = tempfile::tempdir().unwrap();
    let bin = bindir.path().join("podman-rs");
    std::fs::copy(podman_rs_integration_tests::binary(), &bin).unwrap();
    let mut create = std::process::Command::new(&bin);
    create.arg("runtime").arg("--root").arg(root.dir.path());
    create.args([
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let out = podman_rs_integration_tests::capture(create);
    assert!(out.status.success(), "{}", text(&out).1);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The created container's init is still our binary: take a handle on it
    // the way an attacker would (O_PATH through /proc/PID/exe)…
    let exe = format!("/proc/{pid}/exe");
    let before = std::fs::read(&exe).unwrap();
    let handle = nix::fcntl::open(
        exe.as_str(),
        nix::fcntl::OFlag::O_PATH,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let vfs = nix::sys::statvfs::statvfs(exe.as_str()).unwrap();
    assert!(
        vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "binary not on a read-only mount"
    );
    // …then, once the process is gone, try to reopen it for writing.
    root.ok(&["delete", "--force", &id]);
    let reopened = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{handle}"));
    let err = reopened.expect_err("the runtime binary was writable through /proc/PID/exe");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    let _ = nix::unistd::close(handle);
    assert_eq!(std::fs::read(&bin).unwrap(), before);
}

#[test]
fn bad_bundles_fail_clearly_and_leave_nothing() {
    require_root();
    let root = Root::new();
    let b = Bundle::busybox(&["true"]);
    let bp = b.path().to_str().unwrap();

    // missing rootfs
    let mut nb = Bundle::busybox(&["true"]);
    nb.config["root"]["path"] = json!("no-such-rootfs");
    nb.save();
    let out = root.run(&[
        "create",
        "--bundle",
        nb.path().to_str().unwrap(),
        "c-missing",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("root filesystem"), "{}", text(&out).1);

    // invalid JSON
    let ib = Bundle::busybox(&["true"]);
    std::fs::write(ib.path().join("config.json"), "{ not json").unwrap();
    let out = root.run(&["create", "--bundle", ib.path().to_str().unwrap(), "c-json"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("not valid JSON"), "{}", text(&out).1);

    // unknown namespace type
    let mut ub = Bundle::busybox(&["true"]);
    ub.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "bogus"}]);
    ub.save();
    let out = root.run(&["create", "--bundle", ub.path().to_str().unwrap(), "c-ns"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("bogus"), "{}", text(&out).1);

    // a spec field the runtime does not implement is named
    let mut sb = Bundle::busybox(&["true"]);
    sb.config["linux"]["resources"]["rdma"] = json!({"mlx5_1": {"hcaHandles": 3}});
    sb.save();
    let out = root.run(&["create", "--bundle", sb.path().to_str().unwrap(), "c-unsup"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("linux.resources.rdma"),
        "{}",
        text(&out).1
    );

    // invalid id
    let out = root.run(&["create", "--bundle", bp, "../escape"]);
    assert!(!out.status.success());
    assert!(
        root.entries().is_empty(),
        "bad bundles left state: {:?}",
        root.entries()
    );

    // duplicate id: the second create fails and the first container is intact
    root.ok(&["create", "--bundle", bp, "dup"]);
    let first = root.state("dup");
    let out = root.run(&["create", "--bundle", bp, "dup"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("already exists"), "{}", text(&out).1);
    assert_eq!(root.state("dup"), first);
    root.ok(&["delete", "dup"]);
    assert!(root.entries().is_empty());
}

#[test]
fn log_file_in_json_gets_the_error() {
    require_root();
    let root = Root::new();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("rt.log");
    let out = root
        .cmd(&[])
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "missing-one",
        ])
        .status()
        .unwrap();
    assert!(!out.success());
    let last = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("missing-one"));
}

#[test]
fn spec_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let bin = podman_rs_integration_tests::binary();
    let ok = std::process::Command::new(bin)
        .args(["runtime", "spec", "--rootless", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let nss: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(nss.contains(&"user"));
    assert_eq!(spec["linux"]["uidMappings"][0]["containerID"], 0);
    // refuses to overwrite
    let again = std::process::Command::new(bin)
        .args(["runtime", "spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    let f = std::process::Command::new(bin)
        .args(["runtime", "features"])
        .output()
        .unwrap();
    let f: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert!(f["hooks"].as_array().unwrap().len() == 6);
    assert_eq!(f["linux"]["cgroup"]["v1"], true);
}

#[test]
fn process_and_linux_fields_are_honoured() {
    require_root();
    let root = Root::new();
    let id = unique("fields");
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "umask; id -G; grep NoNewPrivs /proc/self/status | tr -s '\\t ' ' '; cat /proc/self/oom_score_adj; \
         cat /proc/sys/net/ipv4/ip_forward; \
         ls -l /dev/mynull | cut -c1; echo x > /dev/mynull && echo mynull-ok; \
         touch /rootfile 2>/dev/null || echo root-ro; \
         touch /ro/f 2>/dev/null || echo bind-ro; \
         df -k /tmp | tail -1 | tr -s ' ' | cut -d' ' -f2; \
         cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus; \
         cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || echo no-blkio-weight",
    ]);
    let ro = tempfile::tempdir().unwrap();
    let c = &mut b.config;
    c["process"]["user"] = json!({"uid": 0, "gid": 0, "umask": 63, "additionalGids": [5, 7]});
    c["process"]["noNewPrivileges"] = json!(true);
    c["process"]["oomScoreAdj"] = json!(321);
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    c["linux"]["devices"] =
        json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
    c["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"}
    ]);
    c["linux"]["resources"]["cpu"] =
        json!({"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"});
    c["linux"]["cgroupsPath"] = json!(format!("/podman-rs-test/{id}"));
    c["root"]["readonly"] = json!(true);
    c["annotations"] = json!({"org.example.test": "yes"});
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/tmp");
    mounts.push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=8m", "mode=1777"]}));
    mounts.push(json!({"destination": "/ro", "type": "bind", "source": ro.path(), "options": ["bind", "ro"]}));
    // The blkio weight file exists only with CFQ/BFQ; check it where the host has it.
    let blkio_weight = Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists();
    if blkio_weight {
        c["linux"]["resources"]["blockIO"] = json!({"weight": 300});
    }
    b.save();
    let out = root.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "0077", "umask");
    assert_eq!(lines[1], "0 5 7", "additionalGids");
    assert_eq!(lines[2], "NoNewPrivs: 1");
    assert_eq!(lines[3], "321", "oomScoreAdj");
    assert_eq!(lines[4], "1", "sysctl");
    assert_eq!(lines[5], "c", "linux.devices");
    assert_eq!(lines[6], "mynull-ok");
    assert_eq!(lines[7], "root-ro");
    assert_eq!(lines[8], "bind-ro");
    assert_eq!(lines[9], "8192", "tmpfs size option");
    assert_eq!(lines[10], "50000");
    assert_eq!(lines[11], "512");
    assert_eq!(lines[12], "0");
    if blkio_weight {
        assert_eq!(lines[13], "300");
    }
}

#[test]
fn joins_an_existing_network_namespace() {
    require_root();
    let root = Root::new();
    let ns = unique("prsns");
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(st.success(), "ip netns add");
    let ns_path = format!("/run/netns/{ns}");
    let want = nix::sys::stat::stat(ns_path.as_str()).unwrap().st_ino;
    let mut b = Bundle::busybox(&["sh", "-c", "readlink /proc/self/ns/net"]);
    let nss = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    nss.retain(|n| n["type"] != "network");
    nss.push(json!({"type": "network", "path": ns_path}));
    b.save();
    let (code, out, err) = run_in(&root, &b);
    let _ = std::process::Command::new("ip")
        .args(["netns", "delete", &ns])
        .status();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("net:[{want}]"),
        "container is in the given netns"
    );
    // joining a file that is not a namespace fails clearly
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap()["path"] = json!("/etc/hostname");
    b.save();
    let (code, _, err) = run_in(&root, &b);
    assert_ne!(code, 0);
    assert!(
        err.contains("/etc/hostname") && err.contains("network"),
        "{err}"
    );
    // a namespace of the wrong type is named as such
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap()["path"] = json!("/proc/self/ns/uts");
    b.save();
    let (code, _, err) = run_in(&root, &b);
    assert_ne!(code, 0);
    assert!(err.contains("uts namespace, not network"), "{err}");
    assert!(root.entries().is_empty());
}

#[test]
fn user_namespace_with_id_mappings_as_root() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map | tr -s ' '; id -u; stat -c %u /bin/busybox",
    ]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.save();
    let st = std::process::Command::new("chown")
        .args(["-R", "200000:200000"])
        .arg(b.path().join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0 200000 65536");
    assert_eq!(lines[1], "0");
    assert_eq!(lines[2], "0", "host uid 200000 is root inside");
}

#[test]
fn unknown_properties_are_ignored_with_a_warning() {
    require_root();
    let root = Root::new();
    let mut b = Bundle::busybox(&["echo", "ran"]);
    b.config["org.example.extension"] = json!({"x": 1});
    b.config["process"]["futureField"] = json!(true);
    // no SELinux on the test hosts: labels mean "no label", as crun treats them
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    b.save();
    let (code, out, err) = run_in(&root, &b);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ran\n");
    assert!(
        err.contains("org.example.extension") && err.contains("process.futureField"),
        "{err}"
    );
}

#[test]
fn failing_poststart_and_poststop_hooks_are_warnings() {
    require_root();
    let root = Root::new();
    let id = unique("hookfail");
    let mut b = Bundle::busybox(&["sleep", "600"]);
    // The first hook of each point fails; the second must still run.
    let marks = tempfile::tempdir().unwrap();
    let mark = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}/{name}", marks.path().display())]});
    b.config["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}, mark("poststart-2")],
        "poststop": [{"path": "/bin/false"}, mark("poststop-2")]
    });
    b.save();
    root.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    root.ok(&["start", &id]);
    assert_eq!(root.state(&id)["status"], "running");
    assert!(
        marks.path().join("poststart-2").exists(),
        "second poststart hook did not run"
    );
    root.ok(&["kill", &id, "KILL"]);
    root.wait_status(&id, "stopped");
    let out = root.run(&["delete", &id]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("poststop hook /bin/false"),
        "warning expected: {}",
        text(&out).1
    );
    assert!(
        marks.path().join("poststop-2").exists(),
        "second poststop hook did not run"
    );
    assert!(root.entries().is_empty(), "{:?}", root.entries());
}

#[test]
fn disable_oom_killer_on_cgroup_v1() {
    require_root();
    let root = Root::new();
    let id = unique("oom");
    let mut b = Bundle::busybox(&["sleep", "600"]);
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432, "disableOOMKiller": true});
    b.config["linux"]["cgroupsPath"] = json!(format!("/podman-rs-test/{id}"));
    b.save();
    let out = root.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let v1_memory = Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists();
    if v1_memory {
        assert!(out.status.success(), "{}", text(&out).1);
        let ctl = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/memory/podman-rs-test/{id}/memory.oom_control"
        ))
        .unwrap();
        assert!(ctl.lines().any(|l| l == "oom_kill_disable 1"), "{ctl}");
        root.ok(&["delete", "--force", &id]);
    } else {
        assert!(!out.status.success());
        assert!(
            text(&out).1.contains("disableOOMKiller"),
            "{}",
            text(&out).1
        );
    }
    assert!(root.entries().is_empty());
}

#[test]
fn without_a_mount_namespace_the_container_shares_the_callers() {
    require_root();
    let root = Root::new();
    // no cgroupsPath either: the runtime must not give the container a private
    // mount namespace of its own making
    let mut b = Bundle::busybox(&["sleep", "600"]);
    let nss = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    nss.retain(|n| n["type"] != "mount");
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.config["mounts"] = json!([]);
    b.config["root"]["readonly"] = json!(false);
    b.save();
    let id = unique("nomnt");
    let pidfile = b.path().join("pid");
    root.ok(&[
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(theirs, ours);
    assert_eq!(root.state(&id)["bundle"].as_str(), b.path().to_str());
    root.ok(&["delete", "--force", &id]);
    // Sharing our mount namespace, the container's root bind mount is ours to remove.
    let _ = nix::mount::umount2(&b.path().join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
    assert!(root.entries().is_empty(), "{:?}", root.entries());
}

/// Runs `podman-rs runtime --root ROOT ARGS…` in a private mount namespace whose
/// /sys/fs/cgroup is a cgroup2 mount: the pure-v2 layout most hosts have,
/// shown on this hybrid host (its v2 hierarchy has no controllers, so limits
/// cannot be checked there, but creation, attach, freeze and removal can).
fn on_cgroup2(root: &Root, args: &[&str]) -> std::process::Output {
    let mut script = String::from(
        "mount --make-rprivate / && mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" runtime --root \"$1\"",
    );
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 2));
    }
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "sh", "-c", &script])
        .arg(podman_rs_integration_tests::binary())
        .arg(root.dir.path())
        .args(args);
    podman_rs_integration_tests::capture(c)
}

#[test]
fn cgroup_v2_layout_attach_freeze_and_remove() {
    require_root();
    let root = Root::new();
    let id = unique("v2");
    let cg = format!("podman-rs-test-v2/{id}");
    let mut b = Bundle::busybox(&["sleep", "600"]);
    b.config["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
    b.save();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out).0
    };
    ok(on_cgroup2(
        &root,
        &["run", "-d", "--bundle", b.path().to_str().unwrap(), &id],
    ));
    let pid = root.state(&id)["pid"].as_i64().unwrap();
    // the container's init is in the v2 cgroup (seen from a cgroup2 mount of our own)
    let own_v2 = tempfile::tempdir().unwrap();
    let probe = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --make-rprivate / && mount -t cgroup2 none {0} && cat {0}/{cg}/cgroup.procs",
            own_v2.path().display()
        ))
        .output()
        .unwrap();
    let procs = String::from_utf8_lossy(&probe.stdout).to_string();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "{procs} / {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // pause freezes through cgroup.freeze (v2's core freezer)
    ok(on_cgroup2(&root, &["pause", &id]));
    assert_eq!(root.state(&id)["status"], "paused");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains(") S ") || stat.contains(") D "), "{stat}");
    ok(on_cgroup2(&root, &["resume", &id]));
    assert_eq!(root.state(&id)["status"], "running");
    let pids: Vec<i64> =
        serde_json::from_str(&ok(on_cgroup2(&root, &["ps", "--format", "json", &id]))).unwrap();
    assert_eq!(pids, vec![pid]);
    ok(on_cgroup2(&root, &["delete", "--force", &id]));
    let probe = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --make-rprivate / && mount -t cgroup2 none {0} && test ! -e {0}/{cg} && echo gone",
            own_v2.path().display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "gone",
        "v2 cgroup left behind"
    );
    assert!(root.entries().is_empty());
}
