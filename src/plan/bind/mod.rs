//! The binder: a parsed query ([`crate::kql::Query`]) against the [`Catalog`] becomes a typed
//! [`Program`]. It resolves tables, columns, `let`s, user functions and watchlists, gives
//! columns Kusto's names and types, folds constants (template times are `now()` plus a
//! constant), extracts temporal bounds, and refuses what kqlflow cannot run with a
//! [`BindError`] at the offending span.
//!
//! Some of Kusto is decided here rather than when rows flow: `column_ifexists()` becomes the
//! column or its default; `ingestion_time()` becomes the scanned table's `TimeGenerated` (with
//! a note in [`Program::notes`]); `union` gives a column per name and type (`X_dynamic`,
//! `X_string`) and, with `isfuzzy=true`, drops the legs that do not resolve (with a note).
//!
//! This module holds the options, the entry point [`bind`], constant folding and the binder's
//! state (scopes, bindings, shared helpers); the binding itself is split by concern:
//! `statements` (lets and user functions), `tabular` (sources and pipes), `operators`,
//! `temporal` (`where` and time bounds), `summarize` (with `make-series`), `joins` (`union`,
//! `join`, `lookup`, `ipv4_lookup`), `scalar` (expressions) and `functions` (calls).

use std::collections::HashMap;
use std::rc::Rc;

use crate::catalog::Catalog;
use crate::func::agg::{AggKind, AggSpec};
use crate::func::ops::BinOp;
use crate::func::{aggregate_fn, scalar_fn};
use crate::kql::{
    self, BinaryOp, ColumnPattern, Expr, ExprKind, FunctionDef, Ident, Join, JoinCondition, ListOp,
    LogicalOp, NamedExpr, Operator, OperatorKind, OutputSchema, ParamType, ParseError, Span,
    Statement, Summarize, UnaryOp, Union,
};
use crate::model::{Column, Schema, Str, TICKS_PER_DAY, Type, Value};

use super::ir::*;

mod functions;
mod joins;
mod operators;
mod plugins;
mod scalar;
mod statements;
mod summarize;
mod tabular;
mod temporal;

use temporal::*;

/// A query that cannot be bound: what is wrong and where (byte offsets into the query text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindError {
    /// The bytes the error is about.
    pub span: Span,
    /// What is wrong, naming the construct and, where possible, what to write instead.
    pub message: String,
}

impl BindError {
    fn new(span: Span, message: impl Into<String>) -> BindError {
        BindError {
            span,
            message: message.into(),
        }
    }

    /// A multi-line report like [`ParseError::render`]: `origin:line:column: error: message`,
    /// the source line and a caret under the span.
    pub fn render(&self, src: &str, origin: &str) -> String {
        ParseError::new(self.span, self.message.clone()).render(src, origin)
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {}

type Result<T> = std::result::Result<T, BindError>;

/// What the binder needs besides the query and the catalog.
#[derive(Clone, Debug, Default)]
pub struct BindOptions {
    /// The rule's query period in 100 ns ticks (`{{StartTimeISO}}` is `now()` minus this);
    /// 1 day when `None`.
    pub query_period: Option<i64>,
    /// Watchlist columns by watchlist name (the CSV header); a watchlist not listed is open:
    /// the columns the query uses are taken as strings.
    pub watchlists: HashMap<String, Vec<String>>,
    /// The look-back window applied to the query's table scans, if any (see
    /// [`PeriodWindow`]).
    pub window: Option<PeriodWindow>,
    /// The local file of each URL an `externaldata` reads (`--externaldata URL=FILE`).
    pub externaldata: HashMap<String, std::path::PathBuf>,
    /// True when an `externaldata` URL without a file binds to no rows, with a note (`check`,
    /// `explain`); otherwise it is an error naming `--externaldata`.
    pub externaldata_optional: bool,
    /// True when a custom (`_CL`) table kqlflow has no schema for binds with the columns the
    /// query uses, typed by Log Analytics' custom field suffixes, with a note (`check`,
    /// `explain`); otherwise it is an unknown table.
    pub open_custom_tables: bool,
    /// The logs (files and folders) the query will run over: a custom (`_CL`) table kqlflow
    /// has no schema for takes its columns from its records there (see
    /// [`crate::ingest::custom_table_from_logs`]), with a note, and is added to the process's
    /// catalog so that its records are read like any table's.
    pub logs: Vec<std::path::PathBuf>,
}

/// The look-back window of a rule: its table scans see only the records with
/// `TimeGenerated > now() - period` (Sentinel's `queryPeriod`), as a temporal filter directly
/// on each scan. Watchlists and constant rows (`datatable`, `print`) are not windowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodWindow {
    /// The period in 100 ns ticks.
    pub period: i64,
    /// Which scans the window applies to.
    pub scope: WindowScope,
}

/// Which table scans a [`PeriodWindow`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowScope {
    /// Every scan: a scheduled or NRT rule sees only its query period, whatever the query
    /// says.
    EveryScan,
    /// The scans whose rows no filter of the query bounds below by time (such as
    /// `where TimeGenerated > ago(1h)` or `between (ago(14d) .. now())`, directly or through
    /// row-wise operators): the window of a hunting query or a bare query, which, as Log
    /// Analytics' "set in query", gives way to a time filter the query writes itself.
    ScansWithoutTimeFilter,
}

/// Reads a watchlist CSV file's header: its column names.
pub fn watchlist_columns(path: &std::path::Path) -> std::result::Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the watchlist {}: {e}", path.display()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| format!("cannot read the watchlist {}: {e}", path.display()))?;
    Ok(header.iter().map(|h| h.trim().to_string()).collect())
}

/// Binds a parsed query. `src` is the query text the spans refer to.
pub fn bind(
    src: &str,
    query: &kql::Query,
    catalog: &Catalog,
    opts: &BindOptions,
) -> Result<Program> {
    let mut b = Binder {
        src,
        catalog,
        opts,
        env: Vec::new(),
        shared: Vec::new(),
        scalars: Vec::new(),
        notes: Vec::new(),
        depth: 0,
        open_names: Vec::new(),
        open_types: (Vec::new(), Vec::new()),
        unpack_read: None,
        warnings: Vec::new(),
        window: None,
    };
    let body = b.bind_lets(&query.statements)?;
    let Some(body) = body else {
        return Err(BindError::new(
            Span::new(src.len(), src.len()),
            "the query has no tabular expression to run (only `let` statements)",
        ));
    };
    let root = b.bind_root(body)?;
    let mut program = Program {
        root,
        shared: b.shared,
        scalars: b.scalars,
        notes: b.notes,
        warnings: b.warnings,
    };
    if let Some(w) = opts.window {
        super::window::apply(&mut program, w);
    }
    program.compute_columns_read();
    Ok(program)
}

/// A folded constant: a value, or `now()` plus a constant number of ticks.
#[derive(Clone, Debug, PartialEq)]
pub enum Folded {
    /// A constant value.
    Const(Value),
    /// `now() + ticks`.
    NowPlus(i64),
}

/// Folds an expression that reads no columns nor scalar sub-queries into a constant or
/// `now()` plus a constant; `None` when it is neither.
pub fn fold(e: &ScalarExpr) -> Option<Folded> {
    match e {
        ScalarExpr::Column(_) | ScalarExpr::Scalar(_) => None,
        ScalarExpr::Literal(v) => Some(Folded::Const(v.clone())),
        ScalarExpr::Now => Some(Folded::NowPlus(0)),
        ScalarExpr::Binary(op, a, b) => match (fold(a)?, fold(b)?) {
            (Folded::Const(x), Folded::Const(y)) => {
                Some(Folded::Const(crate::func::ops::binary(*op, &x, &y)))
            }
            (Folded::NowPlus(x), Folded::Const(Value::TimeSpan(t))) => match op {
                BinOp::Add => Some(Folded::NowPlus(x.checked_add(t)?)),
                BinOp::Sub => Some(Folded::NowPlus(x.checked_sub(t)?)),
                _ => None,
            },
            (Folded::Const(Value::TimeSpan(t)), Folded::NowPlus(x)) if *op == BinOp::Add => {
                Some(Folded::NowPlus(x.checked_add(t)?))
            }
            (Folded::NowPlus(x), Folded::NowPlus(y)) if *op == BinOp::Sub => {
                Some(Folded::Const(Value::TimeSpan(x.checked_sub(y)?)))
            }
            _ => None,
        },
        ScalarExpr::Call { name, args } if name == "todatetime" && args.len() == 1 => {
            match fold(&args[0])? {
                Folded::NowPlus(x) => Some(Folded::NowPlus(x)),
                Folded::Const(v) => Some(Folded::Const(crate::model::todatetime(&v))),
            }
        }
        ScalarExpr::Call { name, args } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                match fold(a)? {
                    Folded::Const(v) => vals.push(v),
                    Folded::NowPlus(_) => return None,
                }
            }
            let f = scalar_fn(name)?;
            Some(Folded::Const((f.eval)(&vals)))
        }
        other => {
            if other.uses_columns() || other.uses_now() || other.uses_scalars() {
                None
            } else {
                Some(Folded::Const(other.eval(&[], &EvalCtx::default())))
            }
        }
    }
}

/// `now() + ticks` as an expression.
fn now_plus(ticks: i64) -> ScalarExpr {
    if ticks == 0 {
        ScalarExpr::Now
    } else {
        ScalarExpr::Binary(
            BinOp::Add,
            Box::new(ScalarExpr::Now),
            Box::new(ScalarExpr::Literal(Value::TimeSpan(ticks))),
        )
    }
}

/// The expression folded as far as it goes.
fn folded_expr(e: ScalarExpr) -> ScalarExpr {
    if matches!(e, ScalarExpr::Literal(_) | ScalarExpr::Column(_)) {
        return e;
    }
    match fold(&e) {
        Some(Folded::Const(v)) => ScalarExpr::Literal(v),
        Some(Folded::NowPlus(t)) => now_plus(t),
        None => e,
    }
}

#[derive(Clone)]
enum Binding {
    Scalar(ScalarExpr, Type),
    Tabular(Plan),
    Function(Rc<FunctionDef>, usize),
}

enum Bound {
    Table(Plan),
    Scalar(ScalarExpr, Type),
}

/// The columns an expression can name: each with its type and the expression it stands for;
/// and the input row's event-time column (the scanned table's `TimeGenerated`, passed through
/// unchanged), when it has one.
#[derive(Clone, Default)]
struct Scope {
    cols: Vec<(Str, Type, ScalarExpr)>,
    event_time: Option<usize>,
}

impl Scope {
    fn of(p: &Plan) -> Scope {
        Scope {
            cols: p
                .schema
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.clone(), c.ty, ScalarExpr::Column(i)))
                .collect(),
            event_time: p.event_time,
        }
    }

    fn get(&self, name: &str) -> Option<&(Str, Type, ScalarExpr)> {
        self.cols.iter().find(|c| &*c.0 == name)
    }

    fn set(&mut self, name: &str, ty: Type, e: ScalarExpr) {
        match self.cols.iter_mut().find(|c| &*c.0 == name) {
            Some(c) => {
                c.1 = ty;
                c.2 = e;
            }
            None => self.cols.push((Str::from(name), ty, e)),
        }
    }

    fn closest(&self, name: &str) -> Vec<Str> {
        Schema::new(
            self.cols
                .iter()
                .map(|c| Column {
                    name: c.0.clone(),
                    ty: c.1,
                })
                .collect(),
        )
        .closest(name, 3)
    }
}

/// An `extend` of a function that returns several columns (see `multi_column_call`).
struct MultiColumn {
    /// The function's name.
    function: &'static str,
    /// The call of its internal function, which returns the columns as one array.
    call: ScalarExpr,
    /// The columns' names, one per part.
    names: Vec<String>,
}

struct Binder<'a> {
    src: &'a str,
    catalog: &'a Catalog,
    opts: &'a BindOptions,
    env: Vec<(String, Binding)>,
    shared: Vec<Plan>,
    scalars: Vec<Plan>,
    notes: Vec<String>,
    depth: usize,
    open_names: Vec<String>,
    /// For an open custom table: the names the pipeline uses as times, and those it only
    /// assigns (see [`Binder::time_and_assigned_names`]).
    open_types: (Vec<String>, Vec<String>),
    /// For the `evaluate bag_unpack` being bound: the names the rest of its pipe reads (see
    /// [`Binder::names_read_after`]).
    unpack_read: Option<Vec<String>>,
    warnings: Vec<Warning>,
    /// While binding an item of `extend`, `project` or `serialize`: the window function
    /// calls met so far (see [`WindowCalls`]); `None` elsewhere, where they are refused.
    window: Option<WindowCalls>,
}

/// The window function calls (`prev`, `next`, `row_number`, `row_cumsum`) of one expression:
/// each is bound to `Column(WINDOW_BASE + k)`, a placeholder that becomes the column the
/// [`Node::Serialize`] computing the call appends.
#[derive(Default)]
struct WindowCalls {
    /// The calls with their result types and levels, in the order met. A call's level is 0
    /// when its arguments hold no window function, else one more than theirs: each level is
    /// computed by its own node, over the columns of the levels below.
    fns: Vec<(WindowFn, Type, usize)>,
    /// The first call's name and place, for errors.
    first: Option<(String, Span)>,
}

/// The first placeholder column of a window function call (see [`WindowCalls`]).
const WINDOW_BASE: usize = usize::MAX / 2;

/// The greatest depth of a bound plan: deeper plans are refused at bind time, so that no
/// recursive pass over them (optimising, rendering, evaluating, dropping) can overflow a
/// worker's stack.
pub const MAX_PLAN_HEIGHT: usize = 256;

/// The height of `p` (a leaf is 1), counted without recursion.
pub fn plan_height(p: &Plan) -> usize {
    let mut best = 0;
    let mut stack = vec![(p, 1usize)];
    while let Some((q, h)) = stack.pop() {
        best = best.max(h);
        for i in q.inputs() {
            stack.push((i, h + 1));
        }
    }
    best
}

fn did_you_mean(names: &[Str]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        format!("; did you mean {}?", q.join(", "))
    }
}

fn strip_paren(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(i) => strip_paren(i),
        _ => e,
    }
}

/// The scalar functions the binder resolves itself (not in the `func` registry).
const BINDER_FUNCTIONS: &[&str] = &[
    "now",
    "ago",
    "toscalar",
    "column_ifexists",
    "ingestion_time",
];

/// The functions through which Kusto names a column after its first argument.
const NAME_THROUGH: &[&str] = &[
    "tostring",
    "toint",
    "tolong",
    "toreal",
    "todouble",
    "todecimal",
    "tobool",
    "toboolean",
    "todatetime",
    "totimespan",
    "todynamic",
    "toobject",
    "bin",
    "floor",
    "startofday",
    "startofweek",
    "startofmonth",
    "endofday",
];

/// The column name Kusto derives from an unnamed expression: a column's own name, the first
/// argument's through conversions and `bin`, `a_b` for `a.b`; `None` otherwise.
pub fn infer_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(id) => Some(id.name.clone()),
        ExprKind::Paren(i) => infer_name(i),
        ExprKind::Call { name, args } if NAME_THROUGH.contains(&name.name.as_str()) => {
            args.first().and_then(infer_name)
        }
        ExprKind::Call { name, args } if name.name == "column_ifexists" => {
            match args.first().map(|a| &strip_paren(a).kind) {
                Some(ExprKind::Literal(l)) => match &l.value {
                    Value::String(s) => Some(s.to_string()),
                    _ => None,
                },
                _ => None,
            }
        }
        ExprKind::Member { target, name } => {
            infer_name(target).map(|t| format!("{t}_{}", name.name))
        }
        ExprKind::Index { target, index } => match &strip_paren(index).kind {
            ExprKind::Literal(l) => match &l.value {
                Value::String(k) => infer_name(target).map(|t| format!("{t}_{k}")),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn map_plan(input: Plan, cols: Vec<(Str, Type, ScalarExpr)>) -> Plan {
    let event_time = input.event_time.and_then(|t| {
        cols.iter()
            .position(|c| c.2 == ScalarExpr::Column(t) && c.1 == Type::DateTime)
    });
    let identity = cols.len() == input.schema.len()
        && cols
            .iter()
            .enumerate()
            .all(|(i, c)| c.2 == ScalarExpr::Column(i) && c.0 == input.schema[i].name);
    if identity {
        return input;
    }
    let schema = cols
        .iter()
        .map(|c| Column {
            name: c.0.clone(),
            ty: c.1,
        })
        .collect();
    Plan {
        node: Node::Map {
            input: Box::new(input),
            exprs: cols.into_iter().map(|c| c.2).collect(),
        },
        schema,
        event_time,
    }
}

fn unique_name(taken: &[Column], name: &str) -> String {
    if !taken.iter().any(|c| &*c.name == name) {
        return name.to_string();
    }
    (1..)
        .map(|i| format!("{name}{i}"))
        .find(|n| !taken.iter().any(|c| &*c.name == n.as_str()))
        .unwrap_or_else(|| name.to_string())
}

fn const_usize(e: &ScalarExpr) -> Option<usize> {
    match fold(e)? {
        Folded::Const(Value::Long(n)) if n >= 0 => usize::try_from(n).ok(),
        Folded::Const(Value::Real(r)) if r >= 0.0 => Some(r as usize),
        _ => None,
    }
}

/// The program note recorded when a query calls `ingestion_time()`.
pub const INGESTION_TIME_NOTE: &str = "ingestion_time() is taken as TimeGenerated (kqlflow has no ingestion time: records are read from exports)";

fn one_name(item: &crate::kql::NamedExpr) -> Result<()> {
    if item.names.len() > 1 {
        return Err(BindError::new(
            item.span,
            "not supported yet: assigning several columns at once `(A, B) = …`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TICKS_PER_HOUR;

    fn ts(t: i64) -> ScalarExpr {
        ScalarExpr::Literal(Value::TimeSpan(t))
    }

    #[test]
    fn folds_constants_and_now_offsets() {
        let ago = |t| ScalarExpr::Binary(BinOp::Sub, Box::new(ScalarExpr::Now), Box::new(ts(t)));
        assert_eq!(
            fold(&ago(TICKS_PER_HOUR)),
            Some(Folded::NowPlus(-TICKS_PER_HOUR))
        );
        let diff = ScalarExpr::Binary(
            BinOp::Sub,
            Box::new(now_plus(0)),
            Box::new(ago(TICKS_PER_DAY)),
        );
        assert_eq!(
            fold(&diff),
            Some(Folded::Const(Value::TimeSpan(TICKS_PER_DAY)))
        );
        let times7 = ScalarExpr::Binary(
            BinOp::Mul,
            Box::new(diff),
            Box::new(ScalarExpr::Literal(Value::Long(7))),
        );
        assert_eq!(
            fold(&times7),
            Some(Folded::Const(Value::TimeSpan(7 * TICKS_PER_DAY)))
        );
        let call = ScalarExpr::Call {
            name: "strlen".into(),
            args: vec![ScalarExpr::Literal(Value::str("abc"))],
        };
        assert_eq!(fold(&call), Some(Folded::Const(Value::Long(3))));
        assert_eq!(fold(&ScalarExpr::Column(0)), None);
        let start_of_day = ScalarExpr::Call {
            name: "startofday".into(),
            args: vec![ScalarExpr::Now],
        };
        assert_eq!(fold(&start_of_day), None);
    }

    #[test]
    fn temporal_bounds_need_a_datetime_column() {
        let cmp = ScalarExpr::Binary(
            BinOp::Gt,
            Box::new(ScalarExpr::Column(2)),
            Box::new(now_plus(-TICKS_PER_HOUR)),
        );
        assert_eq!(
            temporal_bounds(&cmp, &|i| i == 2),
            Some(vec![TemporalBound {
                column: 2,
                op: BoundOp::Gt,
                offset_ticks: -TICKS_PER_HOUR,
                align: 0,
            }])
        );
        assert_eq!(temporal_bounds(&cmp, &|i| i == 1), None);
        assert_eq!(temporal_bounds(&cmp, &|_| false), None);
    }
}
