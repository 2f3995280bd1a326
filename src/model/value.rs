//! [`Value`]: one KQL scalar.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::types::Type;

pub use super::str::{Interner, Str};

/// One KQL scalar value.
///
/// Datetimes and timespans are counted in 100-nanosecond ticks, Kusto's precision; datetimes
/// from the Unix epoch. A value of type `dynamic` is any variant: a JSON scalar is held as the
/// matching scalar variant, a JSON array as [`Value::Array`] and a property bag as
/// [`Value::Object`], whose keys are kept sorted and unique so that equal bags compare and hash
/// equal.
///
/// The order is total: first by variant (in declaration order), then by value; reals order by
/// IEEE total order with `-0.0` equal to `0.0` and every NaN equal to every other. This order is
/// what arrangements and `make_set` use; KQL's own comparison operators live in `func`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum Value {
    /// A null of any type.
    #[default]
    Null,
    /// A bool.
    Bool(bool),
    /// An int or a long.
    Long(i64),
    /// A real.
    Real(f64),
    /// A datetime, in 100 ns ticks since 1970-01-01T00:00:00Z.
    DateTime(i64),
    /// A timespan, in 100 ns ticks.
    TimeSpan(i64),
    /// A string. Kusto strings are never null: an absent string is the empty string.
    String(Str),
    /// A dynamic array.
    Array(Arc<[Value]>),
    /// A dynamic property bag, sorted by key, keys unique.
    Object(Arc<[(Str, Value)]>),
}

impl Value {
    /// A string value from anything string-like.
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::String(Str::from(s.as_ref()))
    }

    /// The empty string, Kusto's value for a string column that holds nothing.
    pub fn empty_string() -> Value {
        Value::String(Str::immortal(""))
    }

    /// A dynamic array of the given values.
    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(Arc::from(items))
    }

    /// A property bag from key/value pairs: sorted by key; where a key repeats, the last pair
    /// wins (as JSON parsers do).
    pub fn object(mut pairs: Vec<(Str, Value)>) -> Value {
        // Stable sort keeps the original order among equal keys, so the last one is last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Str, Value)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        Value::Object(Arc::from(out))
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string inside a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The property `key` of a property bag; `None` if this is not a bag or has no such key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(pairs) => pairs
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &pairs[i].1),
            _ => None,
        }
    }

    /// Element `i` of an array, counting from the end when negative (`a[-1]` is the last);
    /// `None` out of range or when this is not an array.
    pub fn index(&self, i: i64) -> Option<&Value> {
        match self {
            Value::Array(items) => {
                let n = items.len() as i64;
                let j = if i < 0 { n + i } else { i };
                if (0..n).contains(&j) {
                    items.get(j as usize)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The scalar type this value would have as a non-dynamic value (`None` for null). Arrays and
    /// bags are [`Type::Dynamic`].
    pub fn natural_type(&self) -> Option<Type> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => Type::Bool,
            Value::Long(_) => Type::Long,
            Value::Real(_) => Type::Real,
            Value::DateTime(_) => Type::DateTime,
            Value::TimeSpan(_) => Type::TimeSpan,
            Value::String(_) => Type::String,
            Value::Array(_) | Value::Object(_) => Type::Dynamic,
        })
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Long(_) => 2,
            Value::Real(_) => 3,
            Value::DateTime(_) => 4,
            Value::TimeSpan(_) => 5,
            Value::String(_) => 6,
            Value::Array(_) => 7,
            Value::Object(_) => 8,
        }
    }
}

/// Maps a real to a canonical form for ordering and hashing: `-0.0` becomes `0.0` and every NaN
/// the same NaN.
fn canonical(x: f64) -> f64 {
    if x.is_nan() { f64::NAN } else { x + 0.0 }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Long(a), Long(b)) => a.cmp(b),
            (Real(a), Real(b)) => canonical(*a).total_cmp(&canonical(*b)),
            (DateTime(a), DateTime(b)) => a.cmp(b),
            (TimeSpan(a), TimeSpan(b)) => a.cmp(b),
            // Interned strings (see [`Interner`]) and clones share their allocation: equal
            // pointers are equal values without reading the bytes.
            (String(a), String(b)) if Str::ptr_eq(a, b) => Ordering::Equal,
            (String(a), String(b)) => a.cmp(b),
            (Array(a), Array(b)) if Arc::ptr_eq(a, b) => Ordering::Equal,
            (Array(a), Array(b)) => a.iter().cmp(b.iter()),
            (Object(a), Object(b)) if Arc::ptr_eq(a, b) => Ordering::Equal,
            (Object(a), Object(b)) => a.iter().cmp(b.iter()),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.rank());
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Long(x) | Value::DateTime(x) | Value::TimeSpan(x) => x.hash(state),
            Value::Real(x) => canonical(*x).to_bits().hash(state),
            Value::String(s) => s.hash(state),
            Value::Array(items) => items.hash(state),
            Value::Object(pairs) => pairs.hash(state),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Str::from(s))
    }
}

impl From<i64> for Value {
    fn from(x: i64) -> Value {
        Value::Long(x)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Real(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn h(v: &Value) -> u64 {
        let mut s = DefaultHasher::new();
        v.hash(&mut s);
        s.finish()
    }

    #[test]
    fn order_is_total_and_consistent_with_hash() {
        let zero = Value::Real(0.0);
        let neg_zero = Value::Real(-0.0);
        assert_eq!(zero, neg_zero);
        assert_eq!(h(&zero), h(&neg_zero));
        let nan1 = Value::Real(f64::NAN);
        let nan2 = Value::Real(-f64::NAN);
        assert_eq!(nan1, nan2);
        assert_eq!(h(&nan1), h(&nan2));
        let mut vs = vec![
            Value::str("b"),
            Value::Long(2),
            Value::Null,
            Value::str("a"),
            Value::Bool(true),
            Value::Long(-1),
        ];
        vs.sort();
        assert_eq!(
            vs,
            vec![
                Value::Null,
                Value::Bool(true),
                Value::Long(-1),
                Value::Long(2),
                Value::str("a"),
                Value::str("b")
            ]
        );
    }

    #[test]
    fn objects_are_canonical() {
        let a = Value::object(vec![
            ("b".into(), Value::Long(1)),
            ("a".into(), Value::Long(2)),
            ("b".into(), Value::Long(3)),
        ]);
        let b = Value::object(vec![
            ("a".into(), Value::Long(2)),
            ("b".into(), Value::Long(3)),
        ]);
        assert_eq!(a, b);
        assert_eq!(h(&a), h(&b));
        assert_eq!(a.get("b"), Some(&Value::Long(3)));
        assert_eq!(a.get("c"), None);
    }

    #[test]
    fn array_indexing_counts_from_the_end() {
        let a = Value::array(vec![Value::Long(1), Value::Long(2), Value::Long(3)]);
        assert_eq!(a.index(0), Some(&Value::Long(1)));
        assert_eq!(a.index(-1), Some(&Value::Long(3)));
        assert_eq!(a.index(3), None);
        assert_eq!(a.index(-4), None);
        assert_eq!(Value::Null.index(0), None);
    }

    #[test]
    fn clones_share_strings() {
        let a = Value::str("a long string shared between clones");
        let b = a.clone();
        match (&a, &b) {
            (Value::String(x), Value::String(y)) => assert!(Str::ptr_eq(x, y)),
            _ => unreachable!(),
        }
    }

    #[test]
    fn interned_strings_share_one_allocation() {
        let mut i = Interner::default();
        let mut a = vec![Value::str("app"), Value::Long(1), Value::str("x")];
        let mut b = vec![Value::str("app"), Value::str("y")];
        let mut c = vec![Value::str("app")];
        i.intern_row(&mut a);
        i.intern_row(&mut b);
        i.intern_row(&mut c);
        // Seen again, "app" became immortal: the second and later rows share that copy.
        match (&b[0], &c[0]) {
            (Value::String(x), Value::String(y)) => {
                assert!(Str::ptr_eq(x, y) && x.is_immortal())
            }
            _ => unreachable!(),
        }
        assert_eq!(a[0], b[0]);
        assert_ne!(a[2], b[1]);
        assert_eq!(i.len(), 3);
        // Equal strings in different allocations still compare equal.
        assert_eq!(Value::str("app").cmp(&a[0]), Ordering::Equal);
    }

    #[test]
    fn interner_forgets_past_its_limit() {
        let mut i = Interner::with_limit(2);
        for s in ["a", "b", "c"] {
            i.intern(&Str::from(s));
        }
        assert_eq!(i.len(), 1);
        let c = Str::from("c");
        assert_eq!(&*i.intern(&c), "c");
    }

    #[test]
    fn serde_round_trip() {
        let v = Value::object(vec![
            ("t".into(), Value::DateTime(123)),
            (
                "xs".into(),
                Value::array(vec![Value::Real(1.5), Value::Null]),
            ),
        ]);
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, back);
    }
}
