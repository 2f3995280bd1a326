//! Kusto's conversion functions: `tostring`, `todatetime`, `toint`, `tolong`, `toreal`,
//! `tobool`, `totimespan`, `parse_json` / `todynamic`. Each returns null where Kusto's does
//! (a conversion that fails gives null, never an error).

use super::json::{from_json, to_json_text};
use super::time::{format_datetime_iso, format_timespan, parse_datetime, parse_timespan};
use super::value::Value;

/// .NET ticks (100 ns since 0001-01-01) at the Unix epoch: Kusto's `tolong(datetime)` counts
/// from there.
pub const DOTNET_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

/// `tostring(x)`: null gives `""`; reals print in their shortest exact form (`1`, `0.1`);
/// datetimes and timespans in Kusto's format; arrays and bags as compact JSON.
pub fn tostring(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::from(to_display_string(other)),
    }
}

/// The text `tostring` gives for a value, as a Rust string.
pub(crate) fn to_display_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Long(x) => x.to_string(),
        Value::Real(x) => {
            if x.is_nan() {
                "NaN".to_string()
            } else if x.is_infinite() {
                if *x > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
            } else {
                x.to_string()
            }
        }
        Value::DateTime(t) => format_datetime_iso(*t),
        Value::TimeSpan(t) => format_timespan(*t),
        Value::String(s) => s.to_string(),
        Value::Array(_) | Value::Object(_) => to_json_text(v),
    }
}

impl std::fmt::Display for Value {
    /// Formats the value as `tostring()` would.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            other => f.write_str(&to_display_string(other)),
        }
    }
}

/// `todatetime(x)`: a datetime as is; a string parsed as ISO 8601, the portal's US form or
/// RFC 2822; anything else null.
pub fn todatetime(v: &Value) -> Value {
    match v {
        Value::DateTime(_) => v.clone(),
        Value::String(s) => parse_datetime(s).map_or(Value::Null, Value::DateTime),
        _ => Value::Null,
    }
}

fn real_to_long(x: f64) -> Option<i64> {
    // Truncates toward zero, as Kusto does ("Decimal places are truncated").
    if x.is_finite() && x >= i64::MIN as f64 && x < i64::MAX as f64 {
        Some(x.trunc() as i64)
    } else {
        None
    }
}

fn long_of(v: &Value) -> Option<i64> {
    match v {
        Value::Long(x) => Some(*x),
        Value::Real(x) => real_to_long(*x),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::DateTime(t) => t.checked_add(DOTNET_EPOCH_TICKS),
        Value::TimeSpan(t) => Some(*t),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(real_to_long))
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// `tolong(x)`: numbers truncated toward zero, bools as 0/1, numeric strings parsed
/// (`"123.456"` gives 123), timespans and datetimes as ticks (datetimes counted from
/// 0001-01-01, as .NET does); anything else null.
pub fn tolong(v: &Value) -> Value {
    long_of(v).map_or(Value::Null, Value::Long)
}

/// `toint(x)`: as [`tolong`], null when the result does not fit 32 bits.
pub fn toint(v: &Value) -> Value {
    long_of(v)
        .and_then(|x| i32::try_from(x).ok())
        .map_or(Value::Null, |x| Value::Long(i64::from(x)))
}

/// `toreal(x)` (also `todouble`): numbers and bools as reals, numeric strings parsed
/// (including `NaN` and `Infinity`), timespans and datetimes as ticks; anything else null.
pub fn toreal(v: &Value) -> Value {
    match v {
        Value::Real(_) => v.clone(),
        Value::Long(x) => Value::Real(*x as f64),
        Value::Bool(b) => Value::Real(if *b { 1.0 } else { 0.0 }),
        Value::TimeSpan(t) => Value::Real(*t as f64),
        Value::DateTime(t) => Value::Real((*t as f64) + DOTNET_EPOCH_TICKS as f64),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<f64>() {
                Ok(x) => Value::Real(x),
                Err(_) => Value::Null,
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => Value::Null,
    }
}

/// `tobool(x)`: `"true"`/`"false"` (any case) and `"1"`/`"0"`, numbers as non-zero; anything
/// else null.
pub fn tobool(v: &Value) -> Value {
    match v {
        Value::Bool(_) => v.clone(),
        Value::Long(x) => Value::Bool(*x != 0),
        Value::Real(x) => Value::Bool(*x != 0.0),
        Value::String(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("true") || s == "1" {
                Value::Bool(true)
            } else if s.eq_ignore_ascii_case("false") || s == "0" {
                Value::Bool(false)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

/// `totimespan(x)`: a timespan as is; a string in .NET form (`1.02:03:04`) or as a KQL literal
/// (`1d`); a long as ticks; anything else null.
pub fn totimespan(v: &Value) -> Value {
    match v {
        Value::TimeSpan(_) => v.clone(),
        Value::Long(x) => Value::TimeSpan(*x),
        Value::String(s) => parse_timespan(s).map_or(Value::Null, Value::TimeSpan),
        _ => Value::Null,
    }
}

/// `parse_json(x)` (also `todynamic`): a string holding JSON becomes the dynamic value it
/// denotes; a string that is not JSON stays that string (as Kusto returns it); any other value
/// is returned as is.
pub fn parse_json(v: &Value) -> Value {
    match v {
        Value::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j) => from_json(&j),
            Err(_) => v.clone(),
        },
        other => other.clone(),
    }
}

/// `todynamic(x)`: the same as [`parse_json`].
pub fn todynamic(v: &Value) -> Value {
    parse_json(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::TICKS_PER_SECOND;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn tostring_examples() {
        assert_eq!(tostring(&Value::Null), s(""));
        assert_eq!(tostring(&Value::Long(123)), s("123"));
        assert_eq!(tostring(&Value::Real(1.0)), s("1"));
        assert_eq!(tostring(&Value::Real(0.1)), s("0.1"));
        assert_eq!(tostring(&Value::Bool(true)), s("true"));
        assert_eq!(tostring(&Value::DateTime(0)), s("1970-01-01T00:00:00Z"));
        assert_eq!(
            tostring(&Value::TimeSpan(3600 * TICKS_PER_SECOND)),
            s("01:00:00")
        );
        assert_eq!(
            tostring(&parse_json(&s(r#"{"city":"Oslo"}"#))),
            s(r#"{"city":"Oslo"}"#)
        );
    }

    #[test]
    fn tolong_examples() {
        // Kusto's documentation: tolong("123") == 123
        assert_eq!(tolong(&s("123")), Value::Long(123));
        assert_eq!(tolong(&s("123.456")), Value::Long(123));
        assert_eq!(tolong(&s("abc")), Value::Null);
        assert_eq!(tolong(&Value::Real(-2.9)), Value::Long(-2));
        assert_eq!(tolong(&Value::Bool(true)), Value::Long(1));
        assert_eq!(
            tolong(&Value::TimeSpan(TICKS_PER_SECOND)),
            Value::Long(10_000_000)
        );
        assert_eq!(tolong(&Value::Real(f64::NAN)), Value::Null);
        assert_eq!(toint(&s("2147483648")), Value::Null);
        assert_eq!(toint(&s("2147483647")), Value::Long(2_147_483_647));
        assert_eq!(toint(&Value::Bool(false)), Value::Long(0));
    }

    #[test]
    fn toreal_examples() {
        assert_eq!(toreal(&s("1.5")), Value::Real(1.5));
        assert_eq!(toreal(&Value::Long(3)), Value::Real(3.0));
        assert_eq!(toreal(&s("x")), Value::Null);
        assert_eq!(toreal(&Value::Null), Value::Null);
    }

    #[test]
    fn tobool_examples() {
        // Kusto's documentation: tobool("true") == true, tobool("false") == false,
        // tobool(1) == true, tobool(123) == true
        assert_eq!(tobool(&s("true")), Value::Bool(true));
        assert_eq!(tobool(&s("false")), Value::Bool(false));
        assert_eq!(tobool(&Value::Long(1)), Value::Bool(true));
        assert_eq!(tobool(&Value::Long(123)), Value::Bool(true));
        assert_eq!(tobool(&s("TRUE")), Value::Bool(true));
        assert_eq!(tobool(&s("yes")), Value::Null);
    }

    #[test]
    fn todatetime_and_totimespan() {
        assert_eq!(
            todatetime(&s("1970-01-01T00:00:01Z")),
            Value::DateTime(TICKS_PER_SECOND)
        );
        assert_eq!(todatetime(&s("not a date")), Value::Null);
        assert_eq!(todatetime(&Value::Long(5)), Value::Null);
        assert_eq!(
            totimespan(&s("00:00:01")),
            Value::TimeSpan(TICKS_PER_SECOND)
        );
        assert_eq!(totimespan(&s("1s")), Value::TimeSpan(TICKS_PER_SECOND));
        assert_eq!(totimespan(&Value::Long(7)), Value::TimeSpan(7));
        assert_eq!(totimespan(&s("soon")), Value::Null);
    }

    #[test]
    fn parse_json_examples() {
        let v = parse_json(&s(r#"{"user":{"userPrincipalName":"a@b.c"}}"#));
        assert_eq!(
            v.get("user").and_then(|u| u.get("userPrincipalName")),
            Some(&s("a@b.c"))
        );
        // Not JSON: the string itself.
        assert_eq!(parse_json(&s("hello")), s("hello"));
        // A JSON string literal: the string inside.
        assert_eq!(parse_json(&s("\"KeyDescription\"")), s("KeyDescription"));
        assert_eq!(parse_json(&Value::Long(4)), Value::Long(4));
        assert_eq!(
            todynamic(&s("[1,2]")),
            Value::array(vec![Value::Long(1), Value::Long(2)])
        );
    }
}
