//! Container root filesystems for podman-rs, assembled before the OCI
//! runtime runs: libcontainer has no hook before pivot_root, so the engine
//! mounts the rootfs here and points `config.json` `root.path` at the result.
//!
//! - [`OverlayMount`]: overlayfs of image layers, read-only or with an
//!   upper/work pair, any number of layers (up to overlayfs's 500) through
//!   the new mount API, see [`overlay`] for how layers reach the kernel.
//! - [`vfs`]: the copy-based fallback driver ([`copy_tree`], [`flatten_layers`]).
//! - [`mountinfo`]: /proc/self/mountinfo parsing, [`is_mounted`],
//!   [`unmount`] and [`unmount_all_under`] for cleanup.
//! - [`exploded`]: `--rootfs PATH[:O]`, [`exploded_rootfs_overlay`].
//! - [`idmap`]: idmapped lower layers; [`mapped_copy`]: ownership-shifted
//!   layer copies where idmapped mounts are refused.
//! - [`whiteout`]: overlay markers (whiteouts, opaque dirs) in layer dirs.
//!
//! Syscalls go through [`sys::Syscalls`]; the plain functions use
//! [`sys::RealSyscalls`] and each has a `*_with` twin taking another one.

mod error;
pub mod exploded;
pub mod idmap;
pub mod layers;
pub mod mapped_copy;
pub mod mountinfo;
pub mod overlay;
pub mod spread;
pub mod sys;
mod util;
pub mod vfs;
pub mod whiteout;
pub mod xattr;

pub use error::{Error, KernelLog, LayerRole, Result};
pub use exploded::{exploded_rootfs_overlay, RootfsSpec};
pub use layers::{
    chain_id, extract_layer, Compression, ExtractOptions, IdMap, LayerError, LayerInfo, LayerStore,
    PutLayer,
};
pub use mountinfo::{
    is_mounted, mounts_under, parse_mountinfo, read_mountinfo, unmount, unmount_all_under,
    MountInfoEntry, Unmounted,
};
pub use overlay::{probe_api, probe_native, MountApi, MountMethod, OverlayMount, OverlayOptions};
pub use vfs::{copy_tree, flatten_layers, CopyStats};
