//! `make-series`, in pieces both engines run: a row's bin and aggregate arguments
//! ([`series_input`]), a group's aggregates per bin ([`series_bins`]), the bins the arrays
//! cover ([`series_span`]) and a group's output row ([`series_row`]). The batch evaluator
//! calls them over whole groups; the incremental engine keeps a [`BinState`] per group and
//! calls the rest after it, so the operator has one semantics.
//!
//! Kusto's semantics: a row falls in bin `bin_at(axis, step, from)` (or `bin(axis, step)`
//! without `from`) when `from <= axis < to`; the arrays cover the bins from `from` (else the
//! least bin with data, over all groups) to the last bin that starts before `to` (else the
//! greatest bin with data, over all groups), so every group's arrays cover the same bins. A
//! bin without rows holds the aggregate's default.

use std::collections::BTreeMap;

use crate::func::agg::Accumulator;
use crate::model::{Row, Value};
use crate::plan::{AggCall, EvalCtx, SeriesAxis};

/// The most bins an array holds (Kusto's limit, 2^20); longer ranges are cut.
pub const MAX_BINS: usize = 1 << 20;

/// A group's bins with rows, in ascending order: each bin's start and its aggregates' values.
pub type SeriesBins = Vec<(i64, Vec<Value>)>;

/// What a `make-series` group takes of an input row: its bin, then the arguments of each
/// aggregate in turn; `None` when the row's axis is null, of another type or out of range.
pub fn series_input(
    axis: &SeriesAxis,
    aggs: &[AggCall],
    row: &[Value],
    ctx: &EvalCtx,
) -> Option<Vec<Value>> {
    let v = axis.value_of(&axis.expr.eval(row, ctx))?;
    let bin = axis.bin_of(v)?;
    let mut out = Vec::with_capacity(1 + aggs.iter().map(|a| a.args.len()).sum::<usize>());
    out.push(Value::Long(bin));
    for a in aggs {
        out.extend(a.args.iter().map(|e| e.eval(row, ctx)));
    }
    Some(out)
}

/// A group's aggregates per bin, from its rows' [`series_input`] values with multiplicities.
/// Bins whose rows cancel out are left out.
pub fn series_bins<'a>(
    aggs: &[AggCall],
    input: impl IntoIterator<Item = (&'a [Value], i64)>,
) -> SeriesBins {
    let mut state = BinState::default();
    for (values, diff) in input {
        state.add(aggs, values, diff);
    }
    state.bins()
}

/// A group's accumulators per bin, kept as rows come and go (the incremental engine's state
/// of one make-series group).
#[derive(Clone, Debug, Default)]
pub struct BinState {
    bins: BTreeMap<i64, Vec<Accumulator>>,
}

impl BinState {
    /// Adds a row's [`series_input`] values `diff` times (a negative `diff` retracts).
    pub fn add(&mut self, aggs: &[AggCall], values: &[Value], diff: i64) {
        let Some(Value::Long(bin)) = values.first() else {
            return;
        };
        let accs = self
            .bins
            .entry(*bin)
            .or_insert_with(|| aggs.iter().map(|a| Accumulator::new(a.spec)).collect());
        let mut at = 1;
        for (acc, a) in accs.iter_mut().zip(aggs) {
            let n = a.args.len();
            let args = values.get(at..at + n).unwrap_or(&[]);
            acc.add(args, diff);
            at += n;
        }
    }

    /// Drops the bins whose rows have all been retracted.
    pub fn prune(&mut self) {
        self.bins
            .retain(|_, accs| accs.first().is_none_or(|a| a.rows() != 0));
    }

    /// The bins with rows and their aggregates' values, in ascending order.
    pub fn bins(&self) -> SeriesBins {
        self.bins
            .iter()
            .filter(|(_, accs)| accs.first().is_none_or(|a| a.rows() != 0))
            .map(|(bin, accs)| (*bin, accs.iter().map(Accumulator::result).collect()))
            .collect()
    }
}

/// The least and greatest bins with data over `groups`' bins; `None` when there are none.
pub fn data_bounds<'a>(groups: impl IntoIterator<Item = &'a SeriesBins>) -> Option<(i64, i64)> {
    let mut out: Option<(i64, i64)> = None;
    for g in groups {
        if let (Some(first), Some(last)) = (g.first(), g.last()) {
            out = Some(match out {
                None => (first.0, last.0),
                Some((lo, hi)) => (lo.min(first.0), hi.max(last.0)),
            });
        }
    }
    out
}

/// The bins the arrays cover: the first bin and how many, from the axis bounds given and, for
/// those not given, `data` (the least and greatest bins with data). No bins when a bound is
/// neither given nor known.
pub fn series_span(axis: &SeriesAxis, data: Option<(i64, i64)>) -> (i64, usize) {
    let step = i128::from(axis.step.max(1));
    let start = match (axis.start, data) {
        (Some(s), _) => s,
        (None, Some((lo, _))) => lo,
        (None, None) => return (0, 0),
    };
    let end = match (axis.end, data) {
        (Some(e), _) => i128::from(e),
        (None, Some((_, hi))) => i128::from(hi) + step,
        (None, None) => return (start, 0),
    };
    let width = end - i128::from(start);
    if width <= 0 {
        return (start, 0);
    }
    let count = (width + step - 1) / step;
    (
        start,
        usize::try_from(count).unwrap_or(MAX_BINS).min(MAX_BINS),
    )
}

/// True when one of `bins` is among the `span` bins (see [`series_span`]) of an axis whose
/// step is `step`.
pub fn bins_in_span(bins: &[(i64, Vec<Value>)], span: (i64, usize), step: i64) -> bool {
    let (start, count) = span;
    let step = i128::from(step.max(1));
    bins.iter().any(|(bin, _)| {
        let offset = i128::from(*bin) - i128::from(start);
        offset >= 0 && offset % step == 0 && offset / step < count as i128
    })
}

/// A group's output row: its key, each aggregate's array over the `span` bins (a bin
/// without rows holds the aggregate's default), then the array of the bins' starts.
pub fn series_row(
    key: &[Value],
    defaults: &[Value],
    axis: &SeriesAxis,
    bins: &[(i64, Vec<Value>)],
    span: (i64, usize),
) -> Row {
    let (start, count) = span;
    let step = i128::from(axis.step.max(1));
    let mut arrays: Vec<Vec<Value>> = defaults.iter().map(|d| vec![d.clone(); count]).collect();
    for (bin, values) in bins {
        let offset = i128::from(*bin) - i128::from(start);
        if offset < 0 || offset % step != 0 {
            continue;
        }
        let Ok(i) = usize::try_from(offset / step) else {
            continue;
        };
        if i >= count {
            continue;
        }
        for (array, v) in arrays.iter_mut().zip(values) {
            array[i] = v.clone();
        }
    }
    let mut row: Row = key.to_vec();
    row.extend(arrays.into_iter().map(Value::array));
    let times = (0..count)
        .map(|i| {
            let at = i128::from(start) + step * i as i128;
            i64::try_from(at).map_or(Value::Null, |t| axis.value(t))
        })
        .collect();
    row.push(Value::array(times));
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::agg::{AggKind, AggSpec};
    use crate::model::Type;
    use crate::plan::ScalarExpr;

    fn axis(start: Option<i64>, end: Option<i64>) -> SeriesAxis {
        SeriesAxis {
            expr: ScalarExpr::Column(0),
            ty: Type::Long,
            step: 10,
            start,
            end,
            start_now: None,
            end_now: None,
        }
    }

    #[test]
    fn bins_follow_bin_at_and_the_range() {
        let a = axis(Some(5), Some(35));
        assert_eq!(a.bin_of(4), None);
        assert_eq!(a.bin_of(5), Some(5));
        assert_eq!(a.bin_of(14), Some(5));
        assert_eq!(a.bin_of(15), Some(15));
        assert_eq!(a.bin_of(34), Some(25));
        assert_eq!(a.bin_of(35), None);
        assert_eq!(series_span(&a, None), (5, 3));
        let free = axis(None, None);
        assert_eq!(free.bin_of(-1), Some(-10));
        assert_eq!(series_span(&free, None), (0, 0));
        assert_eq!(series_span(&free, Some((-10, 20))), (-10, 4));
        // A range that does not end on a bin boundary holds the bin it ends in.
        assert_eq!(series_span(&axis(Some(0), Some(21)), None), (0, 3));
        assert_eq!(series_span(&axis(Some(30), Some(20)), None), (30, 0));
    }

    #[test]
    fn groups_fill_missing_bins_with_defaults() {
        let count = AggCall {
            spec: AggSpec::new(AggKind::Count),
            args: vec![],
        };
        let sum = AggCall {
            spec: AggSpec::new(AggKind::Sum),
            args: vec![ScalarExpr::Column(1)],
        };
        let a = axis(Some(0), Some(40));
        let ctx = EvalCtx::default();
        let rows = [
            vec![Value::Long(1), Value::Long(5)],
            vec![Value::Long(7), Value::Long(2)],
            vec![Value::Long(25), Value::Long(1)],
            vec![Value::Long(45), Value::Long(9)],
            vec![Value::Null, Value::Long(9)],
        ];
        let inputs: Vec<Vec<Value>> = rows
            .iter()
            .filter_map(|r| series_input(&a, &[count.clone(), sum.clone()], r, &ctx))
            .collect();
        assert_eq!(inputs.len(), 3);
        let bins = series_bins(&[count, sum], inputs.iter().map(|v| (v.as_slice(), 1)));
        assert_eq!(
            bins,
            vec![
                (0, vec![Value::Long(2), Value::Long(7)]),
                (20, vec![Value::Long(1), Value::Long(1)]),
            ]
        );
        let row = series_row(
            &[Value::str("k")],
            &[Value::Long(0), Value::Long(-1)],
            &a,
            &bins,
            series_span(&a, None),
        );
        let longs = |xs: &[i64]| Value::array(xs.iter().map(|x| Value::Long(*x)).collect());
        assert_eq!(
            row,
            vec![
                Value::str("k"),
                longs(&[2, 0, 1, 0]),
                longs(&[7, -1, 1, -1]),
                longs(&[0, 10, 20, 30]),
            ]
        );
        // Retractions cancel a bin out.
        let retracted = series_bins(
            &[AggCall {
                spec: AggSpec::new(AggKind::Count),
                args: vec![],
            }],
            [(&[Value::Long(0)][..], 1), (&[Value::Long(0)][..], -1)],
        );
        assert!(retracted.is_empty());
        assert_eq!(data_bounds([&bins, &vec![(-10, vec![])]]), Some((-10, 20)));
    }
}
