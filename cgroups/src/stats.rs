//! Resource usage ([`Stats`]) and configured limits ([`Limits`]) of a cgroup,
//! read from the v1 controller files or the v2 interface files.
//!
//! Every value is optional: `None` means the kernel does not expose it for
//! this cgroup (controller not mounted / not enabled, old kernel) or, for
//! limits, that there is no limit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{
    parse_i64, parse_max, parse_u64, read_keyed, read_list, read_max, read_opt, read_u64, v1_limit,
};

/// Resource usage of a cgroup and its descendants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// 1 or 2: which cgroup version the values come from.
    pub cgroup_version: u8,
    /// Memory usage.
    pub memory: MemoryStats,
    /// CPU time.
    pub cpu: CpuStats,
    /// Number of tasks.
    pub pids: PidsStats,
    /// Block I/O.
    pub io: IoStats,
}

/// Memory usage, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage, page cache included (v1 `memory.usage_in_bytes`,
    /// v2 `memory.current`).
    pub usage: Option<u64>,
    /// Memory limit; `None` if unlimited or unknown.
    pub limit: Option<u64>,
    /// Highest usage seen (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    pub max_usage: Option<u64>,
    /// Swap in use (v1 `memsw.usage - usage`, v2 `memory.swap.current`).
    pub swap_usage: Option<u64>,
    /// Page cache (v1 `total_cache`, v2 `file` of memory.stat).
    pub cache: Option<u64>,
    /// Anonymous memory (v1 `total_rss`, v2 `anon`).
    pub rss: Option<u64>,
    /// Inactive page cache (`inactive_file`), which `podman stats`
    /// subtracts from `usage`.
    pub inactive_file: Option<u64>,
}

/// CPU time, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time consumed (v1 `cpuacct.usage`, v2 `usage_usec`).
    pub usage_total_ns: Option<u64>,
    /// CPU time in user mode.
    pub usage_user_ns: Option<u64>,
    /// CPU time in kernel mode.
    pub usage_system_ns: Option<u64>,
    /// Enforcement periods elapsed (`nr_periods`).
    pub periods: Option<u64>,
    /// Periods in which the cgroup was throttled (`nr_throttled`).
    pub throttled_periods: Option<u64>,
    /// Total time throttled.
    pub throttled_time_ns: Option<u64>,
}

/// Number of tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks (threads) in the cgroup (`pids.current`).
    pub current: Option<u64>,
    /// `pids.max`; `None` if unlimited or unknown.
    pub limit: Option<u64>,
}

/// Block I/O totals over all devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoStats {
    /// Bytes read.
    pub read_bytes: Option<u64>,
    /// Bytes written.
    pub write_bytes: Option<u64>,
    /// Read operations.
    pub read_ops: Option<u64>,
    /// Write operations.
    pub write_ops: Option<u64>,
    /// Per device figures.
    pub devices: Vec<IoDeviceStats>,
}

/// Block I/O of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoDeviceStats {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ops: u64,
    /// Write operations.
    pub write_ops: u64,
}

/// Limits configured on a cgroup, read back from the kernel. `None` means
/// "no limit" or "not available".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (v1 `memory.limit_in_bytes`, v2 `memory.max`).
    pub memory: Option<u64>,
    /// Memory reservation / soft limit in bytes (v1
    /// `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap limit in bytes, with the OCI `memory.swap` meaning
    /// (v1 `memory.memsw.limit_in_bytes`, v2 `memory.swap.max + memory.max`).
    pub memory_swap: Option<u64>,
    /// Maximum number of tasks (`pids.max`).
    pub pids: Option<u64>,
    /// CFS quota in microseconds per period (v1 `cpu.cfs_quota_us`, first
    /// field of v2 `cpu.max`); `None` if unlimited.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// v1 `cpu.shares`.
    pub cpu_shares: Option<u64>,
    /// v2 `cpu.weight`.
    pub cpu_weight: Option<u64>,
    /// `cpuset.cpus` as configured on the cgroup.
    pub cpuset_cpus: Option<String>,
    /// `cpuset.mems` as configured on the cgroup.
    pub cpuset_mems: Option<String>,
}

/// How to find a v1 controller's directory for the cgroup.
pub(crate) trait V1Dirs {
    fn controller_dir(&self, controller: &str) -> Option<&Path>;
}

/// Reads the stats of a cgroup v1 cgroup.
pub(crate) fn v1_stats(dirs: &dyn V1Dirs) -> Result<Stats> {
    let mut stats = Stats {
        cgroup_version: 1,
        ..Stats::default()
    };

    if let Some(dir) = dirs.controller_dir("memory") {
        let m = &mut stats.memory;
        m.usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
        m.limit = v1_limit(read_u64(&dir.join("memory.limit_in_bytes"))?);
        m.max_usage = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
        let memsw = read_u64(&dir.join("memory.memsw.usage_in_bytes"))?;
        m.swap_usage = match (memsw, m.usage) {
            (Some(sw), Some(u)) => Some(sw.saturating_sub(u)),
            _ => None,
        };
        // Prefer the hierarchical `total_*` figures (they include children).
        let [tc, c, tr, r, ti, i] = read_keyed(
            &dir.join("memory.stat"),
            [
                "total_cache",
                "cache",
                "total_rss",
                "rss",
                "total_inactive_file",
                "inactive_file",
            ],
        )?;
        m.cache = tc.or(c);
        m.rss = tr.or(r);
        m.inactive_file = ti.or(i);
    }

    if let Some(dir) = dirs.controller_dir("cpuacct") {
        let c = &mut stats.cpu;
        c.usage_total_ns = read_u64(&dir.join("cpuacct.usage"))?;
        c.usage_user_ns = read_u64(&dir.join("cpuacct.usage_user"))?;
        c.usage_system_ns = read_u64(&dir.join("cpuacct.usage_sys"))?;
        if c.usage_user_ns.is_none() || c.usage_system_ns.is_none() {
            // Kernels before 4.7 only have cpuacct.stat, in USER_HZ ticks.
            let [user, system] = read_keyed(&dir.join("cpuacct.stat"), ["user", "system"])?;
            let ns_per_tick = 1_000_000_000 / clock_ticks();
            c.usage_user_ns = c
                .usage_user_ns
                .or(user.map(|t| t.saturating_mul(ns_per_tick)));
            c.usage_system_ns = c
                .usage_system_ns
                .or(system.map(|t| t.saturating_mul(ns_per_tick)));
        }
    }
    if let Some(dir) = dirs.controller_dir("cpu") {
        let [periods, throttled, time] = read_keyed(
            &dir.join("cpu.stat"),
            ["nr_periods", "nr_throttled", "throttled_time"],
        )?;
        stats.cpu.periods = periods;
        stats.cpu.throttled_periods = throttled;
        stats.cpu.throttled_time_ns = time;
    }

    if let Some(dir) = dirs.controller_dir("pids") {
        stats.pids.current = read_u64(&dir.join("pids.current"))?;
        stats.pids.limit = read_max(&dir.join("pids.max"))?;
    }

    if let Some(dir) = dirs.controller_dir("blkio") {
        stats.io = v1_io(dir)?;
    }
    Ok(stats)
}

/// The first of `names` that exists in `dir`, with its content.
fn first_existing(dir: &Path, names: &[&str]) -> Result<Option<(std::path::PathBuf, String)>> {
    for name in names {
        let path = dir.join(name);
        if let Some(content) = read_opt(&path)? {
            return Ok(Some((path, content)));
        }
    }
    Ok(None)
}

fn v1_io(dir: &Path) -> Result<IoStats> {
    let mut io = IoStats::default();
    let mut devices: Vec<IoDeviceStats> = Vec::new();
    let bytes = first_existing(
        dir,
        &[
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
        ],
    )?;
    if let Some((path, content)) = bytes {
        let (r, w) = parse_blkio(&path, &content, &mut devices, |d, op, v| match op {
            Op::Read => d.read_bytes = v,
            Op::Write => d.write_bytes = v,
        })?;
        io.read_bytes = Some(r);
        io.write_bytes = Some(w);
    }
    let ops = first_existing(
        dir,
        &[
            "blkio.throttle.io_serviced_recursive",
            "blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced",
        ],
    )?;
    if let Some((path, content)) = ops {
        let (r, w) = parse_blkio(&path, &content, &mut devices, |d, op, v| match op {
            Op::Read => d.read_ops = v,
            Op::Write => d.write_ops = v,
        })?;
        io.read_ops = Some(r);
        io.write_ops = Some(w);
    }
    io.devices = devices;
    Ok(io)
}

enum Op {
    Read,
    Write,
}

fn parse_dev(path: &Path, s: &str) -> Result<(u64, u64)> {
    let (maj, min) = s.split_once(':').ok_or_else(|| Error::parse(path, s))?;
    Ok((parse_u64(path, maj)?, parse_u64(path, min)?))
}

fn device(devices: &mut Vec<IoDeviceStats>, major: u64, minor: u64) -> &mut IoDeviceStats {
    let idx = match devices
        .iter()
        .position(|d| d.major == major && d.minor == minor)
    {
        Some(i) => i,
        None => {
            devices.push(IoDeviceStats {
                major,
                minor,
                ..IoDeviceStats::default()
            });
            devices.len() - 1
        }
    };
    &mut devices[idx]
}

/// Parses v1 blkio files: `MAJ:MIN Op value` lines plus a final `Total v`.
/// Returns the (read, write) totals over all devices.
fn parse_blkio(
    path: &Path,
    content: &str,
    devices: &mut Vec<IoDeviceStats>,
    set: impl Fn(&mut IoDeviceStats, Op, u64),
) -> Result<(u64, u64)> {
    let (mut read, mut write) = (0u64, 0u64);
    for line in content.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] | ["Total", _] => {}
            [dev, op, value] => {
                let op = match *op {
                    "Read" => Op::Read,
                    "Write" => Op::Write,
                    // Sync, Async, Discard and Total overlap Read/Write.
                    _ => continue,
                };
                let (major, minor) = parse_dev(path, dev)?;
                let value = parse_u64(path, value)?;
                match op {
                    Op::Read => read = read.saturating_add(value),
                    Op::Write => write = write.saturating_add(value),
                }
                set(device(devices, major, minor), op, value);
            }
            // "MAJ:MIN Total v" is covered by the 3-field arm; anything else
            // is unexpected.
            _ => return Err(Error::parse(path, line)),
        }
    }
    Ok((read, write))
}

/// Reads the stats of a cgroup v2 cgroup.
pub(crate) fn v2_stats(dir: &Path) -> Result<Stats> {
    let mut stats = Stats {
        cgroup_version: 2,
        ..Stats::default()
    };

    let m = &mut stats.memory;
    m.usage = read_u64(&dir.join("memory.current"))?;
    m.limit = read_max(&dir.join("memory.max"))?;
    m.max_usage = read_u64(&dir.join("memory.peak"))?;
    m.swap_usage = read_u64(&dir.join("memory.swap.current"))?;
    let [anon, file, inactive_file] =
        read_keyed(&dir.join("memory.stat"), ["anon", "file", "inactive_file"])?;
    m.rss = anon;
    m.cache = file;
    m.inactive_file = inactive_file;

    // cpu.stat exists even without the cpu controller (usage only).
    let [usage, user, system, periods, throttled, throttled_us] = read_keyed(
        &dir.join("cpu.stat"),
        [
            "usage_usec",
            "user_usec",
            "system_usec",
            "nr_periods",
            "nr_throttled",
            "throttled_usec",
        ],
    )?;
    let us = |v: Option<u64>| v.map(|v| v.saturating_mul(1000));
    stats.cpu = CpuStats {
        usage_total_ns: us(usage),
        usage_user_ns: us(user),
        usage_system_ns: us(system),
        periods,
        throttled_periods: throttled,
        throttled_time_ns: us(throttled_us),
    };

    stats.pids.current = read_u64(&dir.join("pids.current"))?;
    stats.pids.limit = read_max(&dir.join("pids.max"))?;

    let io_path = dir.join("io.stat");
    if let Some(content) = read_opt(&io_path)? {
        stats.io = parse_io_stat(&io_path, &content)?;
    }
    Ok(stats)
}

/// Parses v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. ...`.
pub(crate) fn parse_io_stat(path: &Path, content: &str) -> Result<IoStats> {
    let mut io = IoStats {
        read_bytes: Some(0),
        write_bytes: Some(0),
        read_ops: Some(0),
        write_ops: Some(0),
        devices: Vec::new(),
    };
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some(dev) = fields.next() else { continue };
        let (major, minor) = parse_dev(path, dev)?;
        let mut d = IoDeviceStats {
            major,
            minor,
            ..IoDeviceStats::default()
        };
        for kv in fields {
            let (k, v) = kv.split_once('=').ok_or_else(|| Error::parse(path, line))?;
            let slot = match k {
                "rbytes" => &mut d.read_bytes,
                "wbytes" => &mut d.write_bytes,
                "rios" => &mut d.read_ops,
                "wios" => &mut d.write_ops,
                // dbytes, dios and io.cost / io.latency figures.
                _ => continue,
            };
            *slot = parse_u64(path, v)?;
        }
        let add = |t: &mut Option<u64>, v: u64| *t = t.map(|t| t.saturating_add(v));
        add(&mut io.read_bytes, d.read_bytes);
        add(&mut io.write_bytes, d.write_bytes);
        add(&mut io.read_ops, d.read_ops);
        add(&mut io.write_ops, d.write_ops);
        io.devices.push(d);
    }
    Ok(io)
}

/// Reads the limits of a cgroup v1 cgroup.
pub(crate) fn v1_limits(dirs: &dyn V1Dirs) -> Result<Limits> {
    let mut l = Limits::default();
    if let Some(dir) = dirs.controller_dir("memory") {
        l.memory = v1_limit(read_u64(&dir.join("memory.limit_in_bytes"))?);
        l.memory_reservation = v1_limit(read_u64(&dir.join("memory.soft_limit_in_bytes"))?);
        l.memory_swap = v1_limit(read_u64(&dir.join("memory.memsw.limit_in_bytes"))?);
    }
    if let Some(dir) = dirs.controller_dir("pids") {
        l.pids = read_max(&dir.join("pids.max"))?;
    }
    if let Some(dir) = dirs.controller_dir("cpu") {
        let quota_path = dir.join("cpu.cfs_quota_us");
        l.cpu_quota = read_opt(&quota_path)?
            .map(|s| parse_i64(&quota_path, &s))
            .transpose()?
            .filter(|q| *q >= 0);
        l.cpu_period = read_u64(&dir.join("cpu.cfs_period_us"))?;
        l.cpu_shares = read_u64(&dir.join("cpu.shares"))?;
    }
    if let Some(dir) = dirs.controller_dir("cpuset") {
        l.cpuset_cpus = read_list(&dir.join("cpuset.cpus"))?;
        l.cpuset_mems = read_list(&dir.join("cpuset.mems"))?;
    }
    Ok(l)
}

/// Reads the limits of a cgroup v2 cgroup.
pub(crate) fn v2_limits(dir: &Path) -> Result<Limits> {
    let mut l = Limits {
        memory: read_max(&dir.join("memory.max"))?,
        memory_reservation: read_max(&dir.join("memory.low"))?.filter(|v| *v > 0),
        pids: read_max(&dir.join("pids.max"))?,
        cpu_weight: read_u64(&dir.join("cpu.weight"))?,
        cpuset_cpus: read_list(&dir.join("cpuset.cpus"))?,
        cpuset_mems: read_list(&dir.join("cpuset.mems"))?,
        ..Limits::default()
    };
    let swap = read_max(&dir.join("memory.swap.max"))?;
    l.memory_swap = match (l.memory, swap) {
        (Some(mem), Some(swap)) => Some(mem.saturating_add(swap)),
        _ => None,
    };
    let cpu_max = dir.join("cpu.max");
    if let Some(content) = read_opt(&cpu_max)? {
        let (quota, period) = parse_cpu_max(&cpu_max, &content)?;
        l.cpu_quota = quota;
        l.cpu_period = Some(period);
    }
    Ok(l)
}

/// Parses v2 `cpu.max`: `$MAX $PERIOD`, `$MAX` being `max` or microseconds.
pub(crate) fn parse_cpu_max(path: &Path, content: &str) -> Result<(Option<i64>, u64)> {
    let mut fields = content.split_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return Err(Error::parse(path, content.trim()));
    };
    let quota = parse_max(path, quota)?
        .map(|q| i64::try_from(q).map_err(|_| Error::parse(path, content.trim())))
        .transpose()?;
    Ok((quota, parse_u64(path, period)?))
}

/// USER_HZ, the unit of cpuacct.stat (100 on every Linux architecture).
fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => u64::try_from(t).unwrap_or(100),
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    struct Dirs(HashMap<&'static str, PathBuf>);
    impl V1Dirs for Dirs {
        fn controller_dir(&self, c: &str) -> Option<&Path> {
            self.0.get(c).map(PathBuf::as_path)
        }
    }

    fn write(dir: &Path, name: &str, content: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn v2_fixture_stats_and_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "memory.current", "1048576\n");
        write(d, "memory.max", "67108864\n");
        write(d, "memory.peak", "2097152\n");
        write(d, "memory.swap.current", "0\n");
        write(d, "memory.swap.max", "max\n");
        write(d, "memory.low", "0\n");
        write(
            d,
            "memory.stat",
            "anon 4096\nfile 8192\nkernel 100\ninactive_file 4096\nactive_file 4096\n",
        );
        write(
            d,
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 20\nnr_bursts 0\nburst_usec 0\n",
        );
        write(d, "cpu.max", "50000 100000\n");
        write(d, "cpu.weight", "100\n");
        write(d, "pids.current", "2\n");
        write(d, "pids.max", "32\n");
        write(d, "cpuset.cpus", "0-1\n");
        write(d, "cpuset.mems", "\n");
        write(
            d,
            "io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n",
        );

        let s = v2_stats(d).unwrap();
        assert_eq!(s.cgroup_version, 2);
        assert_eq!(s.memory.usage, Some(1 << 20));
        assert_eq!(s.memory.limit, Some(64 << 20));
        assert_eq!(s.memory.max_usage, Some(2 << 20));
        assert_eq!(s.memory.swap_usage, Some(0));
        assert_eq!(s.memory.rss, Some(4096));
        assert_eq!(s.memory.cache, Some(8192));
        assert_eq!(s.memory.inactive_file, Some(4096));
        assert_eq!(s.cpu.usage_total_ns, Some(1_500_000));
        assert_eq!(s.cpu.usage_user_ns, Some(1_000_000));
        assert_eq!(s.cpu.usage_system_ns, Some(500_000));
        assert_eq!(s.cpu.periods, Some(3));
        assert_eq!(s.cpu.throttled_periods, Some(1));
        assert_eq!(s.cpu.throttled_time_ns, Some(20_000));
        assert_eq!(s.pids.current, Some(2));
        assert_eq!(s.pids.limit, Some(32));
        assert_eq!(s.io.read_bytes, Some(4097));
        assert_eq!(s.io.write_bytes, Some(8194));
        assert_eq!(s.io.read_ops, Some(4));
        assert_eq!(s.io.write_ops, Some(6));
        assert_eq!(s.io.devices.len(), 2);
        assert_eq!(s.io.devices[1].major, 253);

        let l = v2_limits(d).unwrap();
        assert_eq!(
            l,
            Limits {
                memory: Some(64 << 20),
                memory_reservation: None,
                memory_swap: None,
                pids: Some(32),
                cpu_quota: Some(50000),
                cpu_period: Some(100000),
                cpu_shares: None,
                cpu_weight: Some(100),
                cpuset_cpus: Some("0-1".into()),
                cpuset_mems: None,
            }
        );

        // Serializable for `podman stats`.
        let json = serde_json::to_string(&s).unwrap();
        let back: Stats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn v2_unlimited_and_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "memory.max", "max\n");
        write(d, "memory.swap.max", "1048576\n");
        write(d, "pids.max", "max\n");
        write(d, "cpu.max", "max 100000\n");
        let l = v2_limits(d).unwrap();
        assert_eq!(l.memory, None);
        assert_eq!(l.memory_swap, None);
        assert_eq!(l.pids, None);
        assert_eq!(l.cpu_quota, None);
        assert_eq!(l.cpu_period, Some(100000));
        // No controller files at all (e.g. a controller-less cgroup2): all None.
        let empty = tempfile::tempdir().unwrap();
        let s = v2_stats(empty.path()).unwrap();
        assert_eq!(s.memory, MemoryStats::default());
        assert_eq!(s.io, IoStats::default());
        // memory + swap
        write(d, "memory.max", "1048576\n");
        assert_eq!(v2_limits(d).unwrap().memory_swap, Some(2 << 20));
    }

    #[test]
    fn v2_bad_content_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "memory.current", "lots\n");
        let err = v2_stats(d).unwrap_err();
        assert!(err.to_string().contains("memory.current"), "{err}");
        assert!(err.to_string().contains("lots"), "{err}");

        let p = Path::new("/cg/cpu.max");
        assert!(parse_cpu_max(p, "max").is_err());
        assert!(parse_cpu_max(p, "1 2 3").is_err());
        assert!(parse_cpu_max(p, "x 100000").is_err());
        assert_eq!(
            parse_cpu_max(p, "1000 100000\n").unwrap(),
            (Some(1000), 100000)
        );
        assert!(parse_io_stat(p, "8:0 rbytes\n").is_err());
        assert!(parse_io_stat(p, "80 rbytes=1\n").is_err());
    }

    #[test]
    fn v1_fixture_stats_and_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut map = HashMap::new();
        for c in ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset"] {
            map.insert(c, root.join(c).join("ctr"));
        }
        let dirs = Dirs(map);
        let dir = |c: &str| dirs.controller_dir(c).unwrap().to_path_buf();

        write(&dir("memory"), "memory.usage_in_bytes", "3000000\n");
        write(&dir("memory"), "memory.limit_in_bytes", "67108864\n");
        write(&dir("memory"), "memory.max_usage_in_bytes", "4000000\n");
        write(&dir("memory"), "memory.memsw.usage_in_bytes", "3000100\n");
        write(
            &dir("memory"),
            "memory.memsw.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &dir("memory"),
            "memory.soft_limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            &dir("memory"),
            "memory.stat",
            "cache 1\nrss 2\ninactive_file 3\ntotal_cache 10\ntotal_rss 20\ntotal_inactive_file 30\n",
        );
        write(&dir("cpuacct"), "cpuacct.usage", "123456789\n");
        write(&dir("cpuacct"), "cpuacct.stat", "user 3\nsystem 4\n");
        write(
            &dir("cpu"),
            "cpu.stat",
            "nr_periods 5\nnr_throttled 2\nthrottled_time 777\n",
        );
        write(&dir("cpu"), "cpu.cfs_quota_us", "-1\n");
        write(&dir("cpu"), "cpu.cfs_period_us", "100000\n");
        write(&dir("cpu"), "cpu.shares", "1024\n");
        write(&dir("pids"), "pids.current", "1\n");
        write(&dir("pids"), "pids.max", "max\n");
        write(&dir("cpuset"), "cpuset.cpus", "0\n");
        write(&dir("cpuset"), "cpuset.mems", "0\n");
        write(
            &dir("blkio"),
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 4608\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 4608\n8:16 Read 1\n8:16 Write 1\nTotal 4610\n",
        );
        write(
            &dir("blkio"),
            "blkio.throttle.io_serviced_recursive",
            "8:0 Read 2\n8:0 Write 1\nTotal 3\n",
        );

        let s = v1_stats(&dirs).unwrap();
        assert_eq!(s.cgroup_version, 1);
        assert_eq!(s.memory.usage, Some(3_000_000));
        assert_eq!(s.memory.limit, Some(64 << 20));
        assert_eq!(s.memory.max_usage, Some(4_000_000));
        assert_eq!(s.memory.swap_usage, Some(100));
        assert_eq!(s.memory.cache, Some(10));
        assert_eq!(s.memory.rss, Some(20));
        assert_eq!(s.memory.inactive_file, Some(30));
        assert_eq!(s.cpu.usage_total_ns, Some(123_456_789));
        let tick = 1_000_000_000 / clock_ticks();
        assert_eq!(s.cpu.usage_user_ns, Some(3 * tick));
        assert_eq!(s.cpu.usage_system_ns, Some(4 * tick));
        assert_eq!(s.cpu.periods, Some(5));
        assert_eq!(s.cpu.throttled_time_ns, Some(777));
        assert_eq!(s.pids.current, Some(1));
        assert_eq!(s.pids.limit, None);
        assert_eq!(s.io.read_bytes, Some(4097));
        assert_eq!(s.io.write_bytes, Some(513));
        assert_eq!(s.io.read_ops, Some(2));
        assert_eq!(s.io.write_ops, Some(1));
        assert_eq!(s.io.devices.len(), 2);
        assert_eq!(s.io.devices[0].read_ops, 2);
        assert_eq!(s.io.devices[0].read_bytes, 4096);

        let l = v1_limits(&dirs).unwrap();
        assert_eq!(
            l,
            Limits {
                memory: Some(64 << 20),
                memory_reservation: None,
                memory_swap: None,
                pids: None,
                cpu_quota: None,
                cpu_period: Some(100000),
                cpu_shares: Some(1024),
                cpu_weight: None,
                cpuset_cpus: Some("0".into()),
                cpuset_mems: Some("0".into()),
            }
        );

        // Newer kernels: ns user/sys figures win over cpuacct.stat ticks.
        write(&dir("cpuacct"), "cpuacct.usage_user", "11\n");
        write(&dir("cpuacct"), "cpuacct.usage_sys", "22\n");
        let s = v1_stats(&dirs).unwrap();
        assert_eq!(s.cpu.usage_user_ns, Some(11));
        assert_eq!(s.cpu.usage_system_ns, Some(22));

        write(
            &dir("blkio"),
            "blkio.throttle.io_serviced_recursive",
            "8:0 Read\n",
        );
        let err = v1_stats(&dirs).unwrap_err();
        assert!(err.to_string().contains("io_serviced_recursive"), "{err}");
    }

    #[test]
    fn v1_missing_controllers_give_none() {
        let dirs = Dirs(HashMap::new());
        let s = v1_stats(&dirs).unwrap();
        assert_eq!(s.memory, MemoryStats::default());
        assert_eq!(v1_limits(&dirs).unwrap(), Limits::default());
    }
}
