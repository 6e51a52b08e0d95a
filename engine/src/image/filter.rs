//! Image filters of `podman images --filter` and `podman image prune
//! --filter`, as Podman 4.3.1 (containers/common 0.50 `libimage`) parses and
//! applies them:
//!
//! * `KEY=VALUE` or `KEY!=VALUE` (negated); anything else is an error;
//! * filters with the same key are ORed, different keys ANDed;
//! * keys: `after`/`since`, `before` (an image's created time), `containers`
//!   (`true`, `false`, `external`), `dangling`, `id` (the full ID),
//!   `intermediate`, `label` (`KEY` or `KEY=VALUE`, `*` in the key),
//!   `manifest`, `readonly`, `reference` (a `path.Match` glob on the name in
//!   several spellings), `until` (timestamp or Go duration). `digest` and
//!   other keys are "unsupported image filter" in 4.3.1;
//! * a boolean key given twice with different values is an error.
//!
//! This module is pure: [`compile`] gets a lookup for `after`/`before`, and
//! [`Filters::matches`] gets an [`Candidate`] with everything a filter
//! looks at, computed by the engine.

use std::collections::BTreeMap;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::image::reference::Reference;

/// What the filters look at for one image.
#[derive(Debug, Clone, Default)]
pub struct Candidate<'a> {
    /// 64 hex.
    pub id: &'a str,
    /// Stored names (`registry/repo:tag`).
    pub names: &'a [String],
    pub labels: BTreeMap<String, String>,
    /// Creation time, nanoseconds since the epoch.
    pub created_nanos: i128,
    /// No name and no child image.
    pub dangling: bool,
    /// No name but a child image.
    pub intermediate: bool,
    /// IDs of the containers using the image.
    pub containers: usize,
    pub read_only: bool,
    pub manifest_list: bool,
}

#[derive(Debug, Clone)]
enum Filter {
    After(i128),
    Before(i128),
    Containers(Option<bool>),
    Dangling(bool),
    Id(String),
    Intermediate(bool),
    Label(String),
    ReadOnly(bool),
    Manifest(bool),
    Reference(String),
}

#[derive(Debug, Clone)]
struct Compiled {
    filter: Filter,
    negate: bool,
}

/// Compiled filters, grouped by key.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    by_key: BTreeMap<String, Vec<Compiled>>,
}

/// A filter that does not parse; the text is Podman's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Parses `filters` (`KEY=VALUE`…). `created_of(name)` returns the created
/// time (ns) of the local image `name`, or the lookup error's text.
pub fn compile(
    filters: &[String],
    created_of: &dyn Fn(&str) -> Result<i128, String>,
    now: DateTime<Utc>,
) -> Result<Filters, FilterError> {
    let mut out = Filters::default();
    let mut duplicate: BTreeMap<String, String> = BTreeMap::new();
    let mut once = |key: &str, value: &str| -> Result<(), FilterError> {
        if let Some(v) = duplicate.get(key) {
            if v != value {
                return Err(FilterError(format!(
                    "specifying {key:?} filter more than once with different values is not supported"
                )));
            }
        }
        duplicate.insert(key.to_string(), value.to_string());
        Ok(())
    };
    for f in filters {
        let (key, value, negate) = match f.split_once("!=") {
            Some((k, v)) => (k, v, true),
            None => match f.split_once('=') {
                Some((k, v)) => (k, v, false),
                None => {
                    return Err(FilterError(format!(
                        "invalid image filter {f:?}: must be in the format \"filter=value or filter!=value\""
                    )))
                }
            },
        };
        let bool_value = |once: &mut dyn FnMut(&str, &str) -> Result<(), FilterError>| {
            once(key, value)?;
            parse_go_bool(value).ok_or_else(|| {
                // Podman 4.3.1 swaps key and value in this message.
                FilterError(format!(
                    "non-boolean value {key:?} for {value} filter: strconv.ParseBool: parsing {value:?}: invalid syntax"
                ))
            })
        };
        let time_of = |value: &str| {
            created_of(value).map_err(|e| {
                FilterError(format!(
                    "could not find local image for filter filter {key:?}={value:?}: {e}"
                ))
            })
        };
        let mut group = key.to_string();
        let filter = match key {
            "after" | "since" => {
                group = "since".into();
                Filter::After(time_of(value)?)
            }
            "before" => Filter::Before(time_of(value)?),
            "containers" => {
                once(key, value)?;
                Filter::Containers(match value {
                    "true" => Some(true),
                    "false" => Some(false),
                    "external" => None,
                    _ => {
                        return Err(FilterError(format!(
                            "unsupported value {value:?} for containers filter"
                        )))
                    }
                })
            }
            "dangling" => Filter::Dangling(bool_value(&mut once)?),
            "id" => Filter::Id(value.to_string()),
            "intermediate" => Filter::Intermediate(bool_value(&mut once)?),
            "label" => Filter::Label(value.to_string()),
            "readonly" => Filter::ReadOnly(bool_value(&mut once)?),
            "manifest" => Filter::Manifest(bool_value(&mut once)?),
            "reference" => Filter::Reference(value.to_string()),
            "until" => Filter::Before(parse_until(value, now)?),
            _ => return Err(FilterError(format!("unsupported image filter {key:?}"))),
        };
        out.by_key
            .entry(group)
            .or_default()
            .push(Compiled { filter, negate });
    }
    Ok(out)
}

impl Filters {
    /// No filter at all.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// At least one filter of every key matches.
    pub fn matches(&self, c: &Candidate<'_>) -> bool {
        self.by_key
            .values()
            .all(|group| group.iter().any(|f| f.matches(c) != f.negate))
    }
}

impl Compiled {
    fn matches(&self, c: &Candidate<'_>) -> bool {
        match &self.filter {
            Filter::After(t) => c.created_nanos > *t,
            Filter::Before(t) => c.created_nanos < *t,
            // "external": every container using it is an external one; podman-rs
            // has no external containers.
            Filter::Containers(None) => c.containers == 0,
            Filter::Containers(Some(b)) => (c.containers > 0) == *b,
            Filter::Dangling(b) => c.dangling == *b,
            Filter::Id(id) => c.id == id,
            Filter::Intermediate(b) => c.intermediate == *b,
            Filter::Label(l) => match_label(l, &c.labels),
            Filter::ReadOnly(b) => c.read_only == *b,
            Filter::Manifest(b) => c.manifest_list == *b,
            Filter::Reference(pattern) => c.names.iter().any(|n| {
                reference_candidates(n)
                    .iter()
                    .any(|s| path_match(pattern, s))
            }),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The spellings of a stored name the `reference` filter tries (libimage's
/// `filterReferences`): the full name with tag, the path without domain and
/// tag, the last component with tag, and, when tagged, the full name without
/// tag, the path with tag, and the last component without tag.
pub fn reference_candidates(name: &str) -> Vec<String> {
    let Ok(r) = Reference::parse(name) else {
        return vec![name.to_string()];
    };
    let full = r.to_string();
    let trimmed = r.name();
    let path = r.repository.clone();
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let mut out = vec![full.clone(), path.clone(), last(&full)];
    if full != trimmed {
        let suffix = &full[trimmed.len()..];
        out.push(trimmed.clone());
        out.push(format!("{path}{suffix}"));
        out.push(last(&trimmed));
    }
    out
}

/// containers/common `MatchLabelFilters` for one filter: `KEY` or
/// `KEY=VALUE`; a key with `*` is a glob matched anywhere in label keys.
pub fn match_label(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    let (key, value) = filter.split_once('=').unwrap_or((filter, ""));
    labels.iter().any(|(k, v)| {
        (value.is_empty() || v == value)
            && (k == key
                || (key.contains('*')
                    && path_match(&format!("*{key}*").replace('/', "|"), &k.replace('/', "|"))))
    })
}

/// Go's `path.Match` (a malformed pattern matches nothing): `*` any run of
/// non-`/` characters, `?` one non-`/` character, `[…]`/`[^…]` classes with
/// ranges, `\` escapes.
pub fn path_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n).unwrap_or(false)
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    let Some((&first, rest)) = p.split_first() else {
        return Some(n.is_empty());
    };
    match first {
        '*' => {
            // Try every split not crossing a '/'.
            let mut i = 0;
            loop {
                if match_from(rest, &n[i..])? {
                    return Some(true);
                }
                if i >= n.len() || n[i] == '/' {
                    // Validate the rest of the pattern as Go does.
                    return valid_pattern(rest).then_some(false);
                }
                i += 1;
            }
        }
        '?' => match n.split_first() {
            Some((&c, nr)) if c != '/' => match_from(rest, nr),
            _ => valid_pattern(rest).then_some(false),
        },
        '[' => {
            let (matched, after) = match_class(rest, n.first().copied())?;
            match n.split_first() {
                Some((&c, nr)) if c != '/' && matched => match_from(after, nr),
                _ => valid_pattern(after).then_some(false),
            }
        }
        '\\' => {
            let (&c, rest) = rest.split_first()?;
            match n.split_first() {
                Some((&x, nr)) if x == c => match_from(rest, nr),
                _ => valid_pattern(rest).then_some(false),
            }
        }
        c => match n.split_first() {
            Some((&x, nr)) if x == c => match_from(rest, nr),
            _ => valid_pattern(rest).then_some(false),
        },
    }
}

/// Parses a class after `[`: whether `c` is in it, and the pattern after `]`.
/// `None`: malformed.
fn match_class(p: &[char], c: Option<char>) -> Option<(bool, &[char])> {
    let (negated, mut p) = match p.split_first() {
        Some(('^', rest)) => (true, rest),
        _ => (false, p),
    };
    let mut matched = false;
    let mut n = 0;
    loop {
        if let Some((']', rest)) = p.split_first() {
            if n > 0 {
                let hit = matched != negated && c.is_some();
                return Some((hit, rest));
            }
        }
        let (lo, rest) = class_char(p)?;
        p = rest;
        let mut hi = lo;
        if let Some(('-', rest)) = p.split_first() {
            let (h, rest) = class_char(rest)?;
            hi = h;
            p = rest;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
        n += 1;
    }
}

fn class_char(p: &[char]) -> Option<(char, &[char])> {
    match p.split_first()? {
        ('-' | ']', _) => None,
        ('\\', rest) => rest.split_first().map(|(&c, r)| (c, r)),
        (&c, rest) => Some((c, rest)),
    }
}

fn valid_pattern(p: &[char]) -> bool {
    let mut p = p;
    while let Some((&c, rest)) = p.split_first() {
        p = match c {
            '\\' => match rest.split_first() {
                Some((_, r)) => r,
                None => return false,
            },
            '[' => match match_class(rest, None) {
                Some((_, r)) => r,
                None => return false,
            },
            _ => rest,
        };
    }
    true
}

/// `until=`: a Go duration before `now` (not "0"), an RFC 3339-like time
/// (local time zone when none is given), or Unix seconds[.nanos]
/// (containers/common `timetype.GetTimestamp`). Returns ns since the epoch.
pub fn parse_until(value: &str, now: DateTime<Utc>) -> Result<i128, FilterError> {
    let now_ns =
        i128::from(now.timestamp()) * 1_000_000_000 + i128::from(now.timestamp_subsec_nanos());
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            return Ok(now_ns - d);
        }
    }
    if let Some(t) = parse_time(value) {
        return Ok(t);
    }
    if value.contains('-') {
        return Err(FilterError(format!(
            "parsing time {value:?}: not an RFC 3339 time, date or duration"
        )));
    }
    parse_unix(value).ok_or_else(|| {
        FilterError(format!(
            "failed to parse value as time or duration: {value:?}"
        ))
    })
}

fn parse_unix(value: &str) -> Option<i128> {
    let (s, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = s.parse().ok()?;
    let mut ns = 0i128;
    if let Some(f) = frac {
        let n: i64 = f.parse().ok()?;
        let digits = f.len() as i32;
        ns = (n as f64 * 10f64.powi(9 - digits)) as i128;
    }
    Some(i128::from(secs) * 1_000_000_000 + ns)
}

fn parse_time(value: &str) -> Option<i128> {
    let to_ns = |t: DateTime<chrono::FixedOffset>| {
        i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
    };
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if zoned {
        if let Ok(t) = DateTime::parse_from_rfc3339(value) {
            return Some(to_ns(t));
        }
        for f in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H%:z"] {
            if let Ok(t) = DateTime::parse_from_str(&value.replace(['z', 'Z'], "+00:00"), f) {
                return Some(to_ns(t));
            }
        }
        let (date, zone) = value.split_at(value.len().min(10));
        let zone = if zone.eq_ignore_ascii_case("z") {
            "+00:00"
        } else {
            zone
        };
        let t = DateTime::parse_from_str(&format!("{date}T00:00:00{zone}"), "%Y-%m-%dT%H:%M:%S%:z")
            .ok()?;
        return Some(to_ns(t));
    }
    let naive = if value.contains('T') {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(&value[..value.len().min(10)], "%Y-%m-%d")
                    .ok()
                    .filter(|_| value.len() == 13)
                    .and_then(|d| d.and_hms_opt(value[11..].parse().ok()?, 0, 0))
            })?
    } else {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    let t = Local.from_local_datetime(&naive).earliest()?;
    Some(to_ns(t.fixed_offset()))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return None;
        }
        let v: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += v * scale;
    }
    let ns = total as i128;
    Some(if neg { -ns } else { ns })
}

/// libimage `areParentAndChild` on two image configs: the child has all the
/// parent's diff IDs first, and the parent's history plus one entry.
pub fn is_parent_and_child(parent: &Value, child: &Value) -> bool {
    let diff_ids = |v: &Value| {
        v.pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let history = |v: &Value| {
        v.get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (pd, cd) = (diff_ids(parent), diff_ids(child));
    if pd.len() > cd.len() || pd[..] != cd[..pd.len()] {
        return false;
    }
    let (ph, ch) = (history(parent), history(child));
    ph.len() + 1 == ch.len() && ph[..] == ch[..ph.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn no_lookup(name: &str) -> Result<i128, String> {
        Err(format!("{name}: image not known"))
    }

    fn err(filters: &[&str]) -> String {
        let f: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        compile(&f, &no_lookup, now()).unwrap_err().0
    }

    fn filters(filters: &[&str]) -> Filters {
        let f: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        compile(&f, &|_| Ok(1_000), now()).unwrap()
    }

    #[test]
    fn errors_read_like_podman() {
        assert_eq!(err(&["foo=bar"]), "unsupported image filter \"foo\"");
        assert_eq!(
            err(&["digest=sha256:00"]),
            "unsupported image filter \"digest\""
        );
        assert_eq!(
            err(&["foo"]),
            "invalid image filter \"foo\": must be in the format \"filter=value or filter!=value\""
        );
        assert_eq!(
            err(&["dangling=maybe"]),
            "non-boolean value \"dangling\" for maybe filter: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(
            err(&["dangling=1", "dangling=true"]),
            "specifying \"dangling\" filter more than once with different values is not supported"
        );
        assert_eq!(
            err(&["containers=maybe"]),
            "unsupported value \"maybe\" for containers filter"
        );
        assert_eq!(
            err(&["after=nosuch"]),
            "could not find local image for filter filter \"after\"=\"nosuch\": nosuch: image not known"
        );
        assert_eq!(
            err(&["until=nonsense"]),
            "failed to parse value as time or duration: \"nonsense\""
        );
    }

    #[test]
    fn same_key_ors_different_keys_and() {
        let names = vec!["localhost/a:1".to_string()];
        let mut labels = BTreeMap::new();
        labels.insert("foo".to_string(), "bar".to_string());
        let c = Candidate {
            id: "x",
            names: &names,
            labels,
            ..Candidate::default()
        };
        assert!(filters(&["reference=a", "reference=c"]).matches(&c));
        assert!(filters(&["label=foo", "label=x"]).matches(&c));
        assert!(!filters(&["label=foo", "reference=c"]).matches(&c));
        assert!(filters(&["label=foo", "reference=a:1"]).matches(&c));
        assert!(!filters(&["label!=foo"]).matches(&c));
        assert!(filters(&["label!=nosuch"]).matches(&c));
        assert!(filters(&["id=x"]).matches(&c));
        assert!(!filters(&["id=x", "id=y"]).matches(&Candidate {
            id: "z",
            ..c.clone()
        }));
        assert!(filters(&["dangling=false", "containers=false", "readonly=false"]).matches(&c));
        assert!(!filters(&["containers=true"]).matches(&c));
    }

    #[test]
    fn reference_spellings() {
        let m = |p: &str, n: &str| reference_candidates(n).iter().any(|s| path_match(p, s));
        let n = "quay.io/ns/b:2";
        for p in [
            "quay.io/ns/b:2",
            "ns/b",
            "b:2",
            "quay.io/ns/b",
            "ns/b:2",
            "b",
            "*b*",
            "quay.io/ns/b:*",
            "*/ns/*",
            "b:?",
        ] {
            assert!(m(p, n), "{p}");
        }
        for p in ["latest", "quay.io", "ns", "c", "b:3", "*/b:3"] {
            assert!(!m(p, n), "{p}");
        }
        assert!(m("busybox", "docker.io/library/busybox:latest"));
        assert!(m("library/busybox", "docker.io/library/busybox:latest"));
        assert!(!m("docker.io/busybox", "docker.io/library/busybox:latest"));
    }

    #[test]
    fn go_path_match() {
        assert!(path_match("a*c", "abbc"));
        assert!(!path_match("a*c", "ab/c"));
        assert!(path_match("[a-c]x", "bx"));
        assert!(!path_match("[^a-c]x", "bx"));
        assert!(path_match("\\*", "*"));
        assert!(!path_match("[", "["), "malformed");
        assert!(!path_match("a[", "a"), "malformed");
    }

    #[test]
    fn labels_like_match_label_filters() {
        let mut l = BTreeMap::new();
        l.insert("org.example/version".to_string(), "1".to_string());
        assert!(match_label("org.example/version", &l));
        assert!(match_label("org.example/version=1", &l));
        assert!(!match_label("org.example/version=2", &l));
        assert!(match_label("version*", &l));
        assert!(match_label("org.*/vers*=1", &l));
        assert!(!match_label("foo", &l));
        assert!(!match_label("foo=b*", &l), "values are not globs");
    }

    #[test]
    fn until_values() {
        let n = 1_800_000_000i128 * 1_000_000_000;
        assert_eq!(parse_until("1h", now()).unwrap(), n - 3600 * 1_000_000_000);
        assert_eq!(
            parse_until("1h30m", now()).unwrap(),
            n - 5400 * 1_000_000_000
        );
        assert_eq!(parse_until("1.5s", now()).unwrap(), n - 1_500_000_000);
        assert_eq!(parse_until("0", now()).unwrap(), 0, "0 is a timestamp");
        assert_eq!(
            parse_until("1700000000", now()).unwrap(),
            1_700_000_000 * 1_000_000_000
        );
        assert_eq!(
            parse_until("1700000000.5", now()).unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_until("2024-01-01T00:00:00Z", now()).unwrap(),
            1_704_067_200i128 * 1_000_000_000
        );
        assert_eq!(
            parse_until("2024-01-01T01:00:00+01:00", now()).unwrap(),
            1_704_067_200i128 * 1_000_000_000
        );
        assert!(parse_until("2024-01-01", now()).is_ok());
        assert!(parse_until("2024-01-01T10", now()).is_ok());
        assert!(parse_until("2024-13-01", now()).is_err());
        assert!(parse_until("1x", now()).is_err());
    }

    #[test]
    fn parent_and_child_by_diff_ids_and_history() {
        let p = serde_json::json!({"rootfs": {"diff_ids": ["a"]}, "history": [{"c": 1}]});
        let c = serde_json::json!({"rootfs": {"diff_ids": ["a", "b"]}, "history": [{"c": 1}, {"c": 2}]});
        let other = serde_json::json!({"rootfs": {"diff_ids": ["x", "b"]}, "history": [{"c": 1}, {"c": 2}]});
        assert!(is_parent_and_child(&p, &c));
        assert!(!is_parent_and_child(&c, &p));
        assert!(!is_parent_and_child(&p, &other));
        assert!(!is_parent_and_child(&p, &p));
    }
}
