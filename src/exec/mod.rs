//! The incremental engine: a bound [`Program`] rendered into differential dataflow operators.
//!
//! Each plan node becomes a collection of rows: a scan is a table's input, a filter a
//! differential `filter` (its temporal bounds become presence intervals: every update is moved
//! to the tick the row enters the window and retracted at the tick it leaves), a map a `map`, a
//! summarize a per-key fold over func's accumulators (`fold.rs`), a join one operator that
//! keeps each key's current rows on both sides and applies ticks in order (every kind: inner,
//! semi, anti, outer; `ordered_join.rs`), a
//! union a `concat`, an mv-expand a `flat_map`. Shared sub-plans are rendered once. Scalar
//! sub-queries (`toscalar`) become one-row collections joined onto the rows that use them.
//! Sort, top and take at the end of a query shape the printed snapshot and are left to the
//! caller ([`presentation`]). What is rendered is the plan with its filters pushed down
//! ([`crate::plan::optimize()`]); [`SourceFilter`] and [`Layouts`] read that plan too.
//!
//! Every scalar expression is evaluated by [`ScalarExpr::eval`] and every aggregate by
//! `func::agg`, exactly as the batch evaluator does.

use std::collections::{BTreeMap, HashMap};

mod env;
mod fold;
mod folds;
mod held;
mod keyed;
mod map;
mod narrow;
mod ordered_join;
pub mod placement;
mod run;
mod serial;
mod sources;
mod temporal;

pub use narrow::Layouts;
pub(crate) use narrow::Narrow;

use differential_dataflow::AsCollection;
use differential_dataflow::input::Input;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use crate::eval::series;
use crate::func::agg::Accumulator;
use crate::model::{Row, Type, Value};
use crate::plan::SeriesAxis;
use crate::plan::ir::{
    AggCall, BoundOp, EvalCtx, JoinKind, Node, Plan, Program, ScalarExpr, TemporalBound,
};
use crate::plan::optimize;
use crate::runtime::temporal::{TimeBound, aligned, presence, presence_each};
use crate::runtime::{Rows, Time};

use folds::*;
use map::*;
pub use run::{
    WatchlistChanges, check_supported, run_program, run_program_at, snapshot_rows,
    watchlist_sources,
};
pub use sources::{SourceFilter, columns_read, columns_read_by};
use temporal::*;

/// What a query needs as input: its tables' and watchlists' collections, keyed by name.
pub struct Sources<'scope> {
    /// Table name → the table's rows (in schema order, cut to the columns `layouts` keeps).
    pub tables: HashMap<String, Rows<'scope>>,
    /// Watchlist name → its rows.
    pub watchlists: HashMap<String, Rows<'scope>>,
    /// The columns each table's rows hold (see [`Layouts`]): the rows fed to `tables` must be
    /// cut by [`Layouts::narrow`] of these same layouts.
    pub layouts: Layouts,
}

/// Renders `program` over `sources` and returns the collection of its result rows (before
/// presentation: see [`presentation`]). The plan rendered is `program`'s with its filters
/// pushed down ([`optimize()`]). `tick` is the tick length in 100 ns units; `worker` is this
/// worker's index (constant rows are introduced by worker 0 only).
pub fn render<'scope>(
    program: &Program,
    sources: &Sources<'scope>,
    tick: i64,
    worker: usize,
) -> Result<Rows<'scope>, String> {
    let mut memo = Memo::default();
    render_shared(program, 0, sources, tick, worker, &mut memo)
}

/// Renders `programs` into one dataflow, as [`render`] renders one, sharing what they have in
/// common: a sub-plan that two rules (or two places of one rule) compute alike is rendered
/// once and its rows used by both, and a join input keyed alike is keyed once. Returns each
/// program's result, or why it could not be rendered, and how many sub-plans and keyed join
/// inputs were reused rather than rendered again. `placed` gives each program's worker (see
/// [`placement::place`]; it must be the same on every worker and process): a program placed
/// on a worker keeps all its keyed state there, the others (and all, when `placed` is empty)
/// spread their keys over every worker.
pub fn render_all<'scope>(
    programs: &[Program],
    sources: &Sources<'scope>,
    tick: i64,
    worker: usize,
    placed: &[Option<usize>],
) -> (Vec<Result<Rows<'scope>, String>>, usize) {
    let mut memo = Memo::default();
    let out = programs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if let Some(any) = sources.tables.values().next() {
                crate::runtime::profile::mark(
                    any.scope().worker().peek_identifier(),
                    crate::runtime::profile::program_label(i),
                );
            }
            memo.placed = placed.get(i).copied().flatten();
            render_shared(p, i, sources, tick, worker, &mut memo)
        })
        .collect();
    (out, memo.reused)
}

fn render_shared<'scope>(
    program: &Program,
    index: usize,
    sources: &Sources<'scope>,
    tick: i64,
    worker: usize,
    memo: &mut Memo<'scope>,
) -> Result<Rows<'scope>, String> {
    let any = sources
        .tables
        .values()
        .chain(sources.watchlists.values())
        .next()
        .ok_or("the query reads no table")?;
    // The dataflow runs the plan with its filters pushed down (the batch evaluator runs it as
    // written; both give the same rows).
    let program = &optimize(program);
    let own = if sources.layouts.is_full() {
        Layouts::full()
    } else {
        Layouts::of([program])
    };
    let mut r = Renderer {
        program,
        index,
        sources,
        own,
        tick,
        worker,
        scope_of: any.clone(),
        shared: vec![None; program.shared.len()],
        scalars: None,
        scalars_building: None,
        memo,
        digests: HashMap::new(),
    };
    let root = strip_presentation(&program.root);
    r.plan(root)
}

/// Rows paired with their key (the key columns' values).
type ByKey<'scope> = differential_dataflow::VecCollection<'scope, Time, (Row, Row), isize>;

/// What the plans rendered into one dataflow share, by the text of the plan that computes it
/// (with its shared sub-plans written out, and the program's index when it reads the program's
/// scalar sub-queries).
#[derive(Default)]
struct Memo<'scope> {
    rows: HashMap<String, (Rows<'scope>, Option<Narrow>)>,
    by_key: HashMap<(String, Vec<usize>), ByKey<'scope>>,
    reused: usize,
    /// How many keyed operators (summarize folds and joins) the dataflow has so far: the next
    /// one's ordinal (see [`keyed::Route`]).
    keyed: u64,
    /// The worker the program being rendered is placed on, if it is (see [`placement`]).
    placed: Option<usize>,
}

impl Memo<'_> {
    /// The route of the keyed operator about to be rendered: on the program's worker if it is
    /// placed, else spread by its ordinal, counted alike on every worker and process (each
    /// renders the same programs in the same order).
    fn next_keyed(&mut self) -> keyed::Route {
        self.keyed += 1;
        placement::route(self.placed, self.keyed)
    }
}

/// A filter node's temporal bounds, as written (over its input's full schema).
fn full_bounds(p: &Plan) -> Vec<TemporalBound> {
    match &p.node {
        Node::Filter { temporal, .. } => temporal.clone(),
        _ => Vec::new(),
    }
}

/// The plan under the presentation nodes (sort, top, take) at its top.
pub fn strip_presentation(p: &Plan) -> &Plan {
    match &p.node {
        Node::Sort { input, .. } => strip_presentation(input),
        Node::Take { input, .. } if !matches!(p.node, Node::Take { count: 0, .. }) => {
            strip_presentation(input)
        }
        _ => p,
    }
}

/// The presentation nodes at the top of a plan, outermost first: apply them, innermost first,
/// to a snapshot of the rows [`render`] computes.
pub fn presentation(p: &Plan) -> Vec<&Plan> {
    let mut out = Vec::new();
    let mut cur = p;
    loop {
        match &cur.node {
            Node::Sort { input, .. } => {
                out.push(cur);
                cur = input;
            }
            Node::Take { input, count, .. } if *count > 0 => {
                out.push(cur);
                cur = input;
            }
            _ => return out,
        }
    }
}

struct Renderer<'a, 'scope> {
    program: &'a Program,
    /// The program's index among those rendered together.
    index: usize,
    sources: &'a Sources<'scope>,
    /// The columns this program itself reads of each table: its rows are cut to these right
    /// after its scan (and the scan's filter), narrower than the dataflow's shared inputs
    /// when other programs read more.
    own: Layouts,
    tick: i64,
    worker: usize,
    scope_of: Rows<'scope>,
    shared: Vec<Option<(Rows<'scope>, Option<Narrow>)>>,
    /// One row holding every scalar sub-query's value, when the program has any.
    scalars: Option<Rows<'scope>>,
    /// While the environment is built: the environment of the scalars rendered so far, which
    /// a later scalar's sub-query reads (a `let` whose value uses an earlier one's).
    scalars_building: Option<Rows<'scope>>,
    /// What this program shares with the others rendered into the dataflow.
    memo: &'a mut Memo<'scope>,
    /// Each node's digest (see [`Renderer::digest`]), by its address in `program`, which
    /// outlives the renderer: every plan rendered is a node of it.
    digests: HashMap<*const Plan, Digest>,
}

/// What identifies a plan's computation, computed bottom-up: a 128-bit hash of each node's own
/// fields and its inputs' digests (shared plans written out), the tables it scans, and whether
/// it reads the program's scalar sub-queries.
#[derive(Clone)]
struct Digest {
    hash: u128,
    tables: Vec<String>,
    scalars: bool,
}

/// A node's own fields, without its inputs, as text.
fn local_text(p: &Plan) -> String {
    let node = match &p.node {
        Node::Filter {
            predicate,
            temporal,
            ..
        } => format!("Filter {predicate:?} {temporal:?}"),
        Node::Map { exprs, .. } => format!("Map {exprs:?}"),
        Node::Reduce { keys, aggs, .. } => format!("Reduce {keys:?} {aggs:?}"),
        Node::MakeSeries {
            keys,
            aggs,
            defaults,
            axis,
            nonempty,
            ..
        } => format!("MakeSeries {keys:?} {aggs:?} {defaults:?} {axis:?} {nonempty}"),
        Node::Join {
            kind,
            left_keys,
            right_keys,
            right_output,
            ..
        } => format!("Join {kind:?} {left_keys:?} {right_keys:?} {right_output:?}"),
        Node::Union {
            inputs,
            with_source,
        } => {
            let parts: Vec<String> = inputs
                .iter()
                .map(|i| format!("{:?} {:?}", i.columns, i.source))
                .collect();
            format!("Union {with_source} {parts:?}")
        }
        Node::MvExpand { columns, limit, .. } => format!("MvExpand {columns:?} {limit:?}"),
        Node::MvApply {
            items,
            item_columns,
            apply_width,
            keep,
            limit,
            ..
        } => format!("MvApply {items:?} {item_columns:?} {apply_width} {keep:?} {limit:?}"),
        Node::Distinct { .. } => "Distinct".to_string(),
        Node::Sort { keys, .. } => format!("Sort {keys:?}"),
        Node::Take { count, keys, .. } => format!("Take {count} {keys:?}"),
        Node::Serialize { order, columns, .. } => format!("Serialize {order:?} {columns:?}"),
        leaf @ (Node::Scan { .. }
        | Node::Watchlist { .. }
        | Node::Constant { .. }
        | Node::ApplyRows
        | Node::Shared(_)) => format!("{leaf:?}"),
    };
    format!("{node} -> {:?} {:?}", p.schema, p.event_time)
}

fn default_of(ty: Type) -> Value {
    if ty == Type::String {
        Value::empty_string()
    } else {
        Value::Null
    }
}

fn uses_scalars(e: &ScalarExpr) -> bool {
    match e {
        ScalarExpr::Scalar(_) => true,
        ScalarExpr::Column(_) | ScalarExpr::Literal(_) | ScalarExpr::Now => false,
        ScalarExpr::Binary(_, a, b) => uses_scalars(a) || uses_scalars(b),
        ScalarExpr::Not(a) | ScalarExpr::Neg(a) | ScalarExpr::Cast(a, _) => uses_scalars(a),
        ScalarExpr::And(xs) | ScalarExpr::Or(xs) => xs.iter().any(uses_scalars),
        ScalarExpr::Call { args, .. } => args.iter().any(uses_scalars),
        ScalarExpr::In { expr, list, .. } | ScalarExpr::HasAny { expr, list, .. } => {
            uses_scalars(expr) || list.iter().any(uses_scalars)
        }
        ScalarExpr::Between { expr, lo, hi, .. } => {
            uses_scalars(expr) || uses_scalars(lo) || uses_scalars(hi)
        }
        ScalarExpr::Member { expr, .. } => uses_scalars(expr),
        ScalarExpr::Index { expr, index } => uses_scalars(expr) || uses_scalars(index),
    }
}

/// True when any expression of the plan (or its inputs) reads a scalar sub-query.
fn plan_uses_scalars(p: &Plan) -> bool {
    plan_uses_scalars_here(p) || p.inputs().into_iter().any(plan_uses_scalars)
}

/// True when an expression of the plan's own node reads a scalar sub-query.
fn plan_uses_scalars_here(p: &Plan) -> bool {
    match &p.node {
        Node::Filter { predicate, .. } => uses_scalars(predicate),
        Node::Map { exprs, .. } => exprs.iter().any(uses_scalars),
        Node::Reduce { keys, aggs, .. } => {
            keys.iter().any(uses_scalars) || aggs.iter().any(|a| a.args.iter().any(uses_scalars))
        }
        Node::MakeSeries {
            keys, aggs, axis, ..
        } => {
            uses_scalars(&axis.expr)
                || keys.iter().any(uses_scalars)
                || aggs.iter().any(|a| a.args.iter().any(uses_scalars))
        }
        Node::MvApply { items, .. } => items.iter().any(|i| uses_scalars(&i.expr)),
        _ => false,
    }
}

fn time_bound(b: &TemporalBound) -> TimeBound {
    match b.op {
        BoundOp::Gt => TimeBound::Gt(b.offset_ticks),
        BoundOp::Ge => TimeBound::Ge(b.offset_ticks),
        BoundOp::Lt => TimeBound::Lt(b.offset_ticks),
        BoundOp::Le => TimeBound::Le(b.offset_ticks),
    }
}

impl<'scope> Renderer<'_, 'scope> {
    /// A collection of constant rows, introduced at time 0 by worker 0.
    fn constant(&self, rows: Vec<Row>) -> Rows<'scope> {
        let rows = if self.worker == 0 { rows } else { Vec::new() };
        let (_handle, c) = self.scope_of.scope().new_collection_from(rows);
        c
    }

    /// The one-row collection of every scalar sub-query's value (rendered once).
    fn scalar_env(&mut self) -> Result<Rows<'scope>, String> {
        if let Some(env) = &self.scalars {
            return Ok(env.clone());
        }
        // A scalar's sub-query reads only the scalars before it: while it is rendered, the
        // environment is theirs.
        if let Some(env) = &self.scalars_building {
            return Ok(env.clone());
        }
        // Start from one empty row and extend it with each scalar's value in turn.
        let mut env = self.constant(vec![Vec::new()]);
        for i in 0..self.program.scalars.len() {
            let plan = &self.program.scalars[i];
            self.scalars_building = Some(env.clone());
            let rows = self.plan(plan);
            self.scalars_building = None;
            let rows = rows?;
            // The least first value, or null when the plan has no row: a sentinel (None) that is
            // always present keeps the reduce's output alive.
            let values = rows.map(|row| ((), Some(row.first().cloned().unwrap_or(Value::Null))));
            let sentinel = self.constant(vec![Vec::new()]).map(|_| ((), None::<Value>));
            let value = values.concat(sentinel).reduce(|_key, input, output| {
                let v = input
                    .iter()
                    .find_map(|(v, _)| (*v).clone())
                    .unwrap_or(Value::Null);
                output.push((v, 1isize));
            });
            env = env
                .map(|row| ((), row))
                .join(value)
                .map(|((), (mut row, v))| {
                    row.push(v);
                    row
                });
        }
        self.scalars = Some(env.clone());
        Ok(env)
    }

    /// Pairs each row with the scalar environment when `exprs` use scalars: returns rows
    /// extended by the scalars' values at the end, and the width of the original rows.
    fn with_scalars(
        &mut self,
        rows: Rows<'scope>,
        needed: bool,
        width: usize,
    ) -> Result<(Rows<'scope>, Option<usize>), String> {
        if !needed || self.program.scalars.is_empty() {
            return Ok((rows, None));
        }
        let env = self.scalar_env()?;
        Ok((env::with_env(rows, env), Some(width)))
    }

    /// A table's input as the dataflow feeds it, with its layout.
    fn scan_shared(&self, table: &str) -> Result<(Rows<'scope>, Option<Narrow>), String> {
        let rows = self
            .sources
            .tables
            .get(table)
            .cloned()
            .ok_or_else(|| format!("no input for table {table}"))?;
        Ok((rows, self.sources.layouts.scan(table)))
    }

    /// `rows` of `table` in the dataflow's shared layout `narrow`, cut to the columns this
    /// program reads when it reads fewer, with their layout.
    fn project_own(
        &self,
        table: &str,
        rows: Rows<'scope>,
        narrow: Option<Narrow>,
    ) -> (Rows<'scope>, Option<Narrow>) {
        let Some(picks) = self.sources.layouts.projection_to(&self.own, table) else {
            return (rows, narrow);
        };
        let own = self.own.scan(table);
        let rows = rows.map(move |mut row| {
            picks
                .iter()
                .map(|&i| row.get_mut(i).map(std::mem::take).unwrap_or_default())
                .collect()
        });
        (rows, own)
    }

    /// The rows of `p`, full width.
    fn plan(&mut self, p: &Plan) -> Result<Rows<'scope>, String> {
        let (rows, narrow) = self.plan_narrow(p)?;
        Ok(match narrow {
            Some(n) => n.widen(rows),
            None => rows,
        })
    }

    /// The rows of `p`, possibly narrow (see [`narrow`]): scans, and filters, maps and
    /// mv-applies over narrow rows, give narrow rows; aggregates read them by rewritten
    /// expressions; every other node has full rows.
    fn plan_narrow(&mut self, p: &Plan) -> Result<(Rows<'scope>, Option<Narrow>), String> {
        if matches!(p.node, Node::Scan { .. } | Node::Watchlist { .. }) {
            return self.plan_node(p);
        }
        let key = self.fingerprint(p);
        if let Some(c) = self.memo.rows.get(&key) {
            self.memo.reused += 1;
            return Ok(c.clone());
        }
        let c = self.plan_node(p)?;
        self.memo.rows.insert(key, c.clone());
        Ok(c)
    }

    /// What identifies the computation of `p` among every program rendered together: its
    /// digest (the plan with shared sub-plans written out, hashed node by node), prefixed by
    /// the columns this program cuts its scans' rows to, and by the program's index when it
    /// reads the program's scalar sub-queries.
    fn fingerprint(&mut self, p: &Plan) -> String {
        let d = self.digest(p);
        let mut text = format!("{:032x}", d.hash);
        // Rows cut to this program's own columns differ from another program's cut.
        for table in &d.tables {
            if self
                .sources
                .layouts
                .projection_to(&self.own, table)
                .is_some()
            {
                text = format!("{table} as {:?}; {text}", self.own.kept(table));
            }
        }
        if d.scalars {
            format!("program {}: {text}", self.index)
        } else {
            text
        }
    }

    /// The digest of `p`, a node of the program, computed once per node.
    fn digest(&mut self, p: &Plan) -> Digest {
        use std::hash::{Hash, Hasher};
        let at = p as *const Plan;
        if let Some(d) = self.digests.get(&at) {
            return d.clone();
        }
        let program = self.program;
        let d = match &p.node {
            // A shared plan is written out where it is used.
            Node::Shared(i) => match program.shared.get(*i) {
                Some(s) => self.digest(s),
                None => Digest {
                    hash: 0,
                    tables: Vec::new(),
                    scalars: false,
                },
            },
            _ => {
                let inputs: Vec<Digest> = p.inputs().into_iter().map(|i| self.digest(i)).collect();
                let local = local_text(p);
                let half = |seed: u8| {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    seed.hash(&mut h);
                    local.hash(&mut h);
                    for i in &inputs {
                        i.hash.hash(&mut h);
                    }
                    h.finish()
                };
                let mut tables: Vec<String> = Vec::new();
                if let Node::Scan { table, .. } = &p.node {
                    tables.push(table.clone());
                }
                for i in &inputs {
                    for t in &i.tables {
                        if !tables.contains(t) {
                            tables.push(t.clone());
                        }
                    }
                }
                Digest {
                    hash: (u128::from(half(1)) << 64) | u128::from(half(2)),
                    tables,
                    scalars: plan_uses_scalars_here(p) || inputs.iter().any(|i| i.scalars),
                }
            }
        };
        self.digests.insert(at, d.clone());
        d
    }

    /// The steps of the chain of fusable maps and filters ending at `p` (see [`fusable`]),
    /// first to last, over the rows (and their layout) of the first node below the chain, and
    /// the layout of `p`'s rows.
    fn chain(&mut self, p: &Plan) -> Result<(Rows<'scope>, Option<Narrow>, Vec<Step>), String> {
        let input = match &p.node {
            Node::Map { input, .. } | Node::Filter { input, .. } => input,
            _ => return Err("a map or filter expected".into()),
        };
        let (rows, narrow, mut steps) = if fusable(input) {
            self.chain(input)?
        } else {
            let (rows, narrow) = self.plan_narrow(input)?;
            (rows, narrow, Vec::new())
        };
        match &p.node {
            Node::Map { exprs, .. } => {
                let (exprs, out) = match &narrow {
                    Some(n) => {
                        let (exprs, out) = n.map(exprs);
                        (exprs, Some(out))
                    }
                    None => (exprs.clone(), None),
                };
                let shape = MapShape::of(&exprs);
                let ctx = crate::plan::ir::EvalCtx::default();
                steps.push(Box::new(move |row| Some(shape.apply(&exprs, row, &ctx))));
                Ok((rows, out, steps))
            }
            Node::Filter { predicate, .. } => {
                let predicate = match &narrow {
                    Some(n) => n.expr(predicate),
                    None => predicate.clone(),
                };
                let ctx = crate::plan::ir::EvalCtx::default();
                steps.push(Box::new(move |row| {
                    crate::func::ops::is_true(&predicate.eval(&row, &ctx)).then_some(row)
                }));
                Ok((rows, narrow, steps))
            }
            _ => Err("a map or filter expected".into()),
        }
    }

    /// [`Renderer::plan_narrow`] without the memo.
    fn plan_node(&mut self, p: &Plan) -> Result<(Rows<'scope>, Option<Narrow>), String> {
        // A map or filter over another: the chain as one operator.
        if fusable(p) && p.inputs().first().is_some_and(|i| fusable(i)) {
            let (rows, narrow, mut steps) = self.chain(p)?;
            let rows = rows.flat_map(move |row| {
                let mut r = Some(row);
                for step in steps.iter_mut() {
                    match r {
                        Some(row) => r = step(row),
                        None => break,
                    }
                }
                r
            });
            return Ok((rows, narrow));
        }
        match &p.node {
            Node::Scan { table, .. } => {
                let (rows, narrow) = self.scan_shared(table)?;
                Ok(self.project_own(table, rows, narrow))
            }
            Node::Shared(i) => {
                if let Some(Some(c)) = self.shared.get(*i) {
                    return Ok(c.clone());
                }
                let plan = self
                    .program
                    .shared
                    .get(*i)
                    .ok_or_else(|| format!("no shared plan #{i}"))?;
                let c = self.plan_narrow(plan)?;
                self.shared[*i] = Some(c.clone());
                Ok(c)
            }
            Node::Filter {
                input,
                predicate,
                temporal,
            } => {
                // A filter on a scan reads the dataflow's shared rows, and its output is cut
                // to this program's own columns.
                let (rows, narrow, own_table) = match &input.node {
                    Node::Scan { table, .. } => {
                        let (rows, narrow) = self.scan_shared(table)?;
                        (rows, narrow, Some(table.clone()))
                    }
                    _ => {
                        let (rows, narrow) = self.plan_narrow(input)?;
                        (rows, narrow, None)
                    }
                };
                let (rows, narrow, predicate, temporal) = match narrow {
                    Some(n) => match n.bounds(temporal) {
                        Some(bounds) => (rows, Some(n.clone()), n.expr(predicate), bounds),
                        None => (n.widen(rows), None, predicate.clone(), temporal.clone()),
                    },
                    None => (rows, None, predicate.clone(), temporal.clone()),
                };
                let width = narrow.as_ref().map_or(input.schema.len(), Narrow::width);
                let (rows, env) = self.with_scalars(rows, uses_scalars(&predicate), width)?;
                let mut out = rows.filter(move |row| {
                    let ctx = ctx_of(row, env);
                    crate::func::ops::is_true(&predicate.eval(row, &ctx))
                });
                if let Some(w) = env {
                    out = out.map(move |mut r| {
                        r.truncate(w);
                        r
                    });
                }
                // Cut to this program's own columns (the temporal bounds read the time
                // column, which every layout keeps), when the bounds can be read there.
                let own = own_table.filter(|_| narrow.is_some()).and_then(|table| {
                    let bounds = self.own.scan(&table)?.bounds(&full_bounds(p))?;
                    Some((table, bounds))
                });
                let (mut out, narrow, temporal) = match own {
                    Some((table, bounds)) => {
                        let (out, own) = self.project_own(&table, out, narrow);
                        (out, own, bounds)
                    }
                    None => (out, narrow, temporal),
                };
                if !temporal.is_empty() {
                    out = temporal_filter(out, &temporal, self.tick);
                }
                Ok((out, narrow))
            }
            Node::Map { input, exprs } => {
                let (rows, narrow) = self.plan_narrow(input)?;
                // Over narrow rows, the output is narrow too: the expressions that are
                // constants there (unread columns passed on) are left out of the row.
                let (exprs, width, out) = match &narrow {
                    Some(n) => {
                        let (exprs, out) = n.map(exprs);
                        (exprs, n.width(), Some(out))
                    }
                    None => (exprs.clone(), input.schema.len(), None),
                };
                let (rows, env) = self.with_scalars(rows, exprs.iter().any(uses_scalars), width)?;
                let shape = MapShape::of(&exprs);
                Ok((
                    rows.map(move |row| {
                        let ctx = ctx_of(&row, env);
                        shape.apply(&exprs, row, &ctx)
                    }),
                    out,
                ))
            }
            Node::MvApply {
                input,
                items,
                sub,
                keep,
                ..
            } => {
                let (rows, narrow) = self.plan_narrow(input)?;
                let width = narrow.as_ref().map_or(input.schema.len(), Narrow::width);
                let needed = items.iter().any(|i| uses_scalars(&i.expr)) || plan_uses_scalars(sub);
                let (rows, env) = self.with_scalars(rows, needed, width)?;
                let program = std::sync::Arc::new(self.program.clone());
                let node = p.node.clone();
                // Narrow rows are widened for the sub-plan (which the batch evaluator runs on
                // each row) and its output rows cut again.
                let out = narrow
                    .as_ref()
                    .map(|n| n.keep_then(keep, p.schema.len().saturating_sub(keep.len())));
                let layout = out.as_ref().map(|(o, _)| o.clone());
                let mut memo = ApplyMemo::new(
                    &node,
                    input.schema.len(),
                    narrow.as_ref(),
                    out.as_ref().map(|(_, picks)| picks.as_slice()),
                );
                Ok((
                    rows.flat_map(move |row| {
                        let ctx = ctx_of(&row, env);
                        let r: &[Value] = match env {
                            Some(w) => &row[..w.min(row.len())],
                            None => &row,
                        };
                        let Some(apply) = crate::eval::MvApply::of(&node) else {
                            return Vec::new();
                        };
                        memo.rows(r, &ctx, |r| {
                            let full = match &narrow {
                                Some(n) => n.widen_row(r),
                                None => r.to_vec(),
                            };
                            crate::eval::mv_apply_sub(&program, &apply, &full, &ctx)
                        })
                    }),
                    layout,
                ))
            }
            Node::Reduce { input, keys, aggs } => {
                let (rows, narrow) = self.plan_narrow(input)?;
                let (keys, aggs, width) = match &narrow {
                    Some(n) => (
                        keys.iter().map(|e| n.expr(e)).collect(),
                        n.aggs(aggs),
                        n.width(),
                    ),
                    None => (keys.clone(), aggs.clone(), input.schema.len()),
                };
                let needed: bool = keys.iter().any(uses_scalars)
                    || aggs.iter().any(|a| a.args.iter().any(uses_scalars));
                let (rows, env) = self.with_scalars(rows, needed, width)?;
                Ok((self.reduce(rows, env, keys, aggs)?, None))
            }
            Node::MakeSeries {
                input,
                keys,
                aggs,
                defaults,
                axis,
                nonempty,
            } => {
                let (rows, narrow) = self.plan_narrow(input)?;
                let width = narrow.as_ref().map_or(input.schema.len(), Narrow::width);
                let node = match &narrow {
                    Some(n) => Node::MakeSeries {
                        input: input.clone(),
                        keys: keys.iter().map(|e| n.expr(e)).collect(),
                        aggs: n.aggs(aggs),
                        defaults: defaults.clone(),
                        axis: Box::new(crate::plan::ir::SeriesAxis {
                            expr: n.expr(&axis.expr),
                            ..(**axis).clone()
                        }),
                        nonempty: *nonempty,
                    },
                    None => p.node.clone(),
                };
                let (rows, env) = self.with_scalars(rows, plan_uses_scalars_here(p), width)?;
                let no_keys = keys.is_empty();
                Ok((self.make_series(rows, env, &node, no_keys)?, None))
            }
            _ => Ok((self.plan_full(p)?, None)),
        }
    }

    /// The rows of a node that [`Renderer::plan_narrow`] leaves to full rows.
    fn plan_full(&mut self, p: &Plan) -> Result<Rows<'scope>, String> {
        match &p.node {
            Node::Scan { .. }
            | Node::Shared(_)
            | Node::Filter { .. }
            | Node::Map { .. }
            | Node::Reduce { .. }
            | Node::MakeSeries { .. }
            | Node::MvApply { .. } => self.plan(p),
            Node::Watchlist { name } => self
                .sources
                .watchlists
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no input for watchlist {name}")),
            Node::Constant { rows } => Ok(self.constant(rows.clone())),
            Node::Distinct { input } => {
                let rows = self.plan(input)?;
                Ok(rows.distinct().map(|r| r))
            }
            Node::Union {
                inputs,
                with_source,
            } => {
                let mut out: Option<Rows<'scope>> = None;
                for u in inputs {
                    let rows = self.plan(&u.plan)?;
                    let mapping = u.columns.clone();
                    let types: Vec<Type> = p.schema.iter().map(|c| c.ty).collect();
                    let source = Value::str(&u.source);
                    let with_source = *with_source;
                    let mapped = rows.map(move |row| {
                        let mut out = Vec::with_capacity(mapping.len());
                        for (i, m) in mapping.iter().enumerate() {
                            if with_source && i == 0 {
                                out.push(source.clone());
                                continue;
                            }
                            out.push(match m {
                                Some(j) => row.get(*j).cloned().unwrap_or(Value::Null),
                                None => default_of(types[i]),
                            });
                        }
                        out
                    });
                    out = Some(match out {
                        None => mapped,
                        Some(acc) => acc.concat(mapped),
                    });
                }
                out.ok_or_else(|| "a union of nothing".to_string())
            }
            Node::MvExpand {
                input,
                columns,
                limit,
            } => {
                let rows = self.plan(input)?;
                let columns = columns.clone();
                let limit = *limit;
                Ok(rows.flat_map(move |row| crate::eval::mv_expand_row(&row, &columns, limit)))
            }
            Node::Join { .. } => self.join(p),
            Node::Take {
                count: 0, input, ..
            } => {
                let rows = self.plan(input)?;
                Ok(rows.filter(|_| false))
            }
            // The order of rows does not change a multiset: a sort inside a query passes its
            // input through.
            Node::Sort { input, .. } => self.plan(input),
            Node::Take { input, count, keys } => {
                if keys
                    .iter()
                    .any(|k| uses_scalars(&k.expr) || k.expr.uses_now())
                {
                    return Err("top by a scalar sub-query or now() in the middle of a query is not supported by the incremental engine".into());
                }
                let rows = self.plan(input)?;
                let keyed = rows.map(|row| (Row::new(), row));
                let top = TopK {
                    count: *count,
                    keys: keys.clone().into(),
                };
                let ordinal = self.memo.next_keyed();
                Ok(fold::fold_by_key(keyed, "TopK", top, ordinal).flat_map(|(_, rows)| rows))
            }
            Node::Serialize { input, columns, .. } if columns.is_empty() => self.plan(input),
            Node::Serialize {
                input,
                order,
                columns,
            } => {
                let exprs = order
                    .iter()
                    .map(|k| &k.expr)
                    .chain(columns.iter().flat_map(|c| c.exprs()));
                if exprs.into_iter().any(|e| uses_scalars(e) || e.uses_now()) {
                    return Err("serialize or a window function over a scalar sub-query or now() is not supported by the incremental engine".into());
                }
                let rows = self.plan(input)?;
                Ok(serial::serialize_rows(rows, order.clone(), columns.clone()))
            }
            Node::ApplyRows => Err("apply rows outside an mv-apply".into()),
        }
    }

    fn by_key(
        &mut self,
        input: &Plan,
        keys: &[usize],
        least: bool,
    ) -> Result<ByKey<'scope>, String> {
        let mut fp = self.fingerprint(input);
        if least {
            fp.insert_str(0, "least ");
        }
        let id = (fp, keys.to_vec());
        if let Some(a) = self.memo.by_key.get(&id) {
            self.memo.reused += 1;
            return Ok(a.clone());
        }
        let rows = self.plan(input)?;
        let keys = keys.to_vec();
        let keyed = rows.map(move |row| {
            let key: Row = keys
                .iter()
                .map(|&k| row.get(k).cloned().unwrap_or(Value::Null))
                .collect();
            (key, row)
        });
        let keyed = if least {
            fold::fold_by_key(keyed, "InnerUniqueLeft", Least, self.memo.next_keyed())
        } else {
            keyed
        };
        self.memo.by_key.insert(id, keyed.clone());
        Ok(keyed)
    }

    /// An equi-join of the two sides' rows keyed by their key columns, in one
    /// [`ordered_join::join_ordered`] operator: inner kinds emit the pairs; semi kinds a side's
    /// rows while the other side has the key; anti kinds while it has not; outer kinds the
    /// pairs and the unmatched rows padded with empty values.
    fn join(&mut self, p: &Plan) -> Result<Rows<'scope>, String> {
        let Node::Join {
            kind,
            left,
            right,
            left_keys,
            right_keys,
            right_output,
        } = &p.node
        else {
            return Err("a join expected".into());
        };
        let kind = *kind;
        let ro = right_output.clone();
        let pair = move |lrow: &Row, rrow: &Row| -> Row {
            let mut out = Vec::with_capacity(lrow.len() + ro.len());
            out.extend(lrow.iter().cloned());
            out.extend(
                ro.iter()
                    .map(|&i| rrow.get(i).cloned().unwrap_or(Value::Null)),
            );
            out
        };
        let right_nulls: Row = right_output
            .iter()
            .map(|&i| default_of(right.schema.get(i).map_or(Type::Dynamic, |c| c.ty)))
            .collect();
        let left_nulls: Row = left.schema.iter().map(|c| default_of(c.ty)).collect();
        let ro = right_output.clone();
        let pad_left: ordered_join::RowFn = std::rc::Rc::new(move |row: &Row| {
            let mut out = row.clone();
            out.extend(right_nulls.iter().cloned());
            out
        });
        let pad_right: ordered_join::RowFn = std::rc::Rc::new(move |row: &Row| {
            let mut out = left_nulls.clone();
            out.extend(
                ro.iter()
                    .map(|&i| row.get(i).cloned().unwrap_or(Value::Null)),
            );
            out
        });
        let pairs: Option<ordered_join::PairFn> = Some(std::rc::Rc::new(pair));
        let emit = match kind {
            JoinKind::Inner | JoinKind::InnerUnique => ordered_join::Emit {
                pairs,
                ..Default::default()
            },
            JoinKind::LeftSemi => ordered_join::Emit {
                left_matched: Some(None),
                ..Default::default()
            },
            JoinKind::RightSemi => ordered_join::Emit {
                right_matched: Some(None),
                ..Default::default()
            },
            JoinKind::LeftAnti => ordered_join::Emit {
                left_unmatched: Some(None),
                ..Default::default()
            },
            JoinKind::RightAnti => ordered_join::Emit {
                right_unmatched: Some(None),
                ..Default::default()
            },
            JoinKind::LeftOuter => ordered_join::Emit {
                pairs,
                left_unmatched: Some(Some(pad_left)),
                ..Default::default()
            },
            JoinKind::RightOuter => ordered_join::Emit {
                pairs,
                right_unmatched: Some(Some(pad_right)),
                ..Default::default()
            },
            JoinKind::FullOuter => ordered_join::Emit {
                pairs,
                left_unmatched: Some(Some(pad_left)),
                right_unmatched: Some(Some(pad_right)),
                ..Default::default()
            },
        };
        let l = self.by_key(left, left_keys, kind == JoinKind::InnerUnique)?;
        let r = self.by_key(right, right_keys, false)?;
        let ordinal = self.memo.next_keyed();
        Ok(ordered_join::join_ordered(l, r, "Join", emit, ordinal))
    }

    /// `make-series` as a keyed reduce of each group's bins, the arrays' span (from the bins
    /// of every group when a bound comes from the data), and a map to the output rows, with
    /// `series`'s functions as the batch evaluator uses them.
    fn make_series(
        &mut self,
        rows: Rows<'scope>,
        env: Option<usize>,
        node: &Node,
        no_keys: bool,
    ) -> Result<Rows<'scope>, String> {
        let Node::MakeSeries {
            keys,
            aggs,
            defaults,
            axis,
            nonempty,
            ..
        } = node
        else {
            return Err("make-series expected".into());
        };
        let axis: &SeriesAxis = axis;
        // With a bound that moves with now(), rows fall in the bins of the axis without it (the
        // same bins: see `SeriesAxis::moving_unsupported`), and each tick's bounds cut the arrays.
        let in_axis = if axis.moves() {
            SeriesAxis {
                start: axis.start.filter(|_| axis.start_now.is_none()),
                end: axis.end.filter(|_| axis.end_now.is_none()),
                start_now: None,
                end_now: None,
                ..axis.clone()
            }
        } else {
            axis.clone()
        };
        let (keys, in_aggs) = (keys.clone(), aggs.clone());
        let clock_input = axis.moves().then(|| rows.clone());
        // A moving `to` off the bins' grid (`to now()`) leaves out the rows at or after it,
        // which the bins cannot tell: a temporal filter on the axis column does.
        let rows = match (axis.end_now, &axis.expr) {
            (Some(end), ScalarExpr::Column(c)) if !axis.keeps_grid(end) => {
                let bound = crate::plan::TemporalBound {
                    column: *c,
                    op: crate::plan::BoundOp::Lt,
                    offset_ticks: end.offset,
                    align: end.align,
                };
                temporal_filter(rows, &[bound], self.tick)
            }
            _ => rows,
        };
        let keyed = rows.flat_map(move |row| {
            let ctx = ctx_of(&row, env);
            series::series_input(&in_axis, &in_aggs, &row, &ctx).map(|v| {
                let key: Row = keys.iter().map(|k| k.eval(&row, &ctx)).collect();
                (key, v)
            })
        });
        let bins = fold::fold_by_key(
            keyed,
            "MakeSeriesBins",
            SeriesGroups {
                aggs: aggs.to_vec(),
            },
            self.memo.next_keyed(),
        )
        .flat_map(|(k, b)| (!b.is_empty()).then_some((k, b)));
        let spanned = if let Some(clock_input) = clock_input {
            // The bins each tick's arrays cover, from a clock that changes them as now() moves;
            // a group with no bin among them has no row.
            let span_axis = axis.clone();
            let clock = series_clock(&clock_input, axis.clone(), self.tick);
            bins.map(|(k, b)| ((), (k, b)))
                .join(clock)
                .flat_map(move |((), ((k, b), now))| {
                    let span = series::series_span(&span_axis.at(now as i64), None);
                    series::bins_in_span(&b, span, span_axis.step).then_some((k, (b, span)))
                })
        } else if axis.start.is_some() && axis.end.is_some() {
            let span = series::series_span(axis, None);
            bins.map(move |(k, b)| (k, (b, span)))
        } else {
            // The bins' bounds over every group: one record, joined onto each group.
            let bounds = fold::fold_by_key(
                bins.clone()
                    .flat_map(|(_, b)| series::data_bounds([&b]).map(|lh| (Vec::new(), lh))),
                "MakeSeriesBounds",
                Bounds,
                self.memo.next_keyed(),
            )
            .flat_map(|(_, lh)| lh.map(|lh| ((), lh)));
            let span_axis = axis.clone();
            bins.map(|(k, b)| ((), (k, b)))
                .join(bounds)
                .map(move |((), ((k, b), bounds))| {
                    (k, (b, series::series_span(&span_axis, Some(bounds))))
                })
        };
        let (row_axis, row_defaults) = (axis.clone(), defaults.clone());
        let out = spanned
            .map(move |(k, (b, span))| series::series_row(&k, &row_defaults, &row_axis, &b, span));
        if !(*nonempty && no_keys) {
            return Ok(out);
        }
        // kind=nonempty without keys: a row of defaults while there is no group, kept alive by
        // a sentinel that is always present.
        let empty = series::series_row(&[], defaults, axis, &[], series::series_span(axis, None));
        let sentinel = self.constant(vec![Vec::new()]).map(|_| ((), None::<Row>));
        Ok(out
            .map(|r| ((), Some(r)))
            .concat(sentinel)
            .reduce(
                move |_key: &(),
                      input: &[(&Option<Row>, isize)],
                      output: &mut Vec<(Row, isize)>| {
                    let mut any = false;
                    for (r, n) in input {
                        if let Some(r) = r {
                            output.push((r.clone(), *n));
                            any = true;
                        }
                    }
                    if !any {
                        output.push((empty.clone(), 1));
                    }
                },
            )
            .map(|((), r)| r))
    }

    fn reduce(
        &mut self,
        rows: Rows<'scope>,
        env: Option<usize>,
        keys: Vec<ScalarExpr>,
        aggs: Vec<AggCall>,
    ) -> Result<Rows<'scope>, String> {
        let no_keys = keys.is_empty();
        // Every aggregate's arguments, one after another, in one vector per row.
        let arg_exprs: Vec<ScalarExpr> = aggs.iter().flat_map(|a| a.args.clone()).collect();
        let keyed = rows.map(move |row| {
            let ctx = ctx_of(&row, env);
            let key: Row = keys.iter().map(|k| k.eval(&row, &ctx)).collect();
            let args: Vec<Value> = arg_exprs.iter().map(|e| e.eval(&row, &ctx)).collect();
            (key, Some(args))
        });
        // With no keys, summarize has exactly one output row, even over no input: a sentinel that
        // is always present keeps the group alive.
        let keyed = if no_keys {
            let sentinel = self
                .constant(vec![Vec::new()])
                .map(|_| (Vec::new(), None::<Vec<Value>>));
            keyed.concat(sentinel)
        } else {
            keyed
        };
        let ordinal = self.memo.next_keyed();
        Ok(fold::fold_emit(
            keyed,
            "Summarize",
            Summarize::new(aggs),
            ordinal,
            |_key: &Row, row: Row| row,
        ))
    }
}

/// The clock of a make-series whose bounds move with now(): a collection holding, at each
/// tick from the first of `rows`'s data on, one tick at which the bounds (and so the arrays'
/// bins) are the same as now, and changing at each tick where they move; it stops when `rows`
/// ends. It lives on worker 0 (each worker's data are announced there).
fn series_clock<'scope>(
    rows: &Rows<'scope>,
    axis: SeriesAxis,
    tick: i64,
) -> differential_dataflow::VecCollection<'scope, Time, ((), Time), isize> {
    use timely::dataflow::channels::pact::Exchange as ExchangePact;
    // Each message's least and greatest update times, sent to worker 0.
    let firsts = rows
        .inner
        .clone()
        .unary(Pipeline, "SeriesClockData", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let times = data.iter().map(|(_, t, _)| *t);
                    if let (Some(lo), Some(hi)) = (times.clone().min(), times.max()) {
                        output.session(&cap).give((lo, hi));
                    }
                    data.clear();
                });
            }
        });
    let start_now = axis.start_now;
    let span = {
        let axis = axis.clone();
        move |now: Time| series::series_span(&axis.at(now as i64), None)
    };
    let next = {
        let axis_clock = axis.clone();
        move |now: Time| -> Option<Time> {
            let now_i = now as i64;
            let moving = axis_clock.at(now_i);
            let mut candidates: Vec<i64> = Vec::new();
            for b in [axis_clock.start_now, axis_clock.end_now]
                .into_iter()
                .flatten()
            {
                if let Some(n) = b.next_step(now_i) {
                    candidates.push(n);
                }
            }
            // A `to` that moves with every tick adds a bin each time it passes one's start.
            if let (Some(b), Some(start)) = (axis_clock.end_now, moving.start)
                && b.align == 0
            {
                let (_, count) = series::series_span(&moving, None);
                let step = axis_clock.step.max(1);
                let edge = i128::from(start) + i128::from(step) * count as i128;
                if let Ok(edge) = i64::try_from(edge) {
                    candidates.push(edge.saturating_sub(b.offset).saturating_add(1));
                }
            }
            let at = candidates.into_iter().filter(|&c| c > now_i).min()?;
            Some(crate::runtime::tick_of(at, tick).max(now + 1))
        }
    };
    firsts
        .unary_frontier(
            ExchangePact::new(|_: &(Time, Time)| 0u64),
            "SeriesClock",
            move |capability, _info| {
                let mut cap = Some(capability);
                // The tick the clock holds (in the collection) and the last tick it has
                // looked at, once it has started at the first data.
                let mut state: Option<(Time, Time)> = None;
                // The latest update time seen: no row's bin is after it.
                let mut latest: Time = 0;
                // The first tick the clock shows.
                let mut start: Time = 0;
                move |(input, frontier), output| {
                    // From the tick the clock holds (`shown`) and the last tick looked at, the ticks
                    // after it where the bounds move and `go(tick, looked)` holds: each with the tick
                    // it replaces; then the tick held and the last tick looked at.
                    let moves = |mut shown: Time,
                                 mut looked: Time,
                                 go: &dyn Fn(Time, Time) -> bool|
                     -> (Vec<(Time, Time)>, Time, Time) {
                        let mut changes = Vec::new();
                        while let Some(n) = next(looked)
                            && go(n, looked)
                        {
                            if span(n) != span(shown) {
                                changes.push((n, shown));
                                shown = n;
                            }
                            looked = n;
                        }
                        (changes, shown, looked)
                    };
                    let mut first: Option<Time> = None;
                    input.for_each(|_, data| {
                        for (lo, hi) in data.drain(..) {
                            first = Some(first.map_or(lo, |f: Time| f.min(lo)));
                            latest = latest.max(hi);
                        }
                    });
                    let Some(c) = cap.as_mut() else { return };
                    if let Some(f) = first {
                        // No data can come before the capability (it follows the input's
                        // frontier).
                        let f = f.max(*c.time());
                        match (state, start) {
                            (None, _) => {
                                output.session(&c.delayed(&f)).give((((), f), f, 1));
                                state = Some((f, f));
                                start = f;
                            }
                            // Data from before the clock's start (another worker's, announced
                            // later): the clock is extended back to it.
                            (Some(_), s) if f < s => {
                                let at = c.delayed(&f);
                                let mut session = output.session(&at);
                                session.give((((), f), f, 1));
                                let (changes, shown, _) = moves(f, f, &|n, _| n < s);
                                for (n, before) in changes {
                                    session.give((((), before), n, -1));
                                    session.give((((), n), n, 1));
                                }
                                session.give((((), shown), s, -1));
                                start = f;
                            }
                            _ => {}
                        }
                    }
                    let reached = frontier.frontier().iter().min().copied();
                    if let Some((held, looked)) = state {
                        // Through every tick the input has passed where the bounds move; once
                        // it has ended, through its last update, and on while a moving `from`
                        // has not passed every row (the arrays still change), then no more.
                        let go = |n: Time, looked: Time| match reached {
                            Some(r) => n < r,
                            None => {
                                n <= latest
                                    || start_now
                                        .is_some_and(|s| s.at(looked as i64) <= latest as i64)
                            }
                        };
                        let (changes, held, looked) = moves(held, looked, &go);
                        for (n, before) in changes {
                            let at = c.delayed(&n);
                            let mut session = output.session(&at);
                            session.give((((), before), n, -1));
                            session.give((((), n), n, 1));
                        }
                        state = Some((held, looked));
                    }
                    let Some(r) = reached else {
                        // The input has ended and the clock has shown every change left.
                        cap = None;
                        return;
                    };
                    let hold = match state {
                        Some((_, looked)) => match next(looked) {
                            Some(n) => n.min(r),
                            None => {
                                cap = None;
                                return;
                            }
                        },
                        None => r,
                    };
                    if *c.time() < hold {
                        c.downgrade(&hold);
                    }
                }
            },
        )
        .as_collection()
}
