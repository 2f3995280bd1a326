//! Kusto's scalar functions over [`Value`]s. Each takes its evaluated arguments and returns a
//! value; wrong types and failed conversions give null (or the empty string where Kusto's result
//! is a string), never an error. The registry in [`super`] says how many arguments each takes
//! and what type it returns.

use std::cmp::Ordering;

use super::ops::{compare, eq_ignore_case, text_of, truth};
use crate::model::{
    Str, TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND, Value,
    format_datetime_iso, parse_json, tobool, todatetime, toint, tolong, toreal, tostring,
    totimespan,
};

/// .NET ticks at the Unix epoch: Kusto bins datetimes from 0001-01-01.
const DOTNET_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Null)
}

fn long_arg(args: &[Value], i: usize) -> Option<i64> {
    match tolong(arg(args, i)) {
        Value::Long(x) => Some(x),
        _ => None,
    }
}

fn real_arg(args: &[Value], i: usize) -> Option<f64> {
    match toreal(arg(args, i)) {
        Value::Real(x) => Some(x),
        _ => None,
    }
}

fn string(s: impl Into<String>) -> Value {
    Value::from(s.into())
}

/// `tostring(x)`.
pub fn f_tostring(a: &[Value]) -> Value {
    tostring(arg(a, 0))
}
/// `toint(x)`.
pub fn f_toint(a: &[Value]) -> Value {
    toint(arg(a, 0))
}
/// `tolong(x)`.
pub fn f_tolong(a: &[Value]) -> Value {
    tolong(arg(a, 0))
}
/// `toreal(x)`, `todouble(x)`.
pub fn f_toreal(a: &[Value]) -> Value {
    toreal(arg(a, 0))
}
/// `tobool(x)`, `toboolean(x)`.
pub fn f_tobool(a: &[Value]) -> Value {
    tobool(arg(a, 0))
}
/// `todatetime(x)`.
pub fn f_todatetime(a: &[Value]) -> Value {
    todatetime(arg(a, 0))
}
/// `totimespan(x)`.
pub fn f_totimespan(a: &[Value]) -> Value {
    totimespan(arg(a, 0))
}
/// `parse_json(x)`, `todynamic(x)`.
pub fn f_parse_json(a: &[Value]) -> Value {
    parse_json(arg(a, 0))
}

/// `tolower(s)`.
pub fn f_tolower(a: &[Value]) -> Value {
    string(text_of(arg(a, 0)).to_lowercase())
}
/// `toupper(s)`.
pub fn f_toupper(a: &[Value]) -> Value {
    string(text_of(arg(a, 0)).to_uppercase())
}
/// `strcat(a, b, …)`: the texts of the arguments joined.
pub fn f_strcat(a: &[Value]) -> Value {
    let mut out = String::new();
    for v in a {
        out.push_str(&text_of(v));
    }
    string(out)
}
/// `strcat_array(array, delimiter)`.
pub fn f_strcat_array(a: &[Value]) -> Value {
    let delim = text_of(arg(a, 1));
    match arg(a, 0) {
        Value::Array(items) => string(
            items
                .iter()
                .map(|v| text_of(v).into_owned())
                .collect::<Vec<_>>()
                .join(&delim),
        ),
        _ => Value::empty_string(),
    }
}
/// `strlen(s)`: the number of characters.
pub fn f_strlen(a: &[Value]) -> Value {
    Value::Long(text_of(arg(a, 0)).chars().count() as i64)
}
/// `substring(s, start[, length])`, by characters; out-of-range parts are clipped.
pub fn f_substring(a: &[Value]) -> Value {
    let s = text_of(arg(a, 0));
    let Some(start) = long_arg(a, 1) else {
        return Value::empty_string();
    };
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = start.clamp(0, n);
    let end = match a.get(2) {
        Some(_) => match long_arg(a, 2) {
            Some(len) => start.saturating_add(len.max(0)).min(n),
            None => return Value::empty_string(),
        },
        None => n,
    };
    string(
        chars[start as usize..end as usize]
            .iter()
            .collect::<String>(),
    )
}
/// `split(s, delimiter[, index])`: a dynamic array of the parts; with an index, an array of
/// that one part (empty when out of range).
pub fn f_split(a: &[Value]) -> Value {
    let s = text_of(arg(a, 0));
    let d = text_of(arg(a, 1));
    let parts: Vec<Value> = if d.is_empty() {
        vec![Value::str(&s)]
    } else {
        s.split(d.as_ref()).map(Value::str).collect()
    };
    match a.get(2) {
        None => Value::array(parts),
        Some(_) => match long_arg(a, 2) {
            Some(i) if i >= 0 && (i as usize) < parts.len() => {
                Value::array(vec![parts[i as usize].clone()])
            }
            _ => Value::array(vec![]),
        },
    }
}
/// `replace_string(text, lookup, rewrite)`: every occurrence replaced.
pub fn f_replace_string(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let lookup = text_of(arg(a, 1));
    if lookup.is_empty() {
        return string(text.into_owned());
    }
    string(text.replace(lookup.as_ref(), &text_of(arg(a, 2))))
}
/// `replace_regex(text, regex, rewrite)`, with `\1` style group references.
pub fn f_replace_regex(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let Some(re) = super::regex_cached(&text_of(arg(a, 1))) else {
        return Value::Null;
    };
    let rewrite = text_of(arg(a, 2));
    let rewrite = regex_rewrite(&rewrite);
    string(re.replace_all(&text, rewrite.as_str()).into_owned())
}

/// Turns Kusto's `\1` group references into the regex crate's `${1}`.
fn regex_rewrite(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

/// `trim(regex, s)`: the leading and trailing matches of the regex removed.
pub fn f_trim(a: &[Value]) -> Value {
    trim_impl(a, true, true)
}
/// `trim_start(regex, s)`.
pub fn f_trim_start(a: &[Value]) -> Value {
    trim_impl(a, true, false)
}
/// `trim_end(regex, s)`.
pub fn f_trim_end(a: &[Value]) -> Value {
    trim_impl(a, false, true)
}
fn trim_impl(a: &[Value], start: bool, end: bool) -> Value {
    let pattern = text_of(arg(a, 0));
    let s = text_of(arg(a, 1));
    let mut out: &str = &s;
    if start
        && let Some(re) = super::regex_cached(&format!("^(?:{pattern})+"))
        && let Some(m) = re.find(out)
    {
        out = &out[m.end()..];
    }
    if end
        && let Some(re) = super::regex_cached(&format!("(?:{pattern})+$"))
        && let Some(m) = re.find(out)
    {
        out = &out[..m.start()];
    }
    Value::str(out)
}
/// `extract(regex, group, text[, typeof(T)])`: the capture group of the first match, or the
/// empty string when there is none.
pub fn f_extract(a: &[Value]) -> Value {
    let Some(re) = super::regex_cached(&text_of(arg(a, 0))) else {
        return Value::Null;
    };
    let Some(group) = long_arg(a, 1) else {
        return Value::Null;
    };
    let text = text_of(arg(a, 2));
    let found = re
        .captures(&text)
        .and_then(|c| usize::try_from(group).ok().and_then(|g| c.get(g)))
        .map(|m| m.as_str().to_string());
    match found {
        Some(s) => string(s),
        None => Value::empty_string(),
    }
}
/// `indexof(s, lookup)`: the character position of the first occurrence, or -1.
pub fn f_indexof(a: &[Value]) -> Value {
    let s = text_of(arg(a, 0));
    let l = text_of(arg(a, 1));
    match s.find(l.as_ref()) {
        Some(byte) => Value::Long(s[..byte].chars().count() as i64),
        None => Value::Long(-1),
    }
}

/// `iff(condition, then, else)` (also `iif`): `then` when the condition is true, else `else`
/// (a null condition chooses `else`).
pub fn f_iff(a: &[Value]) -> Value {
    if truth(arg(a, 0)) == Some(true) {
        arg(a, 1).clone()
    } else {
        arg(a, 2).clone()
    }
}
/// `case(p1, v1, p2, v2, …, else)`.
pub fn f_case(a: &[Value]) -> Value {
    let mut i = 0;
    while i + 1 < a.len() {
        if truth(&a[i]) == Some(true) {
            return a[i + 1].clone();
        }
        i += 2;
    }
    a.last().cloned().unwrap_or(Value::Null)
}
/// `coalesce(a, b, …)`: the first argument that is not null (for strings, not empty).
pub fn f_coalesce(a: &[Value]) -> Value {
    a.iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or_else(|| a.last().cloned().unwrap_or(Value::Null))
}
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}
/// `isempty(x)`: null or the empty string.
pub fn f_isempty(a: &[Value]) -> Value {
    Value::Bool(is_empty(arg(a, 0)))
}
/// `isnotempty(x)` (also `notempty`).
pub fn f_isnotempty(a: &[Value]) -> Value {
    Value::Bool(!is_empty(arg(a, 0)))
}
/// `isnull(x)`: strings are never null, so `isnull("")` is false.
pub fn f_isnull(a: &[Value]) -> Value {
    Value::Bool(arg(a, 0).is_null())
}
/// `isnotnull(x)` (also `notnull`).
pub fn f_isnotnull(a: &[Value]) -> Value {
    Value::Bool(!arg(a, 0).is_null())
}

/// `pack(k1, v1, …)` (also `bag_pack`): a property bag.
pub fn f_pack(a: &[Value]) -> Value {
    let pairs = a
        .chunks(2)
        .filter(|kv| kv.len() == 2)
        .map(|kv| (Str::from(text_of(&kv[0]).as_ref()), kv[1].clone()))
        .collect();
    Value::object(pairs)
}
/// `pack_array(a, b, …)`: a dynamic array.
pub fn f_pack_array(a: &[Value]) -> Value {
    Value::array(a.to_vec())
}
/// `array_length(a)`: null when not an array.
pub fn f_array_length(a: &[Value]) -> Value {
    match arg(a, 0) {
        Value::Array(xs) => Value::Long(xs.len() as i64),
        _ => Value::Null,
    }
}
/// `set_has_element(array, value)`.
pub fn f_set_has_element(a: &[Value]) -> Value {
    match arg(a, 0) {
        Value::Array(xs) => Value::Bool(
            xs.iter()
                .any(|x| compare(x, arg(a, 1)) == Some(Ordering::Equal)),
        ),
        _ => Value::Null,
    }
}
/// `set_difference(a, b, …)`: the distinct elements of `a` in none of the others, in order.
pub fn f_set_difference(a: &[Value]) -> Value {
    let Value::Array(first) = arg(a, 0) else {
        return Value::Null;
    };
    let mut out: Vec<Value> = Vec::new();
    for x in first.iter() {
        let elsewhere = a[1..]
            .iter()
            .any(|o| matches!(o, Value::Array(ys) if ys.contains(x)));
        if !elsewhere && !out.contains(x) {
            out.push(x.clone());
        }
    }
    Value::array(out)
}
/// `array_concat(a, b, …)`.
pub fn f_array_concat(a: &[Value]) -> Value {
    let mut out = Vec::new();
    for v in a {
        match v {
            Value::Array(xs) => out.extend(xs.iter().cloned()),
            _ => return Value::Null,
        }
    }
    Value::array(out)
}
/// `bag_keys(bag)`.
pub fn f_bag_keys(a: &[Value]) -> Value {
    match arg(a, 0) {
        Value::Object(pairs) => Value::array(
            pairs
                .iter()
                .map(|(k, _)| Value::String(k.clone()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// `round(x[, digits])`: halves away from zero, as Kusto's examples show
/// (`round(2.15, 1)` is 2.2, `round(-50.55, -2)` is -100).
pub fn f_round(a: &[Value]) -> Value {
    let digits = if a.len() > 1 {
        long_arg(a, 1).unwrap_or(0)
    } else {
        0
    };
    match arg(a, 0) {
        Value::Long(x) if digits >= 0 => Value::Long(*x),
        v => match toreal(v) {
            Value::Real(x) => {
                let p = 10f64.powi(digits.clamp(-300, 300) as i32);
                Value::Real((x * p).round() / p)
            }
            _ => Value::Null,
        },
    }
}
/// `abs(x)`.
pub fn f_abs(a: &[Value]) -> Value {
    match arg(a, 0) {
        Value::Long(x) => x.checked_abs().map_or(Value::Null, Value::Long),
        Value::Real(x) => Value::Real(x.abs()),
        Value::TimeSpan(x) => x.checked_abs().map_or(Value::Null, Value::TimeSpan),
        _ => Value::Null,
    }
}
/// `sqrt(x)`.
pub fn f_sqrt(a: &[Value]) -> Value {
    real_arg(a, 0).map_or(Value::Null, |x| Value::Real(x.sqrt()))
}
/// `log(x)`: the natural logarithm.
pub fn f_log(a: &[Value]) -> Value {
    real_arg(a, 0).map_or(Value::Null, |x| Value::Real(x.ln()))
}
/// `exp(x)`.
pub fn f_exp(a: &[Value]) -> Value {
    real_arg(a, 0).map_or(Value::Null, |x| Value::Real(x.exp()))
}
/// `pow(x, y)`.
pub fn f_pow(a: &[Value]) -> Value {
    match (real_arg(a, 0), real_arg(a, 1)) {
        (Some(x), Some(y)) => Value::Real(x.powf(y)),
        _ => Value::Null,
    }
}
/// `min_of(a, b, …)`: the least non-null argument.
pub fn f_min_of(a: &[Value]) -> Value {
    extreme(a, Ordering::Less)
}
/// `max_of(a, b, …)`: the greatest non-null argument.
pub fn f_max_of(a: &[Value]) -> Value {
    extreme(a, Ordering::Greater)
}
fn extreme(a: &[Value], want: Ordering) -> Value {
    let mut best: Option<&Value> = None;
    for v in a.iter().filter(|v| !v.is_null()) {
        if best.is_none_or(|b| compare(v, b) == Some(want)) {
            best = Some(v);
        }
    }
    best.cloned().unwrap_or(Value::Null)
}

/// `bin(x, size)` (also `floor`): `x` rounded down to a multiple of `size`. Numbers bin by
/// numbers; datetimes by timespans, counted from 0001-01-01 as Kusto does; timespans by
/// timespans. A size that is not positive gives null.
pub fn f_bin(a: &[Value]) -> Value {
    let (x, size) = (arg(a, 0), arg(a, 1));
    // Values whose bin falls outside the type's range give null, as Kusto's do.
    let floor = |v: i64, s: i64| v.div_euclid(s).checked_mul(s);
    match (x, size) {
        (Value::DateTime(t), Value::TimeSpan(s)) if *s > 0 => t
            .checked_add(DOTNET_EPOCH_TICKS)
            .and_then(|net| floor(net, *s))
            .and_then(|b| b.checked_sub(DOTNET_EPOCH_TICKS))
            .map_or(Value::Null, Value::DateTime),
        (Value::TimeSpan(t), Value::TimeSpan(s)) if *s > 0 => {
            floor(*t, *s).map_or(Value::Null, Value::TimeSpan)
        }
        (Value::Long(v), Value::Long(s)) if *s > 0 => {
            floor(*v, *s).map_or(Value::Null, Value::Long)
        }
        (Value::Long(_) | Value::Real(_), Value::Long(_) | Value::Real(_)) => {
            match (real_arg(a, 0), real_arg(a, 1)) {
                (Some(v), Some(s)) if s > 0.0 => Value::Real((v / s).floor() * s),
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// `startofday(dt[, offset])`: midnight of the day, `offset` days later.
pub fn f_startofday(a: &[Value]) -> Value {
    let Value::DateTime(t) = arg(a, 0) else {
        return Value::Null;
    };
    let offset = if a.len() > 1 {
        long_arg(a, 1).unwrap_or(0)
    } else {
        0
    };
    offset
        .checked_mul(TICKS_PER_DAY)
        .and_then(|o| {
            t.div_euclid(TICKS_PER_DAY)
                .checked_mul(TICKS_PER_DAY)?
                .checked_add(o)
        })
        .map_or(Value::Null, Value::DateTime)
}
/// `endofday(dt[, offset])`: the last tick of the day.
pub fn f_endofday(a: &[Value]) -> Value {
    match f_startofday(a) {
        Value::DateTime(t) => t
            .checked_add(TICKS_PER_DAY - 1)
            .map_or(Value::Null, Value::DateTime),
        v => v,
    }
}
/// `startofweek(dt[, offset])`: the Sunday that starts the week.
pub fn f_startofweek(a: &[Value]) -> Value {
    let Value::DateTime(t) = arg(a, 0) else {
        return Value::Null;
    };
    let offset = if a.len() > 1 {
        long_arg(a, 1).unwrap_or(0)
    } else {
        0
    };
    let days = t.div_euclid(TICKS_PER_DAY);
    // 1970-01-01 was a Thursday: day 0 is 4 days after a Sunday.
    let sunday = days - (days + 4).rem_euclid(7);
    offset
        .checked_mul(7)
        .and_then(|o| sunday.checked_add(o))
        .and_then(|d| d.checked_mul(TICKS_PER_DAY))
        .map_or(Value::Null, Value::DateTime)
}
/// `startofmonth(dt[, offset])`.
pub fn f_startofmonth(a: &[Value]) -> Value {
    let Value::DateTime(t) = arg(a, 0) else {
        return Value::Null;
    };
    let offset = if a.len() > 1 {
        long_arg(a, 1).unwrap_or(0)
    } else {
        0
    };
    let (y, m, _) = civil(*t);
    let Some(months) = (y * 12 + (m - 1)).checked_add(offset) else {
        return Value::Null;
    };
    date_ticks(months.div_euclid(12), months.rem_euclid(12) + 1, 1)
        .map_or(Value::Null, Value::DateTime)
}

fn civil(t: i64) -> (i64, i64, i64) {
    let text = format_datetime_iso(t);
    let part =
        |r: std::ops::Range<usize>, or: i64| text.get(r).and_then(|p| p.parse().ok()).unwrap_or(or);
    (part(0..4, 1970), part(5..7, 1), part(8..10, 1))
}

fn date_ticks(y: i64, m: i64, d: i64) -> Option<i64> {
    crate::model::parse_datetime(&format!("{y:04}-{m:02}-{d:02}"))
}

fn unit_ticks(part: &str) -> Option<i64> {
    Some(match part.to_ascii_lowercase().as_str() {
        "week" | "weeks" => 7 * TICKS_PER_DAY,
        "day" | "days" => TICKS_PER_DAY,
        "hour" | "hours" => TICKS_PER_HOUR,
        "minute" | "minutes" => TICKS_PER_MINUTE,
        "second" | "seconds" => TICKS_PER_SECOND,
        "millisecond" | "milliseconds" => TICKS_PER_MILLI,
        "microsecond" | "microseconds" => 10,
        "nanosecond" | "nanoseconds" => 1,
        _ => return None,
    })
}

fn month_count(part: &str) -> Option<i64> {
    match part.to_ascii_lowercase().as_str() {
        "year" | "years" => Some(12),
        "quarter" | "quarters" => Some(3),
        "month" | "months" => Some(1),
        _ => None,
    }
}

/// `datetime_add(part, amount, dt)`: `amount` periods added; months, quarters and years move
/// the calendar date (the day clipped to the month's length).
pub fn f_datetime_add(a: &[Value]) -> Value {
    let part = text_of(arg(a, 0));
    let Some(amount) = long_arg(a, 1) else {
        return Value::Null;
    };
    let Value::DateTime(t) = arg(a, 2) else {
        return Value::Null;
    };
    if let Some(per) = unit_ticks(&part) {
        let ticks = if per == 1 {
            amount / 100
        } else {
            amount.saturating_mul(per)
        };
        return t.checked_add(ticks).map_or(Value::Null, Value::DateTime);
    }
    let Some(months) = month_count(&part) else {
        return Value::Null;
    };
    let (y, m, d) = civil(*t);
    let total = y * 12 + (m - 1) + amount * months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let last = (28..=31)
        .rev()
        .find(|&dd| date_ticks(ny, nm, dd).is_some())
        .unwrap_or(28);
    let time_of_day = t.rem_euclid(TICKS_PER_DAY);
    date_ticks(ny, nm, d.min(last)).map_or(Value::Null, |day| Value::DateTime(day + time_of_day))
}

/// `datetime_diff(part, dt1, dt2)`: the number of `part` boundaries between `dt2` and `dt1`
/// (`dt1 - dt2`, each truncated to the part first), as Kusto's examples give:
/// `datetime_diff('month', 2017-01-01, 2000-12-31)` is 193.
pub fn f_datetime_diff(a: &[Value]) -> Value {
    let part = text_of(arg(a, 0));
    let (Value::DateTime(t1), Value::DateTime(t2)) = (arg(a, 1), arg(a, 2)) else {
        return Value::Null;
    };
    if let Some(months) = month_count(&part) {
        let (y1, m1, _) = civil(*t1);
        let (y2, m2, _) = civil(*t2);
        let (a1, a2) = (y1 * 12 + m1 - 1, y2 * 12 + m2 - 1);
        return Value::Long(a1.div_euclid(months) - a2.div_euclid(months));
    }
    let lower = part.to_ascii_lowercase();
    if lower == "week" || lower == "weeks" {
        let w = |t: i64| match f_startofweek(&[Value::DateTime(t)]) {
            Value::DateTime(s) => s.div_euclid(7 * TICKS_PER_DAY),
            _ => 0,
        };
        return Value::Long(w(*t1) - w(*t2));
    }
    match unit_ticks(&part) {
        Some(per) => Value::Long(t1.div_euclid(per) - t2.div_euclid(per)),
        None => Value::Null,
    }
}

/// `format_datetime(dt, format)` with the specifiers `yyyy`, `yy`, `MM`, `M`, `dd`, `d`, `HH`,
/// `H`, `hh`, `h`, `mm`, `m`, `ss`, `s`, `f`…`fffffff`, `F`…`FFFFFFF`, `tt`; other characters
/// are copied.
pub fn f_format_datetime(a: &[Value]) -> Value {
    let Value::DateTime(t) = arg(a, 0) else {
        return Value::Null;
    };
    let fmt = text_of(arg(a, 1));
    let (y, mo, d) = civil(*t);
    let rem = t.rem_euclid(TICKS_PER_DAY);
    let h = rem / TICKS_PER_HOUR;
    let mi = rem % TICKS_PER_HOUR / TICKS_PER_MINUTE;
    let s = rem % TICKS_PER_MINUTE / TICKS_PER_SECOND;
    let frac = format!("{:07}", rem % TICKS_PER_SECOND);
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'y' if n >= 4 => out.push_str(&format!("{y:04}")),
            'y' => out.push_str(&format!("{:02}", y % 100)),
            'M' if n >= 2 => out.push_str(&format!("{mo:02}")),
            'M' => out.push_str(&mo.to_string()),
            'd' if n >= 2 => out.push_str(&format!("{d:02}")),
            'd' => out.push_str(&d.to_string()),
            'H' if n >= 2 => out.push_str(&format!("{h:02}")),
            'H' => out.push_str(&h.to_string()),
            'h' => {
                let h12 = if h % 12 == 0 { 12 } else { h % 12 };
                out.push_str(&if n >= 2 {
                    format!("{h12:02}")
                } else {
                    h12.to_string()
                })
            }
            'm' if n >= 2 => out.push_str(&format!("{mi:02}")),
            'm' => out.push_str(&mi.to_string()),
            's' if n >= 2 => out.push_str(&format!("{s:02}")),
            's' => out.push_str(&s.to_string()),
            'f' => out.push_str(&frac[..n.min(7)]),
            'F' => out.push_str(frac[..n.min(7)].trim_end_matches('0')),
            't' => out.push_str(if h < 12 { "AM" } else { "PM" }),
            other => {
                for _ in 0..n {
                    out.push(other);
                }
            }
        }
        i += n;
    }
    string(out)
}

/// An IPv4 address and prefix length from `a.b.c.d` or `a.b.c.d/n`.
pub fn parse_ipv4_prefix(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, b.trim().parse::<u32>().ok().filter(|b| *b <= 32)?),
        None => (s, 32),
    };
    let ip: std::net::Ipv4Addr = addr.trim().parse().ok()?;
    Some((u32::from(ip), bits))
}

fn mask(bits: u32) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    }
}

/// `ipv4_is_in_range(ip, range)`: whether the address is in the CIDR range (a plain address is
/// a /32); null when either is not IPv4.
pub fn f_ipv4_is_in_range(a: &[Value]) -> Value {
    let (Some((ip, _)), Some((net, bits))) = (
        parse_ipv4_prefix(&text_of(arg(a, 0))),
        parse_ipv4_prefix(&text_of(arg(a, 1))),
    ) else {
        return Value::Null;
    };
    Value::Bool(ip & mask(bits) == net & mask(bits))
}
/// `ipv4_is_in_any_range(ip, range, …)`: the ranges may be given as arguments or dynamic
/// arrays; null when the address is not IPv4 (ranges that are not IPv4 are skipped).
pub fn f_ipv4_is_in_any_range(a: &[Value]) -> Value {
    let Some((ip, _)) = parse_ipv4_prefix(&text_of(arg(a, 0))) else {
        return Value::Null;
    };
    let inside = |(net, bits): (u32, u32)| ip & mask(bits) == net & mask(bits);
    let mut hit = false;
    for v in &a[1.min(a.len())..] {
        hit = match v {
            Value::Array(xs) => with_ipv4_ranges(xs, |ranges| ranges.iter().any(|r| inside(*r))),
            other => parse_ipv4_prefix(&text_of(other)).is_some_and(inside),
        };
        if hit {
            break;
        }
    }
    Value::Bool(hit)
}

/// Calls `f` with the IPv4 ranges of the array `xs` (elements that are not IPv4 left out),
/// parsed once per array: rules test every record against the same list (a watchlist's
/// ranges, read as a scalar), so the last array's parse is kept, by identity, per thread.
fn with_ipv4_ranges<T>(xs: &std::sync::Arc<[Value]>, f: impl FnOnce(&[(u32, u32)]) -> T) -> T {
    type Parsed = Option<(std::sync::Arc<[Value]>, Vec<(u32, u32)>)>;
    thread_local! {
        static LAST: std::cell::RefCell<Parsed> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        let fresh = !matches!(&*last, Some((a, _)) if std::sync::Arc::ptr_eq(a, xs));
        if fresh {
            let parsed = xs
                .iter()
                .filter_map(|r| parse_ipv4_prefix(&text_of(r)))
                .collect();
            *last = Some((xs.clone(), parsed));
        }
        match &*last {
            Some((_, ranges)) => f(ranges),
            None => f(&[]),
        }
    })
}
/// `ipv4_compare(a, b[, prefix])`: -1, 0 or 1 comparing the addresses under the shortest of
/// their prefixes (and `prefix` when given); null when either is not IPv4.
pub fn f_ipv4_compare(a: &[Value]) -> Value {
    let (Some((x, bx)), Some((y, by))) = (
        parse_ipv4_prefix(&text_of(arg(a, 0))),
        parse_ipv4_prefix(&text_of(arg(a, 1))),
    ) else {
        return Value::Null;
    };
    let mut bits = bx.min(by);
    if a.len() > 2 {
        match long_arg(a, 2) {
            Some(p) if (0..=32).contains(&p) => bits = bits.min(p as u32),
            _ => return Value::Null,
        }
    }
    let m = mask(bits);
    Value::Long(match (x & m).cmp(&(y & m)) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
}
/// `ipv4_is_private(ip)`: in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.
pub fn f_ipv4_is_private(a: &[Value]) -> Value {
    let Some((ip, _)) = parse_ipv4_prefix(&text_of(arg(a, 0))) else {
        return Value::Null;
    };
    let private = [(0x0A00_0000u32, 8u32), (0xAC10_0000, 12), (0xC0A8_0000, 16)];
    Value::Bool(private.iter().any(|(net, bits)| ip & mask(*bits) == *net))
}
/// `parse_ipv4(ip)`: the address as a long; null when not IPv4.
pub fn f_parse_ipv4(a: &[Value]) -> Value {
    match parse_ipv4_prefix(&text_of(arg(a, 0))) {
        Some((ip, bits)) => Value::Long(i64::from(ip & mask(bits))),
        None => Value::Null,
    }
}

/// `gettype(x)`: the value's type name as Kusto prints it.
pub fn f_gettype(a: &[Value]) -> Value {
    Value::str(match arg(a, 0) {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Long(_) => "long",
        Value::Real(_) => "real",
        Value::DateTime(_) => "datetime",
        Value::TimeSpan(_) => "timespan",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "dictionary",
    })
}

/// Case-insensitive string equality, exposed for `in~`-style helpers.
pub fn equal_ignore_case(a: &Value, b: &Value) -> bool {
    eq_ignore_case(&text_of(a), &text_of(b))
}

/// `extractjson(path, text)` (also `extract_json`): the element at a JSONPath (`$.a.b`,
/// `$.a[0]`, `$['a']`) of the JSON `text`, as a string; null when the path does not resolve.
pub fn f_extractjson(a: &[Value]) -> Value {
    let path = text_of(arg(a, 0)).into_owned();
    let mut v = match arg(a, 1) {
        Value::String(_) => parse_json(arg(a, 1)),
        other => other.clone(),
    };
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return Value::Null;
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            v = v.get(key).cloned().unwrap_or(Value::Null);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Value::Null;
            };
            let inner = r[..end].trim();
            v = if let Ok(i) = inner.parse::<i64>() {
                v.index(i).cloned().unwrap_or(Value::Null)
            } else {
                let key = inner.trim_matches(|c| c == '\'' || c == '"');
                v.get(key).cloned().unwrap_or(Value::Null)
            };
            rest = &r[end + 1..];
        } else {
            return Value::Null;
        }
        if v.is_null() {
            return Value::Null;
        }
    }
    tostring(&v)
}
