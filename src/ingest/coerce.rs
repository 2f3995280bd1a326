//! Coercion of the values found in log files to a column's type, as Log Analytics ingestion
//! does: strings from any scalar, numbers from numeric text, datetimes from ISO or the portal's
//! US form, dynamic values from JSON text.

use crate::model::{Type, Value, from_json, parse_datetime, parse_timespan, to_json_text};

/// Why a value did not fit its column: a short text for the report.
pub(crate) type CoerceError = String;

fn describe(s: &str) -> String {
    let mut shown: String = s.chars().take(40).collect();
    if shown.len() < s.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Coerces text (a CSV cell or a JSON string) to `ty`. Empty text is null for every type but
/// string, where it is the empty string.
pub(crate) fn coerce_str(s: &str, ty: Type) -> Result<Value, CoerceError> {
    if ty == Type::String {
        return Ok(Value::str(s));
    }
    let t = s.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    let bad = || Err(format!("expected {ty}, got {}", describe(s)));
    match ty {
        Type::String => Ok(Value::str(s)),
        Type::Bool => {
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Ok(Value::Bool(true))
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Ok(Value::Bool(false))
            } else {
                bad()
            }
        }
        Type::Int | Type::Long => match t.parse::<i64>() {
            Ok(x) => check_int(x, ty),
            Err(_) => match t.parse::<f64>() {
                Ok(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => check_int(x as i64, ty),
                _ => bad(),
            },
        },
        Type::Real => t.parse::<f64>().map(Value::Real).or_else(|_| bad()),
        Type::DateTime => parse_datetime(t).map(Value::DateTime).map_or_else(bad, Ok),
        Type::TimeSpan => parse_timespan(t).map(Value::TimeSpan).map_or_else(bad, Ok),
        Type::Dynamic => Ok(dynamic_from_text(s)),
    }
}

fn check_int(x: i64, ty: Type) -> Result<Value, CoerceError> {
    if ty == Type::Int && i32::try_from(x).is_err() {
        Err(format!("expected int, got {x}, which does not fit 32 bits"))
    } else {
        Ok(Value::Long(x))
    }
}

/// A dynamic value from text: the JSON it holds, or the text itself when it is not JSON (as
/// Kusto keeps it).
pub(crate) fn dynamic_from_text(s: &str) -> Value {
    let t = s.trim_start();
    let looks_json = matches!(
        t.as_bytes().first(),
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    );
    if looks_json && let Ok(j) = serde_json::from_str::<serde_json::Value>(s) {
        return from_json(&j);
    }
    Value::str(s)
}

/// Coerces a long found in JSON to `ty`.
pub(crate) fn coerce_i64(x: i64, ty: Type) -> Result<Value, CoerceError> {
    match ty {
        Type::Int | Type::Long => check_int(x, ty),
        Type::Real => Ok(Value::Real(x as f64)),
        Type::String => Ok(Value::from(x.to_string())),
        Type::Dynamic => Ok(Value::Long(x)),
        Type::Bool => Ok(Value::Bool(x != 0)),
        Type::TimeSpan => Ok(Value::TimeSpan(x)),
        Type::DateTime => Err(format!("expected datetime, got the number {x}")),
    }
}

/// Coerces a real found in JSON to `ty`.
pub(crate) fn coerce_f64(x: f64, ty: Type) -> Result<Value, CoerceError> {
    match ty {
        Type::Real => Ok(Value::Real(x)),
        Type::Int | Type::Long if x.fract() == 0.0 && x.abs() < 9.2e18 => check_int(x as i64, ty),
        Type::String => Ok(Value::from(Value::Real(x).to_string())),
        Type::Dynamic => Ok(Value::Real(x)),
        _ => Err(format!("expected {ty}, got the number {x}")),
    }
}

/// Coerces a bool found in JSON to `ty`.
pub(crate) fn coerce_bool(b: bool, ty: Type) -> Result<Value, CoerceError> {
    match ty {
        Type::Bool | Type::Dynamic => Ok(Value::Bool(b)),
        Type::String => Ok(Value::str(if b { "true" } else { "false" })),
        Type::Int | Type::Long => Ok(Value::Long(i64::from(b))),
        Type::Real => Ok(Value::Real(if b { 1.0 } else { 0.0 })),
        _ => Err(format!("expected {ty}, got {b}")),
    }
}

/// Coerces a JSON null: the empty string for strings, null otherwise.
pub(crate) fn coerce_null(ty: Type) -> Value {
    if ty == Type::String {
        Value::empty_string()
    } else {
        Value::Null
    }
}

/// Coerces a JSON array or object (already built as a [`Value`]) to `ty`: kept for dynamic
/// columns, printed as JSON text for string columns, an error otherwise.
pub(crate) fn coerce_composite(v: Value, ty: Type) -> Result<Value, CoerceError> {
    match ty {
        Type::Dynamic => Ok(v),
        Type::String => Ok(Value::from(to_json_text(&v))),
        _ => Err(format!(
            "expected {ty}, got a JSON {}",
            if matches!(v, Value::Array(_)) {
                "array"
            } else {
                "object"
            }
        )),
    }
}

/// Coerces any parsed JSON value to `ty`.
pub(crate) fn coerce_json(j: &serde_json::Value, ty: Type) -> Result<Value, CoerceError> {
    use serde_json::Value as J;
    match j {
        J::Null => Ok(coerce_null(ty)),
        J::Bool(b) => coerce_bool(*b, ty),
        J::Number(n) => match n.as_i64() {
            Some(x) => coerce_i64(x, ty),
            None => coerce_f64(n.as_f64().unwrap_or(f64::NAN), ty),
        },
        J::String(s) => coerce_str(s, ty),
        J::Array(_) | J::Object(_) => coerce_composite(from_json(j), ty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TICKS_PER_SECOND;

    #[test]
    fn text_to_each_type() {
        assert_eq!(coerce_str("TRUE", Type::Bool), Ok(Value::Bool(true)));
        assert_eq!(coerce_str("", Type::Bool), Ok(Value::Null));
        assert_eq!(coerce_str("", Type::String), Ok(Value::str("")));
        assert_eq!(coerce_str("42", Type::Long), Ok(Value::Long(42)));
        assert_eq!(coerce_str("42.0", Type::Long), Ok(Value::Long(42)));
        assert!(coerce_str("42.5", Type::Long).is_err());
        assert!(
            coerce_str("abc", Type::Long)
                .unwrap_err()
                .contains("expected long")
        );
        assert!(coerce_str("3000000000", Type::Int).is_err());
        assert_eq!(coerce_str("1.5", Type::Real), Ok(Value::Real(1.5)));
        assert_eq!(
            coerce_str("1/1/1970, 12:00:01.000 AM", Type::DateTime),
            Ok(Value::DateTime(TICKS_PER_SECOND))
        );
        assert!(coerce_str("yesterday", Type::DateTime).is_err());
        assert_eq!(
            coerce_str(r#"{"a":1}"#, Type::Dynamic),
            Ok(Value::object(vec![("a".into(), Value::Long(1))]))
        );
        assert_eq!(
            coerce_str("Password", Type::Dynamic),
            Ok(Value::str("Password"))
        );
        assert_eq!(
            coerce_str("[broken", Type::Dynamic),
            Ok(Value::str("[broken"))
        );
    }

    #[test]
    fn json_to_each_type() {
        let j: serde_json::Value = serde_json::from_str(r#"{"x":[1,2]}"#).unwrap();
        assert_eq!(
            coerce_json(&j, Type::String),
            Ok(Value::str(r#"{"x":[1,2]}"#))
        );
        assert!(coerce_json(&j, Type::Long).is_err());
        assert_eq!(
            coerce_json(&serde_json::json!(4), Type::String),
            Ok(Value::str("4"))
        );
        assert_eq!(
            coerce_json(&serde_json::json!(4.0), Type::Long),
            Ok(Value::Long(4))
        );
        assert_eq!(
            coerce_json(&serde_json::json!(null), Type::String),
            Ok(Value::str(""))
        );
        assert_eq!(
            coerce_json(&serde_json::json!(null), Type::Long),
            Ok(Value::Null)
        );
        assert!(coerce_json(&serde_json::json!(5), Type::DateTime).is_err());
    }
}
