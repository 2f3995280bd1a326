//! The typed relational IR that a bound query becomes: [`Program`] (a root [`Plan`] with the
//! shared sub-plans and scalar sub-queries it refers to), [`Plan`] nodes ([`Node`]) with their
//! output schemas, and [`ScalarExpr`], whose [`ScalarExpr::eval`] is the one evaluator of
//! scalar expressions used by every engine.
//!
//! The IR is a plain tree of owned data: it holds no references into the syntax tree and no
//! function pointers (scalar functions are named and looked up in [`crate::func`] when
//! evaluated), so it can be cloned, serialised and rendered to a dataflow.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};

use crate::func::agg::AggSpec;
use crate::func::ops::{self, BinOp};
use crate::model::{self, Column, Row, Type, Value};

/// What a scalar expression needs besides the row: the time `now()` stands for and the values
/// of the program's scalar sub-queries (`toscalar(…)`), by index.
#[derive(Clone, Debug, Default)]
pub struct EvalCtx {
    /// `now()`, in 100 ns ticks since the Unix epoch.
    pub now: i64,
    /// The value of each scalar sub-query of the program ([`Program::scalars`]).
    pub scalars: Vec<Value>,
}

/// A scalar expression over the columns of one input row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScalarExpr {
    /// The input row's column at this index.
    Column(usize),
    /// A constant.
    Literal(Value),
    /// A binary operator (arithmetic, comparison or string operator) from `func::ops`.
    Binary(BinOp, Box<ScalarExpr>, Box<ScalarExpr>),
    /// `not(x)`.
    Not(Box<ScalarExpr>),
    /// `-x`.
    Neg(Box<ScalarExpr>),
    /// `a and b and …` (Kusto's three-valued logic).
    And(Vec<ScalarExpr>),
    /// `a or b or …`.
    Or(Vec<ScalarExpr>),
    /// A scalar function of the `func` registry, by name.
    Call {
        /// The function's registry name.
        name: String,
        /// The arguments.
        args: Vec<ScalarExpr>,
    },
    /// `x in (…)`, `!in`, `in~`, `!in~`; list items that are arrays are flattened.
    In {
        /// The tested value.
        expr: Box<ScalarExpr>,
        /// The items.
        list: Vec<ScalarExpr>,
        /// True for `!in`/`!in~`.
        negated: bool,
        /// True for `in~`/`!in~`.
        ignore_case: bool,
    },
    /// `x has_any (…)` or `has_all`.
    HasAny {
        /// The tested value.
        expr: Box<ScalarExpr>,
        /// The terms.
        list: Vec<ScalarExpr>,
        /// True for `has_all`.
        all: bool,
    },
    /// `x between (lo .. hi)` (inclusive), or `!between`.
    Between {
        /// The tested value.
        expr: Box<ScalarExpr>,
        /// The lower bound.
        lo: Box<ScalarExpr>,
        /// The upper bound.
        hi: Box<ScalarExpr>,
        /// True for `!between`.
        negated: bool,
    },
    /// A dynamic property: `x.key`, `x['key']`; null when missing.
    Member {
        /// The dynamic value.
        expr: Box<ScalarExpr>,
        /// The property name.
        key: String,
    },
    /// A dynamic array element `x[i]` (negative from the end), or a property when the index is
    /// a string; null when missing.
    Index {
        /// The dynamic value.
        expr: Box<ScalarExpr>,
        /// The index.
        index: Box<ScalarExpr>,
    },
    /// `now()`: only in the places the binder allows (temporal bounds, constants folded later).
    Now,
    /// The value of scalar sub-query `i` of the program (`toscalar(…)`).
    Scalar(usize),
    /// A conversion to a type (used when unpacking dynamic arrays into typed columns).
    Cast(Box<ScalarExpr>, Type),
}

impl ScalarExpr {
    /// `Literal(v)`.
    pub fn lit(v: Value) -> ScalarExpr {
        ScalarExpr::Literal(v)
    }

    /// The value of this expression over `row`, as [`ScalarExpr::eval`] computes it, borrowed
    /// from the row or the expression where it is a column or a literal: an operand read this
    /// way is neither copied nor dropped.
    pub fn eval_ref<'a>(&'a self, row: &'a [Value], ctx: &EvalCtx) -> std::borrow::Cow<'a, Value> {
        use std::borrow::Cow;
        match self {
            ScalarExpr::Column(i) => row.get(*i).map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            ScalarExpr::Literal(v) => Cow::Borrowed(v),
            _ => Cow::Owned(self.eval(row, ctx)),
        }
    }

    /// Evaluates the expression over `row` with `ctx`'s `now()` and scalar sub-query values.
    pub fn eval(&self, row: &[Value], ctx: &EvalCtx) -> Value {
        match self {
            ScalarExpr::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            ScalarExpr::Literal(v) => v.clone(),
            ScalarExpr::Binary(op, a, b) => {
                ops::binary(*op, &a.eval_ref(row, ctx), &b.eval_ref(row, ctx))
            }
            ScalarExpr::Not(a) => ops::not(&a.eval_ref(row, ctx)),
            ScalarExpr::Neg(a) => ops::negate(&a.eval_ref(row, ctx)),
            ScalarExpr::And(xs) => {
                let mut acc = Value::Bool(true);
                for x in xs {
                    acc = ops::and(&acc, &x.eval_ref(row, ctx));
                    if acc == Value::Bool(false) {
                        break;
                    }
                }
                acc
            }
            ScalarExpr::Or(xs) => {
                let mut acc = Value::Bool(false);
                for x in xs {
                    acc = ops::or(&acc, &x.eval_ref(row, ctx));
                    if acc == Value::Bool(true) {
                        break;
                    }
                }
                acc
            }
            ScalarExpr::Call { name, args } => match crate::func::callable_fn(name) {
                // Up to four arguments are evaluated onto the stack, not into a new vector.
                Some(f) if args.len() <= 4 => {
                    let mut vals: [Value; 4] = Default::default();
                    for (slot, a) in vals.iter_mut().zip(args) {
                        *slot = a.eval(row, ctx);
                    }
                    (f.eval)(&vals[..args.len()])
                }
                Some(f) => {
                    let vals: Vec<Value> = args.iter().map(|a| a.eval(row, ctx)).collect();
                    (f.eval)(&vals)
                }
                None => Value::Null,
            },
            ScalarExpr::In {
                expr,
                list,
                negated,
                ignore_case,
            } => {
                let x = expr.eval_ref(row, ctx);
                let items: Vec<Value> = list.iter().map(|a| a.eval(row, ctx)).collect();
                let r = ops::in_list(&x, &items, *ignore_case);
                if *negated { ops::not(&r) } else { r }
            }
            ScalarExpr::HasAny { expr, list, all } => {
                let x = expr.eval_ref(row, ctx);
                let items: Vec<Value> = list.iter().map(|a| a.eval(row, ctx)).collect();
                ops::has_any(&x, &items, *all)
            }
            ScalarExpr::Between {
                expr,
                lo,
                hi,
                negated,
            } => {
                let r = ops::between(
                    &expr.eval_ref(row, ctx),
                    &lo.eval_ref(row, ctx),
                    &hi.eval_ref(row, ctx),
                );
                if *negated { ops::not(&r) } else { r }
            }
            ScalarExpr::Member { expr, key } => expr
                .eval_ref(row, ctx)
                .get(key)
                .cloned()
                .unwrap_or(Value::Null),
            ScalarExpr::Index { expr, index } => {
                let v = expr.eval_ref(row, ctx);
                match index.eval(row, ctx) {
                    Value::Long(i) => v.index(i).cloned().unwrap_or(Value::Null),
                    Value::String(k) => v.get(&k).cloned().unwrap_or(Value::Null),
                    _ => Value::Null,
                }
            }
            ScalarExpr::Now => Value::DateTime(ctx.now),
            ScalarExpr::Scalar(i) => ctx.scalars.get(*i).cloned().unwrap_or(Value::Null),
            ScalarExpr::Cast(e, ty) => cast(&e.eval_ref(row, ctx), *ty),
        }
    }

    /// True when the expression (or a part of it) satisfies `pred`.
    pub fn any(&self, pred: &dyn Fn(&ScalarExpr) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        let mut found = false;
        self.for_each_child(&mut |c| found = found || c.any(pred));
        found
    }

    /// Calls `f` on each direct sub-expression.
    pub fn for_each_child(&self, f: &mut dyn FnMut(&ScalarExpr)) {
        match self {
            ScalarExpr::Column(_)
            | ScalarExpr::Literal(_)
            | ScalarExpr::Now
            | ScalarExpr::Scalar(_) => {}
            ScalarExpr::Binary(_, a, b) => {
                f(a);
                f(b);
            }
            ScalarExpr::Not(a) | ScalarExpr::Neg(a) | ScalarExpr::Cast(a, _) => f(a),
            ScalarExpr::And(xs) | ScalarExpr::Or(xs) | ScalarExpr::Call { args: xs, .. } => {
                xs.iter().for_each(f)
            }
            ScalarExpr::In { expr, list, .. } | ScalarExpr::HasAny { expr, list, .. } => {
                f(expr);
                list.iter().for_each(f);
            }
            ScalarExpr::Between { expr, lo, hi, .. } => {
                f(expr);
                f(lo);
                f(hi);
            }
            ScalarExpr::Member { expr, .. } => f(expr),
            ScalarExpr::Index { expr, index } => {
                f(expr);
                f(index);
            }
        }
    }

    /// The expression with every `Column(i)` replaced by `map(i)`.
    pub fn map_columns(&self, map: &dyn Fn(usize) -> ScalarExpr) -> ScalarExpr {
        let m = |e: &ScalarExpr| Box::new(e.map_columns(map));
        let v = |xs: &[ScalarExpr]| xs.iter().map(|x| x.map_columns(map)).collect();
        match self {
            ScalarExpr::Column(i) => map(*i),
            ScalarExpr::Literal(_) | ScalarExpr::Now | ScalarExpr::Scalar(_) => self.clone(),
            ScalarExpr::Binary(op, a, b) => ScalarExpr::Binary(*op, m(a), m(b)),
            ScalarExpr::Not(a) => ScalarExpr::Not(m(a)),
            ScalarExpr::Neg(a) => ScalarExpr::Neg(m(a)),
            ScalarExpr::Cast(a, t) => ScalarExpr::Cast(m(a), *t),
            ScalarExpr::And(xs) => ScalarExpr::And(v(xs)),
            ScalarExpr::Or(xs) => ScalarExpr::Or(v(xs)),
            ScalarExpr::Call { name, args } => ScalarExpr::Call {
                name: name.clone(),
                args: v(args),
            },
            ScalarExpr::In {
                expr,
                list,
                negated,
                ignore_case,
            } => ScalarExpr::In {
                expr: m(expr),
                list: v(list),
                negated: *negated,
                ignore_case: *ignore_case,
            },
            ScalarExpr::HasAny { expr, list, all } => ScalarExpr::HasAny {
                expr: m(expr),
                list: v(list),
                all: *all,
            },
            ScalarExpr::Between {
                expr,
                lo,
                hi,
                negated,
            } => ScalarExpr::Between {
                expr: m(expr),
                lo: m(lo),
                hi: m(hi),
                negated: *negated,
            },
            ScalarExpr::Member { expr, key } => ScalarExpr::Member {
                expr: m(expr),
                key: key.clone(),
            },
            ScalarExpr::Index { expr, index } => ScalarExpr::Index {
                expr: m(expr),
                index: m(index),
            },
        }
    }

    /// True when the expression reads `now()`.
    pub fn uses_now(&self) -> bool {
        self.any(&|e| matches!(e, ScalarExpr::Now))
    }

    /// True when the expression reads a column of its input row.
    pub fn uses_columns(&self) -> bool {
        self.any(&|e| matches!(e, ScalarExpr::Column(_)))
    }

    /// True when the expression reads a scalar sub-query.
    pub fn uses_scalars(&self) -> bool {
        self.any(&|e| matches!(e, ScalarExpr::Scalar(_)))
    }
}

/// Converts `v` to type `ty` with Kusto's conversion functions (dynamic stays as it is).
pub fn cast(v: &Value, ty: Type) -> Value {
    match ty {
        Type::Bool => model::tobool(v),
        Type::Int => model::toint(v),
        Type::Long => model::tolong(v),
        Type::Real => model::toreal(v),
        Type::String => model::tostring(v),
        Type::DateTime => model::todatetime(v),
        Type::TimeSpan => model::totimespan(v),
        Type::Dynamic => v.clone(),
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, xs: &[ScalarExpr], sep: &str| -> fmt::Result {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        };
        match self {
            ScalarExpr::Column(i) => write!(f, "#{i}"),
            ScalarExpr::Literal(v) => match v {
                Value::String(s) => write!(f, "{s:?}"),
                Value::DateTime(t) => write!(f, "datetime({})", model::format_datetime_iso(*t)),
                Value::TimeSpan(t) => write!(f, "timespan({})", model::format_timespan(*t)),
                Value::Null => f.write_str("null"),
                other => f.write_str(&model::to_json_text(other)),
            },
            ScalarExpr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            ScalarExpr::Not(a) => write!(f, "not({a})"),
            ScalarExpr::Neg(a) => write!(f, "-({a})"),
            ScalarExpr::And(xs) => {
                f.write_str("(")?;
                list(f, xs, " and ")?;
                f.write_str(")")
            }
            ScalarExpr::Or(xs) => {
                f.write_str("(")?;
                list(f, xs, " or ")?;
                f.write_str(")")
            }
            ScalarExpr::Call { name, args } => {
                write!(f, "{name}(")?;
                list(f, args, ", ")?;
                f.write_str(")")
            }
            ScalarExpr::In {
                expr,
                list: items,
                negated,
                ignore_case,
            } => {
                let op = match (negated, ignore_case) {
                    (false, false) => "in",
                    (true, false) => "!in",
                    (false, true) => "in~",
                    (true, true) => "!in~",
                };
                write!(f, "{expr} {op} (")?;
                list(f, items, ", ")?;
                f.write_str(")")
            }
            ScalarExpr::HasAny {
                expr,
                list: items,
                all,
            } => {
                write!(f, "{expr} {} (", if *all { "has_all" } else { "has_any" })?;
                list(f, items, ", ")?;
                f.write_str(")")
            }
            ScalarExpr::Between {
                expr,
                lo,
                hi,
                negated,
            } => write!(
                f,
                "{expr} {}between ({lo} .. {hi})",
                if *negated { "!" } else { "" }
            ),
            ScalarExpr::Member { expr, key } => write!(f, "{expr}[{key:?}]"),
            ScalarExpr::Index { expr, index } => write!(f, "{expr}[{index}]"),
            ScalarExpr::Now => f.write_str("now()"),
            ScalarExpr::Scalar(i) => write!(f, "scalar#{i}"),
            ScalarExpr::Cast(e, t) => write!(f, "to{t}({e})"),
        }
    }
}

/// The kinds of join (see SEMANTICS "Joins and unions"): the syntax tree's own, which the IR
/// keeps as it is.
pub use crate::kql::JoinKind;

/// A comparison in a temporal bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl BoundOp {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BoundOp::Lt => "<",
            BoundOp::Le => "<=",
            BoundOp::Gt => ">",
            BoundOp::Ge => ">=",
        }
    }

    /// The operator with its sides swapped (`a < b` is `b > a`).
    pub fn flip(self) -> BoundOp {
        match self {
            BoundOp::Lt => BoundOp::Gt,
            BoundOp::Le => BoundOp::Ge,
            BoundOp::Gt => BoundOp::Lt,
            BoundOp::Ge => BoundOp::Le,
        }
    }
}

/// A temporal filter conjunct: `row[column] op now() + offset_ticks`. A record whose column
/// holds time t is present for the ticks where this holds (see SEMANTICS "Temporal filters").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporalBound {
    /// The datetime column compared with now(): TimeGenerated (or a column that passes it
    /// through unchanged), or another datetime column such as an indicator's ValidUntil.
    pub column: usize,
    /// The comparison.
    pub op: BoundOp,
    /// The offset from `now()` in 100 ns ticks (negative for `ago(x)`).
    pub offset_ticks: i64,
    /// 0, or the multiple `now() + offset` is floored to: a day for
    /// `startofday(ago(7d))`, so that the bound moves by whole days.
    #[serde(default)]
    pub align: i64,
}

impl TemporalBound {
    /// True when a row whose column holds `value` passes the bound at `now`.
    pub fn holds(&self, value: &Value, now: i64) -> bool {
        let Value::DateTime(t) = value else {
            return false;
        };
        let mut rhs = now.saturating_add(self.offset_ticks);
        if self.align > 0 {
            rhs = rhs.div_euclid(self.align).saturating_mul(self.align);
        }
        match self.op {
            BoundOp::Lt => *t < rhs,
            BoundOp::Le => *t <= rhs,
            BoundOp::Gt => *t > rhs,
            BoundOp::Ge => *t >= rhs,
        }
    }
}

/// One aggregate of a [`Node::Reduce`]: the aggregate with its constant parameters, and the
/// argument expressions over the input row (in the argument convention of its `AggKind`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggCall {
    /// The aggregate.
    pub spec: AggSpec,
    /// Its arguments, evaluated per input row.
    pub args: Vec<ScalarExpr>,
}

/// The axis of a [`Node::MakeSeries`]: which bins the rows fall in and which bins the arrays
/// hold. Axis values are integers: ticks for datetimes and timespans, the value for longs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesAxis {
    /// The axis expression over the input row.
    pub expr: ScalarExpr,
    /// The axis type: datetime, timespan or long (the type of the output axis array's items).
    pub ty: Type,
    /// The bin size (positive).
    pub step: i64,
    /// The first bin (`from`), when given: bins are `start + k·step` (Kusto's `bin_at`). Without
    /// it the bins are `bin(axis, step)` and the arrays start at the least bin with data.
    pub start: Option<i64>,
    /// The exclusive upper bound of the axis (`to`), when given: the arrays hold the bins that
    /// start before it. Without it they end with the greatest bin with data.
    pub end: Option<i64>,
    /// A `from` that moves with now() (`startofday(ago(14d))`), in place of `start`.
    #[serde(default)]
    pub start_now: Option<NowBound>,
    /// A `to` that moves with now() (`startofday(now())`, `ago(1d)`), in place of `end`.
    #[serde(default)]
    pub end_now: Option<NowBound>,
}

/// A datetime that moves with now(): `now() + offset`, floored to a multiple of `align` when
/// it is not 0 (a day for `startofday(ago(14d))`, so that it moves by whole days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowBound {
    /// The offset from now(), in 100 ns ticks (negative for `ago(x)`).
    pub offset: i64,
    /// 0, or what `now() + offset` is floored to a multiple of.
    pub align: i64,
}

impl NowBound {
    /// Its value when now() is `now`.
    pub fn at(&self, now: i64) -> i64 {
        let t = now.saturating_add(self.offset);
        if self.align > 0 {
            t.div_euclid(self.align).saturating_mul(self.align)
        } else {
            t
        }
    }

    /// The least now() after `now` at which [`NowBound::at`] is greater, when it moves in
    /// steps (`align` not 0).
    pub fn next_step(&self, now: i64) -> Option<i64> {
        (self.align > 0).then(|| {
            let t = now.saturating_add(self.offset);
            (t.div_euclid(self.align).saturating_add(1))
                .saturating_mul(self.align)
                .saturating_sub(self.offset)
        })
    }
}

impl SeriesAxis {
    /// True when a bound moves with now().
    pub fn moves(&self) -> bool {
        self.start_now.is_some() || self.end_now.is_some()
    }

    /// True when both `from` and `to` are given (constant or moving with now()): the arrays'
    /// bins do not depend on the data.
    pub fn bounded(&self) -> bool {
        (self.start.is_some() || self.start_now.is_some())
            && (self.end.is_some() || self.end_now.is_some())
    }

    /// True when `b`, a bound that moves with now(), stays on the grid of this axis's bins (it
    /// moves by whole days, the step divides a day, and the bins are counted from midnight or
    /// from a constant `from` on midnight's grid): as it moves, no row changes bin.
    pub fn keeps_grid(&self, b: NowBound) -> bool {
        let step = self.step.max(1);
        let anchor = match (self.start_now, self.start) {
            (None, Some(s)) => s,
            _ => -crate::model::DOTNET_EPOCH_TICKS,
        };
        b.align > 0
            && b.align % step == 0
            && (i128::from(anchor) + i128::from(crate::model::DOTNET_EPOCH_TICKS))
                % i128::from(step)
                == 0
    }

    /// Why this axis's bounds that move with now() cannot be maintained incrementally, if
    /// they cannot: both bounds must be given; a moving `from` must keep the bins' grid (see
    /// [`SeriesAxis::keeps_grid`]); a moving `to` off the grid needs an axis that is a column
    /// (its rows are left out by a temporal filter); `kind=nonempty` without keys is not.
    pub fn moving_unsupported(&self, nonempty_without_keys: bool) -> Option<&'static str> {
        if !self.moves() {
            return None;
        }
        if !self.bounded() {
            return Some(
                "a make-series with a bound relative to now() and the other left to the data",
            );
        }
        if nonempty_without_keys {
            return Some("make-series kind=nonempty without keys and a bound relative to now()");
        }
        if self.start_now.is_some_and(|s| !self.keeps_grid(s)) {
            return Some(
                "a make-series start relative to now() cannot be maintained incrementally unless it moves by whole bins (every tick would move the bins): use startofday(ago(…)) with a step that divides a day",
            );
        }
        if self.end_now.is_some_and(|e| !self.keeps_grid(e))
            && !matches!(self.expr, ScalarExpr::Column(_))
        {
            return Some(
                "a make-series end relative to now() off the bins' grid, on an axis that is not a column",
            );
        }
        None
    }

    /// The axis when now() is `now`: bounds that move with now() fixed at their value then.
    pub fn at(&self, now: i64) -> SeriesAxis {
        SeriesAxis {
            start: self.start_now.map(|b| b.at(now)).or(self.start),
            end: self.end_now.map(|b| b.at(now)).or(self.end),
            start_now: None,
            end_now: None,
            ..self.clone()
        }
    }

    /// The point bins are counted from: `start`, else the alignment of `bin()` (datetimes bin
    /// from 0001-01-01, as Kusto's do).
    pub fn anchor(&self) -> i64 {
        match (self.start, self.ty) {
            (Some(s), _) => s,
            (None, Type::DateTime) => -crate::model::DOTNET_EPOCH_TICKS,
            (None, _) => 0,
        }
    }

    /// The bin of axis value `v`, or `None` when `v` is outside `[start, end)`.
    pub fn bin_of(&self, v: i64) -> Option<i64> {
        if self.start.is_some_and(|s| v < s) || self.end.is_some_and(|e| v >= e) {
            return None;
        }
        let a = self.anchor();
        let k = (i128::from(v) - i128::from(a)).div_euclid(i128::from(self.step.max(1)));
        i64::try_from(i128::from(a) + k * i128::from(self.step.max(1))).ok()
    }

    /// The axis value of a row as an integer, `None` when it is null or of another type.
    pub fn value_of(&self, v: &Value) -> Option<i64> {
        match (v, self.ty) {
            (Value::DateTime(t), Type::DateTime) | (Value::TimeSpan(t), Type::TimeSpan) => Some(*t),
            (Value::Long(x), Type::Long | Type::Int) => Some(*x),
            _ => None,
        }
    }

    /// An axis integer as a value of the axis type.
    pub fn value(&self, x: i64) -> Value {
        match self.ty {
            Type::DateTime => Value::DateTime(x),
            Type::TimeSpan => Value::TimeSpan(x),
            _ => Value::Long(x),
        }
    }
}

/// A sort key of a presentation node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SortKey {
    /// The sorted expression over the input row.
    pub expr: ScalarExpr,
    /// Descending order (Kusto's default).
    pub descending: bool,
    /// Nulls first (Kusto's default: first for ascending, last for descending).
    pub nulls_first: bool,
}

/// A window function of a [`Node::Serialize`]: a value per row computed from the rows around
/// it in the serialized order (Kusto's `prev`, `next`, `row_number` and `row_cumsum`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WindowFn {
    /// `prev(expr, offset, default)`: `expr` over the row `offset` rows before, or `default`
    /// when there is none.
    Prev {
        /// The expression read on the earlier row.
        expr: ScalarExpr,
        /// How many rows back (at least 0).
        offset: usize,
        /// The value when there is no such row.
        default: Value,
    },
    /// `next(expr, offset, default)`: `expr` over the row `offset` rows after, or `default`
    /// when there is none.
    Next {
        /// The expression read on the later row.
        expr: ScalarExpr,
        /// How many rows ahead (at least 0).
        offset: usize,
        /// The value when there is no such row.
        default: Value,
    },
    /// `row_number(start, restart)`: `start` on the first row and on every row where
    /// `restart` is true, else the row before's number plus one.
    RowNumber {
        /// The first number.
        start: i64,
        /// When true on a row, numbering starts again there.
        restart: Option<ScalarExpr>,
    },
    /// `row_cumsum(term, restart)`: the sum of `term` over the rows from the first row, or
    /// from the last row where `restart` is true, up to this one (a null term adds nothing).
    RowCumsum {
        /// The summed expression.
        term: ScalarExpr,
        /// When true on a row, the sum starts again there.
        restart: Option<ScalarExpr>,
    },
    /// `row_window_session(expr, max_from_first, max_between, restart)`: the value of `expr`
    /// (a datetime) on the first row of the row's session. A row starts a session when there
    /// is no session before it (or its value was null), when its value is at least the
    /// session's first plus `max_from_first`, or at least the row before's plus
    /// `max_between`, or when `restart` is true; a null value gives null and the next row
    /// starts a session.
    Session {
        /// The datetime expression.
        expr: ScalarExpr,
        /// The longest a session lasts from its first value, in 100 ns ticks.
        max_from_first: i64,
        /// The longest gap between neighbouring values within a session.
        max_between: i64,
        /// When true on a row, a session starts there.
        restart: Option<ScalarExpr>,
    },
}

impl WindowFn {
    /// The expressions the function reads on rows.
    pub fn exprs(&self) -> Vec<&ScalarExpr> {
        match self {
            WindowFn::Prev { expr, .. } | WindowFn::Next { expr, .. } => vec![expr],
            WindowFn::RowNumber { restart, .. } => restart.iter().collect(),
            WindowFn::RowCumsum { term, restart } => {
                std::iter::once(term).chain(restart.iter()).collect()
            }
            WindowFn::Session { expr, restart, .. } => {
                std::iter::once(expr).chain(restart.iter()).collect()
            }
        }
    }
}

impl WindowFn {
    /// The function with `f` applied to each expression it reads on rows.
    pub fn map_exprs(&self, f: &dyn Fn(&ScalarExpr) -> ScalarExpr) -> WindowFn {
        match self {
            WindowFn::Prev {
                expr,
                offset,
                default,
            } => WindowFn::Prev {
                expr: f(expr),
                offset: *offset,
                default: default.clone(),
            },
            WindowFn::Next {
                expr,
                offset,
                default,
            } => WindowFn::Next {
                expr: f(expr),
                offset: *offset,
                default: default.clone(),
            },
            WindowFn::RowNumber { start, restart } => WindowFn::RowNumber {
                start: *start,
                restart: restart.as_ref().map(f),
            },
            WindowFn::RowCumsum { term, restart } => WindowFn::RowCumsum {
                term: f(term),
                restart: restart.as_ref().map(f),
            },
            WindowFn::Session {
                expr,
                max_from_first,
                max_between,
                restart,
            } => WindowFn::Session {
                expr: f(expr),
                max_from_first: *max_from_first,
                max_between: *max_between,
                restart: restart.as_ref().map(f),
            },
        }
    }
}

impl fmt::Display for WindowFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let restart = |r: &Option<ScalarExpr>| match r {
            Some(r) => format!(", {r}"),
            None => String::new(),
        };
        match self {
            WindowFn::Prev {
                expr,
                offset,
                default,
            } => write!(
                f,
                "prev({expr}, {offset}, {})",
                ScalarExpr::Literal(default.clone())
            ),
            WindowFn::Next {
                expr,
                offset,
                default,
            } => write!(
                f,
                "next({expr}, {offset}, {})",
                ScalarExpr::Literal(default.clone())
            ),
            WindowFn::RowNumber { start, restart: r } => {
                write!(f, "row_number({start}{})", restart(r))
            }
            WindowFn::RowCumsum { term, restart: r } => {
                write!(f, "row_cumsum({term}{})", restart(r))
            }
            WindowFn::Session {
                expr,
                max_from_first,
                max_between,
                restart: r,
            } => write!(
                f,
                "row_window_session({expr}, {}, {}{})",
                Value::TimeSpan(*max_from_first),
                Value::TimeSpan(*max_between),
                restart(r)
            ),
        }
    }
}

/// One input of a [`Node::Union`]: the plan and, for each output column, the input column it
/// comes from (`None`: filled with null, or the empty string for a string column).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnionInput {
    /// The input.
    pub plan: Plan,
    /// Per output column, the input column (or none).
    pub columns: Vec<Option<usize>>,
    /// The name written in the `withsource` column for rows of this input.
    pub source: String,
}

/// One expanded expression of `mv-expand` or `mv-apply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpandItem {
    /// The expanded value over the input row (an array; anything else counts as one item).
    pub expr: ScalarExpr,
    /// The type each element is converted to (`to typeof(T)`), else dynamic.
    pub ty: Option<Type>,
}

/// A plan node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// A table's records. The plan's schema is the table's; `columns` are those the query reads.
    Scan {
        /// The table name.
        table: String,
        /// The positions (in the table schema) of the columns the query reads.
        columns: Vec<usize>,
    },
    /// A watchlist's rows (all string columns).
    Watchlist {
        /// The watchlist's name.
        name: String,
    },
    /// Constant rows (`datatable`, `print`).
    Constant {
        /// The rows.
        rows: Vec<Row>,
    },
    /// Rows for which `predicate` is true and every temporal bound holds.
    Filter {
        /// The input.
        input: Box<Plan>,
        /// The non-temporal conjuncts (a `true` literal when there are none).
        predicate: ScalarExpr,
        /// The temporal conjuncts.
        temporal: Vec<TemporalBound>,
    },
    /// One output row per input row: the expressions' values.
    Map {
        /// The input.
        input: Box<Plan>,
        /// One expression per output column.
        exprs: Vec<ScalarExpr>,
    },
    /// Groups by the key expressions and computes the aggregates: output is keys then
    /// aggregates. With no keys there is exactly one output row.
    Reduce {
        /// The input.
        input: Box<Plan>,
        /// The group keys.
        keys: Vec<ScalarExpr>,
        /// The aggregates.
        aggs: Vec<AggCall>,
    },
    /// `make-series`: groups by the key expressions and, within a group, by the bin of the
    /// axis; output is keys, then each aggregate as an array over the bins (missing bins hold
    /// the aggregate's default), then the array of bin starts. All rows' arrays cover the
    /// same bins. Rows whose axis is null or out of range are left out; a group with no row
    /// left has no output row.
    MakeSeries {
        /// The input.
        input: Box<Plan>,
        /// The group keys.
        keys: Vec<ScalarExpr>,
        /// The aggregates.
        aggs: Vec<AggCall>,
        /// Per aggregate, the value of a bin with no rows.
        defaults: Vec<Value>,
        /// The axis.
        axis: Box<SeriesAxis>,
        /// `kind=nonempty` with no keys: one row of default values over no input.
        nonempty: bool,
    },
    /// An equi-join.
    Join {
        /// The join kind (innerunique keeps, per key, the least left row).
        kind: JoinKind,
        /// The left input.
        left: Box<Plan>,
        /// The right input.
        right: Box<Plan>,
        /// Key columns of the left input.
        left_keys: Vec<usize>,
        /// Key columns of the right input (same length).
        right_keys: Vec<usize>,
        /// Right columns in the output (after the left columns), for kinds that keep both
        /// sides; for lookup the right key columns are left out.
        right_output: Vec<usize>,
    },
    /// Rows of every input, columns matched by name.
    Union {
        /// The inputs.
        inputs: Vec<UnionInput>,
        /// True when the first output column is `withsource`'s.
        with_source: bool,
    },
    /// One row per element of the expanded arrays (zipped when several), each element
    /// replacing its column.
    MvExpand {
        /// The input.
        input: Box<Plan>,
        /// The expanded columns and their element types.
        columns: Vec<(usize, Option<Type>)>,
        /// At most this many rows per input row.
        limit: Option<usize>,
    },
    /// For each input row: its items are expanded (as `mv-expand` does) into rows of the input
    /// row's columns plus the items, `sub` runs over those rows ([`Node::ApplyRows`]), and each
    /// result row is output after the input columns `keep`.
    MvApply {
        /// The input.
        input: Box<Plan>,
        /// The expanded expressions.
        items: Vec<ExpandItem>,
        /// Where each item goes in the sub-plan's input row (a replaced input column, or an
        /// appended one).
        item_columns: Vec<usize>,
        /// Width of the sub-plan's input row.
        apply_width: usize,
        /// Input columns output before the sub-plan's columns.
        keep: Vec<usize>,
        /// At most this many items per row.
        limit: Option<usize>,
        /// The sub-plan.
        sub: Box<Plan>,
    },
    /// Inside an [`Node::MvApply`] sub-plan: the expanded rows of the current input row.
    ApplyRows,
    /// Distinct rows.
    Distinct {
        /// The input.
        input: Box<Plan>,
    },
    /// Presentation: rows in this order.
    Sort {
        /// The input.
        input: Box<Plan>,
        /// The keys.
        keys: Vec<SortKey>,
    },
    /// Presentation: the first `count` rows (by `keys` when given, else in the input's order).
    Take {
        /// The input.
        input: Box<Plan>,
        /// How many rows.
        count: usize,
        /// `top`'s sort keys (empty for `take`).
        keys: Vec<SortKey>,
    },
    /// A serialized row set with window functions: the input rows in the order of `order`
    /// (ties broken by the whole row, so that the order is total), each followed by the values
    /// of `columns` (`prev`, `next`, `row_number`, `row_cumsum`). With no columns it marks
    /// where `serialize` made the rows ordered and passes them through.
    Serialize {
        /// The input.
        input: Box<Plan>,
        /// The order of the rows (empty: the rows' own order).
        order: Vec<SortKey>,
        /// The window functions, one output column each after the input's columns.
        columns: Vec<WindowFn>,
    },
    /// The program's shared sub-plan with this index (a `let` or `materialize`), computed once.
    Shared(usize),
}

/// A plan node with its output schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The node.
    pub node: Node,
    /// The output columns.
    pub schema: Vec<Column>,
    /// The output column that is the input's TimeGenerated passed through unchanged, if any.
    pub event_time: Option<usize>,
}

impl Plan {
    /// A filter over `input`: its rows for which `predicate` is true and every temporal bound
    /// holds, with `input`'s schema and event-time column.
    pub fn filter(input: Plan, predicate: ScalarExpr, temporal: Vec<TemporalBound>) -> Plan {
        let schema = input.schema.clone();
        let event_time = input.event_time;
        Plan {
            node: Node::Filter {
                input: Box::new(input),
                predicate,
                temporal,
            },
            schema,
            event_time,
        }
    }

    /// The position of the column named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.schema.iter().position(|c| &*c.name == name)
    }

    /// The direct inputs of the node.
    pub fn inputs(&self) -> Vec<&Plan> {
        match &self.node {
            Node::Scan { .. }
            | Node::Watchlist { .. }
            | Node::Constant { .. }
            | Node::ApplyRows
            | Node::Shared(_) => vec![],
            Node::Filter { input, .. }
            | Node::Map { input, .. }
            | Node::Reduce { input, .. }
            | Node::MakeSeries { input, .. }
            | Node::MvExpand { input, .. }
            | Node::Distinct { input }
            | Node::Sort { input, .. }
            | Node::Serialize { input, .. }
            | Node::Take { input, .. } => vec![input],
            Node::MvApply { input, sub, .. } => vec![input, sub],
            Node::Join { left, right, .. } => vec![left, right],
            Node::Union { inputs, .. } => inputs.iter().map(|i| &i.plan).collect(),
        }
    }

    /// The direct inputs of the node, to change.
    pub fn inputs_mut(&mut self) -> Vec<&mut Plan> {
        match &mut self.node {
            Node::Scan { .. }
            | Node::Watchlist { .. }
            | Node::Constant { .. }
            | Node::ApplyRows
            | Node::Shared(_) => vec![],
            Node::Filter { input, .. }
            | Node::Map { input, .. }
            | Node::Reduce { input, .. }
            | Node::MakeSeries { input, .. }
            | Node::MvExpand { input, .. }
            | Node::Distinct { input }
            | Node::Sort { input, .. }
            | Node::Serialize { input, .. }
            | Node::Take { input, .. } => vec![input],
            Node::MvApply { input, sub, .. } => vec![input, sub],
            Node::Join { left, right, .. } => vec![left, right],
            Node::Union { inputs, .. } => inputs.iter_mut().map(|i| &mut i.plan).collect(),
        }
    }

    /// The tables this plan scans (with those of the shared plans it refers to, given them).
    pub fn tables(&self, shared: &[Plan], out: &mut Vec<String>) {
        match &self.node {
            Node::Scan { table, .. } if !out.contains(table) => out.push(table.clone()),
            Node::Shared(i) => {
                if let Some(p) = shared.get(*i) {
                    p.tables(shared, out);
                }
            }
            _ => {}
        }
        for i in self.inputs() {
            i.tables(shared, out);
        }
    }
}

/// A bound query: the root plan, the shared sub-plans ([`Node::Shared`]) and the scalar
/// sub-queries ([`ScalarExpr::Scalar`]: the first column of the single row of each plan).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The query's result.
    pub root: Plan,
    /// Shared sub-plans; a shared plan refers only to shared plans of lower index.
    pub shared: Vec<Plan>,
    /// Scalar sub-queries; each may refer to shared plans and earlier scalars.
    pub scalars: Vec<Plan>,
    /// Things worth telling the user (an open watchlist, an operand skipped by `isfuzzy`).
    pub notes: Vec<String>,
    /// Things in the query that are likely mistakes, at their place in the query text.
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// A likely mistake in a query that does not stop it from running: a byte range of the query
/// text and what is wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// The first byte of the range.
    pub start: usize,
    /// The byte after the range.
    pub end: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl Program {
    /// The output columns of the query.
    pub fn schema(&self) -> &[Column] {
        &self.root.schema
    }

    /// The plan as an indented tree: each node with its schema and temporal bounds, shared
    /// plans and scalar sub-queries first.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.shared.iter().enumerate() {
            let _ = writeln!(out, "shared #{i}:");
            write_plan(p, 1, &mut out);
        }
        for (i, p) in self.scalars.iter().enumerate() {
            let _ = writeln!(out, "scalar #{i}:");
            write_plan(p, 1, &mut out);
        }
        let _ = writeln!(out, "result:");
        write_plan(&self.root, 1, &mut out);
        out
    }
}

fn schema_text(cols: &[Column]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| format!("{}:{}", c.name, c.ty))
        .collect();
    format!("({})", parts.join(", "))
}

fn keys_text(keys: &[SortKey]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.expr, if k.descending { "desc" } else { "asc" }))
        .collect();
    parts.join(", ")
}

fn write_plan(p: &Plan, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let head = match &p.node {
        Node::Scan { table, columns } => {
            let names: Vec<&str> = columns
                .iter()
                .filter_map(|i| p.schema.get(*i).map(|c| &*c.name))
                .collect();
            format!("Scan {table} reading [{}]", names.join(", "))
        }
        Node::Watchlist { name } => format!("Watchlist {name}"),
        Node::Constant { rows } => format!("Constant {} rows", rows.len()),
        Node::Filter {
            predicate,
            temporal,
            ..
        } => {
            let mut s = format!("Filter {predicate}");
            for b in temporal {
                let bound = format!(
                    "now(){}{}",
                    if b.offset_ticks < 0 { " - " } else { " + " },
                    model::format_timespan(b.offset_ticks.saturating_abs())
                );
                let bound = if b.align > 0 {
                    format!("floor({bound}, {})", model::format_timespan(b.align))
                } else {
                    bound
                };
                let _ = write!(s, " [temporal #{} {} {bound}]", b.column, b.op.symbol());
            }
            s
        }
        Node::Map { exprs, .. } => {
            let parts: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
            format!("Map [{}]", parts.join(", "))
        }
        Node::Reduce { keys, aggs, .. } => {
            let k: Vec<String> = keys.iter().map(|e| e.to_string()).collect();
            let a: Vec<String> = aggs
                .iter()
                .map(|a| {
                    let args: Vec<String> = a.args.iter().map(|e| e.to_string()).collect();
                    format!("{:?}({})", a.spec.kind, args.join(", "))
                })
                .collect();
            format!("Reduce by [{}] aggs [{}]", k.join(", "), a.join(", "))
        }
        Node::MakeSeries {
            keys, aggs, axis, ..
        } => {
            let k: Vec<String> = keys.iter().map(|e| e.to_string()).collect();
            let a: Vec<String> = aggs
                .iter()
                .map(|a| {
                    let args: Vec<String> = a.args.iter().map(|e| e.to_string()).collect();
                    format!("{:?}({})", a.spec.kind, args.join(", "))
                })
                .collect();
            let bound = |b: Option<i64>, moving: Option<NowBound>| match (b, moving) {
                (_, Some(m)) if m.align > 0 => format!(
                    "floor(now() + {}, {})",
                    Value::TimeSpan(m.offset),
                    Value::TimeSpan(m.align)
                ),
                (_, Some(m)) => format!("now() + {}", Value::TimeSpan(m.offset)),
                (Some(x), None) => axis.value(x).to_string(),
                (None, None) => "data".to_string(),
            };
            format!(
                "MakeSeries by [{}] aggs [{}] on {} from {} to {} step {}",
                k.join(", "),
                a.join(", "),
                axis.expr,
                bound(axis.start, axis.start_now),
                bound(axis.end, axis.end_now),
                match axis.ty {
                    Type::DateTime | Type::TimeSpan => Value::TimeSpan(axis.step).to_string(),
                    _ => axis.step.to_string(),
                }
            )
        }
        Node::Join {
            kind,
            left_keys,
            right_keys,
            ..
        } => format!(
            "Join {} on left {:?} = right {:?}",
            kind.as_str(),
            left_keys,
            right_keys
        ),
        Node::Union {
            inputs,
            with_source,
        } => format!(
            "Union of {}{}",
            inputs.len(),
            if *with_source { " withsource" } else { "" }
        ),
        Node::MvExpand { columns, limit, .. } => {
            format!("MvExpand {columns:?} limit {limit:?}")
        }
        Node::MvApply { items, keep, .. } => {
            let parts: Vec<String> = items.iter().map(|i| i.expr.to_string()).collect();
            format!("MvApply [{}] keep {keep:?}", parts.join(", "))
        }
        Node::ApplyRows => "ApplyRows".to_string(),
        Node::Distinct { .. } => "Distinct".to_string(),
        Node::Sort { keys, .. } => format!("Sort by {}", keys_text(keys)),
        Node::Serialize { order, columns, .. } => {
            let parts: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            format!(
                "Serialize by [{}] with [{}]",
                keys_text(order),
                parts.join(", ")
            )
        }
        Node::Take { count, keys, .. } if keys.is_empty() => format!("Take {count}"),
        Node::Take { count, keys, .. } => format!("Top {count} by {}", keys_text(keys)),
        Node::Shared(i) => format!("Shared #{i}"),
    };
    let same = p
        .inputs()
        .first()
        .is_some_and(|i| i.schema == p.schema && !matches!(p.node, Node::MvApply { .. }));
    if same {
        let _ = writeln!(out, "{pad}{head}");
    } else if matches!(p.node, Node::Scan { .. }) {
        let _ = writeln!(out, "{pad}{head} -> ({} columns)", p.schema.len());
    } else {
        let _ = writeln!(out, "{pad}{head} -> {}", schema_text(&p.schema));
    }
    if let Node::Union { inputs, .. } = &p.node {
        for i in inputs {
            write_plan(&i.plan, depth + 1, out);
        }
        return;
    }
    for i in p.inputs() {
        write_plan(i, depth + 1, out);
    }
}

fn expr_columns(e: &ScalarExpr, out: &mut std::collections::BTreeSet<usize>) {
    if let ScalarExpr::Column(i) = e {
        out.insert(*i);
    }
    e.for_each_child(&mut |c| expr_columns(c, out));
}

type Needs = std::collections::BTreeSet<usize>;

/// Column needs gathered over a program: per table, per shared plan.
struct NeedWalk {
    tables: std::collections::HashMap<String, Needs>,
    shared: Vec<Needs>,
    shared_seen: Vec<bool>,
}

impl NeedWalk {
    /// Walks `p` given the output columns needed; returns the columns of the enclosing
    /// `mv-apply`'s rows ([`Node::ApplyRows`]) that were needed.
    fn walk(&mut self, p: &Plan, needed: &Needs) -> Needs {
        let all = |p: &Plan| -> Needs { (0..p.schema.len()).collect() };
        let mut apply = Needs::new();
        let merge = |a: Needs, apply: &mut Needs| apply.extend(a);
        match &p.node {
            Node::Scan { table, .. } => {
                self.tables
                    .entry(table.clone())
                    .or_default()
                    .extend(needed.iter().copied());
            }
            Node::Watchlist { .. } | Node::Constant { .. } => {}
            Node::ApplyRows => apply.extend(needed.iter().copied()),
            Node::Shared(i) => {
                if let Some(s) = self.shared.get_mut(*i) {
                    s.extend(needed.iter().copied());
                }
                if let Some(seen) = self.shared_seen.get_mut(*i) {
                    *seen = true;
                }
            }
            Node::Filter {
                input,
                predicate,
                temporal,
            } => {
                let mut n = needed.clone();
                expr_columns(predicate, &mut n);
                n.extend(temporal.iter().map(|b| b.column));
                merge(self.walk(input, &n), &mut apply);
            }
            Node::Map { input, exprs } => {
                let mut n = Needs::new();
                for i in needed {
                    if let Some(e) = exprs.get(*i) {
                        expr_columns(e, &mut n);
                    }
                }
                merge(self.walk(input, &n), &mut apply);
            }
            Node::Reduce { input, keys, aggs }
            | Node::MakeSeries {
                input, keys, aggs, ..
            } => {
                let mut n = Needs::new();
                if let Node::MakeSeries { axis, .. } = &p.node {
                    expr_columns(&axis.expr, &mut n);
                }
                keys.iter().for_each(|k| expr_columns(k, &mut n));
                aggs.iter()
                    .flat_map(|a| a.args.iter())
                    .for_each(|e| expr_columns(e, &mut n));
                merge(self.walk(input, &n), &mut apply);
            }
            Node::Join {
                kind,
                left,
                right,
                left_keys,
                right_keys,
                right_output,
            } => {
                let nl = left.schema.len();
                let (mut ln, mut rn) = if kind.left_only() {
                    (needed.clone(), Needs::new())
                } else if kind.right_only() {
                    (Needs::new(), needed.clone())
                } else {
                    let ln = needed.iter().copied().filter(|i| *i < nl).collect();
                    let rn = needed
                        .iter()
                        .filter(|i| **i >= nl)
                        .filter_map(|i| right_output.get(i - nl).copied())
                        .collect();
                    (ln, rn)
                };
                if *kind == JoinKind::InnerUnique {
                    ln = all(left);
                }
                ln.extend(left_keys.iter().copied());
                rn.extend(right_keys.iter().copied());
                merge(self.walk(left, &ln), &mut apply);
                merge(self.walk(right, &rn), &mut apply);
            }
            Node::Union { inputs, .. } => {
                for i in inputs {
                    let n = needed
                        .iter()
                        .filter_map(|o| i.columns.get(*o).copied().flatten())
                        .collect();
                    merge(self.walk(&i.plan, &n), &mut apply);
                }
            }
            Node::MvExpand { input, columns, .. } => {
                let mut n = needed.clone();
                n.extend(columns.iter().map(|c| c.0));
                merge(self.walk(input, &n), &mut apply);
            }
            Node::MvApply {
                input,
                items,
                item_columns,
                keep,
                sub,
                ..
            } => {
                let k = keep.len();
                let sub_needed: Needs = needed.iter().filter(|i| **i >= k).map(|i| i - k).collect();
                let rows_needed = self.walk(sub, &sub_needed);
                let mut n: Needs = needed
                    .iter()
                    .filter(|i| **i < k)
                    .filter_map(|i| keep.get(*i).copied())
                    .collect();
                let width = input.schema.len();
                n.extend(
                    rows_needed
                        .iter()
                        .copied()
                        .filter(|c| *c < width && !item_columns.contains(c)),
                );
                items.iter().for_each(|it| expr_columns(&it.expr, &mut n));
                merge(self.walk(input, &n), &mut apply);
            }
            Node::Distinct { input } => merge(self.walk(input, &all(input)), &mut apply),
            // The order breaks ties by the whole row: every column decides.
            Node::Serialize { input, .. } => merge(self.walk(input, &all(input)), &mut apply),
            // `take` and `top` break ties by the whole row: every column decides.
            Node::Take { input, count, .. } if *count > 0 => {
                merge(self.walk(input, &all(input)), &mut apply);
            }
            Node::Sort { input, keys } | Node::Take { input, keys, .. } => {
                let mut n = needed.clone();
                keys.iter().for_each(|k| expr_columns(&k.expr, &mut n));
                merge(self.walk(input, &n), &mut apply);
            }
        }
        apply
    }
}

/// The columns of an `mv-apply`'s expanded rows ([`Node::ApplyRows`]) that its sub-plan `sub`
/// reads to compute any of its output columns: what a sub-plan's result can depend on, besides
/// the scalar sub-queries it reads.
pub fn apply_rows_read(sub: &Plan) -> std::collections::BTreeSet<usize> {
    let mut w = NeedWalk {
        tables: std::collections::HashMap::new(),
        shared: Vec::new(),
        shared_seen: Vec::new(),
    };
    w.walk(sub, &(0..sub.schema.len()).collect())
}

fn set_scan_columns(p: &mut Plan, tables: &std::collections::HashMap<String, Vec<usize>>) {
    if let Node::Scan { table, columns } = &mut p.node
        && let Some(c) = tables.get(table)
    {
        *columns = c.clone();
    }
    match &mut p.node {
        Node::Filter { input, .. }
        | Node::Map { input, .. }
        | Node::Reduce { input, .. }
        | Node::MakeSeries { input, .. }
        | Node::MvExpand { input, .. }
        | Node::Distinct { input }
        | Node::Sort { input, .. }
        | Node::Serialize { input, .. }
        | Node::Take { input, .. } => set_scan_columns(input, tables),
        Node::MvApply { input, sub, .. } => {
            set_scan_columns(input, tables);
            set_scan_columns(sub, tables);
        }
        Node::Join { left, right, .. } => {
            set_scan_columns(left, tables);
            set_scan_columns(right, tables);
        }
        Node::Union { inputs, .. } => {
            for i in inputs {
                set_scan_columns(&mut i.plan, tables);
            }
        }
        _ => {}
    }
}

impl Program {
    /// Records in each [`Node::Scan`] the columns of its table that the program reads (with
    /// the event-time column), so that ingest can materialise only those.
    pub fn compute_columns_read(&mut self) {
        let mut w = NeedWalk {
            tables: std::collections::HashMap::new(),
            shared: vec![Needs::new(); self.shared.len()],
            shared_seen: vec![false; self.shared.len()],
        };
        let root_needs: Needs = (0..self.root.schema.len()).collect();
        w.walk(&self.root, &root_needs);
        for s in &self.scalars {
            w.walk(s, &std::iter::once(0).collect());
        }
        for i in (0..self.shared.len()).rev() {
            if w.shared_seen[i] {
                let n = w.shared[i].clone();
                let plan = &self.shared[i];
                w.walk(plan, &n);
            }
        }
        let tables: std::collections::HashMap<String, Vec<usize>> = w
            .tables
            .into_iter()
            .map(|(t, mut n)| {
                if let Some(tab) = crate::catalog::Catalog::builtin().table(&t) {
                    n.insert(tab.time_column);
                }
                (t, n.into_iter().collect())
            })
            .collect();
        set_scan_columns(&mut self.root, &tables);
        for s in &mut self.scalars {
            set_scan_columns(s, &tables);
        }
        for s in &mut self.shared {
            set_scan_columns(s, &tables);
        }
    }

    /// The columns (by name) the program reads from each table it scans.
    pub fn columns_read(&self) -> Vec<(String, Vec<String>)> {
        fn walk(p: &Plan, out: &mut Vec<(String, Vec<String>)>) {
            if let Node::Scan { table, columns } = &p.node
                && !out.iter().any(|(t, _)| t == table)
            {
                let names = columns
                    .iter()
                    .filter_map(|i| p.schema.get(*i).map(|c| c.name.to_string()))
                    .collect();
                out.push((table.clone(), names));
            }
            for i in p.inputs() {
                walk(i, out);
            }
        }
        let mut out = Vec::new();
        for s in &self.shared {
            walk(s, &mut out);
        }
        for s in &self.scalars {
            walk(s, &mut out);
        }
        walk(&self.root, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_expressions_evaluate_with_func() {
        let ctx = EvalCtx {
            now: 100,
            scalars: vec![Value::array(vec![Value::str("a"), Value::str("b")])],
        };
        let row = [Value::str("B"), Value::Long(5)];
        let e = ScalarExpr::In {
            expr: Box::new(ScalarExpr::Column(0)),
            list: vec![ScalarExpr::Scalar(0)],
            negated: false,
            ignore_case: true,
        };
        assert_eq!(e.eval(&row, &ctx), Value::Bool(true));
        let e = ScalarExpr::And(vec![
            ScalarExpr::Binary(
                BinOp::Gt,
                Box::new(ScalarExpr::Column(1)),
                Box::new(ScalarExpr::Literal(Value::Long(3))),
            ),
            ScalarExpr::Not(Box::new(ScalarExpr::Literal(Value::Bool(false)))),
        ]);
        assert_eq!(e.eval(&row, &ctx), Value::Bool(true));
        assert_eq!(ScalarExpr::Now.eval(&row, &ctx), Value::DateTime(100));
        let e = ScalarExpr::Index {
            expr: Box::new(ScalarExpr::Scalar(0)),
            index: Box::new(ScalarExpr::Literal(Value::Long(-1))),
        };
        assert_eq!(e.eval(&row, &ctx), Value::str("b"));
        let e = ScalarExpr::Call {
            name: "tolower".into(),
            args: vec![ScalarExpr::Column(0)],
        };
        assert_eq!(e.eval(&row, &ctx), Value::str("b"));
    }

    #[test]
    fn temporal_bounds_hold_relative_to_now() {
        let b = TemporalBound {
            column: 0,
            op: BoundOp::Gt,
            offset_ticks: -10,
            align: 0,
        };
        assert!(b.holds(&Value::DateTime(95), 100));
        assert!(!b.holds(&Value::DateTime(90), 100));
        assert!(!b.holds(&Value::Null, 100));
        assert_eq!(BoundOp::Lt.flip(), BoundOp::Gt);
    }
}
