//! `--userns`, `--uidmap`, `--gidmap`: Podman's modes and error texts, and
//! the maps a container's user namespace gets.
//!
//! Maps are stored in ids of the namespace the engine runs in: host ids as
//! root, ids of the rootless (pause) namespace rootless, where 0 is the
//! user and 1.. the subordinate ids (Podman 4.3.1 interprets rootless
//! `--uidmap` host ids the same way). The engine writes them itself into a
//! namespace it creates (see `podman_rs_namespaces::holder`).

use std::path::{Path, PathBuf};

use podman_rs_namespaces::{keep_id_layout, validate_id_maps, IdKind, IdMap};

use super::config::{ContainerConfig, UserNamespace, UsernsMode};
use super::error::ContainerError;

fn invalid(msg: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument(msg.into())
}

/// What the maps depend on besides the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernsContext {
    /// `None` as root; the rootless user's ids otherwise.
    pub rootless: Option<RootlessIds>,
}

/// The rootless user and the size of the pause namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RootlessIds {
    /// The user's uid and gid outside the namespace.
    pub uid: u32,
    pub gid: u32,
    /// How many subordinate uids (gids) the pause namespace maps (its ids
    /// `1..=count`): 0 when /etc/subuid has no range for the user.
    pub sub_uids: u32,
    pub sub_gids: u32,
}

impl UsernsContext {
    /// The calling process's: rootless when [`crate::rootless::is_rootless`],
    /// with the subordinate counts read from /proc/self/{uid,gid}_map
    /// (the pause namespace's maps; outside it, none).
    pub fn detect() -> UsernsContext {
        let env = crate::rootless::RootlessEnv::from_env();
        let Some(uid) = env.rootless_uid() else {
            return UsernsContext { rootless: None };
        };
        let gid = std::env::var(podman_rs_namespaces::pause::ROOTLESS_GID_ENV)
            .ok()
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| rustix::process::getegid().as_raw());
        let count = |file: &str| -> u32 {
            let total: u64 = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| podman_rs_namespaces::parse_id_map_file(&t).ok())
                .map(|maps| maps.iter().map(|m| u64::from(m.size)).sum())
                .unwrap_or(1);
            // The namespace's id 0 is the user.
            u32::try_from(total.saturating_sub(1)).unwrap_or(u32::MAX)
        };
        let in_ns = env.in_namespace();
        UsernsContext {
            rootless: Some(RootlessIds {
                uid,
                gid,
                sub_uids: if in_ns {
                    count("/proc/self/uid_map")
                } else {
                    0
                },
                sub_gids: if in_ns {
                    count("/proc/self/gid_map")
                } else {
                    0
                },
            }),
        }
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// Parses `--uidmap`/`--gidmap` values (`C:H:N`, several per value when
/// separated by commas). Podman's error names UID for both.
pub fn parse_id_maps(values: &[String]) -> Result<Vec<IdMap>, ContainerError> {
    let malformed = || {
        invalid(format!(
            "initializing ID mappings: UID setting is malformed expected [\"uint32:uint32:uint32\"]: {}",
            go_quoted_list(values)
        ))
    };
    let mut maps = Vec::new();
    for v in values {
        for item in v.split(',') {
            let fields: Vec<&str> = item.split(':').collect();
            let [c, h, n] = fields.as_slice() else {
                return Err(malformed());
            };
            let num = |s: &str| s.parse::<u32>().map_err(|_| malformed());
            maps.push(IdMap::new(num(c)?, num(h)?, num(n)?));
        }
    }
    Ok(maps)
}

/// Go's text of an errno (`no such file or directory`).
fn go_errno_text(e: &std::io::Error) -> String {
    let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => e.to_string(),
    }
}

/// The passwd and group lines `--userns=keep-id` adds for the user `uid`
/// (Podman: `name:*:uid:gid:gecos:home:/bin/sh`, home = the user's home
/// when a volume mounts it at the same path, else the working directory;
/// `name:x:gid:name`). `None` when the host has no name for the id.
pub fn keep_id_entries(
    uid: u32,
    gid: u32,
    mounts: &[super::config::Mount],
    workdir: &str,
) -> (Option<String>, Option<String>) {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return (None, None);
    };
    let mounted = mounts.iter().any(|m| m.destination == user.dir);
    let home = if mounted {
        user.dir.to_string_lossy().into_owned()
    } else {
        workdir.to_string()
    };
    let gecos = user.gecos.to_string_lossy().into_owned();
    let passwd = format!("{}:*:{uid}:{gid}:{gecos}:{home}:/bin/sh", user.name);
    let group = format!("{}:x:{gid}:{}", user.name, user.name);
    (Some(passwd), Some(group))
}

fn parse_keep_id_options(opts: &str) -> Result<(Option<u32>, Option<u32>), ContainerError> {
    let (mut uid, mut gid) = (None, None);
    for opt in opts.split(',') {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        let slot = match key {
            "uid" => &mut uid,
            "gid" => &mut gid,
            _ => return Err(invalid(format!("unknown option specified: {key:?}"))),
        };
        let n: u32 = value.parse().map_err(|_| {
            invalid(format!(
                "cannot parse UID value {value:?}: strconv.ParseUint: parsing {value:?}: invalid syntax"
            ))
        })?;
        *slot = Some(n);
    }
    Ok((uid, gid))
}

fn zero_ranges(mode: &str) -> ContainerError {
    // Podman 4.3.1 prints its wrapped nil error this way, literally.
    invalid(format!(
        "{mode} requires additional UIDs or GIDs defined in /etc/subuid and /etc/subgid to function correctly: %!w(<nil>)"
    ))
}

/// Checks rootless user-given maps against the pause namespace's size.
fn check_rootless_maps(kind: IdKind, maps: &[IdMap], available: u32) -> Result<(), ContainerError> {
    for m in maps {
        if m.host_end() > u64::from(available) + 1 {
            return Err(invalid(format!(
                "{kind} mapping {m} reaches past the rootless user namespace: it maps ids 0-{available} \
                 (0 is your own {kind}, 1-{available} the subordinate ids of /etc/sub{kind}); \
                 run `podman-rs unshare cat /proc/self/{kind}_map` to see it"
            )));
        }
    }
    Ok(())
}

/// `--userns`, `--uidmap`, `--gidmap` → the container's user namespace.
pub fn parse_userns(
    userns: Option<&str>,
    uidmap: &[String],
    gidmap: &[String],
    ctx: &UsernsContext,
) -> Result<UserNamespace, ContainerError> {
    let mode_text = userns.unwrap_or("");
    let maps_given = !uidmap.is_empty() || !gidmap.is_empty();
    if maps_given && !mode_text.is_empty() {
        return Err(invalid(
            "--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive",
        ));
    }
    if maps_given {
        let mut uid_map = parse_id_maps(uidmap)?;
        let mut gid_map = parse_id_maps(gidmap)?;
        // One given: the other copies it, as Podman does.
        if uid_map.is_empty() {
            uid_map = gid_map.clone();
        } else if gid_map.is_empty() {
            gid_map = uid_map.clone();
        }
        for (kind, maps) in [(IdKind::Uid, &uid_map), (IdKind::Gid, &gid_map)] {
            validate_id_maps(kind, maps)
                .map_err(|e| invalid(format!("initializing ID mappings: {e}")))?;
        }
        if let Some(r) = &ctx.rootless {
            check_rootless_maps(IdKind::Uid, &uid_map, r.sub_uids)?;
            check_rootless_maps(IdKind::Gid, &gid_map, r.sub_gids)?;
        }
        return Ok(UserNamespace {
            mode: UsernsMode::Private,
            uid_map,
            gid_map,
            ..UserNamespace::default()
        });
    }
    let (name, opts) = match mode_text.split_once(':') {
        Some((n, o)) => (n, Some(o)),
        None => (mode_text, None),
    };
    let mode = match (name, opts) {
        ("", None) => UsernsMode::Default,
        ("host", None) => UsernsMode::Host,
        ("private", None) => UsernsMode::Private,
        ("nomap", None) => UsernsMode::NoMap,
        ("keep-id", opts) => {
            if ctx.rootless.is_none() {
                return Err(invalid("keep-id is only supported in rootless mode"));
            }
            let (uid, gid) = match opts {
                Some(o) => parse_keep_id_options(o)?,
                None => (None, None),
            };
            UsernsMode::KeepId { uid, gid }
        }
        ("ns", Some(path)) => {
            if let Err(e) = std::fs::metadata(path) {
                return Err(invalid(format!(
                    "cannot find specified user namespace path: stat {path}: {}",
                    go_errno_text(&e)
                )));
            }
            UsernsMode::Path(PathBuf::from(path))
        }
        ("auto", _) => {
            return Err(invalid(
                "--userns=auto is not supported by podman-rs: it allocates no id ranges automatically; \
                 use --uidmap/--gidmap (or keep-id/nomap rootless)",
            ))
        }
        _ => {
            return Err(invalid(format!(
                "unrecognized namespace mode {mode_text} passed"
            )))
        }
    };
    let mut ns = UserNamespace {
        mode,
        ..Default::default()
    };
    match (&ns.mode, &ctx.rootless) {
        (UsernsMode::NoMap, None) => {
            return Err(invalid("nomap is only supported in rootless mode"));
        }
        (UsernsMode::Private, None) => {
            return Err(invalid(
                "must provide at least one UID or GID mapping to configure a user namespace",
            ));
        }
        (UsernsMode::KeepId { uid, gid }, Some(r)) => {
            if r.sub_uids == 0 || r.sub_gids == 0 {
                return Err(zero_ranges("keep-id"));
            }
            ns.uid_map = keep_id_layout(uid.unwrap_or(r.uid), r.sub_uids);
            ns.gid_map = keep_id_layout(gid.unwrap_or(r.gid), r.sub_gids);
        }
        (UsernsMode::NoMap, Some(r)) => {
            if r.sub_uids == 0 || r.sub_gids == 0 {
                return Err(zero_ranges("nomap"));
            }
            ns.uid_map = vec![IdMap::new(0, 1, r.sub_uids)];
            ns.gid_map = vec![IdMap::new(0, 1, r.sub_gids)];
        }
        (UsernsMode::Private, Some(r)) => {
            // A namespace of its own with the pause namespace's layout.
            let layout = |n: u32| {
                let mut v = vec![IdMap::new(0, 0, 1)];
                if n > 0 {
                    v.push(IdMap::new(1, 1, n));
                }
                v
            };
            ns.uid_map = layout(r.sub_uids);
            ns.gid_map = layout(r.sub_gids);
        }
        _ => {}
    }
    Ok(ns)
}

/// `HostConfig.IDMappings` as Podman prints it (`None`: omitted).
pub fn inspect_id_mappings(ns: &UserNamespace) -> Option<serde_json::Value> {
    if !ns.has_mappings() {
        return None;
    }
    let text = |maps: &[IdMap]| -> Vec<String> { maps.iter().map(|m| m.to_string()).collect() };
    Some(serde_json::json!({
        "UidMap": text(&ns.uid_map),
        "GidMap": text(&ns.gid_map),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> UsernsContext {
        UsernsContext::default()
    }

    fn user() -> UsernsContext {
        UsernsContext {
            rootless: Some(RootlessIds {
                uid: 1002,
                gid: 1002,
                sub_uids: 65536,
                sub_gids: 65536,
            }),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn err(r: Result<UserNamespace, ContainerError>) -> String {
        r.expect_err("must fail").to_string()
    }

    #[test]
    fn root_modes_as_podman() {
        assert_eq!(
            err(parse_userns(Some("keep-id"), &[], &[], &root())),
            "keep-id is only supported in rootless mode"
        );
        assert_eq!(
            err(parse_userns(Some("keep-id:uid=5"), &[], &[], &root())),
            "keep-id is only supported in rootless mode"
        );
        assert_eq!(
            err(parse_userns(Some("nomap"), &[], &[], &root())),
            "nomap is only supported in rootless mode"
        );
        assert_eq!(
            err(parse_userns(Some("bogus"), &[], &[], &root())),
            "unrecognized namespace mode bogus passed"
        );
        assert_eq!(
            err(parse_userns(Some("private"), &[], &[], &root())),
            "must provide at least one UID or GID mapping to configure a user namespace"
        );
        assert_eq!(
            err(parse_userns(Some("ns:/nonexist"), &[], &[], &root())),
            "cannot find specified user namespace path: stat /nonexist: no such file or directory"
        );
        assert!(err(parse_userns(Some("auto"), &[], &[], &root())).contains("not supported"));
        for m in ["", "host"] {
            let ns = parse_userns(Some(m), &[], &[], &root()).expect("ok");
            assert!(!ns.has_mappings());
            assert_eq!(ns.mode.inspect_text(), "");
        }
    }

    #[test]
    fn uidmap_parsing_as_podman() {
        let ns = parse_userns(None, &s(&["0:100000:65536"]), &[], &root()).expect("ok");
        assert_eq!(ns.mode, UsernsMode::Private);
        assert_eq!(ns.uid_map, vec![IdMap::new(0, 100000, 65536)]);
        assert_eq!(ns.gid_map, ns.uid_map);
        let ns = parse_userns(None, &[], &s(&["0:200000:10"]), &root()).expect("ok");
        assert_eq!(ns.uid_map, vec![IdMap::new(0, 200000, 10)]);
        let ns = parse_userns(
            None,
            &s(&["0:100000:65536", "65536:300000:10"]),
            &s(&["0:200000:1000"]),
            &root(),
        )
        .expect("ok");
        assert_eq!(
            inspect_id_mappings(&ns).expect("maps").to_string(),
            r#"{"GidMap":["0:200000:1000"],"UidMap":["0:100000:65536","65536:300000:10"]}"#
        );
        assert_eq!(
            err(parse_userns(None, &s(&["0:0"]), &[], &root())),
            r#"initializing ID mappings: UID setting is malformed expected ["uint32:uint32:uint32"]: ["0:0"]"#
        );
        assert_eq!(
            err(parse_userns(
                None,
                &[],
                &s(&["0:100000:10", "5:x:1"]),
                &root()
            )),
            r#"initializing ID mappings: UID setting is malformed expected ["uint32:uint32:uint32"]: ["0:100000:10" "5:x:1"]"#
        );
        assert_eq!(
            err(parse_userns(
                Some("host"),
                &s(&["0:100000:65536"]),
                &[],
                &root()
            )),
            "--userns and --uidmap/--gidmap/--subuidname/--subgidname are mutually exclusive"
        );
        assert!(err(parse_userns(
            None,
            &s(&["0:100000:10", "5:200000:10"]),
            &[],
            &root()
        ))
        .starts_with("initializing ID mappings: "));
    }

    #[test]
    fn rootless_modes_relative_to_the_pause_namespace() {
        let ns = parse_userns(Some("keep-id"), &[], &[], &user()).expect("ok");
        assert_eq!(
            ns.uid_map,
            vec![
                IdMap::new(0, 1, 1002),
                IdMap::new(1002, 0, 1),
                IdMap::new(1003, 1003, 64534)
            ]
        );
        assert_eq!(ns.mode.inspect_text(), "keep-id");
        let ns = parse_userns(Some("keep-id:uid=5,gid=6"), &[], &[], &user()).expect("ok");
        assert_eq!(ns.uid_map[1], IdMap::new(5, 0, 1));
        assert_eq!(ns.gid_map[1], IdMap::new(6, 0, 1));
        let ns = parse_userns(Some("nomap"), &[], &[], &user()).expect("ok");
        assert_eq!(ns.uid_map, vec![IdMap::new(0, 1, 65536)]);

        let none = UsernsContext {
            rootless: Some(RootlessIds {
                uid: 1003,
                gid: 1003,
                ..Default::default()
            }),
        };
        assert_eq!(
            err(parse_userns(Some("keep-id"), &[], &[], &none)),
            "keep-id requires additional UIDs or GIDs defined in /etc/subuid and /etc/subgid to function correctly: %!w(<nil>)"
        );
        assert_eq!(
            err(parse_userns(Some("nomap"), &[], &[], &none)),
            "nomap requires additional UIDs or GIDs defined in /etc/subuid and /etc/subgid to function correctly: %!w(<nil>)"
        );
        assert!(parse_userns(None, &s(&["0:1:65536"]), &[], &user()).is_ok());
        assert!(err(parse_userns(None, &s(&["0:0:70000"]), &[], &user()))
            .contains("reaches past the rootless user namespace"));
    }
}

/// The lower layers (bottom first) of a container with a user namespace of
/// its own, and the user namespace to idmap them through (`None`: the
/// layers are ownership-shifted copies, or need no shifting).
///
/// Real root idmaps the original layers (nothing copied) when the kernel
/// allows it for this filesystem; otherwise (rootless, or a refusal) a
/// shifted copy per mapping is built once under the top layer's directory
/// (`<layer>/mapped/<hash of the maps>/`, removed with the layer) and reused.
pub fn shifted_layers(
    cfg: &ContainerConfig,
    layers: Vec<PathBuf>,
    userns: Option<&Path>,
    allow_idmap: bool,
    fuse: Option<&Path>,
) -> Result<ShiftedLayers, ContainerError> {
    let id = cfg.id.as_str();
    if !cfg.userns.has_mappings() || layers.is_empty() {
        return Ok(ShiftedLayers {
            layers,
            idmap_userns: None,
            fuse_program: None,
            notice: None,
        });
    }
    let shift = podman_rs_rootfs::mapped_copy::OwnerShift {
        uid: cfg.userns.uid_map.clone(),
        gid: cfg.userns.gid_map.clone(),
    };
    let rootless = podman_rs_namespaces::rootless();
    if let (Some(ns), true, false) = (userns, allow_idmap, rootless) {
        match podman_rs_rootfs::idmap::probe_idmapped_lower(&layers[0], ns) {
            Ok(()) => {
                return Ok(ShiftedLayers {
                    layers,
                    idmap_userns: Some(ns.to_path_buf()),
                    fuse_program: None,
                    notice: None,
                })
            }
            Err(e) if podman_rs_rootfs::idmap::is_unsupported(e) => {
                tracing::debug!("container {id}: idmapped layers refused: {e}");
            }
            Err(e) => {
                return Err(ContainerError::Other(format!(
                    "container {id}: idmapping layer {}: {e}",
                    layers[0].display()
                )))
            }
        }
    }
    // The top layer's directory (`…/layers/<chain>/diff` → `…/layers/<chain>`).
    let top = layers
        .last()
        .and_then(|d| d.parent())
        .map(|p| p.join("mapped"))
        .ok_or_else(|| ContainerError::Other(format!("container {id}: no layer directory")))?;
    // A copy made earlier is used as it is (the kernel's overlayfs); with
    // none, fuse-overlayfs can present the original layers with the
    // container's ids (its uidmapping/gidmapping), so nothing is copied.
    if let Some(p) = fuse {
        if podman_rs_rootfs::mapped_copy::existing_mapped_layers(&layers, &shift, &top).is_none() {
            tracing::debug!(
                "container {id}: layers idmapped by {} (nothing copied)",
                p.display()
            );
            return Ok(ShiftedLayers {
                layers,
                idmap_userns: None,
                fuse_program: Some(p.to_path_buf()),
                notice: None,
            });
        }
    }
    let out =
        podman_rs_rootfs::mapped_copy::mapped_layers(&layers, &shift, &top).map_err(|source| {
            ContainerError::Rootfs {
                id: id.to_string(),
                source,
            }
        })?;
    let notice = out.created.then(|| {
        let why = if rootless {
            "the kernel refuses idmapped mounts of the image layers to a rootless user"
        } else if allow_idmap {
            "the kernel refused idmapped mounts of the image layers"
        } else {
            "the vfs driver cannot idmap the image layers"
        };
        format!(
            "{why}: made a copy of the image with the container's id mapping ({} files copied, {} linked, {} MiB); later containers with the same mapping reuse it",
            out.stats.copied,
            out.stats.linked,
            out.stats.bytes >> 20
        )
    });
    Ok(ShiftedLayers {
        layers: out.layers,
        idmap_userns: None,
        fuse_program: None,
        notice,
    })
}

/// The fuse-overlayfs that can idmap the original layers for a rootless
/// container (the kernel refuses idmapped mounts of them to a normal user):
/// the store's configured one, or one on PATH with a /dev/fuse the user can
/// open. `None` for root, the vfs driver, or a mount program that is not
/// fuse-overlayfs.
pub fn fuse_idmap_program(store: &crate::store::Store, driver: &str) -> Option<PathBuf> {
    if driver == "vfs" || !podman_rs_namespaces::rootless() {
        return None;
    }
    if let Ok(Some(p)) = store.setting(crate::rootless::MOUNT_PROGRAM_SETTING) {
        let p = PathBuf::from(p);
        let is_fuse_overlayfs = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("fuse-overlayfs"));
        return is_fuse_overlayfs.then_some(p);
    }
    crate::rootless::find_fuse_overlayfs().ok()
}

/// fuse-overlayfs's `uidmapping=`/`gidmapping=` options for `cfg`'s maps
/// (container:host:size triples, hosts in our namespace).
pub fn fuse_mapping_options(cfg: &ContainerConfig) -> Vec<String> {
    let fmt = |maps: &[podman_rs_namespaces::IdMap]| {
        maps.iter()
            .map(|m| format!("{}:{}:{}", m.container_id, m.host_id, m.size))
            .collect::<Vec<_>>()
            .join(":")
    };
    vec![
        format!("uidmapping={}", fmt(&cfg.userns.uid_map)),
        format!("gidmapping={}", fmt(&cfg.userns.gid_map)),
    ]
}

/// What [`shifted_layers`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftedLayers {
    /// The lower layers, bottom first.
    pub layers: Vec<PathBuf>,
    /// Idmap them through this user namespace.
    pub idmap_userns: Option<PathBuf>,
    /// Mount them with this fuse-overlayfs, idmapped by it.
    pub fuse_program: Option<PathBuf>,
    /// Said once, when a copy was made.
    pub notice: Option<String>,
}

/// At create: builds the shifted copy a container will need when it cannot
/// use idmapped layers (rootless, or the vfs driver), so that the notice
/// reaches the user and the first start does not pay for it. Returns the
/// notice when a copy was made.
pub fn prepare_shifted_layers(
    store: &crate::store::Store,
    cfg: &ContainerConfig,
    driver: &str,
) -> Result<Option<String>, ContainerError> {
    let super::config::RootfsSource::Image { id: image_id, .. } = &cfg.rootfs else {
        return Ok(None);
    };
    if !cfg.userns.has_mappings() || !(podman_rs_namespaces::rootless() || driver == "vfs") {
        return Ok(None);
    }
    let id = cfg.id.as_str();
    let layers = super::rootfs::image_layer_dirs(store, id, image_id)?;
    let fuse = fuse_idmap_program(store, driver);
    Ok(shifted_layers(cfg, layers, None, false, fuse.as_deref())?.notice)
}

/// Gives the container's root (the upper dir's top) to the container's
/// root user, so that it owns `/` as it would without a user namespace.
pub fn chown_upper(cfg: &ContainerConfig, upper: &Path) -> Result<(), ContainerError> {
    if !cfg.userns.has_mappings() {
        return Ok(());
    }
    let uid = podman_rs_namespaces::idmap::map_to_host(&cfg.userns.uid_map, 0);
    let gid = podman_rs_namespaces::idmap::map_to_host(&cfg.userns.gid_map, 0);
    nix::unistd::chown(
        upper,
        uid.map(nix::unistd::Uid::from_raw),
        gid.map(nix::unistd::Gid::from_raw),
    )
    .map_err(|e| ContainerError::io(&cfg.id, "chown", upper)(e.into()))
}

/// Gives the generated files the container bind-mounts (hosts, hostname,
/// resolv.conf, .containerenv) to the container's root user, as Podman does.
pub fn chown_userdata_files(cfg: &ContainerConfig, userdata: &Path) -> Result<(), ContainerError> {
    if !cfg.userns.has_mappings() {
        return Ok(());
    }
    let uid = podman_rs_namespaces::idmap::map_to_host(&cfg.userns.uid_map, 0);
    let gid = podman_rs_namespaces::idmap::map_to_host(&cfg.userns.gid_map, 0);
    let entries =
        std::fs::read_dir(userdata).map_err(ContainerError::io(&cfg.id, "reading", userdata))?;
    for e in entries.flatten() {
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        nix::unistd::chown(
            &path,
            uid.map(nix::unistd::Uid::from_raw),
            gid.map(nix::unistd::Gid::from_raw),
        )
        .map_err(|err| ContainerError::io(&cfg.id, "chown", &path)(err.into()))?;
    }
    Ok(())
}
