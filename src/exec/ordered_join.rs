//! Equi-joins over totally ordered ticks: the engine's join, semi-join, anti-join and outer
//! join in one operator.
//!
//! Differential's `join` arranges both inputs into traces that keep every tick's updates
//! until compaction, and merges those traces' batches as they come: for the windowed rules,
//! whose inputs change at almost every tick, that merging is most of a join's cost. Event
//! time in kqlflow is totally ordered, so [`join_ordered`] keeps instead each key's current
//! rows on both sides, holds each tick's changes until both inputs' frontiers have passed it,
//! and applies the ticks in order. For a tick whose changes are ΔL and ΔR, the output's change
//! is `ΔL ⋈ R + L' ⋈ ΔR` (L' the left side with ΔL applied), and a row that appears when its
//! key has (or lacks) rows on the other side changes only when that side's count for the key
//! crosses zero. A change then costs the rows it meets on the other side, as in
//! differential's join, with no trace to maintain.

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::keyed::{Route, RowCounts, RowMap, hash_row};
use crate::model::Row;
use crate::runtime::Time;

/// Turns a joined or an unpaired row into an output row.
pub type RowFn = std::rc::Rc<dyn Fn(&Row) -> Row>;

/// Makes the output row of a left row and a right row that pair.
pub type PairFn = std::rc::Rc<dyn Fn(&Row, &Row) -> Row>;

/// What a join emits for each key, as a function of the key's left rows L and right rows R.
/// Every part is optional; the output is the sum of the parts present.
#[derive(Default, Clone)]
pub struct Emit {
    /// Each pair of L × R, made into one row (inner and outer joins).
    pub pairs: Option<PairFn>,
    /// Each row of L while R is not empty (left semi-join); `None` inside means as it is.
    pub left_matched: Option<Option<RowFn>>,
    /// Each row of L while R is empty (left anti-join, and left outer joins' unmatched rows).
    pub left_unmatched: Option<Option<RowFn>>,
    /// Each row of R while L is not empty (right semi-join).
    pub right_matched: Option<Option<RowFn>>,
    /// Each row of R while L is empty (right anti-join, right outer joins' unmatched rows).
    pub right_unmatched: Option<Option<RowFn>>,
}

impl Emit {
    fn keeps_left_rows(&self) -> bool {
        self.pairs.is_some() || self.left_matched.is_some() || self.left_unmatched.is_some()
    }

    fn keeps_right_rows(&self) -> bool {
        self.pairs.is_some() || self.right_matched.is_some() || self.right_unmatched.is_some()
    }
}

/// One key's rows on one side (when they are kept) and how many there are.
#[derive(Default)]
struct Side {
    rows: RowCounts,
    count: isize,
}

impl Side {
    fn apply(&mut self, row: Row, diff: isize, keep: bool) {
        self.count += diff;
        if keep {
            self.rows.add(row, diff);
        }
    }
}

/// Both sides of one key.
#[derive(Default)]
struct Entry {
    left: Side,
    right: Side,
}

/// The changes of one tick, by side: (key, row, diff).
type Changes<'a> = (
    &'a mut Vec<(Row, Row, isize)>,
    &'a mut Vec<(Row, Row, isize)>,
);

/// Gives `row` (mapped by `f` when there is one) with multiplicity `diff` at `time`.
fn give_row(
    out: &mut Vec<(Row, Time, isize)>,
    f: &Option<RowFn>,
    row: &Row,
    time: Time,
    diff: isize,
) {
    if diff == 0 {
        return;
    }
    let row = match f {
        Some(f) => f(row),
        None => row.clone(),
    };
    out.push((row, time, diff));
}

/// Which part of [`Emit`] a side's row is in: `matched` while the other side has rows for
/// its key, else `unmatched`.
fn part<'a>(
    matched: &'a Option<Option<RowFn>>,
    unmatched: &'a Option<Option<RowFn>>,
    other: isize,
) -> &'a Option<Option<RowFn>> {
    if other > 0 { matched } else { unmatched }
}

/// Moves each of `rows` from the part `was` to the part `now` at `time` (the other side's
/// count for their key crossed zero).
fn move_rows(
    out: &mut Vec<(Row, Time, isize)>,
    rows: &RowCounts,
    (was, now): (&Option<Option<RowFn>>, &Option<Option<RowFn>>),
    time: Time,
) {
    for (r, c) in rows.iter() {
        if let Some(f) = was {
            give_row(out, f, r, time, -c);
        }
        if let Some(f) = now {
            give_row(out, f, r, time, *c);
        }
    }
}

impl Entry {
    /// True when neither side has a row (or a pending change) for the key.
    fn is_empty(&self) -> bool {
        self.left.count == 0
            && self.right.count == 0
            && self.left.rows.is_empty()
            && self.right.rows.is_empty()
    }
}

/// Applies one tick's changes to `keys`, pushing the output's changes onto `out` (see the
/// module's comment for why the sum of what is pushed is the change of the join's output).
fn apply_tick(
    emit: &Emit,
    (keep_left, keep_right): (bool, bool),
    keys: &mut RowMap<Entry>,
    touched: &mut RowMap<(isize, isize)>,
    (lefts, rights): Changes,
    time: Time,
    out: &mut Vec<(Row, Time, isize)>,
) {
    let left_status = emit.left_matched.is_some() || emit.left_unmatched.is_some();
    let right_status = emit.right_matched.is_some() || emit.right_unmatched.is_some();
    let status = left_status || right_status;
    // The left changes first, against the right rows as they were before this tick; then the
    // right changes, against the left rows with this tick's changes applied and the left's
    // count before this tick.
    for (is_left, changes) in [(true, lefts), (false, rights)] {
        for (key, row, diff) in changes.drain(..) {
            // The key is hashed once for every lookup of this change.
            let hash = hash_row(&key);
            let e = keys.get_or_insert_with(hash, &key, Entry::default);
            let before = if status {
                match touched.get(hash, &key) {
                    Some(b) => *b,
                    None => {
                        let b = (e.left.count, e.right.count);
                        touched.insert_new(hash, key.clone(), b);
                        b
                    }
                }
            } else {
                (e.left.count, e.right.count)
            };
            if is_left {
                if let Some(pair) = &emit.pairs {
                    for (b, c) in e.right.rows.iter() {
                        out.push((pair(&row, b), time, diff * c));
                    }
                }
                let p = part(&emit.left_matched, &emit.left_unmatched, e.right.count);
                if let Some(f) = p {
                    give_row(out, f, &row, time, diff);
                }
                e.left.apply(row, diff, keep_left);
            } else {
                if let Some(pair) = &emit.pairs {
                    for (a, c) in e.left.rows.iter() {
                        out.push((pair(a, &row), time, c * diff));
                    }
                }
                let p = part(&emit.right_matched, &emit.right_unmatched, before.0);
                if let Some(f) = p {
                    give_row(out, f, &row, time, diff);
                }
                e.right.apply(row, diff, keep_right);
            }
            if e.is_empty() {
                keys.remove(hash, &key);
            }
        }
    }
    // Rows whose part depends on the other side being empty move from one part to the other
    // when that side's count crossed zero this tick.
    for (hash, key, (left_before, right_before)) in touched.drain() {
        let Some(e) = keys.get(hash, &key) else {
            continue;
        };
        if left_status && (right_before > 0) != (e.right.count > 0) {
            let was = part(&emit.left_matched, &emit.left_unmatched, right_before);
            let now = part(&emit.left_matched, &emit.left_unmatched, e.right.count);
            move_rows(out, &e.left.rows, (was, now), time);
        }
        if right_status && (left_before > 0) != (e.left.count > 0) {
            let was = part(&emit.right_matched, &emit.right_unmatched, left_before);
            let now = part(&emit.right_matched, &emit.right_unmatched, e.left.count);
            move_rows(out, &e.right.rows, (was, now), time);
        }
    }
}

/// Joins `left` and `right`, collections of (key, row), on equal keys, emitting per key what
/// `emit` says (see [`Emit`]). Both inputs go to the worker that owns their key; each tick's
/// changes are applied once both inputs have passed it, in tick order.
pub fn join_ordered<'scope>(
    left: VecCollection<'scope, Time, (Row, Row), isize>,
    right: VecCollection<'scope, Time, (Row, Row), isize>,
    name: &str,
    emit: Emit,
    route: Route,
) -> VecCollection<'scope, Time, Row, isize> {
    let by_key = move |update: &((Row, Row), Time, isize)| route.hash(&update.0.0);
    let keep_left = emit.keeps_left_rows();
    let keep_right = emit.keeps_right_rows();
    left.inner
        .binary_frontier(
            right.inner,
            Exchange::new(by_key),
            Exchange::new(by_key),
            name,
            move |_capability, _info| {
                // Each change held until both frontiers pass its tick: (is left, key, row,
                // diff).
                let mut pending: super::held::Waiting<(bool, Row, Row, isize)> =
                    super::held::Waiting::default();
                let (mut lefts, mut rights) = (Vec::new(), Vec::new());
                let mut cap: Option<Capability<Time>> = None;
                let mut keys: RowMap<Entry> = RowMap::default();
                let mut out: Vec<(Row, Time, isize)> = Vec::new();
                // Keys whose other-side count may have crossed zero this tick, with the
                // counts before the tick: (key, left count, right count).
                let mut touched: RowMap<(isize, isize)> = RowMap::default();
                move |(input1, frontier1), (input2, frontier2), output| {
                    // Each input's changes, held by tick under the one capability.
                    let mut hold =
                        |left: bool,
                         in_cap: &timely::dataflow::operators::InputCapability<Time>,
                         data: &mut Vec<((Row, Row), Time, isize)>| {
                            let Some(&least) = in_cap.least() else {
                                return;
                            };
                            super::held::hold_from(&mut cap, in_cap, least);
                            for ((key, row), time, diff) in data.drain(..) {
                                pending.push(time.max(least), (left, key, row, diff));
                            }
                        };
                    input1.for_each(|in_cap, data| hold(true, &in_cap, data));
                    input2.for_each(|in_cap, data| hold(false, &in_cap, data));
                    let Some(c) = cap.as_ref() else {
                        return;
                    };
                    let mut changes = pending
                        .drain_due(|t| !frontier1.less_equal(&t) && !frontier2.less_equal(&t))
                        .peekable();
                    while let Some((time, first)) = changes.next() {
                        let tick = std::iter::once(first)
                            .chain(super::held::rest_of_tick(&mut changes, time));
                        for (left, key, row, diff) in tick {
                            let side = if left { &mut lefts } else { &mut rights };
                            side.push((key, row, diff));
                        }
                        apply_tick(
                            &emit,
                            (keep_left, keep_right),
                            &mut keys,
                            &mut touched,
                            (&mut lefts, &mut rights),
                            time,
                            &mut out,
                        );
                    }
                    drop(changes);
                    pending.trim();
                    if !out.is_empty() {
                        let mut session = output.session(c);
                        for u in out.drain(..) {
                            session.give(u);
                        }
                    }
                    if out.capacity() > 1024 {
                        out = Vec::new();
                    }
                    super::held::hold_at(&mut cap, pending.first());
                }
            },
        )
        .as_collection()
}
