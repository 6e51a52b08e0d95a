//! End-to-end tests of the container verbs with real containers of the
//! offline busybox image, pulled from a docker-registry on 127.0.0.1, each
//! test with its own `--root`/`--runroot`; compared with Podman 4.3.1 (the
//! stock `podman`, with its own temporary root) where the output does not
//! depend on ids or times. Needs root, docker-registry, skopeo, podman.

mod containers_common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use containers_common::{podman_run_args, wait_timeout, Collected, Env, Prs, PODMAN_ULIMITS};
use podman_rs_integration_tests::text;

/// The part of an `Error: …` line that does not name the runtime or the
/// command: Podman says `Error: crun: <detail>`, podman-rs
/// `Error: <command>: <detail>`.
fn error_detail(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no Error: line in {stderr:?}"));
    let rest = &line["Error: ".len()..];
    rest.split_once(": ")
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| rest.to_string())
}

#[test]
fn run_exit_codes_and_errors_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let img = env.image.as_str();
    // (command, expected exit code, expected stdout)
    let cases: [(&[&str], i32, &str); 5] = [
        (&["echo", "hello"], 0, "hello\n"),
        (&["sh", "-c", "echo out; echo err >&2; exit 3"], 3, "out\n"),
        (&["/etc/passwd"], 126, ""),
        (&["/tmp"], 126, ""),
        (&["no-such-command"], 127, ""),
    ];
    for (cmd, code, stdout) in cases {
        let mut args = vec!["run", img];
        args.extend_from_slice(cmd);
        let ours = env.prs.run(&args);
        let (o, e) = text(&ours);
        assert_eq!(ours.status.code(), Some(code), "{cmd:?}: {o}{e}");
        assert_eq!(o, stdout, "{cmd:?} stdout");

        let mut pargs = podman_run_args(&[img]);
        pargs.extend_from_slice(cmd);
        let theirs = pm.run(&pargs);
        let (po, pe) = text(&theirs);
        assert_eq!(ours.status.code(), theirs.status.code(), "{cmd:?}: {pe}");
        assert_eq!(o, po, "{cmd:?} stdout as podman");
        match code {
            0 => assert_eq!(e, pe, "{cmd:?} stderr as podman"),
            3 => assert_eq!((e.as_str(), pe.as_str()), ("err\n", "err\n"), "{cmd:?}"),
            126 => {
                // crun reports EPERM for a directory, EACCES for a file.
                let d = error_detail(&e);
                assert!(
                    d.starts_with("open executable: ") && d.ends_with(": OCI permission denied"),
                    "{cmd:?}: {e}"
                );
                if cmd == ["/etc/passwd"] {
                    assert_eq!(d, error_detail(&pe), "{cmd:?} stderr as podman: {e} / {pe}");
                }
            }
            _ => assert_eq!(error_detail(&e), error_detail(&pe), "{cmd:?}: {e} / {pe}"),
        }
        assert_eq!(
            e.lines().filter(|l| !l.is_empty()).count(),
            pe.lines().filter(|l| !l.is_empty()).count(),
            "{cmd:?}: as many stderr lines as podman: {e:?} / {pe:?}"
        );
    }
}

#[test]
fn logs_follow_streams_and_ends_with_the_container() {
    let env = Env::new();
    let p = &env.prs;
    let id = p
        .ok(&[
            "run",
            "-d",
            "--name",
            "talker",
            &env.image,
            "sh",
            "-c",
            "echo one; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo two >&2; sleep 1; echo three",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");

    let mut follow = p
        .cmd(&["logs", "-f", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let out = Collected::spawn(follow.stdout.take().expect("stdout"));
    let err = Collected::spawn(follow.stderr.take().expect("stderr"));
    out.wait_for("one\n", Duration::from_secs(20));
    // The container waits for us: logs -f must still be following.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        follow.try_wait().expect("try_wait").is_none(),
        "logs -f ended while the container runs: {}",
        out.text()
    );
    assert_eq!(out.text(), "one\n");
    p.ok(&["exec", "talker", "touch", "/tmp/go"]);
    err.wait_for("two\n", Duration::from_secs(20));
    assert_eq!(
        out.text(),
        "one\n",
        "three comes a second after two, not before"
    );
    let st = wait_timeout(&mut follow, Duration::from_secs(30), "logs -f");
    assert!(st.success(), "logs -f: {st} {}", err.text());
    assert_eq!(out.text(), "one\nthree\n");
    assert_eq!(err.text(), "two\n");
    assert_eq!(p.inspect("talker", "{{.State.Status}}"), "exited");

    // --tail, -t, --since on the finished log.
    assert_eq!(
        text(&p.run(&["logs", "--tail", "1", "talker"])).0,
        "three\n"
    );
    assert_eq!(text(&p.run(&["logs", "--tail", "0", "talker"])).0, "");
    let all = p.run(&["logs", "--tail", "5", "talker"]);
    assert_eq!(text(&all), ("one\nthree\n".into(), "two\n".into()));
    let stamped = text(&p.run(&["logs", "-t", "talker"])).0;
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 2, "{stamped}");
    let mut times = Vec::new();
    for (l, want) in lines.iter().zip(["one", "three"]) {
        let (ts, rest) = l.split_once(' ').expect("timestamp");
        assert_eq!(rest, want);
        times
            .push(chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}")));
    }
    assert!(times[1] > times[0], "{stamped}");
    // --since the second line's time (strict in Podman 4.3: later records).
    let mid = (times[0] + chrono::Duration::milliseconds(1)).to_rfc3339();
    let since = p.run(&["logs", "--since", &mid, "talker"]);
    assert_eq!(text(&since), ("three\n".into(), "two\n".into()));
    assert_eq!(
        text(&p.run(&["logs", "--since", "2099-01-01T00:00:00Z", "talker"])),
        (String::new(), String::new())
    );
    let since_old = p.run(&["logs", "--since", "2000-01-01T00:00:00Z", "talker"]);
    assert_eq!(text(&since_old).0, "one\nthree\n");
    // logs -f of an exited container prints and returns.
    let mut done = p
        .cmd(&["logs", "-f", "talker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("logs -f");
    assert!(wait_timeout(&mut done, Duration::from_secs(20), "logs -f (exited)").success());
}

#[test]
fn stop_timeout_kills_a_container_ignoring_sigterm() {
    let env = Env::new();
    let p = &env.prs;
    p.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        &env.image,
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    ]);
    p.wait_log("stubborn", "ready", Duration::from_secs(20));
    let t0 = Instant::now();
    let out = p.run(&["stop", "-t", "1", "stubborn"]);
    let took = t0.elapsed();
    let (o, e) = text(&out);
    assert!(out.status.success(), "stop: {o}{e}");
    assert_eq!(o, "stubborn\n");
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL came before the 1 s timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(30), "stop took {took:?}");
    assert_eq!(
        p.inspect("stubborn", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );

    // A container that handles SIGTERM (its init has no default action)
    // stops long before its timeout, with its own exit code.
    p.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        &env.image,
        "sh",
        "-c",
        "trap 'exit 9' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    p.wait_log("polite", "ready", Duration::from_secs(20));
    let t0 = Instant::now();
    p.ok(&["stop", "-t", "60", "polite"]);
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(p.inspect("polite", "{{.State.ExitCode}}"), "9");
}

#[test]
fn rm_leaves_nothing_behind() {
    let env = Env::with_driver("overlay");
    let p = &env.prs;
    let before = p.mounts_under_roots();
    // Foreground --rm.
    let cid = p.path("fg.cid");
    let out = p.run(&[
        "run",
        "--rm",
        "--cidfile",
        cid.to_str().expect("path"),
        &env.image,
        "sh",
        "-c",
        "echo hi; exit 5",
    ]);
    assert_eq!(text(&out).0, "hi\n");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out).1);
    let fg = std::fs::read_to_string(&cid)
        .expect("cidfile")
        .trim()
        .to_string();
    assert_eq!(fg.len(), 64, "{fg}");
    // Detached --rm, stopped.
    let bg = p
        .ok(&["run", "-d", "--rm", &env.image, "sleep", "100"])
        .trim()
        .to_string();
    // While it runs, the checks below do see its files, mount and cgroup.
    let running = p.leftovers(&bg);
    for kind in ["path", "mount", "cgroup"] {
        assert!(
            running.iter().any(|l| l.starts_with(kind)),
            "a running container's {kind} is not seen: {running:?}"
        );
    }
    assert!(
        !Prs::entries(&p.runroot().join("netns")).is_empty(),
        "a running container has a netns"
    );
    p.ok(&["stop", "-t", "0", &bg]);
    // Detached --rm that exits by itself.
    let quick = p
        .ok(&["run", "-d", "--rm", &env.image, "true"])
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids = p.ok(&["ps", "-a", "-q", "--no-trunc"]);
        if ids.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "--rm containers still listed: {ids}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in [&fg, &bg, &quick] {
        assert_eq!(p.leftovers(id), Vec::<String>::new(), "{id}");
        let out = p.run(&["inspect", id]);
        assert!(!out.status.success(), "inspect of a removed container");
    }
    assert_eq!(
        Prs::entries(&p.root().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(
        Prs::entries(&p.runroot().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(
        Prs::entries(&p.runroot().join("netns")),
        Vec::<String>::new()
    );
    assert_eq!(p.mounts_under_roots(), before, "mounts under the roots");
}

#[test]
fn exec_env_user_workdir_and_exit_codes_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let p = &env.prs;
    p.ok(&["run", "-d", "--name", "box", &env.image, "sleep", "100"]);
    pm.ok(&podman_run_args(&[
        "-d", "--name", "box", &env.image, "sleep", "100",
    ]));
    let cases: [&[&str]; 7] = [
        &[
            "-e",
            "A=b c",
            "-e",
            "B=2",
            "box",
            "sh",
            "-c",
            "echo \"$A|$B\"",
        ],
        &["-w", "/tmp", "box", "pwd"],
        &["-u", "1000:1000", "box", "id"],
        &["-u", "nobody", "box", "id"],
        &[
            "-u",
            "nobody",
            "-w",
            "/etc",
            "box",
            "sh",
            "-c",
            "id -un; pwd",
        ],
        &["box", "sh", "-c", "echo bye; exit 7"],
        &["box", "cat", "/etc/hostname-does-not-exist"],
    ];
    for args in cases {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        let ours = p.run(&a);
        let theirs = pm.run(&a);
        assert_eq!(text(&ours).0, text(&theirs).0, "exec {args:?} stdout");
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "exec {args:?}: {} / {}",
            text(&ours).1,
            text(&theirs).1
        );
    }
    assert_eq!(
        p.ok(&["exec", "-e", "A=b c", "box", "sh", "-c", "echo $A"]),
        "b c\n"
    );
    assert_eq!(
        p.ok(&["exec", "-u", "1000:1000", "box", "id"]),
        "uid=1000 gid=1000\n"
    );
    assert_eq!(
        p.run(&["exec", "box", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    for (cmd, code) in [("no-such-command", 127), ("/etc/passwd", 126)] {
        let ours = p.run(&["exec", "box", cmd]);
        let theirs = pm.run(&["exec", "box", cmd]);
        assert_eq!(
            ours.status.code(),
            Some(code),
            "exec {cmd}: {}",
            text(&ours).1
        );
        assert_eq!(ours.status.code(), theirs.status.code());
        let (e, pe) = (text(&ours).1, text(&theirs).1);
        assert_eq!(
            error_detail(&e),
            error_detail(&pe),
            "exec {cmd}: {e} / {pe}"
        );
        assert_eq!(e.lines().count(), pe.lines().count(), "{e:?} / {pe:?}");
    }
    // exec into a stopped container fails (Podman 4.3.1 exits 255 there,
    // podman-rs with its generic 125).
    p.ok(&["stop", "-t", "0", "box"]);
    pm.ok(&["stop", "-t", "0", "box"]);
    let ours = p.run(&["exec", "box", "true"]);
    let theirs = pm.run(&["exec", "box", "true"]);
    assert_eq!(ours.status.code(), Some(125), "{}", text(&ours).1);
    assert!(!theirs.status.success());
}

/// A terminal for a podman-rs command: the command runs in its own session
/// with the pty's slave as controlling terminal (`setsid -c`).
struct Pty {
    master: File,
    out: Collected,
    child: std::process::Child,
}

impl Pty {
    fn spawn(p: &Prs, args: &[&str], rows: u16, cols: u16) -> Pty {
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
        let inner = p.cmd(args);
        let slave = File::from(pty.slave);
        let mut c = Command::new("setsid");
        c.arg("-c")
            .arg(inner.get_program())
            .args(inner.get_args())
            .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave);
        let child = c.spawn().expect("spawn under a pty");
        let master = File::from(pty.master);
        let out = Collected::spawn(master.try_clone().expect("dup"));
        Pty { master, out, child }
    }

    fn send(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("write to pty");
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_tty_through_a_pty_and_detach() {
    let env = Env::new();
    let p = &env.prs;
    let mut t = Pty::spawn(
        p,
        &["run", "-it", "--name", "term", &env.image, "sh"],
        33,
        101,
    );
    t.send(b"tty\n");
    t.out.wait_for("/dev/pts/0", Duration::from_secs(30));
    t.send(b"stty size\n");
    t.out.wait_for("33 101", Duration::from_secs(20));
    t.send(b"[ -t 0 ] && [ -t 1 ] && echo both-ttys\n");
    t.out.wait_for("both-ttys", Duration::from_secs(20));
    // Ctrl-P Ctrl-Q: the client leaves, the container keeps running.
    t.send(b"\x10\x11");
    let st = wait_timeout(
        &mut t.child,
        Duration::from_secs(20),
        "run -it after detach",
    );
    assert!(
        st.success(),
        "detach ends run with 0: {st} {}",
        t.out.text()
    );
    assert_eq!(p.inspect("term", "{{.State.Status}}"), "running");
    assert_eq!(p.inspect("term", "{{.Config.Tty}}"), "true");
    // Still the same shell: exec sees it and its terminal.
    let ps = p.ok(&["exec", "term", "ps", "-o", "pid,tty,comm"]);
    // (busybox ps shows the terminal as major,minor: 136,0 is pts/0.)
    assert!(
        ps.lines()
            .any(|l| l.ends_with(" sh") && l.contains(" 136,0 ")),
        "{ps}"
    );

    // The container's output went to the pty, not the log (as Podman: the
    // log has it too, with CRLF).
    let log = p.ok(&["logs", "term"]);
    assert!(log.contains("/dev/pts/0"), "{log:?}");
    p.ok(&["rm", "-f", "-t", "0", "term"]);
}

#[test]
fn attach_to_a_running_container_and_detach_keys() {
    let env = Env::new();
    let p = &env.prs;
    p.ok(&["run", "-dit", "--name", "shell", &env.image, "sh"]);
    // Default keys.
    let mut t = Pty::spawn(p, &["attach", "shell"], 24, 80);
    t.send(b"echo first-$((40+2))\n");
    t.out.wait_for("first-42", Duration::from_secs(30));
    t.send(b"\x10\x11");
    let st = wait_timeout(&mut t.child, Duration::from_secs(20), "attach after detach");
    assert!(st.success(), "{st} {}", t.out.text());
    assert_eq!(p.inspect("shell", "{{.State.Status}}"), "running");
    drop(t);

    // Custom keys: ctrl-p ctrl-q is plain input then, ctrl-x,y detaches.
    let mut t = Pty::spawn(p, &["attach", "--detach-keys", "ctrl-x,y", "shell"], 24, 80);
    t.send(b"echo second-$((40+3))\n");
    t.out.wait_for("second-43", Duration::from_secs(30));
    t.send(b"\x10\x11");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        t.child.try_wait().expect("try_wait").is_none(),
        "ctrl-p ctrl-q detached though other keys were set"
    );
    t.send(b"\x18y");
    let st = wait_timeout(
        &mut t.child,
        Duration::from_secs(20),
        "attach after ctrl-x,y",
    );
    assert!(st.success(), "{st} {}", t.out.text());
    assert_eq!(p.inspect("shell", "{{.State.Status}}"), "running");
    drop(t);

    // The shell exiting ends an attach with its exit code.
    let mut t = Pty::spawn(p, &["attach", "shell"], 24, 80);
    t.send(b"echo third\n");
    t.out.wait_for("third", Duration::from_secs(30));
    t.send(b"exit 4\n");
    let st = wait_timeout(&mut t.child, Duration::from_secs(20), "attach until exit");
    assert_eq!(st.code(), Some(4), "{}", t.out.text());
    p.wait_for("shell", "{{.State.Status}}", Duration::from_secs(20), |s| {
        s == "exited"
    });
    assert_eq!(p.inspect("shell", "{{.State.ExitCode}}"), "4");
}

#[test]
fn restart_on_failure_restarts_exactly_twice() {
    let env = Env::new();
    let p = &env.prs;
    p.ok(&[
        "run",
        "-d",
        "--name",
        "crashy",
        "--restart",
        "on-failure:2",
        &env.image,
        "sh",
        "-c",
        "echo attempt; exit 1",
    ]);
    p.wait_for(
        "crashy",
        "{{.RestartCount}} {{.State.Status}}",
        Duration::from_secs(60),
        |s| s == "2 exited",
    );
    // No third restart.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        p.inspect(
            "crashy",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "2 exited 1 on-failure 2"
    );
    assert_eq!(p.ok(&["logs", "crashy"]), "attempt\nattempt\nattempt\n");

    // A successful exit is not restarted.
    p.ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure:2",
        &env.image,
        "echo",
        "ok",
    ]);
    p.wait_for("fine", "{{.State.Status}}", Duration::from_secs(30), |s| {
        s == "exited"
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        p.inspect("fine", "{{.RestartCount}} {{.State.ExitCode}}"),
        "0 0"
    );
    assert_eq!(p.ok(&["logs", "fine"]), "ok\n");
}

/// "Up 3 seconds ago" → "Up", "Exited (3) 2 seconds ago" → "Exited (3)".
fn status_prefix(s: &str) -> String {
    if s.starts_with("Up ") {
        "Up".into()
    } else if s.starts_with("Exited (") {
        s.split_once(')')
            .map(|(a, _)| format!("{a})"))
            .unwrap_or_default()
    } else {
        s.to_string()
    }
}

/// `[A=1 B=2 HOSTNAME=abc]` → the set, with HOSTNAME's value dropped.
fn env_set(s: &str) -> BTreeSet<String> {
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(' ')
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.starts_with("HOSTNAME=") {
                "HOSTNAME=<id>".to_string()
            } else {
                e.to_string()
            }
        })
        .collect()
}

#[test]
fn ps_and_inspect_formats_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let p = &env.prs;
    let img = env.image.as_str();
    let scenario: [&[&str]; 3] = [
        &[
            "-d",
            "--name",
            "web",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "--restart",
            "on-failure:2",
            img,
            "sleep",
            "100",
        ],
        &["--name", "done", img, "sh", "-c", "exit 3"],
        &[
            "-d",
            "--name",
            "long",
            img,
            "sh",
            "-c",
            "echo a long command line; sleep 100",
        ],
    ];
    for args in scenario {
        let mut a = vec!["run"];
        a.extend_from_slice(args);
        let _ = p.run(&a);
        let _ = pm.run(&podman_run_args(args));
    }
    let create = ["create", "--name", "fresh", "-e", "X=1", img, "echo", "x"];
    p.ok(&create);
    let mut pc = vec!["create"];
    pc.extend(containers_common::PODMAN_ULIMITS);
    pc.extend_from_slice(&create[1..]);
    pm.ok(&pc);

    let ps_format = "{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.State}}|{{.Ports}}|{{.Pod}}|{{.PodName}}|{{.IsInfra}}|{{.AutoRemove}}|{{.ExitCode}}|{{.Exited}}";
    let rows = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split('|').map(str::to_string).collect();
                f[3] = status_prefix(&f[3]);
                f[4] = status_prefix(&f[4]);
                f.join("|")
            })
            .collect();
        v.sort();
        v
    };
    for all in [true, false] {
        let mut a = vec!["ps", "--format", ps_format];
        if all {
            a.push("-a");
        }
        let ours = rows(p.ok(&a));
        assert_eq!(ours.len(), if all { 4 } else { 2 }, "{ours:?}");
        assert_eq!(ours, rows(pm.ok(&a)), "ps {a:?}");
    }
    for filter in [
        "status=exited",
        "status=running",
        "status=created",
        "name=web",
    ] {
        let a = ["ps", "-a", "--filter", filter, "--format", "{{.Names}}"];
        let (ours, theirs) = (p.ok(&a), pm.ok(&a));
        assert!(!ours.is_empty(), "{filter}");
        assert_eq!(ours, theirs, "ps --filter {filter}");
    }
    // Table layout (header and column widths) for the id-free columns.
    let table = [
        "ps",
        "-a",
        "--sort",
        "names",
        "--format",
        "table {{.Names}}\t{{.Image}}\t{{.Command}}",
    ];
    assert_eq!(p.ok(&table), pm.ok(&table), "ps table");

    let inspect_format = "{{.Name}}|{{.State.Status}}|{{.State.Running}}|{{.State.ExitCode}}|{{json .Config.Cmd}}|{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.RestartPolicy.MaximumRetryCount}}|{{.ImageName}}|{{.Config.Image}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{.Config.Tty}}|{{.Config.OpenStdin}}|{{.RestartCount}}|{{.Driver}}|{{.Path}}|{{json .Args}}|{{.Config.StopSignal}}|{{.HostConfig.AutoRemove}}|{{.HostConfig.LogConfig.Type}}|{{.IsInfra}}|{{.Config.StopTimeout}}|{{.State.OOMKilled}}|{{.State.Paused}}";
    for name in ["web", "done", "long", "fresh"] {
        assert_eq!(
            p.inspect(name, inspect_format),
            pm.inspect_trim(name, inspect_format),
            "inspect {name}"
        );
        let ours = env_set(&p.inspect(name, "{{.Config.Env}}"));
        let theirs = env_set(&pm.inspect_trim(name, "{{.Config.Env}}"));
        assert!(ours.len() >= 4, "{ours:?}");
        assert_eq!(ours, theirs, "{name}: Config.Env");
    }
}

/// `inspect --format` on the stock podman, trimmed.
trait InspectTrim {
    fn inspect_trim(&self, name: &str, template: &str) -> String;
}

impl InspectTrim for podman_rs_integration_tests::side_by_side::Podman {
    fn inspect_trim(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "--format", template, name])
            .trim()
            .to_string()
    }
}

/// The built-in runtime loads a precompiled, cached seccomp program (see
/// runtime/src/seccomp_load.rs) and lends CAP_SYS_ADMIN to the init only for
/// loading it: the container must end up with exactly what Podman (crun)
/// gives it — same capability sets, a filter installed, the same errors from
/// syscalls the default profile refuses — for root, a non-root user,
/// no-new-privileges and an added CAP_SYS_ADMIN; exec'd processes too.
#[test]
fn seccomp_and_capabilities_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let img = env.image.as_str();
    let script = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; \
                  reboot -f; echo reboot=$?; swapoff /x; echo swapoff=$?; \
                  unshare -m true; echo unshare=$?; linux32 true; echo linux32=$?";
    let variants: [&[&str]; 4] = [
        &[],
        &["-u", "1000"],
        &["--security-opt", "no-new-privileges"],
        &["--cap-add", "sys_admin"],
    ];
    for flags in variants {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[img, "sh", "-c", script]);
        let ours = env.prs.run(&args);
        let mut pargs = podman_run_args(&["--rm"]);
        pargs.extend_from_slice(flags);
        pargs.extend_from_slice(&[img, "sh", "-c", script]);
        let theirs = pm.run(&pargs);
        let (o, e) = text(&ours);
        let (po, pe) = text(&theirs);
        assert!(
            o.contains("Seccomp:\t2\n"),
            "{flags:?}: filter mode: {o}{e}"
        );
        assert_eq!(o, po, "{flags:?}: status and results as podman");
        assert_eq!(e, pe, "{flags:?}: errors as podman");
    }
    // exec'd processes get the container's filter and capabilities too.
    env.prs
        .ok(&["run", "-d", "--name", "sc", img, "sleep", "60"]);
    let ours = env.prs.ok(&["exec", "sc", "sh", "-c", script]);
    let theirs = {
        pm.ok(&["run", "-d", "--name", "sc"]
            .into_iter()
            .chain(PODMAN_ULIMITS)
            .chain([img, "sleep", "60"])
            .collect::<Vec<_>>());
        let out = pm.run(&["exec", "sc", "sh", "-c", script]);
        pm.run(&["rm", "-f", "-t", "0", "sc"]);
        text(&out).0
    };
    env.prs.ok(&["rm", "-f", "-t", "0", "sc"]);
    assert_eq!(ours, theirs, "exec: status and results as podman");
}

/// `--network slirp4netns`: tap0 at 10.0.2.100, slirp's DNS first in
/// resolv.conf, the host reachable at 10.0.2.2 with allow_host_loopback,
/// `-p` forwarded from the host through slirp4netns's API, `port` as
/// Podman prints it, and nothing (no slirp4netns process) left after rm.
#[test]
fn slirp4netns_network_and_published_ports() {
    use std::io::{Read, Write};
    let env = Env::new();
    let p = &env.prs;
    let img = env.image.as_str();
    let out = p.ok(&[
        "run",
        "--rm",
        "--network",
        "slirp4netns",
        img,
        "sh",
        "-c",
        "ip -4 addr show tap0; head -1 /etc/resolv.conf; ip route",
    ]);
    assert!(out.contains("inet 10.0.2.100/24"), "{out}");
    assert!(out.contains("nameserver 10.0.2.3\n"), "{out}");
    assert!(out.contains("default via 10.0.2.2 dev tap0"), "{out}");

    // The host, through slirp's gateway address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let hport = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nfrom-host");
        }
    });
    let url = format!("http://10.0.2.2:{hport}/");
    let out = p.ok(&[
        "run",
        "--rm",
        "--network",
        "slirp4netns:allow_host_loopback=true",
        img,
        "wget",
        "-q",
        "-O",
        "-",
        &url,
    ]);
    assert_eq!(out, "from-host");
    server.join().expect("server");

    // -p: a fixed and a random host port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let fixed = free.local_addr().expect("addr").port();
    drop(free);
    let publish = format!("{fixed}:80");
    p.ok(&[
        "run", "-d", "--name", "web", "--network", "slirp4netns", "-p", &publish, "-p",
        "127.0.0.1::81", img, "sh", "-c",
        "mkdir -p /www && echo hello-from-ctr > /www/index.html && exec busybox httpd -f -p 80 -h /www",
    ]);
    let ports = p.ok(&["port", "web"]);
    let lines: Vec<&str> = ports.lines().collect();
    assert_eq!(lines.len(), 2, "{ports}");
    assert_eq!(lines[0], format!("80/tcp -> 0.0.0.0:{fixed}"));
    assert!(lines[1].starts_with("81/tcp -> 127.0.0.1:"), "{ports}");
    assert_eq!(
        p.ok(&["port", "web", "80"]).trim(),
        format!("0.0.0.0:{fixed}")
    );
    let mut body = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", fixed)) {
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            body.clear();
            let _ = s.read_to_string(&mut body);
            if body.contains("hello-from-ctr") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(body.contains("hello-from-ctr"), "forwarded port: {body:?}");
    let id = p.inspect("web", "{{.Id}}");
    assert_eq!(
        p.inspect("web", "{{.HostConfig.NetworkMode}}"),
        "slirp4netns"
    );
    p.ok(&["rm", "-f", "-t", "0", "web"]);
    let netns = p.runroot().join("netns").join(&id);
    let slirps = Command::new("pgrep")
        .args(["-f", &format!("slirp4netns.*{}", netns.display())])
        .output()
        .expect("pgrep");
    assert!(
        slirps.stdout.is_empty(),
        "slirp4netns left running: {slirps:?}"
    );

    // Modes that cannot publish drop -p with Podman's warning.
    let o = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "8080:80",
        img,
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).1.contains(
        "Port mappings have been discarded as one of the Host, Container, Pod, and None network modes are in use"
    ));
    // Bad values: Podman's wording, exit 125, no record.
    let o = p.run(&["run", "--rm", "-p", "abc", img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(text(&o).1.contains(
        "parsing container port: invalid port number: strconv.Atoi: parsing \"abc\": invalid syntax"
    ), "{:?}", text(&o));
    let o = p.run(&["run", "--rm", "-p", "70000:80", img, "true"]);
    assert!(
        text(&o).1.contains(
            "parsing host port: port numbers must be between 1 and 65535 (inclusive), got 70000"
        ),
        "{:?}",
        text(&o)
    );
    assert_eq!(p.ok(&["ps", "-a", "-q"]).trim(), "");
}

/// `podman create` with the ulimits this host needs, then `args`.
fn podman_create_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["create"];
    v.extend(PODMAN_ULIMITS);
    v.extend_from_slice(args);
    v
}

/// An `Error: …` text with container ids replaced (they differ).
fn without_ids(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let hex = w.trim_matches(|c: char| !c.is_ascii_hexdigit());
            if hex.len() == 64 {
                w.replace(hex, "ID")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn init_then_start_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let p = &env.prs;
    let img = env.image.as_str();
    let cmd = ["sh", "-c", "echo started; sleep 60"];
    let mut args = vec!["create", "--name", "ini", img];
    args.extend(cmd);
    p.ok(&args);
    let mut pargs = podman_create_args(&["--network", "none", "--name", "ini", img]);
    pargs.extend(cmd);
    pm.ok(&pargs);

    // init: the name printed, state "initialized" (ps: "Initialized"), a pid.
    assert_eq!(p.ok(&["init", "ini"]), "ini\n");
    assert_eq!(pm.ok(&["init", "ini"]), "ini\n");
    let ps = ["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.State}}"];
    assert_eq!(p.ok(&ps), "ini Initialized Initialized\n");
    assert_eq!(p.ok(&ps), pm.ok(&ps));
    let st = "{{.State.Status}} {{.State.ExitCode}}";
    assert_eq!(p.inspect("ini", st), "initialized 0");
    assert_eq!(
        p.inspect("ini", st),
        pm.ok(&["inspect", "--format", st, "ini"]).trim()
    );
    assert!(
        p.inspect("ini", "{{.State.Pid}}")
            .parse::<i32>()
            .unwrap_or(0)
            > 0
    );
    // Nothing ran yet.
    assert_eq!(text(&p.run(&["logs", "ini"])).0, "");

    // A second init: Podman's error, 125.
    for c in [vec!["init", "ini"], vec!["container", "init", "ini"]] {
        let ours = p.run(&c);
        let theirs = pm.run(&c);
        assert_eq!(ours.status.code(), Some(125));
        assert_eq!(ours.status.code(), theirs.status.code());
        assert_eq!(
            without_ids(&text(&ours).1),
            without_ids(&text(&theirs).1),
            "{c:?}"
        );
    }
    // --all skips containers already created in the runtime.
    let ours = p.run(&["init", "--all"]);
    assert!(ours.status.success(), "{:?}", text(&ours));
    let ours = p.run(&["init", "-a", "ini"]);
    let theirs = pm.run(&["init", "-a", "ini"]);
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(text(&ours).1, text(&theirs).1);

    // start starts the created process.
    assert_eq!(p.ok(&["start", "ini"]), "ini\n");
    p.wait_log("ini", "started", Duration::from_secs(20));
    assert_eq!(p.inspect("ini", "{{.State.Status}}"), "running");
    let ours = p.run(&["init", "ini"]);
    assert_eq!(ours.status.code(), Some(125));
    assert!(text(&ours)
        .1
        .contains("has already been created in runtime"));

    // stop of an initialized container kills it (137), as Podman records.
    p.ok(&["create", "--name", "ini2", img, "sleep", "60"]);
    p.ok(&["init", "ini2"]);
    p.ok(&["stop", "ini2"]);
    assert_eq!(p.inspect("ini2", st), "exited 137");
    // rm of an initialized container needs no --force.
    p.ok(&["init", "ini2"]);
    assert_eq!(p.ok(&["rm", "ini2"]), "ini2\n");
    // start -a of an initialized container sees all output.
    p.ok(&[
        "create",
        "--name",
        "ini3",
        img,
        "sh",
        "-c",
        "echo hello; exit 3",
    ]);
    p.ok(&["init", "ini3"]);
    let out = p.run(&["start", "-a", "ini3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out).0, "hello\n");
    p.ok(&["rm", "-fa"]);
    pm.ok(&["rm", "-fa", "-t", "0"]);
}

#[test]
fn a_command_that_cannot_run_leaves_the_container_created() {
    let env = Env::new();
    let pm = env.podman();
    let p = &env.prs;
    let img = env.image.as_str();
    let ours = p.run(&["run", "--name", "bad", img, "no-such-command"]);
    assert_eq!(ours.status.code(), Some(127));
    let theirs = pm.run(&podman_run_args(&[
        "--network",
        "none",
        "--name",
        "bad",
        img,
        "no-such-command",
    ]));
    assert_eq!(theirs.status.code(), Some(127));
    let ps = [
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.Status}} {{.ExitCode}}",
    ];
    assert_eq!(p.ok(&ps), "bad Created 0\n");
    assert_eq!(p.ok(&ps), pm.ok(&ps));
    let st = "{{.State.Status}}|{{.State.ExitCode}}|{{.State.Error}}|{{.State.Pid}}";
    assert_eq!(p.inspect("bad", st), "created|0||0");
    assert_eq!(
        p.inspect("bad", st),
        pm.ok(&["inspect", "--format", st, "bad"]).trim()
    );
    // start of it: Podman wraps the error and exits 125.
    let ours = p.run(&["start", "bad"]);
    let theirs = pm.run(&["start", "bad"]);
    assert_eq!(ours.status.code(), Some(125));
    assert_eq!(ours.status.code(), theirs.status.code());
    assert!(
        text(&ours)
            .1
            .starts_with("Error: unable to start container \""),
        "{:?}",
        text(&ours)
    );
    // wait on a created container returns at once with 0.
    assert_eq!(p.ok(&["wait", "bad"]), "0\n");
    assert_eq!(p.inspect("bad", st), "created|0||0");
    p.ok(&["rm", "-fa"]);
    pm.ok(&["rm", "-fa", "-t", "0"]);
}

#[test]
fn logs_follow_several_containers() {
    let env = Env::new();
    let p = &env.prs;
    let img = env.image.as_str();
    let a = p
        .ok(&[
            "run",
            "-d",
            "--name",
            "la",
            img,
            "sh",
            "-c",
            "echo a1; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo a2",
        ])
        .trim()
        .to_string();
    let b = p
        .ok(&[
            "run",
            "-d",
            "--name",
            "lb",
            img,
            "sh",
            "-c",
            "echo b1; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo b2",
        ])
        .trim()
        .to_string();
    p.wait_log("la", "a1", Duration::from_secs(20));
    p.wait_log("lb", "b1", Duration::from_secs(20));
    for names in [false, true] {
        let mut args = vec!["logs", "-f"];
        if names {
            args.push("--names");
        }
        args.extend(["la", "lb"]);
        let mut follow = p
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("logs -f");
        let out = Collected::spawn(follow.stdout.take().expect("stdout"));
        let (pa, pb) = if names {
            ("la ".to_string(), "lb ".to_string())
        } else {
            (format!("{} ", &a[..12]), format!("{} ", &b[..12]))
        };
        out.wait_for(&format!("{pa}a1\n"), Duration::from_secs(20));
        out.wait_for(&format!("{pb}b1\n"), Duration::from_secs(20));
        if !names {
            // Both are followed while they run.
            std::thread::sleep(Duration::from_millis(300));
            assert!(follow.try_wait().expect("try_wait").is_none());
            p.ok(&["exec", "la", "touch", "/tmp/go"]);
            p.ok(&["exec", "lb", "touch", "/tmp/go"]);
            out.wait_for(&format!("{pa}a2\n"), Duration::from_secs(20));
            out.wait_for(&format!("{pb}b2\n"), Duration::from_secs(20));
        }
        let st = wait_timeout(&mut follow, Duration::from_secs(30), "logs -f");
        assert!(st.success());
        let mut lines: Vec<String> = out.text().lines().map(str::to_string).collect();
        lines.sort();
        let mut want = vec![
            format!("{pa}a1"),
            format!("{pa}a2"),
            format!("{pb}b1"),
            format!("{pb}b2"),
        ];
        want.sort();
        assert_eq!(lines, want, "names={names}");
    }
    // One container: no prefix, even with --names (as Podman).
    assert_eq!(p.ok(&["logs", "--names", "la"]), "a1\na2\n");
    p.ok(&["rm", "-fa"]);
}

#[test]
fn inspect_empty_maps_and_create_flag_errors_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let p = &env.prs;
    let img = env.image.as_str();
    p.ok(&["create", "--name", "plain", img, "true"]);
    pm.ok(&podman_create_args(&[
        "--network",
        "none",
        "--name",
        "plain",
        img,
        "true",
    ]));
    for f in [
        "{{.Config.Labels}}",
        "{{.Config.Volumes}}",
        "{{.HostConfig.LogConfig.Config}}",
        "{{.Config.OnBuild}}",
        "{{.Mounts}}",
        "{{.Args}}",
        "{{.HostConfig.Tmpfs}}",
    ] {
        assert_eq!(
            p.inspect("plain", f),
            pm.ok(&["inspect", "--format", f, "plain"]).trim(),
            "{f}"
        );
    }
    // JSON keeps null for them, as Podman.
    let json = p.ok(&["inspect", "plain"]);
    assert!(json.contains("\"Labels\": null"), "{json}");

    for flags in [
        &["--restart", "sometimes"][..],
        &["--restart", "on-failure:x"],
        &["--restart", "always:3"],
        &["--ulimit", "bogus=1"],
        &["--ulimit", "nofile=abc"],
        &["--log-driver", "foo"],
        &["--memory", "lots"],
        &["--shm-size", "x"],
        &["--stop-signal", "NOPE"],
        &["--pull", "sometimes"],
        &["--tmpfs", "relative"],
        &["--log-opt", "foo"],
    ] {
        let mut a = vec!["create"];
        a.extend_from_slice(flags);
        a.extend([img, "true"]);
        let ours = p.run(&a);
        let mut pa = podman_create_args(flags);
        pa.extend([img, "true"]);
        let theirs = pm.run(&pa);
        assert_eq!(ours.status.code(), Some(125), "{flags:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{flags:?}");
        assert_eq!(text(&ours).1, text(&theirs).1, "{flags:?}");
    }
    // stop's warning for a container ignoring SIGTERM, in logrus' words
    // (stderr is not a terminal: time="…" level=warning msg="…").
    p.ok(&[
        "run",
        "-d",
        "--name",
        "stub",
        img,
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    p.wait_log("stub", "ready", Duration::from_secs(20));
    let out = p.run(&["stop", "-t", "1", "stub"]);
    let e = text(&out).1;
    let (time, rest) = e
        .strip_prefix("time=\"")
        .and_then(|r| r.split_once('"'))
        .unwrap_or_else(|| panic!("{e:?}"));
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{e:?}");
    assert_eq!(
        rest,
        " level=warning msg=\"StopSignal SIGTERM failed to stop container stub in 1 seconds, resorting to SIGKILL\"\n"
    );
    p.ok(&["rm", "-fa"]);
    pm.ok(&["rm", "-fa", "-t", "0"]);
}
