//! `serialize` with window functions (`prev`, `next`, `row_number`, `row_cumsum`) in the
//! incremental engine: one operator that holds every row of the serialized set, in its total
//! order (the sort keys, ties broken by the whole row, as [`crate::eval::serial`] orders them),
//! on one worker, with the values it last emitted for each row.
//!
//! At each tick it applies the tick's changes and recomputes only the stretch of rows they
//! reach: a row inserted or removed at some place changes the `next` values of the `ahead`
//! rows before it and the `prev` values of the `back` rows after it (the greatest offsets), so
//! a change costs O(log n + back + ahead) and emits only the rows whose values changed. A
//! running function (`row_number`, `row_cumsum`) changes every later row: then a change costs
//! O(n − p) for a change at position p, and a tick's output is every later row whose value
//! moved. The whole set is kept on one worker whatever the worker count, so that the order,
//! and every value, is the batch evaluator's.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::eval::serial::{Reach, serial_cmp, window_values};
use crate::model::{Row, Value};
use crate::plan::{EvalCtx, SortKey, WindowFn};
use crate::runtime::{Rows, Time};

/// A row in the serialized order: its sort keys' values, then the row.
#[derive(Clone)]
struct Key {
    order: Arc<[SortKey]>,
    values: Vec<Value>,
    row: Row,
}

impl Key {
    fn new(order: &Arc<[SortKey]>, row: Row) -> Key {
        let ctx = EvalCtx::default();
        Key {
            order: order.clone(),
            values: order.iter().map(|k| k.expr.eval(&row, &ctx)).collect(),
            row,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        serial_cmp(
            &self.values,
            &self.row,
            &other.values,
            &other.row,
            &self.order,
        )
    }
}

/// A distinct row of the set: how many copies it has, and the window values last emitted for
/// each copy (as many as it had copies then).
#[derive(Default)]
struct Entry {
    count: isize,
    out: Vec<Vec<Value>>,
}

impl Entry {
    fn copies(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0)
    }
}

/// The serialized set's rows with the values of `fns` appended, maintained as `input` changes.
pub(super) fn serialize_rows<'scope>(
    input: Rows<'scope>,
    order: Vec<SortKey>,
    fns: Vec<WindowFn>,
) -> Rows<'scope> {
    let order: Arc<[SortKey]> = order.into();
    let reach = Reach::of(&fns);
    // Every row goes to one worker: the order is over the whole set.
    let exchange = Exchange::new(|_update: &(Row, Time, isize)| 0u64);
    input
        .inner
        .unary_frontier(exchange, "Serialize", move |_capability, _info| {
            let mut pending: BTreeMap<Time, Vec<(Row, isize)>> = BTreeMap::new();
            let mut cap: Option<Capability<Time>> = None;
            let mut set: BTreeMap<Key, Entry> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|in_cap, data| {
                    let Some(&least) = in_cap.least() else {
                        return;
                    };
                    super::held::hold_from(&mut cap, &in_cap, least);
                    for (row, time, diff) in data.drain(..) {
                        pending
                            .entry(time.max(least))
                            .or_default()
                            .push((row, diff));
                    }
                });
                let Some(c) = cap.as_ref() else {
                    return;
                };
                let mut session = output.session(c);
                while let Some(entry) = pending.first_entry() {
                    let time = *entry.key();
                    if frontier.less_equal(&time) {
                        break;
                    }
                    let changes = entry.remove();
                    let emitted = apply_tick(&mut set, &order, &fns, reach, changes);
                    for (row, diff) in emitted {
                        session.give((row, time, diff));
                    }
                }
                drop(session);
                super::held::hold_at(&mut cap, pending.keys().next().copied());
            }
        })
        .as_collection()
}

/// The key `steps` live copies before `k` (or the set's first key when there are fewer), `k`
/// itself when `steps` is 0.
fn step_back(set: &BTreeMap<Key, Entry>, k: &Key, steps: usize) -> Key {
    let mut at = k;
    let mut seen = 0;
    for (key, e) in set
        .range::<Key, _>((Bound::Unbounded, Bound::Excluded(k)))
        .rev()
    {
        if seen >= steps {
            break;
        }
        seen += e.copies();
        at = key;
    }
    at.clone()
}

/// The key `steps` live copies after `k` (or the set's last key when there are fewer).
fn step_ahead(set: &BTreeMap<Key, Entry>, k: &Key, steps: usize) -> Key {
    let mut at = k;
    let mut seen = 0;
    for (key, e) in set.range::<Key, _>((Bound::Excluded(k), Bound::Unbounded)) {
        if seen >= steps {
            break;
        }
        seen += e.copies();
        at = key;
    }
    at.clone()
}

/// Applies one tick's changes to `set` and returns the output changes: for each row whose
/// window values changed, its old output row retracted and its new one inserted.
fn apply_tick(
    set: &mut BTreeMap<Key, Entry>,
    order: &Arc<[SortKey]>,
    fns: &[WindowFn],
    reach: Reach,
    changes: Vec<(Row, isize)>,
) -> Vec<(Row, isize)> {
    let mut touched: BTreeSet<Key> = BTreeSet::new();
    for (row, diff) in changes {
        let key = Key::new(order, row);
        set.entry(key.clone()).or_default().count += diff;
        touched.insert(key);
    }
    // The stretch each change reaches, merged where they overlap (they come in order).
    let last = set.keys().next_back().cloned();
    let mut stretches: Vec<(Key, Key)> = Vec::new();
    for k in &touched {
        let start = step_back(set, k, reach.ahead);
        let end = match (&last, reach.cumulative) {
            (Some(l), true) => l.clone(),
            _ => step_ahead(set, k, reach.back),
        };
        match stretches.last_mut() {
            Some((_, e)) if start <= *e => {
                if end > *e {
                    *e = end;
                }
            }
            _ => stretches.push((start, end)),
        }
    }
    let ctx = EvalCtx::default();
    let mut out = Vec::new();
    for (s, e) in &stretches {
        let values = {
            let mut before: Vec<&Row> = Vec::new();
            let mut before_values: Option<&[Value]> = None;
            for (key, entry) in set
                .range::<Key, _>((Bound::Unbounded, Bound::Excluded(s)))
                .rev()
            {
                if entry.copies() == 0 {
                    continue;
                }
                if before_values.is_none() {
                    before_values = entry.out.last().map(Vec::as_slice);
                }
                if before.len() >= reach.back && (before_values.is_some() || !reach.cumulative) {
                    break;
                }
                for _ in 0..entry.copies() {
                    if before.len() < reach.back {
                        before.push(&key.row);
                    }
                }
            }
            before.reverse();
            let from = before.len();
            let mut rows = before;
            for (key, entry) in set.range::<Key, _>((Bound::Included(s), Bound::Included(e))) {
                for _ in 0..entry.copies() {
                    rows.push(&key.row);
                }
            }
            let to = rows.len();
            'ahead: for (key, entry) in set.range::<Key, _>((Bound::Excluded(e), Bound::Unbounded))
            {
                for _ in 0..entry.copies() {
                    if rows.len() >= to + reach.ahead {
                        break 'ahead;
                    }
                    rows.push(&key.row);
                }
            }
            window_values(fns, &rows, from, to, before_values, &ctx)
        };
        let mut values = values.into_iter();
        for (key, entry) in set.range_mut::<Key, _>((Bound::Included(s), Bound::Included(e))) {
            let new: Vec<Vec<Value>> = values.by_ref().take(entry.copies()).collect();
            for j in 0..new.len().max(entry.out.len()) {
                let (old, now) = (entry.out.get(j), new.get(j));
                if old == now {
                    continue;
                }
                if let Some(v) = old {
                    out.push((with_values(&key.row, v), -1));
                }
                if let Some(v) = now {
                    out.push((with_values(&key.row, v), 1));
                }
            }
            entry.out = new;
        }
    }
    for k in touched {
        if set.get(&k).is_some_and(|e| e.count == 0) {
            set.remove(&k);
        }
    }
    out
}

/// `row` followed by `values`.
fn with_values(row: &Row, values: &[Value]) -> Row {
    let mut r = Vec::with_capacity(row.len() + values.len());
    r.extend(row.iter().cloned());
    r.extend(values.iter().cloned());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ScalarExpr;

    fn ascending() -> Arc<[SortKey]> {
        vec![SortKey {
            expr: ScalarExpr::Column(0),
            descending: false,
            nulls_first: true,
        }]
        .into()
    }

    fn prev() -> WindowFn {
        WindowFn::Prev {
            expr: ScalarExpr::Column(0),
            offset: 1,
            default: Value::Null,
        }
    }

    fn tick(
        set: &mut BTreeMap<Key, Entry>,
        fns: &[WindowFn],
        changes: &[(i64, isize)],
    ) -> Vec<(Row, isize)> {
        let changes = changes
            .iter()
            .map(|(v, d)| (vec![Value::Long(*v)], *d))
            .collect();
        let mut out = apply_tick(set, &ascending(), fns, Reach::of(fns), changes);
        out.sort();
        out
    }

    fn row(a: i64, p: Option<i64>) -> Row {
        vec![Value::Long(a), p.map_or(Value::Null, Value::Long)]
    }

    #[test]
    fn a_change_re_emits_only_the_rows_whose_prev_changes() {
        let fns = [prev()];
        let mut set = BTreeMap::new();
        let all: Vec<(i64, isize)> = (0..100).map(|i| (i * 10, 1)).collect();
        assert_eq!(tick(&mut set, &fns, &all).len(), 100);
        // 55 between 50 and 60: its own row, and 60's prev moves from 50 to 55.
        assert_eq!(
            tick(&mut set, &fns, &[(55, 1)]),
            [
                (row(55, Some(50)), 1),
                (row(60, Some(50)), -1),
                (row(60, Some(55)), 1),
            ]
        );
        // Removing it puts 60's prev back.
        assert_eq!(
            tick(&mut set, &fns, &[(55, -1)]),
            [
                (row(55, Some(50)), -1),
                (row(60, Some(50)), 1),
                (row(60, Some(55)), -1),
            ]
        );
        // A second copy of a row: it follows the first.
        assert_eq!(
            tick(&mut set, &fns, &[(990, 1)]),
            [(row(990, Some(990)), 1)]
        );
        assert_eq!(set.len(), 100);
    }

    #[test]
    fn a_running_number_moves_every_later_row() {
        let fns = [WindowFn::RowNumber {
            start: 1,
            restart: None,
        }];
        let mut set = BTreeMap::new();
        let all: Vec<(i64, isize)> = (0..10).map(|i| (i * 10, 1)).collect();
        tick(&mut set, &fns, &all);
        // 75 goes ninth: 80 and 90 move from 9 and 10 to 10 and 11; nothing before changes.
        let out = tick(&mut set, &fns, &[(75, 1)]);
        assert_eq!(
            out,
            [
                (row(75, Some(9)), 1),
                (row(80, Some(9)), -1),
                (row(80, Some(10)), 1),
                (row(90, Some(10)), -1),
                (row(90, Some(11)), 1),
            ]
        );
    }
}
