//! Linux namespaces for podman-rs.
//!
//! - [`subid`]: /etc/subuid and /etc/subgid.
//! - [`idmap`]: [`IdMap`] (one uid_map/gid_map line), validation, text forms,
//!   conversion to/from the OCI spec, composition.
//! - [`rootless`](mod@rootless): the ids a user may map ([`AllowedIds`]) and Podman's
//!   rootless layouts (default, single-id fallback, keep-id), validation of
//!   user-supplied maps, [`rootless()`] / [`in_user_namespace()`].
//! - [`writer`]: writing the maps of a process, directly or through
//!   newuidmap/newgidmap ([`MapWriter`]).
//! - [`handle`]: opening namespace files, checking their type, setns
//!   ([`NamespaceFile`]).
//! - [`pause`]: the rootless pause process: joining or creating the
//!   user + mount namespace every rootless command runs in.
//! - [`netns`]: persistent network namespace files (`ip netns add/delete`).
//!
//! System calls used by the mapping and joining logic go through the
//! [`Syscall`] trait; `fake::FakeSyscall` (feature `test-utils`) stands in
//! for them in unit tests.

pub mod error;
#[cfg(any(test, feature = "test-utils"))]
pub mod fake;
pub mod handle;
pub mod holder;
pub mod idmap;
pub mod netns;
pub mod nstype;
pub mod pause;
pub mod rootless;
pub mod subid;
pub mod syscall;
pub mod writer;

pub use error::{Error, Result};
pub use handle::{join_namespace, namespace_id, namespace_type_of, NamespaceFile, NamespaceId};
pub use holder::UsernsHolder;
pub use idmap::{
    compose_id_maps, format_id_map_file, parse_id_map_file, validate_id_maps, IdKind, IdMap,
};
pub use netns::{
    create_netns, create_netns_with_loopback, generate_netns_name, open_netns, persist_netns,
    remove_netns, NETNS_RUN_DIR,
};
pub use nstype::NamespaceType;
pub use rootless::{in_user_namespace, keep_id_layout, rootless, AllowedIds, IdMappings};
pub use subid::{SubIdFile, SubIdRange, SUBGID_PATH, SUBUID_PATH};
pub use syscall::{LinuxSyscall, Syscall};
pub use writer::{write_id_mappings, MapWriter, WriteMethod};
