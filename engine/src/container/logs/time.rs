//! Timestamps: the form conmon writes, the form `podman logs -t` prints, and
//! the `--since`/`--until` values Podman accepts.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike,
    Utc,
};

use super::LogError;

/// The current time with the local offset, as conmon stamps records.
pub fn local_now() -> DateTime<FixedOffset> {
    Local::now().fixed_offset()
}

fn push_num(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut v = value;
    let mut n = 0;
    while v > 0 && n < digits.len() {
        digits[digits.len() - 1 - n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
    }
    let n = n.max(width).min(digits.len());
    out.extend_from_slice(&digits[digits.len() - n..]);
}

fn push_date_time(out: &mut Vec<u8>, t: &DateTime<FixedOffset>) {
    let year = t.year();
    if year < 0 {
        out.push(b'-');
    }
    push_num(out, year.unsigned_abs(), 4);
    out.push(b'-');
    push_num(out, t.month(), 2);
    out.push(b'-');
    push_num(out, t.day(), 2);
    out.push(b'T');
    push_num(out, t.hour(), 2);
    out.push(b':');
    push_num(out, t.minute(), 2);
    out.push(b':');
    push_num(out, t.second(), 2);
    out.push(b'.');
    // A leap second shows as nanosecond >= 1e9 in chrono; conmon's
    // clock never produces one.
    push_num(out, t.nanosecond().min(999_999_999), 9);
}

fn push_offset(out: &mut Vec<u8>, secs: i32) {
    out.push(if secs < 0 { b'-' } else { b'+' });
    let off = secs.unsigned_abs();
    push_num(out, off / 3600, 2);
    out.push(b':');
    push_num(out, (off % 3600) / 60, 2);
}

/// Appends the timestamp as conmon writes it in a k8s-file record:
/// `2026-11-23T08:29:20.059193581+00:00` (nine digits, numeric offset even
/// for UTC).
pub fn format_k8s_timestamp(t: &DateTime<FixedOffset>, out: &mut Vec<u8>) {
    push_date_time(out, t);
    push_offset(out, t.offset().local_minus_utc());
}

/// Appends the timestamp as `podman logs -t` prints it (Go's
/// `2006-01-02T15:04:05.000000000Z07:00` of the record's time): nine
/// digits, `Z` for a zero offset.
pub fn format_podman_timestamp(t: &DateTime<FixedOffset>, out: &mut Vec<u8>) {
    push_date_time(out, t);
    let off = t.offset().local_minus_utc();
    if off == 0 {
        out.push(b'Z');
    } else {
        push_offset(out, off);
    }
}

/// Parses a `--since` (`since` = true) or `--until` value as Podman 4.3's
/// `ParseInputTime` does: RFC 3339 (with or without fraction),
/// `YYYY-MM-DDTHH:MM:SS[.frac]` (UTC), `YYYY-MM-DD` with `Z` or `±HH:MM`,
/// `YYYY-MM-DD` (UTC), unix seconds (`1700000000`, `1700000000.5`), or a Go
/// duration (`10m`, `1h30m`, `500ms`) counted back from `now` for since and
/// forward for until.
pub fn parse_time_arg(
    value: &str,
    since: bool,
    now: DateTime<Utc>,
) -> Result<DateTime<FixedOffset>, LogError> {
    let flag = if since { "--since" } else { "--until" };
    let bad = || LogError::Time {
        flag,
        value: value.to_string(),
    };
    let utc = FixedOffset::east_opt(0).ok_or_else(bad)?;
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t);
    }
    for layout in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, layout) {
            return Ok(utc.from_utc_datetime(&t));
        }
    }
    if let Some(t) = parse_date_with_zone(value) {
        return Ok(t);
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(utc.from_utc_datetime(&t));
        }
    }
    if let Some(t) = parse_unix(value) {
        return Ok(t);
    }
    let d = parse_go_duration(value).ok_or_else(bad)?;
    let t = if since {
        now.checked_sub_signed(d)
    } else {
        now.checked_add_signed(d)
    };
    t.map(|t| t.fixed_offset()).ok_or_else(bad)
}

/// Go's `2006-01-02Z07:00`: a date then `Z` or `±HH:MM`; midnight there.
fn parse_date_with_zone(value: &str) -> Option<DateTime<FixedOffset>> {
    let date = value.get(..10)?;
    let zone = value.get(10..)?;
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let offset = if zone == "Z" {
        0
    } else {
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = zone.get(1..)?.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: i32 = h.parse().ok()?;
        let m: i32 = m.parse().ok()?;
        sign * (h * 3600 + m * 60)
    };
    let tz = FixedOffset::east_opt(offset)?;
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single()
}

/// Unix seconds with an optional fraction (Go's `ParseFloat`, then
/// integer and fractional parts).
fn parse_unix(value: &str) -> Option<DateTime<FixedOffset>> {
    if !value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    let f: f64 = value.parse().ok()?;
    if !f.is_finite() || f.abs() > 1e15 {
        return None;
    }
    let secs = f.trunc();
    let nanos = ((f - secs) * 1e9) as i64;
    let t = DateTime::from_timestamp(secs as i64, 0)?;
    t.checked_add_signed(Duration::nanoseconds(nanos))
        .map(|t| t.fixed_offset())
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<number><unit>`
/// with units ns, us (µs), ms, s, m, h; `0` alone is allowed.
fn parse_go_duration(value: &str) -> Option<Duration> {
    let (neg, mut rest) = match value.as_bytes().first()? {
        b'-' => (true, &value[1..]),
        b'+' => (false, &value[1..]),
        _ => (false, value),
    };
    if rest == "0" {
        return Some(Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
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
        total_ns += number * scale;
    }
    // Go's limit: about 292 years.
    if !total_ns.is_finite() || total_ns > i64::MAX as f64 {
        return None;
    }
    let d = Duration::nanoseconds(total_ns as i64);
    Some(if neg { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).expect("test timestamp")
    }

    #[test]
    fn k8s_timestamp_as_conmon() {
        let mut out = Vec::new();
        // Recorded from conmon 2.1.6 (TZ UTC): "2026-11-23T08:29:20.059193581+00:00"
        format_k8s_timestamp(&ts("2026-11-23T08:29:20.059193581Z"), &mut out);
        assert_eq!(out, b"2026-11-23T08:29:20.059193581+00:00");
        out.clear();
        format_k8s_timestamp(&ts("2024-01-02T03:04:05.000000100-05:30"), &mut out);
        assert_eq!(out, b"2024-01-02T03:04:05.000000100-05:30");
    }

    #[test]
    fn podman_timestamp_as_logs_t() {
        let mut out = Vec::new();
        // `podman logs -t` printed "2026-11-23T08:29:20.059193581Z" for the above.
        format_podman_timestamp(&ts("2026-11-23T08:29:20.059193581+00:00"), &mut out);
        assert_eq!(out, b"2026-11-23T08:29:20.059193581Z");
        out.clear();
        format_podman_timestamp(&ts("2024-01-02T03:04:05.5+01:00"), &mut out);
        assert_eq!(out, b"2024-01-02T03:04:05.500000000+01:00");
    }

    #[test]
    fn since_until_forms() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        let p = |v: &str, since: bool| parse_time_arg(v, since, now).expect(v).to_rfc3339();
        assert_eq!(p("2024-01-02T03:04:05Z", true), "2024-01-02T03:04:05+00:00");
        assert_eq!(
            p("2024-01-02T03:04:05.123456789+02:00", true),
            "2024-01-02T03:04:05.123456789+02:00"
        );
        assert_eq!(p("2024-01-02T03:04:05", true), "2024-01-02T03:04:05+00:00");
        assert_eq!(
            p("2024-01-02T03:04:05.25", true),
            "2024-01-02T03:04:05.250+00:00"
        );
        assert_eq!(p("2024-01-02+01:00", true), "2024-01-02T00:00:00+01:00");
        assert_eq!(p("2024-01-02Z", true), "2024-01-02T00:00:00+00:00");
        assert_eq!(p("2024-01-02", true), "2024-01-02T00:00:00+00:00");
        assert_eq!(p("1700000000", true), "2023-11-14T22:13:20+00:00");
        assert_eq!(p("1700000000.5", true), "2023-11-14T22:13:20.500+00:00");
        assert_eq!(p("10m", true), "2024-05-01T11:50:00+00:00");
        assert_eq!(p("10m", false), "2024-05-01T12:10:00+00:00");
        assert_eq!(p("1h30m", true), "2024-05-01T10:30:00+00:00");
        assert_eq!(p("1.5h", true), "2024-05-01T10:30:00+00:00");
        assert_eq!(p("-5s", true), "2024-05-01T12:00:05+00:00");
        assert_eq!(p("0", true), "1970-01-01T00:00:00+00:00"); // unix 0, as Go
        for bad in [
            "",
            "yesterday",
            "10x",
            "m",
            "2024-13-01",
            "1h-5m",
            "inf",
            "NaN",
        ] {
            let e = parse_time_arg(bad, true, now).expect_err(bad);
            assert!(e.to_string().contains("--since"), "{e}");
        }
    }
}
