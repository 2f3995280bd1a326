//! JSON: building [`Value`]s from parsed JSON, and printing values as JSON text.

use std::fmt::Write;

use super::time::{format_datetime_iso, format_timespan};
use super::value::{Str, Value};

/// Converts parsed JSON into a dynamic [`Value`]: integers that fit an i64 become longs, other
/// numbers reals, objects property bags.
pub fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Long(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::array(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::object(
            map.iter()
                .map(|(k, v)| (Str::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// Prints a value as compact JSON text, as `tostring()` prints a dynamic array or bag: strings
/// quoted and escaped, datetimes and timespans as quoted strings in Kusto's format, non-finite
/// reals as quoted `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn to_json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

/// Appends the JSON text of `v` to `out` (see [`to_json_text`]).
pub fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Long(x) => {
            let _ = write!(out, "{x}");
        }
        Value::Real(x) => {
            if x.is_finite() {
                let _ = write!(out, "{x}");
            } else if x.is_nan() {
                out.push_str("\"NaN\"");
            } else if *x > 0.0 {
                out.push_str("\"Infinity\"");
            } else {
                out.push_str("\"-Infinity\"");
            }
        }
        Value::DateTime(t) => write_json_string(&format_datetime_iso(*t), out),
        Value::TimeSpan(t) => write_json_string(&format_timespan(*t), out),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(pairs) => {
            out.push('{');
            for (i, (k, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let text = r#"{"b":[1,2.5,"x\"y",null,true],"a":{"c":-7}}"#;
        let j: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = from_json(&j);
        // keys come out sorted
        assert_eq!(
            to_json_text(&v),
            r#"{"a":{"c":-7},"b":[1,2.5,"x\"y",null,true]}"#
        );
        let again: serde_json::Value = serde_json::from_str(&to_json_text(&v)).unwrap();
        assert_eq!(from_json(&again), v);
    }

    #[test]
    fn large_integers_become_reals() {
        let j: serde_json::Value = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(from_json(&j), Value::Real(_)));
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(to_json_text(&Value::str("a\u{1}b\n")), "\"a\\u0001b\\n\"");
    }
}
