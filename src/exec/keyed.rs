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

/// Mixes the bits of `x` (splitmix64's finaliser): every input bit moves every output bit.
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Where a keyed operator (a summarize's fold, a join) keeps each key's state: the worker
/// that the exchange sends the key's changes to is [`Route::hash`] modulo the worker count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Keys spread over every worker by their hash, offset by the operator's ordinal (the
    /// keyed operators of a dataflow counted in the order they are built, alike on every
    /// worker and process).
    ///
    /// The key's own hash would send a key to the same worker in every operator, so that one
    /// hot key (a service principal that makes half the sign-ins) loads one worker in every
    /// rule and every summarize or join of a rule. Adding the ordinal to the mixed hash sends
    /// a key to the next worker in each next keyed operator (the exchange takes the hash
    /// modulo the worker count): a hot key's operators go round the workers, as evenly as
    /// their number allows.
    Spread(u64),
    /// Every key on the worker of this index (below the worker count): the operators of a
    /// rule placed on one worker (see [`super::placement`]), so that its rows cross between
    /// workers only on their way in.
    Pinned(u64),
}

impl Route {
    /// The exchange hash of `key`. Each operator sees every change of a key on one worker,
    /// whatever the worker count and the route.
    pub fn hash(self, key: &Row) -> u64 {
        use differential_dataflow::Hashable;
        match self {
            Route::Spread(ordinal) => mix(key.hashed()).wrapping_add(ordinal),
            Route::Pinned(worker) => worker,
        }
    }
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

/// Past this many distinct rows a [`RowCounts`] moves them into a hash table; below it, a
/// row is found by comparing it with each (cheaper than hashing it: most of a join's keys
/// have one row or a few on each side, and a retraction is usually of the row just added).
const FEW_ROWS: usize = 8;

/// A multiset of rows: each row with its count, rows whose count is 0 left out.
pub enum RowCounts {
    /// Few rows, in a vector.
    Few(Vec<(Row, isize)>),
    /// Many rows, by hash.
    Many(RowMap<isize>),
}

impl Default for RowCounts {
    fn default() -> Self {
        RowCounts::Few(Vec::new())
    }
}

impl RowCounts {
    /// Adds `diff` to `row`'s count.
    pub fn add(&mut self, row: Row, diff: isize) {
        if diff == 0 {
            return;
        }
        match self {
            RowCounts::Few(rows) => {
                // The latest rows are the likeliest to be retracted: look from the end.
                if let Some(i) = rows.iter().rposition(|(r, _)| *r == row) {
                    rows[i].1 += diff;
                    if rows[i].1 == 0 {
                        rows.swap_remove(i);
                    }
                } else if rows.len() < FEW_ROWS {
                    rows.push((row, diff));
                } else {
                    let mut map = RowMap::default();
                    for (r, n) in rows.drain(..) {
                        map.insert_new(hash_row(&r), r, n);
                    }
                    map.insert_new(hash_row(&row), row, diff);
                    *self = RowCounts::Many(map);
                }
            }
            RowCounts::Many(map) => {
                let hash = hash_row(&row);
                match map.table.entry(hash, |e| e.1 == row, |e| e.0) {
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
        }
    }

    /// Each row with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&Row, &isize)> {
        let (few, many) = match self {
            RowCounts::Few(rows) => (Some(rows.iter().map(|(r, n)| (r, n))), None),
            RowCounts::Many(map) => (None, Some(map.table.iter().map(|e| (&e.1, &e.2)))),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// True when no row has a count.
    pub fn is_empty(&self) -> bool {
        match self {
            RowCounts::Few(rows) => rows.is_empty(),
            RowCounts::Many(map) => map.table.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    fn counts(c: &RowCounts) -> Vec<(Row, isize)> {
        let mut v: Vec<(Row, isize)> = c.iter().map(|(r, n)| (r.clone(), *n)).collect();
        v.sort();
        v
    }

    #[test]
    fn counts_add_up_and_leave_at_zero_few_or_many() {
        let row = |i: i64| vec![Value::Long(i), Value::str("x")];
        let mut c = RowCounts::default();
        let mut model: std::collections::BTreeMap<Row, isize> = Default::default();
        // Rows come and go past the point where the vector becomes a table.
        for step in 0..200i64 {
            let r = row((step * 7) % 13);
            let diff = if step % 3 == 0 { -1 } else { 1 };
            c.add(r.clone(), diff);
            *model.entry(r).or_default() += diff;
            model.retain(|_, n| *n != 0);
            let want: Vec<(Row, isize)> = model.iter().map(|(r, n)| (r.clone(), *n)).collect();
            assert_eq!(counts(&c), want, "after step {step}");
            assert_eq!(c.is_empty(), want.is_empty());
        }
        assert!(matches!(c, RowCounts::Many(_)));
        c.add(row(100), 0);
        assert!(c.iter().all(|(r, _)| *r != row(100)));
    }

    #[test]
    fn a_key_goes_to_one_worker_per_operator_and_round_the_workers_over_operators() {
        let key = vec![Value::str("1c2748cf-b09f-490f-9c44-669d6cb82c59")];
        // One operator sends a key to one worker, every time.
        assert_eq!(
            Route::Spread(7).hash(&key),
            Route::Spread(7).hash(&key.clone())
        );
        // Over consecutive operators, the same key goes round the workers: on 2 workers it
        // alternates, on 3 each worker has every third operator.
        for workers in [2u64, 3] {
            let mut per = vec![0usize; workers as usize];
            for op in 1..=(10 * workers) {
                per[(Route::Spread(op).hash(&key) % workers) as usize] += 1;
            }
            assert!(per.iter().all(|&n| n == 10), "{per:?} on {workers} workers");
            assert_ne!(
                Route::Spread(1).hash(&key) % workers,
                Route::Spread(2).hash(&key) % workers
            );
        }
        // Within an operator, keys still spread: 1000 keys over 3 workers.
        let mut per = [0usize; 3];
        for i in 0..1000 {
            per[(Route::Spread(5).hash(&vec![Value::Long(i)]) % 3) as usize] += 1;
        }
        assert!(per.iter().all(|&n| (250..420).contains(&n)), "{per:?}");
        // Pinned: every key on the one worker.
        for i in 0..100 {
            assert_eq!(Route::Pinned(1).hash(&vec![Value::Long(i)]), 1);
        }
    }
}
