//! Subordinate id ranges: /etc/subuid and /etc/subgid.
//!
//! Each line is `owner:start:count`, where owner is a user name or a numeric
//! uid (both files are keyed by *user*). A user may have several lines.
//! Empty lines and lines starting with `#` are ignored.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::idmap::ID_LIMIT;
use crate::syscall::Syscall;

/// Path of the subordinate uid file.
pub const SUBUID_PATH: &str = "/etc/subuid";
/// Path of the subordinate gid file.
pub const SUBGID_PATH: &str = "/etc/subgid";

/// `count` host ids starting at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

impl SubIdRange {
    pub const fn new(start: u32, count: u32) -> Self {
        SubIdRange { start, count }
    }

    /// One past the last id (u64: cannot overflow).
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.count)
    }
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubIdEntry {
    /// User name or numeric uid, as written.
    pub owner: String,
    pub range: SubIdRange,
    /// 1-based line number.
    pub line: usize,
}

impl SubIdEntry {
    /// Whether this line belongs to the user `name` (if known) with uid `uid`.
    pub fn belongs_to(&self, name: Option<&str>, uid: u32) -> bool {
        if name == Some(self.owner.as_str()) {
            return true;
        }
        self.owner.bytes().all(|b| b.is_ascii_digit()) && self.owner.parse::<u32>() == Ok(uid)
    }
}

/// A parsed /etc/subuid or /etc/subgid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubIdFile {
    path: PathBuf,
    entries: Vec<SubIdEntry>,
}

impl SubIdFile {
    /// Parses the content of the file at `path` (the path is only used in
    /// error messages). A malformed line is an error naming its number.
    pub fn parse(path: impl Into<PathBuf>, content: &str) -> Result<Self> {
        let path = path.into();
        let mut entries = Vec::new();
        for (index, raw) in content.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let syntax = |reason: String| Error::SubIdSyntax {
                path: path.clone(),
                line: number,
                reason,
            };
            let fields: Vec<&str> = line.split(':').map(str::trim).collect();
            if fields.len() != 3 {
                return Err(syntax(format!(
                    "expected owner:start:count, found {} field(s) in {line:?}",
                    fields.len()
                )));
            }
            let owner = fields[0];
            if owner.is_empty() {
                return Err(syntax("empty owner".to_string()));
            }
            let start: u32 = fields[1]
                .parse()
                .map_err(|e| syntax(format!("invalid start {:?}: {e}", fields[1])))?;
            let count: u32 = fields[2]
                .parse()
                .map_err(|e| syntax(format!("invalid count {:?}: {e}", fields[2])))?;
            if count == 0 {
                return Err(syntax("count must be at least 1".to_string()));
            }
            let range = SubIdRange::new(start, count);
            if range.end() > ID_LIMIT {
                return Err(syntax(format!(
                    "range {start}+{count} goes past the largest id {}",
                    ID_LIMIT - 1
                )));
            }
            entries.push(SubIdEntry {
                owner: owner.to_string(),
                range,
                line: number,
            });
        }
        Ok(SubIdFile { path, entries })
    }

    /// Reads and parses `path`; a missing file is an empty one.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(&crate::syscall::LinuxSyscall, path)
    }

    /// [`SubIdFile::load`] through `sys`.
    pub fn load_with(sys: &dyn Syscall, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match sys.read_file(path) {
            Ok(content) => Self::parse(path, &content),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SubIdFile {
                path: path.to_path_buf(),
                entries: Vec::new(),
            }),
            Err(source) => Err(Error::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[SubIdEntry] {
        &self.entries
    }

    /// The ranges of the user `name` (if known) / `uid`, in file order.
    pub fn ranges_for(&self, name: Option<&str>, uid: u32) -> Vec<SubIdRange> {
        self.entries
            .iter()
            .filter(|e| e.belongs_to(name, uid))
            .map(|e| e.range)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# subordinate uids
alice:100000:65536

bob:165536:65536
  # indented comment
1001:231072:1000
alice:300000:10
";

    #[test]
    fn parses_names_uids_comments_and_multiple_ranges() {
        let f = SubIdFile::parse("/etc/subuid", SAMPLE).expect("parse");
        assert_eq!(f.entries().len(), 4);
        assert_eq!(f.entries()[1].line, 4);
        assert_eq!(
            f.ranges_for(Some("alice"), 1000),
            vec![SubIdRange::new(100000, 65536), SubIdRange::new(300000, 10)]
        );
        // By uid only, and by name + uid.
        assert_eq!(
            f.ranges_for(None, 1001),
            vec![SubIdRange::new(231072, 1000)]
        );
        assert_eq!(
            f.ranges_for(Some("carol"), 1001),
            vec![SubIdRange::new(231072, 1000)]
        );
        assert!(f.ranges_for(Some("dave"), 4242).is_empty());
        assert!(f.ranges_for(None, 1000).is_empty());
    }

    #[test]
    fn bad_lines_name_the_line() {
        let cases = [
            ("alice:1:1\nbob:100000\n", 2, "expected owner:start:count"),
            ("alice:1:1\nbob:1:2:3\n", 2, "expected owner:start:count"),
            ("# c\n\n:100000:65536\n", 3, "empty owner"),
            ("bob:x:65536\n", 1, "invalid start"),
            ("bob:100000:-1\n", 1, "invalid count"),
            ("bob:100000:0\n", 1, "count must be at least 1"),
            ("bob:4294967295:1\n", 1, "past the largest id"),
        ];
        for (content, line, reason) in cases {
            let err = SubIdFile::parse("/etc/subgid", content).expect_err(content);
            match &err {
                Error::SubIdSyntax { line: l, .. } => assert_eq!(*l, line, "{err}"),
                other => panic!("unexpected error {other}"),
            }
            let text = err.to_string();
            assert!(text.starts_with(&format!("/etc/subgid:{line}: ")), "{text}");
            assert!(text.contains(reason), "{text}");
        }
    }

    #[test]
    fn numeric_owner_must_be_exact() {
        let f = SubIdFile::parse("x", "10a:1:1\n").expect("parse");
        assert!(f.ranges_for(None, 10).is_empty());
        assert_eq!(f.ranges_for(Some("10a"), 5).len(), 1);
    }

    #[test]
    fn missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = SubIdFile::load(dir.path().join("nope")).expect("load");
        assert!(f.entries().is_empty());
        let err = SubIdFile::load(dir.path()).expect_err("a directory");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }
}
