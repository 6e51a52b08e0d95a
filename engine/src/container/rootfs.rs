//! A container's root filesystem: stacked from the image's layers (overlay,
//! with a per-container upper/work), copied (vfs), or a `--rootfs`
//! directory (as is, or under an overlay with `:O`).

use std::fs;
use std::path::{Path, PathBuf};

use podman_rs_rootfs::{
    exploded_rootfs_overlay, flatten_layers, mountinfo, OverlayMount, OverlayOptions,
};

use super::config::{ContainerConfig, RootfsSource};
use super::error::ContainerError;
use super::layout::Layout;
use crate::store::Store;

fn rootfs_err(id: &str) -> impl FnOnce(podman_rs_rootfs::Error) -> ContainerError {
    let id = id.to_string();
    move |source| ContainerError::Rootfs { id, source }
}

/// The layer directories of image `image_id` (bottom first), for container `id`.
pub fn image_layer_dirs(
    store: &Store,
    id: &str,
    image_id: &str,
) -> Result<Vec<PathBuf>, ContainerError> {
    let image = store
        .lookup_image(image_id, &[])
        .map_err(|e| ContainerError::Other(format!("container {id}: image: {e}")))?;
    store
        .layers()
        .layer_dirs(&image.layers)
        .map_err(|e| ContainerError::Other(format!("container {id}: layers: {e}")))
}

/// Makes the container's root filesystem available and returns its path.
/// Idempotent: an already mounted overlay is reused.
pub fn mount(
    layout: &Layout,
    store: &Store,
    driver: &str,
    cfg: &ContainerConfig,
    userns: Option<&Path>,
) -> Result<PathBuf, ContainerError> {
    let id = cfg.id.as_str();
    match &cfg.rootfs {
        RootfsSource::Image { id: image_id, .. } => {
            let layers = image_layer_dirs(store, id, image_id)?;
            // A user namespace of its own: idmapped or shifted layers.
            // Only a container with its own mapping may need it (a store
            // query, a PATH search and /dev/fuse opened: not on every run).
            let fuse = cfg
                .userns
                .has_mappings()
                .then(|| super::userns::fuse_idmap_program(store, driver))
                .flatten();
            let shifted = super::userns::shifted_layers(
                cfg,
                layers,
                userns,
                driver != "vfs",
                fuse.as_deref(),
            )?;
            if let Some(n) = &shifted.notice {
                tracing::warn!("container {id}: {n}");
            }
            let (layers, idmap_userns, fuse_idmap) =
                (shifted.layers, shifted.idmap_userns, shifted.fuse_program);
            if driver == "vfs" {
                let target = layout.vfs_rootfs(id);
                if !target.exists() {
                    let tmp = layout.container_dir(id).join("rootfs.tmp");
                    let _ = fs::remove_dir_all(&tmp);
                    let dir = layout.container_dir(id);
                    fs::create_dir_all(&dir).map_err(ContainerError::io(id, "creating", &dir))?;
                    // The whole image is copied here: start it in a fresh
                    // block group (podman_rs_rootfs::spread).
                    podman_rs_rootfs::spread::spread_subdirectories(&dir);
                    fs::create_dir_all(&tmp).map_err(ContainerError::io(id, "creating", &tmp))?;
                    flatten_layers(&layers, &tmp).map_err(rootfs_err(id))?;
                    fs::rename(&tmp, &target)
                        .map_err(ContainerError::io(id, "renaming", &target))?;
                }
                return Ok(target);
            }
            // overlayfs wants the top-most layer first.
            let mut lower = layers;
            lower.reverse();
            let upper = layout.upper(id);
            let work = layout.work(id);
            let target = layout.merged(id);
            for d in [&upper, &work, &target] {
                fs::create_dir_all(d).map_err(ContainerError::io(id, "creating", d))?;
            }
            if is_mounted(&target) {
                return Ok(target);
            }
            // fuse-overlayfs maps the upper's owners too: it stays ours.
            if fuse_idmap.is_none() {
                super::userns::chown_upper(cfg, &upper)?;
            }
            // `--rm` (as Podman does): a volatile overlay, never synced. Its
            // unmount then skips a sync of the whole upper file system, and
            // files removed with the container are never written back.
            let volatile = cfg.auto_remove;
            if volatile {
                // Left by an earlier volatile mount: the kernel refuses to
                // mount over it (the upper is thrown away with the container).
                let _ = fs::remove_dir_all(work.join("incompat"));
            }
            // `--read-only` is the spec's root.readonly: the overlay itself
            // stays writable so that the engine can still prepare it.
            // In the rootless user namespace overlay keeps its metadata in
            // user.* xattrs (as the layers were extracted).
            let in_userns = podman_rs_namespaces::in_user_namespace();
            let ov = OverlayMount::new(lower, &target)
                .with_options(OverlayOptions {
                    userxattr: in_userns,
                    idmap_userns,
                    volatile,
                    ..OverlayOptions::default()
                })
                .with_upper(upper, work);
            // Only a rootless store's probe records one (choose_driver).
            let program = match in_userns {
                true => store
                    .setting(crate::rootless::MOUNT_PROGRAM_SETTING)
                    .map_err(|e| ContainerError::Other(format!("container {id}: {e}")))?,
                false => None,
            };
            if let Some(p) = &fuse_idmap {
                let maps = super::userns::fuse_mapping_options(cfg);
                ov.mount_program_with(p, &maps).map_err(rootfs_err(id))?;
                return Ok(target);
            }
            match program {
                Some(p) => ov.mount_program(Path::new(&p)).map_err(rootfs_err(id))?,
                None => {
                    ov.mount().map_err(rootfs_err(id))?;
                }
            }
            Ok(target)
        }
        RootfsSource::Path { path, overlay } => {
            if !*overlay {
                return Ok(path.clone());
            }
            let dir = layout.container_dir(id);
            fs::create_dir_all(&dir).map_err(ContainerError::io(id, "creating", &dir))?;
            let ov = exploded_rootfs_overlay(path, &dir).map_err(rootfs_err(id))?;
            let target = ov.target.clone();
            if !is_mounted(&target) {
                ov.mount().map_err(rootfs_err(id))?;
            }
            Ok(target)
        }
        RootfsSource::None => Err(ContainerError::Other(format!(
            "container {id}: no root filesystem configured"
        ))),
    }
}

/// Unmounts what [`mount`] mounted (nothing for vfs or a plain `--rootfs`).
/// A target that is not mounted is fine.
pub fn unmount(layout: &Layout, cfg: &ContainerConfig) -> Result<(), ContainerError> {
    let id = cfg.id.as_str();
    let target = match &cfg.rootfs {
        RootfsSource::Path { overlay: true, .. } => layout
            .container_dir(id)
            .join(podman_rs_rootfs::exploded::MERGED_DIR),
        RootfsSource::Path { .. } | RootfsSource::None => return Ok(()),
        RootfsSource::Image { .. } => layout.merged(id),
    };
    unmount_path(id, &target)
}

fn unmount_path(id: &str, target: &Path) -> Result<(), ContainerError> {
    // A mount may be stacked more than once after a crash: unmount until
    // nothing is left.
    for _ in 0..8 {
        if !is_mounted(target) {
            return Ok(());
        }
        if let Err(e) = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH) {
            return Err(ContainerError::io(id, "unmounting", target)(e.into()));
        }
    }
    Ok(())
}

/// Removes the container's files: run state and persistent directory.
///
/// The subtrees go in parallel. On a file system that discards freed blocks
/// at once (ext4 `-o discard` without a journal) every directory removed
/// waits for the device; in parallel those waits overlap.
pub fn remove_files(layout: &Layout, id: &str) -> Result<(), ContainerError> {
    let container_dir = layout.container_dir(id);
    let mut trees = vec![layout.run_dir(id)];
    if let Ok(entries) = fs::read_dir(&container_dir) {
        trees.extend(entries.flatten().map(|e| e.path()));
    }
    let failed = remove_trees(&trees).or_else(|| remove_tree(&container_dir).err());
    let sock = layout.attach_socket(id);
    let _ = fs::remove_file(sock);
    match failed {
        Some((path, e)) => Err(ContainerError::io(id, "removing", path)(e)),
        None => Ok(()),
    }
}

/// Removes each of `paths` (a directory tree or a file), one thread per
/// path; returns the first failure.
fn remove_trees(paths: &[PathBuf]) -> Option<(PathBuf, std::io::Error)> {
    let (first, rest) = paths.split_first()?;
    std::thread::scope(|s| {
        let spawned: Vec<_> = rest
            .iter()
            .map(|p| {
                let handle = std::thread::Builder::new().spawn_scoped(s, move || remove_tree(p));
                (p, handle)
            })
            .collect();
        let mut failed = remove_tree(first).err();
        for (p, handle) in spawned {
            let result = match handle {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err((p.clone(), std::io::Error::other("removal thread panicked")))
                }),
                // No thread to be had: do it here.
                Err(_) => remove_tree(p),
            };
            if let (None, Err(e)) = (&failed, result) {
                failed = Some(e);
            }
        }
        failed
    })
}

/// Removes a directory tree or a file; a missing one is fine.
fn remove_tree(path: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((path.to_path_buf(), e)),
        _ => Ok(()),
    }
}

/// Whether `path` is a mount point (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    mountinfo::is_mounted(path).unwrap_or(false)
}

/// Bytes used by the container's writable layer (`ps --size` RwSize).
pub fn rw_size(layout: &Layout, id: &str) -> u64 {
    dir_size(&layout.upper(id))
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}
