//! KQL scalar types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A KQL scalar type. `decimal` is kept as [`Type::Real`] and `guid` as [`Type::String`], as
/// SEMANTICS.md says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Type {
    /// `bool`
    Bool,
    /// `int`: a 32-bit integer in Kusto; held as a long value.
    Int,
    /// `long`: a 64-bit integer.
    Long,
    /// `real` (also `double` and `decimal`).
    Real,
    /// `string` (also `guid`).
    String,
    /// `datetime`: an instant, in 100-nanosecond ticks since the Unix epoch.
    DateTime,
    /// `timespan`: a duration, in 100-nanosecond ticks.
    TimeSpan,
    /// `dynamic`: a JSON-like value (null, bool, number, string, array, property bag).
    Dynamic,
}

impl Type {
    /// Parses a type name as written in KQL (`typeof(string)`) or in a table schema file
    /// (`String`, `DateTime`, `Double`), case-insensitively. Returns `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Type> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "bool" | "boolean" => Type::Bool,
            "int" | "int32" => Type::Int,
            "long" | "int64" => Type::Long,
            "real" | "double" | "decimal" | "float" => Type::Real,
            "string" | "guid" | "uniqueid" => Type::String,
            "datetime" | "date" => Type::DateTime,
            "timespan" | "time" => Type::TimeSpan,
            "dynamic" | "object" => Type::Dynamic,
            _ => return None,
        })
    }

    /// The type's KQL name, as `getschema` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Long => "long",
            Type::Real => "real",
            Type::String => "string",
            Type::DateTime => "datetime",
            Type::TimeSpan => "timespan",
            Type::Dynamic => "dynamic",
        }
    }

    /// True for the numeric types (int, long, real).
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Long | Type::Real)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schema_and_kql_names() {
        assert_eq!(Type::parse("String"), Some(Type::String));
        assert_eq!(Type::parse("DateTime"), Some(Type::DateTime));
        assert_eq!(Type::parse("Double"), Some(Type::Real));
        assert_eq!(Type::parse("decimal"), Some(Type::Real));
        assert_eq!(Type::parse("guid"), Some(Type::String));
        assert_eq!(Type::parse("Bool"), Some(Type::Bool));
        assert_eq!(Type::parse("dynamic"), Some(Type::Dynamic));
        assert_eq!(Type::parse("nonsense"), None);
        assert_eq!(Type::Long.to_string(), "long");
    }
}
