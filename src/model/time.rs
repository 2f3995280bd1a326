//! Datetimes and timespans: parsing the forms found in Entra ID exports and KQL, and printing
//! them as Kusto does.

/// 100 ns ticks in a millisecond.
pub const TICKS_PER_MILLI: i64 = 10_000;
/// 100 ns ticks in a second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;
/// 100 ns ticks in a minute.
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
/// 100 ns ticks in an hour.
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
/// 100 ns ticks in a day.
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count from 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Ticks since the epoch of a calendar date and time of day, or `None` when a field is out of
/// range.
pub(crate) fn ticks_of(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, frac: i64) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=59).contains(&s)
    {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(
        days * TICKS_PER_DAY
            + h * TICKS_PER_HOUR
            + mi * TICKS_PER_MINUTE
            + s * TICKS_PER_SECOND
            + frac,
    )
}

/// A cursor over ASCII bytes for the hand-written parsers below (datetimes are parsed once per
/// row on ingest, so they avoid allocation and general-purpose format machinery).
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    /// Reads between `min` and `max` decimal digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(c - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        if self.i - start < min { None } else { Some(v) }
    }
    /// Reads a fraction of a second after the dot, as 100 ns ticks (digits past the 7th are
    /// dropped).
    fn fraction(&mut self) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        let mut n = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if n < 7 {
                v = v * 10 + i64::from(c - b'0');
                n += 1;
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        while n < 7 {
            v *= 10;
            n += 1;
        }
        Some(v)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses `yyyy-MM-dd[(T| )HH:mm[:ss[.f…]]][Z|±hh[:mm]]` (ISO 8601 as found in Log Analytics,
/// diagnostic records and KQL `datetime()` literals). A missing offset means UTC.
fn parse_iso(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let y = c.digits(4, 4)?;
    if !c.eat(b'-') {
        return None;
    }
    let mo = c.digits(1, 2)?;
    if !c.eat(b'-') {
        return None;
    }
    let d = c.digits(1, 2)?;
    let (mut h, mut mi, mut sec, mut frac) = (0, 0, 0, 0);
    if c.eat(b'T') || c.eat(b't') || (c.peek() == Some(b' ') && c.b.len() > c.i + 1) {
        c.skip_spaces();
        h = c.digits(1, 2)?;
        if !c.eat(b':') {
            return None;
        }
        mi = c.digits(2, 2)?;
        if c.eat(b':') {
            sec = c.digits(2, 2)?;
            if c.eat(b'.') || c.eat(b',') {
                frac = c.fraction()?;
            }
        }
    }
    c.skip_spaces();
    let mut offset = 0i64;
    if c.eat(b'Z') || c.eat(b'z') {
    } else if let Some(sign @ (b'+' | b'-')) = c.peek() {
        c.i += 1;
        let oh = c.digits(2, 2)?;
        c.eat(b':');
        let om = c.digits(0, 2).unwrap_or(0);
        let off = oh * TICKS_PER_HOUR + om * TICKS_PER_MINUTE;
        offset = if sign == b'+' { off } else { -off };
    } else if c.b[c.i..].eq_ignore_ascii_case(b"UTC") || c.b[c.i..].eq_ignore_ascii_case(b"GMT") {
        c.i = c.b.len();
    }
    if !c.done() {
        return None;
    }
    Some(ticks_of(y, mo, d, h, mi, sec, frac)? - offset)
}

/// Parses the US form of the Log Analytics portal's CSV export:
/// `M/d/yyyy[,] h:mm[:ss[.fff]] [AM|PM]` (24-hour when there is no AM/PM), always UTC.
fn parse_us(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let mo = c.digits(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let d = c.digits(1, 2)?;
    if !c.eat(b'/') {
        return None;
    }
    let y = c.digits(4, 4)?;
    c.eat(b',');
    c.skip_spaces();
    let (mut h, mut mi, mut sec, mut frac) = (0, 0, 0, 0);
    if !c.done() {
        h = c.digits(1, 2)?;
        if !c.eat(b':') {
            return None;
        }
        mi = c.digits(2, 2)?;
        if c.eat(b':') {
            sec = c.digits(2, 2)?;
            if c.eat(b'.') {
                frac = c.fraction()?;
            }
        }
        c.skip_spaces();
        let rest = &c.b[c.i..];
        if rest.eq_ignore_ascii_case(b"AM") || rest.eq_ignore_ascii_case(b"PM") {
            if !(1..=12).contains(&h) {
                return None;
            }
            let pm = rest.eq_ignore_ascii_case(b"PM");
            h = match (h, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, true) => h + 12,
                (h, false) => h,
            };
            c.i = c.b.len();
        }
    }
    if !c.done() {
        return None;
    }
    ticks_of(y, mo, d, h, mi, sec, frac)
}

/// Parses a datetime as Kusto's `todatetime()` accepts it from the sources kqlflow reads:
/// ISO 8601 (with or without `T`, fraction and offset; no offset means UTC), the portal CSV's
/// US form (`4/28/2021, 2:08:45.221 PM`), and RFC 2822 (`Sat, 8 Nov 2014 15:05:02 GMT`).
/// Returns ticks since the Unix epoch, or `None` when the text is none of these.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(t) = parse_iso(s) {
        return Some(t);
    }
    if let Some(t) = parse_us(s) {
        return Some(t);
    }
    let dt = chrono::DateTime::parse_from_rfc2822(s).ok()?;
    let secs = dt.timestamp();
    let nanos = i64::from(dt.timestamp_subsec_nanos());
    secs.checked_mul(TICKS_PER_SECOND)?.checked_add(nanos / 100)
}

/// Prints a datetime as Kusto does: `yyyy-MM-ddTHH:mm:ss[.fffffff]Z`, the fraction without
/// trailing zeros and left out when zero.
pub fn format_datetime_iso(ticks: i64) -> String {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let rem = ticks.rem_euclid(TICKS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let h = rem / TICKS_PER_HOUR;
    let mi = rem % TICKS_PER_HOUR / TICKS_PER_MINUTE;
    let s = rem % TICKS_PER_MINUTE / TICKS_PER_SECOND;
    let frac = rem % TICKS_PER_SECOND;
    let mut out = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    push_fraction(&mut out, frac);
    out.push('Z');
    out
}

fn push_fraction(out: &mut String, frac: i64) {
    if frac != 0 {
        let digits = format!("{frac:07}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Prints a timespan as Kusto does (.NET's constant format): `[-][d.]hh:mm:ss[.fffffff]`.
pub fn format_timespan(ticks: i64) -> String {
    let neg = ticks < 0;
    let t = ticks.unsigned_abs();
    let tpd = TICKS_PER_DAY as u64;
    let days = t / tpd;
    let rem = t % tpd;
    let h = rem / TICKS_PER_HOUR as u64;
    let mi = rem % TICKS_PER_HOUR as u64 / TICKS_PER_MINUTE as u64;
    let s = rem % TICKS_PER_MINUTE as u64 / TICKS_PER_SECOND as u64;
    let frac = rem % TICKS_PER_SECOND as u64;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{mi:02}:{s:02}"));
    if frac != 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

/// Parses a timespan in .NET's constant form as `totimespan()` reads it:
/// `[-][d.]hh:mm[:ss[.fffffff]]`, or a KQL timespan literal (`1d`, `90m`; see
/// [`parse_timespan_literal`]). Returns 100 ns ticks.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = parse_timespan_literal(s) {
        return Some(t);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut c = Cur {
        b: body.as_bytes(),
        i: 0,
    };
    let first = c.digits(1, 9)?;
    let (days, h) = if c.eat(b'.') {
        (first, c.digits(1, 2)?)
    } else {
        (0, first)
    };
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(1, 2)?;
    let mut sec = 0;
    let mut frac = 0;
    if c.eat(b':') {
        sec = c.digits(1, 2)?;
        if c.eat(b'.') {
            frac = c.fraction()?;
        }
    }
    if !c.done() || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let t = days
        .checked_mul(TICKS_PER_DAY)?
        .checked_add(h * TICKS_PER_HOUR + mi * TICKS_PER_MINUTE + sec * TICKS_PER_SECOND + frac)?;
    Some(if neg { -t } else { t })
}

/// Parses a KQL timespan literal: a number (integer or decimal) followed by a unit, `d`/`day`/
/// `days`, `h`/`hr`/`hrs`/`hour`/`hours`, `m`/`min`/`minute`/`minutes`, `s`/`sec`/`second`/
/// `seconds`, `ms`/`milli`/`millis`/`millisecond`/`milliseconds`, `microsecond(s)`, `tick(s)`.
/// Returns 100 ns ticks, or `None` when the text is not such a literal.
pub fn parse_timespan_literal(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let per: i64 = match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => TICKS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => TICKS_PER_HOUR,
        "m" | "min" | "minute" | "minutes" => TICKS_PER_MINUTE,
        "s" | "sec" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => TICKS_PER_MILLI,
        "microsecond" | "microseconds" => 10,
        "tick" | "ticks" => 1,
        _ => return None,
    };
    let t = if num.contains('.') {
        let x: f64 = num.parse().ok()?;
        let t = (x * per as f64).round();
        if !t.is_finite() || t.abs() > i64::MAX as f64 {
            return None;
        }
        t as i64
    } else {
        num.parse::<i64>().ok()?.checked_mul(per)?
    };
    Some(if neg { -t } else { t })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T2021: i64 = 1_609_459_200 * TICKS_PER_SECOND; // 2021-01-01T00:00:00Z

    #[test]
    fn iso_forms() {
        assert_eq!(parse_datetime("2021-01-01"), Some(T2021));
        assert_eq!(parse_datetime("2021-01-01T00:00:00Z"), Some(T2021));
        assert_eq!(parse_datetime("2021-01-01 00:00:00"), Some(T2021));
        assert_eq!(parse_datetime("2021-01-01T01:00:00+01:00"), Some(T2021));
        assert_eq!(
            parse_datetime("2021-04-19T12:13:19.4834758+00:00"),
            parse_datetime("2021-04-19T12:13:19.4834758Z")
        );
        assert_eq!(
            parse_datetime("2021-01-01T00:00:00.123456789Z"),
            Some(T2021 + 1_234_567)
        );
        assert_eq!(
            parse_datetime("2021-08-02T13:29:25.983Z").map(|t| t % TICKS_PER_SECOND),
            Some(9_830_000)
        );
        assert_eq!(parse_datetime("2021-02-30"), None);
        assert_eq!(parse_datetime("2021-01-01T25:00:00Z"), None);
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime(""), None);
    }

    #[test]
    fn us_portal_form() {
        let t = parse_datetime("4/28/2021, 2:08:45.221 PM").unwrap();
        assert_eq!(t, parse_datetime("2021-04-28T14:08:45.221Z").unwrap());
        assert_eq!(parse_datetime("1/1/2021, 12:00:00.000 AM"), Some(T2021));
        assert_eq!(
            parse_datetime("1/1/2021 12:30 PM"),
            parse_datetime("2021-01-01T12:30:00Z")
        );
        assert_eq!(parse_datetime("13/1/2021, 1:00:00 PM"), None);
    }

    #[test]
    fn rfc2822() {
        assert_eq!(
            parse_datetime("Sat, 8 Nov 2014 15:05:02 GMT"),
            parse_datetime("2014-11-08T15:05:02Z")
        );
    }

    #[test]
    fn formats_like_kusto() {
        assert_eq!(format_datetime_iso(T2021), "2021-01-01T00:00:00Z");
        assert_eq!(
            format_datetime_iso(T2021 + 4_834_758),
            "2021-01-01T00:00:00.4834758Z"
        );
        assert_eq!(
            format_datetime_iso(T2021 + 5_000_000),
            "2021-01-01T00:00:00.5Z"
        );
        assert_eq!(format_datetime_iso(-TICKS_PER_DAY), "1969-12-31T00:00:00Z");
        assert_eq!(format_timespan(TICKS_PER_DAY), "1.00:00:00");
        assert_eq!(format_timespan(TICKS_PER_HOUR), "01:00:00");
        assert_eq!(format_timespan(100 * TICKS_PER_MILLI), "00:00:00.1000000");
        assert_eq!(format_timespan(-14 * TICKS_PER_DAY), "-14.00:00:00");
    }

    #[test]
    fn datetime_round_trips() {
        for t in [
            0,
            T2021,
            T2021 + 1,
            -123_456_789_012,
            4_102_444_800 * TICKS_PER_SECOND + 99,
        ] {
            assert_eq!(parse_datetime(&format_datetime_iso(t)), Some(t));
        }
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan_literal("1d"), Some(TICKS_PER_DAY));
        assert_eq!(parse_timespan_literal("5m"), Some(5 * TICKS_PER_MINUTE));
        assert_eq!(parse_timespan_literal("30s"), Some(30 * TICKS_PER_SECOND));
        assert_eq!(parse_timespan_literal("100ms"), Some(100 * TICKS_PER_MILLI));
        assert_eq!(parse_timespan_literal("1.5h"), Some(90 * TICKS_PER_MINUTE));
        assert_eq!(parse_timespan_literal("10tick"), Some(10));
        assert_eq!(parse_timespan_literal("14days"), Some(14 * TICKS_PER_DAY));
        assert_eq!(parse_timespan_literal("1x"), None);
        assert_eq!(parse_timespan_literal("d"), None);
        assert_eq!(
            parse_timespan("1.02:03:04.5"),
            Some(
                TICKS_PER_DAY
                    + 2 * TICKS_PER_HOUR
                    + 3 * TICKS_PER_MINUTE
                    + 45 * TICKS_PER_SECOND / 10
            )
        );
        assert_eq!(parse_timespan("00:01:00"), Some(TICKS_PER_MINUTE));
        assert_eq!(parse_timespan("-01:00:00"), Some(-TICKS_PER_HOUR));
        assert_eq!(parse_timespan("7d"), Some(7 * TICKS_PER_DAY));
        assert_eq!(parse_timespan("1:99"), None);
        for t in [TICKS_PER_DAY, -3 * TICKS_PER_HOUR, 1, 12_345_678_901] {
            assert_eq!(parse_timespan(&format_timespan(t)), Some(t));
        }
    }
}
