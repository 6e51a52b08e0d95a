//! Rootless id mappings: what an unprivileged user may map ([`AllowedIds`]),
//! the mappings Podman builds from that (default, single-id fallback,
//! keep-id), validation of user-supplied maps, and rootless detection.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Linux;

use crate::error::{Error, Result};
use crate::idmap::{
    compose_id_maps, display_id_maps, parse_id_map_file, to_oci_mappings, validate_id_maps, IdKind,
    IdMap, ID_LIMIT,
};
use crate::subid::{SubIdFile, SubIdRange};
use crate::syscall::{LinuxSyscall, Syscall};

/// The host ids one user may map for one [`IdKind`]: their own id plus their
/// subordinate ranges.
///
/// The ranges are kept in file order, minus the user's own id and any part
/// already listed earlier, so mappings built from them never overlap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedIds {
    kind: IdKind,
    host_id: u32,
    ranges: Vec<SubIdRange>,
    /// Where the ranges came from (for messages).
    source: Option<PathBuf>,
}

/// Half-open u64 interval arithmetic: `[s, e)` minus `[ts, te)`.
fn subtract(s: u64, e: u64, ts: u64, te: u64) -> Vec<(u64, u64)> {
    if te <= s || ts >= e {
        return vec![(s, e)];
    }
    let mut out = Vec::new();
    if s < ts {
        out.push((s, ts));
    }
    if te < e {
        out.push((te, e));
    }
    out
}

fn to_range(s: u64, e: u64) -> Option<SubIdRange> {
    Some(SubIdRange::new(
        u32::try_from(s).ok()?,
        u32::try_from(e - s).ok()?,
    ))
}

fn fmt_interval(start: u64, end: u64) -> String {
    if end == start + 1 {
        start.to_string()
    } else {
        format!("{start}-{}", end - 1)
    }
}

impl AllowedIds {
    /// `host_id` (the user's own uid or gid) plus `ranges`.
    pub fn new(kind: IdKind, host_id: u32, ranges: &[SubIdRange]) -> Self {
        let mut taken: Vec<(u64, u64)> = vec![(u64::from(host_id), u64::from(host_id) + 1)];
        let mut out = Vec::new();
        for r in ranges {
            let mut pieces = vec![(u64::from(r.start), r.end().min(ID_LIMIT))];
            for &(ts, te) in &taken {
                pieces = pieces
                    .into_iter()
                    .flat_map(|(s, e)| subtract(s, e, ts, te))
                    .filter(|(s, e)| s < e)
                    .collect();
            }
            if pieces.len() != 1 || pieces[0] != (u64::from(r.start), r.end()) {
                tracing::warn!(
                    %kind, host_id, start = r.start, count = r.count,
                    "subordinate range overlaps the user's own id or an earlier range; using only the rest"
                );
            }
            for (s, e) in pieces {
                if let Some(range) = to_range(s, e) {
                    out.push(range);
                    taken.push((s, e));
                }
            }
        }
        AllowedIds {
            kind,
            host_id,
            ranges: out,
            source: None,
        }
    }

    /// The ids of the calling user: real uid (or gid) and the ranges of the
    /// user (by name and by uid) in /etc/subuid (or /etc/subgid).
    pub fn for_current_user(kind: IdKind) -> Result<Self> {
        Self::for_current_user_with(&LinuxSyscall, kind)
    }

    /// [`AllowedIds::for_current_user`] through `sys`.
    pub fn for_current_user_with(sys: &dyn Syscall, kind: IdKind) -> Result<Self> {
        let uid = sys.getuid();
        let host_id = match kind {
            IdKind::Uid => uid,
            IdKind::Gid => sys.getgid(),
        };
        Self::for_user_with(sys, kind, uid, host_id, Path::new(kind.subid_file()))
    }

    /// The ids of the user `uid` whose own id of this kind is `host_id`, with
    /// ranges read from `subid_path` (entries matched by the user's name or
    /// by `uid`). A missing file means no ranges.
    pub fn for_user_with(
        sys: &dyn Syscall,
        kind: IdKind,
        uid: u32,
        host_id: u32,
        subid_path: &Path,
    ) -> Result<Self> {
        let name = sys
            .user_name(uid)
            .map_err(|source| Error::UserLookup { uid, source })?;
        let file = SubIdFile::load_with(sys, subid_path)?;
        let ranges = file.ranges_for(name.as_deref(), uid);
        if ranges.is_empty() {
            tracing::warn!(
                uid,
                user = name.as_deref().unwrap_or(""),
                path = %subid_path.display(),
                "no subordinate {kind} ranges for the user: only the user's own id can be mapped"
            );
        }
        let mut allowed = Self::new(kind, host_id, &ranges);
        allowed.source = Some(subid_path.to_path_buf());
        Ok(allowed)
    }

    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The user's own id.
    pub fn host_id(&self) -> u32 {
        self.host_id
    }

    /// The usable subordinate ranges (see the type's documentation).
    pub fn ranges(&self) -> &[SubIdRange] {
        &self.ranges
    }

    /// Podman's default rootless layout: container id 0 is the user's own
    /// id, container ids 1.. are the subordinate ranges one after the other.
    /// Without ranges it is the single-id fallback `0 → own id`.
    pub fn default_mappings(&self) -> Vec<IdMap> {
        let mut maps = vec![IdMap::new(0, self.host_id, 1)];
        let mut next: u32 = 1;
        for r in &self.ranges {
            // Container ids must stay below u32::MAX.
            let room = u32::MAX - next;
            if room == 0 {
                break;
            }
            let size = r.count.min(room);
            maps.push(IdMap::new(next, r.start, size));
            next += size;
        }
        maps
    }

    /// How many subordinate ids [`AllowedIds::default_mappings`] maps (the
    /// size of the rootless namespace minus one).
    pub fn subordinate_count(&self) -> u32 {
        self.default_mappings()
            .iter()
            .skip(1)
            .map(|m| m.size)
            .fold(0u32, u32::saturating_add)
    }

    /// Podman's `--userns=keep-id[:uid=N]` mappings, in host ids: container
    /// id `container_id` (default: the user's own id) is the user's own id,
    /// the ids below and above it are the subordinate ids in order. See
    /// [`keep_id_layout`].
    pub fn keep_id_mappings(&self, container_id: Option<u32>) -> Result<Vec<IdMap>> {
        let id = container_id.unwrap_or(self.host_id);
        let layout = keep_id_layout(id, self.subordinate_count());
        let maps = compose_id_maps(self.kind, &layout, &self.default_mappings())?;
        validate_id_maps(self.kind, &maps)?;
        Ok(maps)
    }

    fn allowed_intervals(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> =
            std::iter::once((u64::from(self.host_id), u64::from(self.host_id) + 1))
                .chain(self.ranges.iter().map(|r| (u64::from(r.start), r.end())))
                .collect();
        v.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    fn describe(&self) -> String {
        let mut text = format!("own {} {}", self.kind, self.host_id);
        if self.ranges.is_empty() {
            text.push_str(", no subordinate ranges");
        } else {
            let ranges: Vec<String> = self
                .ranges
                .iter()
                .map(|r| fmt_interval(u64::from(r.start), r.end()))
                .collect();
            text.push_str(&format!(", subordinate ranges {}", ranges.join(", ")));
        }
        if let Some(source) = &self.source {
            text.push_str(&format!(" (from {})", source.display()));
        }
        text
    }

    /// Checks mappings whose host ids are host ids (e.g. a rootless
    /// `--uidmap` with host-absolute ids): valid for the kernel, and every
    /// host id is the user's own id or a subordinate one.
    pub fn validate(&self, maps: &[IdMap]) -> Result<()> {
        validate_id_maps(self.kind, maps)?;
        let allowed = self.allowed_intervals();
        for m in maps {
            let (s, e) = (u64::from(m.host_id), m.host_end());
            if !allowed.iter().any(|&(a, b)| a <= s && e <= b) {
                return Err(Error::IdMapNotAllowed {
                    kind: self.kind,
                    map: *m,
                    reason: format!(
                        "host ids {} are not all allowed: {}",
                        fmt_interval(s, e),
                        self.describe()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Interprets user-supplied mappings the way rootless Podman interprets
    /// `--uidmap`/`--gidmap`: their "host" ids are ids of the rootless user
    /// namespace ([`AllowedIds::default_mappings`]: 0 is the user,
    /// 1.. the subordinate ids). Returns the same mappings in host ids, or an
    /// error naming the first mapping that reaches past the user's ids.
    pub fn resolve_user_mappings(&self, maps: &[IdMap]) -> Result<Vec<IdMap>> {
        validate_id_maps(self.kind, maps)?;
        let outer = self.default_mappings();
        let resolved = compose_id_maps(self.kind, maps, &outer).map_err(|e| match e {
            Error::IdMapNotAllowed { kind, map, reason } => Error::IdMapNotAllowed {
                kind,
                map,
                reason: format!(
                    "{reason}; the rootless namespace maps {} ({})",
                    display_id_maps(&outer),
                    self.describe()
                ),
            },
            other => other,
        })?;
        validate_id_maps(self.kind, &resolved)?;
        Ok(resolved)
    }
}

/// Podman's keep-id layout, relative to the rootless user namespace (whose
/// id 0 is the user and ids `1..=available` the subordinate ids): container
/// ids `0..id` are ids `1..`, container id `id` is id 0, container ids above
/// `id` are the remaining subordinate ids (same numbers).
pub fn keep_id_layout(id: u32, available: u32) -> Vec<IdMap> {
    let mut maps = Vec::with_capacity(3);
    let below = id.min(available);
    if below > 0 {
        maps.push(IdMap::new(0, 1, below));
    }
    maps.push(IdMap::new(id, 0, 1));
    if available > id {
        // id < available <= u32::MAX: id + 1 does not overflow.
        maps.push(IdMap::new(id + 1, id + 1, available - id));
    }
    maps
}

/// Uid and gid mappings of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMappings {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
}

impl IdMappings {
    /// Podman's default rootless mappings for the calling user.
    pub fn rootless_default() -> Result<Self> {
        Self::rootless_default_with(&LinuxSyscall)
    }

    pub fn rootless_default_with(sys: &dyn Syscall) -> Result<Self> {
        Ok(IdMappings {
            uid: AllowedIds::for_current_user_with(sys, IdKind::Uid)?.default_mappings(),
            gid: AllowedIds::for_current_user_with(sys, IdKind::Gid)?.default_mappings(),
        })
    }

    /// `--userns=keep-id[:uid=U,gid=G]` for the calling user.
    pub fn rootless_keep_id(uid: Option<u32>, gid: Option<u32>) -> Result<Self> {
        Self::rootless_keep_id_with(&LinuxSyscall, uid, gid)
    }

    pub fn rootless_keep_id_with(
        sys: &dyn Syscall,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<Self> {
        Ok(IdMappings {
            uid: AllowedIds::for_current_user_with(sys, IdKind::Uid)?.keep_id_mappings(uid)?,
            gid: AllowedIds::for_current_user_with(sys, IdKind::Gid)?.keep_id_mappings(gid)?,
        })
    }

    /// Sets `linux.uidMappings` / `linux.gidMappings`.
    pub fn apply_to(&self, linux: &mut Linux) {
        linux.set_uid_mappings(Some(to_oci_mappings(&self.uid)));
        linux.set_gid_mappings(Some(to_oci_mappings(&self.gid)));
    }
}

const SELF_UID_MAP: &str = "/proc/self/uid_map";

/// Whether the calling process is in a user namespace other than the
/// initial one (its uid_map is not the identity `0 0 4294967295`).
pub fn in_user_namespace() -> bool {
    in_user_namespace_with(&LinuxSyscall)
}

/// [`in_user_namespace`] through `sys`.
pub fn in_user_namespace_with(sys: &dyn Syscall) -> bool {
    let content = match sys.read_file(Path::new(SELF_UID_MAP)) {
        Ok(c) => c,
        // No /proc/self/uid_map: a kernel without user namespaces.
        Err(_) => return false,
    };
    match parse_id_map_file(&content) {
        Ok(maps) => maps != [IdMap::new(0, 0, u32::MAX)],
        Err(err) => {
            tracing::warn!(%err, "cannot parse {SELF_UID_MAP}");
            false
        }
    }
}

/// Whether podman-rs runs rootless: the effective uid is not 0, or the
/// process is root inside a user namespace (e.g. rootless Podman's own
/// namespace), where it lacks the host's privileges.
pub fn rootless() -> bool {
    rootless_with(&LinuxSyscall)
}

/// [`rootless`] through `sys`.
pub fn rootless_with(sys: &dyn Syscall) -> bool {
    sys.geteuid() != 0 || in_user_namespace_with(sys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeSyscall;

    fn alice() -> FakeSyscall {
        FakeSyscall::new(1000, 1000)
            .with_user(1000, "alice")
            .with_file(
                "/etc/subuid",
                "# comment\nbob:1:5\nalice:100000:65536\n1000:300000:10\n",
            )
            .with_file("/etc/subgid", "alice:200000:65536\n")
    }

    #[test]
    fn default_mapping_multiple_ranges() {
        let allowed = AllowedIds::for_current_user_with(&alice(), IdKind::Uid).expect("allowed");
        assert_eq!(
            allowed.ranges(),
            &[SubIdRange::new(100000, 65536), SubIdRange::new(300000, 10)]
        );
        let maps = allowed.default_mappings();
        assert_eq!(
            maps,
            vec![
                IdMap::new(0, 1000, 1),
                IdMap::new(1, 100000, 65536),
                IdMap::new(65537, 300000, 10),
            ]
        );
        assert!(validate_id_maps(IdKind::Uid, &maps).is_ok());
        assert_eq!(allowed.subordinate_count(), 65546);

        let gids = AllowedIds::for_current_user_with(&alice(), IdKind::Gid).expect("gid");
        assert_eq!(
            gids.default_mappings(),
            vec![IdMap::new(0, 1000, 1), IdMap::new(1, 200000, 65536)]
        );
    }

    #[test]
    fn single_id_fallback_without_ranges() {
        let sys = FakeSyscall::new(1234, 99).with_user(1234, "nobody-here");
        let uids = AllowedIds::for_current_user_with(&sys, IdKind::Uid).expect("no files");
        assert_eq!(uids.default_mappings(), vec![IdMap::new(0, 1234, 1)]);
        let gids = AllowedIds::for_current_user_with(&sys, IdKind::Gid).expect("no files");
        assert_eq!(gids.default_mappings(), vec![IdMap::new(0, 99, 1)]);
        assert_eq!(
            gids.keep_id_mappings(None).expect("keep-id"),
            vec![IdMap::new(99, 99, 1)]
        );
    }

    #[test]
    fn lookup_by_uid_when_user_has_no_name() {
        let sys = FakeSyscall::new(1000, 1000).with_file("/etc/subuid", "1000:500000:100\n");
        let uids = AllowedIds::for_current_user_with(&sys, IdKind::Uid).expect("allowed");
        assert_eq!(uids.ranges(), &[SubIdRange::new(500000, 100)]);
    }

    #[test]
    fn bad_subid_file_is_an_error() {
        let sys = FakeSyscall::new(1000, 1000)
            .with_user(1000, "alice")
            .with_file("/etc/subuid", "alice:100000:65536\nalice:oops\n");
        let err = AllowedIds::for_current_user_with(&sys, IdKind::Uid).expect_err("bad line");
        assert!(err.to_string().starts_with("/etc/subuid:2:"), "{err}");
    }

    #[test]
    fn overlapping_ranges_are_trimmed() {
        let allowed = AllowedIds::new(
            IdKind::Uid,
            1000,
            &[
                SubIdRange::new(900, 200),  // contains the user's own id
                SubIdRange::new(1050, 100), // overlaps the previous one
                SubIdRange::new(900, 200),  // duplicate
                SubIdRange::new(5000, 10),
            ],
        );
        assert_eq!(
            allowed.ranges(),
            &[
                SubIdRange::new(900, 100),
                SubIdRange::new(1001, 99),
                SubIdRange::new(1100, 50),
                SubIdRange::new(5000, 10),
            ]
        );
        assert!(validate_id_maps(IdKind::Uid, &allowed.default_mappings()).is_ok());
    }

    #[test]
    fn default_mapping_stays_below_the_id_limit() {
        // Every valid id: the user is 5, the ranges cover all the others.
        let allowed = AllowedIds::new(
            IdKind::Uid,
            5,
            &[
                SubIdRange::new(0, u32::MAX - 10),
                SubIdRange::new(u32::MAX - 10, 10),
            ],
        );
        let maps = allowed.default_mappings();
        assert!(validate_id_maps(IdKind::Uid, &maps).is_ok(), "{maps:?}");
        assert_eq!(maps.last().map(|m| m.container_end()), Some(ID_LIMIT));
        assert_eq!(allowed.subordinate_count(), u32::MAX - 1);
    }

    #[test]
    fn keep_id_layout_like_podman() {
        // Podman: uid 1000 with 65536 subordinate uids.
        assert_eq!(
            keep_id_layout(1000, 65536),
            vec![
                IdMap::new(0, 1, 1000),
                IdMap::new(1000, 0, 1),
                IdMap::new(1001, 1001, 64536),
            ]
        );
        // Fewer subordinate ids than the uid: nothing above it.
        assert_eq!(
            keep_id_layout(1000, 10),
            vec![IdMap::new(0, 1, 10), IdMap::new(1000, 0, 1)]
        );
        // No subordinate ids.
        assert_eq!(keep_id_layout(1000, 0), vec![IdMap::new(1000, 0, 1)]);
        // uid 0: no range below.
        assert_eq!(
            keep_id_layout(0, 5),
            vec![IdMap::new(0, 0, 1), IdMap::new(1, 1, 5)]
        );
    }

    #[test]
    fn keep_id_in_host_ids() {
        let allowed = AllowedIds::for_current_user_with(&alice(), IdKind::Uid).expect("allowed");
        let maps = allowed.keep_id_mappings(None).expect("keep-id");
        assert_eq!(
            maps,
            vec![
                IdMap::new(0, 100000, 1000),
                IdMap::new(1000, 1000, 1),
                IdMap::new(1001, 101000, 64536),
                IdMap::new(65537, 300000, 10),
            ]
        );
        // Container uid = host uid, and every allowed host id is used once.
        assert_eq!(crate::idmap::map_to_host(&maps, 1000), Some(1000));
        assert!(allowed.validate(&maps).is_ok());
        let total: u64 = maps.iter().map(|m| u64::from(m.size)).sum();
        assert_eq!(total, 1 + 65546);

        let custom = allowed.keep_id_mappings(Some(5)).expect("keep-id:uid=5");
        assert_eq!(crate::idmap::map_to_host(&custom, 5), Some(1000));
        assert_eq!(crate::idmap::map_to_host(&custom, 0), Some(100000));
        assert_eq!(crate::idmap::map_to_host(&custom, 6), Some(100005));
    }

    #[test]
    fn keep_id_for_current_user() {
        let m = IdMappings::rootless_keep_id_with(&alice(), None, Some(0)).expect("keep-id");
        assert_eq!(crate::idmap::map_to_host(&m.uid, 1000), Some(1000));
        assert_eq!(crate::idmap::map_to_host(&m.gid, 0), Some(1000));
        let mut linux = Linux::default();
        m.apply_to(&mut linux);
        assert_eq!(
            linux.uid_mappings().as_ref().map(Vec::len),
            Some(m.uid.len())
        );
        assert_eq!(
            linux.gid_mappings().as_ref().map(Vec::len),
            Some(m.gid.len())
        );
    }

    #[test]
    fn validate_user_supplied_host_maps() {
        let allowed = AllowedIds::for_current_user_with(&alice(), IdKind::Uid).expect("allowed");
        let ok = ["0:1000:1", "1:100000:65536", "70000:300000:10"]
            .map(|s| s.parse::<IdMap>().expect("parse"));
        assert!(allowed.validate(&ok).is_ok());

        // One past the end of a subordinate range.
        let bad: IdMap = "0:100001:65536".parse().expect("parse");
        let err = allowed.validate(&[bad]).expect_err("outside");
        let text = err.to_string();
        assert!(
            text.contains("uid mapping 0:100001:65536 is not allowed"),
            "{text}"
        );
        assert!(text.contains("100001-165536"), "{text}");
        assert!(
            text.contains("subordinate ranges 100000-165535, 300000-300009"),
            "{text}"
        );
        assert!(text.contains("/etc/subuid"), "{text}");

        // Someone else's uid.
        assert!(allowed.validate(&[IdMap::new(0, 0, 1)]).is_err());
        // Kernel-level invalid: overlap.
        let overlap = [IdMap::new(0, 100000, 10), IdMap::new(5, 100100, 10)];
        assert!(matches!(
            allowed.validate(&overlap),
            Err(Error::InvalidIdMap { .. })
        ));
    }

    #[test]
    fn validate_spanning_adjacent_ranges() {
        let allowed = AllowedIds::new(
            IdKind::Gid,
            10,
            &[
                SubIdRange::new(100, 50),
                SubIdRange::new(150, 50),
                SubIdRange::new(11, 5),
            ],
        );
        assert!(allowed.validate(&[IdMap::new(0, 120, 60)]).is_ok());
        // Own id adjacent to a range.
        assert!(allowed.validate(&[IdMap::new(0, 10, 6)]).is_ok());
        assert!(allowed.validate(&[IdMap::new(0, 10, 7)]).is_err());
    }

    #[test]
    fn resolve_rootless_relative_maps() {
        let allowed = AllowedIds::for_current_user_with(&alice(), IdKind::Uid).expect("allowed");
        // --uidmap 0:1:65546 (all subordinate ids) --uidmap 65546:0:1 (the user).
        let user = [IdMap::new(0, 1, 65546), IdMap::new(65546, 0, 1)];
        let resolved = allowed.resolve_user_mappings(&user).expect("resolve");
        assert_eq!(
            resolved,
            vec![
                IdMap::new(0, 100000, 65536),
                IdMap::new(65536, 300000, 10),
                IdMap::new(65546, 1000, 1),
            ]
        );
        let err = allowed
            .resolve_user_mappings(&[IdMap::new(0, 1, 65547)])
            .expect_err("too many");
        let text = err.to_string();
        assert!(
            text.contains("uid mapping 0:1:65547 is not allowed"),
            "{text}"
        );
        assert!(text.contains("id 65547"), "{text}");
    }

    #[test]
    fn user_namespace_detection() {
        let host = FakeSyscall::new(0, 0).with_file(SELF_UID_MAP, "0 0 4294967295\n");
        assert!(!in_user_namespace_with(&host));
        assert!(!rootless_with(&host));

        let userns = FakeSyscall::new(0, 0).with_file(SELF_UID_MAP, "0 1000 1\n1 100000 65536\n");
        assert!(in_user_namespace_with(&userns));
        assert!(rootless_with(&userns));

        let unmapped = FakeSyscall::new(65534, 65534).with_file(SELF_UID_MAP, "");
        assert!(in_user_namespace_with(&unmapped));

        let user = FakeSyscall::new(1000, 1000).with_file(SELF_UID_MAP, "0 0 4294967295\n");
        assert!(!in_user_namespace_with(&user));
        assert!(rootless_with(&user));

        let no_userns = FakeSyscall::new(0, 0);
        assert!(!in_user_namespace_with(&no_userns));
    }
}
