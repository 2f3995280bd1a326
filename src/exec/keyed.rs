//! A hash table of rows that hashes each row once per change: the hash is computed by the
//! caller, kept beside the row, and reused to find, insert and remove it (growing the table
//! rehashes nothing). The join and the fold look a key up, update it and sometimes drop it
//! for each change; with a map keyed by rows, each of those steps hashed the whole row again.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::model::Row;

/// The hash of a row, as [`RowMap`] and [`RowCounts`] take it.
pub fn hash_row(row: &Row) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(row)
}

/// Rows to values, each row stored with its hash.
pub struct RowMap<V> {
    table: HashTable<(u64, Row, V)>,
}

impl<V> Default for RowMap<V> {
    fn default() -> Self {
        RowMap {
            table: HashTable::new(),
        }
    }
}

impl<V> RowMap<V> {
    /// The value of `key`, whose hash is `hash`.
    pub fn get(&self, hash: u64, key: &Row) -> Option<&V> {
        self.table.find(hash, |e| e.1 == *key).map(|e| &e.2)
    }

    /// The value of `key` (hash `hash`) to change.
    pub fn get_mut(&mut self, hash: u64, key: &Row) -> Option<&mut V> {
        self.table.find_mut(hash, |e| e.1 == *key).map(|e| &mut e.2)
    }

    /// The value of `key` (hash `hash`), made by `init` (and `key` cloned) when there is none.
    pub fn get_or_insert_with(&mut self, hash: u64, key: &Row, init: impl FnOnce() -> V) -> &mut V {
        match self.table.entry(hash, |e| e.1 == *key, |e| e.0) {
            Entry::Occupied(o) => &mut o.into_mut().2,
            Entry::Vacant(v) => &mut v.insert((hash, key.clone(), init())).into_mut().2,
        }
    }

    /// Inserts `key` (hash `hash`), known to be absent, with `value`.
    pub fn insert_new(&mut self, hash: u64, key: Row, value: V) {
        self.table.insert_unique(hash, (hash, key, value), |e| e.0);
    }

    /// Removes `key` (hash `hash`).
    pub fn remove(&mut self, hash: u64, key: &Row) {
        if let Ok(o) = self.table.find_entry(hash, |e| e.1 == *key) {
            o.remove();
        }
    }

    /// Every (hash, row, value), emptying the table.
    pub fn drain(&mut self) -> impl Iterator<Item = (u64, Row, V)> + '_ {
        self.table.drain()
    }
}

/// A multiset of rows: each row with its count, rows whose count is 0 left out.
#[derive(Default)]
pub struct RowCounts {
    rows: RowMap<isize>,
}

impl RowCounts {
    /// Adds `diff` to `row`'s count (hashing it once).
    pub fn add(&mut self, row: Row, diff: isize) {
        if diff == 0 {
            return;
        }
        let hash = hash_row(&row);
        match self.rows.table.entry(hash, |e| e.1 == row, |e| e.0) {
            Entry::Occupied(mut o) => {
                o.get_mut().2 += diff;
                if o.get().2 == 0 {
                    o.remove();
                }
            }
            Entry::Vacant(v) => {
                v.insert((hash, row, diff));
            }
        }
    }

    /// Each row with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&Row, &isize)> {
        self.rows.table.iter().map(|e| (&e.1, &e.2))
    }

    /// True when no row has a count.
    pub fn is_empty(&self) -> bool {
        self.rows.table.is_empty()
    }
}
