//! The folds the keyed reduces run (see [`super::fold`]): `summarize`'s accumulators,
//! `make-series`' bins and bounds, `top`'s ranked rows, and the least row of inner-unique
//! joins.

use super::*;

/// make-series' fold: each group's accumulators per bin.
pub(super) struct SeriesGroups {
    pub(super) aggs: Vec<AggCall>,
}

impl fold::Fold for SeriesGroups {
    type Value = Vec<Value>;
    type State = series::BinState;
    type Out = series::SeriesBins;

    fn init(&self) -> series::BinState {
        series::BinState::default()
    }

    fn add(&self, state: &mut series::BinState, values: Vec<Value>, diff: isize) {
        state.add(&self.aggs, &values, diff as i64);
    }

    fn settle(&self, state: &mut series::BinState) {
        state.prune();
    }

    fn result(&self, _key: &Row, state: &series::BinState) -> series::SeriesBins {
        state.bins()
    }
}

/// The least and greatest bins with data over every make-series group: multisets of the
/// groups' first and last bins.
pub(super) struct Bounds;

impl fold::Fold for Bounds {
    type Value = (i64, i64);
    type State = (BTreeMap<i64, isize>, BTreeMap<i64, isize>);
    type Out = Option<(i64, i64)>;

    fn init(&self) -> Self::State {
        (BTreeMap::new(), BTreeMap::new())
    }

    fn add(&self, state: &mut Self::State, (lo, hi): (i64, i64), diff: isize) {
        *state.0.entry(lo).or_insert(0) += diff;
        *state.1.entry(hi).or_insert(0) += diff;
    }

    fn settle(&self, state: &mut Self::State) {
        state.0.retain(|_, n| *n != 0);
        state.1.retain(|_, n| *n != 0);
    }

    fn result(&self, _key: &Row, state: &Self::State) -> Option<(i64, i64)> {
        let lo = state.0.iter().find(|(_, n)| **n > 0).map(|(b, _)| *b)?;
        let hi = state
            .1
            .iter()
            .rev()
            .find(|(_, n)| **n > 0)
            .map(|(b, _)| *b)?;
        Some((lo, hi))
    }
}

/// `top N by keys` and `take N` inside a query: the first `count` rows in the order of the
/// keys, ties (and `take`, which has no keys) broken by the rows' own order, as the batch
/// evaluator orders them, so that every worker count gives the same rows. Each change costs
/// O(log n) and each tick's output O(count).
pub(super) struct TopK {
    pub(super) count: usize,
    pub(super) keys: std::sync::Arc<[crate::plan::ir::SortKey]>,
}

/// A row under [`TopK`]'s order: its sort keys' values, then the row.
pub(super) struct Ranked {
    keys: std::sync::Arc<[crate::plan::ir::SortKey]>,
    values: Vec<Value>,
    row: Row,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        crate::eval::cmp_keys(&self.values, &other.values, &self.keys)
            .then_with(|| self.row.cmp(&other.row))
    }
}

impl fold::Fold for TopK {
    type Value = Row;
    type State = BTreeMap<Ranked, isize>;
    type Out = Vec<Row>;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn add(&self, state: &mut Self::State, row: Row, diff: isize) {
        let ctx = EvalCtx::default();
        let values = self.keys.iter().map(|k| k.expr.eval(&row, &ctx)).collect();
        let ranked = Ranked {
            keys: self.keys.clone(),
            values,
            row,
        };
        *state.entry(ranked).or_insert(0) += diff;
    }

    fn settle(&self, state: &mut Self::State) {
        state.retain(|_, n| *n != 0);
    }

    fn result(&self, _key: &Row, state: &Self::State) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.count.min(1024));
        for (r, n) in state {
            for _ in 0..(*n).max(0) {
                if out.len() >= self.count {
                    return out;
                }
                out.push(r.row.clone());
            }
        }
        out
    }
}

/// The least row of each key (innerunique's left side).
pub(super) struct Least;

impl fold::Fold for Least {
    type Value = Row;
    type State = BTreeMap<Row, isize>;
    type Out = Row;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn add(&self, state: &mut Self::State, row: Row, diff: isize) {
        *state.entry(row).or_insert(0) += diff;
    }

    fn settle(&self, state: &mut Self::State) {
        state.retain(|_, n| *n != 0);
    }

    fn result(&self, _key: &Row, state: &Self::State) -> Row {
        state
            .iter()
            .find(|(_, n)| **n > 0)
            .map(|(r, _)| r.clone())
            .unwrap_or_default()
    }
}

/// summarize's fold: each group's accumulators; `None` values are the sentinel that keeps a
/// summarize without keys alive. Aggregates that keep the same state (`dcount(x)` and
/// `make_set(x)`, `min(t)` and `max(t)`) share the first one's accumulator.
pub(super) struct Summarize {
    aggs: Vec<AggCall>,
    /// Per aggregate, the earlier aggregate whose accumulator it reads, if any.
    shared: Vec<Option<usize>>,
}

impl Summarize {
    /// The fold of `aggs`.
    pub(super) fn new(aggs: Vec<AggCall>) -> Summarize {
        let shared = aggs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                aggs[..i]
                    .iter()
                    .position(|b| b.spec.shares_state(&b.args, &a.spec, &a.args))
            })
            .collect();
        Summarize { aggs, shared }
    }
}

/// A summarize group's accumulators, and the last result of each aggregate whose result
/// follows its multiset's set of values, with that set's version: a group whose sign-in
/// count changes keeps its `make_set` of addresses without building the array again.
pub(super) struct SummaryState {
    accs: Vec<Accumulator>,
    cached: Vec<Option<(u64, Value)>>,
}

impl fold::Fold for Summarize {
    type Value = Option<Vec<Value>>;
    type State = SummaryState;
    type Out = Row;

    fn init(&self) -> SummaryState {
        SummaryState {
            accs: self.aggs.iter().map(|a| Accumulator::new(a.spec)).collect(),
            cached: vec![None; self.aggs.len()],
        }
    }

    fn add(&self, state: &mut SummaryState, args: Option<Vec<Value>>, diff: isize) {
        let Some(args) = args else {
            return;
        };
        let mut at = 0;
        for ((acc, a), shared) in state.accs.iter_mut().zip(&self.aggs).zip(&self.shared) {
            let n = a.args.len();
            if shared.is_none()
                && let Some(these) = args.get(at..at + n)
            {
                acc.add(these, diff as i64);
            }
            at += n;
        }
    }

    fn settle(&self, state: &mut SummaryState) {
        for (i, a) in self.aggs.iter().enumerate() {
            if !a.spec.follows_value_set() {
                continue;
            }
            let from = self.shared.get(i).copied().flatten().unwrap_or(i);
            let Some(acc) = state.accs.get(from) else {
                continue;
            };
            let Some(version) = acc.value_set_version() else {
                continue;
            };
            if let Some(slot) = state.cached.get_mut(i)
                && slot.as_ref().is_none_or(|(v, _)| *v != version)
            {
                *slot = Some((version, acc.result_as(&a.spec)));
            }
        }
    }

    fn result(&self, key: &Row, state: &SummaryState) -> Row {
        let mut out = Vec::with_capacity(key.len() + state.accs.len());
        out.extend(key.iter().cloned());
        for (i, a) in self.aggs.iter().enumerate() {
            if let Some(Some((_, v))) = state.cached.get(i) {
                out.push(v.clone());
                continue;
            }
            let from = self.shared.get(i).copied().flatten().unwrap_or(i);
            out.push(
                state
                    .accs
                    .get(from)
                    .map_or(Value::Null, |acc| acc.result_as(&a.spec)),
            );
        }
        out
    }
}
