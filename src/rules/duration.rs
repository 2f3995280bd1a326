//! Durations as Sentinel rule files write them: ISO 8601 (`PT1H`, `P14D`, `PT5M30S`) or KQL
//! timespan literals (`1h`, `14d`, `70m`).

use crate::model::parse_timespan;
use crate::model::{TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND};

/// Parses a rule duration into 100 ns ticks: ISO 8601 `P[nW][nD][T[nH][nM][n[.f]S]]`
/// (case-insensitive; years and months are refused, having no fixed length), a KQL timespan
/// literal such as `1h`, `14d`, `70m` or `1.5h`, or .NET's `d.hh:mm:ss`. Returns `None` for
/// anything else, for an empty duration and for overflow.
pub fn parse_duration(text: &str) -> Option<i64> {
    let s = text.trim();
    match s.strip_prefix(['P', 'p']) {
        Some(rest) => parse_iso(rest),
        None => parse_timespan(s).filter(|&t| t >= 0),
    }
}

fn parse_iso(rest: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut in_time = false;
    let mut any = false;
    let mut num = String::new();
    let mut saw_t_component = true;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' | ',' => num.push(if c == ',' { '.' } else { c }),
            'T' | 't' => {
                if in_time || !num.is_empty() {
                    return None;
                }
                in_time = true;
                saw_t_component = false;
            }
            _ => {
                if num.is_empty() {
                    return None;
                }
                let unit = match (c.to_ascii_uppercase(), in_time) {
                    ('W', false) => 7 * TICKS_PER_DAY,
                    ('D', false) => TICKS_PER_DAY,
                    ('H', true) => TICKS_PER_HOUR,
                    ('M', true) => TICKS_PER_MINUTE,
                    ('S', true) => TICKS_PER_SECOND,
                    _ => return None,
                };
                let ticks = if num.contains('.') {
                    let x: f64 = num.parse().ok()?;
                    let t = (x * unit as f64).round();
                    if !t.is_finite() || t >= i64::MAX as f64 {
                        return None;
                    }
                    t as i64
                } else {
                    num.parse::<i64>().ok()?.checked_mul(unit)?
                };
                total = total.checked_add(ticks)?;
                num.clear();
                any = true;
                if in_time {
                    saw_t_component = true;
                }
            }
        }
    }
    (any && num.is_empty() && saw_t_component).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_kql_forms() {
        assert_eq!(parse_duration("PT1H"), Some(TICKS_PER_HOUR));
        assert_eq!(parse_duration("P14D"), Some(14 * TICKS_PER_DAY));
        assert_eq!(parse_duration("PT5H"), Some(5 * TICKS_PER_HOUR));
        assert_eq!(parse_duration("pt5m"), Some(5 * TICKS_PER_MINUTE));
        assert_eq!(
            parse_duration("P1DT2H3M4.5S"),
            Some(
                TICKS_PER_DAY
                    + 2 * TICKS_PER_HOUR
                    + 3 * TICKS_PER_MINUTE
                    + 45 * TICKS_PER_SECOND / 10
            )
        );
        assert_eq!(parse_duration("P2W"), Some(14 * TICKS_PER_DAY));
        assert_eq!(parse_duration("1h"), Some(TICKS_PER_HOUR));
        assert_eq!(parse_duration("14d"), Some(14 * TICKS_PER_DAY));
        assert_eq!(parse_duration("70m"), Some(70 * TICKS_PER_MINUTE));
        assert_eq!(parse_duration(" 5h "), Some(5 * TICKS_PER_HOUR));
        assert_eq!(parse_duration("1.00:00:00"), Some(TICKS_PER_DAY));
        for bad in [
            "",
            "P",
            "PT",
            "P1Y",
            "P1M",
            "PT1D",
            "P1H",
            "P1DT",
            "PTH",
            "1x",
            "-1h",
            "P1D2",
            "P99999999999999999D",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
