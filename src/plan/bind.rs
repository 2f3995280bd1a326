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

use std::collections::HashMap;
use std::rc::Rc;

use crate::catalog::Catalog;
use crate::func::agg::{AggKind, AggSpec};
use crate::func::ops::BinOp;
use crate::func::{aggregate_fn, scalar_fn};
use crate::kql::{
    self, BinaryOp, ColumnPattern, Expr, ExprKind, FunctionDef, Ident, Join, JoinCondition, ListOp,
    LogicalOp, NamedExpr, Operator, OperatorKind, ParamType, ParseError, Span, Statement,
    Summarize, UnaryOp, Union,
};
use crate::model::{Column, Schema, Str, TICKS_PER_DAY, Type, Value};

use super::ir::*;

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
        warnings: Vec::new(),
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
    warnings: Vec<Warning>,
}

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

/// The table or name a union leg starts from (`T` in `(T | where …)`).
fn leg_source(e: &Expr) -> Option<&str> {
    match &strip_paren(e).kind {
        ExprKind::Name(id) => Some(&id.name),
        ExprKind::Pipe { source, .. } => leg_source(source),
        _ => None,
    }
}

/// True for the errors a fuzzy union forgives: an unknown table, column or name.
fn is_resolution_failure(e: &BindError) -> bool {
    ["unknown table", "unknown column", "unknown name"]
        .iter()
        .any(|p| e.message.starts_with(p))
}

fn map_binop(op: BinaryOp) -> Option<(BinOp, bool)> {
    use BinaryOp as A;
    Some(match op {
        A::Add => (BinOp::Add, false),
        A::Sub => (BinOp::Sub, false),
        A::Mul => (BinOp::Mul, false),
        A::Div => (BinOp::Div, false),
        A::Mod => (BinOp::Mod, false),
        A::Eq => (BinOp::Eq, false),
        A::NotEq => (BinOp::Ne, false),
        A::Lt => (BinOp::Lt, false),
        A::Le => (BinOp::Le, false),
        A::Gt => (BinOp::Gt, false),
        A::Ge => (BinOp::Ge, false),
        A::EqCi => (BinOp::EqTilde, false),
        A::NotEqCi => (BinOp::NeTilde, false),
        A::Has => (BinOp::Has, false),
        A::NotHas => (BinOp::NotHas, false),
        A::HasCs => (BinOp::HasCs, false),
        A::NotHasCs => (BinOp::NotHasCs, false),
        A::HasPrefix => (BinOp::HasPrefix, false),
        A::NotHasPrefix => (BinOp::NotHasPrefix, false),
        A::HasSuffix => (BinOp::HasSuffix, false),
        A::NotHasSuffix => (BinOp::NotHasSuffix, false),
        A::Contains => (BinOp::Contains, false),
        A::NotContains => (BinOp::NotContains, false),
        A::ContainsCs => (BinOp::ContainsCs, false),
        A::NotContainsCs => (BinOp::NotContainsCs, false),
        A::StartsWith => (BinOp::StartsWith, false),
        A::NotStartsWith => (BinOp::NotStartsWith, false),
        A::StartsWithCs => (BinOp::StartsWithCs, false),
        A::NotStartsWithCs => (BinOp::StartsWithCs, true),
        A::EndsWith => (BinOp::EndsWith, false),
        A::NotEndsWith => (BinOp::NotEndsWith, false),
        A::EndsWithCs => (BinOp::EndsWithCs, false),
        A::NotEndsWithCs => (BinOp::EndsWithCs, true),
        A::MatchesRegex => (BinOp::MatchesRegex, false),
        _ => return None,
    })
}

fn arith_type(op: BinOp, a: Type, b: Type) -> Type {
    use Type as T;
    if a == T::Dynamic || b == T::Dynamic {
        return T::Dynamic;
    }
    match op {
        BinOp::Add => match (a, b) {
            (T::DateTime, T::TimeSpan) | (T::TimeSpan, T::DateTime) => T::DateTime,
            (T::TimeSpan, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Sub => match (a, b) {
            (T::DateTime, T::DateTime) => T::TimeSpan,
            (T::DateTime, T::TimeSpan) => T::DateTime,
            (T::TimeSpan, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Mul => match (a, b) {
            (T::TimeSpan, _) | (_, T::TimeSpan) => T::TimeSpan,
            _ => num_type(a, b),
        },
        BinOp::Div => match (a, b) {
            (T::TimeSpan, T::TimeSpan) => T::Real,
            (T::TimeSpan, _) => T::TimeSpan,
            _ => num_type(a, b),
        },
        _ => num_type(a, b),
    }
}

fn num_type(a: Type, b: Type) -> Type {
    match (a, b) {
        (Type::Real, _) | (_, Type::Real) => Type::Real,
        (Type::Int, Type::Int) => Type::Int,
        _ => Type::Long,
    }
}

fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Paren(i) => conjuncts(i, out),
        ExprKind::Logical {
            op: LogicalOp::And,
            operands,
        } => operands.iter().for_each(|o| conjuncts(o, out)),
        _ => out.push(e),
    }
}

fn bound_op(op: &BinOp) -> Option<BoundOp> {
    Some(match op {
        BinOp::Lt => BoundOp::Lt,
        BinOp::Le => BoundOp::Le,
        BinOp::Gt => BoundOp::Gt,
        BinOp::Ge => BoundOp::Ge,
        _ => return None,
    })
}

/// The temporal bounds a bound `where` conjunct expresses, when it compares a datetime column
/// of the input row (the event time, or another such as ThreatIntelIndicators' `ValidUntil`)
/// with `now()` plus a constant. `is_time` tells which columns are datetime columns.
fn temporal_bounds(x: &ScalarExpr, is_time: &dyn Fn(usize) -> bool) -> Option<Vec<TemporalBound>> {
    let col = |e: &ScalarExpr| match e {
        ScalarExpr::Column(i) if is_time(*i) => Some(*i),
        _ => None,
    };
    let now = now_bound;
    match x {
        ScalarExpr::Binary(op, a, b) => {
            let op = bound_op(op)?;
            if let (Some(c), Some((t, align))) = (col(a), now(b)) {
                return Some(vec![TemporalBound {
                    column: c,
                    op,
                    offset_ticks: t,
                    align,
                }]);
            }
            if let (Some((t, align)), Some(c)) = (now(a), col(b)) {
                return Some(vec![TemporalBound {
                    column: c,
                    op: op.flip(),
                    offset_ticks: t,
                    align,
                }]);
            }
            None
        }
        ScalarExpr::Between {
            expr,
            lo,
            hi,
            negated: false,
        } => {
            let c = col(expr)?;
            let ((l, la), (h, ha)) = (now(lo)?, now(hi)?);
            Some(vec![
                TemporalBound {
                    column: c,
                    op: BoundOp::Ge,
                    offset_ticks: l,
                    align: la,
                },
                TemporalBound {
                    column: c,
                    op: BoundOp::Le,
                    offset_ticks: h,
                    align: ha,
                },
            ])
        }
        _ => None,
    }
}

/// `now() + t` as (t, 0), or a time that moves by whole days as (t, a day):
/// `startofday(now() + t)`, plus or minus whole days (`startofday(now()) - 8d` is
/// `startofday(now() - 8d)`).
fn now_bound(e: &ScalarExpr) -> Option<(i64, i64)> {
    if let Some(Folded::NowPlus(t)) = fold(e) {
        return Some((t, 0));
    }
    match e {
        ScalarExpr::Call { name, args } if name == "startofday" && args.len() == 1 => {
            match fold(&args[0]) {
                Some(Folded::NowPlus(t)) => Some((t, TICKS_PER_DAY)),
                _ => None,
            }
        }
        ScalarExpr::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (t, align) = now_bound(a)?;
            let Some(Folded::Const(Value::TimeSpan(k))) = fold(b) else {
                return None;
            };
            if align == 0 || k % align != 0 {
                return None;
            }
            let t = if *op == BinOp::Add {
                t.checked_add(k)?
            } else {
                t.checked_sub(k)?
            };
            Some((t, align))
        }
        _ => None,
    }
}

const NOW_MESSAGE: &str = "now() can only bound TimeGenerated (or another datetime column) in a where (as in `where TimeGenerated > ago(1h)` or `between (ago(14d) .. ago(1h))`): this use of now() cannot be maintained incrementally";

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

impl<'a> Binder<'a> {
    // ---- statements, lets and functions ------------------------------------------------

    fn bind_lets<'q>(&mut self, stmts: &'q [Statement]) -> Result<Option<&'q Expr>> {
        let mut body = None;
        for s in stmts {
            match s {
                Statement::Let(l) => {
                    let binding = match &l.value {
                        kql::LetValue::Function(def) => {
                            Binding::Function(Rc::new(def.clone()), self.env.len())
                        }
                        kql::LetValue::Expr(e) => match self.bind_any(e, &Scope::default())? {
                            Bound::Table(p) => Binding::Tabular(self.share(p)),
                            Bound::Scalar(x, ty) => self.scalar_let(x, ty, e)?,
                        },
                    };
                    self.env.push((l.name.name.clone(), binding));
                }
                Statement::Expr(e) => body = Some(e),
            }
        }
        Ok(body)
    }

    fn scalar_let(&mut self, x: ScalarExpr, ty: Type, e: &Expr) -> Result<Binding> {
        match fold(&x) {
            Some(Folded::Const(v)) => Ok(Binding::Scalar(ScalarExpr::Literal(v), ty)),
            Some(Folded::NowPlus(t)) => Ok(Binding::Scalar(now_plus(t), Type::DateTime)),
            // A time that moves by whole days (`startofday(now())`): its uses are checked
            // where they are (a where's time bound, or refused).
            None if now_bound(&x).is_some() => Ok(Binding::Scalar(x, Type::DateTime)),
            None if x.uses_now() => Err(BindError::new(
                self.now_span(e).unwrap_or(e.span),
                NOW_MESSAGE,
            )),
            None => Ok(Binding::Scalar(x, ty)),
        }
    }

    fn share(&mut self, p: Plan) -> Plan {
        if matches!(p.node, Node::Shared(_)) {
            return p;
        }
        let schema = p.schema.clone();
        let event_time = p.event_time;
        self.shared.push(p);
        Plan {
            node: Node::Shared(self.shared.len() - 1),
            schema,
            event_time,
        }
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    }

    fn is_tabular_syntax(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Paren(i) => self.is_tabular_syntax(i),
            ExprKind::Pipe { .. }
            | ExprKind::Union(_)
            | ExprKind::Print(_)
            | ExprKind::Datatable { .. }
            | ExprKind::ExternalData { .. }
            | ExprKind::Range { .. } => true,
            ExprKind::Name(id) => match self.lookup(&id.name) {
                Some(Binding::Tabular(_)) => true,
                Some(_) => false,
                None => self.catalog.table(&id.name).is_some(),
            },
            ExprKind::Call { name, .. } => matches!(
                name.name.as_str(),
                "materialize" | "_GetWatchlist" | "table" | "externaldata"
            ),
            _ => false,
        }
    }

    fn bind_any(&mut self, e: &Expr, scope: &Scope) -> Result<Bound> {
        if self.is_tabular_syntax(e) {
            return Ok(Bound::Table(self.bind_tabular(e)?));
        }
        if let ExprKind::Call { name, args } = &strip_paren(e).kind
            && let Some(Binding::Function(def, env_len)) = self.lookup(&name.name).cloned()
        {
            return self.call_function(&def, env_len, args, None, e.span, scope);
        }
        let (x, ty) = self.bind_scalar(e, scope)?;
        Ok(Bound::Scalar(x, ty))
    }

    fn call_function(
        &mut self,
        def: &FunctionDef,
        env_len: usize,
        args: &[Expr],
        input: Option<Plan>,
        span: Span,
        scope: &Scope,
    ) -> Result<Bound> {
        if self.depth > 32 {
            return Err(BindError::new(
                span,
                "user functions nest too deeply (is a function calling itself?)",
            ));
        }
        let given = args.len() + usize::from(input.is_some());
        if given > def.params.len() {
            return Err(BindError::new(
                span,
                format!(
                    "the function takes {} argument(s), {} given",
                    def.params.len(),
                    given
                ),
            ));
        }
        // Named arguments (`f(x, window = 2d)`) go to their parameters, the others in order.
        let mut named: Vec<(&Ident, &Expr)> = Vec::new();
        let mut positional: Vec<&Expr> = Vec::new();
        for a in args {
            match &a.kind {
                ExprKind::NamedArg { name, value } => {
                    if !def.params.iter().any(|p| p.name.name == name.name) {
                        return Err(BindError::new(
                            name.span,
                            format!("the function has no parameter '{}'", name.name),
                        ));
                    }
                    named.push((name, value));
                }
                _ => positional.push(a),
            }
        }
        let mut bindings = Vec::new();
        let mut args_iter = positional.into_iter();
        let mut input = input;
        for (i, p) in def.params.iter().enumerate() {
            let by_name = named
                .iter()
                .find(|(n, _)| n.name == p.name.name)
                .map(|(_, v)| *v);
            let binding = match &p.ty {
                ParamType::Tabular { columns, .. } => {
                    let (plan, at) = match (i, input.take()) {
                        (0, Some(plan)) => (plan, span),
                        (_, _) => match by_name.or_else(|| args_iter.next()) {
                            Some(a) => (self.bind_tabular(a)?, a.span),
                            None => {
                                return Err(BindError::new(
                                    span,
                                    format!("missing the table argument '{}'", p.name.name),
                                ));
                            }
                        },
                    };
                    for c in columns {
                        if plan.index_of(&c.name.name).is_none() {
                            return Err(BindError::new(
                                at,
                                format!(
                                    "the table passed as '{}' has no column '{}' that the function needs",
                                    p.name.name, c.name.name
                                ),
                            ));
                        }
                    }
                    Binding::Tabular(plan)
                }
                ParamType::Scalar(ty) => {
                    let arg = by_name.or_else(|| args_iter.next());
                    match (arg, &p.default) {
                        (Some(a), _) => {
                            let (x, _) = self.bind_scalar(a, scope)?;
                            Binding::Scalar(folded_expr(x), *ty)
                        }
                        (None, Some(d)) => {
                            let (x, _) = self.bind_scalar(d, &Scope::default())?;
                            Binding::Scalar(folded_expr(x), *ty)
                        }
                        (None, None) => {
                            return Err(BindError::new(
                                span,
                                format!("missing the argument '{}'", p.name.name),
                            ));
                        }
                    }
                }
            };
            bindings.push((p.name.name.clone(), binding));
        }
        let prefix = self.env[..env_len.min(self.env.len())].to_vec();
        let saved = std::mem::replace(&mut self.env, prefix);
        self.env.extend(bindings);
        self.depth += 1;
        let result = (|| {
            let body = self.bind_lets(&def.body)?;
            match body {
                Some(b) => self.bind_any(b, scope),
                None => Err(BindError::new(
                    def.span,
                    "the function has no result expression",
                )),
            }
        })();
        self.depth -= 1;
        self.env = saved;
        result
    }

    // ---- tabular expressions -----------------------------------------------------------

    fn bind_root(&mut self, body: &Expr) -> Result<Plan> {
        match &body.kind {
            ExprKind::Pipe { source, operators } => self.bind_pipe(source, operators),
            ExprKind::Paren(i) => self.bind_root(i),
            _ => {
                if !self.is_tabular_syntax(body) && !matches!(&body.kind, ExprKind::Call { .. }) {
                    let (_, _) = self.bind_scalar(body, &Scope::default())?;
                    return Err(BindError::new(
                        body.span,
                        "the query's result is a scalar; a tabular expression is needed (use `print`)",
                    ));
                }
                self.bind_tabular(body)
            }
        }
    }

    fn bind_pipe(&mut self, source: &Expr, ops: &[Operator]) -> Result<Plan> {
        let saved_open = std::mem::take(&mut self.open_names);
        let open_source = match &strip_paren(source).kind {
            ExprKind::Call { name, .. } => name.name == "_GetWatchlist",
            ExprKind::Name(id) => {
                id.name.ends_with("_CL")
                    && self.lookup(&id.name).is_none()
                    && self.catalog.table(&id.name).is_none()
            }
            _ => false,
        };
        let saved_open_types = std::mem::take(&mut self.open_types);
        if open_source {
            self.open_names = self.names_in_ops(ops);
            self.open_types = self.time_and_assigned_names(ops);
        }
        let mut p = self.bind_tabular(source);
        self.open_names = saved_open;
        self.open_types = saved_open_types;
        for op in ops {
            p = self.bind_op(p?, op);
            if let Ok(plan) = &p
                && plan_height(plan) > MAX_PLAN_HEIGHT
            {
                return Err(BindError::new(
                    op.span,
                    format!(
                        "the query is too deep here: its plan is more than {MAX_PLAN_HEIGHT} operators deep, kqlflow's limit (merge consecutive `where`s and `extend`s into one)"
                    ),
                ));
            }
        }
        p
    }

    fn names_in_ops(&self, ops: &[Operator]) -> Vec<String> {
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return Vec::new();
        };
        let text = Span::new(first.span.start, last.span.end).text(self.src);
        let Ok(tokens) = kql::tokenize(text) else {
            return Vec::new();
        };
        const KEYWORDS: &[&str] = &[
            "and",
            "or",
            "not",
            "by",
            "on",
            "kind",
            "true",
            "false",
            "typeof",
            "asc",
            "desc",
            "with",
            "to",
            "in",
            "has",
            "contains",
            "between",
            "matches",
            "regex",
            "nulls",
            "first",
            "last",
            "dynamic",
            "datetime",
            "timespan",
            "project",
            "extend",
            "where",
            "summarize",
            "distinct",
            "take",
            "limit",
            "sort",
            "order",
            "top",
            "join",
            "union",
            "isfuzzy",
            "count",
            "let",
        ];
        let mut out: Vec<String> = Vec::new();
        for t in tokens {
            if t.kind != kql::TokenKind::Word {
                continue;
            }
            let w = t.span.text(text);
            if w.starts_with(['$', '!'])
                || w.contains('~')
                || w.contains('-')
                || KEYWORDS.contains(&w)
                || BINDER_FUNCTIONS.contains(&w)
                || scalar_fn(w).is_some()
                || aggregate_fn(w).is_some()
                || self.lookup(w).is_some()
                || BinaryOp::from_word(w).is_some()
                || out.iter().any(|o| o == w)
            {
                continue;
            }
            out.push(w.to_string());
        }
        out
    }

    /// Of the names in `ops`, those used as times (compared with `ago(…)`, `now()`, a
    /// `datetime(…)` or `startofday(…)`, or binned by a timespan), and those first seen assigned
    /// (`N = …`): how an open custom table types its columns and which it leaves out.
    fn time_and_assigned_names(&self, ops: &[Operator]) -> (Vec<String>, Vec<String>) {
        use kql::TokenKind as K;
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return (Vec::new(), Vec::new());
        };
        let text = Span::new(first.span.start, last.span.end).text(self.src);
        let Ok(tokens) = kql::tokenize(text) else {
            return (Vec::new(), Vec::new());
        };
        const TIME_FNS: &[&str] = &[
            "ago",
            "now",
            "startofday",
            "startofweek",
            "startofmonth",
            "startofyear",
            "endofday",
            "todatetime",
            "datetime_add",
        ];
        let word = |i: usize| {
            tokens
                .get(i)
                .filter(|t| t.kind == K::Word)
                .map(|t| t.span.text(text))
        };
        let is_time_at = |i: usize| match tokens.get(i).map(|t| &t.kind) {
            Some(K::DateTime(_)) => true,
            Some(K::LParen) => {
                matches!(tokens.get(i + 1).map(|t| &t.kind), Some(K::DateTime(_)))
                    || word(i + 1).is_some_and(|w| TIME_FNS.contains(&w))
            }
            _ => word(i).is_some_and(|w| TIME_FNS.contains(&w)),
        };
        let (mut times, mut assigned, mut read) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..tokens.len() {
            let Some(w) = word(i) else { continue };
            let next = tokens.get(i + 1).map(|t| &t.kind);
            let compared = matches!(next, Some(K::Gt | K::Ge | K::Lt | K::Le | K::EqEq))
                || word(i + 1).is_some_and(|b| b == "between" || b == "!between");
            let binned = i >= 2
                && word(i - 2) == Some("bin")
                && matches!(tokens.get(i - 1).map(|t| &t.kind), Some(K::LParen))
                && matches!(tokens.get(i + 2).map(|t| &t.kind), Some(K::TimeSpan(_)));
            if (compared && is_time_at(i + 2)) || binned {
                times.push(w.to_string());
            }
            // A name first seen assigned (`N = …`) is the query's own, not the table's,
            // unless its own value reads it (`extend N = tolower(N)`).
            let seen = assigned.iter().chain(&read).any(|x: &String| x == w);
            let reads_itself = || {
                let mut depth = 0i32;
                for (j, t) in tokens.iter().enumerate().skip(i + 2) {
                    match t.kind {
                        K::LParen | K::LBracket => depth += 1,
                        K::RParen | K::RBracket => depth -= 1,
                        K::Comma | K::Pipe | K::Semi if depth <= 0 => break,
                        K::Word if word(j) == Some(w) => return true,
                        _ => {}
                    }
                    if depth < 0 {
                        break;
                    }
                }
                false
            };
            if !seen {
                if next == Some(&K::Assign) && !reads_itself() {
                    assigned.push(w.to_string());
                } else {
                    read.push(w.to_string());
                }
            }
        }
        (times, assigned)
    }

    fn bind_tabular(&mut self, e: &Expr) -> Result<Plan> {
        match &e.kind {
            ExprKind::Paren(i) => self.bind_tabular(i),
            ExprKind::Name(id) => self.table_named(id),
            ExprKind::Pipe { source, operators } => self.bind_pipe(source, operators),
            ExprKind::Union(u) => self.bind_union(None, u, e.span),
            ExprKind::Print(items) => self.bind_print(items),
            ExprKind::Datatable { columns, values } => {
                let mut rows = Vec::new();
                if columns.is_empty() || values.len() % columns.len() != 0 {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "datatable has {} values for {} columns",
                            values.len(),
                            columns.len()
                        ),
                    ));
                }
                for chunk in values.chunks(columns.len()) {
                    let mut row = Vec::new();
                    for (v, c) in chunk.iter().zip(columns) {
                        let (x, _) = self.bind_scalar(v, &Scope::default())?;
                        match fold(&x) {
                            Some(Folded::Const(val)) => row.push(cast(&val, c.ty)),
                            _ => {
                                return Err(BindError::new(
                                    v.span,
                                    "a datatable value must be a constant",
                                ));
                            }
                        }
                    }
                    rows.push(row);
                }
                Ok(Plan {
                    node: Node::Constant { rows },
                    schema: columns
                        .iter()
                        .map(|c| Column {
                            name: Str::from(c.name.name.as_str()),
                            ty: c.ty,
                        })
                        .collect(),
                    event_time: None,
                })
            }
            ExprKind::ExternalData {
                columns,
                uris,
                properties,
            } => self.bind_externaldata(e, columns, uris, properties),
            ExprKind::Range { .. } => Err(BindError::new(e.span, "not supported yet: range")),
            ExprKind::Call { name, args } => self.bind_table_call(name, args, e),
            _ => Err(BindError::new(
                e.span,
                "expected a tabular expression (a table, a `let` name bound to a table, or a pipeline)",
            )),
        }
    }

    fn bind_table_call(&mut self, name: &Ident, args: &[Expr], e: &Expr) -> Result<Plan> {
        match name.name.as_str() {
            "materialize" => {
                let [arg] = args else {
                    return Err(BindError::new(e.span, "materialize() takes one table"));
                };
                let p = self.bind_tabular(arg)?;
                Ok(self.share(p))
            }
            "_GetWatchlist" => {
                let name = match args.first().map(|a| self.bind_scalar(a, &Scope::default())) {
                    Some(Ok((x, _))) => match fold(&x) {
                        Some(Folded::Const(Value::String(s))) => s.to_string(),
                        _ => String::new(),
                    },
                    Some(Err(err)) => return Err(err),
                    None => String::new(),
                };
                if name.is_empty() || args.len() != 1 {
                    return Err(BindError::new(
                        e.span,
                        "_GetWatchlist takes the watchlist's name as a constant string",
                    ));
                }
                let mut cols: Vec<String> = match self.opts.watchlists.get(&name) {
                    Some(c) => c.clone(),
                    None => {
                        let note = format!(
                            "watchlist '{name}' has no file (give --watchlist {name}=FILE.csv): the columns the query uses are taken as strings ({})",
                            self.open_names.join(", ")
                        );
                        if !self.notes.contains(&note) {
                            self.notes.push(note);
                        }
                        self.open_names.clone()
                    }
                };
                for standard in ["SearchKey", "_ItemId"] {
                    if !cols.iter().any(|c| c == standard) {
                        cols.push(standard.to_string());
                    }
                }
                Ok(Plan {
                    node: Node::Watchlist { name },
                    schema: cols
                        .iter()
                        .map(|c| Column {
                            name: Str::from(c.as_str()),
                            ty: Type::String,
                        })
                        .collect(),
                    event_time: None,
                })
            }
            "table" => {
                let t = match args.first().map(|a| self.bind_scalar(a, &Scope::default())) {
                    Some(Ok((x, _))) => match fold(&x) {
                        Some(Folded::Const(Value::String(s))) => s.to_string(),
                        _ => String::new(),
                    },
                    Some(Err(err)) => return Err(err),
                    None => String::new(),
                };
                if t.is_empty() {
                    return Err(BindError::new(
                        e.span,
                        "table() takes the table's name as a constant string",
                    ));
                }
                self.table_named(&Ident {
                    name: t,
                    span: e.span,
                })
            }
            "externaldata" => Err(BindError::new(
                e.span,
                "not supported yet: externaldata (kqlflow reads no external storage)",
            )),
            other => {
                if let Some(Binding::Function(def, env_len)) = self.lookup(other).cloned() {
                    return match self.call_function(
                        &def,
                        env_len,
                        args,
                        None,
                        e.span,
                        &Scope::default(),
                    )? {
                        Bound::Table(p) => Ok(p),
                        Bound::Scalar(..) => Err(BindError::new(
                            e.span,
                            format!("the function '{other}' returns a scalar, not a table"),
                        )),
                    };
                }
                Err(BindError::new(
                    name.span,
                    format!("not supported yet: the tabular function '{other}'"),
                ))
            }
        }
    }

    fn table_named(&mut self, id: &Ident) -> Result<Plan> {
        match self.lookup(&id.name) {
            Some(Binding::Tabular(p)) => return Ok(p.clone()),
            Some(Binding::Scalar(..)) => {
                return Err(BindError::new(
                    id.span,
                    format!("'{}' is a scalar, not a table", id.name),
                ));
            }
            Some(Binding::Function(def, env_len)) => {
                // A function of no parameters (or only defaulted ones) may be called without
                // `()`, as Kusto allows: `let T = () { … }; T | …`.
                let (def, env_len) = (def.clone(), *env_len);
                if def.params.iter().all(|p| p.default.is_some()) {
                    return match self.call_function(
                        &def,
                        env_len,
                        &[],
                        None,
                        id.span,
                        &Scope::default(),
                    )? {
                        Bound::Table(p) => Ok(p),
                        Bound::Scalar(..) => Err(BindError::new(
                            id.span,
                            format!("'{}' is a scalar function, not a table", id.name),
                        )),
                    };
                }
                return Err(BindError::new(
                    id.span,
                    format!(
                        "'{}' is a function of {} parameter(s): call it with its arguments",
                        id.name,
                        def.params.len()
                    ),
                ));
            }
            None => {}
        }
        if let Some(t) = self.catalog.table(&id.name) {
            return Ok(Plan {
                node: Node::Scan {
                    table: t.name.to_string(),
                    columns: (0..t.schema.len()).collect(),
                },
                schema: t.schema.columns().to_vec(),
                event_time: Some(t.time_column),
            });
        }
        if id.name.ends_with("_CL") {
            return self.open_custom_table(id);
        }
        let mut near = self.catalog.closest(&id.name, 3);
        for (n, b) in &self.env {
            if matches!(b, Binding::Tabular(_))
                && crate::model::Schema::new(vec![Column {
                    name: Str::from(n.as_str()),
                    ty: Type::String,
                }])
                .closest(&id.name, 1)
                .len()
                    == 1
            {
                near.push(Str::from(n.as_str()));
            }
        }
        Err(BindError::new(
            id.span,
            format!(
                "unknown table '{}' (kqlflow has no schema for it){}",
                id.name,
                did_you_mean(&near)
            ),
        ))
    }

    /// A custom (`_CL`) table with no schema. `check` and `explain` bind it with the standard
    /// columns and the names the rest of the pipeline reads, typed by the suffix Log Analytics
    /// gives custom fields (`_s` string, `_d` real, `_b` bool, `_t` datetime, `_g` guid as
    /// string), as datetime when compared with a time (`EventTime > ago(1d)`), others as
    /// string, with a note; the commands that run queries refuse it, since nothing would read
    /// its records.
    fn open_custom_table(&mut self, id: &Ident) -> Result<Plan> {
        if !self.opts.open_custom_tables {
            return Err(BindError::new(
                id.span,
                format!(
                    "custom table '{}' has no schema in kqlflow: `kqlflow check` binds it with the columns the query uses, but running it needs its schema (not supported yet)",
                    id.name
                ),
            ));
        }
        let mut columns: Vec<Column> = Vec::new();
        for n in &self.open_names {
            if self.lookup(n).is_some()
                || crate::catalog::STANDARD_COLUMNS.iter().any(|(c, _)| c == n)
                || columns.iter().any(|c| &*c.name == n.as_str())
                || self.open_types.1.contains(n)
            {
                continue;
            }
            let ty = match n.rsplit_once('_').map(|(_, suffix)| suffix) {
                Some("d") => Type::Real,
                Some("b") => Type::Bool,
                Some("t") => Type::DateTime,
                _ if self.open_types.0.contains(n) => Type::DateTime,
                _ => Type::String,
            };
            columns.push(Column {
                name: Str::from(n.as_str()),
                ty,
            });
        }
        let table = crate::catalog::table_from_columns(&id.name, columns)
            .map_err(|e| BindError::new(id.span, e.to_string()))?;
        let used: Vec<&str> = table
            .schema
            .columns()
            .iter()
            .map(|c| &*c.name)
            .filter(|n| !crate::catalog::STANDARD_COLUMNS.iter().any(|(s, _)| s == n))
            .collect();
        let note = format!(
            "custom table '{}' has no schema in kqlflow: bound with the standard columns and the names the query reads, typed by their suffix (_s string, _d real, _b bool, _t datetime) or as datetime when compared with a time, others string: {}",
            id.name,
            if used.is_empty() {
                "none".to_string()
            } else {
                used.join(", ")
            }
        );
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
        Ok(Plan {
            node: Node::Scan {
                table: table.name.to_string(),
                columns: (0..table.schema.len()).collect(),
            },
            schema: table.schema.columns().to_vec(),
            event_time: Some(table.time_column),
        })
    }

    fn bind_print(&mut self, items: &[NamedExpr]) -> Result<Plan> {
        let mut row = Vec::new();
        let mut schema: Vec<Column> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let (x, ty) = self.bind_scalar(&it.expr, &Scope::default())?;
            let v = match fold(&x) {
                Some(Folded::Const(v)) => v,
                _ => {
                    return Err(BindError::new(
                        it.expr.span,
                        "print needs constant values here",
                    ));
                }
            };
            let name = it
                .names
                .first()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| format!("print_{i}"));
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            row.push(v);
        }
        Ok(Plan {
            node: Node::Constant { rows: vec![row] },
            schema,
            event_time: None,
        })
    }

    fn bind_union(&mut self, first: Option<Plan>, u: &Union, span: Span) -> Result<Plan> {
        let mut outer = true;
        let mut fuzzy = false;
        let mut with_source: Option<String> = None;
        for p in &u.params {
            let v = match &p.value.kind {
                ExprKind::Name(id) => id.name.clone(),
                ExprKind::Literal(l) => match &l.value {
                    Value::Bool(b) => b.to_string(),
                    Value::String(s) => s.to_string(),
                    other => crate::model::to_json_text(other),
                },
                _ => String::new(),
            };
            match p.name.name.as_str() {
                "kind" => outer = v != "inner",
                "isfuzzy" => fuzzy = v.eq_ignore_ascii_case("true"),
                "withsource" | "source" => with_source = Some(v),
                _ => {}
            }
        }
        let mut inputs: Vec<(Plan, String)> = Vec::new();
        let offset = usize::from(first.is_some());
        if let Some(f) = first {
            inputs.push((f, "union_arg0".to_string()));
        }
        for (i, op) in u.operands.iter().enumerate() {
            let label = match &strip_paren(op).kind {
                ExprKind::Name(id) => id.name.clone(),
                _ => format!("union_arg{}", i + offset),
            };
            match self.bind_tabular(op) {
                Ok(p) => inputs.push((p, label)),
                // As in Kusto, a fuzzy union drops the legs that fail to resolve (a table, or a
                // column or name that a leg reads and its table lacks), with a note; what
                // kqlflow does not support is still refused.
                Err(e) if fuzzy && is_resolution_failure(&e) => {
                    let at = crate::kql::line_col(self.src, e.span.start);
                    let leg = match leg_source(op) {
                        Some(t) if t != label => format!("'{label}' ({t} | …)"),
                        _ => format!("'{label}'"),
                    };
                    self.notes.push(format!(
                        "union isfuzzy=true skips {leg} at query line:column {at}: {}",
                        e.message
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if inputs.is_empty() {
            return Err(BindError::new(span, "union has no table kqlflow knows"));
        }
        let mut schema: Vec<Column> = Vec::new();
        if let Some(s) = &with_source {
            schema.push(Column {
                name: Str::from(s.as_str()),
                ty: Type::String,
            });
        }
        let base = schema.len();
        // As in Kusto, one column per name and type: a name that the inputs give different
        // types becomes one column per type, named `Name_type` (`LocationDetails_dynamic` and
        // `LocationDetails_string` for SigninLogs and AADNonInteractiveUserSignInLogs).
        let mut sources: Vec<(Str, Type)> = Vec::new();
        for (p, _) in &inputs {
            for c in &p.schema {
                if !sources.iter().any(|s| s.0 == c.name && s.1 == c.ty) {
                    sources.push((c.name.clone(), c.ty));
                }
            }
        }
        if !outer {
            sources.retain(|(n, t)| {
                inputs
                    .iter()
                    .all(|(p, _)| p.schema.iter().any(|c| c.name == *n && c.ty == *t))
            });
        }
        for (n, t) in &sources {
            let several = sources.iter().filter(|s| s.0 == *n).count() > 1;
            schema.push(Column {
                name: if several {
                    Str::from(format!("{n}_{t}").as_str())
                } else {
                    n.clone()
                },
                ty: *t,
            });
        }
        let event_time = {
            let names: Vec<Option<(Str, Type)>> = inputs
                .iter()
                .map(|(p, _)| {
                    p.event_time
                        .map(|t| (p.schema[t].name.clone(), p.schema[t].ty))
                })
                .collect();
            match names.first() {
                Some(Some(n)) if names.iter().all(|x| x.as_ref() == Some(n)) => {
                    sources.iter().position(|s| s == n).map(|i| i + base)
                }
                _ => None,
            }
        };
        let uinputs = inputs
            .into_iter()
            .map(|(p, label)| {
                let columns = (0..base)
                    .map(|_| None)
                    .chain(
                        sources
                            .iter()
                            .map(|(n, t)| p.schema.iter().position(|c| c.name == *n && c.ty == *t)),
                    )
                    .collect();
                UnionInput {
                    plan: p,
                    columns,
                    source: label,
                }
            })
            .collect();
        Ok(Plan {
            node: Node::Union {
                inputs: uinputs,
                with_source: with_source.is_some(),
            },
            schema,
            event_time,
        })
    }

    // ---- operators ---------------------------------------------------------------------

    fn bind_op(&mut self, p: Plan, op: &Operator) -> Result<Plan> {
        let span = op.span;
        match &op.kind {
            OperatorKind::Where(e) => self.bind_where(p, e),
            OperatorKind::Extend(items) => {
                let mut p = p;
                let mut scope = Scope::of(&p);
                // Columns holding a multi-column function's parts, dropped at the end.
                let mut parts: Vec<Str> = Vec::new();
                for it in items {
                    if let Some(multi) = self.multi_column_call(it, &scope)? {
                        let hidden = format!("{}()#{}", multi.function, parts.len());
                        scope.set(&hidden, Type::Dynamic, multi.call);
                        p = map_plan(p, scope.cols);
                        scope = Scope::of(&p);
                        let at = p.index_of(&hidden).unwrap_or(p.schema.len() - 1);
                        for (k, name) in multi.names.iter().enumerate() {
                            let part = ScalarExpr::Index {
                                expr: Box::new(ScalarExpr::Column(at)),
                                index: Box::new(ScalarExpr::Literal(Value::Long(k as i64))),
                            };
                            scope.set(name, Type::Dynamic, part);
                        }
                        parts.push(Str::from(hidden.as_str()));
                        continue;
                    }
                    let (x, ty) = self.bind_row_expr(&it.expr, &scope)?;
                    one_name(it)?;
                    let name = match it.names.first() {
                        Some(n) => n.name.clone(),
                        None => self.name_for(&it.expr, scope.cols.iter().map(|c| &*c.0)),
                    };
                    scope.set(&name, ty, x);
                }
                scope.cols.retain(|c| !parts.contains(&c.0));
                Ok(map_plan(p, scope.cols))
            }
            OperatorKind::Project(items) => {
                let scope = Scope::of(&p);
                let mut cols: Vec<(Str, Type, ScalarExpr)> = Vec::new();
                for it in items {
                    let (x, ty) = self.bind_row_expr(&it.expr, &scope)?;
                    one_name(it)?;
                    let name = match it.names.first() {
                        Some(n) => n.name.clone(),
                        None => self.name_for(&it.expr, cols.iter().map(|c| &*c.0)),
                    };
                    match cols.iter_mut().find(|c| &*c.0 == name.as_str()) {
                        Some(c) => {
                            c.1 = ty;
                            c.2 = x;
                        }
                        None => cols.push((Str::from(name.as_str()), ty, x)),
                    }
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectAway(pats) => {
                self.check_patterns(&p, pats)?;
                let cols = Scope::of(&p)
                    .cols
                    .into_iter()
                    .filter(|c| !pats.iter().any(|pt| pt.matches(&c.0)))
                    .collect();
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectKeep(pats) => {
                self.check_patterns(&p, pats)?;
                let cols = Scope::of(&p)
                    .cols
                    .into_iter()
                    .filter(|c| pats.iter().any(|pt| pt.matches(&c.0)))
                    .collect();
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectRename(renames) => {
                let mut cols = Scope::of(&p).cols;
                for r in renames {
                    let Some(c) = cols.iter_mut().find(|c| *c.0 == *r.old.name) else {
                        return Err(self.unknown_column(&r.old, &Scope::of(&p)));
                    };
                    c.0 = Str::from(r.new.name.as_str());
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::ProjectReorder(items) => {
                let pats: Vec<ColumnPattern> = items.iter().map(|i| i.pattern.clone()).collect();
                self.check_patterns(&p, &pats)?;
                let all = Scope::of(&p).cols;
                let mut cols: Vec<(Str, Type, ScalarExpr)> = Vec::new();
                for pt in &pats {
                    for c in &all {
                        if pt.matches(&c.0) && !cols.iter().any(|x| x.0 == c.0) {
                            cols.push(c.clone());
                        }
                    }
                }
                for c in all {
                    if !cols.iter().any(|x| x.0 == c.0) {
                        cols.push(c);
                    }
                }
                Ok(map_plan(p, cols))
            }
            OperatorKind::Summarize(s) => self.bind_summarize(p, s),
            OperatorKind::MakeSeries(m) => self.bind_make_series(p, m),
            OperatorKind::Join(j) => self.bind_join(p, j, false, span),
            OperatorKind::Lookup(j) => self.bind_join(p, j, true, span),
            OperatorKind::Evaluate { call, .. } if matches!(&call.kind, ExprKind::Call { name, .. } if name.name == "ipv4_lookup") =>
            {
                let ExprKind::Call { args, .. } = &call.kind else {
                    return Err(BindError::new(span, "internal: evaluate without a call"));
                };
                self.bind_ipv4_lookup(p, args, span)
            }
            OperatorKind::Union(u) => self.bind_union(Some(p), u, span),
            OperatorKind::MvExpand(m) => self.bind_mv_expand(p, m, span),
            OperatorKind::MvApply(m) => self.bind_mv_apply(p, m, span),
            OperatorKind::Sort(keys) => {
                let keys = self.sort_keys(&p, keys)?;
                let schema = p.schema.clone();
                let event_time = p.event_time;
                Ok(Plan {
                    node: Node::Sort {
                        input: Box::new(p),
                        keys,
                    },
                    schema,
                    event_time,
                })
            }
            OperatorKind::Top(t) => {
                let count = self.const_count(&t.count)?;
                let keys = self.sort_keys(&p, std::slice::from_ref(&t.by))?;
                Ok(self.take(p, count, keys))
            }
            OperatorKind::Take(n) => {
                let count = self.const_count(n)?;
                Ok(self.take(p, count, Vec::new()))
            }
            OperatorKind::Distinct(exprs) => {
                let p = if matches!(exprs.as_slice(), [e] if matches!(e.kind, ExprKind::Star)) {
                    p
                } else {
                    let scope = Scope::of(&p);
                    let mut cols = Vec::new();
                    for e in exprs {
                        let (x, ty) = self.bind_row_expr(e, &scope)?;
                        cols.push((
                            Str::from(
                                self.name_for(
                                    e,
                                    cols.iter().map(|c: &(Str, Type, ScalarExpr)| &*c.0),
                                )
                                .as_str(),
                            ),
                            ty,
                            x,
                        ));
                    }
                    map_plan(p, cols)
                };
                let schema = p.schema.clone();
                let event_time = p.event_time;
                Ok(Plan {
                    node: Node::Distinct { input: Box::new(p) },
                    schema,
                    event_time,
                })
            }
            OperatorKind::Count => Ok(Plan {
                node: Node::Reduce {
                    input: Box::new(p),
                    keys: Vec::new(),
                    aggs: vec![AggCall {
                        spec: AggSpec::new(AggKind::Count),
                        args: Vec::new(),
                    }],
                },
                schema: vec![Column {
                    name: Str::from("Count"),
                    ty: Type::Long,
                }],
                event_time: None,
            }),
            OperatorKind::Parse(parse) => self.bind_parse(p, parse),
            OperatorKind::As { .. } => Ok(p),
            OperatorKind::Serialize(items) if items.is_empty() => Ok(p),
            OperatorKind::Render => {
                let note = "render is ignored: kqlflow produces rows, not charts";
                if !self.notes.iter().any(|n| n == note) {
                    self.notes.push(note.to_string());
                }
                Ok(p)
            }
            OperatorKind::Invoke(call) => {
                let c = strip_paren(call);
                let ExprKind::Call { name, args } = &c.kind else {
                    return Err(BindError::new(call.span, "invoke needs a function call"));
                };
                let Some(Binding::Function(def, env_len)) = self.lookup(&name.name).cloned() else {
                    return Err(BindError::new(
                        name.span,
                        format!("unknown function '{}' for invoke", name.name),
                    ));
                };
                match self.call_function(
                    &def,
                    env_len,
                    args,
                    Some(p),
                    call.span,
                    &Scope::default(),
                )? {
                    Bound::Table(t) => Ok(t),
                    Bound::Scalar(..) => Err(BindError::new(
                        call.span,
                        format!("the function '{}' returns a scalar, not a table", name.name),
                    )),
                }
            }
            other => Err(BindError::new(
                span,
                format!("not supported yet: the {} operator", other.name()),
            )),
        }
    }

    /// `parse`: each extracted column is `extract(regex, i, text)` converted to its type, the
    /// regex built from the pattern (`*` and columns match lazily; the whole text must match).
    fn bind_parse(&mut self, p: Plan, parse: &kql::Parse) -> Result<Plan> {
        let mut regex_kind = false;
        for prm in &parse.params {
            if prm.name.name == "kind" {
                let v = prm.value.span.text(self.src);
                regex_kind = v == "regex";
                if !matches!(v, "regex" | "simple" | "relaxed") {
                    return Err(BindError::new(
                        prm.span,
                        format!("not supported yet: parse kind={v}"),
                    ));
                }
            } else {
                return Err(BindError::new(
                    prm.span,
                    format!("not supported yet: parse {}", prm.name.name),
                ));
            }
        }
        let mut scope = Scope::of(&p);
        let (text, _) = self.bind_row_expr(&parse.expr, &scope)?;
        let mut re = String::from("(?s)^");
        let mut columns = Vec::new();
        let n = parse.pattern.len();
        for (i, part) in parse.pattern.iter().enumerate() {
            match part {
                kql::ParsePart::Star(_) => re.push_str(".*?"),
                kql::ParsePart::Text(t, _) => {
                    if regex_kind {
                        re.push_str(&format!("(?:{t})"));
                    } else {
                        re.push_str(&regex::escape(t));
                    }
                }
                kql::ParsePart::Column { name, ty } => {
                    re.push_str(if i + 1 == n { "(.*)" } else { "(.*?)" });
                    columns.push((name.name.clone(), ty.unwrap_or(Type::String)));
                }
            }
        }
        re.push('$');
        if let Some(e) = crate::func::regex_error(&re) {
            return Err(BindError::new(
                parse.expr.span,
                format!("invalid parse pattern: {e}"),
            ));
        }
        for (k, (name, ty)) in columns.into_iter().enumerate() {
            let x = ScalarExpr::Cast(
                Box::new(ScalarExpr::Call {
                    name: "extract".to_string(),
                    args: vec![
                        ScalarExpr::Literal(Value::str(&re)),
                        ScalarExpr::Literal(Value::Long(k as i64 + 1)),
                        text.clone(),
                    ],
                }),
                ty,
            );
            scope.set(&name, ty, x);
        }
        Ok(map_plan(p, scope.cols))
    }

    fn take(&self, p: Plan, count: usize, keys: Vec<SortKey>) -> Plan {
        // `sort by K | take N` is `top N by K`: the first rows in the sort's order.
        let (p, keys) = match p.node {
            Node::Sort {
                input,
                keys: sorted,
            } if keys.is_empty() => (*input, sorted),
            node => (
                Plan {
                    node,
                    schema: p.schema,
                    event_time: p.event_time,
                },
                keys,
            ),
        };
        let schema = p.schema.clone();
        let event_time = p.event_time;
        Plan {
            node: Node::Take {
                input: Box::new(p),
                count,
                keys,
            },
            schema,
            event_time,
        }
    }

    fn const_count(&mut self, e: &Expr) -> Result<usize> {
        let (x, _) = self.bind_scalar(e, &Scope::default())?;
        const_usize(&x).ok_or_else(|| BindError::new(e.span, "expected a constant row count"))
    }

    fn sort_keys(&mut self, p: &Plan, keys: &[kql::SortKey]) -> Result<Vec<SortKey>> {
        let scope = Scope::of(p);
        let mut out = Vec::new();
        for k in keys {
            let (x, _) = self.bind_row_expr(&k.expr, &scope)?;
            let descending = k.descending.unwrap_or(true);
            out.push(SortKey {
                expr: x,
                descending,
                nulls_first: k.nulls_first.unwrap_or(!descending),
            });
        }
        Ok(out)
    }

    fn check_patterns(&self, p: &Plan, pats: &[ColumnPattern]) -> Result<()> {
        for pt in pats {
            if !pt.is_wildcard() && p.index_of(&pt.pattern).is_none() {
                return Err(self.unknown_column(
                    &Ident {
                        name: pt.pattern.clone(),
                        span: pt.span,
                    },
                    &Scope::of(p),
                ));
            }
        }
        Ok(())
    }

    /// The name of an unnamed column: Kusto's derived name, else the first `ColumnN` not
    /// among `taken`.
    fn name_for<'n>(&self, e: &Expr, taken: impl Iterator<Item = &'n str>) -> String {
        if let Some(n) = infer_name(e) {
            return n;
        }
        let taken: Vec<&str> = taken.collect();
        (1..)
            .map(|i| format!("Column{i}"))
            .find(|n| !taken.contains(&n.as_str()))
            .unwrap_or_else(|| "Column".to_string())
    }

    fn bind_where(&mut self, p: Plan, e: &Expr) -> Result<Plan> {
        let scope = Scope::of(&p);
        let mut cs = Vec::new();
        conjuncts(e, &mut cs);
        let mut preds = Vec::new();
        let mut temporal: Vec<TemporalBound> = Vec::new();
        let is_time = |i: usize| p.schema.get(i).is_some_and(|c| c.ty == Type::DateTime);
        for c in cs {
            let (x, _) = self.bind_scalar(c, &scope)?;
            if x.uses_now() {
                match temporal_bounds(&x, &is_time) {
                    Some(b) => {
                        self.check_reach(&b, p.event_time, c);
                        temporal.extend(b);
                    }
                    None => {
                        return Err(BindError::new(
                            self.now_span(c).unwrap_or(c.span),
                            NOW_MESSAGE,
                        ));
                    }
                }
            } else {
                preds.push(x);
            }
        }
        let predicate = match preds.len() {
            0 => ScalarExpr::Literal(Value::Bool(true)),
            1 => preds
                .pop()
                .unwrap_or(ScalarExpr::Literal(Value::Bool(true))),
            _ => ScalarExpr::And(preds),
        };
        // One filter per bounded column (a filter's bounds all read one column): the event
        // time's bounds, with the predicate, first.
        let mut groups: Vec<Vec<TemporalBound>> = Vec::new();
        for b in temporal {
            match groups.iter_mut().find(|g| g[0].column == b.column) {
                Some(g) => g.push(b),
                None => groups.push(vec![b]),
            }
        }
        if let Some(t) = p.event_time
            && let Some(i) = groups.iter().position(|g| g[0].column == t)
        {
            groups[..=i].rotate_right(1);
        }
        let mut groups = groups.into_iter();
        let mut plan = Plan::filter(p, predicate, groups.next().unwrap_or_default());
        for g in groups {
            plan = Plan::filter(plan, ScalarExpr::Literal(Value::Bool(true)), g);
        }
        Ok(plan)
    }

    /// Warns when a rule windowed on every scan bounds its event time below further back
    /// than its period: the records before the period are not there to read.
    fn check_reach(&mut self, bounds: &[TemporalBound], event_time: Option<usize>, c: &Expr) {
        let Some(PeriodWindow {
            period,
            scope: WindowScope::EveryScan,
        }) = self.opts.window
        else {
            return;
        };
        let reach = bounds
            .iter()
            .filter(|b| Some(b.column) == event_time && matches!(b.op, BoundOp::Gt | BoundOp::Ge))
            .map(|b| b.offset_ticks.saturating_sub(b.align))
            .min();
        if let Some(r) = reach
            && r < -period
        {
            self.warnings.push(Warning {
                start: c.span.start,
                end: c.span.end,
                message: format!(
                    "this filter reads back to now() - {}, but the rule's queryPeriod is {}: \
                     the rule sees only the records of its period (as in Sentinel); raise \
                     queryPeriod to at least {}",
                    super::window::human_duration(-r),
                    super::window::human_duration(period),
                    super::window::human_duration(-r),
                ),
            });
        }
    }

    /// Where in `e` now() is read: a `now()`/`ago()` call, a template time, or a `let` name
    /// bound to a time relative to now().
    fn now_span(&self, e: &Expr) -> Option<Span> {
        match &e.kind {
            ExprKind::Call { name, args } => {
                if name.name == "now" || name.name == "ago" {
                    return Some(e.span);
                }
                args.iter().find_map(|a| self.now_span(a))
            }
            ExprKind::Literal(l) => match &l.value {
                Value::String(s) if &**s == "{{StartTimeISO}}" || &**s == "{{EndTimeISO}}" => {
                    Some(e.span)
                }
                _ => None,
            },
            ExprKind::Name(id) => match self.lookup(&id.name) {
                Some(Binding::Scalar(x, _)) if x.uses_now() => Some(e.span),
                _ => None,
            },
            ExprKind::Paren(i) => self.now_span(i),
            ExprKind::Unary { operand, .. } => self.now_span(operand),
            ExprKind::Binary { lhs, rhs, .. } => self.now_span(lhs).or_else(|| self.now_span(rhs)),
            ExprKind::Logical { operands, .. } => operands.iter().find_map(|a| self.now_span(a)),
            ExprKind::Between {
                expr, low, high, ..
            } => self
                .now_span(expr)
                .or_else(|| self.now_span(low))
                .or_else(|| self.now_span(high)),
            ExprKind::InList { expr, items, .. } => self
                .now_span(expr)
                .or_else(|| items.iter().find_map(|a| self.now_span(a))),
            ExprKind::Member { target, .. } => self.now_span(target),
            ExprKind::Index { target, index } => {
                self.now_span(target).or_else(|| self.now_span(index))
            }
            _ => None,
        }
    }

    fn bind_summarize(&mut self, p: Plan, s: &Summarize) -> Result<Plan> {
        if s.aggregates.iter().any(is_expr_over_aggregates) {
            return self.bind_summarize_exprs(p, s);
        }
        let scope = Scope::of(&p);
        let mut schema: Vec<Column> = Vec::new();
        let mut keys = Vec::new();
        let mut event_time = None;
        for k in &s.by {
            let (x, ty) = self.bind_row_expr(&k.expr, &scope)?;
            let name = match k.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(&k.expr, schema.iter().map(|c| &*c.name)),
            };
            if p.event_time.is_some() && x == ScalarExpr::Column(p.event_time.unwrap_or(0)) {
                event_time = Some(keys.len());
            }
            let name = unique_name(&schema, &name);
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            keys.push(x);
        }
        let key_names: Vec<Str> = schema.iter().map(|c| c.name.clone()).collect();
        let mut aggs = Vec::new();
        // Per aggregate output: None for one column, Some(element columns) to unpack.
        let mut unpack: Vec<Option<Vec<(Str, Type)>>> = Vec::new();
        for a in &s.aggregates {
            let call = strip_paren(&a.expr);
            let ExprKind::Call { name, args } = &call.kind else {
                return Err(BindError::new(
                    a.expr.span,
                    "summarize takes aggregates (`N = count()`) or expressions over them (`N = toint(avg(x))`)",
                ));
            };
            let Some(f) = aggregate_fn(&name.name) else {
                return Err(BindError::new(
                    name.span,
                    if scalar_fn(&name.name).is_some() {
                        format!(
                            "'{}' is a scalar function: summarize takes aggregates or expressions over them (`{}(make_set(x))`)",
                            name.name, name.name
                        )
                    } else {
                        format!("not supported yet: the aggregate '{}'", name.name)
                    },
                ));
            };
            let nargs = args.len();
            let star_count = matches!(args.as_slice(), [x] if matches!(x.kind, ExprKind::Star));
            if !(f.kind == AggKind::Count && star_count)
                && (nargs < f.min_args || nargs > f.max_args)
            {
                return Err(BindError::new(
                    call.span,
                    format!(
                        "{} takes {} to {} arguments, {} given",
                        f.name,
                        f.min_args,
                        if f.max_args == usize::MAX {
                            "any number of".to_string()
                        } else {
                            f.max_args.to_string()
                        },
                        nargs
                    ),
                ));
            }
            if matches!(f.kind, AggKind::Percentile | AggKind::PercentileW) {
                // percentile(x, p) and percentiles(x, p1, p2, …): one column per percentage,
                // named `percentile_x_50` unless the query names them; the weighted forms
                // take the weight second.
                let (x, ty) = self.bind_row_expr(&args[0], &scope)?;
                let weighted = f.kind == AggKind::PercentileW;
                let mut inputs = vec![x];
                if weighted {
                    inputs.push(self.bind_row_expr(&args[1], &scope)?.0);
                }
                let mut percents = Vec::new();
                for arg in &args[inputs.len()..] {
                    let (pe, _) = self.bind_row_expr(arg, &scope)?;
                    let pc = match fold(&pe) {
                        Some(Folded::Const(Value::Long(n))) => n as f64,
                        Some(Folded::Const(Value::Real(r))) => r,
                        _ => {
                            return Err(BindError::new(
                                arg.span,
                                format!("{} needs constant percentages", f.name),
                            ));
                        }
                    };
                    if !(0.0..=100.0).contains(&pc) {
                        return Err(BindError::new(
                            arg.span,
                            format!("a percentage is between 0 and 100, not {pc}"),
                        ));
                    }
                    percents.push(pc);
                }
                if !a.names.is_empty() && a.names.len() != percents.len() {
                    return Err(BindError::new(
                        a.span,
                        format!(
                            "{} gives {} columns here: name each one, as in `(p50, p95) = percentiles(x, 50, 95)`, or none",
                            f.name,
                            percents.len()
                        ),
                    ));
                }
                let col = args.first().and_then(infer_name).unwrap_or_default();
                for (i, pc) in percents.into_iter().enumerate() {
                    let mut spec = AggSpec::with_arg(f.kind, ty);
                    spec.percentile = pc;
                    let nm = match a.names.get(i) {
                        Some(n) => n.name.clone(),
                        None => format!("percentile_{col}_{}", percent_suffix(pc)),
                    };
                    let nm = unique_name(&schema, &nm);
                    schema.push(Column {
                        name: Str::from(nm.as_str()),
                        ty: spec.result_type(&[ty]),
                    });
                    aggs.push(AggCall {
                        spec,
                        args: inputs.clone(),
                    });
                    unpack.push(None);
                }
                continue;
            }
            let mut spec = AggSpec::new(f.kind);
            let explicit = a.names.first().map(|n| n.name.clone());
            one_name(a)?;
            let first_name = args.first().and_then(infer_name);
            match f.kind {
                AggKind::ArgMax | AggKind::ArgMin | AggKind::TakeAny => {
                    let mut bound = Vec::new();
                    let mut names: Vec<(Str, Type)> = Vec::new();
                    for (i, arg) in args.iter().enumerate() {
                        if matches!(arg.kind, ExprKind::Star) {
                            for (ci, c) in p.schema.iter().enumerate() {
                                let taken = key_names.contains(&c.name)
                                    || names.iter().any(|n| n.0 == c.name);
                                if !taken {
                                    bound.push(ScalarExpr::Column(ci));
                                    names.push((c.name.clone(), c.ty));
                                }
                            }
                            continue;
                        }
                        let (x, ty) = self.bind_row_expr(arg, &scope)?;
                        let nm = match (i, &explicit) {
                            (0, Some(n)) => n.clone(),
                            _ => match infer_name(arg) {
                                Some(n) if f.kind == AggKind::TakeAny && f.prefix == "any_" => {
                                    format!("any_{n}")
                                }
                                Some(n) => n,
                                None => self.name_for(arg, names.iter().map(|c| &*c.0)),
                            },
                        };
                        bound.push(x);
                        names.push((Str::from(nm.as_str()), ty));
                    }
                    if f.kind == AggKind::TakeAny && names.len() == 1 {
                        let (nm, ty) = names.remove(0);
                        aggs.push(AggCall { spec, args: bound });
                        let nm = unique_name(&schema, &nm);
                        schema.push(Column {
                            name: Str::from(nm.as_str()),
                            ty,
                        });
                        unpack.push(None);
                    } else {
                        aggs.push(AggCall { spec, args: bound });
                        schema.push(Column {
                            name: Str::from(format!("__agg{}", aggs.len()).as_str()),
                            ty: Type::Dynamic,
                        });
                        unpack.push(Some(names));
                    }
                    continue;
                }
                _ => {}
            }
            let mut bound = Vec::new();
            let mut tys = Vec::new();
            for arg in args {
                if matches!(arg.kind, ExprKind::Star) {
                    continue;
                }
                let (x, ty) = self.bind_row_expr(arg, &scope)?;
                bound.push(x);
                tys.push(ty);
            }
            spec.arg = tys.first().copied().unwrap_or(Type::Dynamic);
            if f.kind == AggKind::Count && !bound.is_empty() {
                spec.kind = AggKind::CountValues;
            }
            let limit_at = |i: usize, b: &Vec<ScalarExpr>| b.get(i).and_then(const_usize);
            let args_ir: Vec<ScalarExpr> = match spec.kind {
                AggKind::Count => Vec::new(),
                AggKind::DCount => bound.into_iter().take(1).collect(),
                AggKind::DCountIf => bound.into_iter().take(2).collect(),
                AggKind::MakeSet => {
                    if let Some(n) = limit_at(1, &bound) {
                        spec.limit = n;
                    }
                    bound.into_iter().take(1).collect()
                }
                AggKind::MakeSetIf => {
                    if let Some(n) = limit_at(2, &bound) {
                        spec.limit = n;
                    }
                    bound.into_iter().take(2).collect()
                }
                AggKind::MakeList | AggKind::MakeListIf => {
                    let keep = if f.kind == AggKind::MakeList { 1 } else { 2 };
                    if let Some(n) = limit_at(keep, &bound) {
                        spec.limit = n;
                    }
                    let mut v: Vec<ScalarExpr> = bound.into_iter().take(keep).collect();
                    v.push(order_key(&p));
                    v
                }
                AggKind::MakeBag => bound.into_iter().take(1).collect(),
                _ => bound,
            };
            let ty = spec.result_type(&tys);
            let nm = match explicit {
                Some(n) => n,
                None if spec.kind == AggKind::CountValues => match &first_name {
                    Some(col) => format!("count_{col}"),
                    None => "count_".to_string(),
                },
                None => f.default_column_name(first_name.as_deref()),
            };
            let nm = unique_name(&schema, &nm);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty,
            });
            aggs.push(AggCall {
                spec,
                args: args_ir,
            });
            unpack.push(None);
        }
        let nkeys = keys.len();
        let reduce = Plan {
            node: Node::Reduce {
                input: Box::new(p),
                keys,
                aggs,
            },
            schema: schema.clone(),
            event_time,
        };
        if unpack.iter().all(Option::is_none) {
            return Ok(reduce);
        }
        let mut cols: Vec<(Str, Type, ScalarExpr)> = (0..nkeys)
            .map(|i| (schema[i].name.clone(), schema[i].ty, ScalarExpr::Column(i)))
            .collect();
        for (j, u) in unpack.iter().enumerate() {
            let at = nkeys + j;
            match u {
                None => cols.push((
                    schema[at].name.clone(),
                    schema[at].ty,
                    ScalarExpr::Column(at),
                )),
                Some(elems) => {
                    for (k, (nm, ty)) in elems.iter().enumerate() {
                        let taken: Vec<Column> = cols
                            .iter()
                            .map(|c| Column {
                                name: c.0.clone(),
                                ty: c.1,
                            })
                            .collect();
                        let nm = unique_name(&taken, nm);
                        cols.push((
                            Str::from(nm.as_str()),
                            *ty,
                            ScalarExpr::Cast(
                                Box::new(ScalarExpr::Index {
                                    expr: Box::new(ScalarExpr::Column(at)),
                                    index: Box::new(ScalarExpr::Literal(Value::Long(k as i64))),
                                }),
                                *ty,
                            ),
                        ));
                    }
                }
            }
        }
        Ok(map_plan(reduce, cols))
    }

    /// A summarize with scalar expressions over aggregates (`s = tostring(make_set(x))`,
    /// `toint(avg(x))`): the aggregates are computed into hidden columns, then each expression
    /// is evaluated over them (and the group keys) in a map after the reduce.
    fn bind_summarize_exprs(&mut self, p: Plan, s: &Summarize) -> Result<Plan> {
        const HIDDEN: &str = "__summarize_agg";
        let mut items: Vec<NamedExpr> = Vec::new();
        // Per item over aggregates: its name (if given), its expression over the hidden
        // columns, and the first hidden column it reads.
        let mut exprs: Vec<(Option<String>, Expr, String)> = Vec::new();
        let mut hidden = 0usize;
        for a in &s.aggregates {
            if !is_expr_over_aggregates(a) {
                items.push(a.clone());
                continue;
            }
            one_name(a)?;
            let mut first: Option<(String, Option<String>)> = None;
            let rewritten = rewrite_calls(&a.expr, &mut |call: &Expr| {
                let ExprKind::Call { name, args } = &call.kind else {
                    return None;
                };
                let f = aggregate_fn(&name.name)?;
                hidden += 1;
                let h = format!("{HIDDEN}{hidden}");
                if first.is_none() {
                    let default =
                        f.default_column_name(args.first().and_then(infer_name).as_deref());
                    first = Some((h.clone(), Some(default)));
                }
                items.push(NamedExpr {
                    names: vec![Ident {
                        name: h.clone(),
                        span: name.span,
                    }],
                    expr: call.clone(),
                    span: call.span,
                });
                Some(Expr {
                    kind: ExprKind::Name(Ident {
                        name: h,
                        span: call.span,
                    }),
                    span: call.span,
                })
            });
            let Some((first, default)) = first else {
                return Err(BindError::new(a.expr.span, "summarize takes aggregates"));
            };
            let name = a.names.first().map(|n| n.name.clone()).or_else(|| {
                // Through conversions (`tostring(make_set(x))`) the aggregate's own name.
                let mut e = strip_paren(&rewritten);
                while let ExprKind::Call { name, args } = &e.kind
                    && NAME_THROUGH.contains(&name.name.as_str())
                    && args.len() == 1
                {
                    e = strip_paren(&args[0]);
                }
                match &e.kind {
                    ExprKind::Name(id) if id.name == first => default,
                    _ => None,
                }
            });
            exprs.push((name, rewritten, first));
        }
        let inner = Summarize {
            params: s.params.clone(),
            aggregates: items,
            by: s.by.clone(),
        };
        let reduce = self.bind_summarize(p, &inner)?;
        let scope = Scope::of(&reduce);
        let nkeys = s.by.len();
        let mut outs: Vec<(Str, Type, ScalarExpr)> = Vec::new();
        let taken = |outs: &Vec<(Str, Type, ScalarExpr)>| -> Vec<Column> {
            outs.iter()
                .map(|c| Column {
                    name: c.0.clone(),
                    ty: c.1,
                })
                .collect()
        };
        for (i, c) in reduce.schema.iter().enumerate() {
            if i >= nkeys && c.name.starts_with(HIDDEN) {
                let Some((name, e, _)) = exprs.iter().find(|x| *x.2 == *c.name) else {
                    continue;
                };
                let (x, ty) = self.bind_row_expr(e, &scope)?;
                let nm = match name {
                    Some(n) => n.clone(),
                    None => self.name_for(e, outs.iter().map(|c| &*c.0)),
                };
                let nm = unique_name(&taken(&outs), &nm);
                outs.push((Str::from(nm.as_str()), ty, x));
            } else {
                let nm = unique_name(&taken(&outs), &c.name);
                outs.push((Str::from(nm.as_str()), c.ty, ScalarExpr::Column(i)));
            }
        }
        Ok(map_plan(reduce, outs))
    }

    /// An `extend` item that calls a function returning several columns
    /// ([`crate::func::MULTI_COLUMN_FUNCTIONS`]) with a tuple of names, or with none: the call
    /// of its internal function and the columns' names (the names given, then Kusto's
    /// generated `f_x_suffix` names). `None` for any other item.
    fn multi_column_call(&mut self, it: &NamedExpr, scope: &Scope) -> Result<Option<MultiColumn>> {
        let call = strip_paren(&it.expr);
        let ExprKind::Call { name, args } = &call.kind else {
            return Ok(None);
        };
        let Some((function, internal, suffixes)) = crate::func::MULTI_COLUMN_FUNCTIONS
            .iter()
            .find(|(f, _, _)| *f == name.name)
        else {
            return Ok(None);
        };
        if it.names.len() == 1 || self.lookup(&name.name).is_some() {
            return Ok(None);
        }
        if it.names.len() > suffixes.len() {
            return Err(BindError::new(
                it.span,
                format!(
                    "{function}() returns {} columns, {} names given",
                    suffixes.len(),
                    it.names.len()
                ),
            ));
        }
        // Bind the call as a user's (arity, argument types), then call the internal function.
        let (x, _) = self.bind_row_expr(call, scope)?;
        let ScalarExpr::Call { args: bound, .. } = x else {
            return Ok(None);
        };
        let base = match args.first().and_then(infer_name) {
            Some(a) => format!("{function}_{a}"),
            None => function.to_string(),
        };
        let names = suffixes
            .iter()
            .enumerate()
            .map(|(k, suffix)| match it.names.get(k) {
                Some(n) => n.name.clone(),
                None => format!("{base}_{suffix}"),
            })
            .collect();
        Ok(Some(MultiColumn {
            function,
            call: ScalarExpr::Call {
                name: internal.to_string(),
                args: bound,
            },
            names,
        }))
    }

    /// A constant of `make-series` (`from`, `to`, `step`, `default`): folded to a value;
    /// now() is refused (the arrays would move with every tick: see SEMANTICS "now()").
    fn series_constant(&mut self, e: &Expr, what: &str) -> Result<Value> {
        let (x, _) = self.bind_scalar(e, &Scope::default())?;
        if x.uses_now() {
            return Err(BindError::new(
                self.now_span(e).unwrap_or(e.span),
                format!(
                    "not supported: a make-series {what} relative to now() cannot be maintained incrementally (every tick would move the bins); filter the rows with a `where TimeGenerated > ago(…)` before make-series and leave `from`/`to` out, or give constant datetimes"
                ),
            ));
        }
        match fold(&x) {
            Some(Folded::Const(v)) => Ok(v),
            _ => Err(BindError::new(
                e.span,
                format!("the make-series {what} must be a constant"),
            )),
        }
    }

    /// `make-series`: keys as summarize's, numeric aggregates, a datetime, timespan or long
    /// axis with constant bounds and step.
    fn bind_make_series(&mut self, p: Plan, m: &kql::MakeSeries) -> Result<Plan> {
        let mut nonempty = false;
        for prm in &m.params {
            let v = prm.value.span.text(self.src);
            match (prm.name.name.as_str(), v) {
                ("kind", "nonempty") => nonempty = true,
                (n, _) if n.starts_with("hint.") => {}
                _ => {
                    return Err(BindError::new(
                        prm.span,
                        format!("not supported yet: make-series {}={v}", prm.name.name),
                    ));
                }
            }
        }
        let scope = Scope::of(&p);
        let mut schema: Vec<Column> = Vec::new();
        let mut keys = Vec::new();
        for k in &m.by {
            let (x, ty) = self.bind_row_expr(&k.expr, &scope)?;
            let name = match k.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(&k.expr, schema.iter().map(|c| &*c.name)),
            };
            let name = unique_name(&schema, &name);
            schema.push(Column {
                name: Str::from(name.as_str()),
                ty,
            });
            keys.push(x);
        }
        // The axis, its type and its bounds.
        let (axis_expr, axis_ty) = self.bind_row_expr(&m.on, &scope)?;
        let axis_ty = match axis_ty {
            Type::DateTime | Type::TimeSpan => axis_ty,
            Type::Long | Type::Int => Type::Long,
            other => {
                return Err(BindError::new(
                    m.on.span,
                    format!(
                        "not supported yet: a make-series axis of type {other} (datetime, timespan or long)"
                    ),
                ));
            }
        };
        let step = match (self.series_constant(&m.step, "step")?, axis_ty) {
            (Value::TimeSpan(t), Type::DateTime | Type::TimeSpan) if t > 0 => t,
            (Value::Long(n), Type::Long) if n > 0 => n,
            (v, _) => {
                return Err(BindError::new(
                    m.step.span,
                    format!(
                        "the make-series step must be a positive {} (found {v})",
                        if axis_ty == Type::Long {
                            "long"
                        } else {
                            "timespan"
                        }
                    ),
                ));
            }
        };
        let mut axis = SeriesAxis {
            expr: axis_expr,
            ty: axis_ty,
            step,
            start: None,
            end: None,
        };
        let bound = |e: &Option<Expr>, what: &str, b: &mut Self| -> Result<Option<i64>> {
            let Some(e) = e else { return Ok(None) };
            let v = b.series_constant(e, what)?;
            if v.is_null() {
                return Ok(None);
            }
            match axis.value_of(&v) {
                Some(x) => Ok(Some(x)),
                None => Err(BindError::new(
                    e.span,
                    format!("the make-series {what} must be a {axis_ty} like the axis (found {v})"),
                )),
            }
        };
        let start = bound(&m.from, "start", self)?;
        let end = bound(&m.to, if m.range { "stop" } else { "end" }, self)?;
        if m.range {
            // `in range(start, stop, step)`: bins by bin(), from the start's bin to the stop's
            // (inclusive).
            axis.start = start.and_then(|s| axis.bin_of(s));
            axis.end = end
                .and_then(|e| axis.bin_of(e))
                .and_then(|b| b.checked_add(step));
        } else {
            axis.start = start;
            axis.end = end;
        }
        // The aggregates, with their defaults.
        let mut aggs = Vec::new();
        let mut defaults = Vec::new();
        for sa in &m.aggregates {
            let a = &sa.agg;
            let call = strip_paren(&a.expr);
            let ExprKind::Call { name, args } = &call.kind else {
                return Err(BindError::new(
                    a.expr.span,
                    "make-series takes aggregates (`N = count()`), not expressions over them",
                ));
            };
            let f = aggregate_fn(&name.name).filter(|f| {
                matches!(
                    f.kind,
                    AggKind::Count
                        | AggKind::CountIf
                        | AggKind::DCount
                        | AggKind::DCountIf
                        | AggKind::Sum
                        | AggKind::SumIf
                        | AggKind::Avg
                        | AggKind::AvgIf
                        | AggKind::Min
                        | AggKind::Max
                        | AggKind::MinIf
                        | AggKind::MaxIf
                        | AggKind::Stdev
                        | AggKind::Variance
                        | AggKind::StdevIf
                        | AggKind::VarianceIf
                )
            });
            let Some(f) = f else {
                return Err(BindError::new(
                    name.span,
                    format!(
                        "not supported yet: the aggregate '{}' in make-series (count, countif, dcount, dcountif, sum, sumif, avg, avgif, min, max, minif, maxif, stdev, stdevif, variance, varianceif)",
                        name.name
                    ),
                ));
            };
            one_name(a)?;
            let star_count = matches!(args.as_slice(), [x] if matches!(x.kind, ExprKind::Star));
            let nargs = if star_count { 0 } else { args.len() };
            if nargs < f.min_args || nargs > f.max_args {
                return Err(BindError::new(
                    call.span,
                    format!(
                        "{} takes {} to {} arguments, {} given",
                        f.name, f.min_args, f.max_args, nargs
                    ),
                ));
            }
            let mut bound = Vec::new();
            let mut tys = Vec::new();
            for arg in args.iter().filter(|a| !matches!(a.kind, ExprKind::Star)) {
                let (x, ty) = self.bind_row_expr(arg, &scope)?;
                bound.push(x);
                tys.push(ty);
            }
            let mut spec = AggSpec::with_arg(f.kind, tys.first().copied().unwrap_or(Type::Dynamic));
            if f.kind == AggKind::Count && !bound.is_empty() {
                spec.kind = AggKind::CountValues;
            }
            let args_ir: Vec<ScalarExpr> = match spec.kind {
                AggKind::Count => Vec::new(),
                AggKind::DCount => bound.into_iter().take(1).collect(),
                AggKind::DCountIf => bound.into_iter().take(2).collect(),
                _ => bound,
            };
            let ty = spec.result_type(&tys);
            let default = match &sa.default {
                Some(d) => self.series_constant(d, "default")?,
                None => match ty {
                    Type::Real => Value::Real(0.0),
                    Type::TimeSpan => Value::TimeSpan(0),
                    Type::DateTime => Value::Null,
                    _ => Value::Long(0),
                },
            };
            let nm = match a.names.first() {
                Some(n) => n.name.clone(),
                None => f.default_column_name(args.first().and_then(infer_name).as_deref()),
            };
            let nm = unique_name(&schema, &nm);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty: Type::Dynamic,
            });
            aggs.push(AggCall {
                spec,
                args: args_ir,
            });
            defaults.push(default);
        }
        let axis_name = infer_name(&m.on)
            .unwrap_or_else(|| self.name_for(&m.on, schema.iter().map(|c| &*c.name)));
        let axis_name = unique_name(&schema, &axis_name);
        schema.push(Column {
            name: Str::from(axis_name.as_str()),
            ty: Type::Dynamic,
        });
        Ok(Plan {
            node: Node::MakeSeries {
                input: Box::new(p),
                keys,
                aggs,
                defaults,
                axis,
                nonempty,
            },
            schema,
            event_time: None,
        })
    }

    fn join_key(&self, p: &Plan, id: &Ident, side: &str) -> Result<usize> {
        p.index_of(&id.name).ok_or_else(|| {
            BindError::new(
                id.span,
                format!(
                    "unknown column '{}' on the {side} side of the join{}",
                    id.name,
                    did_you_mean(&Scope::of(p).closest(&id.name))
                ),
            )
        })
    }

    fn bind_join(&mut self, left: Plan, j: &Join, lookup: bool, span: Span) -> Result<Plan> {
        let right = self.bind_tabular(&j.right)?;
        let kind = match j.kind {
            Some(k) => k,
            None if lookup => JoinKind::LeftOuter,
            None => JoinKind::InnerUnique,
        };
        if lookup && !matches!(kind, JoinKind::LeftOuter | JoinKind::Inner) {
            return Err(BindError::new(
                j.kind_span.unwrap_or(span),
                "lookup supports kind=leftouter and kind=inner only",
            ));
        }
        if j.on.is_empty() {
            return Err(BindError::new(span, "the join needs `on` conditions"));
        }
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for c in &j.on {
            match c {
                JoinCondition::Column(id) => {
                    left_keys.push(self.join_key(&left, id, "left")?);
                    right_keys.push(self.join_key(&right, id, "right")?);
                }
                JoinCondition::Equal {
                    left: l, right: r, ..
                } => {
                    left_keys.push(self.join_key(&left, l, "left")?);
                    right_keys.push(self.join_key(&right, r, "right")?);
                }
            }
        }
        let (schema, event_time, right_output) = if kind.left_only() {
            (left.schema.clone(), left.event_time, Vec::new())
        } else if kind.right_only() {
            (right.schema.clone(), right.event_time, Vec::new())
        } else {
            let mut schema = left.schema.clone();
            let mut right_output = Vec::new();
            for (i, c) in right.schema.iter().enumerate() {
                if lookup && right_keys.contains(&i) {
                    continue;
                }
                let nm = unique_name(&schema, &c.name);
                schema.push(Column {
                    name: Str::from(nm.as_str()),
                    ty: c.ty,
                });
                right_output.push(i);
            }
            (schema, left.event_time, right_output)
        };
        Ok(Plan {
            node: Node::Join {
                kind,
                left: Box::new(left),
                right: Box::new(right),
                left_keys,
                right_keys,
                right_output,
            },
            schema,
            event_time,
        })
    }

    fn expand_items(
        &mut self,
        p: &Plan,
        items: &[kql::ExpandItem],
    ) -> Result<Vec<(String, ScalarExpr, Option<Type>)>> {
        let scope = Scope::of(p);
        let mut out = Vec::new();
        for it in items {
            let (x, ty) = self.bind_row_expr(&it.target.expr, &scope)?;
            if ty != Type::Dynamic {
                return Err(BindError::new(
                    it.target.expr.span,
                    format!("expanding needs a dynamic array, and this is a {ty}"),
                ));
            }
            let name = match it.target.names.first() {
                Some(n) => n.name.clone(),
                None => self.name_for(
                    &it.target.expr,
                    out.iter()
                        .map(|c: &(String, ScalarExpr, Option<Type>)| c.0.as_str()),
                ),
            };
            out.push((name, x, it.to_type));
        }
        Ok(out)
    }

    fn bind_mv_expand(&mut self, p: Plan, m: &kql::MvExpand, span: Span) -> Result<Plan> {
        if let Some(prm) = m.params.iter().find(|x| x.name.name == "with_itemindex") {
            return Err(BindError::new(
                prm.span,
                "not supported yet: mv-expand with_itemindex",
            ));
        }
        let items = self.expand_items(&p, &m.items)?;
        let limit = match &m.limit {
            Some(l) => Some(self.const_count(l)?),
            None => None,
        };
        let mut scope = Scope::of(&p);
        for (name, x, _) in &items {
            scope.set(name, Type::Dynamic, x.clone());
        }
        let mapped = map_plan(p, scope.cols);
        let mut schema = mapped.schema.clone();
        let mut columns = Vec::new();
        for (name, _, ty) in &items {
            let Some(i) = mapped.index_of(name) else {
                return Err(BindError::new(span, "internal: expanded column lost"));
            };
            schema[i].ty = ty.unwrap_or(Type::Dynamic);
            columns.push((i, *ty));
        }
        let event_time = mapped
            .event_time
            .filter(|t| !columns.iter().any(|(c, _)| c == t));
        Ok(Plan {
            node: Node::MvExpand {
                input: Box::new(mapped),
                columns,
                limit,
            },
            schema,
            event_time,
        })
    }

    fn bind_mv_apply(&mut self, p: Plan, m: &kql::MvApply, span: Span) -> Result<Plan> {
        if let Some(prm) = m.params.first() {
            return Err(BindError::new(
                prm.span,
                format!("not supported yet: mv-apply {}", prm.name.name),
            ));
        }
        let items = self.expand_items(&p, &m.items)?;
        let limit = match &m.limit {
            Some(l) => Some(self.const_count(l)?),
            None => None,
        };
        let mut apply_schema = p.schema.clone();
        let mut item_columns = Vec::new();
        let mut ir_items = Vec::new();
        for (name, x, ty) in items {
            let col = Column {
                name: Str::from(name.as_str()),
                ty: ty.unwrap_or(Type::Dynamic),
            };
            let at = match apply_schema.iter().position(|c| *c.name == *name) {
                Some(i) => {
                    apply_schema[i] = col;
                    i
                }
                None => {
                    apply_schema.push(col);
                    apply_schema.len() - 1
                }
            };
            item_columns.push(at);
            ir_items.push(ExpandItem { expr: x, ty });
        }
        let sub_event_time = p.event_time.filter(|t| !item_columns.contains(t));
        let mut sub = Plan {
            node: Node::ApplyRows,
            schema: apply_schema.clone(),
            event_time: sub_event_time,
        };
        for op in &m.subquery {
            sub = self.bind_op(sub, op)?;
        }
        let keep: Vec<usize> = (0..p.schema.len())
            .filter(|i| !sub.schema.iter().any(|c| c.name == p.schema[*i].name))
            .collect();
        let mut schema: Vec<Column> = keep.iter().map(|i| p.schema[*i].clone()).collect();
        schema.extend(sub.schema.iter().cloned());
        let event_time = match p.event_time.and_then(|t| keep.iter().position(|k| *k == t)) {
            Some(i) => Some(i),
            None => sub.event_time.map(|t| t + keep.len()),
        };
        let _ = span;
        Ok(Plan {
            node: Node::MvApply {
                input: Box::new(p),
                items: ir_items,
                item_columns,
                apply_width: apply_schema.len(),
                keep,
                limit,
                sub: Box::new(sub),
            },
            schema,
            event_time,
        })
    }

    // ---- scalar expressions ------------------------------------------------------------

    /// Binds a per-row expression: now() is refused.
    fn bind_row_expr(&mut self, e: &Expr, scope: &Scope) -> Result<(ScalarExpr, Type)> {
        let (x, ty) = self.bind_scalar(e, scope)?;
        if x.uses_now() {
            return Err(BindError::new(
                self.now_span(e).unwrap_or(e.span),
                NOW_MESSAGE,
            ));
        }
        Ok((x, ty))
    }

    fn unknown_column(&self, id: &Ident, scope: &Scope) -> BindError {
        if scope.cols.is_empty() {
            return BindError::new(id.span, format!("unknown name '{}'", id.name));
        }
        BindError::new(
            id.span,
            format!(
                "unknown column '{}'{}",
                id.name,
                did_you_mean(&scope.closest(&id.name))
            ),
        )
    }

    fn template_time(&self, s: &str) -> Option<ScalarExpr> {
        let period = self.opts.query_period.unwrap_or(TICKS_PER_DAY);
        match s {
            "{{StartTimeISO}}" => Some(now_plus(-period)),
            "{{EndTimeISO}}" => Some(ScalarExpr::Now),
            _ => None,
        }
    }

    fn bind_scalar(&mut self, e: &Expr, scope: &Scope) -> Result<(ScalarExpr, Type)> {
        match &e.kind {
            ExprKind::Literal(l) => {
                if let Value::String(s) = &l.value
                    && let Some(x) = self.template_time(s)
                {
                    return Ok((x, Type::DateTime));
                }
                Ok((ScalarExpr::Literal(l.value.clone()), l.ty))
            }
            ExprKind::Name(id) => {
                if let Some((_, ty, x)) = scope.get(&id.name) {
                    return Ok((x.clone(), *ty));
                }
                match self.lookup(&id.name) {
                    Some(Binding::Scalar(x, ty)) => Ok((x.clone(), *ty)),
                    Some(Binding::Tabular(_)) => Err(BindError::new(
                        id.span,
                        format!(
                            "'{}' is a table where a scalar is expected (use toscalar())",
                            id.name
                        ),
                    )),
                    Some(Binding::Function(def, env_len))
                        if def.params.iter().all(|p| p.default.is_some()) =>
                    {
                        // A function of no parameters called without `()`.
                        let (def, env_len) = (def.clone(), *env_len);
                        match self.call_function(&def, env_len, &[], None, id.span, scope)? {
                            Bound::Scalar(x, ty) => Ok((x, ty)),
                            Bound::Table(_) => Err(BindError::new(
                                id.span,
                                format!(
                                    "the function '{}' returns a table where a scalar is expected",
                                    id.name
                                ),
                            )),
                        }
                    }
                    Some(Binding::Function(..)) => Err(BindError::new(
                        id.span,
                        format!("'{}' is a function: call it with its arguments", id.name),
                    )),
                    None => Err(self.unknown_column(id, scope)),
                }
            }
            ExprKind::Paren(i) => self.bind_scalar(i, scope),
            ExprKind::Unary { op, operand } => {
                let (x, ty) = self.bind_scalar(operand, scope)?;
                Ok(match op {
                    UnaryOp::Plus => (x, ty),
                    UnaryOp::Neg => (ScalarExpr::Neg(Box::new(x)), ty),
                    UnaryOp::Not => (ScalarExpr::Not(Box::new(x)), Type::Bool),
                })
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let Some((bop, negate)) = map_binop(*op) else {
                    return Err(BindError::new(
                        e.span,
                        format!("not supported yet: the operator {}", op.as_str()),
                    ));
                };
                let (a, ta) = self.bind_scalar(lhs, scope)?;
                let (b, tb) = self.bind_scalar(rhs, scope)?;
                if bop == BinOp::MatchesRegex
                    && let Some(Folded::Const(Value::String(pat))) = fold(&b)
                    && let Some(err) = crate::func::regex_error(&pat)
                {
                    return Err(BindError::new(
                        rhs.span,
                        format!("invalid regular expression: {err}"),
                    ));
                }
                let ty = if bop.is_predicate() {
                    Type::Bool
                } else {
                    arith_type(bop, ta, tb)
                };
                let x = ScalarExpr::Binary(bop, Box::new(a), Box::new(b));
                Ok((
                    if negate {
                        ScalarExpr::Not(Box::new(x))
                    } else {
                        x
                    },
                    ty,
                ))
            }
            ExprKind::Logical { op, operands } => {
                let mut xs = Vec::new();
                for o in operands {
                    xs.push(self.bind_scalar(o, scope)?.0);
                }
                Ok((
                    match op {
                        LogicalOp::And => ScalarExpr::And(xs),
                        LogicalOp::Or => ScalarExpr::Or(xs),
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let (x, xt) = self.bind_scalar(expr, scope)?;
                let (lo, lt) = self.bind_scalar(low, scope)?;
                let (hi, ht) = self.bind_scalar(high, scope)?;
                // `t between (start .. 3d)`: with a datetime and a timespan the range is
                // `start .. start + 3d`, as Kusto documents.
                let hi = if xt == Type::DateTime && lt == Type::DateTime && ht == Type::TimeSpan {
                    ScalarExpr::Binary(BinOp::Add, Box::new(lo.clone()), Box::new(hi))
                } else {
                    hi
                };
                Ok((
                    ScalarExpr::Between {
                        expr: Box::new(x),
                        lo: Box::new(folded_expr(lo)),
                        hi: Box::new(folded_expr(hi)),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::InList { expr, op, items } => {
                let (x, _) = self.bind_scalar(expr, scope)?;
                let mut list = Vec::new();
                for it in items {
                    if self.is_tabular_syntax(it) {
                        let p = self.bind_tabular(it)?;
                        list.push(self.column_as_array(p, it.span)?);
                    } else {
                        list.push(folded_expr(self.bind_scalar(it, scope)?.0));
                    }
                }
                let x = Box::new(x);
                Ok((
                    match op {
                        ListOp::In | ListOp::NotIn | ListOp::InCi | ListOp::NotInCi => {
                            ScalarExpr::In {
                                expr: x,
                                list,
                                negated: matches!(op, ListOp::NotIn | ListOp::NotInCi),
                                ignore_case: matches!(op, ListOp::InCi | ListOp::NotInCi),
                            }
                        }
                        ListOp::HasAny | ListOp::HasAll => ScalarExpr::HasAny {
                            expr: x,
                            list,
                            all: *op == ListOp::HasAll,
                        },
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Call { name, args } => self.bind_call(e, name, args, scope),
            ExprKind::Member { target, name } => {
                let (x, ty) = self.bind_scalar(target, scope)?;
                if ty != Type::Dynamic {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "'.{}' reads a property of a dynamic value, and {} is a {ty}",
                            name.name,
                            target.span.text(self.src)
                        ),
                    ));
                }
                Ok((
                    ScalarExpr::Member {
                        expr: Box::new(x),
                        key: name.name.clone(),
                    },
                    Type::Dynamic,
                ))
            }
            ExprKind::Index { target, index } => {
                let (x, ty) = self.bind_scalar(target, scope)?;
                if ty != Type::Dynamic {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "indexing needs a dynamic value, and {} is a {ty}",
                            target.span.text(self.src)
                        ),
                    ));
                }
                let (i, _) = self.bind_scalar(index, scope)?;
                let i = folded_expr(i);
                Ok((
                    match i {
                        ScalarExpr::Literal(Value::String(k)) => ScalarExpr::Member {
                            expr: Box::new(x),
                            key: k.to_string(),
                        },
                        other => ScalarExpr::Index {
                            expr: Box::new(x),
                            index: Box::new(other),
                        },
                    },
                    Type::Dynamic,
                ))
            }
            ExprKind::Star => Err(BindError::new(e.span, "`*` is not a value here")),
            ExprKind::TypeOf(_) => Err(BindError::new(e.span, "typeof(…) is not a value here")),
            ExprKind::NamedArg { name, .. } => Err(BindError::new(
                name.span,
                format!(
                    "a named argument (`{} = …`) is taken by user functions and plugins, not here",
                    name.name
                ),
            )),
            _ => Err(BindError::new(
                e.span,
                "a tabular expression where a scalar is expected (use toscalar())",
            )),
        }
    }

    /// A table's first column as one array value (a scalar sub-query), for `in (T)`.
    fn column_as_array(&mut self, p: Plan, span: Span) -> Result<ScalarExpr> {
        if p.schema.is_empty() {
            return Err(BindError::new(span, "the table has no column"));
        }
        let reduce = Plan {
            node: Node::Reduce {
                input: Box::new(p),
                keys: Vec::new(),
                aggs: vec![AggCall {
                    spec: AggSpec::new(AggKind::MakeSet),
                    args: vec![ScalarExpr::Column(0)],
                }],
            },
            schema: vec![Column {
                name: Str::from("set"),
                ty: Type::Dynamic,
            }],
            event_time: None,
        };
        self.scalars.push(reduce);
        Ok(ScalarExpr::Scalar(self.scalars.len() - 1))
    }

    fn bind_call(
        &mut self,
        e: &Expr,
        name: &Ident,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let n = name.name.as_str();
        match n {
            "now" => {
                return match args {
                    [] => Ok((ScalarExpr::Now, Type::DateTime)),
                    [off] => {
                        let (x, _) = self.bind_scalar(off, scope)?;
                        Ok((
                            ScalarExpr::Binary(BinOp::Add, Box::new(ScalarExpr::Now), Box::new(x)),
                            Type::DateTime,
                        ))
                    }
                    _ => Err(BindError::new(e.span, "now() takes at most one argument")),
                };
            }
            "ago" => {
                let [a] = args else {
                    return Err(BindError::new(e.span, "ago() takes one timespan"));
                };
                let (x, _) = self.bind_scalar(a, scope)?;
                return Ok((
                    ScalarExpr::Binary(BinOp::Sub, Box::new(ScalarExpr::Now), Box::new(x)),
                    Type::DateTime,
                ));
            }
            "column_ifexists" | "columnifexists" => {
                return self.bind_column_ifexists(e, args, scope);
            }
            "new_guid" | "pack_all" => {
                if !args.is_empty() && n == "new_guid" {
                    return Err(BindError::new(e.span, "new_guid() takes no argument"));
                }
                // new_guid is computed from the row's values (see func::more::f_new_guid), so
                // that both engines, and a row's insertion and retraction, agree.
                if n == "new_guid" {
                    let note = "new_guid() is a GUID derived from the row's values (not random), so that results can be maintained and retracted; equal rows get equal GUIDs";
                    if !self.notes.iter().any(|x| x == note) {
                        self.notes.push(note.to_string());
                    }
                    return Ok((
                        ScalarExpr::Call {
                            name: n.to_string(),
                            args: scope.cols.iter().map(|c| c.2.clone()).collect(),
                        },
                        Type::String,
                    ));
                }
                // pack_all([ignore_null_empty]): a bag of the row's columns.
                let skip_empty = match args.first() {
                    Some(a) => match fold(&self.bind_scalar(a, scope)?.0) {
                        Some(Folded::Const(Value::Bool(b))) => b,
                        _ => {
                            return Err(BindError::new(
                                a.span,
                                "pack_all() takes a constant bool (whether to leave out null and empty values)",
                            ));
                        }
                    },
                    None => false,
                };
                let mut xs = Vec::new();
                for (name, _, x) in &scope.cols {
                    xs.push(ScalarExpr::Literal(Value::str(name)));
                    xs.push(x.clone());
                }
                let name = if skip_empty { "pack_nonempty" } else { "pack" };
                return Ok((
                    ScalarExpr::Call {
                        name: name.to_string(),
                        args: xs,
                    },
                    Type::Dynamic,
                ));
            }
            "ingestion_time" => return self.bind_ingestion_time(e, args, scope),
            "toscalar" => {
                let [a] = args else {
                    return Err(BindError::new(e.span, "toscalar() takes one expression"));
                };
                if !self.is_tabular_syntax(a) {
                    return self.bind_scalar(a, scope);
                }
                let p = self.bind_tabular(a)?;
                let ty = p.schema.first().map_or(Type::Dynamic, |c| c.ty);
                self.scalars.push(p);
                return Ok((ScalarExpr::Scalar(self.scalars.len() - 1), ty));
            }
            _ => {}
        }
        if let Some(Binding::Function(def, env_len)) = self.lookup(n).cloned() {
            return match self.call_function(&def, env_len, args, None, e.span, scope)? {
                Bound::Scalar(x, ty) => Ok((x, ty)),
                Bound::Table(_) => Err(BindError::new(
                    e.span,
                    format!("the function '{n}' returns a table where a scalar is expected"),
                )),
            };
        }
        if let Some(f) = scalar_fn(n) {
            if args.len() < f.min_args || args.len() > f.max_args {
                return Err(BindError::new(
                    e.span,
                    format!(
                        "{n}() takes {} to {} arguments, {} given",
                        f.min_args,
                        if f.max_args == usize::MAX {
                            "any number of".to_string()
                        } else {
                            f.max_args.to_string()
                        },
                        args.len()
                    ),
                ));
            }
            let mut xs = Vec::new();
            let mut tys = Vec::new();
            for a in args {
                let (x, ty) = self.bind_scalar(a, scope)?;
                xs.push(x);
                tys.push(ty);
            }
            if n == "extract" || n == "replace_regex" || n == "replace" || n == "extract_all" {
                let i = usize::from(n == "replace_regex");
                let pat = xs.get(i).and_then(fold);
                if let Some(Folded::Const(Value::String(p))) = pat
                    && let Some(err) = crate::func::regex_error(&p)
                {
                    return Err(BindError::new(
                        args[i].span,
                        format!("invalid regular expression: {err}"),
                    ));
                }
            }
            if n == "series_decompose_anomalies" {
                let autodetect = match xs.get(2).map(fold) {
                    None | Some(Some(Folded::Const(Value::Null))) => true,
                    Some(Some(Folded::Const(v))) => crate::model::tolong(&v) == Value::Long(-1),
                    Some(_) => false,
                };
                let note = "series_decompose_anomalies: seasonality -1 (autodetect) is taken as no seasonality: kqlflow does not implement series_periods_detect";
                if autodetect && !self.notes.iter().any(|x| x == note) {
                    self.notes.push(note.to_string());
                }
            }
            let ty = f.result_type(&tys);
            return Ok((
                ScalarExpr::Call {
                    name: n.to_string(),
                    args: xs,
                },
                ty,
            ));
        }
        if aggregate_fn(n).is_some() {
            return Err(BindError::new(
                e.span,
                format!("the aggregate {n}() can only be used in summarize"),
            ));
        }
        // A Kusto function kqlflow lacks is "not supported yet", not a typo.
        let hint = if KUSTO_FUNCTIONS_NOT_YET.contains(&n) {
            None
        } else {
            closest_function(n)
        };
        Err(BindError::new(
            name.span,
            match hint {
                Some(h) => format!("unknown function '{n}'; did you mean {h}()?"),
                None => format!("not supported yet: the function '{n}'"),
            },
        ))
    }
}

impl Binder<'_> {
    /// `column_ifexists("Name", default)`: decided when binding, with no function left to run.
    /// It is the input's column `Name` (with its type) when the input has that column, and
    /// otherwise `default` (with the default's type). The name must be a constant string.
    fn bind_column_ifexists(
        &mut self,
        e: &Expr,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        let [name, default] = args else {
            return Err(BindError::new(
                e.span,
                "column_ifexists() takes a column name and a default value",
            ));
        };
        let (x, _) = self.bind_scalar(name, scope)?;
        let Some(Folded::Const(Value::String(col))) = fold(&x) else {
            return Err(BindError::new(
                name.span,
                "column_ifexists() needs the column's name as a constant string",
            ));
        };
        if let Some((_, ty, x)) = scope.get(&col) {
            return Ok((x.clone(), *ty));
        }
        self.bind_scalar(default, scope)
    }

    /// `ingestion_time()`: kqlflow has no ingestion time (records come from exported files,
    /// not from a Log Analytics workspace), so it is taken as the record's event time, the
    /// scanned table's `TimeGenerated`, which must reach the expression unchanged (after a
    /// `summarize` or a `project` that drops it there is none, and the call is refused). The
    /// program's notes say so: "ingestion_time() is taken as TimeGenerated".
    fn bind_ingestion_time(
        &mut self,
        e: &Expr,
        args: &[Expr],
        scope: &Scope,
    ) -> Result<(ScalarExpr, Type)> {
        if !args.is_empty() {
            return Err(BindError::new(e.span, "ingestion_time() takes no argument"));
        }
        let Some(t) = scope.event_time else {
            return Err(BindError::new(
                e.span,
                "not supported: ingestion_time() here; kqlflow takes ingestion_time() as the record's TimeGenerated, and the rows here no longer carry the scanned table's TimeGenerated unchanged",
            ));
        };
        let note = INGESTION_TIME_NOTE.to_string();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
        Ok((ScalarExpr::Column(t), Type::DateTime))
    }
}

/// Kusto functions that kqlflow does not implement yet: calling one says so, rather than
/// suggesting a similarly named function as for a typo.
const KUSTO_FUNCTIONS_NOT_YET: &[&str] = &[
    "parse_xml",
    "next",
    "prev",
    "row_number",
    "row_cumsum",
    "row_window_session",
    "hash",
    "hash_md5",
    "hash_sha1",
    "hash_sha256",
    "series_fit_line",
    "series_stats",
    "series_outliers",
    "geo_info_from_ip_address",
    "zip",
    "translate",
    "parse_path",
    "parse_user_agent",
    "array_sort_asc",
    "array_sort_desc",
    "bag_merge",
    "bag_remove_keys",
    "jaccard_index",
    "range",
];

/// The known function closest to a misspelt name (by edit distance, ignoring case), if one is
/// close enough to be a likely typo: at most one edit for names up to five letters, two up to
/// ten, three beyond.
fn closest_function(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let limit = match lower.len() {
        0..=5 => 1,
        6..=10 => 2,
        _ => 3,
    };
    crate::func::SCALAR_FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(crate::func::AGGREGATE_FUNCTIONS.iter().map(|f| f.name))
        .chain([
            "now",
            "ago",
            "column_ifexists",
            "ingestion_time",
            "toscalar",
            "new_guid",
            "pack_all",
        ])
        .map(|f| (crate::model::edit_distance(&lower, f), f))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, f)| f)
}

impl Binder<'_> {
    /// `evaluate ipv4_lookup(Lookup, SourceKey, LookupKey[, ExtraKey…])`: each input row with
    /// every row of `Lookup` whose IPv4 range `LookupKey` (an address or a CIDR prefix) holds
    /// the input's address `SourceKey` and whose extra keys equal the input's, as an inner
    /// join on the extra keys (none: every pair) filtered by `ipv4_is_in_range`; the columns
    /// are the input's, then the lookup's (renamed as a join renames them). Incremental like
    /// any join with a filter. `return_unmatched = true` is not supported yet.
    fn bind_ipv4_lookup(&mut self, left: Plan, args: &[Expr], span: Span) -> Result<Plan> {
        if args.len() < 3 {
            return Err(BindError::new(
                span,
                "ipv4_lookup takes the lookup table, the source's IPv4 column and the lookup's range column",
            ));
        }
        let right = self.bind_tabular(&args[0])?;
        let column_of = |p: &Plan, e: &Expr, side: &str| -> Result<usize> {
            match &e.kind {
                ExprKind::Name(id) => p.index_of(&id.name).ok_or_else(|| {
                    BindError::new(
                        e.span,
                        format!("ipv4_lookup: the {side} table has no column '{}'", id.name),
                    )
                }),
                _ => Err(BindError::new(
                    e.span,
                    format!("ipv4_lookup: expected a column of the {side} table"),
                )),
            }
        };
        let src = column_of(&left, &args[1], "source")?;
        let key = column_of(&right, &args[2], "lookup")?;
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for a in &args[3..] {
            // `return_unmatched = false` (named, as Kusto documents it) or a bare bool.
            let a = match &a.kind {
                ExprKind::NamedArg { name, value } if name.name == "return_unmatched" => value,
                ExprKind::NamedArg { name, .. } => {
                    return Err(BindError::new(
                        name.span,
                        format!(
                            "ipv4_lookup has no parameter '{}' (it takes return_unmatched)",
                            name.name
                        ),
                    ));
                }
                _ => a,
            };
            if let ExprKind::Literal(l) = &a.kind
                && let Value::Bool(b) = l.value
            {
                if b {
                    return Err(BindError::new(
                        a.span,
                        "not supported yet: ipv4_lookup with return_unmatched = true",
                    ));
                }
                continue;
            }
            left_keys.push(column_of(&left, a, "source")?);
            right_keys.push(column_of(&right, a, "lookup")?);
        }
        let mut schema = left.schema.clone();
        let mut right_output = Vec::new();
        for (i, c) in right.schema.iter().enumerate() {
            let nm = unique_name(&schema, &c.name);
            schema.push(Column {
                name: Str::from(nm.as_str()),
                ty: c.ty,
            });
            right_output.push(i);
        }
        let width = left.schema.len();
        let event_time = left.event_time;
        let joined = Plan {
            node: Node::Join {
                kind: JoinKind::Inner,
                left: Box::new(left),
                right: Box::new(right),
                left_keys,
                right_keys,
                right_output,
            },
            schema,
            event_time,
        };
        let predicate = ScalarExpr::Call {
            name: "ipv4_is_in_range".to_string(),
            args: vec![ScalarExpr::Column(src), ScalarExpr::Column(width + key)],
        };
        Ok(Plan::filter(joined, predicate, Vec::new()))
    }

    /// `externaldata(cols) [uri] with (format=…)`: the rows of the local file mapped to the URL
    /// (see [`super::external`]), as constant rows like `datatable`'s.
    fn bind_externaldata(
        &mut self,
        e: &Expr,
        columns: &[kql::ColumnDecl],
        uris: &[Expr],
        properties: &[kql::Property],
    ) -> Result<Plan> {
        use super::external::{ExternalFormat, read_external};
        let mut urls = Vec::new();
        for u in uris {
            match fold(&self.bind_scalar(u, &Scope::default())?.0) {
                Some(Folded::Const(Value::String(s))) => urls.push(s.to_string()),
                _ => {
                    return Err(BindError::new(
                        u.span,
                        "an externaldata URL must be a constant string",
                    ));
                }
            }
        }
        let prop = |name: &str| -> Option<String> {
            properties
                .iter()
                .find(|p| p.name.name.eq_ignore_ascii_case(name))
                .map(|p| match &p.value.kind {
                    ExprKind::Literal(l) => crate::func::ops::text_of(&l.value).into_owned(),
                    ExprKind::Name(id) => id.name.clone(),
                    _ => p.value.span.text(self.src).to_string(),
                })
        };
        let format_name = prop("format").unwrap_or_else(|| "csv".to_string());
        let Some(format) = ExternalFormat::parse(&format_name) else {
            return Err(BindError::new(
                e.span,
                format!("not supported yet: externaldata format '{format_name}'"),
            ));
        };
        let skip_first = prop("ignoreFirstRecord").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let cols: Vec<(String, Type)> = columns
            .iter()
            .map(|c| (c.name.name.clone(), c.ty))
            .collect();
        let mut rows = Vec::new();
        for url in &urls {
            match self.opts.externaldata.get(url) {
                Some(path) => rows.extend(
                    read_external(path, &cols, format, skip_first)
                        .map_err(|err| BindError::new(e.span, format!("externaldata: {err}")))?,
                ),
                None if self.opts.externaldata_optional => {
                    let note = format!(
                        "externaldata {url} has no file (give --externaldata {url}=FILE): read as no rows"
                    );
                    if !self.notes.contains(&note) {
                        self.notes.push(note);
                    }
                }
                None => {
                    return Err(BindError::new(
                        e.span,
                        format!(
                            "externaldata {url}: kqlflow reads no external storage; map the URL to a local file with --externaldata {url}=FILE"
                        ),
                    ));
                }
            }
        }
        Ok(Plan {
            node: Node::Constant { rows },
            schema: cols
                .into_iter()
                .map(|(name, ty)| Column {
                    name: Str::from(name.as_str()),
                    ty,
                })
                .collect(),
            event_time: None,
        })
    }
}

/// The program note recorded when a query calls `ingestion_time()`.
pub const INGESTION_TIME_NOTE: &str = "ingestion_time() is taken as TimeGenerated (kqlflow has no ingestion time: records are read from exports)";

/// `make_list`'s order key for rows of `p`: (TimeGenerated, the whole row).
fn order_key(p: &Plan) -> ScalarExpr {
    let row = ScalarExpr::Call {
        name: "pack_array".to_string(),
        args: (0..p.schema.len()).map(ScalarExpr::Column).collect(),
    };
    match p.event_time {
        Some(t) => ScalarExpr::Call {
            name: "pack_array".to_string(),
            args: vec![ScalarExpr::Column(t), row],
        },
        None => row,
    }
}

/// Refuses a tuple assignment `(A, B) = …` where only one column can be assigned.
/// True when a summarize item is a scalar expression over aggregates (`tostring(make_set(x))`)
/// rather than one aggregate call.
fn is_expr_over_aggregates(item: &NamedExpr) -> bool {
    let e = strip_paren(&item.expr);
    if let ExprKind::Call { name, .. } = &e.kind
        && aggregate_fn(&name.name).is_some()
    {
        return false;
    }
    let mut found = false;
    rewrite_calls(e, &mut |call: &Expr| {
        if let ExprKind::Call { name, .. } = &call.kind
            && aggregate_fn(&name.name).is_some()
        {
            found = true;
        }
        None
    });
    found
}

/// A copy of `e` in which every call `f` answers with a replacement is replaced (the
/// replacement's own calls are not visited); other calls' arguments are visited.
fn rewrite_calls(e: &Expr, f: &mut dyn FnMut(&Expr) -> Option<Expr>) -> Expr {
    let kind = match &e.kind {
        ExprKind::Call { name, args } => {
            if let Some(r) = f(e) {
                return r;
            }
            ExprKind::Call {
                name: name.clone(),
                args: args.iter().map(|a| rewrite_calls(a, f)).collect(),
            }
        }
        ExprKind::Paren(i) => ExprKind::Paren(Box::new(rewrite_calls(i, f))),
        ExprKind::Unary { op, operand } => ExprKind::Unary {
            op: *op,
            operand: Box::new(rewrite_calls(operand, f)),
        },
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op: *op,
            lhs: Box::new(rewrite_calls(lhs, f)),
            rhs: Box::new(rewrite_calls(rhs, f)),
        },
        ExprKind::Logical { op, operands } => ExprKind::Logical {
            op: *op,
            operands: operands.iter().map(|a| rewrite_calls(a, f)).collect(),
        },
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => ExprKind::Between {
            expr: Box::new(rewrite_calls(expr, f)),
            low: Box::new(rewrite_calls(low, f)),
            high: Box::new(rewrite_calls(high, f)),
            negated: *negated,
        },
        ExprKind::InList { expr, op, items } => ExprKind::InList {
            expr: Box::new(rewrite_calls(expr, f)),
            op: *op,
            items: items.iter().map(|a| rewrite_calls(a, f)).collect(),
        },
        ExprKind::Member { target, name } => ExprKind::Member {
            target: Box::new(rewrite_calls(target, f)),
            name: name.clone(),
        },
        ExprKind::Index { target, index } => ExprKind::Index {
            target: Box::new(rewrite_calls(target, f)),
            index: Box::new(rewrite_calls(index, f)),
        },
        other => other.clone(),
    };
    Expr { kind, span: e.span }
}

/// A percentage as Kusto writes it in a column name: `50`, `99_9`.
fn percent_suffix(pc: f64) -> String {
    if pc.fract() == 0.0 {
        format!("{}", pc as i64)
    } else {
        format!("{pc}").replace('.', "_")
    }
}

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
