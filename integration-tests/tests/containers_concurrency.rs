//! Container records under concurrency: many podman-rs processes at once on
//! one store, CLIs killed in the middle of `run -d`, and readers while a
//! writer holds the database's write lock. Real containers of the offline
//! busybox image from a loopback registry; private roots. Needs root.

mod containers_common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use containers_common::{wait_timeout, Env, Prs};
use podman_rs_integration_tests::text;

/// Spawns `args` with output in files (see [`Prs::run`]).
fn spawn(p: &Prs, args: &[&str]) -> (Child, std::fs::File, std::fs::File) {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    let child = p
        .cmd(args)
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("spawn podman-rs");
    (child, out, err)
}

fn finish(
    (mut child, out, err): (Child, std::fs::File, std::fs::File),
    timeout: Duration,
    what: &str,
) -> Output {
    use std::io::{Read, Seek};
    let status = wait_timeout(&mut child, timeout, what);
    let read = |mut f: std::fs::File| {
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read");
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// Lock or database trouble in an error output.
fn lock_trouble(stderr: &str) -> bool {
    let l = stderr.to_lowercase();
    l.contains("locked") || l.contains("busy") || l.contains("database")
}

/// Asserts nothing of the engine is left in the roots.
fn assert_empty(p: &Prs, ids: &[String]) {
    assert_eq!(p.ok(&["ps", "-a", "-q"]), "", "ps -a after removal");
    for id in ids {
        assert_eq!(p.leftovers(id), Vec::<String>::new(), "{id}");
    }
    assert_eq!(
        Prs::entries(&p.root().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(
        Prs::entries(&p.runroot().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(p.mounts_under_roots(), Vec::<String>::new());
}

#[test]
fn fifty_parallel_run_d_are_all_recorded() {
    let env = Env::new();
    let p = &env.prs;
    let children: Vec<_> = (0..50)
        .map(|_| spawn(p, &["run", "-d", &env.image, "sleep", "300"]))
        .collect();
    let mut ids = BTreeSet::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = finish(c, Duration::from_secs(120), "run -d");
        let (o, e) = text(&out);
        assert!(out.status.success(), "run -d #{i}: {o}{e}");
        assert!(!lock_trouble(&e), "run -d #{i}: {e}");
        ids.insert(o.trim().to_string());
    }
    assert_eq!(ids.len(), 50, "50 distinct ids");

    let listed = p.ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.State}}",
    ]);
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 50, "{listed}");
    let listed_ids: BTreeSet<String> = rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(listed_ids, ids, "ps lists exactly the started containers");
    let names: BTreeSet<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(names.len(), 50, "distinct names: {listed}");
    assert!(rows.iter().all(|r| r[2] == "Up"), "all running: {listed}");
    assert_eq!(p.ok(&["ps", "-a", "-q"]).lines().count(), 50);
    // Every record has a live init.
    for id in ids.iter().take(5) {
        let pid: i32 = p.inspect(id, "{{.State.Pid}}").parse().expect("pid");
        assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    let out = p.run(&["rm", "-a", "-f", "-t", "0"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "rm -a -f: {e}");
    assert_eq!(o.lines().count(), 50, "{o}");
    let ids: Vec<String> = ids.into_iter().collect();
    assert_empty(p, &ids);
}

#[test]
fn cli_killed_during_run_d_leaves_removable_state() {
    let env = Env::with_driver("overlay");
    let p = &env.prs;
    let delays_ms = [0u64, 5, 15, 30, 60, 100, 150, 250, 400];
    for (i, ms) in delays_ms.iter().enumerate() {
        let name = format!("k{i}");
        let mut child = p
            .cmd(&["run", "-d", "--name", &name, &env.image, "sleep", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn run -d");
        std::thread::sleep(Duration::from_millis(*ms));
        if i + 1 == delays_ms.len() {
            // The last CLI is killed only once its record exists: on a
            // loaded machine (the other tests of this file hold the store
            // lock) a run -d may not have recorded anything after 400 ms.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                let out = p.run(&["ps", "-a", "-q", "--filter", &format!("name=^{name}$")]);
                if !text(&out).0.trim().is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    // Let monitors that were already spawned settle.
    std::thread::sleep(Duration::from_secs(2));
    let out = p.run(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "ps -a after killed CLIs: {e}");
    assert!(e.is_empty(), "ps -a stderr: {e}");
    let listed: Vec<(String, String)> = o
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    // The later kills come after the record is written (run -d takes
    // longer than the first delays and the record comes early).
    assert!(!listed.is_empty(), "no killed run left a record: {o}");
    // Whatever was recorded is removable, by name.
    for (_, name) in &listed {
        let out = p.run(&["rm", "-f", "-t", "0", name]);
        assert!(out.status.success(), "rm -f {name}: {}", text(&out).1);
    }
    // Directories of containers that never got a record would be leaks.
    let ids: Vec<String> = listed.iter().map(|(id, _)| id.clone()).collect();
    assert_empty(p, &ids);
    // The names are free again.
    for i in 0..delays_ms.len() {
        let name = format!("k{i}");
        p.ok(&["create", "--name", &name, &env.image, "true"]);
    }
    p.ok(&["rm", "-a", "-f"]);
    assert_empty(p, &[]);
}

#[test]
fn hundred_mixed_commands_never_fail_on_locks() {
    let env = Env::new();
    let p = &env.prs;
    let img = env.image.as_str();
    p.ok(&[
        "run",
        "-d",
        "--name",
        "steady",
        img,
        "sh",
        "-c",
        "echo hello; sleep 300",
    ]);
    p.wait_log("steady", "hello", Duration::from_secs(20));
    for i in 0..10 {
        p.ok(&["create", "--name", &format!("victim{i}"), img, "true"]);
    }
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for i in 0..100 {
        let c: Vec<String> = match i % 6 {
            0 => vec!["run", "--rm", img, "echo", "x"]
                .into_iter()
                .map(String::from)
                .collect(),
            1 => vec!["ps".into(), "-a".into()],
            2 => vec![
                "inspect".into(),
                "--format".into(),
                "{{.State.Status}}".into(),
                "steady".into(),
            ],
            3 => vec!["logs".into(), "steady".into()],
            4 => vec![
                "create".into(),
                "--name".into(),
                format!("new{i}"),
                img.into(),
                "true".into(),
            ],
            _ => match i / 6 {
                n if n < 10 => vec!["rm".into(), format!("victim{n}")],
                _ => vec!["ps".into(), "-a".into(), "-q".into()],
            },
        };
        cmds.push(c);
    }
    let children: Vec<_> = cmds
        .iter()
        .map(|c| {
            let a: Vec<&str> = c.iter().map(String::as_str).collect();
            spawn(p, &a)
        })
        .collect();
    let mut failures = Vec::new();
    for (c, child) in cmds.iter().zip(children) {
        let out = finish(child, Duration::from_secs(150), &format!("{c:?}"));
        let (o, e) = text(&out);
        if !out.status.success() || lock_trouble(&e) {
            failures.push(format!("{c:?} ({:?}): {o}{e}", out.status.code()));
            continue;
        }
        match c[0].as_str() {
            "run" => assert_eq!(o, "x\n", "{c:?}"),
            "inspect" => assert_eq!(o, "running\n", "{c:?}"),
            "logs" => assert_eq!(o, "hello\n", "{c:?}"),
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The end state is consistent: steady + the new containers.
    let names: BTreeSet<String> = p
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    let mut want: BTreeSet<String> = cmds
        .iter()
        .filter(|c| c[0] == "create")
        .map(|c| c[2].clone())
        .collect();
    want.insert("steady".into());
    assert_eq!(names, want);
}

/// Holds `BEGIN IMMEDIATE` on the store's database with the sqlite3 CLI.
struct WriteLock {
    child: Child,
}

impl WriteLock {
    fn take(db: &std::path::Path) -> WriteLock {
        let mut child = std::process::Command::new("sqlite3")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sqlite3 (Debian's sqlite3 package)");
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(b".timeout 20000\nBEGIN IMMEDIATE;\nSELECT 'held';\n")
            .expect("write sqlite3");
        stdin.flush().expect("flush");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read sqlite3");
        assert_eq!(line.trim(), "held", "sqlite3 took the write lock");
        WriteLock { child }
    }

    fn release(mut self) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        let _ = stdin.write_all(b"COMMIT;\n.quit\n");
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn readers_finish_while_a_writer_holds_the_lock() {
    let env = Env::new();
    let p = &env.prs;
    p.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        &env.image,
        "sh",
        "-c",
        "echo hi; sleep 300",
    ]);
    p.wait_log("up", "hi", Duration::from_secs(20));
    p.ok(&["create", "--name", "idle", &env.image, "true"]);

    let lock = WriteLock::take(&p.root().join("db.sqlite"));
    let t0 = Instant::now();
    for args in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["inspect", "--format", "{{.Name}} {{.State.Status}}", "up"],
        &["logs", "up"],
        &["container", "exists", "idle"],
    ] {
        let out = finish(
            spawn(p, args),
            Duration::from_secs(60),
            &format!("{args:?}"),
        );
        let (o, e) = text(&out);
        assert!(
            out.status.success(),
            "{args:?} under a held write lock: {o}{e}"
        );
        assert!(!lock_trouble(&e), "{args:?}: {e}");
        match args[0] {
            "ps" => assert_eq!(o, "up\nidle\n"),
            "inspect" => assert_eq!(o, "up running\n"),
            "logs" => assert_eq!(o, "hi\n"),
            _ => {}
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(60));

    // A writer started meanwhile waits for the lock instead of failing.
    let writer = spawn(p, &["create", "--name", "late", &env.image, "true"]);
    std::thread::sleep(Duration::from_millis(1500));
    lock.release();
    let out = finish(writer, Duration::from_secs(60), "create under lock");
    let (o, e) = text(&out);
    assert!(
        out.status.success(),
        "create after the lock was released: {o}{e}"
    );
    assert!(!lock_trouble(&e), "{e}");
    assert_eq!(p.inspect("late", "{{.State.Status}}"), "created");
}
