//! The on-disk layer store's extraction step: image layer blobs (tar, gzip or
//! zstd) unpacked into overlayfs-ready directories.
//!
//! - [`extract_layer`] streams one blob into a directory, computing the diff
//!   ID (sha256 of the uncompressed tar) and optionally checking the blob's
//!   digest, refusing hostile entries, and turning OCI whiteouts into
//!   overlayfs ones (0/0 char devices, opaque xattr).
//! - [`LayerStore`] keeps `layers/<chain-id hex>/diff` under a root,
//!   installs layers atomically (temp dir + rename, under a per-layer flock)
//!   and lists a chain's dirs in overlay lowerdir order.
//!
//! # Path safety
//!
//! Every entry is created with `*at` syscalls relative to a directory fd
//! obtained by `openat2(dest_fd, parent, O_PATH|O_DIRECTORY,
//! RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)`. The kernel then refuses (EXDEV)
//! any parent path that leaves `dest` by `..`, an absolute symlink, or a
//! chain of symlinks, and the check and the use are the same fd, so nothing
//! can swap a component in between. The last component is never followed
//! (O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, existing entries are unlinked first).
//! Entry names are also checked lexically first (absolute, `..` above the
//! root) so the error says what was wrong.

mod error;
mod extract;
mod store;

pub use error::{LayerError, LayerResult};
pub use extract::{extract_layer, Compression, ExtractOptions, IdMap, LayerInfo};
pub use store::{chain_id, LayerStore, PutLayer};
