//! Kusto's aggregate functions as accumulators that take insertions and retractions (a
//! differential dataflow's input changes) as well as plain rows (the batch evaluator's).
//!
//! Abelian aggregates (count, sum, avg, stdev, variance) keep sums and change in O(1); the
//! others keep a multiset of the values seen. Where Kusto picks an arbitrary value (`take_any`,
//! ties of `arg_max`, colliding keys of `make_bag`) the least one is taken, so every worker
//! count gives the same answer.

use std::collections::BTreeMap;

use super::exact::ExactSum;
use super::ops::{compare, is_true};
use crate::model::{Str, Type, Value};

/// Which aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AggKind {
    /// `count()`: rows. Arguments: none.
    Count,
    /// `countif(p)`: rows where `p` is true. Arguments: `[p]`.
    CountIf,
    /// `dcount(x)`: distinct non-null values, exactly. Arguments: `[x]`.
    DCount,
    /// `dcountif(x, p)`. Arguments: `[x, p]`.
    DCountIf,
    /// `sum(x)`. Arguments: `[x]`.
    Sum,
    /// `sumif(x, p)`. Arguments: `[x, p]`.
    SumIf,
    /// `avg(x)`. Arguments: `[x]`.
    Avg,
    /// `avgif(x, p)`. Arguments: `[x, p]`.
    AvgIf,
    /// `min(x)`. Arguments: `[x]`.
    Min,
    /// `max(x)`. Arguments: `[x]`.
    Max,
    /// `minif(x, p)`. Arguments: `[x, p]`.
    MinIf,
    /// `maxif(x, p)`. Arguments: `[x, p]`.
    MaxIf,
    /// `stdev(x)`: the sample standard deviation. Arguments: `[x]`.
    Stdev,
    /// `variance(x)`: the sample variance. Arguments: `[x]`.
    Variance,
    /// `stdevif(x, p)`. Arguments: `[x, p]`.
    StdevIf,
    /// `varianceif(x, p)`. Arguments: `[x, p]`.
    VarianceIf,
    /// `count(x)`: rows where `x` is not null. Arguments: `[x]`.
    CountValues,
    /// `make_set(x[, n])`: distinct values in ascending order, arrays flattened. Arguments: `[x]`.
    MakeSet,
    /// `make_set_if(x, p[, n])`. Arguments: `[x, p]`.
    MakeSetIf,
    /// `make_list(x[, n])`: values in the order of an order key. Arguments: `[x, order]` (the
    /// order key may be left out: then the values' own order).
    MakeList,
    /// `make_list_if(x, p[, n])`. Arguments: `[x, p, order]`.
    MakeListIf,
    /// `make_bag(x)`: property bags merged. Arguments: `[x]`.
    MakeBag,
    /// `arg_max(x, c…)`: the row with the greatest `x`, as an array `[x, c…]`. Arguments:
    /// `[x, c…]`.
    ArgMax,
    /// `arg_min(x, c…)`. Arguments: `[x, c…]`.
    ArgMin,
    /// `take_any(x…)`: the least row, as an array when there are several arguments.
    TakeAny,
    /// `percentile(x, p)`: the nearest-rank percentile. Arguments: `[x]`.
    Percentile,
    /// `percentilew(x, w, p)`: the nearest-rank percentile with each value counted `w` times
    /// (rows whose weight is not a positive integer are left out). Arguments: `[x, w]`.
    PercentileW,
    /// `evaluate basket()`: the closed frequent patterns of the rows (see
    /// [`crate::func::basket`]), as an array of `[SegmentId, Count, Percent, values…]`.
    /// Arguments: the dimension columns, then the row's weight.
    Basket,
    /// `evaluate autocluster()`: patterns that sum up the rows (see
    /// [`crate::func::autocluster`]), as an array of `[SegmentId, Count, Percent, values…]`.
    /// Arguments: the dimension columns, then the row's weight.
    Autocluster,
}

/// An aggregate with its constant parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggSpec {
    /// Which aggregate.
    pub kind: AggKind,
    /// `make_set`/`make_list`'s size limit (default 1048576, as Kusto).
    pub limit: usize,
    /// `percentile`'s percentage, 0 to 100.
    pub percentile: f64,
    /// The type of the first argument as bound ([`Type::Dynamic`] when not known): `sum` and
    /// `sumif` over no values return the zero of their result type for it.
    pub arg: Type,
    /// `basket`'s threshold: the least share of the rows' weight a pattern has (default
    /// 0.05); its `limit` is the most columns a pattern gives values. For `autocluster`,
    /// the SizeWeight (0.5 when bound by default), and `limit` the number of seeds.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
}

fn default_threshold() -> f64 {
    0.05
}

impl AggSpec {
    /// The aggregate `kind` with default parameters.
    pub fn new(kind: AggKind) -> AggSpec {
        AggSpec {
            kind,
            limit: 1_048_576,
            percentile: 50.0,
            arg: Type::Dynamic,
            threshold: default_threshold(),
        }
    }

    /// The aggregate `kind` over a first argument of type `arg`.
    pub fn with_arg(kind: AggKind, arg: Type) -> AggSpec {
        AggSpec {
            arg,
            ..AggSpec::new(kind)
        }
    }

    /// True when the aggregate's result depends only on which values its multiset holds, not
    /// on how many times each: `dcount`, `make_set`, `min`, `max`, `arg_max`, `arg_min`,
    /// `take_any`, `make_bag` (and their `-if` forms).
    pub fn follows_value_set(&self) -> bool {
        use AggKind::*;
        matches!(
            self.kind,
            DCount
                | DCountIf
                | MakeSet
                | MakeSetIf
                | Min
                | MinIf
                | Max
                | MaxIf
                | ArgMax
                | ArgMin
                | TakeAny
                | MakeBag
        )
    }

    /// True when aggregate `self` over arguments `args` and aggregate `other` over `other_args`
    /// keep the same state, so one accumulator serves both: each keeps the multiset of its one
    /// argument's non-null values (`dcount`, `make_set`, `min`, `max`, `percentile`,
    /// `make_bag`), and the arguments are the same expressions.
    pub fn shares_state<E: PartialEq>(
        &self,
        args: &[E],
        other: &AggSpec,
        other_args: &[E],
    ) -> bool {
        use AggKind::*;
        let of_values =
            |k: AggKind| matches!(k, DCount | MakeSet | Min | Max | Percentile | MakeBag);
        of_values(self.kind) && of_values(other.kind) && args.len() == 1 && args == other_args
    }

    /// The value over no values (or only nulls), per Kusto's "default values of
    /// aggregations": 0 for the counts, `sum`, `sumif`, `stdev`, `stdevif`, `variance` and
    /// `varianceif`; null for `avg`, `min`, `max` and the others (the set and list aggregates
    /// give their empty array by themselves).
    pub fn empty_value(&self) -> Value {
        use AggKind::*;
        match self.kind {
            Count | CountIf | CountValues | DCount | DCountIf => Value::Long(0),
            Sum | SumIf => match self.result_type(&[self.arg]) {
                Type::Long => Value::Long(0),
                Type::TimeSpan => Value::TimeSpan(0),
                _ => Value::Real(0.0),
            },
            Stdev | StdevIf | Variance | VarianceIf => Value::Real(0.0),
            Basket | Autocluster => Value::array(Vec::new()),
            _ => Value::Null,
        }
    }

    /// The type of the result, given the types of the arguments.
    pub fn result_type(&self, args: &[Type]) -> Type {
        use AggKind::*;
        let first = args.first().copied().unwrap_or(Type::Dynamic);
        match self.kind {
            Count | CountIf | CountValues | DCount | DCountIf => Type::Long,
            Sum | SumIf => match first {
                Type::Int | Type::Long => Type::Long,
                Type::TimeSpan => Type::TimeSpan,
                _ => Type::Real,
            },
            Avg | AvgIf | Stdev | Variance | StdevIf | VarianceIf => Type::Real,
            Min | Max | MinIf | MaxIf | Percentile | PercentileW => first,
            MakeSet | MakeSetIf | MakeList | MakeListIf | MakeBag | ArgMax | ArgMin | Basket
            | Autocluster => Type::Dynamic,
            TakeAny => {
                if args.len() == 1 {
                    first
                } else {
                    Type::Dynamic
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    Count(i64),
    /// Sum of longs, of reals, of timespans, all exact; `n` non-null values.
    Sum {
        n: i64,
        long: i128,
        real: ExactSum,
        reals: i64,
        span: i128,
        spans: i64,
    },
    /// Count, sum and sum of squares, the sums exact.
    Moments {
        n: i64,
        sum: ExactSum,
        sumsq: ExactSum,
    },
    /// A multiset of values (or rows) with their multiplicities, and how many distinct values
    /// have a positive multiplicity.
    Multiset {
        values: BTreeMap<Value, i64>,
        distinct: i64,
    },
}

/// An accumulator for one group.
#[derive(Clone, Debug)]
pub struct Accumulator {
    spec: AggSpec,
    rows: i64,
    state: State,
    /// Bumped whenever the multiset's set of live values changes.
    version: u64,
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Long(x) => Some(*x as f64),
        Value::Real(x) => Some(*x),
        Value::TimeSpan(x) => Some(*x as f64),
        _ => None,
    }
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new(spec: AggSpec) -> Accumulator {
        use AggKind::*;
        let state = match spec.kind {
            Count | CountIf | CountValues => State::Count(0),
            Sum | SumIf => State::Sum {
                n: 0,
                long: 0,
                real: ExactSum::new(),
                reals: 0,
                span: 0,
                spans: 0,
            },
            Avg | AvgIf | Stdev | Variance | StdevIf | VarianceIf => State::Moments {
                n: 0,
                sum: ExactSum::new(),
                sumsq: ExactSum::new(),
            },
            _ => State::Multiset {
                values: BTreeMap::new(),
                distinct: 0,
            },
        };
        Accumulator {
            spec,
            rows: 0,
            state,
            version: 0,
        }
    }

    /// Rows in the group (insertions minus retractions).
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// For an accumulator that keeps a multiset, a number that changes whenever the set of
    /// values in it changes (a value's first copy comes or its last goes); `None` for the
    /// others. The result of an aggregate that [`AggSpec::follows_value_set`] is the same while
    /// this number is.
    pub fn value_set_version(&self) -> Option<u64> {
        match self.state {
            State::Multiset { .. } => Some(self.version),
            _ => None,
        }
    }

    /// Adds a row's argument values `diff` times (a negative `diff` retracts).
    pub fn add(&mut self, args: &[Value], diff: i64) {
        use AggKind::*;
        self.rows += diff;
        let x = args.first().unwrap_or(&Value::Null);
        let pred = |i: usize| is_true(args.get(i).unwrap_or(&Value::Null));
        let kept = match self.spec.kind {
            CountIf => pred(0),
            CountValues => !x.is_null(),
            DCountIf | SumIf | AvgIf | MinIf | MaxIf | MakeSetIf | MakeListIf | StdevIf
            | VarianceIf => pred(1),
            _ => true,
        };
        if !kept {
            return;
        }
        match &mut self.state {
            State::Count(c) => *c += diff,
            State::Sum {
                n,
                long,
                real,
                reals,
                span,
                spans,
            } => match x {
                Value::Long(v) => {
                    *n += diff;
                    *long += i128::from(*v) * i128::from(diff);
                }
                Value::Real(v) => {
                    *n += diff;
                    real.add(*v, diff);
                    *reals += diff;
                }
                Value::TimeSpan(v) => {
                    *n += diff;
                    *span += i128::from(*v) * i128::from(diff);
                    *spans += diff;
                }
                _ => {}
            },
            State::Moments { n, sum, sumsq } => {
                if let Some(v) = num(x) {
                    *n += diff;
                    sum.add(v, diff);
                    sumsq.add_square(v, diff);
                }
            }
            State::Multiset { values, distinct } => {
                let key = match self.spec.kind {
                    ArgMax | ArgMin | TakeAny if args.len() > 1 => Value::array(args.to_vec()),
                    Basket | Autocluster => Value::array(args.to_vec()),
                    TakeAny => x.clone(),
                    MakeList => Value::array(vec![
                        args.get(1).cloned().unwrap_or_else(|| x.clone()),
                        x.clone(),
                    ]),
                    MakeListIf => Value::array(vec![
                        args.get(2).cloned().unwrap_or_else(|| x.clone()),
                        x.clone(),
                    ]),
                    _ => x.clone(),
                };
                let skip_null = !matches!(self.spec.kind, TakeAny | Basket | Autocluster);
                if skip_null && x.is_null() {
                    return;
                }
                let times = if self.spec.kind == PercentileW {
                    match args.get(1) {
                        Some(Value::Long(w)) if *w > 0 => *w,
                        _ => return,
                    }
                } else {
                    1
                };
                let e = values.entry(key.clone()).or_insert(0);
                let before = *e;
                // Wrapping, so that a retraction undoes its insertion exactly even for absurd
                // weights (a count past i64 is not a meaningful weight; it must not panic).
                *e = e.wrapping_add(diff.wrapping_mul(times));
                let after = *e;
                if before <= 0 && after > 0 {
                    *distinct += 1;
                    self.version = self.version.wrapping_add(1);
                } else if before > 0 && after <= 0 {
                    *distinct -= 1;
                    self.version = self.version.wrapping_add(1);
                }
                if after == 0 {
                    values.remove(&key);
                }
            }
        }
    }

    /// The aggregate's value now.
    pub fn result(&self) -> Value {
        self.result_as(&self.spec)
    }

    /// The value aggregate `spec` has over this accumulator's state, which must be one it
    /// shares (see [`AggSpec::shares_state`]): `dcount(x)` and `make_set(x)` both read the
    /// multiset of x.
    pub fn result_as(&self, spec: &AggSpec) -> Value {
        use AggKind::*;
        match &self.state {
            State::Count(c) => Value::Long(*c),
            State::Sum {
                n,
                long,
                real,
                reals,
                span,
                spans,
            } => {
                if *n == 0 {
                    spec.empty_value()
                } else if *spans > 0 && *reals == 0 {
                    i64::try_from(*span + *long).map_or(Value::Null, Value::TimeSpan)
                } else if *reals > 0 {
                    let mut total = real.clone();
                    total.add_i128(*long);
                    Value::Real(total.value())
                } else {
                    i64::try_from(*long).map_or(Value::Real(*long as f64), Value::Long)
                }
            }
            State::Moments { n, sum, sumsq } => {
                let n = *n as f64;
                let (sum, sumsq) = (sum.value(), sumsq.value());
                match spec.kind {
                    Avg | AvgIf if n > 0.0 => Value::Real(sum / n),
                    Stdev | Variance | StdevIf | VarianceIf => {
                        let var = if n < 2.0 {
                            0.0
                        } else {
                            ((sumsq - sum * sum / n) / (n - 1.0)).max(0.0)
                        };
                        Value::Real(if matches!(spec.kind, Stdev | StdevIf) {
                            var.sqrt()
                        } else {
                            var
                        })
                    }
                    _ => Value::Null,
                }
            }
            State::Multiset { values, distinct } => Self::multiset_result(spec, values, *distinct),
        }
    }

    fn multiset_result(spec: &AggSpec, m: &BTreeMap<Value, i64>, distinct: i64) -> Value {
        use AggKind::*;
        let live = || m.iter().filter(|(_, c)| **c > 0).map(|(v, _)| v);
        match spec.kind {
            DCount | DCountIf => Value::Long(distinct),
            Min | MinIf => live().next().cloned().unwrap_or(Value::Null),
            Max | MaxIf => live().next_back().cloned().unwrap_or(Value::Null),
            // Arrays and bags sort after every other value: when the greatest is neither,
            // the multiset's live values are the set, sorted and distinct already.
            MakeSet | MakeSetIf
                if !m
                    .last_key_value()
                    .is_some_and(|(v, _)| matches!(v, Value::Array(_) | Value::Object(_))) =>
            {
                Value::array(live().take(spec.limit).cloned().collect())
            }
            MakeSet | MakeSetIf => {
                let mut set: Vec<Value> = Vec::new();
                for v in live() {
                    match v {
                        Value::Array(xs) => set.extend(xs.iter().filter(|x| !x.is_null()).cloned()),
                        other => set.push(other.clone()),
                    }
                }
                set.sort();
                set.dedup();
                set.truncate(spec.limit);
                Value::array(set)
            }
            MakeList | MakeListIf => {
                let mut out = Vec::new();
                for (v, c) in m.iter().filter(|(_, c)| **c > 0) {
                    let item = v.index(1).cloned().unwrap_or(Value::Null);
                    for _ in 0..*c {
                        if out.len() < spec.limit {
                            out.push(item.clone());
                        }
                    }
                }
                Value::array(out)
            }
            MakeBag => {
                let mut pairs: Vec<(Str, Value)> = Vec::new();
                for v in live() {
                    if let Value::Object(kvs) = v {
                        for (k, x) in kvs.iter() {
                            if !pairs.iter().any(|(pk, _)| pk == k) {
                                pairs.push((k.clone(), x.clone()));
                            }
                        }
                    }
                }
                Value::object(pairs)
            }
            ArgMax | ArgMin => {
                // Rows are arrays [x, c…]: the greatest (least) x, ties broken by the least row.
                let mut best: Option<&Value> = None;
                for row in live() {
                    let key = row.index(0).unwrap_or(row);
                    if key.is_null() {
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some(b) => {
                            let bk = b.index(0).unwrap_or(b);
                            let ord = compare(key, bk).unwrap_or(std::cmp::Ordering::Equal);
                            if spec.kind == ArgMax {
                                ord == std::cmp::Ordering::Greater
                            } else {
                                ord == std::cmp::Ordering::Less
                            }
                        }
                    };
                    if better {
                        best = Some(row);
                    }
                }
                best.cloned().unwrap_or(Value::Null)
            }
            TakeAny => live().next().cloned().unwrap_or(Value::Null),
            Basket | Autocluster => {
                let dims = m
                    .keys()
                    .next()
                    .and_then(|r| match r {
                        Value::Array(cells) => cells.len().checked_sub(1),
                        _ => None,
                    })
                    .unwrap_or(0);
                Value::array(if spec.kind == Basket {
                    crate::func::basket::basket(m, dims, spec.threshold, spec.limit)
                } else {
                    crate::func::autocluster::autocluster(m, dims, spec.threshold, spec.limit)
                })
            }
            Percentile | PercentileW => {
                // The multiset is kept sorted; values of one kind (the usual case) are in
                // Kusto's order already, mixed dynamic values are sorted by `compare`.
                let mut values: Vec<(&Value, i64)> = m
                    .iter()
                    .filter(|(_, c)| **c > 0)
                    .map(|(v, c)| (v, *c))
                    .collect();
                let one_kind = match (values.first(), values.last()) {
                    (Some(a), Some(b)) => {
                        std::mem::discriminant(a.0) == std::mem::discriminant(b.0)
                    }
                    _ => true,
                };
                if !one_kind {
                    values.sort_by(|a, b| compare(a.0, b.0).unwrap_or(a.0.cmp(b.0)));
                }
                let n: i128 = values.iter().map(|(_, c)| i128::from(*c)).sum();
                if n == 0 {
                    return Value::Null;
                }
                let rank = ((spec.percentile / 100.0) * n as f64).ceil().max(1.0) as i128;
                let mut seen: i128 = 0;
                for (v, c) in values {
                    seen += i128::from(c);
                    if seen >= rank {
                        return v.clone();
                    }
                }
                Value::Null
            }
            _ => Value::Null,
        }
    }
}

/// Evaluates an aggregate over rows of argument values, in one go (the batch evaluator's way).
pub fn aggregate_rows<'a>(spec: AggSpec, rows: impl IntoIterator<Item = &'a [Value]>) -> Value {
    let mut acc = Accumulator::new(spec);
    for r in rows {
        acc.add(r, 1);
    }
    acc.result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: AggKind, rows: &[Vec<Value>]) -> Value {
        aggregate_rows(AggSpec::new(kind), rows.iter().map(|r| r.as_slice()))
    }
    fn l(x: i64) -> Value {
        Value::Long(x)
    }
    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn abelian_aggregates() {
        let rows: Vec<Vec<Value>> = [1, 2, 3, 4].iter().map(|x| vec![l(*x)]).collect();
        assert_eq!(run(AggKind::Count, &rows), l(4));
        assert_eq!(run(AggKind::Sum, &rows), l(10));
        assert_eq!(run(AggKind::Avg, &rows), Value::Real(2.5));
        // Sample variance of 1..4 is 5/3.
        match run(AggKind::Variance, &rows) {
            Value::Real(v) => assert!((v - 5.0 / 3.0).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        assert_eq!(run(AggKind::Stdev, &[vec![l(7)]]), Value::Real(0.0));
        // Kusto's "default values of aggregations": sum over no values is 0 of its type.
        assert_eq!(run(AggKind::Sum, &[vec![Value::Null]]), Value::Real(0.0));
        assert_eq!(run(AggKind::Avg, &[vec![Value::Null]]), Value::Null);
        assert_eq!(
            run(AggKind::Sum, &[vec![l(1)], vec![Value::Real(0.5)]]),
            Value::Real(1.5)
        );
    }

    #[test]
    fn defaults_over_no_values() {
        let none: Vec<Vec<Value>> = Vec::new();
        let over = |kind: AggKind, arg: Type, rows: &[Vec<Value>]| {
            aggregate_rows(
                AggSpec::with_arg(kind, arg),
                rows.iter().map(|r| r.as_slice()),
            )
        };
        assert_eq!(over(AggKind::Sum, Type::Long, &none), l(0));
        assert_eq!(over(AggKind::Sum, Type::Int, &none), l(0));
        assert_eq!(over(AggKind::Sum, Type::Real, &none), Value::Real(0.0));
        assert_eq!(
            over(AggKind::Sum, Type::TimeSpan, &none),
            Value::TimeSpan(0)
        );
        // sumif's predicate false everywhere: no values.
        let f = Value::Bool(false);
        assert_eq!(
            over(AggKind::SumIf, Type::Long, &[vec![l(4), f.clone()]]),
            l(0)
        );
        for kind in [
            AggKind::Stdev,
            AggKind::Variance,
            AggKind::StdevIf,
            AggKind::VarianceIf,
        ] {
            assert_eq!(over(kind, Type::Long, &none), Value::Real(0.0), "{kind:?}");
        }
        assert_eq!(
            over(AggKind::StdevIf, Type::Long, &[vec![l(4), f.clone()]]),
            Value::Real(0.0)
        );
        for kind in [AggKind::Count, AggKind::CountValues, AggKind::DCount] {
            assert_eq!(over(kind, Type::Long, &none), l(0), "{kind:?}");
        }
        for kind in [
            AggKind::Avg,
            AggKind::Min,
            AggKind::Max,
            AggKind::Percentile,
        ] {
            assert_eq!(over(kind, Type::Long, &none), Value::Null, "{kind:?}");
        }
        // A sum that comes back to no values after retractions is 0 again.
        let mut acc = Accumulator::new(AggSpec::with_arg(AggKind::Sum, Type::Long));
        acc.add(&[l(3)], 1);
        acc.add(&[l(3)], -1);
        assert_eq!(acc.result(), l(0));
    }

    #[test]
    fn count_of_values_and_conditional_spread() {
        let rows = vec![vec![l(1)], vec![Value::Null], vec![l(1)], vec![s("")]];
        // count(x) counts the rows where x is not null (an empty string is a value).
        assert_eq!(run(AggKind::CountValues, &rows), l(3));
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        let cond = vec![
            vec![l(1), t.clone()],
            vec![l(3), t.clone()],
            vec![l(100), f],
            vec![l(5), t],
        ];
        // Sample variance of 1, 3, 5 is 4.
        assert_eq!(run(AggKind::VarianceIf, &cond), Value::Real(4.0));
        assert_eq!(run(AggKind::StdevIf, &cond), Value::Real(2.0));
    }

    #[test]
    fn retractions_undo_insertions() {
        for kind in [
            AggKind::Count,
            AggKind::Sum,
            AggKind::Avg,
            AggKind::Stdev,
            AggKind::CountValues,
            AggKind::DCount,
            AggKind::Min,
            AggKind::Max,
            AggKind::MakeSet,
            AggKind::MakeList,
            AggKind::Percentile,
        ] {
            let mut acc = Accumulator::new(AggSpec::new(kind));
            acc.add(&[l(5)], 1);
            let before = acc.result();
            acc.add(&[l(9)], 1);
            acc.add(&[l(1)], 2);
            acc.add(&[l(9)], -1);
            acc.add(&[l(1)], -2);
            assert_eq!(acc.result(), before, "{kind:?}");
            assert_eq!(acc.rows(), 1);
        }
    }

    #[test]
    fn set_list_and_distinct() {
        let rows = vec![vec![s("b")], vec![s("a")], vec![s("b")], vec![Value::Null]];
        assert_eq!(run(AggKind::DCount, &rows), l(2));
        assert_eq!(
            run(AggKind::MakeSet, &rows),
            Value::array(vec![s("a"), s("b")])
        );
        let mut spec = AggSpec::new(AggKind::MakeSet);
        spec.limit = 1;
        assert_eq!(
            aggregate_rows(spec, rows.iter().map(|r| r.as_slice())),
            Value::array(vec![s("a")])
        );
        // make_set flattens arrays.
        let arrays = vec![
            vec![Value::array(vec![s("x"), s("y")])],
            vec![Value::array(vec![s("y"), s("z")])],
        ];
        assert_eq!(
            run(AggKind::MakeSet, &arrays),
            Value::array(vec![s("x"), s("y"), s("z")])
        );
        // make_list keeps the order key's order and duplicates.
        let timed = vec![
            vec![s("late"), l(3)],
            vec![s("early"), l(1)],
            vec![s("early"), l(1)],
        ];
        assert_eq!(
            run(AggKind::MakeList, &timed),
            Value::array(vec![s("early"), s("early"), s("late")])
        );
        assert_eq!(run(AggKind::Min, &rows), s("a"));
        assert_eq!(run(AggKind::Max, &rows), s("b"));
    }

    #[test]
    fn conditional_aggregates() {
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        assert_eq!(
            run(
                AggKind::CountIf,
                &[vec![t.clone()], vec![f.clone()], vec![Value::Null]]
            ),
            l(1)
        );
        assert_eq!(
            run(
                AggKind::DCountIf,
                &[
                    vec![s("a"), t.clone()],
                    vec![s("b"), f.clone()],
                    vec![s("a"), t.clone()]
                ]
            ),
            l(1)
        );
        assert_eq!(
            run(AggKind::SumIf, &[vec![l(2), t.clone()], vec![l(5), f]]),
            l(2)
        );
    }

    #[test]
    fn arg_max_take_any_bag_percentile() {
        let rows = vec![vec![l(3), s("c")], vec![l(9), s("z")], vec![l(9), s("a")]];
        assert_eq!(
            run(AggKind::ArgMax, &rows),
            Value::array(vec![l(9), s("a")])
        );
        assert_eq!(
            run(AggKind::ArgMin, &rows),
            Value::array(vec![l(3), s("c")])
        );
        assert_eq!(run(AggKind::TakeAny, &[vec![s("q")], vec![s("p")]]), s("p"));
        let bag = |k: &str, v: i64| Value::object(vec![(k.into(), l(v))]);
        assert_eq!(
            run(
                AggKind::MakeBag,
                &[vec![bag("a", 2)], vec![bag("b", 1)], vec![bag("a", 1)]]
            ),
            Value::object(vec![("a".into(), l(1)), ("b".into(), l(1))])
        );
        let values: Vec<Vec<Value>> = (1..=10).map(|x| vec![l(x)]).collect();
        let mut p = AggSpec::new(AggKind::Percentile);
        p.percentile = 90.0;
        assert_eq!(aggregate_rows(p, values.iter().map(|r| r.as_slice())), l(9));
        p.percentile = 50.0;
        assert_eq!(aggregate_rows(p, values.iter().map(|r| r.as_slice())), l(5));
        // Weighted: 1 counted 3 times, 2 once, 3 six times (10 in all).
        let weighted = [
            vec![l(1), l(3)],
            vec![l(2), l(1)],
            vec![l(3), l(6)],
            vec![l(9), l(0)],
        ];
        let mut w = AggSpec::new(AggKind::PercentileW);
        for (pc, want) in [(30.0, 1), (40.0, 2), (41.0, 3), (100.0, 3)] {
            w.percentile = pc;
            assert_eq!(
                aggregate_rows(w, weighted.iter().map(|r| r.as_slice())),
                l(want),
                "{pc}"
            );
        }
    }

    #[test]
    fn result_types() {
        assert_eq!(AggSpec::new(AggKind::Count).result_type(&[]), Type::Long);
        assert_eq!(
            AggSpec::new(AggKind::Sum).result_type(&[Type::Int]),
            Type::Long
        );
        assert_eq!(
            AggSpec::new(AggKind::Sum).result_type(&[Type::Real]),
            Type::Real
        );
        assert_eq!(
            AggSpec::new(AggKind::Min).result_type(&[Type::DateTime]),
            Type::DateTime
        );
        assert_eq!(
            AggSpec::new(AggKind::MakeSet).result_type(&[Type::String]),
            Type::Dynamic
        );
    }
}
