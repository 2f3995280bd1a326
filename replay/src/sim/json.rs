//! A minimal JSON writer for the simulator's records (keys in a fixed order, strings escaped),
//! and the datetime and address formatting the records use.

use std::fmt::Write;

/// 100 ns ticks per second, as Kusto datetimes count.
pub const TICKS_PER_SECOND: i64 = 10_000_000;
/// 100 ns ticks per minute.
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
/// 100 ns ticks per hour.
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
/// 100 ns ticks per day.
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// Appends `s` as a JSON string literal.
pub fn push_str_lit(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The day count since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD` (optionally followed by `T…`, ignored) to unix seconds at midnight UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let date = s.trim().split(['T', ' ']).next()?;
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None;
    }
    Some(days * 86_400)
}

/// `YYYY-MM-DD` of a tick count.
pub fn date_text(ticks: i64) -> String {
    let (y, m, d) = civil_from_days(ticks.div_euclid(TICKS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Appends a datetime as Log Analytics exports it: `2024-05-01T08:03:12.1234567Z`.
pub fn push_datetime(out: &mut String, ticks: i64) {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let rem = ticks.rem_euclid(TICKS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let h = rem / TICKS_PER_HOUR;
    let mi = rem % TICKS_PER_HOUR / TICKS_PER_MINUTE;
    let s = rem % TICKS_PER_MINUTE / TICKS_PER_SECOND;
    let frac = rem % TICKS_PER_SECOND;
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:07}Z");
}

/// A datetime text (see [`push_datetime`]).
pub fn datetime_text(ticks: i64) -> String {
    let mut s = String::with_capacity(28);
    push_datetime(&mut s, ticks);
    s
}

/// Dotted-quad text of an IPv4 address.
pub fn ip_text(ip: u32) -> String {
    let b = ip.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// An IPv4 address from its four octets.
pub fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// Writes one JSON object's members in order: `{"k":v,…}`.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object in `out`.
    pub fn new(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str_lit(self.out, k);
        self.out.push(':');
        self.out
    }

    /// A string member; left out when empty (as Log Analytics exports leave out empty
    /// columns).
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        if v.is_empty() {
            return self;
        }
        let o = self.key(k);
        push_str_lit(o, v);
        self
    }

    /// A member whose value is already JSON text.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k).push_str(json);
        self
    }

    /// An integer member.
    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        let o = self.key(k);
        let _ = write!(o, "{v}");
        self
    }

    /// A real member (written with up to 6 decimals, as a JSON number).
    pub fn real(&mut self, k: &str, v: f64) -> &mut Self {
        let o = self.key(k);
        if v.is_finite() {
            let _ = write!(o, "{}", (v * 1e6).round() / 1e6);
        } else {
            o.push_str("null");
        }
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).push_str(if v { "true" } else { "false" });
        self
    }

    /// A null member.
    pub fn null(&mut self, k: &str) -> &mut Self {
        self.key(k).push_str("null");
        self
    }

    /// A datetime member.
    pub fn time(&mut self, k: &str, ticks: i64) -> &mut Self {
        let o = self.key(k);
        o.push('"');
        push_datetime(o, ticks);
        o.push('"');
        self
    }

    /// A member whose value is written by `f` into the output.
    pub fn with(&mut self, k: &str, f: impl FnOnce(&mut String)) -> &mut Self {
        let o = self.key(k);
        f(o);
        self
    }

    /// A string member holding the JSON text written by `f` (how Log Analytics exports the
    /// nested values of string-typed columns).
    pub fn json_text(&mut self, k: &str, f: impl FnOnce(&mut String)) -> &mut Self {
        let mut inner = String::with_capacity(256);
        f(&mut inner);
        self.str(k, &inner)
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// Writes a JSON array of strings.
pub fn push_str_array(out: &mut String, items: &[&str]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_lit(out, s);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let s = parse_date("2024-05-01").unwrap_or(0);
        assert_eq!(s, 1_714_521_600);
        assert_eq!(date_text(s * TICKS_PER_SECOND), "2024-05-01");
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(
            datetime_text(s * TICKS_PER_SECOND + 5 * TICKS_PER_HOUR + 3),
            "2024-05-01T05:00:00.0000003Z"
        );
    }

    #[test]
    fn objects_escape() {
        let mut s = String::new();
        Obj::new(&mut s)
            .str("a", "x\"y\n")
            .int("b", -3)
            .bool("c", true)
            .json_text("d", |o| Obj::new(o).str("e", "f").end())
            .end();
        assert_eq!(s, r#"{"a":"x\"y\n","b":-3,"c":true,"d":"{\"e\":\"f\"}"}"#);
    }
}
