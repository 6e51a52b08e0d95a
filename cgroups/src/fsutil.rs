//! Small helpers to read and parse cgroup interface files. Nothing here
//! panics on unexpected kernel data: bad content becomes [`Error::Parse`].

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads a file; `Ok(None)` if it does not exist (controller not available,
/// kernel too old, cgroup gone).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        // ENODEV: some interface files exist but the kernel refuses reads
        // (e.g. a disabled controller); treat as "not available".
        Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV) => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Writes `data` to an existing cgroup file.
pub(crate) fn write(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open for writing", path, e))?;
    f.write_all(data.as_bytes())
        .map_err(|e| Error::io("write", path, e))
}

/// Parses an unsigned integer value.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    let t = s.trim();
    t.parse::<u64>().map_err(|_| Error::parse(path, t))
}

/// Parses a signed integer value.
pub(crate) fn parse_i64(path: &Path, s: &str) -> Result<i64> {
    let t = s.trim();
    t.parse::<i64>().map_err(|_| Error::parse(path, t))
}

/// Reads a single unsigned integer; `None` if the file is missing.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>> {
    read_opt(path)?.map(|s| parse_u64(path, &s)).transpose()
}

/// Parses a v2 style limit: `max` is unlimited (`None`).
pub(crate) fn parse_max(path: &Path, s: &str) -> Result<Option<u64>> {
    match s.trim() {
        "max" => Ok(None),
        other => parse_u64(path, other).map(Some),
    }
}

/// Reads a v2 style limit file: `None` if missing or `max`.
pub(crate) fn read_max(path: &Path) -> Result<Option<u64>> {
    Ok(read_opt(path)?
        .map(|s| parse_max(path, &s))
        .transpose()?
        .flatten())
}

/// cgroup v1 memory files report "no limit" as `PAGE_COUNTER_MAX * PAGE_SIZE`
/// (9223372036854771712 with 4 KiB pages, a bit less with larger pages).
/// Anything at or above 2^62 bytes (4 EiB) is treated as unlimited.
pub(crate) const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Maps a v1 memory limit value to `None` when it means "unlimited".
pub(crate) fn v1_limit(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v < V1_UNLIMITED_THRESHOLD)
}

/// Looks `key` up in a flat keyed file (`key value` per line, e.g.
/// memory.stat, cpu.stat, memory.events, memory.oom_control).
pub(crate) fn keyed_u64(path: &Path, content: &str, key: &str) -> Result<Option<u64>> {
    for line in content.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let value = it.next().ok_or_else(|| Error::parse(path, line))?;
            return parse_u64(path, value).map(Some);
        }
    }
    Ok(None)
}

/// Reads a flat keyed file and returns the values of `keys` (each `None` if
/// absent). All `None` if the file is missing.
pub(crate) fn read_keyed<const N: usize>(path: &Path, keys: [&str; N]) -> Result<[Option<u64>; N]> {
    let mut out = [None; N];
    if let Some(content) = read_opt(path)? {
        for (slot, key) in out.iter_mut().zip(keys) {
            *slot = keyed_u64(path, &content, key)?;
        }
    }
    Ok(out)
}

/// Reads a list-valued file (cpuset.cpus, ...); `None` if missing or empty.
pub(crate) fn read_list(path: &Path) -> Result<Option<String>> {
    Ok(read_opt(path)?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values() {
        let p = Path::new("/x/memory.stat");
        let content = "cache 10\nrss 20\ntotal_cache 30\n";
        assert_eq!(keyed_u64(p, content, "rss").unwrap(), Some(20));
        assert_eq!(keyed_u64(p, content, "cache").unwrap(), Some(10));
        assert_eq!(keyed_u64(p, content, "nope").unwrap(), None);
        let err = keyed_u64(p, "rss abc\n", "rss").unwrap_err();
        assert!(err.to_string().contains("/x/memory.stat"), "{err}");
        assert!(keyed_u64(p, "rss\n", "rss").is_err());
    }

    #[test]
    fn limits() {
        let p = Path::new("/x/pids.max");
        assert_eq!(parse_max(p, "max\n").unwrap(), None);
        assert_eq!(parse_max(p, "42\n").unwrap(), Some(42));
        assert!(parse_max(p, "-1").is_err());
        assert_eq!(v1_limit(Some(9223372036854771712)), None);
        assert_eq!(v1_limit(Some(9223372036854710272)), None);
        assert_eq!(v1_limit(Some(64 << 20)), Some(64 << 20));
        assert_eq!(v1_limit(None), None);
    }

    #[test]
    fn missing_files_are_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_u64(&dir.path().join("nope")).unwrap(), None);
        assert_eq!(read_max(&dir.path().join("nope")).unwrap(), None);
        assert_eq!(read_list(&dir.path().join("nope")).unwrap(), None);
        assert_eq!(
            read_keyed(&dir.path().join("nope"), ["a", "b"]).unwrap(),
            [None, None]
        );
        fs::write(dir.path().join("list"), "\n").unwrap();
        assert_eq!(read_list(&dir.path().join("list")).unwrap(), None);
        // A directory where a file is expected is an error naming the path.
        let err = read_u64(dir.path()).unwrap_err();
        assert!(err.to_string().contains("read"), "{err}");
    }
}
