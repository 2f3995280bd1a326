//! [`Schema`]s (named, typed columns) and [`Row`]s.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::types::Type;
use super::value::{Str, Value};

/// One row: the values of a schema's columns, in column order.
pub type Row = Vec<Value>;

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// The column's name, case-sensitive as in KQL.
    pub name: Str,
    /// The column's type.
    pub ty: Type,
}

/// An ordered list of columns with lookup by exact name and by name ignoring case.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    columns: Vec<Column>,
    exact: HashMap<Str, usize>,
    folded: HashMap<String, usize>,
}

impl Schema {
    /// A schema of the given columns. Where a name repeats, lookups find the first.
    pub fn new(columns: Vec<Column>) -> Schema {
        let mut exact = HashMap::new();
        let mut folded = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            exact.entry(c.name.clone()).or_insert(i);
            folded.entry(c.name.to_ascii_lowercase()).or_insert(i);
        }
        Schema {
            columns,
            exact,
            folded,
        }
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of the column named exactly `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.exact.get(name).copied()
    }

    /// The position of the column whose name equals `name` ignoring ASCII case.
    pub fn index_of_ignore_case(&self, name: &str) -> Option<usize> {
        self.index_of(name)
            .or_else(|| self.folded.get(&name.to_ascii_lowercase()).copied())
    }

    /// The column named exactly `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.index_of(name).map(|i| &self.columns[i])
    }

    /// Up to `n` column names closest to `name` (by edit distance, ignoring case), for
    /// "did you mean" hints.
    pub fn closest(&self, name: &str, n: usize) -> Vec<Str> {
        let target = name.to_ascii_lowercase();
        let mut scored: Vec<(usize, &Str)> = self
            .columns
            .iter()
            .map(|c| {
                (
                    edit_distance(&target, &c.name.to_ascii_lowercase()),
                    &c.name,
                )
            })
            .collect();
        scored.sort();
        let limit = (target.len() / 2).max(3);
        scored
            .into_iter()
            .filter(|(d, _)| *d <= limit)
            .take(n)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// A row of nulls for this schema, with the empty string in string columns (Kusto strings
    /// are never null).
    pub fn empty_row(&self) -> Row {
        self.columns
            .iter()
            .map(|c| {
                if c.ty == Type::String {
                    Value::empty_string()
                } else {
                    Value::Null
                }
            })
            .collect()
    }
}

/// Levenshtein distance between two strings, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            Column {
                name: "TimeGenerated".into(),
                ty: Type::DateTime,
            },
            Column {
                name: "UserPrincipalName".into(),
                ty: Type::String,
            },
            Column {
                name: "IPAddress".into(),
                ty: Type::String,
            },
        ])
    }

    #[test]
    fn lookups() {
        let s = schema();
        assert_eq!(s.index_of("IPAddress"), Some(2));
        assert_eq!(s.index_of("ipaddress"), None);
        assert_eq!(s.index_of_ignore_case("ipaddress"), Some(2));
        assert_eq!(
            s.closest("UserPrincipleName", 1),
            vec![Str::from("UserPrincipalName")]
        );
        assert!(s.closest("zzzzzzzzzzzzzzzzzzzzzzzzzz", 3).is_empty());
        assert_eq!(
            s.empty_row(),
            vec![Value::Null, Value::str(""), Value::str("")]
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
