//! Rows paired with a query's scalar environment (the values of its `toscalar` sub-queries).
//!
//! The environment is a collection of (normally) one row. Pairing every row with it as a
//! differential `join` on the unit key would send every row to the one worker that owns the
//! unit key and arrange them all there. [`with_env`] instead broadcasts the environment to
//! every worker and leaves the rows where they are: each worker keeps the multiset of its
//! current rows in a hash map, pairs each row change with the current environment as its tick
//! completes, and when the environment changes re-pairs the rows it holds (retracting their
//! pairs with the old environment). The result is the join's, update for update. Once the
//! environment's input has ended (a watchlist with no later version: the runtime closes such
//! an input after its last change), rows are no longer kept.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, InputCapability};

use super::held::{hold_at, hold_from};
use crate::model::Row;
use crate::runtime::{Rows, Time};

/// Changes not yet applied, by tick: the row changes and the environment changes.
type Pending = BTreeMap<Time, (Vec<(Row, isize)>, Vec<(Row, isize)>)>;

/// Each row of `rows` extended by each row of `env` (normally one), with multiplicities
/// multiplied: the join of the two on the unit key, without exchanging the rows.
pub fn with_env<'scope>(rows: Rows<'scope>, env: Rows<'scope>) -> Rows<'scope> {
    let env = env.inner.broadcast();
    rows.inner
        .binary_frontier(env, Pipeline, Pipeline, "WithScalars", |_, _| {
            let mut pending: Pending = BTreeMap::new();
            // One capability, at the earliest pending tick: every tick's output is sent under
            // it, so a batch of ticks is one message rather than one per tick.
            let mut cap: Option<Capability<Time>> = None;
            // The rows held (net multiplicity, never zero) and the current environment.
            let mut held: FxHashMap<Row, isize> = FxHashMap::default();
            let mut current: BTreeMap<Row, isize> = BTreeMap::new();
            // Environment changes received and not yet applied.
            let mut env_pending: usize = 0;
            move |(rows_in, rows_frontier), (env_in, env_frontier), output| {
                rows_in.for_each(|in_cap, data| {
                    stash(&mut cap, &mut pending, &in_cap, data, false);
                });
                env_in.for_each(|in_cap, data| {
                    env_pending += stash(&mut cap, &mut pending, &in_cap, data, true);
                });
                let Some(c) = cap.as_ref() else {
                    return;
                };
                let mut session = output.session(c);
                while let Some(entry) = pending.first_entry() {
                    let t = *entry.key();
                    if rows_frontier.less_equal(&t) || env_frontier.less_equal(&t) {
                        break;
                    }
                    let (row_changes, env_changes) = entry.remove();
                    env_pending -= env_changes.len();
                    if !env_changes.is_empty() {
                        let old: Vec<(Row, isize)> =
                            current.iter().map(|(e, n)| (e.clone(), *n)).collect();
                        for (e, d) in env_changes {
                            let n = current.entry(e.clone()).or_insert(0);
                            *n += d;
                            if *n == 0 {
                                current.remove(&e);
                            }
                        }
                        let new: Vec<(Row, isize)> =
                            current.iter().map(|(e, n)| (e.clone(), *n)).collect();
                        if old != new {
                            for (r, n) in &held {
                                for (e, m) in &old {
                                    session.give((joined(r, e), t, -n * m));
                                }
                                for (e, m) in &new {
                                    session.give((joined(r, e), t, n * m));
                                }
                            }
                        }
                    }
                    // Once the environment can no longer change (its input has ended and every
                    // change of it is applied), rows need not be kept to be paired again.
                    let settled = env_frontier.is_empty() && env_pending == 0;
                    if settled && !held.is_empty() {
                        held = FxHashMap::default();
                    }
                    for (r, d) in row_changes {
                        for (e, m) in &current {
                            session.give((joined(&r, e), t, d * m));
                        }
                        if settled {
                            continue;
                        }
                        match held.get_mut(&r) {
                            Some(n) => {
                                *n += d;
                                if *n == 0 {
                                    held.remove(&r);
                                }
                            }
                            None if d != 0 => {
                                held.insert(r, d);
                            }
                            None => {}
                        }
                    }
                }
                drop(session);
                hold_at(&mut cap, pending.keys().next().copied());
            }
        })
        .as_collection()
}

/// Puts a message's updates in `pending` by tick, as row changes or (`env`) environment
/// changes, and keeps `cap` at or before them; returns how many it put. A message without a
/// time is dropped.
fn stash(
    cap: &mut Option<Capability<Time>>,
    pending: &mut Pending,
    in_cap: &InputCapability<Time>,
    data: &mut Vec<(Row, Time, isize)>,
    env: bool,
) -> usize {
    let Some(&least) = in_cap.least() else {
        return 0;
    };
    hold_from(cap, in_cap, least);
    let n = data.len();
    for (row, t, diff) in data.drain(..) {
        let entry = pending.entry(t.max(least)).or_default();
        if env {
            entry.1.push((row, diff));
        } else {
            entry.0.push((row, diff));
        }
    }
    n
}

/// `row` followed by `env`'s values.
fn joined(row: &[crate::model::Value], env: &[crate::model::Value]) -> Row {
    let mut out = Vec::with_capacity(row.len() + env.len());
    out.extend_from_slice(row);
    out.extend_from_slice(env);
    out
}
