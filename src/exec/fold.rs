//! Per-key state folded over a collection's changes: the engine's summarize.
//!
//! Differential's `reduce` hands its logic every value of a group each time the group changes,
//! so one change to a group of n rows costs O(n). Event time in kqlflow is totally ordered, so
//! a group's state can instead be kept and folded forward: [`fold_by_key`] routes each change
//! to the worker that owns its key, holds it until the input frontier has passed its tick,
//! applies the tick's changes to each touched group's state in one go, and emits the group's
//! old output row as a retraction and its new one as an insertion when they differ. A change
//! then costs what its state's update costs: O(1) for count, sum, avg, stdev and variance,
//! O(log n) for min, max, dcount and the other multiset aggregates (whose result may still
//! take O(n) to build, as make_set's array does).

use super::keyed::{Route, RowMap, hash_row};

use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use crate::model::Row;
use crate::runtime::Time;

/// One group's state, its multiplicity (rows in the group) and its current output.
struct Group<S, O> {
    state: S,
    rows: isize,
    out: Option<O>,
    touched: bool,
}

/// How a group's state is made, changed and read.
pub trait Fold: 'static {
    /// A change's value (its key is apart).
    type Value: ExchangeData;
    /// A group's state.
    type State: 'static;
    /// A group's output.
    type Out: ExchangeData;
    /// The state of a group with no rows.
    fn init(&self) -> Self::State;
    /// Applies one change: `value` with multiplicity `diff` (negative for a retraction).
    /// Within a tick changes come in any order, so a state may pass through negative
    /// multiplicities before the tick ends.
    fn add(&self, state: &mut Self::State, value: Self::Value, diff: isize);
    /// Called once a tick's changes are all applied: a place to drop parts of the state that
    /// have become empty.
    fn settle(&self, _state: &mut Self::State) {}
    /// The group's output.
    fn result(&self, key: &Row, state: &Self::State) -> Self::Out;
}

/// Folds the changes of `input`, a collection of (key, value), into per-key states as `fold`
/// says, and returns the collection of (key, `fold.result(key, state)`) for every key whose
/// group has rows: a group's row appears when its first row does, changes when its result
/// changes, and disappears with its last row.
pub fn fold_by_key<'scope, F: Fold>(
    input: VecCollection<'scope, Time, (Row, F::Value), isize>,
    name: &str,
    fold: F,
    route: Route,
) -> VecCollection<'scope, Time, (Row, F::Out), isize> {
    fold_emit(input, name, fold, route, |key: &Row, out: F::Out| {
        (key.clone(), out)
    })
}

/// [`fold_by_key`] with each output row made by `emit` from the group's key and output
/// inside the fold's operator (no operator after it to reshape them).
pub fn fold_emit<'scope, F: Fold, D: ExchangeData>(
    input: VecCollection<'scope, Time, (Row, F::Value), isize>,
    name: &str,
    fold: F,
    route: Route,
    emit: impl Fn(&Row, F::Out) -> D + 'static,
) -> VecCollection<'scope, Time, D, isize> {
    let exchange =
        Exchange::new(move |update: &((Row, F::Value), Time, isize)| route.hash(&update.0.0));
    input
        .inner
        .unary_frontier(exchange, name, move |_capability, _info| {
            // Changes not yet applied, by tick, and one capability at the earliest of those
            // ticks: every tick's output goes out under it, so a batch of ticks is one message
            // rather than one per tick.
            let mut pending: super::held::Waiting<(Row, F::Value, isize)> =
                super::held::Waiting::default();
            let mut cap: Option<Capability<Time>> = None;
            let mut groups: RowMap<Group<F::State, F::Out>> = RowMap::default();
            // The groups changed in the tick, with their keys' hashes.
            let mut touched: Vec<(u64, Row)> = Vec::new();
            move |(input, frontier), output| {
                input.for_each(|in_cap, data| {
                    let Some(&least) = in_cap.least() else {
                        return;
                    };
                    super::held::hold_from(&mut cap, &in_cap, least);
                    for ((key, value), time, diff) in data.drain(..) {
                        pending.push(time.max(least), (key, value, diff));
                    }
                });
                let Some(c) = cap.as_ref() else {
                    return;
                };
                let mut session = output.session(c);
                let mut changes = pending.drain_due(|t| !frontier.less_equal(&t)).peekable();
                while let Some((time, first)) = changes.next() {
                    let tick =
                        std::iter::once(first).chain(super::held::rest_of_tick(&mut changes, time));
                    for (key, value, diff) in tick {
                        let hash = hash_row(&key);
                        let group = groups.get_or_insert_with(hash, &key, || Group {
                            state: fold.init(),
                            rows: 0,
                            out: None,
                            touched: false,
                        });
                        fold.add(&mut group.state, value, diff);
                        group.rows += diff;
                        if !group.touched {
                            group.touched = true;
                            touched.push((hash, key));
                        }
                    }
                    for (hash, key) in touched.drain(..) {
                        let Some(group) = groups.get_mut(hash, &key) else {
                            continue;
                        };
                        group.touched = false;
                        fold.settle(&mut group.state);
                        let new = (group.rows > 0).then(|| fold.result(&key, &group.state));
                        if new != group.out {
                            if let Some(old) = group.out.take() {
                                session.give((emit(&key, old), time, -1));
                            }
                            if let Some(n) = &new {
                                session.give((emit(&key, n.clone()), time, 1));
                            }
                            group.out = new;
                        }
                        if group.rows == 0 {
                            groups.remove(hash, &key);
                        }
                    }
                }
                drop(changes);
                pending.trim();
                drop(session);
                super::held::hold_at(&mut cap, pending.first());
            }
        })
        .as_collection()
}
