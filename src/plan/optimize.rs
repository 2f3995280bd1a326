//! Predicate pushdown inside a plan: [`optimize`] moves the conjuncts of every filter down the
//! tree, below the operators that they commute with, so that they run on fewer rows and, once
//! directly above a scan, let [`crate::exec::SourceFilter`] leave records out before they are
//! fed.
//!
//! A filter's predicate is split into its conjuncts (`and` operands) and its temporal bounds
//! ([`TemporalBound`]); each moves on its own, and whatever cannot move further stays in a
//! filter at the place it reached. A conjunct is a row predicate: at every tick it keeps the
//! rows for which it is true, so it commutes with an operator when every output row's value
//! of the conjunct is the value over the input row(s) it comes from. Per operator:
//!
//! - `Map` (`extend`, `project`): when every column read is passed through unchanged
//!   (`Column(i)`), rewritten to the input's positions; a conjunct reading a computed column
//!   stays above.
//! - `Union`: into every input, the output columns rewritten to the input's (a column an input
//!   lacks is its empty value there, the `withsource` column the input's name); temporal bounds
//!   only when every input has the column.
//! - `Join`: a conjunct reading only left output columns into the left input for `inner`,
//!   `leftouter`, `leftsemi` and `leftanti`; for `innerunique` (which keeps the least left row
//!   per key) only when it reads nothing but left key columns whose equal values are identical
//!   (so it holds for all of a key's rows or none); only right columns into the right input
//!   (through `right_output`) for `inner`, `innerunique`, `rightouter`, `rightsemi` and
//!   `rightanti`; nothing through `fullouter`.
//! - `Distinct`, `Reduce` and `MakeSeries`: when the columns read are (for the aggregates,
//!   group keys that are plain input columns) of types whose equal values are identical; for
//!   `Reduce` and `MakeSeries` only with keys, and for `MakeSeries` only when the axis has both
//!   bounds (else the arrays' span depends on every group).
//! - `MvExpand`: when no expanded column is read; `MvApply`: when only kept input columns are
//!   read; `Sort`, and `Serialize` without window functions: always. Nothing moves through
//!   `Take`, a `Serialize` with window functions (a row's `prev` would change), into a
//!   shared plan used in several places (the other uses would lose rows) or past the leaves. A shared plan used in one
//!   place only (a `let` read once) is first written out there, and filters move into it.
//! - Windows go the other way around an `mv-apply`: a temporal bound never moves below one,
//!   and those found in the chain of filters and maps below one move above it, so that each
//!   record runs the sub-plan once rather than twice (entering and leaving the window).
//! - Nothing moves into a sub-plan that contains an `mv-apply` and is written out identically
//!   in several places of the program (a function invoked twice on the same table): kept
//!   whole, the renderer computes it once for all its uses, where each use's filters pushed
//!   into it would make the copies differ and run the costly sub-plan once per use.
//!
//! Adjacent filters merge, a filter that keeps everything disappears, and the temporal bounds
//! of one filter all read one column (as the renderer requires): bounds on several columns
//! become stacked filters, the event time's first.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hasher;

use crate::model::{Column, Type, Value};

use super::ir::{JoinKind, Node, Plan, Program, ScalarExpr, TemporalBound};

/// The program with every filter's conjuncts and temporal bounds moved as far down its plans
/// as they go without changing any result (see the module documentation): the root, each
/// shared plan and each scalar sub-query optimised on its own. At every tick `now`, the
/// batch evaluator gives the same rows for the result as for `program`.
pub fn optimize(program: &Program) -> Program {
    let program = inline_single_use(program);
    BARRIERS.with(|b| *b.borrow_mut() = repeated_costly_subplans(&program));
    let out = Program {
        root: optimize_plan(&program.root),
        shared: program.shared.iter().map(optimize_plan).collect(),
        scalars: program.scalars.iter().map(optimize_plan).collect(),
        notes: program.notes,
        warnings: program.warnings,
    };
    BARRIERS.with(|b| b.borrow_mut().clear());
    out
}

thread_local! {
    /// The digests of the sub-plans filters do not move into during the current
    /// [`optimize`] call (see [`repeated_costly_subplans`]).
    static BARRIERS: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// A digest of a plan's text (as `Debug` writes it), written straight into the hasher.
fn digest(p: &Plan) -> u64 {
    struct Digest(rustc_hash::FxHasher);
    impl std::fmt::Write for Digest {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut d = Digest(rustc_hash::FxHasher::default());
    let _ = std::fmt::write(&mut d, format_args!("{p:?}"));
    d.0.finish()
}

/// The digests of the sub-plans that occur more than once in `program` and contain an
/// `mv-apply`: filters stay above them, so that every occurrence stays alike and the
/// renderer computes it once.
fn repeated_costly_subplans(program: &Program) -> HashSet<u64> {
    /// Counts every sub-plan of `p` that contains an `mv-apply`; true when `p` does.
    fn walk(p: &Plan, counts: &mut HashMap<u64, usize>) -> bool {
        let mut costly = matches!(p.node, Node::MvApply { .. });
        for i in p.inputs() {
            costly |= walk(i, counts);
        }
        if costly {
            *counts.entry(digest(p)).or_insert(0) += 1;
        }
        costly
    }
    let mut counts = HashMap::new();
    for p in std::iter::once(&program.root)
        .chain(&program.shared)
        .chain(&program.scalars)
    {
        walk(p, &mut counts);
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(d, _)| d)
        .collect()
}

/// The program with each shared plan that is referred to exactly once written out in its
/// place (it is computed once either way), so that filters can move into it; the other
/// shared plans are kept, renumbered in their order.
fn inline_single_use(program: &Program) -> Program {
    fn count(p: &Plan, uses: &mut [usize]) {
        if let Node::Shared(i) = p.node
            && let Some(u) = uses.get_mut(i)
        {
            *u += 1;
        }
        for i in p.inputs() {
            count(i, uses);
        }
    }
    /// `p` with single-use shared plans written out and the others' indices renumbered.
    fn rewrite(p: &mut Plan, shared: &[Plan], index: &[Option<usize>]) {
        if let Node::Shared(i) = p.node {
            match index.get(i) {
                Some(None) => {
                    if let Some(s) = shared.get(i) {
                        let mut s = s.clone();
                        rewrite(&mut s, shared, index);
                        p.node = s.node;
                    }
                }
                Some(Some(j)) => p.node = Node::Shared(*j),
                None => {}
            }
            return;
        }
        for c in p.inputs_mut() {
            rewrite(c, shared, index);
        }
    }
    let mut uses = vec![0; program.shared.len()];
    for p in std::iter::once(&program.root)
        .chain(&program.shared)
        .chain(&program.scalars)
    {
        count(p, &mut uses);
    }
    // The new index of each kept plan; `None` for the plans written out.
    let mut next = 0;
    let index: Vec<Option<usize>> = uses
        .iter()
        .map(|u| {
            (*u != 1).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    let mut out = program.clone();
    rewrite(&mut out.root, &program.shared, &index);
    for s in &mut out.scalars {
        rewrite(s, &program.shared, &index);
    }
    out.shared = program
        .shared
        .iter()
        .zip(&index)
        .filter(|(_, i)| i.is_some())
        .map(|(s, _)| {
            let mut s = s.clone();
            rewrite(&mut s, &program.shared, &index);
            s
        })
        .collect();
    out
}

/// `plan` with its filters pushed down (see [`optimize`]).
pub fn optimize_plan(plan: &Plan) -> Plan {
    push(hoist_windows(plan), Pending::default())
}

/// `p` with the temporal bounds (windows) found below each `mv-apply`, in the chain of filters
/// and maps between it and the next other operator, moved above it. A window's bound is a row
/// predicate on a column the `mv-apply` passes through, so where it is tested does not change
/// the rows; but below, every record runs the `mv-apply`'s sub-plan twice (as it enters the
/// window and as it leaves), above only once, and the window holds the rows after it.
fn hoist_windows(p: &Plan) -> Plan {
    let mut out = p.clone();
    hoist_in(&mut out);
    out
}

fn hoist_in(p: &mut Plan) {
    for i in p.inputs_mut() {
        hoist_in(i);
    }
    let Node::MvApply { input, keep, .. } = &p.node else {
        return;
    };
    let Some((stripped, bounds)) = strip_windows(input) else {
        return;
    };
    if bounds.is_empty() {
        return;
    }
    // Each bound's column as the mv-apply outputs it.
    let mut above = Vec::with_capacity(bounds.len());
    for b in bounds {
        let Some(at) = keep.iter().position(|&k| k == b.column) else {
            return;
        };
        above.push(TemporalBound { column: at, ..b });
    }
    let mut node = p.node.clone();
    if let Node::MvApply { input, .. } = &mut node {
        **input = stripped;
    }
    let applied = Plan {
        node,
        schema: p.schema.clone(),
        event_time: p.event_time,
    };
    *p = wrap(
        applied,
        Pending {
            preds: Vec::new(),
            temporal: above,
        },
    );
}

/// `p` without the temporal bounds of the filters in its chain of filters and maps (down to
/// the first other operator), and those bounds over `p`'s output columns; `None` when a
/// bound's column is not passed through unchanged to the top.
fn strip_windows(p: &Plan) -> Option<(Plan, Vec<TemporalBound>)> {
    match &p.node {
        Node::Filter {
            input,
            predicate,
            temporal,
        } => {
            let (inner, mut bounds) = strip_windows(input)?;
            bounds.extend(temporal.iter().cloned());
            if matches!(predicate, ScalarExpr::Literal(Value::Bool(true))) {
                Some((inner, bounds))
            } else {
                Some((
                    Plan {
                        node: Node::Filter {
                            input: Box::new(inner),
                            predicate: predicate.clone(),
                            temporal: Vec::new(),
                        },
                        schema: p.schema.clone(),
                        event_time: p.event_time,
                    },
                    bounds,
                ))
            }
        }
        Node::Map { input, exprs } => {
            let (inner, bounds) = strip_windows(input)?;
            let mut mapped = Vec::with_capacity(bounds.len());
            for b in bounds {
                let at = exprs
                    .iter()
                    .position(|e| matches!(e, ScalarExpr::Column(c) if *c == b.column))?;
                mapped.push(TemporalBound { column: at, ..b });
            }
            Some((
                Plan {
                    node: Node::Map {
                        input: Box::new(inner),
                        exprs: exprs.clone(),
                    },
                    schema: p.schema.clone(),
                    event_time: p.event_time,
                },
                mapped,
            ))
        }
        _ => Some((p.clone(), Vec::new())),
    }
}

/// Filter parts on their way down: non-temporal conjuncts and temporal bounds, over the
/// output columns of the node they are at.
#[derive(Clone, Debug, Default)]
struct Pending {
    preds: Vec<ScalarExpr>,
    temporal: Vec<TemporalBound>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.preds.is_empty() && self.temporal.is_empty()
    }
}

/// The conjuncts of `e`, `and`s flattened and `true` literals left out, appended to `out`.
fn conjuncts(e: ScalarExpr, out: &mut Vec<ScalarExpr>) {
    match e {
        ScalarExpr::And(xs) => xs.into_iter().for_each(|x| conjuncts(x, out)),
        ScalarExpr::Literal(Value::Bool(true)) => {}
        other => out.push(other),
    }
}

/// The columns `e` reads.
fn columns(e: &ScalarExpr) -> BTreeSet<usize> {
    fn walk(e: &ScalarExpr, out: &mut BTreeSet<usize>) {
        if let ScalarExpr::Column(i) = e {
            out.insert(*i);
        }
        e.for_each_child(&mut |c| walk(c, out));
    }
    let mut out = BTreeSet::new();
    walk(e, &mut out);
    out
}

/// `e` with each column `i` replaced by `f(i)`, or `None` when `f` has no replacement for a
/// column it reads.
fn rewrite(e: &ScalarExpr, f: &dyn Fn(usize) -> Option<ScalarExpr>) -> Option<ScalarExpr> {
    if columns(e).into_iter().any(|i| f(i).is_none()) {
        return None;
    }
    Some(e.map_columns(&|i| f(i).unwrap_or(ScalarExpr::Column(i))))
}

/// A temporal bound moved to column `f(column)`, when `f` gives a plain column for it.
fn rewrite_bound(
    b: &TemporalBound,
    f: &dyn Fn(usize) -> Option<ScalarExpr>,
) -> Option<TemporalBound> {
    match f(b.column)? {
        ScalarExpr::Column(c) => Some(TemporalBound { column: c, ..*b }),
        _ => None,
    }
}

/// True for types whose values are identical whenever they are equal in the total order
/// rows are grouped and deduplicated by (reals are not: `-0.0` equals `0.0`; nor dynamic
/// values, which may hold reals), so any predicate over such a column holds for all of a
/// group's rows or for none.
fn exact(ty: Type) -> bool {
    !matches!(ty, Type::Real | Type::Dynamic)
}

/// The value an input of a union lacking column `c` gives it (as both evaluators do).
fn missing(c: &Column) -> Value {
    if c.ty == Type::String {
        Value::empty_string()
    } else {
        Value::Null
    }
}

/// Splits `pending` by `route`: the parts it rewrites for the input go down, the others stay.
fn split(pending: Pending, route: &dyn Fn(usize) -> Option<ScalarExpr>) -> (Pending, Pending) {
    let mut down = Pending::default();
    let mut stay = Pending::default();
    for p in pending.preds {
        match rewrite(&p, route) {
            Some(q) => down.preds.push(q),
            None => stay.preds.push(p),
        }
    }
    for b in pending.temporal {
        match rewrite_bound(&b, route) {
            Some(c) => down.temporal.push(c),
            None => stay.temporal.push(b),
        }
    }
    (down, stay)
}

/// `plan` (whose filters are not yet pushed) with `pending` applied above it, both pushed as
/// far down as they go.
fn push(plan: Plan, pending: Pending) -> Plan {
    if !pending.is_empty()
        && BARRIERS.with(|b| !b.borrow().is_empty() && b.borrow().contains(&digest(&plan)))
    {
        return wrap(push(plan, Pending::default()), pending);
    }
    let Plan {
        node,
        schema,
        event_time,
    } = plan;
    let rebuilt = |node: Node| Plan {
        node,
        schema: schema.clone(),
        event_time,
    };
    match node {
        Node::Filter {
            input,
            predicate,
            temporal,
        } => {
            // This filter runs first: its parts go before those from above.
            let mut merged = Pending::default();
            conjuncts(predicate, &mut merged.preds);
            merged.preds.extend(pending.preds);
            merged.temporal = temporal;
            merged.temporal.extend(pending.temporal);
            push(*input, merged)
        }
        Node::Map { input, exprs } => {
            let route = |i: usize| match exprs.get(i) {
                Some(ScalarExpr::Column(j)) => Some(ScalarExpr::Column(*j)),
                _ => None,
            };
            let (down, stay) = split(pending, &route);
            let input = Box::new(push(*input, down));
            wrap(rebuilt(Node::Map { input, exprs }), stay)
        }
        Node::Sort { input, keys } => {
            let input = Box::new(push(*input, pending));
            rebuilt(Node::Sort { input, keys })
        }
        Node::Distinct { input } => {
            let route = |i: usize| {
                schema
                    .get(i)
                    .filter(|c| exact(c.ty))
                    .map(|_| ScalarExpr::Column(i))
            };
            let (down, stay) = split(pending, &route);
            let input = Box::new(push(*input, down));
            wrap(rebuilt(Node::Distinct { input }), stay)
        }
        Node::Reduce { input, keys, aggs } => {
            let route = |i: usize| group_key(&keys, &schema, i);
            // Without keys there is one output row even over no input: nothing moves.
            let (down, stay) = if keys.is_empty() {
                (Pending::default(), pending)
            } else {
                split(pending, &route)
            };
            let input = Box::new(push(*input, down));
            wrap(rebuilt(Node::Reduce { input, keys, aggs }), stay)
        }
        Node::MakeSeries {
            input,
            keys,
            aggs,
            defaults,
            axis,
            nonempty,
        } => {
            let route = |i: usize| group_key(&keys, &schema, i);
            // Without both axis bounds, the arrays span the bins of every group: removing a
            // group changes the others' rows.
            let movable = !keys.is_empty() && axis.bounded();
            let (down, stay) = if movable {
                split(pending, &route)
            } else {
                (Pending::default(), pending)
            };
            let input = Box::new(push(*input, down));
            let node = Node::MakeSeries {
                input,
                keys,
                aggs,
                defaults,
                axis,
                nonempty,
            };
            wrap(rebuilt(node), stay)
        }
        Node::MvExpand {
            input,
            columns: expanded,
            limit,
        } => {
            let route = |i: usize| {
                (!expanded.iter().any(|(c, _)| *c == i)).then_some(ScalarExpr::Column(i))
            };
            let (down, stay) = split(pending, &route);
            let input = Box::new(push(*input, down));
            let node = Node::MvExpand {
                input,
                columns: expanded,
                limit,
            };
            wrap(rebuilt(node), stay)
        }
        Node::MvApply {
            input,
            items,
            item_columns,
            apply_width,
            keep,
            limit,
            sub,
        } => {
            let route = |i: usize| keep.get(i).map(|k| ScalarExpr::Column(*k));
            let (mut down, mut stay) = split(pending, &route);
            // Windows stay above (see [`hoist_windows`]).
            stay.temporal.append(&mut down.temporal);
            let input = Box::new(push(*input, down));
            let sub = Box::new(push(*sub, Pending::default()));
            let node = Node::MvApply {
                input,
                items,
                item_columns,
                apply_width,
                keep,
                limit,
                sub,
            };
            wrap(rebuilt(node), stay)
        }
        Node::Union {
            inputs,
            with_source,
        } => {
            let mut stay = Pending::default();
            let mut downs: Vec<Pending> = vec![Pending::default(); inputs.len()];
            let routes: Vec<_> = inputs
                .iter()
                .map(|u| {
                    let u = u.clone();
                    let schema = schema.clone();
                    move |o: usize| match (u.columns.get(o)?, with_source && o == 0) {
                        (Some(s), false) => Some(ScalarExpr::Column(*s)),
                        // Both evaluators write the input's name there.
                        (None, true) => Some(ScalarExpr::Literal(Value::str(&u.source))),
                        (None, false) => schema.get(o).map(|c| ScalarExpr::Literal(missing(c))),
                        (Some(_), true) => None,
                    }
                })
                .collect();
            for p in pending.preds {
                let moved: Option<Vec<ScalarExpr>> =
                    routes.iter().map(|r| rewrite(&p, r)).collect();
                match moved {
                    Some(qs) => downs.iter_mut().zip(qs).for_each(|(d, q)| d.preds.push(q)),
                    None => stay.preds.push(p),
                }
            }
            for b in pending.temporal {
                let moved: Option<Vec<TemporalBound>> =
                    routes.iter().map(|r| rewrite_bound(&b, r)).collect();
                match moved {
                    Some(bs) => downs
                        .iter_mut()
                        .zip(bs)
                        .for_each(|(d, c)| d.temporal.push(c)),
                    None => stay.temporal.push(b),
                }
            }
            let inputs = inputs
                .into_iter()
                .zip(downs)
                .map(|(mut u, d)| {
                    u.plan = push(u.plan, d);
                    u
                })
                .collect();
            wrap(
                rebuilt(Node::Union {
                    inputs,
                    with_source,
                }),
                stay,
            )
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
            let (mut to_left, mut to_right, mut stay) =
                (Pending::default(), Pending::default(), Pending::default());
            let side = |cols: &BTreeSet<usize>| {
                join_side(kind, cols, nl, &left_keys, &left.schema, &right_output)
            };
            for p in pending.preds {
                match side(&columns(&p)) {
                    Side::Left => to_left.preds.push(p),
                    Side::Right(map) => match rewrite(&p, &|i| map(i)) {
                        Some(q) => to_right.preds.push(q),
                        None => stay.preds.push(p),
                    },
                    Side::Stay => stay.preds.push(p),
                }
            }
            for b in pending.temporal {
                match side(&BTreeSet::from([b.column])) {
                    Side::Left => to_left.temporal.push(b),
                    Side::Right(map) => match rewrite_bound(&b, &|i| map(i)) {
                        Some(c) => to_right.temporal.push(c),
                        None => stay.temporal.push(b),
                    },
                    Side::Stay => stay.temporal.push(b),
                }
            }
            let left = Box::new(push(*left, to_left));
            let right = Box::new(push(*right, to_right));
            let node = Node::Join {
                kind,
                left,
                right,
                left_keys,
                right_keys,
                right_output,
            };
            wrap(rebuilt(node), stay)
        }
        // Without window functions `serialize` only orders the rows: filters pass. With them,
        // a row's values read its neighbours, which a filter below would change.
        Node::Serialize {
            input,
            order,
            columns,
        } if columns.is_empty() => {
            let input = Box::new(push(*input, pending));
            rebuilt(Node::Serialize {
                input,
                order,
                columns,
            })
        }
        Node::Serialize {
            input,
            order,
            columns,
        } => {
            let input = Box::new(push(*input, Pending::default()));
            let node = Node::Serialize {
                input,
                order,
                columns,
            };
            wrap(rebuilt(node), pending)
        }
        Node::Take { input, count, keys } => {
            let input = Box::new(push(*input, Pending::default()));
            wrap(rebuilt(Node::Take { input, count, keys }), pending)
        }
        leaf @ (Node::Scan { .. }
        | Node::Watchlist { .. }
        | Node::Constant { .. }
        | Node::ApplyRows
        | Node::Shared(_)) => wrap(rebuilt(leaf), pending),
    }
}

/// Output column `i` of an aggregation as its input column, when it is a group key that is a
/// plain input column of a type whose equal values are identical.
fn group_key(keys: &[ScalarExpr], schema: &[Column], i: usize) -> Option<ScalarExpr> {
    match keys.get(i)? {
        ScalarExpr::Column(j) if schema.get(i).is_some_and(|c| exact(c.ty)) => {
            Some(ScalarExpr::Column(*j))
        }
        _ => None,
    }
}

/// Where a join's filter part goes.
enum Side {
    /// Into the left input, columns unchanged.
    Left,
    /// Into the right input, output columns mapped to the right input's.
    Right(Box<dyn Fn(usize) -> Option<ScalarExpr>>),
    /// Nowhere: it stays above the join.
    Stay,
}

/// Where a filter part reading output columns `cols` of a join of kind `kind` (with `nl`
/// left columns) goes (see the module documentation).
fn join_side(
    kind: JoinKind,
    cols: &BTreeSet<usize>,
    nl: usize,
    left_keys: &[usize],
    left_schema: &[Column],
    right_output: &[usize],
) -> Side {
    let right = |offset: usize| -> Side {
        let ro = right_output.to_vec();
        Side::Right(Box::new(move |i: usize| {
            if offset == 0 {
                Some(ScalarExpr::Column(i))
            } else {
                i.checked_sub(offset)
                    .and_then(|j| ro.get(j))
                    .map(|c| ScalarExpr::Column(*c))
            }
        }))
    };
    let all_left = cols.iter().all(|c| *c < nl);
    let all_right = cols.iter().all(|c| *c >= nl);
    match kind {
        JoinKind::LeftSemi | JoinKind::LeftAnti => Side::Left,
        JoinKind::RightSemi | JoinKind::RightAnti => right(0),
        JoinKind::FullOuter => Side::Stay,
        // A part reading no column holds for every row or none: the left input takes it.
        JoinKind::Inner | JoinKind::LeftOuter if all_left => Side::Left,
        JoinKind::Inner | JoinKind::RightOuter if all_right => right(nl),
        // innerunique keeps the least left row of each key: a part may drop left rows only
        // when it drops all of a key's rows or none, that is when it reads only key columns.
        JoinKind::InnerUnique
            if !cols.is_empty()
                && cols.iter().all(|c| {
                    left_keys.contains(c) && left_schema.get(*c).is_some_and(|s| exact(s.ty))
                }) =>
        {
            Side::Left
        }
        JoinKind::InnerUnique if all_right => right(nl),
        _ => Side::Stay,
    }
}

/// `plan` under a filter of `pending` (none when it is empty): one filter with the
/// conjuncts and the bounds of one column, and one more filter per other bounded column (a
/// filter's bounds read one column), the event time's bounds lowest.
fn wrap(plan: Plan, pending: Pending) -> Plan {
    if pending.is_empty() {
        return plan;
    }
    let mut groups: Vec<Vec<TemporalBound>> = Vec::new();
    for b in pending.temporal {
        match groups.iter_mut().find(|g| g[0].column == b.column) {
            Some(g) => {
                if !g.contains(&b) {
                    g.push(b);
                }
            }
            None => groups.push(vec![b]),
        }
    }
    if let Some(t) = plan.event_time
        && let Some(i) = groups.iter().position(|g| g[0].column == t)
    {
        groups[..=i].rotate_right(1);
    }
    let mut preds = pending.preds;
    let predicate = match preds.len() {
        0 => ScalarExpr::Literal(Value::Bool(true)),
        1 => preds
            .pop()
            .unwrap_or(ScalarExpr::Literal(Value::Bool(true))),
        _ => ScalarExpr::And(preds),
    };
    let mut groups = groups.into_iter();
    let mut out = Plan::filter(plan, predicate, groups.next().unwrap_or_default());
    for g in groups {
        out = Plan::filter(out, ScalarExpr::Literal(Value::Bool(true)), g);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::plan::{BindOptions, bind};

    fn program(src: &str) -> Program {
        let q = crate::kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "q")));
        bind(src, &q, Catalog::builtin(), &BindOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render(src, "q")))
    }

    /// The plan's nodes as `Kind(inputs…)`, filters with their predicate's column count.
    fn shape(p: &Plan) -> String {
        let head = match &p.node {
            Node::Scan { .. } => "Scan",
            Node::Watchlist { .. } => "Watchlist",
            Node::Constant { .. } => "Constant",
            Node::Filter { .. } => "Filter",
            Node::Map { .. } => "Map",
            Node::Reduce { .. } => "Reduce",
            Node::MakeSeries { .. } => "MakeSeries",
            Node::Join { .. } => "Join",
            Node::Union { .. } => "Union",
            Node::MvExpand { .. } => "MvExpand",
            Node::MvApply { .. } => "MvApply",
            Node::ApplyRows => "ApplyRows",
            Node::Distinct { .. } => "Distinct",
            Node::Sort { .. } => "Sort",
            Node::Take { .. } => "Take",
            Node::Serialize { .. } => "Serialize",
            Node::Shared(_) => "Shared",
        };
        let inputs: Vec<String> = p.inputs().into_iter().map(shape).collect();
        if inputs.is_empty() {
            head.to_string()
        } else {
            format!("{head}({})", inputs.join(", "))
        }
    }

    fn optimized(src: &str) -> String {
        shape(&optimize(&program(src)).root)
    }

    #[test]
    fn a_filter_after_an_extend_goes_onto_the_scan() {
        assert_eq!(
            optimized("SigninLogs | extend x = 1 | where UserPrincipalName == \"a\""),
            "Map(Filter(Scan))"
        );
        // The rewritten filter reads the scan's column.
        let p = optimize(&program(
            "SigninLogs | project IPAddress, UserPrincipalName | where UserPrincipalName == \"a\"",
        ));
        let Node::Map { input, .. } = &p.root.node else {
            panic!("{}", p.explain())
        };
        let Node::Filter { predicate, .. } = &input.node else {
            panic!("{}", p.explain())
        };
        let upn = input.index_of("UserPrincipalName").unwrap();
        assert_eq!(columns(predicate), BTreeSet::from([upn]));
    }

    #[test]
    fn a_filter_on_a_computed_column_stays_above_the_map() {
        assert_eq!(
            optimized("SigninLogs | extend x = 1 | where x == 1"),
            "Filter(Map(Scan))"
        );
        // The parts of a conjunction move on their own.
        assert_eq!(
            optimized(
                "SigninLogs | extend x = strlen(IPAddress) | where x > 3 and ResultType == \"0\""
            ),
            "Filter(Map(Filter(Scan)))"
        );
    }

    #[test]
    fn adjacent_filters_merge_and_temporal_bounds_move_too() {
        let p = optimize(&program(
            "SigninLogs | where ResultType == \"0\" | extend y = 2 | where TimeGenerated > ago(1h) | where IPAddress != \"\"",
        ));
        assert_eq!(shape(&p.root), "Map(Filter(Scan))");
        let Node::Map { input, .. } = &p.root.node else {
            panic!()
        };
        let Node::Filter {
            predicate,
            temporal,
            ..
        } = &input.node
        else {
            panic!()
        };
        assert!(
            matches!(predicate, ScalarExpr::And(xs) if xs.len() == 2),
            "{predicate}"
        );
        assert_eq!(temporal.len(), 1);
        assert_eq!(Some(temporal[0].column), input.event_time);
    }

    #[test]
    fn join_filters_go_to_the_side_whose_columns_they_read() {
        let inner = "SigninLogs | project UserPrincipalName, IPAddress | join kind=inner (AuditLogs | project UserPrincipalName = tostring(InitiatedBy), OperationName) on UserPrincipalName";
        // A right-column filter goes into the right input, under its project.
        assert_eq!(
            optimized(&format!("{inner} | where OperationName == \"x\"")),
            "Join(Map(Scan), Map(Filter(Scan)))"
        );
        assert_eq!(
            optimized(&format!("{inner} | where IPAddress == \"x\"")),
            "Join(Map(Filter(Scan)), Map(Scan))"
        );
        // Reading both sides, it stays.
        assert_eq!(
            optimized(&format!("{inner} | where IPAddress == OperationName")),
            "Filter(Join(Map(Scan), Map(Scan)))"
        );
        let outer = inner.replace("kind=inner", "kind=leftouter");
        assert_eq!(
            optimized(&format!("{outer} | where OperationName == \"x\"")),
            "Filter(Join(Map(Scan), Map(Scan)))"
        );
        assert_eq!(
            optimized(&format!("{outer} | where IPAddress == \"x\"")),
            "Join(Map(Filter(Scan)), Map(Scan))"
        );
        let full = inner.replace("kind=inner", "kind=fullouter");
        assert_eq!(
            optimized(&format!("{full} | where IPAddress == \"x\"")),
            "Filter(Join(Map(Scan), Map(Scan)))"
        );
        // innerunique: a left column that is not the key stays, the key moves.
        let unique = inner.replace("kind=inner", "kind=innerunique");
        assert_eq!(
            optimized(&format!("{unique} | where IPAddress == \"x\"")),
            "Filter(Join(Map(Scan), Map(Scan)))"
        );
        assert_eq!(
            optimized(&format!("{unique} | where UserPrincipalName == \"x\"")),
            "Join(Map(Filter(Scan)), Map(Scan))"
        );
        assert_eq!(
            optimized(&format!("{unique} | where OperationName == \"x\"")),
            "Join(Map(Scan), Map(Filter(Scan)))"
        );
    }

    #[test]
    fn union_distinct_summarize_and_mv_expand() {
        assert_eq!(
            optimized(
                "union (SigninLogs | project a = UserPrincipalName), (AuditLogs | project b = OperationName) | where a == \"x\""
            ),
            "Union(Map(Filter(Scan)), Map(Filter(Scan)))"
        );
        assert_eq!(
            optimized(
                "SigninLogs | distinct UserPrincipalName, IPAddress | where IPAddress == \"x\""
            ),
            "Distinct(Map(Filter(Scan)))"
        );
        assert_eq!(
            optimized(
                "SigninLogs | summarize n = count() by UserPrincipalName | where UserPrincipalName == \"x\" and n > 1"
            ),
            "Filter(Reduce(Filter(Scan)))"
        );
        assert_eq!(
            optimized("SigninLogs | summarize n = count() | where n > 1"),
            "Filter(Reduce(Scan))"
        );
        assert_eq!(
            optimized(
                "SigninLogs | extend p = split(IPAddress, \".\") | mv-expand p | where UserPrincipalName == \"x\" and p == \"1\""
            ),
            "Filter(MvExpand(Map(Filter(Scan))))"
        );
        // make-series moves a key filter only with both axis bounds.
        assert_eq!(
            optimized(
                "SigninLogs | make-series count() on TimeGenerated step 1h by UserPrincipalName | where UserPrincipalName == \"x\""
            ),
            "Filter(MakeSeries(Scan))"
        );
    }

    #[test]
    fn a_let_read_once_is_written_out_and_filters_move_into_it() {
        let p = optimize(&program(
            "let s = SigninLogs | extend k = 1; let t = s | where ResultType == \"0\"; let u = SigninLogs | project IPAddress; t | where UserPrincipalName == \"a\" | join kind=inner u on IPAddress | join kind=inner u on IPAddress",
        ));
        // s and t are written out, u (read twice) is kept, renumbered.
        assert_eq!(p.shared.len(), 1, "{}", p.explain());
        assert_eq!(shape(&p.shared[0]), "Map(Scan)");
        assert_eq!(
            shape(&p.root),
            "Join(Join(Map(Filter(Scan)), Shared), Shared)",
            "{}",
            p.explain()
        );
        assert!(matches!(p.root.inputs()[1].node, Node::Shared(0)));
    }

    #[test]
    fn shared_plans_keep_their_rows_and_true_filters_vanish() {
        let p = optimize(&program(
            "let s = SigninLogs | extend x = 1 | where ResultType == \"0\"; s | where UserPrincipalName == \"a\" | union (s | where UserPrincipalName == \"b\")",
        ));
        assert_eq!(shape(&p.shared[0]), "Map(Filter(Scan))");
        assert!(shape(&p.root).contains("Filter(Shared)"), "{}", p.explain());
        let mut q = program("SigninLogs | project UserPrincipalName");
        q.root = Plan::filter(q.root, ScalarExpr::Literal(Value::Bool(true)), Vec::new());
        assert_eq!(shape(&optimize(&q).root), "Map(Scan)");
    }
}
