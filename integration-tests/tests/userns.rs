//! `--userns`, `--uidmap`, `--gidmap` as root: the engine-created user
//! namespace, idmapped layers (overlay: nothing copied) or a shifted copy
//! (vfs), inspect, and Podman's errors.

mod containers_common;

use std::os::unix::fs::MetadataExt;

use containers_common::{podman_run_args, Env};
use podman_rs_integration_tests::text;

fn mapped_dirs(env: &Env) -> Vec<String> {
    let layers = env.prs.root().join("layers");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&layers).into_iter().flatten().flatten() {
        let m = e.path().join("mapped");
        if m.is_dir() {
            out.push(m.display().to_string());
        }
    }
    out
}

#[test]
fn uidmap_runs_in_its_own_user_namespace_with_idmapped_layers() {
    let env = Env::with_driver("overlay");
    let img = env.image.as_str();
    let out = env.prs.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--uidmap",
        "0:100000:65536",
        img,
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c %u:%g /bin/busybox; touch /new && echo wrote",
    ]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    let lines: Vec<Vec<&str>> = o.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{o}");
    assert_eq!(
        lines[1],
        ["0", "100000", "65536"],
        "{o} (gid map copies the uid map)"
    );
    assert_eq!(lines[2], ["0"]);
    assert_eq!(lines[3], ["0"]);
    assert_eq!(lines[4], ["0:0"], "image file owned by root inside: {o}");
    assert_eq!(lines[5], ["wrote"]);
    assert!(e.is_empty(), "no notice on the idmapped path: {e}");
    assert!(
        mapped_dirs(&env).is_empty(),
        "idmapped: no copy: {:?}",
        mapped_dirs(&env)
    );

    // Seen from the host: the same file is owned by 100000.
    env.prs.ok(&[
        "run",
        "-d",
        "--name",
        "um",
        "--network",
        "none",
        "--uidmap",
        "0:100000:65536",
        "--gidmap",
        "0:200000:65536",
        img,
        "sleep",
        "60",
    ]);
    let pid = env.prs.inspect("um", "{{.State.Pid}}");
    let meta = std::fs::metadata(format!("/proc/{pid}/root/bin/busybox")).expect("stat via /proc");
    assert_eq!((meta.uid(), meta.gid()), (100000, 200000));
    let hosts = std::fs::metadata(format!("/proc/{pid}/root/etc/hosts")).expect("hosts");
    assert_eq!((hosts.uid(), hosts.gid()), (100000, 200000));
    // exec runs in the container's user namespace too (libcontainer's own
    // exec would leave it in the host's).
    let exec = env
        .prs
        .ok(&["exec", "um", "sh", "-c", "cat /proc/self/uid_map; id -u"]);
    let lines: Vec<Vec<&str>> = exec
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{exec}");
    assert_eq!(lines[1], ["0"], "{exec}");
    assert_eq!(
        env.prs.inspect("um", "{{.HostConfig.UsernsMode}}"),
        "private"
    );
    let maps = env.prs.inspect("um", "{{json .HostConfig.IDMappings}}");
    let v: serde_json::Value = serde_json::from_str(&maps).expect("json");
    assert_eq!(v["UidMap"], serde_json::json!(["0:100000:65536"]));
    assert_eq!(v["GidMap"], serde_json::json!(["0:200000:65536"]));
    env.prs.ok(&["rm", "-f", "-t", "0", "um"]);
    assert!(
        env.prs.mounts_under_roots().is_empty(),
        "{:?}",
        env.prs.mounts_under_roots()
    );
}

#[test]
fn vfs_uses_a_shifted_copy_reused_by_the_next_container() {
    let env = Env::new();
    let img = env.image.as_str();
    let run = || {
        env.prs.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--uidmap",
            "0:300000:65536",
            img,
            "sh",
            "-c",
            "id -u; stat -c %u /bin/busybox; cat /proc/self/uid_map",
        ])
    };
    let first = run();
    let (o, e) = text(&first);
    assert!(first.status.success(), "{o}{e}");
    assert!(o.starts_with("0\n0\n"), "{o}");
    assert!(e.contains("made a copy of the image"), "notice: {e}");
    let dirs = mapped_dirs(&env);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let copies: Vec<_> = std::fs::read_dir(&dirs[0])
        .expect("read")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let ino = std::fs::metadata(&copies[0]).expect("stat").ino();
    let second = run();
    let (o2, e2) = text(&second);
    assert!(second.status.success(), "{o2}{e2}");
    assert!(!e2.contains("made a copy"), "reused, no notice: {e2}");
    assert_eq!(std::fs::metadata(&copies[0]).expect("stat").ino(), ino);
}

#[test]
fn userns_errors_like_podman() {
    let env = Env::new();
    let pm = env.podman();
    let img = env.image.as_str();
    let cases: [&[&str]; 6] = [
        &["--userns=keep-id"],
        &["--userns=keep-id:uid=5"],
        &["--userns=nomap"],
        &["--userns=private"],
        &["--uidmap", "0:0"],
        &["--userns=host", "--uidmap", "0:100000:65536"],
    ];
    for flags in cases {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend([img, "true"]);
        let ours = env.prs.run(&args);
        let mut pargs = podman_run_args(&["--rm", "--network", "none"]);
        pargs.extend_from_slice(flags);
        pargs.extend([img, "true"]);
        let theirs = pm.run(&pargs);
        let (_, e) = text(&ours);
        let (_, pe) = text(&theirs);
        assert_eq!(ours.status.code(), Some(125), "{flags:?}: {e}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{flags:?}: {pe}");
        assert_eq!(e, pe, "{flags:?}: stderr as podman");
    }
    let auto = env.prs.run(&["run", "--rm", "--userns=auto", img, "true"]);
    assert_eq!(auto.status.code(), Some(125));
    assert!(text(&auto).1.contains("--userns=auto is not supported"));
}
