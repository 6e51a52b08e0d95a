//! Per-container files Podman generates and bind-mounts into the container
//! (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, `/run/.containerenv`)
//! and user lookups in the container's root filesystem (`/etc/passwd`,
//! `/etc/group`).
//!
//! Behaviour checked against Podman 4.3.1 on the development VM (see the
//! tests) and learnt from, never copied from:
//! - containers/common `libnetwork/etchosts/hosts.go` (hosts file: extra
//!   hosts first, then the base file — the host's /etc/hosts in 4.3 —, then
//!   localhost, host.containers.internal and the container's own entry, each
//!   only with names not yet present);
//! - containers/common `libnetwork/resolvconf` (search, nameservers, options;
//!   localhost nameservers dropped when the container has its own netns);
//! - podman `libpod/container_internal_linux.go` (`generateSpec`: primary gid,
//!   `--group-add`, supplementary groups only when no group was given;
//!   `.containerenv` filled only for privileged containers).
//!
//! Paths inside the root filesystem are resolved without ever leaving it:
//! symlinks are followed by hand, relative to the rootfs, and `..` stops at
//! its root (what securejoin does for Podman).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::config::{ContainerConfig, ContainerPaths, NetworkMode, RootfsSource};
use super::spec::HostInfo;

/// How many symlinks [`resolve_in_root`] follows before giving up (Linux's
/// own limit is 40).
const MAX_SYMLINKS: usize = 40;

/// Files larger than this in the rootfs are refused (a passwd file of 16 MiB
/// is not a passwd file).
const MAX_FILE: u64 = 16 << 20;

/// File names under `paths.userdata`.
pub const HOSTS_FILE: &str = "hosts";
/// The /etc/passwd and /etc/group copies `--userns=keep-id` mounts.
pub const PASSWD_FILE: &str = "passwd";
pub const GROUP_FILE: &str = "group";
pub const RESOLV_FILE: &str = "resolv.conf";
pub const HOSTNAME_FILE: &str = "hostname";
pub const CONTAINERENV_FILE: &str = ".containerenv";

/// Errors of file generation and user lookup.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} in the container's root filesystem: too many levels of symbolic links",
        path
    )]
    SymlinkLoop { path: String },
    #[error(
        "{} in the container's root filesystem is larger than {MAX_FILE} bytes",
        path
    )]
    TooLarge { path: String },
    /// Podman's words: `unable to find user nosuch: no matching entries in passwd file`.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("invalid user {user:?}: {msg}")]
    InvalidUser { user: String, msg: String },
    #[error("unable to parse host entry {entry:?}: {msg}")]
    HostEntry { entry: String, msg: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |source| FilesError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------
// Paths inside the rootfs

/// Resolves `path` (as the container would see it) to a host path under
/// `root`, following symlinks as if `root` were `/`: absolute link targets
/// restart at `root`, `..` never climbs above it. Components that do not
/// exist are appended as they are. The result is always under `root`.
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, FilesError> {
    // Components still to walk, in reverse order (a stack).
    let mut todo: Vec<PathBuf> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .rev()
        .collect();
    let mut done: Vec<PathBuf> = Vec::new();
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        if comp.as_os_str() == OsStr::new("..") {
            done.pop();
            continue;
        }
        let mut host = root.to_path_buf();
        host.extend(&done);
        host.push(&comp);
        let is_link = std::fs::symlink_metadata(&host)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            done.push(comp);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(FilesError::SymlinkLoop { path: path.into() });
        }
        let target = std::fs::read_link(&host).map_err(io_err("readlink", &host))?;
        if target.is_absolute() {
            done.clear();
        }
        for c in target.components().rev() {
            match c {
                Component::Normal(n) => todo.push(PathBuf::from(n)),
                Component::ParentDir => todo.push(PathBuf::from("..")),
                _ => {}
            }
        }
    }
    let mut host = root.to_path_buf();
    host.extend(&done);
    Ok(host)
}

/// Reads a file of the rootfs (`path` as seen in the container). `Ok(None)`
/// when it does not exist. The last component is opened with O_NOFOLLOW.
pub fn read_rootfs_file(root: &Path, path: &str) -> Result<Option<String>, FilesError> {
    let host = resolve_in_root(root, path)?;
    let fd = match rustix::fs::open(
        &host,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(io_err("open", &host)(e.into())),
    };
    let file = File::from(fd);
    let mut buf = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut buf)
        .map_err(io_err("read", &host))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(FilesError::TooLarge { path: path.into() });
    }
    Ok(Some(buf))
}

// ---------------------------------------------------------------------------
// passwd / group

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses passwd content; malformed lines are skipped (as libc does).
pub fn parse_passwd(content: &str) -> Vec<PasswdEntry> {
    content
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
                shell: f.get(6).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// Parses group content; malformed lines are skipped.
pub fn parse_group(content: &str) -> Vec<GroupEntry> {
    content
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The process identity resolved from `-u` and `--group-add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// `HOME` when the environment has none (`None`: no HOME is added, as
    /// Podman for a numeric uid without passwd entry).
    pub home: Option<String>,
    /// `process.user.additionalGids`, in Podman's order, without duplicates.
    pub additional_gids: Vec<u32>,
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …) and
/// `group_add` against the rootfs's /etc/passwd and /etc/group, as Podman
/// 4.3.1 does:
/// - a name must exist; a numeric uid may be absent from passwd (gid 0);
/// - a group name must exist; a numeric gid may be absent;
/// - additionalGids: the primary gid (only when a user was given), then the
///   `--group-add` groups, then — only when no group was given — the groups
///   listing the user as a member.
pub fn resolve_user(root: &Path, user: &str, group_add: &[String]) -> Result<ExecUser, FilesError> {
    let passwd = parse_passwd(&read_rootfs_file(root, "/etc/passwd")?.unwrap_or_default());
    let groups = parse_group(&read_rootfs_file(root, "/etc/group")?.unwrap_or_default());
    resolve_user_in(&passwd, &groups, user, group_add)
}

/// [`resolve_user`] over already parsed files.
pub fn resolve_user_in(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    user: &str,
    group_add: &[String],
) -> Result<ExecUser, FilesError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let numeric_uid = user_part.parse::<u32>().ok();
    let entry = passwd
        .iter()
        .find(|p| p.name == user_part)
        .or_else(|| numeric_uid.and_then(|uid| passwd.iter().find(|p| p.uid == uid)));
    let (uid, mut gid, home, name) = match (entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, Some(e.home.clone()), Some(e.name.as_str())),
        // Observed with Podman 4.3.1: `-u 5000` gives no HOME, `-u 5000:5000` HOME=/.
        (None, Some(uid)) => (uid, 0, group_part.map(|_| "/".to_string()), None),
        (None, None) => return Err(FilesError::UnknownUser(user_part.into())),
    };
    if let Some(g) = group_part {
        if g.is_empty() {
            return Err(FilesError::InvalidUser {
                user: user.into(),
                msg: "empty group".into(),
            });
        }
        gid = lookup_group(groups, g)?;
    }
    let mut additional = Vec::new();
    let push = |g: u32, v: &mut Vec<u32>| {
        if !v.contains(&g) {
            v.push(g);
        }
    };
    if !user.is_empty() {
        push(gid, &mut additional);
    }
    for g in group_add {
        push(lookup_group(groups, g)?, &mut additional);
    }
    if group_part.is_none() {
        if let Some(name) = name {
            for g in groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == name))
            {
                push(g.gid, &mut additional);
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        home: home.filter(|h| !h.is_empty()),
        additional_gids: additional,
    })
}

fn lookup_group(groups: &[GroupEntry], g: &str) -> Result<u32, FilesError> {
    if let Some(e) = groups.iter().find(|e| e.name == g) {
        return Ok(e.gid);
    }
    g.parse::<u32>()
        .map_err(|_| FilesError::UnknownGroup(g.into()))
}

// ---------------------------------------------------------------------------
// Content of the generated files

/// One hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub ip: String,
    pub names: Vec<String>,
}

/// Parses hosts content: comments and lines without names are dropped.
pub fn parse_hosts(content: &str) -> Vec<HostEntry> {
    content
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let mut f = l.split_whitespace();
            let ip = f.next()?;
            let names: Vec<String> = f.map(String::from).collect();
            (!names.is_empty()).then(|| HostEntry {
                ip: ip.into(),
                names,
            })
        })
        .collect()
}

/// The hosts file: `--add-host` entries (`name:ip`), the base file's entries,
/// then `127.0.0.1 localhost`, `::1 localhost`, `host.containers.internal`
/// and the container's own entries, each keeping only names not yet present.
pub fn hosts_content(
    add_hosts: &[String],
    base: &str,
    host_internal_ip: Option<&str>,
    container: &[HostEntry],
) -> Result<String, FilesError> {
    let mut entries = Vec::new();
    for h in add_hosts {
        let (name, ip) = h.split_once(':').ok_or_else(|| FilesError::HostEntry {
            entry: h.clone(),
            msg: "incorrect format".into(),
        })?;
        if name.is_empty() {
            return Err(FilesError::HostEntry {
                entry: h.clone(),
                msg: "hostname is empty".into(),
            });
        }
        if ip.is_empty() {
            return Err(FilesError::HostEntry {
                entry: h.clone(),
                msg: "IP address is empty".into(),
            });
        }
        entries.push(HostEntry {
            ip: ip.into(),
            names: vec![name.into()],
        });
    }
    entries.extend(parse_hosts(base));
    let mut out = String::new();
    let mut seen: HashSet<String> = HashSet::new();
    for e in &entries {
        seen.extend(e.names.iter().cloned());
        out.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    let mut extra = vec![
        HostEntry {
            ip: "127.0.0.1".into(),
            names: vec!["localhost".into()],
        },
        HostEntry {
            ip: "::1".into(),
            names: vec!["localhost".into()],
        },
    ];
    if let Some(ip) = host_internal_ip {
        extra.push(HostEntry {
            ip: ip.into(),
            names: vec!["host.containers.internal".into()],
        });
    }
    extra.extend(container.iter().cloned());
    for e in extra {
        let free: Vec<String> = e.names.into_iter().filter(|n| !seen.contains(n)).collect();
        if !free.is_empty() {
            out.push_str(&format!("{}\t{}\n", e.ip, free.join(" ")));
        }
    }
    Ok(out)
}

fn is_localhost_ns(ns: &str) -> bool {
    let ns = ns.split('%').next().unwrap_or(ns);
    ns.starts_with("127.") || ns == "::1" || ns == "0:0:0:0:0:0:0:1"
}

/// The resolv.conf: the host's (`host`) search domains, nameservers and
/// options, each replaced by the `--dns*` values when given. Without
/// `keep_localhost` (the container has its own network namespace) localhost
/// nameservers are dropped; when none remain, Google's public servers are
/// used, as Podman does.
pub fn resolv_conf_content(
    host: &str,
    servers: &[String],
    search: &[String],
    options: &[String],
    keep_localhost: bool,
) -> String {
    let mut h_ns = Vec::new();
    let mut h_search = Vec::new();
    let mut h_opts = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => h_ns.extend(f.next().map(String::from)),
            Some("search") | Some("domain") => {
                h_search = f.map(String::from).collect();
            }
            Some("options") => h_opts.extend(f.map(String::from)),
            _ => {}
        }
    }
    let mut ns: Vec<String> = if servers.is_empty() {
        h_ns.into_iter()
            .filter(|n| keep_localhost || !is_localhost_ns(n))
            .collect()
    } else {
        servers.to_vec()
    };
    if ns.is_empty() && servers.is_empty() {
        ns = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let search: Vec<String> = if search.is_empty() {
        h_search
    } else if search.iter().any(|s| s == ".") {
        Vec::new()
    } else {
        search.to_vec()
    };
    let opts = if options.is_empty() {
        h_opts
    } else {
        options.to_vec()
    };
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for n in ns {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// `/run/.containerenv`: empty unless privileged, as Podman 4.3.1.
pub fn containerenv_content(cfg: &ContainerConfig, rootless: bool) -> String {
    if !cfg.security.privileged {
        return String::new();
    }
    let (image, image_id) = match &cfg.rootfs {
        RootfsSource::Image { id, name } => (name.as_str(), id.as_str()),
        _ => ("", ""),
    };
    format!(
        "engine=\"podman-rs-{}\"\nname=\"{}\"\nid=\"{}\"\nimage=\"{}\"\nimageid=\"{}\"\nrootless={}\n",
        env!("CARGO_PKG_VERSION"),
        cfg.name,
        cfg.id,
        image,
        image_id,
        u8::from(rootless)
    )
}

/// The container's hostname: `--hostname`, the host's with `--network host`,
/// else the first 12 characters of the id.
pub fn container_hostname(cfg: &ContainerConfig, host: &HostInfo) -> String {
    if !cfg.hostname.is_empty() {
        cfg.hostname.clone()
    } else if cfg.network == NetworkMode::Host {
        host.hostname.clone()
    } else {
        cfg.id.chars().take(12).collect()
    }
}

/// Which of the generated files a container gets (and so bind-mounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub hosts: bool,
    pub resolv_conf: bool,
    pub hostname: bool,
    pub containerenv: bool,
}

/// Podman 4.3.1: no hosts with `--no-hosts`; no resolv.conf with
/// `--network none`; no .containerenv with `--read-only` (its /run is a tmpfs).
pub fn planned(cfg: &ContainerConfig) -> Planned {
    Planned {
        hosts: !cfg.no_hosts,
        resolv_conf: cfg.network != NetworkMode::None,
        hostname: true,
        containerenv: !cfg.read_only,
    }
}

/// `content` (a passwd or group file) with `line` appended, unless an entry
/// of the same name or id (fields 1 and 3) is there already.
fn with_entry(content: Option<String>, line: &str) -> Option<String> {
    let fields: Vec<&str> = line.split(':').collect();
    let mut content = content.unwrap_or_default();
    let taken = content.lines().any(|l| {
        let f: Vec<&str> = l.split(':').collect();
        f.first() == fields.first() || (f.len() > 2 && f.get(2) == fields.get(2))
    });
    if taken {
        return None;
    }
    if !content.is_empty() && !content.ends_with('\n') {
        content.push('\n');
    }
    content.push_str(line);
    content.push('\n');
    Some(content)
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory renamed over `path`. Not fsync'd: these files are generated
/// again at every start, and a host crash ends the container anyway (four
/// fsyncs were ~5 ms of every start).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), FilesError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(contents).map_err(io_err("write", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err("rename", path))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Writes the container's hosts, resolv.conf, hostname and .containerenv
/// into `paths.userdata` (created if missing), as [`planned`] says.
pub fn write_container_files(
    cfg: &ContainerConfig,
    paths: &ContainerPaths,
    host: &HostInfo,
) -> Result<Planned, FilesError> {
    let plan = planned(cfg);
    std::fs::create_dir_all(&paths.userdata).map_err(io_err("mkdir", &paths.userdata))?;
    for (entry, file, path) in [
        (&cfg.userns.passwd_entry, PASSWD_FILE, "/etc/passwd"),
        (&cfg.userns.group_entry, GROUP_FILE, "/etc/group"),
    ] {
        let target = paths.userdata.join(file);
        let content = match entry {
            Some(line) => with_entry(read_rootfs_file(&paths.rootfs, path)?, line),
            None => None,
        };
        match content {
            Some(c) => write_atomic(&target, c.as_bytes())?,
            None => {
                let _ = std::fs::remove_file(&target);
            }
        }
    }
    let hostname = container_hostname(cfg, host);
    if plan.hosts {
        let own = match cfg.network {
            NetworkMode::Host => Vec::new(),
            _ => {
                let mut names = vec![hostname.clone()];
                if !cfg.name.is_empty() && cfg.name != hostname {
                    names.push(cfg.name.clone());
                }
                // slirp4netns gives the container an address of its own.
                let ip = match cfg.network {
                    NetworkMode::Slirp4netns(_) => super::slirp::CONTAINER_IP,
                    _ => "127.0.0.1",
                };
                vec![HostEntry {
                    ip: ip.into(),
                    names,
                }]
            }
        };
        let content = hosts_content(
            &cfg.add_hosts,
            &host.etc_hosts,
            host.host_ip.as_deref(),
            &own,
        )?;
        write_atomic(&paths.userdata.join(HOSTS_FILE), content.as_bytes())?;
    }
    if plan.resolv_conf {
        // slirp4netns's DNS forwarder first, as Podman lists it.
        let mut servers = cfg.dns_servers.clone();
        if matches!(cfg.network, NetworkMode::Slirp4netns(_)) && servers.is_empty() {
            let host_servers = host
                .resolv_conf
                .lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.starts_with("127.") && s != "::1");
            servers = std::iter::once(super::slirp::DNS_IP.to_string())
                .chain(host_servers)
                .collect();
        }
        let content = resolv_conf_content(
            &host.resolv_conf,
            &servers,
            &cfg.dns_search,
            &cfg.dns_options,
            cfg.network == NetworkMode::Host,
        );
        write_atomic(&paths.userdata.join(RESOLV_FILE), content.as_bytes())?;
    }
    // Podman 4.3.1 writes the hostname without a trailing newline.
    write_atomic(&paths.userdata.join(HOSTNAME_FILE), hostname.as_bytes())?;
    if plan.containerenv {
        write_atomic(
            &paths.userdata.join(CONTAINERENV_FILE),
            containerenv_content(cfg, host.rootless).as_bytes(),
        )?;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    // The rootfs used for the Podman runs recorded below.
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
        bob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\ndaemon:x:1:\nwheel:x:10:alice,root\n\
        alice:x:1000:\nbob:x:1001:alice\naudio:x:29:bob\n";

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(d.path().join("etc/group"), GROUP).unwrap();
        d
    }

    fn user(u: &str, ga: &[&str]) -> Result<ExecUser, FilesError> {
        let ga: Vec<String> = ga.iter().map(|s| s.to_string()).collect();
        resolve_user_in(&parse_passwd(PASSWD), &parse_group(GROUP), u, &ga)
    }

    fn eu(uid: u32, gid: u32, home: Option<&str>, gids: &[u32]) -> ExecUser {
        ExecUser {
            uid,
            gid,
            home: home.map(String::from),
            additional_gids: gids.to_vec(),
        }
    }

    // Expected values: `podman create --rootfs R [-u U] [--group-add G] sh`
    // + `podman init`, process.user and HOME of config.json (Podman 4.3.1).
    #[test]
    fn users_as_podman() {
        assert_eq!(user("", &[]).unwrap(), eu(0, 0, Some("/root"), &[10]));
        assert_eq!(
            user("alice", &[]).unwrap(),
            eu(1000, 1000, Some("/home/alice"), &[1000, 10, 1001])
        );
        assert_eq!(
            user("1000", &[]).unwrap(),
            eu(1000, 1000, Some("/home/alice"), &[1000, 10, 1001])
        );
        assert_eq!(
            user("1000:1001", &[]).unwrap(),
            eu(1000, 1001, Some("/home/alice"), &[1001])
        );
        assert_eq!(
            user("alice:audio", &[]).unwrap(),
            eu(1000, 29, Some("/home/alice"), &[29])
        );
        assert_eq!(user("5000", &[]).unwrap(), eu(5000, 0, None, &[0]));
        assert_eq!(
            user("5000:5000", &[]).unwrap(),
            eu(5000, 5000, Some("/"), &[5000])
        );
        assert_eq!(
            user("bob", &["audio", "77"]).unwrap(),
            eu(1001, 1001, Some("/home/bob"), &[1001, 29, 77])
        );
    }

    #[test]
    fn unknown_user_and_group_errors_are_podmans() {
        assert_eq!(
            user("nosuch", &[]).unwrap_err().to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        assert_eq!(
            user("alice:nogrp", &[]).unwrap_err().to_string(),
            "unable to find group nogrp: no matching entries in group file"
        );
        assert!(user("alice", &["nogrp"]).is_err());
    }

    #[test]
    fn user_lookup_reads_the_rootfs() {
        let d = rootfs();
        let u = resolve_user(d.path(), "alice", &[]).unwrap();
        assert_eq!(u.uid, 1000);
        // No passwd at all: root by uid, numeric uids allowed, names refused.
        let e = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_user(e.path(), "", &[]).unwrap(),
            eu(0, 0, None, &[])
        );
        assert!(resolve_user(e.path(), "alice", &[]).is_err());
    }

    #[test]
    fn symlinks_never_leave_the_rootfs() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "evil:x:0:0::/evil:/bin/sh\n").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::create_dir_all(d.path().join("real")).unwrap();
        std::fs::write(d.path().join("real/passwd"), PASSWD).unwrap();
        // Absolute link to a host path: resolved inside the rootfs.
        symlink(outside.path().join("passwd"), d.path().join("etc/passwd")).unwrap();
        assert_eq!(read_rootfs_file(d.path(), "/etc/passwd").unwrap(), None);
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        // `..` past the root stays at the root.
        symlink("../../../../real/passwd", d.path().join("etc/passwd")).unwrap();
        assert_eq!(
            read_rootfs_file(d.path(), "/etc/passwd")
                .unwrap()
                .as_deref(),
            Some(PASSWD)
        );
        // Absolute link, inside.
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        symlink("/real/passwd", d.path().join("etc/passwd")).unwrap();
        assert_eq!(
            read_rootfs_file(d.path(), "/etc/passwd")
                .unwrap()
                .as_deref(),
            Some(PASSWD)
        );
        // Loops are an error.
        symlink("loop", d.path().join("etc/loop")).unwrap();
        assert!(matches!(
            read_rootfs_file(d.path(), "/etc/loop"),
            Err(FilesError::SymlinkLoop { .. })
        ));
        let p = resolve_in_root(d.path(), "/../../x/../etc/passwd").unwrap();
        assert!(p.starts_with(d.path()), "{}", p.display());
    }

    // Host /etc/hosts of the VM the Podman runs were made on.
    const HOST_HOSTS: &str = "127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n";

    #[test]
    fn hosts_as_podman_network_none() {
        // podman create --name spec4-netnone --network none --rootfs R sh
        let want = "127.0.0.1\tlocalhost\n127.0.0.1\trunsc\n127.0.0.1\tvm\n\
            192.0.2.2\thost.containers.internal\n127.0.0.1\tcd55bc4e31b5 spec4-netnone\n";
        let own = [HostEntry {
            ip: "127.0.0.1".into(),
            names: vec!["cd55bc4e31b5".into(), "spec4-netnone".into()],
        }];
        assert_eq!(
            hosts_content(&[], HOST_HOSTS, Some("192.0.2.2"), &own).unwrap(),
            want
        );
    }

    #[test]
    fn hosts_add_host_first_and_no_duplicate_names() {
        // podman create --add-host foo:1.2.3.4 … : "1.2.3.4\tfoo" is the first line.
        let got = hosts_content(
            &["foo:1.2.3.4".into(), "v6:fe80::1".into()],
            "",
            None,
            &[HostEntry {
                ip: "127.0.0.1".into(),
                names: vec!["foo".into(), "ctr".into()],
            }],
        )
        .unwrap();
        assert_eq!(
            got,
            "1.2.3.4\tfoo\nfe80::1\tv6\n127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tctr\n"
        );
        assert!(hosts_content(&["nocolon".into()], "", None, &[]).is_err());
        assert!(hosts_content(&[":1.2.3.4".into()], "", None, &[]).is_err());
    }

    #[test]
    fn resolv_conf_rules() {
        // Podman default: the host's file.
        assert_eq!(
            resolv_conf_content("nameserver 10.255.255.53\n", &[], &[], &[], false),
            "nameserver 10.255.255.53\n"
        );
        // podman create --dns 1.1.1.1 --dns-search ex.com --dns-option ndots:2
        assert_eq!(
            resolv_conf_content(
                "nameserver 10.255.255.53\n",
                &["1.1.1.1".into()],
                &["ex.com".into()],
                &["ndots:2".into()],
                false
            ),
            "search ex.com\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
        let host = "# c\nsearch a b\nnameserver 127.0.0.53\nnameserver 9.9.9.9\noptions edns0\n";
        assert_eq!(
            resolv_conf_content(host, &[], &[], &[], false),
            "search a b\nnameserver 9.9.9.9\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_content(host, &[], &[], &[], true),
            "search a b\nnameserver 127.0.0.53\nnameserver 9.9.9.9\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_content("nameserver 127.0.0.1\n", &[], &[], &[], false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    fn host() -> HostInfo {
        HostInfo {
            hostname: "vm".into(),
            etc_hosts: HOST_HOSTS.into(),
            resolv_conf: "nameserver 10.255.255.53\n".into(),
            host_ip: Some("192.0.2.2".into()),
            ..HostInfo::default()
        }
    }

    #[test]
    fn writes_the_files() {
        let d = tempfile::tempdir().unwrap();
        let paths = ContainerPaths {
            userdata: d.path().join("userdata"),
            ..Default::default()
        };
        let mut cfg = ContainerConfig {
            id: "927ee64ae17512277062f33a4d61828b755e616a792fe6209c677b601ea56e27".into(),
            name: "spec4-priv".into(),
            ..Default::default()
        };
        let plan = write_container_files(&cfg, &paths, &host()).unwrap();
        assert!(plan.hosts && plan.resolv_conf && plan.containerenv);
        let read = |f: &str| std::fs::read_to_string(paths.userdata.join(f)).unwrap();
        assert_eq!(read(HOSTNAME_FILE), "927ee64ae175");
        assert_eq!(read(CONTAINERENV_FILE), "");
        assert_eq!(read(RESOLV_FILE), "nameserver 10.255.255.53\n");
        assert!(read(HOSTS_FILE).ends_with("127.0.0.1\t927ee64ae175 spec4-priv\n"));
        // podman create --privileged --name spec4-priv --rootfs R sh: .containerenv
        cfg.security.privileged = true;
        write_container_files(&cfg, &paths, &host()).unwrap();
        assert_eq!(
            read(CONTAINERENV_FILE),
            format!(
                "engine=\"podman-rs-{}\"\nname=\"spec4-priv\"\nid=\"{}\"\nimage=\"\"\nimageid=\"\"\nrootless=0\n",
                env!("CARGO_PKG_VERSION"),
                cfg.id
            )
        );
        // --network host: the host's name, no own entry; --network none: no resolv.conf.
        cfg.network = NetworkMode::Host;
        write_container_files(&cfg, &paths, &host()).unwrap();
        assert_eq!(read(HOSTNAME_FILE), "vm");
        assert_eq!(
            read(HOSTS_FILE),
            "127.0.0.1\tlocalhost\n127.0.0.1\trunsc\n127.0.0.1\tvm\n192.0.2.2\thost.containers.internal\n"
        );
        cfg.network = NetworkMode::None;
        std::fs::remove_file(paths.userdata.join(RESOLV_FILE)).unwrap();
        assert!(
            !write_container_files(&cfg, &paths, &host())
                .unwrap()
                .resolv_conf
        );
        assert!(!paths.userdata.join(RESOLV_FILE).exists());
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(&paths.userdata)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }
}
