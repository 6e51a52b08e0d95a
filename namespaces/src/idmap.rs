//! Id mappings of a user namespace: [`IdMap`], their validation, their text
//! forms and their composition.

use std::fmt;
use std::str::FromStr;

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most lines the kernel accepts in a uid_map/gid_map (since Linux 4.15).
pub const MAX_ID_MAP_LINES: usize = 340;

/// The highest id that may appear in a mapping range, plus one: the kernel
/// refuses ranges whose `first + count` wraps a u32, and id 4294967295 is
/// the invalid id (-1).
pub const ID_LIMIT: u64 = u32::MAX as u64;

/// Whether a mapping is about user ids or group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Uid,
    Gid,
}

impl IdKind {
    /// "uid_map" or "gid_map" (the file under /proc/PID/).
    pub fn map_file(self) -> &'static str {
        match self {
            IdKind::Uid => "uid_map",
            IdKind::Gid => "gid_map",
        }
    }

    /// "newuidmap" or "newgidmap".
    pub fn helper(self) -> &'static str {
        match self {
            IdKind::Uid => "newuidmap",
            IdKind::Gid => "newgidmap",
        }
    }

    /// "/etc/subuid" or "/etc/subgid".
    pub fn subid_file(self) -> &'static str {
        match self {
            IdKind::Uid => crate::subid::SUBUID_PATH,
            IdKind::Gid => crate::subid::SUBGID_PATH,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Uid => "uid",
            IdKind::Gid => "gid",
        })
    }
}

/// One line of a uid_map/gid_map: `size` ids starting at `container_id`
/// inside the namespace are `size` ids starting at `host_id` outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

impl IdMap {
    pub const fn new(container_id: u32, host_id: u32, size: u32) -> Self {
        IdMap {
            container_id,
            host_id,
            size,
        }
    }

    /// One past the last container id (u64: cannot overflow).
    pub fn container_end(&self) -> u64 {
        u64::from(self.container_id) + u64::from(self.size)
    }

    /// One past the last host id (u64: cannot overflow).
    pub fn host_end(&self) -> u64 {
        u64::from(self.host_id) + u64::from(self.size)
    }

    /// The host id of `container_id`, if this mapping covers it.
    pub fn to_host(&self, container_id: u32) -> Option<u32> {
        let offset = container_id.checked_sub(self.container_id)?;
        if offset < self.size {
            self.host_id.checked_add(offset)
        } else {
            None
        }
    }

    /// The container id of `host_id`, if this mapping covers it.
    pub fn to_container(&self, host_id: u32) -> Option<u32> {
        let offset = host_id.checked_sub(self.host_id)?;
        if offset < self.size {
            self.container_id.checked_add(offset)
        } else {
            None
        }
    }
}

/// `container:host:size`, the form of Podman's --uidmap/--gidmap.
impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.container_id, self.host_id, self.size)
    }
}

/// Parses `container:host[:size]` (size defaults to 1), the form of Podman's
/// --uidmap/--gidmap. Podman's flag prefixes (`@`, `+`, `u`, `g`) are not
/// supported.
impl FromStr for IdMap {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let syntax = |reason: &str| Error::IdMapSyntax {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = s.trim().split(':').collect();
        if fields.len() < 2 || fields.len() > 3 {
            return Err(syntax("expected container_id:host_id[:size]"));
        }
        let num = |field: &str, what: &str| {
            field
                .trim()
                .parse::<u32>()
                .map_err(|e| syntax(&format!("{what} {field:?}: {e}")))
        };
        let container_id = num(fields[0], "container id")?;
        let host_id = num(fields[1], "host id")?;
        let size = match fields.get(2) {
            Some(f) => num(f, "size")?,
            None => 1,
        };
        if size == 0 {
            return Err(syntax("size must be at least 1"));
        }
        Ok(IdMap::new(container_id, host_id, size))
    }
}

impl From<IdMap> for LinuxIdMapping {
    fn from(m: IdMap) -> Self {
        LinuxIdMappingBuilder::default()
            .container_id(m.container_id)
            .host_id(m.host_id)
            .size(m.size)
            .build()
            // Every field is set (and all have defaults): build cannot fail.
            .expect("LinuxIdMapping builder with all fields set")
    }
}

impl From<&LinuxIdMapping> for IdMap {
    fn from(m: &LinuxIdMapping) -> Self {
        IdMap::new(m.container_id(), m.host_id(), m.size())
    }
}

impl From<LinuxIdMapping> for IdMap {
    fn from(m: LinuxIdMapping) -> Self {
        IdMap::from(&m)
    }
}

/// Converts mappings to the OCI spec's type.
pub fn to_oci_mappings(maps: &[IdMap]) -> Vec<LinuxIdMapping> {
    maps.iter().copied().map(LinuxIdMapping::from).collect()
}

/// Converts the OCI spec's mappings.
pub fn from_oci_mappings(maps: &[LinuxIdMapping]) -> Vec<IdMap> {
    maps.iter().map(IdMap::from).collect()
}

/// Formats mappings as `c:h:s,c:h:s` (for messages).
pub fn display_id_maps(maps: &[IdMap]) -> String {
    let parts: Vec<String> = maps.iter().map(IdMap::to_string).collect();
    parts.join(",")
}

/// The content to write to /proc/PID/uid_map or gid_map: one
/// `container host size` line per mapping.
pub fn format_id_map_file(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// Parses the content of /proc/PID/uid_map or gid_map (whitespace-separated
/// `container host size` lines).
pub fn parse_id_map_file(content: &str) -> Result<Vec<IdMap>> {
    let mut maps = Vec::new();
    for (index, line) in content.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let syntax = |reason: String| Error::IdMapSyntax {
            input: line.to_string(),
            reason: format!("line {}: {reason}", index + 1),
        };
        if fields.len() != 3 {
            return Err(syntax(format!("expected 3 fields, found {}", fields.len())));
        }
        let mut nums = [0u32; 3];
        for (slot, field) in nums.iter_mut().zip(&fields) {
            *slot = field
                .parse()
                .map_err(|e| syntax(format!("{field:?}: {e}")))?;
        }
        maps.push(IdMap::new(nums[0], nums[1], nums[2]));
    }
    Ok(maps)
}

/// The host id of `container_id` under `maps`.
pub fn map_to_host(maps: &[IdMap], container_id: u32) -> Option<u32> {
    maps.iter().find_map(|m| m.to_host(container_id))
}

/// The container id of `host_id` under `maps`.
pub fn map_to_container(maps: &[IdMap], host_id: u32) -> Option<u32> {
    maps.iter().find_map(|m| m.to_container(host_id))
}

fn overlaps(a_start: u64, a_end: u64, b_start: u64, b_end: u64) -> bool {
    a_start < b_end && b_start < a_end
}

/// Checks mappings the way the kernel will when they are written: at least
/// one and at most [`MAX_ID_MAP_LINES`] lines, no empty range, no range
/// past id 4294967294, no two ranges overlapping on either side.
pub fn validate_id_maps(kind: IdKind, maps: &[IdMap]) -> Result<()> {
    let invalid = |reason: String| Error::InvalidIdMap { kind, reason };
    if maps.is_empty() {
        return Err(invalid("no mappings".to_string()));
    }
    if maps.len() > MAX_ID_MAP_LINES {
        return Err(invalid(format!(
            "{} mappings, the kernel accepts at most {MAX_ID_MAP_LINES}",
            maps.len()
        )));
    }
    for (i, m) in maps.iter().enumerate() {
        if m.size == 0 {
            return Err(invalid(format!("mapping {m} has size 0")));
        }
        if m.container_end() > ID_LIMIT || m.host_end() > ID_LIMIT {
            return Err(invalid(format!(
                "mapping {m} goes past the largest id {}",
                ID_LIMIT - 1
            )));
        }
        for other in &maps[..i] {
            if overlaps(
                u64::from(m.container_id),
                m.container_end(),
                u64::from(other.container_id),
                other.container_end(),
            ) {
                return Err(invalid(format!(
                    "mappings {other} and {m} overlap in container ids"
                )));
            }
            if overlaps(
                u64::from(m.host_id),
                m.host_end(),
                u64::from(other.host_id),
                other.host_end(),
            ) {
                return Err(invalid(format!(
                    "mappings {other} and {m} overlap in host ids"
                )));
            }
        }
    }
    Ok(())
}

/// Merges neighbours that continue each other on both sides
/// (`0:1000:1` + `1:1001:5` → `0:1000:6`), keeping the order.
pub fn coalesce_id_maps(maps: &[IdMap]) -> Vec<IdMap> {
    let mut out: Vec<IdMap> = Vec::with_capacity(maps.len());
    for m in maps.iter().copied().filter(|m| m.size > 0) {
        if let Some(last) = out.last_mut() {
            if last.container_end() == u64::from(m.container_id)
                && last.host_end() == u64::from(m.host_id)
            {
                if let Some(size) = last.size.checked_add(m.size) {
                    last.size = size;
                    continue;
                }
            }
        }
        out.push(m);
    }
    out
}

/// Composes two levels of mappings: `inner` maps container ids to ids of an
/// intermediate namespace, `outer` maps those to host ids. The result maps
/// container ids straight to host ids (ranges are split where `outer`
/// is not contiguous).
///
/// Fails with the first inner mapping that uses an intermediate id `outer`
/// does not map.
pub fn compose_id_maps(kind: IdKind, inner: &[IdMap], outer: &[IdMap]) -> Result<Vec<IdMap>> {
    let mut out = Vec::new();
    for m in inner {
        let mut done: u32 = 0;
        while done < m.size {
            // `done < size` and host_id + size fits in u64; cur may not fit in
            // u32 if the input is out of range: treat that as unmapped.
            let cur = u64::from(m.host_id) + u64::from(done);
            let found = u32::try_from(cur).ok().and_then(|cur| {
                outer
                    .iter()
                    .find_map(|o| o.to_host(cur).map(|h| (o, cur, h)))
            });
            let Some((o, cur, host)) = found else {
                return Err(Error::IdMapNotAllowed {
                    kind,
                    map: *m,
                    reason: format!("id {cur} of the outer user namespace is not mapped"),
                });
            };
            // Ids left in `o` from `cur` on; > 0 since `o` maps `cur`.
            let left_in_outer = o.container_end() - u64::from(cur);
            let left_in_inner = u64::from(m.size - done);
            let chunk = left_in_outer.min(left_in_inner);
            // chunk <= left_in_inner <= u32::MAX.
            let chunk = u32::try_from(chunk).unwrap_or(u32::MAX);
            out.push(IdMap::new(m.container_id.saturating_add(done), host, chunk));
            done = done.saturating_add(chunk);
        }
    }
    Ok(coalesce_id_maps(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(
            "0:1000:1".parse::<IdMap>().ok(),
            Some(IdMap::new(0, 1000, 1))
        );
        assert_eq!(
            "1:100000".parse::<IdMap>().ok(),
            Some(IdMap::new(1, 100000, 1))
        );
        assert_eq!(
            " 1 : 2 : 3 ".parse::<IdMap>().ok(),
            Some(IdMap::new(1, 2, 3))
        );
        assert_eq!(IdMap::new(1, 100000, 65536).to_string(), "1:100000:65536");
        for bad in [
            "",
            "1",
            "1:2:3:4",
            "a:1:1",
            "1:-1:1",
            "0:0:0",
            "@0:1000:1",
            "0:4294967296:1",
        ] {
            let err = bad.parse::<IdMap>().expect_err(bad);
            assert!(matches!(err, Error::IdMapSyntax { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn oci_round_trip() {
        let m = IdMap::new(1, 100000, 65536);
        let oci = LinuxIdMapping::from(m);
        assert_eq!(oci.container_id(), 1);
        assert_eq!(oci.host_id(), 100000);
        assert_eq!(oci.size(), 65536);
        assert_eq!(IdMap::from(&oci), m);
        assert_eq!(from_oci_mappings(&to_oci_mappings(&[m, m])), vec![m, m]);
    }

    #[test]
    fn map_file_round_trip() {
        let maps = vec![IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)];
        let text = format_id_map_file(&maps);
        assert_eq!(text, "0 1000 1\n1 100000 65536\n");
        assert_eq!(parse_id_map_file(&text).ok(), Some(maps));
        // The kernel pads with spaces.
        let kernel = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(parse_id_map_file(kernel).ok().map(|m| m.len()), Some(2));
        let err = parse_id_map_file("0 0 1\n1 2\n").expect_err("short line");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(parse_id_map_file("0 x 1").is_err());
    }

    #[test]
    fn lookups() {
        let maps = [IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)];
        assert_eq!(map_to_host(&maps, 0), Some(1000));
        assert_eq!(map_to_host(&maps, 1), Some(100000));
        assert_eq!(map_to_host(&maps, 65536), Some(165535));
        assert_eq!(map_to_host(&maps, 65537), None);
        assert_eq!(map_to_container(&maps, 1000), Some(0));
        assert_eq!(map_to_container(&maps, 165535), Some(65536));
        assert_eq!(map_to_container(&maps, 999), None);
        assert_eq!(IdMap::new(u32::MAX - 1, 0, 5).to_host(u32::MAX), Some(1));
    }

    #[test]
    fn validation() {
        let ok = [IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)];
        assert!(validate_id_maps(IdKind::Uid, &ok).is_ok());
        assert!(validate_id_maps(IdKind::Uid, &[IdMap::new(0, 0, u32::MAX)]).is_ok());

        let cases: &[(&[IdMap], &str)] = &[
            (&[], "no mappings"),
            (&[IdMap::new(0, 1000, 0)], "size 0"),
            (&[IdMap::new(1, 0, u32::MAX)], "past the largest id"),
            (&[IdMap::new(0, 1, u32::MAX)], "past the largest id"),
            (
                &[IdMap::new(0, 1000, 10), IdMap::new(5, 2000, 10)],
                "overlap in container ids",
            ),
            (
                &[IdMap::new(0, 1000, 10), IdMap::new(10, 1009, 10)],
                "overlap in host ids",
            ),
        ];
        for (maps, expected) in cases {
            let err = validate_id_maps(IdKind::Gid, maps).expect_err(expected);
            let text = err.to_string();
            assert!(text.contains(expected), "{text}");
            assert!(text.starts_with("invalid gid mappings"), "{text}");
        }

        let many: Vec<IdMap> = (0..341).map(|i| IdMap::new(i, i, 1)).collect();
        assert!(validate_id_maps(IdKind::Uid, &many).is_err());
        assert!(validate_id_maps(IdKind::Uid, &many[..340]).is_ok());
    }

    #[test]
    fn coalesce() {
        let maps = [
            IdMap::new(0, 1000, 1),
            IdMap::new(1, 1001, 5),
            IdMap::new(6, 5000, 1),
            IdMap::new(7, 0, 0),
        ];
        assert_eq!(
            coalesce_id_maps(&maps),
            vec![IdMap::new(0, 1000, 6), IdMap::new(6, 5000, 1)]
        );
    }

    #[test]
    fn compose() {
        // Rootless namespace: 0 -> 1000, 1..=10 -> 100000.., 11..=20 -> 200000..
        let outer = [
            IdMap::new(0, 1000, 1),
            IdMap::new(1, 100000, 10),
            IdMap::new(11, 200000, 10),
        ];
        // A container map spanning the gap between the two subordinate ranges.
        let inner = [IdMap::new(0, 5, 10), IdMap::new(10, 0, 1)];
        let got = compose_id_maps(IdKind::Uid, &inner, &outer).expect("compose");
        assert_eq!(
            got,
            vec![
                IdMap::new(0, 100004, 6),
                IdMap::new(6, 200000, 4),
                IdMap::new(10, 1000, 1),
            ]
        );
        let err = compose_id_maps(IdKind::Uid, &[IdMap::new(0, 15, 10)], &outer)
            .expect_err("21 is not mapped");
        assert!(err.to_string().contains("id 21"), "{err}");
        assert!(err.to_string().contains("0:15:10"), "{err}");
    }
}
