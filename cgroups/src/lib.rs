//! podman-rs cgroups: one manager for a container's cgroup over cgroup v1
//! (legacy and hybrid layouts) and cgroup v2 (unified).
//!
//! Creating a cgroup and applying limits is libcgroups' job (libcontainer
//! does it when it starts a container; [`Cgroup::add_task`] and
//! [`Cgroup::apply`] expose the same code). This crate adds what the engine
//! needs afterwards: list processes, read stats and limits back, freeze and
//! thaw, count OOM kills, remove the cgroup without killing anything, and
//! tell whether the caller may create cgroups at all.
//!
//! ```no_run
//! use podman_rs_cgroups::{Cgroup, CgroupMode};
//!
//! # fn main() -> podman_rs_cgroups::Result<()> {
//! println!("cgroup mode: {}", CgroupMode::detect()?);
//! let cg = Cgroup::open("/podman/0123abcd")?;
//! if cg.exists() {
//!     println!("pids: {:?}", cg.pids()?);
//!     println!("{:?}", cg.stats()?);
//! }
//! # Ok(())
//! # }
//! ```

mod cgroup;
mod error;
mod fsutil;
mod mode;
mod prime;
mod stats;

pub use cgroup::{
    can_manage, check_manage, Cgroup, CgroupDir, FreezerState, DEFAULT_REMOVE_TIMEOUT,
    FREEZE_TIMEOUT,
};
pub use error::{Error, Result};
pub use mode::{
    hierarchies, parse_mountinfo, CgroupMode, CgroupVersion, Hierarchy, DEFAULT_CGROUP_ROOT,
};
pub use prime::prime_migration;
pub use stats::{CpuStats, IoDeviceStats, IoStats, Limits, MemoryStats, PidsStats, Stats};
