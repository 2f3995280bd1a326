//! The batch evaluator: a bound [`Program`] over in-memory rows at one tick `now`. It is the
//! reference the incremental engine is checked against, so it is kept plain: every node is
//! computed from its inputs' full results, with [`crate::plan::ScalarExpr::eval`] for expressions and
//! `func`'s accumulators for aggregates.
//!
//! At tick `now` a table holds the records whose event time is at most `now`; temporal bounds
//! are predicates with `now()` = `now` (SEMANTICS "Time, ticks and now()").

pub mod serial;
pub mod series;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::func::agg::Accumulator;
use crate::func::ops::{compare, is_true};
use crate::model::{Column, Row, Type, Value};
use crate::plan::{EvalCtx, JoinKind, Node, Plan, Program, SortKey, cast};

/// A watchlist's contents: its CSV header and rows (all strings), and the versions that
/// replace them later.
#[derive(Clone, Debug, Default)]
pub struct Watchlist {
    /// The column names.
    pub columns: Vec<String>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<String>>,
    /// Later versions, in time order: from each event time on (in 100 ns units since the
    /// epoch), that version's rows replace the watchlist's.
    pub updates: Vec<(i64, Watchlist)>,
}

impl Watchlist {
    /// Reads a watchlist from CSV text with a header row.
    pub fn from_csv(text: &str) -> Result<Watchlist, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let columns = rdr
            .headers()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        for r in rdr.records() {
            let r = r.map_err(|e| e.to_string())?;
            rows.push(r.iter().map(str::to_string).collect());
        }
        Ok(Watchlist {
            columns,
            rows,
            updates: Vec::new(),
        })
    }

    /// The version in effect at tick `now`: the last update from a time at or before `now`,
    /// else the first version.
    pub fn at(&self, now: i64) -> &Watchlist {
        self.updates
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .map_or(self, |(_, w)| w)
    }

    /// Every column name of every version, in the order first seen.
    pub fn all_columns(&self) -> Vec<String> {
        let mut out = self.columns.clone();
        for (_, w) in &self.updates {
            for c in &w.columns {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        }
        out
    }
}

/// The data a program runs over: per table name, its records as (event time, row in the
/// table's schema order); per watchlist name, its contents.
#[derive(Clone, Debug, Default)]
pub struct Data {
    /// Records by table name.
    pub tables: HashMap<String, Vec<(i64, Row)>>,
    /// Watchlists by name.
    pub watchlists: HashMap<String, Watchlist>,
}

/// A watchlist's rows in the columns `schema` asks for: columns by header name (all strings),
/// `SearchKey` from the first column when the file has no such column, `_ItemId` (when the
/// file has none) a GUID hashed from the row's header and cells, so that a row keeps its id
/// from one version of the watchlist to the next and both engines agree; a missing column
/// empty. Both engines read watchlists through this.
pub fn watchlist_rows(schema: &[Column], w: &Watchlist) -> Vec<Row> {
    let idx: Vec<Option<usize>> = schema
        .iter()
        .map(|c| w.columns.iter().position(|h| *h == *c.name))
        .collect();
    let key = w.columns.first().map(|_| 0usize);
    w.rows
        .iter()
        .map(|r| {
            schema
                .iter()
                .zip(&idx)
                .map(|(c, i)| match i {
                    Some(i) => Value::str(r.get(*i).map_or("", String::as_str)),
                    None if &*c.name == "SearchKey" => {
                        Value::str(key.and_then(|k| r.get(k)).map_or("", String::as_str))
                    }
                    None if &*c.name == "_ItemId" => crate::func::more::f_new_guid(
                        &w.columns
                            .iter()
                            .chain(r.iter())
                            .map(Value::str)
                            .collect::<Vec<_>>(),
                    ),
                    None => missing(c),
                })
                .collect()
        })
        .collect()
}

/// The parts of an mv-apply node (see [`Node::MvApply`]).
pub struct MvApply<'a> {
    /// The expanded expressions.
    pub items: &'a [crate::plan::ExpandItem],
    /// Where each item goes in the sub-plan's input row.
    pub item_columns: &'a [usize],
    /// Width of the sub-plan's input row.
    pub apply_width: usize,
    /// Input columns output before the sub-plan's columns.
    pub keep: &'a [usize],
    /// At most this many items per row.
    pub limit: Option<usize>,
    /// The sub-plan over the expanded rows.
    pub sub: &'a Plan,
}

impl<'a> MvApply<'a> {
    /// The parts of `node` when it is an mv-apply.
    pub fn of(node: &'a Node) -> Option<MvApply<'a>> {
        match node {
            Node::MvApply {
                items,
                item_columns,
                apply_width,
                keep,
                limit,
                sub,
                ..
            } => Some(MvApply {
                items,
                item_columns,
                apply_width: *apply_width,
                keep,
                limit: *limit,
                sub,
            }),
            _ => None,
        }
    }
}

/// The rows mv-apply makes of one input row `r`: its items expanded into rows, the sub-plan run
/// over them, each result row after the kept input columns. Both engines call this, so the
/// operator has one semantics.
pub fn mv_apply_row(program: &Program, apply: &MvApply<'_>, r: &Row, ctx: &EvalCtx) -> Vec<Row> {
    mv_apply_sub(program, apply, r, ctx)
        .into_iter()
        .map(|s| {
            let mut o: Row = apply
                .keep
                .iter()
                .map(|k| r.get(*k).cloned().unwrap_or(Value::Null))
                .collect();
            o.extend(s);
            o
        })
        .collect()
}

/// The sub-plan's rows for one input row `r` of an mv-apply (without the kept input columns
/// [`mv_apply_row`] puts before them): they depend only on the columns of `r` that the items and
/// [`crate::plan::ir::apply_rows_read`] name, and on the scalars of `ctx`.
pub fn mv_apply_sub(program: &Program, apply: &MvApply<'_>, r: &Row, ctx: &EvalCtx) -> Vec<Row> {
    let cols: Vec<(usize, Option<Type>)> = apply
        .item_columns
        .iter()
        .zip(apply.items)
        .map(|(c, it)| (*c, it.ty))
        .collect();
    let values: Vec<Value> = apply.items.iter().map(|it| it.expr.eval(r, ctx)).collect();
    let mut base = r.clone();
    base.resize(apply.apply_width, Value::Null);
    let expanded = expand(&base, &cols, &values, apply.limit);
    let data = Data::default();
    let mut ev = Evaluator {
        program,
        data: &data,
        ctx: ctx.clone(),
        shared: vec![None; program.shared.len()],
    };
    ev.eval(apply.sub, &expanded)
}

/// Evaluates `program` over `data` at tick `now`: the result rows, ordered and cut as the
/// query's final `sort`/`top`/`take` say.
pub fn evaluate(program: &Program, data: &Data, now: i64) -> Vec<Row> {
    let mut ev = Evaluator {
        program,
        data,
        ctx: EvalCtx {
            now,
            scalars: Vec::new(),
        },
        shared: vec![None; program.shared.len()],
    };
    for s in &program.scalars {
        let rows = ev.eval(s, &[]);
        let v = rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or(Value::Null);
        ev.ctx.scalars.push(v);
    }
    ev.eval(&program.root, &[])
}

struct Evaluator<'a> {
    program: &'a Program,
    data: &'a Data,
    ctx: EvalCtx,
    shared: Vec<Option<Vec<Row>>>,
}

/// The value a missing column takes: the empty string for strings, else null.
fn missing(c: &Column) -> Value {
    if c.ty == Type::String {
        Value::empty_string()
    } else {
        Value::Null
    }
}

/// The elements `mv-expand` produces from a value: an array's elements, a property bag's
/// one-property bags, an empty array none, anything else itself.
fn elements(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(xs) => xs.to_vec(),
        Value::Object(kvs) => kvs
            .iter()
            .map(|(k, x)| Value::object(vec![(k.clone(), x.clone())]))
            .collect(),
        other => vec![other.clone()],
    }
}

/// The rows `mv-expand` makes of one input row: the expanded columns' elements zipped, each
/// converted to its type. Both engines call this, so the operator has one semantics.
pub fn mv_expand_row(r: &Row, columns: &[(usize, Option<Type>)], limit: Option<usize>) -> Vec<Row> {
    let values: Vec<Value> = columns
        .iter()
        .map(|(c, _)| r.get(*c).cloned().unwrap_or(Value::Null))
        .collect();
    expand(r, columns, &values, limit)
}

/// Rows of `row` with each of `cols` replaced by the zipped elements of `values`.
fn expand(
    row: &Row,
    cols: &[(usize, Option<Type>)],
    values: &[Value],
    limit: Option<usize>,
) -> Vec<Row> {
    let lists: Vec<Vec<Value>> = values.iter().map(elements).collect();
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    let n = limit.map_or(n, |l| n.min(l));
    (0..n)
        .map(|i| {
            let mut r = row.clone();
            for ((c, ty), list) in cols.iter().zip(&lists) {
                let v = list.get(i).cloned().unwrap_or(Value::Null);
                let v = match ty {
                    Some(t) => cast(&v, *t),
                    None => v,
                };
                if *c >= r.len() {
                    r.resize(*c + 1, Value::Null);
                }
                r[*c] = v;
            }
            r
        })
        .collect()
}

/// Compares two rows' sort-key values `a` and `b` as `sort`/`top` order them: KQL's comparison
/// per key (nulls first or last, ascending or descending), in key order.
pub(crate) fn cmp_keys(a: &[Value], b: &[Value], keys: &[SortKey]) -> Ordering {
    for (k, (x, y)) in keys.iter().zip(a.iter().zip(b)) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = compare(x, y).unwrap_or_else(|| x.cmp(y));
                if k.descending { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl Evaluator<'_> {
    fn sort(&self, mut rows: Vec<Row>, keys: &[SortKey]) -> Vec<Row> {
        let mut keyed: Vec<(Vec<Value>, Row)> = rows
            .drain(..)
            .map(|r| (keys.iter().map(|k| k.expr.eval(&r, &self.ctx)).collect(), r))
            .collect();
        keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0, keys).then_with(|| a.1.cmp(&b.1)));
        keyed.into_iter().map(|(_, r)| r).collect()
    }

    fn eval(&mut self, p: &Plan, apply: &[Row]) -> Vec<Row> {
        match &p.node {
            Node::Scan { table, .. } => {
                let width = p.schema.len();
                self.data
                    .tables
                    .get(table)
                    .map(|rows| {
                        rows.iter()
                            .filter(|(t, _)| *t <= self.ctx.now)
                            .map(|(_, r)| {
                                let mut r = r.clone();
                                if r.len() < width {
                                    r.extend(p.schema[r.len()..].iter().map(missing));
                                }
                                r.truncate(width);
                                r
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Node::Watchlist { name } => match self.data.watchlists.get(name) {
                Some(w) => watchlist_rows(&p.schema, w.at(self.ctx.now)),
                None => Vec::new(),
            },
            Node::Constant { rows } => rows.clone(),
            Node::Filter {
                input,
                predicate,
                temporal,
            } => {
                let rows = self.eval(input, apply);
                rows.into_iter()
                    .filter(|r| {
                        temporal
                            .iter()
                            .all(|b| b.holds(r.get(b.column).unwrap_or(&Value::Null), self.ctx.now))
                            && is_true(&predicate.eval(r, &self.ctx))
                    })
                    .collect()
            }
            Node::Map { input, exprs } => {
                let rows = self.eval(input, apply);
                rows.iter()
                    .map(|r| exprs.iter().map(|e| e.eval(r, &self.ctx)).collect())
                    .collect()
            }
            Node::Reduce { input, keys, aggs } => {
                let rows = self.eval(input, apply);
                let mut groups: BTreeMap<Vec<Value>, Vec<Accumulator>> = BTreeMap::new();
                let fresh = || aggs.iter().map(|a| Accumulator::new(a.spec)).collect();
                if keys.is_empty() {
                    groups.insert(Vec::new(), fresh());
                }
                for r in &rows {
                    let k: Vec<Value> = keys.iter().map(|e| e.eval(r, &self.ctx)).collect();
                    let accs = groups.entry(k).or_insert_with(fresh);
                    for (acc, a) in accs.iter_mut().zip(aggs) {
                        let args: Vec<Value> =
                            a.args.iter().map(|e| e.eval(r, &self.ctx)).collect();
                        acc.add(&args, 1);
                    }
                }
                groups
                    .into_iter()
                    .map(|(mut k, accs)| {
                        k.extend(accs.iter().map(Accumulator::result));
                        k
                    })
                    .collect()
            }
            Node::MakeSeries {
                input,
                keys,
                aggs,
                defaults,
                axis,
                nonempty,
            } => {
                let rows = self.eval(input, apply);
                // Bounds that move with now() are fixed at now.
                let axis = &axis.at(self.ctx.now);
                let mut groups: BTreeMap<Row, Vec<Vec<Value>>> = BTreeMap::new();
                for r in &rows {
                    if let Some(v) = series::series_input(axis, aggs, r, &self.ctx) {
                        let k: Row = keys.iter().map(|e| e.eval(r, &self.ctx)).collect();
                        groups.entry(k).or_default().push(v);
                    }
                }
                let bins: Vec<(Row, series::SeriesBins)> = groups
                    .into_iter()
                    .map(|(k, g)| {
                        let b = series::series_bins(aggs, g.iter().map(|v| (v.as_slice(), 1)));
                        (k, b)
                    })
                    .filter(|(_, b)| !b.is_empty())
                    .collect();
                let span =
                    series::series_span(axis, series::data_bounds(bins.iter().map(|b| &b.1)));
                if bins.is_empty() && *nonempty && keys.is_empty() {
                    return vec![series::series_row(&[], defaults, axis, &[], span)];
                }
                bins.iter()
                    .map(|(k, b)| series::series_row(k, defaults, axis, b, span))
                    .collect()
            }
            Node::Join {
                kind,
                left,
                right,
                left_keys,
                right_keys,
                right_output,
            } => {
                let l = self.eval(left, apply);
                let r = self.eval(right, apply);
                join(
                    *kind,
                    l,
                    r,
                    left_keys,
                    right_keys,
                    right_output,
                    &left.schema,
                    &right.schema,
                )
            }
            Node::Union {
                inputs,
                with_source,
            } => {
                let mut out = Vec::new();
                for i in inputs {
                    let rows = self.eval(&i.plan, apply);
                    for r in rows {
                        out.push(
                            p.schema
                                .iter()
                                .zip(&i.columns)
                                .enumerate()
                                .map(|(j, (c, src))| match src {
                                    Some(s) => r.get(*s).cloned().unwrap_or(Value::Null),
                                    None if j == 0 && *with_source => Value::str(&i.source),
                                    None => missing(c),
                                })
                                .collect(),
                        );
                    }
                }
                out
            }
            Node::MvExpand {
                input,
                columns,
                limit,
            } => {
                let rows = self.eval(input, apply);
                let mut out = Vec::new();
                for r in &rows {
                    out.extend(mv_expand_row(r, columns, *limit));
                }
                out
            }
            Node::MvApply { input, .. } => {
                let rows = self.eval(input, apply);
                let Some(apply) = MvApply::of(&p.node) else {
                    return Vec::new();
                };
                let mut out = Vec::new();
                for r in &rows {
                    out.extend(mv_apply_row(self.program, &apply, r, &self.ctx));
                }
                out
            }
            Node::ApplyRows => apply.to_vec(),
            Node::Distinct { input } => {
                let rows = self.eval(input, apply);
                let mut seen = HashSet::new();
                rows.into_iter()
                    .filter(|r| seen.insert(r.clone()))
                    .collect()
            }
            Node::Sort { input, keys } => {
                let rows = self.eval(input, apply);
                self.sort(rows, keys)
            }
            Node::Serialize {
                input,
                order,
                columns,
            } => {
                let rows = self.eval(input, apply);
                let rows = self.sort(rows, order);
                if columns.is_empty() {
                    return rows;
                }
                let refs: Vec<&Row> = rows.iter().collect();
                let values = serial::window_values(columns, &refs, 0, refs.len(), None, &self.ctx);
                rows.iter()
                    .zip(values)
                    .map(|(r, v)| {
                        let mut r = r.clone();
                        r.extend(v);
                        r
                    })
                    .collect()
            }
            Node::Take { input, count, keys } => {
                // `take` has no order in Kusto: kqlflow takes the least rows, so that the
                // incremental engine, on any number of workers, takes the same ones.
                let rows = self.eval(input, apply);
                let mut rows = self.sort(rows, keys);
                rows.truncate(*count);
                rows
            }
            Node::Shared(i) => {
                if let Some(Some(rows)) = self.shared.get(*i) {
                    return rows.clone();
                }
                let Some(plan) = self.program.shared.get(*i) else {
                    return Vec::new();
                };
                let rows = self.eval(plan, &[]);
                if let Some(slot) = self.shared.get_mut(*i) {
                    *slot = Some(rows.clone());
                }
                rows
            }
        }
    }
}

/// An equi-join of two row sets. Null keys match nothing; `innerunique` keeps, per key, the
/// least left row.
#[allow(clippy::too_many_arguments)]
fn join(
    kind: JoinKind,
    left: Vec<Row>,
    right: Vec<Row>,
    left_keys: &[usize],
    right_keys: &[usize],
    right_output: &[usize],
    left_schema: &[Column],
    right_schema: &[Column],
) -> Vec<Row> {
    let key = |r: &Row, ks: &[usize]| -> Option<Vec<Value>> {
        let k: Vec<Value> = ks
            .iter()
            .map(|i| r.get(*i).cloned().unwrap_or(Value::Null))
            .collect();
        if k.iter().any(Value::is_null) {
            None
        } else {
            Some(k)
        }
    };
    let left = if kind == JoinKind::InnerUnique {
        let mut least: BTreeMap<Vec<Value>, Row> = BTreeMap::new();
        for r in left {
            if let Some(k) = key(&r, left_keys) {
                match least.get(&k) {
                    Some(old) if *old <= r => {}
                    _ => {
                        least.insert(k, r);
                    }
                }
            }
        }
        least.into_values().collect()
    } else {
        left
    };
    let mut by_key: HashMap<Vec<Value>, Vec<usize>> = HashMap::new();
    for (i, r) in right.iter().enumerate() {
        if let Some(k) = key(r, right_keys) {
            by_key.entry(k).or_default().push(i);
        }
    }
    let right_part = |r: &Row| -> Vec<Value> {
        right_output
            .iter()
            .map(|i| r.get(*i).cloned().unwrap_or(Value::Null))
            .collect()
    };
    let null_right: Vec<Value> = right_output
        .iter()
        .map(|i| right_schema.get(*i).map_or(Value::Null, missing))
        .collect();
    let null_left: Row = left_schema.iter().map(missing).collect();
    let mut out = Vec::new();
    let mut right_matched = vec![false; right.len()];
    for l in &left {
        let matches: &[usize] = key(l, left_keys)
            .and_then(|k| by_key.get(&k))
            .map_or(&[], Vec::as_slice);
        for &ri in matches {
            right_matched[ri] = true;
        }
        match kind {
            JoinKind::LeftSemi => {
                if !matches.is_empty() {
                    out.push(l.clone());
                }
            }
            JoinKind::LeftAnti => {
                if matches.is_empty() {
                    out.push(l.clone());
                }
            }
            JoinKind::RightSemi | JoinKind::RightAnti => {}
            _ => {
                for &ri in matches {
                    let mut row = l.clone();
                    row.extend(right_part(&right[ri]));
                    out.push(row);
                }
                if matches.is_empty() && matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter) {
                    let mut row = l.clone();
                    row.extend(null_right.iter().cloned());
                    out.push(row);
                }
            }
        }
    }
    match kind {
        JoinKind::RightSemi | JoinKind::RightAnti => {
            let want = kind == JoinKind::RightSemi;
            for (i, r) in right.iter().enumerate() {
                if right_matched[i] == want {
                    out.push(r.clone());
                }
            }
        }
        JoinKind::RightOuter | JoinKind::FullOuter => {
            for (i, r) in right.iter().enumerate() {
                if !right_matched[i] {
                    let mut row = null_left.clone();
                    row.extend(right_part(r));
                    out.push(row);
                }
            }
        }
        _ => {}
    }
    out
}
