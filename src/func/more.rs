//! Kusto's scalar functions that public Sentinel rules use beyond the core set of [`super::scalar`]:
//! deprecated aliases with their own argument order (`replace`), date parts, `make_datetime`,
//! `bin_at`, string and array helpers, base64, `parse_url`, and the row-derived `new_guid`.
//! Like the core set, each takes evaluated arguments and returns null (or the empty string)
//! where Kusto's would fail, never an error.

use std::cmp::Ordering;

use super::ops::{compare, text_of};
use crate::model::{
    Str, TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MILLI, TICKS_PER_MINUTE, TICKS_PER_SECOND, Value,
    civil_from_days, ticks_of, tolong, toreal,
};

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

/// `replace(regex, rewrite, text)`: the deprecated alias of `replace_regex`, with its own
/// argument order (the text last), as rules written before the rename use it.
pub fn f_replace(a: &[Value]) -> Value {
    super::scalar::f_replace_regex(&[arg(a, 2).clone(), arg(a, 0).clone(), arg(a, 1).clone()])
}

/// `countof(text, search[, kind])`: how many times `search` occurs in `text`. With kind
/// `"normal"` (the default) overlapping occurrences count (`countof("aaa", "aa")` is 2); with
/// `"regex"` the non-overlapping matches of the regular expression count.
pub fn f_countof(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let search = text_of(arg(a, 1));
    let kind = if a.len() > 2 {
        text_of(arg(a, 2)).to_ascii_lowercase()
    } else {
        "normal".to_string()
    };
    match kind.as_str() {
        "normal" => {
            if search.is_empty() {
                return Value::Long(0);
            }
            let mut n = 0i64;
            let mut from = 0usize;
            while let Some(i) = text[from..].find(search.as_ref()) {
                n += 1;
                // Step one character past the start of this occurrence: overlaps count.
                let step = text[from + i..].chars().next().map_or(1, char::len_utf8);
                from += i + step;
            }
            Value::Long(n)
        }
        "regex" => match super::regex_cached(&search) {
            Some(re) => Value::Long(re.find_iter(&text).filter(|m| !m.is_empty()).count() as i64),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `ipv4_is_match(ip1, ip2[, prefix])`: true when the two addresses (each optionally with a
/// `/prefix`) are equal in their first `prefix` bits; null when either is not an address.
pub fn f_ipv4_is_match(a: &[Value]) -> Value {
    match super::scalar::f_ipv4_compare(a) {
        Value::Long(c) => Value::Bool(c == 0),
        _ => Value::Null,
    }
}

/// `tohex(n[, minlength])`: the number in lowercase hexadecimal, a negative one as its 64-bit
/// two's complement, padded with zeros to `minlength`.
pub fn f_tohex(a: &[Value]) -> Value {
    let Some(n) = long_arg(a, 0) else {
        return Value::Null;
    };
    let min = if a.len() > 1 {
        long_arg(a, 1).unwrap_or(0).clamp(0, 64) as usize
    } else {
        0
    };
    Value::str(format!("{:0min$x}", n as u64))
}

/// `string_size(s)`: the size of the text in bytes (UTF-8).
pub fn f_string_size(a: &[Value]) -> Value {
    Value::Long(text_of(arg(a, 0)).len() as i64)
}

/// `reverse(s)`: the text's characters in reverse order.
pub fn f_reverse(a: &[Value]) -> Value {
    if arg(a, 0).is_null() {
        return Value::empty_string();
    }
    Value::str(text_of(arg(a, 0)).chars().rev().collect::<String>())
}

/// `log2(x)`.
pub fn f_log2(a: &[Value]) -> Value {
    real_arg(a, 0).map_or(Value::Null, |x| Value::Real(x.log2()))
}

/// `log10(x)`.
pub fn f_log10(a: &[Value]) -> Value {
    real_arg(a, 0).map_or(Value::Null, |x| Value::Real(x.log10()))
}

/// `set_union(a, b, …)`: the distinct elements of all the arrays, in order of first sight;
/// null when an argument is not an array.
pub fn f_set_union(a: &[Value]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for v in a {
        let Value::Array(xs) = v else {
            return Value::Null;
        };
        for x in xs.iter() {
            if !out.contains(x) {
                out.push(x.clone());
            }
        }
    }
    Value::array(out)
}

/// `array_index_of(array, value[, start[, length[, occurrence]]])`: the position of the
/// first element equal to `value` (from `start`, a negative start counting from the end), or
/// -1; null when the first argument is not an array.
pub fn f_array_index_of(a: &[Value]) -> Value {
    let Value::Array(xs) = arg(a, 0) else {
        return Value::Null;
    };
    let n = xs.len() as i64;
    let start = match a.get(2) {
        Some(_) => match long_arg(a, 2) {
            Some(s) if s < 0 => (n + s).max(0),
            Some(s) => s,
            None => return Value::Null,
        },
        None => 0,
    };
    let end = match a.get(3) {
        Some(_) => match long_arg(a, 3) {
            Some(l) if l >= 0 => start.saturating_add(l).min(n),
            Some(_) => n,
            None => return Value::Null,
        },
        None => n,
    };
    let occurrence = if a.len() > 4 {
        long_arg(a, 4).unwrap_or(1).max(1)
    } else {
        1
    };
    let mut seen = 0;
    for i in start.max(0)..end {
        if compare(&xs[i as usize], arg(a, 1)) == Some(Ordering::Equal) {
            seen += 1;
            if seen == occurrence {
                return Value::Long(i);
            }
        }
    }
    Value::Long(-1)
}

/// `array_slice(array, start, end)`: the elements from `start` to `end` inclusive, negative
/// positions counting from the end; an empty array when the range is empty.
pub fn f_array_slice(a: &[Value]) -> Value {
    let Value::Array(xs) = arg(a, 0) else {
        return Value::Null;
    };
    let (Some(s), Some(e)) = (long_arg(a, 1), long_arg(a, 2)) else {
        return Value::Null;
    };
    let n = xs.len() as i64;
    let s = if s < 0 { n + s } else { s }.max(0);
    let e = if e < 0 { n + e } else { e }.min(n - 1);
    if s > e {
        return Value::array(Vec::new());
    }
    Value::array(xs[s as usize..=e as usize].to_vec())
}

/// `extract_all(regex, [groups,] text)`: every match of the regular expression in the text.
/// With no capture group, an array of the matches; with one, an array of that group's
/// values; with several (or a `groups` list), an array of arrays, one per match. Null when
/// nothing matches or the regex is invalid.
pub fn f_extract_all(a: &[Value]) -> Value {
    let Some(re) = super::regex_cached(&text_of(arg(a, 0))) else {
        return Value::Null;
    };
    let (groups, text) = if a.len() > 2 {
        let groups: Option<Vec<usize>> = match arg(a, 1) {
            Value::Array(gs) => gs
                .iter()
                .map(|g| match tolong(g) {
                    Value::Long(i) if i >= 0 => Some(i as usize),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        match groups {
            Some(g) if !g.is_empty() => (Some(g), text_of(arg(a, 2))),
            _ => return Value::Null,
        }
    } else {
        (None, text_of(arg(a, 1)))
    };
    let cap_count = re.captures_len() - 1;
    let mut out = Vec::new();
    for c in re.captures_iter(&text) {
        let get = |i: usize| Value::str(c.get(i).map_or("", |m| m.as_str()));
        out.push(match &groups {
            Some(gs) => Value::array(gs.iter().map(|&g| get(g)).collect()),
            None if cap_count == 0 => get(0),
            None if cap_count == 1 => get(1),
            None => Value::array((1..=cap_count).map(get).collect()),
        });
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::array(out)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes base64 (standard or URL-safe alphabet, padding optional); `None` when invalid.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `base64_decode_tostring(s)` (also the deprecated `base64_decodestring`): the UTF-8 text
/// that the base64 string encodes; empty when it is not base64, null when not UTF-8.
pub fn f_base64_decode_tostring(a: &[Value]) -> Value {
    match base64_decode(&text_of(arg(a, 0))) {
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Value::str(s),
            Err(_) => Value::Null,
        },
        None => Value::empty_string(),
    }
}

/// `base64_decode_toarray(s)`: the bytes the base64 string encodes, as an array of longs.
pub fn f_base64_decode_toarray(a: &[Value]) -> Value {
    match base64_decode(&text_of(arg(a, 0))) {
        Some(bytes) => Value::array(bytes.into_iter().map(|b| Value::Long(b.into())).collect()),
        None => Value::Null,
    }
}

/// `base64_encode_tostring(s)` (also `base64_encodestring`): the UTF-8 bytes of the text in
/// base64 with padding.
pub fn f_base64_encode_tostring(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Value::str(out)
}

/// `url_decode(s)`: the text with `%XX` escapes (and `+` for a space) decoded; the text
/// unchanged when the result would not be UTF-8.
pub fn f_url_decode(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Value::str(s),
        Err(_) => Value::str(text.as_ref()),
    }
}

/// `url_encode(s)` (also `url_encode_component`): the text with every byte outside
/// `A-Z a-z 0-9 - _ . ~` written as `%XX`.
pub fn f_url_encode(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let mut out = String::new();
    for &c in text.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    Value::str(out)
}

/// `parse_url(url)`: a property bag of the URL's parts (`Scheme`, `Host`, `Port`, `Path`,
/// `Username`, `Password`, `Query Parameters`, `Fragment`), each empty when absent; an empty
/// bag when the text is not an absolute URL.
pub fn f_parse_url(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let Some((scheme, rest)) = text.split_once("://") else {
        return Value::object(Vec::new());
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Value::object(Vec::new());
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (&authority[..i], &authority[i + 1..]),
        None => ("", authority),
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.rfind(':') {
        Some(i) if !hostport[i + 1..].contains(']') => (&hostport[..i], &hostport[i + 1..]),
        _ => (hostport, ""),
    };
    let params: Vec<(Str, Value)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (Str::from(k), Value::str(v))
        })
        .collect();
    let s = |k: &str, v: &str| (Str::from(k), Value::str(v));
    Value::object(vec![
        s("Scheme", scheme),
        s("Host", host),
        s("Port", port),
        s("Path", path),
        s("Username", user),
        s("Password", password),
        (Str::from("Query Parameters"), Value::object(params)),
        s("Fragment", fragment),
    ])
}

/// `new_guid()`, as kqlflow computes it: a version-4 style GUID derived from the values of the
/// row it is computed for (the binder passes them as the arguments). Kusto's is random; a
/// random value would make the incremental engine unable to retract the row it computed (a
/// row's removal must compute the same value as its insertion) and the two engines disagree,
/// so kqlflow's is a hash: distinct rows get distinct GUIDs (barring hash collisions), equal
/// rows equal ones.
pub fn f_new_guid(a: &[Value]) -> Value {
    let mut text = String::new();
    for v in a {
        text.push_str(&crate::model::to_json_text(v));
        text.push('\u{1}');
    }
    let h1 = fnv1a(text.as_bytes(), 0xcbf2_9ce4_8422_2325);
    let h2 = fnv1a(text.as_bytes(), 0x6c62_272e_07bb_0142);
    let b = ((u128::from(h1) << 64) | u128::from(h2)).to_be_bytes();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Value::str(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// `pack_all(true)` as the binder writes it: `pack`'s bag of name/value pairs, leaving out
/// the pairs whose value is null or empty.
pub fn f_pack_nonempty(a: &[Value]) -> Value {
    let pairs = a
        .chunks(2)
        .filter(|kv| kv.len() == 2)
        .filter(|kv| !kv[1].is_null() && !matches!(&kv[1], Value::String(s) if s.is_empty()))
        .map(|kv| (Str::from(text_of(&kv[0]).as_ref()), kv[1].clone()))
        .collect();
    Value::object(pairs)
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ---- IPv6 ----

/// An IPv6 address (an IPv4 one as its IPv4-mapped form `::ffff:a.b.c.d`) with an optional
/// `/prefix` (for IPv4, counted in the IPv4 bits): (address, prefix bits).
fn parse_ipv6_prefix(text: &str) -> Option<(u128, u32)> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p.trim().parse::<u32>().ok()?)),
        None => (text, None),
    };
    if let Ok(v4) = addr.parse::<std::net::Ipv4Addr>() {
        let bits = prefix.unwrap_or(32);
        if bits > 32 {
            return None;
        }
        return Some(((0xffffu128 << 32) | u128::from(u32::from(v4)), 96 + bits));
    }
    let v6 = addr.parse::<std::net::Ipv6Addr>().ok()?;
    let bits = prefix.unwrap_or(128);
    if bits > 128 {
        return None;
    }
    Some((u128::from(v6), bits))
}

fn mask128(bits: u32) -> u128 {
    if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    }
}

/// `parse_ipv6(s)`: the address (IPv6, or IPv4 as IPv4-mapped IPv6) in canonical form, eight
/// groups of four hex digits, masked by its `/prefix`; null when it is not an address.
pub fn f_parse_ipv6(a: &[Value]) -> Value {
    match parse_ipv6_prefix(&text_of(arg(a, 0))) {
        Some((x, bits)) => {
            let x = x & mask128(bits);
            let groups: Vec<String> = (0..8)
                .map(|i| format!("{:04x}", (x >> (112 - 16 * i)) & 0xffff))
                .collect();
            Value::str(groups.join(":"))
        }
        None => Value::Null,
    }
}

/// `ipv6_compare(a, b[, prefix])`: -1, 0 or 1 as `a` is below, equal to or above `b` in the
/// first `prefix` bits (at most the addresses' own prefixes); null when either is not an
/// address.
pub fn f_ipv6_compare(a: &[Value]) -> Value {
    let (Some((x, bx)), Some((y, by))) = (
        parse_ipv6_prefix(&text_of(arg(a, 0))),
        parse_ipv6_prefix(&text_of(arg(a, 1))),
    ) else {
        return Value::Null;
    };
    let mut bits = bx.min(by);
    if a.len() > 2 {
        match long_arg(a, 2) {
            Some(p) if (0..=128).contains(&p) => bits = bits.min(p as u32),
            _ => return Value::Null,
        }
    }
    let m = mask128(bits);
    Value::Long(match (x & m).cmp(&(y & m)) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
}

/// `ipv6_is_match(a, b[, prefix])`: `ipv6_compare(a, b[, prefix]) == 0`.
pub fn f_ipv6_is_match(a: &[Value]) -> Value {
    match f_ipv6_compare(a) {
        Value::Long(c) => Value::Bool(c == 0),
        _ => Value::Null,
    }
}

/// `ipv6_is_in_range(ip, range)`: true when the address is in the prefix range.
pub fn f_ipv6_is_in_range(a: &[Value]) -> Value {
    let (Some((x, _)), Some((r, bits))) = (
        parse_ipv6_prefix(&text_of(arg(a, 0))),
        parse_ipv6_prefix(&text_of(arg(a, 1))),
    ) else {
        return Value::Null;
    };
    let m = mask128(bits);
    Value::Bool(x & m == r & m)
}

/// `ipv6_is_in_any_range(ip, range, …)` (the ranges as arguments or one array): true when the
/// address is in any of them; null when the address is not one.
pub fn f_ipv6_is_in_any_range(a: &[Value]) -> Value {
    let Some((x, _)) = parse_ipv6_prefix(&text_of(arg(a, 0))) else {
        return Value::Null;
    };
    let mut ranges: Vec<&Value> = Vec::new();
    for v in a.iter().skip(1) {
        match v {
            Value::Array(items) => ranges.extend(items.iter()),
            other => ranges.push(other),
        }
    }
    Value::Bool(ranges.into_iter().any(|r| {
        parse_ipv6_prefix(&text_of(r)).is_some_and(|(r, bits)| {
            let m = mask128(bits);
            x & m == r & m
        })
    }))
}

// ---- date parts ----

/// (year, month, day, day of year from 1, ticks into the day) of a datetime.
fn parts(t: i64) -> (i64, i64, i64, i64, i64) {
    let days = t.div_euclid(TICKS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let jan1 = days_from(y, 1, 1).unwrap_or(days);
    (y, m, d, days - jan1 + 1, t.rem_euclid(TICKS_PER_DAY))
}

fn days_from(y: i64, m: i64, d: i64) -> Option<i64> {
    ticks_of(y, m, d, 0, 0, 0, 0).map(|t| t.div_euclid(TICKS_PER_DAY))
}

/// Kusto's datetimes run from 0001-01-01 to 9999-12-31: in ticks since the Unix epoch.
const MIN_DATETIME: i64 = -621_355_968_000_000_000;
const MAX_DATETIME: i64 = 2_534_023_008_000_000_000;

/// The datetime argument `i` when it is within Kusto's range of datetimes.
fn datetime_arg(a: &[Value], i: usize) -> Option<i64> {
    match arg(a, i) {
        Value::DateTime(t) if (MIN_DATETIME..MAX_DATETIME).contains(t) => Some(*t),
        _ => None,
    }
}

fn with_datetime(a: &[Value], f: impl Fn(i64) -> Value) -> Value {
    datetime_arg(a, 0).map_or(Value::Null, f)
}

/// The ISO 8601 week number (weeks start on Monday; week 1 holds the year's first Thursday).
fn iso_week(t: i64) -> i64 {
    let days = t.div_euclid(TICKS_PER_DAY);
    // 1970-01-01 was a Thursday: Monday = 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let (y, _, _) = civil_from_days(thursday);
    let jan1 = days_from(y, 1, 1).unwrap_or(thursday);
    (thursday - jan1) / 7 + 1
}

/// `getyear(dt)`: the year.
pub fn f_getyear(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(parts(t).0))
}
/// `getmonth(dt)` and `monthofyear(dt)`: the month, 1 to 12.
pub fn f_getmonth(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(parts(t).1))
}
/// `dayofmonth(dt)`: the day of the month, 1 to 31.
pub fn f_dayofmonth(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(parts(t).2))
}
/// `dayofyear(dt)`: the day of the year, from 1.
pub fn f_dayofyear(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(parts(t).3))
}
/// `hourofday(dt)`: the hour, 0 to 23.
pub fn f_hourofday(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(parts(t).4 / TICKS_PER_HOUR))
}
/// `dayofweek(dt)`: the whole days since the preceding Sunday, as a timespan (`0d` on a
/// Sunday, `6d` on a Saturday).
pub fn f_dayofweek(a: &[Value]) -> Value {
    with_datetime(a, |t| {
        let days = t.div_euclid(TICKS_PER_DAY);
        Value::TimeSpan((days + 4).rem_euclid(7) * TICKS_PER_DAY)
    })
}
/// `weekofyear(dt)` (also `week_of_year`): the ISO 8601 week number.
pub fn f_weekofyear(a: &[Value]) -> Value {
    with_datetime(a, |t| Value::Long(iso_week(t)))
}

/// `datetime_part(part, dt)`: one part of the datetime as a long: `Year`, `Quarter`, `Month`,
/// `week_of_year` (ISO 8601), `Day`, `DayOfYear`, `Hour`, `Minute`, `Second`, `Millisecond`,
/// `Microsecond`, `Nanosecond` (case-insensitive); null for another part.
pub fn f_datetime_part(a: &[Value]) -> Value {
    let part = text_of(arg(a, 0)).to_ascii_lowercase();
    let Some(t) = datetime_arg(a, 1) else {
        return Value::Null;
    };
    let t = &t;
    let (y, m, d, doy, tod) = parts(*t);
    Value::Long(match part.as_str() {
        "year" => y,
        "quarter" => (m - 1) / 3 + 1,
        "month" => m,
        "week_of_year" | "weekofyear" | "week" => iso_week(*t),
        "day" => d,
        "dayofyear" => doy,
        "hour" => tod / TICKS_PER_HOUR,
        "minute" => tod % TICKS_PER_HOUR / TICKS_PER_MINUTE,
        "second" => tod % TICKS_PER_MINUTE / TICKS_PER_SECOND,
        "millisecond" => tod % TICKS_PER_SECOND / TICKS_PER_MILLI,
        "microsecond" => tod % TICKS_PER_SECOND / 10,
        "nanosecond" => tod % TICKS_PER_SECOND * 100,
        _ => return Value::Null,
    })
}

/// `make_datetime(year, month, day[, hour, minute, second])`: that datetime (the second may
/// have a fraction); null when a part is out of range.
pub fn f_make_datetime(a: &[Value]) -> Value {
    let mut ints = [0i64; 5];
    for (i, slot) in ints.iter_mut().enumerate() {
        if i < a.len() {
            match long_arg(a, i) {
                Some(x) => *slot = x,
                None => return Value::Null,
            }
        }
    }
    let (sec, frac) = if a.len() > 5 {
        match real_arg(a, 5) {
            Some(s) if (0.0..60.0).contains(&s) => {
                let whole = s.trunc();
                (whole as i64, ((s - whole) * 1e7).round() as i64)
            }
            _ => return Value::Null,
        }
    } else {
        (0, 0)
    };
    let [y, mo, d, h, mi] = ints;
    if !(1..=9999).contains(&y) {
        return Value::Null;
    }
    ticks_of(y, mo, d, h, mi, sec, 0)
        .and_then(|t| t.checked_add(frac))
        .map_or(Value::Null, Value::DateTime)
}

/// `make_timespan(hour, minute)`, `make_timespan(hour, minute, second)`,
/// `make_timespan(day, hour, minute, second)`: the timespan of those parts; null when one is
/// out of its range (hour 0–23, minute 0–59, second a real from 0 to under 60, day from 0).
pub fn f_make_timespan(a: &[Value]) -> Value {
    let (day, first) = if a.len() == 4 {
        match long_arg(a, 0) {
            Some(d) if d >= 0 => (d, 1),
            _ => return Value::Null,
        }
    } else {
        (0, 0)
    };
    let (Some(h), Some(m)) = (long_arg(a, first), long_arg(a, first + 1)) else {
        return Value::Null;
    };
    let sec = if a.len() > first + 2 {
        match real_arg(a, first + 2) {
            Some(s) if (0.0..60.0).contains(&s) => (s * TICKS_PER_SECOND as f64).round() as i64,
            _ => return Value::Null,
        }
    } else {
        0
    };
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Value::Null;
    }
    day.checked_mul(TICKS_PER_DAY)
        .and_then(|t| t.checked_add(h * TICKS_PER_HOUR + m * TICKS_PER_MINUTE + sec))
        .map_or(Value::Null, Value::TimeSpan)
}

/// `parse_path(path)`: a file path's parts as a bag of `Scheme` (`file` in `file://…`),
/// `RootPath` (a drive, `C:`), `DirectoryPath`, `DirectoryName` (its last part), `Filename`,
/// `Extension` (after the file name's last dot) and `AlternateDataStreamName` (after a `:` in
/// the file name), each the empty string when absent. Both slashes separate parts; a share
/// (`\\server\share\…`) and a long path (`\\?\C:\…`) keep their prefix in `DirectoryPath`.
pub fn f_parse_path(a: &[Value]) -> Value {
    let text = text_of(arg(a, 0));
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (s, r)
        }
        _ => ("", text.as_ref()),
    };
    let unprefixed = rest.strip_prefix(r"\\?\").unwrap_or(rest);
    let b = unprefixed.as_bytes();
    let root = if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &unprefixed[..2]
    } else {
        ""
    };
    let is_sep = |c: char| c == '/' || c == '\\';
    let (dir, file) = match rest.rfind(is_sep) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let (file, stream) = file.split_once(':').unwrap_or((file, ""));
    let dir_name = dir.rsplit(is_sep).next().unwrap_or("");
    let extension = file.rsplit_once('.').map_or("", |(_, e)| e);
    let s = |k: &str, v: &str| (Str::from(k), Value::str(v));
    Value::object(vec![
        s("Scheme", scheme),
        s("RootPath", root),
        s("DirectoryPath", dir),
        s("DirectoryName", dir_name),
        s("Filename", file),
        s("Extension", extension),
        s("AlternateDataStreamName", stream),
    ])
}

/// `bin_at(value, size, fixed_point)`: `value` rounded down to a multiple of `size` counted
/// from `fixed_point` (numbers, timespans, or datetimes with a timespan size).
pub fn f_bin_at(a: &[Value]) -> Value {
    let floor_from = |v: i64, s: i64, f: i64| -> Option<i64> {
        v.checked_sub(f)?
            .div_euclid(s)
            .checked_mul(s)?
            .checked_add(f)
    };
    match (arg(a, 0), arg(a, 1), arg(a, 2)) {
        (Value::DateTime(t), Value::TimeSpan(s), Value::DateTime(f)) if *s > 0 => {
            floor_from(*t, *s, *f).map_or(Value::Null, Value::DateTime)
        }
        (Value::TimeSpan(t), Value::TimeSpan(s), Value::TimeSpan(f)) if *s > 0 => {
            floor_from(*t, *s, *f).map_or(Value::Null, Value::TimeSpan)
        }
        (Value::Long(v), Value::Long(s), Value::Long(f)) if *s > 0 => {
            floor_from(*v, *s, *f).map_or(Value::Null, Value::Long)
        }
        _ => match (real_arg(a, 0), real_arg(a, 1), real_arg(a, 2)) {
            (Some(v), Some(s), Some(f)) if s > 0.0 => Value::Real(((v - f) / s).floor() * s + f),
            _ => Value::Null,
        },
    }
}

/// The most elements `range()` returns (Kusto's limit, 2^20): a longer range is cut there.
pub const RANGE_MAX_ELEMENTS: usize = 1 << 20;

/// `range(start, stop[, step])`: the dynamic array `start, start + step, …` up to and
/// including `stop` (down to it for a negative step), of at most [`RANGE_MAX_ELEMENTS`]
/// elements (a longer range is cut, as Kusto's is). Numbers (longs, or reals when an argument
/// is real; step 1 by default), datetimes or timespans (step a timespan, 1h by default). An
/// empty array when `stop` is on the wrong side of `start`; null when an argument is null,
/// the types do not fit or the step is 0.
pub fn f_range(a: &[Value]) -> Value {
    /// `count` elements `at(k)`, cut to the limit.
    fn build(count: i128, at: impl Fn(i64) -> Value) -> Value {
        let n = usize::try_from(count.max(0))
            .unwrap_or(usize::MAX)
            .min(RANGE_MAX_ELEMENTS);
        Value::array((0..n as i64).map(at).collect())
    }
    /// How many `start + k·step` lie between `start` and `stop`, inclusive.
    fn count(start: i64, stop: i64, step: i64) -> Option<i128> {
        if step == 0 {
            return None;
        }
        let span = i128::from(stop) - i128::from(start);
        if span != 0 && (span > 0) != (step > 0) {
            return Some(0);
        }
        Some(span / i128::from(step) + 1)
    }
    let start = arg(a, 0);
    let stop = arg(a, 1);
    let step = a.get(2);
    match (start, stop, step) {
        (Value::DateTime(s), Value::DateTime(e), None | Some(Value::TimeSpan(_)))
        | (Value::TimeSpan(s), Value::TimeSpan(e), None | Some(Value::TimeSpan(_))) => {
            let d = match step {
                Some(Value::TimeSpan(d)) => *d,
                _ => TICKS_PER_HOUR,
            };
            let Some(n) = count(*s, *e, d) else {
                return Value::Null;
            };
            let datetime = matches!(start, Value::DateTime(_));
            let s = *s;
            build(n, |k| {
                let t = s.saturating_add(k.saturating_mul(d));
                if datetime {
                    Value::DateTime(t)
                } else {
                    Value::TimeSpan(t)
                }
            })
        }
        (Value::Long(s), Value::Long(e), None | Some(Value::Long(_))) => {
            let d = match step {
                Some(Value::Long(d)) => *d,
                _ => 1,
            };
            let Some(n) = count(*s, *e, d) else {
                return Value::Null;
            };
            let s = *s;
            build(n, |k| Value::Long(s.saturating_add(k.saturating_mul(d))))
        }
        (Value::Long(_) | Value::Real(_), Value::Long(_) | Value::Real(_), _) => {
            let (Some(s), Some(e)) = (real_arg(a, 0), real_arg(a, 1)) else {
                return Value::Null;
            };
            let d = match step {
                None => 1.0,
                Some(Value::Long(_) | Value::Real(_)) => real_arg(a, 2).unwrap_or(0.0),
                Some(_) => return Value::Null,
            };
            if d == 0.0 || !d.is_finite() || !s.is_finite() || !e.is_finite() {
                return Value::Null;
            }
            let span = e - s;
            if span != 0.0 && (span > 0.0) != (d > 0.0) {
                return Value::array(Vec::new());
            }
            // A small tolerance, so that 0.1 steps reach a stop they add up to.
            let n = (span / d + 1e-9).floor() + 1.0;
            let n = if n >= RANGE_MAX_ELEMENTS as f64 {
                RANGE_MAX_ELEMENTS as i128
            } else {
                n as i128
            };
            build(n, |k| Value::Real(s + k as f64 * d))
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_datetime;

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn dt(x: &str) -> Value {
        Value::DateTime(parse_datetime(x).unwrap())
    }

    #[test]
    fn make_timespan_from_its_parts() {
        // Kusto's documented example: make_timespan(1,12,30,55.123) == 1.12:30:55.1230000.
        assert_eq!(
            f_make_timespan(&[
                Value::Long(1),
                Value::Long(12),
                Value::Long(30),
                Value::Real(55.123)
            ]),
            Value::TimeSpan(
                TICKS_PER_DAY + 12 * TICKS_PER_HOUR + 30 * TICKS_PER_MINUTE + 551_230_000
            )
        );
        assert_eq!(
            f_make_timespan(&[Value::Long(1), Value::Long(0)]),
            Value::TimeSpan(TICKS_PER_HOUR)
        );
        assert_eq!(
            f_make_timespan(&[Value::Long(0), Value::Long(5), Value::Real(1.5)]),
            Value::TimeSpan(5 * TICKS_PER_MINUTE + 15_000_000)
        );
        for bad in [
            vec![Value::Long(24), Value::Long(0)],
            vec![Value::Long(1), Value::Long(60)],
            vec![Value::Long(1), Value::Long(0), Value::Real(60.0)],
            vec![
                Value::Long(-1),
                Value::Long(0),
                Value::Long(0),
                Value::Long(0),
            ],
            vec![Value::Null, Value::Long(0)],
        ] {
            assert_eq!(f_make_timespan(&bad), Value::Null, "{bad:?}");
        }
    }

    #[test]
    fn parse_path_on_the_documented_examples() {
        let parts = |p: &str| -> Vec<String> {
            let v = f_parse_path(&[s(p)]);
            [
                "Scheme",
                "RootPath",
                "DirectoryPath",
                "DirectoryName",
                "Filename",
                "Extension",
                "AlternateDataStreamName",
            ]
            .iter()
            .map(|k| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string())
            .collect()
        };
        assert_eq!(
            parts(r"C:\temp\file.txt"),
            ["", "C:", r"C:\temp", "temp", "file.txt", "txt", ""]
        );
        assert_eq!(
            parts(r"temp\file.txt"),
            ["", "", "temp", "temp", "file.txt", "txt", ""]
        );
        assert_eq!(
            parts("file://C:/temp/file.txt:some.exe"),
            [
                "file", "C:", "C:/temp", "temp", "file.txt", "txt", "some.exe"
            ]
        );
        assert_eq!(
            parts(r"\\shared\users\temp\file.txt.gz"),
            [
                "",
                "",
                r"\\shared\users\temp",
                "temp",
                "file.txt.gz",
                "gz",
                ""
            ]
        );
        assert_eq!(
            parts("/usr/lib/temp/file.txt"),
            ["", "", "/usr/lib/temp", "temp", "file.txt", "txt", ""]
        );
        assert_eq!(
            parts(r"\\?\C:\w\a.exe"),
            ["", "C:", r"\\?\C:\w", "w", "a.exe", "exe", ""]
        );
        assert_eq!(parts("")[4], "");
    }

    #[test]
    fn replace_takes_the_text_last() {
        // The deprecated argument order: replace(regex, rewrite, text).
        assert_eq!(f_replace(&[s(r"\.$"), s(""), s("a.b.")]), s("a.b"));
        assert_eq!(
            f_replace(&[s(r"is (\d+)"), s(r"was: \1"), s("Number is 1")]),
            s("Number was: 1")
        );
    }

    #[test]
    fn countof_counts_overlaps_in_normal_mode_only() {
        // Kusto's documented examples.
        assert_eq!(
            f_countof(&[s("The cat sat on the mat"), s("at")]),
            Value::Long(3)
        );
        assert_eq!(f_countof(&[s("aaa"), s("a")]), Value::Long(3));
        assert_eq!(f_countof(&[s("aaaa"), s("aa")]), Value::Long(3));
        assert_eq!(
            f_countof(&[s("ababa"), s("ab"), s("normal")]),
            Value::Long(2)
        );
        assert_eq!(f_countof(&[s("ababa"), s("aba")]), Value::Long(2));
        assert_eq!(
            f_countof(&[s("ababa"), s("aba"), s("regex")]),
            Value::Long(1)
        );
        assert_eq!(
            f_countof(&[s("abcabc"), s("a.c"), s("regex")]),
            Value::Long(2)
        );
    }

    #[test]
    fn date_parts() {
        let t = dt("2015-12-31T23:59:59.9Z");
        assert_eq!(f_getyear(std::slice::from_ref(&t)), Value::Long(2015));
        assert_eq!(f_getmonth(std::slice::from_ref(&t)), Value::Long(12));
        assert_eq!(f_dayofmonth(std::slice::from_ref(&t)), Value::Long(31));
        assert_eq!(f_dayofyear(std::slice::from_ref(&t)), Value::Long(365));
        assert_eq!(f_hourofday(std::slice::from_ref(&t)), Value::Long(23));
        // 2015-12-31 was a Thursday: four days after Sunday.
        assert_eq!(
            f_dayofweek(std::slice::from_ref(&t)),
            Value::TimeSpan(4 * TICKS_PER_DAY)
        );
        assert_eq!(
            f_dayofweek(&[dt("1947-11-30T10:00:05Z")]),
            Value::TimeSpan(0)
        );
        assert_eq!(
            f_dayofweek(&[dt("1970-05-11")]),
            Value::TimeSpan(TICKS_PER_DAY)
        );
        // ISO weeks: 2015-12-31 is in week 53 of 2015; 2016-01-04 starts week 1 of 2016.
        assert_eq!(f_weekofyear(std::slice::from_ref(&t)), Value::Long(53));
        assert_eq!(f_weekofyear(&[dt("2016-01-03")]), Value::Long(53));
        assert_eq!(f_weekofyear(&[dt("2016-01-04")]), Value::Long(1));
        assert_eq!(f_weekofyear(&[dt("2020-12-31")]), Value::Long(53));
        let p = |part: &str| f_datetime_part(&[s(part), dt("2017-10-30T01:02:03.7654321Z")]);
        assert_eq!(p("Year"), Value::Long(2017));
        assert_eq!(p("Quarter"), Value::Long(4));
        assert_eq!(p("Month"), Value::Long(10));
        assert_eq!(p("week_of_year"), Value::Long(44));
        assert_eq!(p("Day"), Value::Long(30));
        assert_eq!(p("DayOfYear"), Value::Long(303));
        assert_eq!(p("Hour"), Value::Long(1));
        assert_eq!(p("Minute"), Value::Long(2));
        assert_eq!(p("Second"), Value::Long(3));
        assert_eq!(p("Millisecond"), Value::Long(765));
        assert_eq!(p("Microsecond"), Value::Long(765432));
        assert_eq!(p("Nanosecond"), Value::Long(765432100));
        assert_eq!(p("fortnight"), Value::Null);
        assert_eq!(f_getyear(&[s("2017")]), Value::Null);
    }

    #[test]
    fn make_datetime_and_bin_at() {
        assert_eq!(
            f_make_datetime(&[Value::Long(2017), Value::Long(10), Value::Long(1)]),
            dt("2017-10-01")
        );
        assert_eq!(
            f_make_datetime(&[
                Value::Long(2017),
                Value::Long(10),
                Value::Long(1),
                Value::Long(12),
                Value::Long(10),
                Value::Real(10.5)
            ]),
            dt("2017-10-01T12:10:10.5Z")
        );
        assert_eq!(
            f_make_datetime(&[Value::Long(2017), Value::Long(13), Value::Long(1)]),
            Value::Null
        );
        // Kusto's documented bin_at examples.
        assert_eq!(
            f_bin_at(&[Value::Real(6.5), Value::Real(2.5), Value::Long(7)]),
            Value::Real(4.5)
        );
        assert_eq!(
            f_bin_at(&[
                Value::TimeSpan(TICKS_PER_HOUR),
                Value::TimeSpan(TICKS_PER_DAY),
                Value::TimeSpan(12 * TICKS_PER_HOUR)
            ]),
            Value::TimeSpan(-12 * TICKS_PER_HOUR)
        );
        assert_eq!(
            f_bin_at(&[
                dt("2017-05-15T10:20:00.0Z"),
                Value::TimeSpan(TICKS_PER_DAY),
                dt("1970-01-01T12:00:00.0Z")
            ]),
            dt("2017-05-14T12:00:00.0Z")
        );
        assert_eq!(
            f_bin_at(&[Value::Long(7), Value::Long(2), Value::Long(0)]),
            Value::Long(6)
        );
    }

    #[test]
    fn strings_arrays_and_encodings() {
        assert_eq!(f_tohex(&[Value::Long(256)]), s("100"));
        assert_eq!(f_tohex(&[Value::Long(-546)]), s("fffffffffffffdde"));
        assert_eq!(f_tohex(&[Value::Long(546), Value::Long(8)]), s("00000222"));
        assert_eq!(f_string_size(&[s("⒦⒰⒮⒯⒪")]), Value::Long(15));
        assert_eq!(f_reverse(&[s("ABCDEF")]), s("FEDCBA"));
        assert_eq!(f_base64_decode_tostring(&[s("S3VzdG8=")]), s("Kusto"));
        assert_eq!(f_base64_encode_tostring(&[s("Kusto")]), s("S3VzdG8="));
        assert_eq!(
            f_base64_decode_toarray(&[s("S3VzdG8=")]),
            Value::array([75, 117, 115, 116, 111].map(Value::Long).to_vec())
        );
        let arr = |xs: &[i64]| Value::array(xs.iter().map(|&x| Value::Long(x)).collect());
        assert_eq!(
            f_set_union(&[arr(&[1, 2, 3]), arr(&[3, 4])]),
            arr(&[1, 2, 3, 4])
        );
        assert_eq!(
            f_array_index_of(&[arr(&[1, 2, 3, 2]), Value::Long(2)]),
            Value::Long(1)
        );
        assert_eq!(
            f_array_index_of(&[arr(&[1, 2, 3, 2]), Value::Long(2), Value::Long(2)]),
            Value::Long(3)
        );
        assert_eq!(
            f_array_index_of(&[arr(&[1]), Value::Long(9)]),
            Value::Long(-1)
        );
        assert_eq!(
            f_array_slice(&[arr(&[1, 2, 3]), Value::Long(1), Value::Long(2)]),
            arr(&[2, 3])
        );
        assert_eq!(
            f_array_slice(&[arr(&[1, 2, 3]), Value::Long(-2), Value::Long(-1)]),
            arr(&[2, 3])
        );
        assert_eq!(
            f_ipv4_is_match(&[s("192.168.1.1"), s("192.168.1.255"), Value::Long(24)]),
            Value::Bool(true)
        );
        assert_eq!(
            f_ipv4_is_match(&[s("192.168.1.1"), s("192.168.1.255")]),
            Value::Bool(false)
        );
        assert_eq!(f_ipv4_is_match(&[s("x"), s("192.168.1.255")]), Value::Null);
    }

    #[test]
    fn extract_all_by_groups() {
        let text = s("abc123def456");
        assert_eq!(
            f_extract_all(&[s(r"\d+"), text.clone()]),
            Value::array(vec![s("123"), s("456")])
        );
        assert_eq!(
            f_extract_all(&[s(r"([a-z]+)(\d+)"), text.clone()]),
            Value::array(vec![
                Value::array(vec![s("abc"), s("123")]),
                Value::array(vec![s("def"), s("456")])
            ])
        );
        assert_eq!(
            f_extract_all(&[
                s(r"([a-z]+)(\d+)"),
                Value::array(vec![Value::Long(2)]),
                text.clone()
            ]),
            Value::array(vec![
                Value::array(vec![s("123")]),
                Value::array(vec![s("456")])
            ])
        );
        assert_eq!(f_extract_all(&[s("z"), text]), Value::Null);
    }

    #[test]
    fn ipv6_functions() {
        // Kusto's documented examples.
        assert_eq!(
            f_parse_ipv6(&[s("127.0.0.1")]),
            s("0000:0000:0000:0000:0000:ffff:7f00:0001")
        );
        assert_eq!(
            f_parse_ipv6(&[s("fe80::85d:e82c:9446:7994/120")]),
            s("fe80:0000:0000:0000:085d:e82c:9446:7900")
        );
        assert_eq!(f_parse_ipv6(&[s("not an ip")]), Value::Null);
        assert_eq!(
            f_ipv6_compare(&[s("::ffff:7f00:1"), s("127.0.0.1")]),
            Value::Long(0)
        );
        assert_eq!(
            f_ipv6_compare(&[s("fe80::85d:e82c:9446:7994"), s("fe80::85d:e82c:9446:7995")]),
            Value::Long(-1)
        );
        assert_eq!(
            f_ipv6_is_match(&[
                s("fe80::85d:e82c:9446:7994/127"),
                s("fe80::85d:e82c:9446:7995/127")
            ]),
            Value::Bool(true)
        );
        assert_eq!(
            f_ipv6_is_in_range(&[
                s("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd"),
                s("a5e:f127:8a9d:146d:e102:b5d3:c755:0000/112")
            ]),
            Value::Bool(true)
        );
        let ranges = Value::array(vec![s("a:b:c::/48"), s("2001:db8::/32")]);
        assert_eq!(
            f_ipv6_is_in_any_range(&[s("2001:db8::1"), ranges.clone()]),
            Value::Bool(true)
        );
        assert_eq!(
            f_ipv6_is_in_any_range(&[s("2001:db9::1"), ranges]),
            Value::Bool(false)
        );
        assert_eq!(f_ipv6_is_in_any_range(&[s("x"), s("::/0")]), Value::Null);
    }

    #[test]
    fn url_encoding() {
        assert_eq!(
            f_url_decode(&[s("https%3a%2f%2fwww.bing.com%2f")]),
            s("https://www.bing.com/")
        );
        assert_eq!(f_url_decode(&[s("a+b%")]), s("a b%"));
        assert_eq!(
            f_url_encode(&[s("https://www.bing.com/")]),
            s("https%3A%2F%2Fwww.bing.com%2F")
        );
    }

    #[test]
    fn parse_url_parts() {
        let u = f_parse_url(&[s(
            "scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v2#fragment",
        )]);
        assert_eq!(u.get("Scheme"), Some(&s("scheme")));
        assert_eq!(u.get("Host"), Some(&s("host")));
        assert_eq!(u.get("Port"), Some(&s("1234")));
        assert_eq!(u.get("Path"), Some(&s("/this/is/a/path")));
        assert_eq!(u.get("Username"), Some(&s("username")));
        assert_eq!(u.get("Password"), Some(&s("password")));
        assert_eq!(u.get("Fragment"), Some(&s("fragment")));
        assert_eq!(
            u.get("Query Parameters").and_then(|q| q.get("k2")),
            Some(&s("v2"))
        );
        assert_eq!(f_parse_url(&[s("not a url")]), Value::object(Vec::new()));
    }

    #[test]
    fn new_guid_follows_the_row() {
        let a = f_new_guid(&[s("x"), Value::Long(1)]);
        assert_eq!(a, f_new_guid(&[s("x"), Value::Long(1)]));
        assert_ne!(a, f_new_guid(&[s("x"), Value::Long(2)]));
        let text = a.as_str().unwrap().to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
    }
}
