//! Window functions over a serialized row set ([`Node::Serialize`](crate::plan::Node)):
//! `prev`, `next`, `row_number` and `row_cumsum`. Both engines compute a row's values with
//! [`window_values`], so the functions have one semantics; the batch evaluator over every row
//! at once, the incremental engine over the stretch of rows a tick's changes reach.
//!
//! The order of the rows is the node's sort keys, ties broken by the whole row
//! ([`serial_cmp`]): a total order, so every worker count and both engines agree on it.

use std::cmp::Ordering;

use crate::func::ops::{BinOp, binary, is_true};
use crate::model::{Row, Value};
use crate::plan::{EvalCtx, SortKey, WindowFn};

/// Compares two rows as a serialized row set orders them: by the sort keys' values
/// (`a_keys`, `b_keys`, as `sort` compares them), then by the rows themselves.
pub fn serial_cmp(
    a_keys: &[Value],
    a: &Row,
    b_keys: &[Value],
    b: &Row,
    keys: &[SortKey],
) -> Ordering {
    super::cmp_keys(a_keys, b_keys, keys).then_with(|| a.cmp(b))
}

/// How far the window functions look back (`prev`'s greatest offset) and ahead (`next`'s),
/// and whether one of them accumulates over every earlier row (`row_number`, `row_cumsum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// The most rows a value reads before its own.
    pub back: usize,
    /// The most rows a value reads after its own.
    pub ahead: usize,
    /// True when a value depends on every row before its own.
    pub cumulative: bool,
}

impl Reach {
    /// The reach of `fns` together.
    pub fn of(fns: &[WindowFn]) -> Reach {
        let mut r = Reach::default();
        for f in fns {
            match f {
                WindowFn::Prev { offset, .. } => r.back = r.back.max(*offset),
                WindowFn::Next { offset, .. } => r.ahead = r.ahead.max(*offset),
                WindowFn::RowNumber { .. } | WindowFn::RowCumsum { .. } => r.cumulative = true,
                // A session reads the row before's value and the session's start.
                WindowFn::Session { .. } => {
                    r.cumulative = true;
                    r.back = r.back.max(1);
                }
            }
        }
        r
    }
}

/// The values of `fns` for the rows `rows[from..to]`, where `rows` is a stretch of the
/// serialized row set in order: it must hold every row up to `back` rows before `from` and
/// `ahead` rows after `to` that the set has (see [`Reach`]), and `before` must be the values of
/// the row just before `rows[from]` in the whole set (`None` when `rows[from]` is the set's
/// first row): the running number and sum go on from there.
pub fn window_values(
    fns: &[WindowFn],
    rows: &[&Row],
    from: usize,
    to: usize,
    before: Option<&[Value]>,
    ctx: &EvalCtx,
) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(to.saturating_sub(from));
    for i in from..to.min(rows.len()) {
        let row = rows[i];
        let last: Option<&[Value]> = match out.last() {
            Some(v) => Some(v.as_slice()),
            None => before,
        };
        let values = fns
            .iter()
            .enumerate()
            .map(|(k, f)| match f {
                WindowFn::Prev {
                    expr,
                    offset,
                    default,
                } => match i.checked_sub(*offset) {
                    Some(j) => expr.eval(rows[j], ctx),
                    None => default.clone(),
                },
                WindowFn::Next {
                    expr,
                    offset,
                    default,
                } => match i.checked_add(*offset).and_then(|j| rows.get(j)) {
                    Some(r) => expr.eval(r, ctx),
                    None => default.clone(),
                },
                WindowFn::RowNumber { start, restart } => {
                    let again = restart.as_ref().is_some_and(|r| is_true(&r.eval(row, ctx)));
                    match last.and_then(|l| l.get(k)) {
                        Some(Value::Long(n)) if !again => Value::Long(n.saturating_add(1)),
                        _ => Value::Long(*start),
                    }
                }
                WindowFn::RowCumsum { term, restart } => {
                    let again = restart.as_ref().is_some_and(|r| is_true(&r.eval(row, ctx)));
                    let t = term.eval(row, ctx);
                    match last.and_then(|l| l.get(k)) {
                        Some(sum) if !again && !sum.is_null() => {
                            if t.is_null() {
                                sum.clone()
                            } else {
                                binary(BinOp::Add, sum, &t)
                            }
                        }
                        _ => t,
                    }
                }
                WindowFn::Session {
                    expr,
                    max_from_first,
                    max_between,
                    restart,
                } => {
                    let Value::DateTime(v) = expr.eval(row, ctx) else {
                        return Value::Null;
                    };
                    let again = restart.as_ref().is_some_and(|r| is_true(&r.eval(row, ctx)));
                    let session = match last.and_then(|l| l.get(k)) {
                        Some(Value::DateTime(s)) => Some(*s),
                        _ => None,
                    };
                    let before = match i.checked_sub(1).map(|j| expr.eval(rows[j], ctx)) {
                        Some(Value::DateTime(p)) => Some(p),
                        _ => None,
                    };
                    let goes_on = |start: i64, prev: i64| {
                        v < start.saturating_add(*max_from_first)
                            && v < prev.saturating_add(*max_between)
                    };
                    match (session, before) {
                        (Some(s), Some(p)) if !again && goes_on(s, p) => Value::DateTime(s),
                        _ => Value::DateTime(v),
                    }
                }
            })
            .collect();
        out.push(values);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ScalarExpr;

    fn col(i: usize) -> ScalarExpr {
        ScalarExpr::Column(i)
    }

    #[test]
    fn prev_and_next_read_neighbours_or_the_default() {
        let rows: Vec<Row> = (1..=4).map(|i| vec![Value::Long(i)]).collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let fns = [
            WindowFn::Prev {
                expr: col(0),
                offset: 1,
                default: Value::Null,
            },
            WindowFn::Next {
                expr: col(0),
                offset: 2,
                default: Value::Long(-1),
            },
        ];
        let v = window_values(&fns, &refs, 0, 4, None, &EvalCtx::default());
        assert_eq!(
            v,
            vec![
                vec![Value::Null, Value::Long(3)],
                vec![Value::Long(1), Value::Long(4)],
                vec![Value::Long(2), Value::Long(-1)],
                vec![Value::Long(3), Value::Long(-1)],
            ]
        );
    }

    #[test]
    fn sessions_start_on_long_gaps_long_sessions_nulls_and_restarts() {
        let min = crate::model::TICKS_PER_MINUTE;
        let at = |m: i64| Value::DateTime(m * min);
        // Minutes, with a null and a restart (second column true).
        let input: [(Value, bool); 8] = [
            (at(0), false),
            (at(4), false),  // 4 after: same session
            (at(9), false),  // 5 after its neighbour: a gap of 5 starts a new one
            (at(12), false), // same session as 9
            (at(29), false), // 17 after 12: new
            (Value::Null, false),
            (at(30), false), // after a null: new
            (at(31), true),  // restart: new
        ];
        let rows: Vec<Row> = input
            .iter()
            .map(|(v, r)| vec![v.clone(), Value::Bool(*r)])
            .collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let fns = [WindowFn::Session {
            expr: col(0),
            max_from_first: 20 * min,
            max_between: 5 * min,
            restart: Some(col(1)),
        }];
        let got: Vec<Value> = window_values(&fns, &refs, 0, 8, None, &EvalCtx::default())
            .into_iter()
            .map(|v| v[0].clone())
            .collect();
        assert_eq!(
            got,
            vec![
                at(0),
                at(0),
                at(9),
                at(9),
                at(29),
                Value::Null,
                at(30),
                at(31)
            ]
        );
        // A session lasts less than its longest: 0, 4, 8, …, 20 at 4-minute gaps.
        let rows: Vec<Row> = (0..7)
            .map(|k| vec![at(4 * k), Value::Bool(false)])
            .collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let got: Vec<Value> = window_values(&fns, &refs, 0, 7, None, &EvalCtx::default())
            .into_iter()
            .map(|v| v[0].clone())
            .collect();
        assert_eq!(got, vec![at(0), at(0), at(0), at(0), at(0), at(20), at(20)]);
        // Reach: the row before and the running state.
        let r = Reach::of(&fns);
        assert!(r.cumulative && r.back == 1);
    }

    #[test]
    fn running_values_go_on_from_the_row_before() {
        // Kusto's example: the cumulative sum of the even numbers 2..10 is 2, 6, 12, 20, 30.
        let rows: Vec<Row> = (1..=5).map(|i| vec![Value::Long(2 * i)]).collect();
        let refs: Vec<&Row> = rows.iter().collect();
        let fns = [
            WindowFn::RowCumsum {
                term: col(0),
                restart: None,
            },
            WindowFn::RowNumber {
                start: 7,
                restart: None,
            },
        ];
        let all = window_values(&fns, &refs, 0, 5, None, &EvalCtx::default());
        let sums: Vec<Value> = all.iter().map(|v| v[0].clone()).collect();
        assert_eq!(sums, [2, 6, 12, 20, 30].map(Value::Long).to_vec());
        assert_eq!(all[4][1], Value::Long(11));
        // From the middle, given the values of the row before.
        let tail = window_values(&fns, &refs, 3, 5, Some(&all[2]), &EvalCtx::default());
        assert_eq!(tail, all[3..].to_vec());
    }
}
