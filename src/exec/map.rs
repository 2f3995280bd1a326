//! How `extend`/`project` and `mv-apply` make their rows: a map's shape (columns moved
//! rather than rebuilt), mv-apply's memo of sub-plan results, and evaluation contexts.

use super::*;

/// Where an output column of a map comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// Input column `j`, moved out of the input row: no later column reads it.
    Move(usize),
    /// Input column `j`, copied: a later column reads it too.
    Copy(usize),
    /// The map's expression of that index, computed.
    Eval(usize),
}

/// How a map's output row is made from its input row without building it anew where it can be.
pub(super) enum MapShape {
    /// Input columns in increasing order, nothing computed: moved within the row.
    Select(Vec<usize>),
    /// Every column either kept where it is or computed (`extend`, or a `project` that rewrites
    /// a few columns in place): the columns listed are computed, each by its expression, and
    /// written into the input row.
    InPlace(Vec<usize>),
    /// A new row: input columns moved out of the input row (copied when read again), the
    /// others computed. No value is copied that is not read twice.
    Rebuild(Vec<Source>),
}

impl MapShape {
    /// The output row of a map of this shape computing `exprs` over `row`: the same row as
    /// `exprs` each evaluated over `row`.
    pub(super) fn apply(&self, exprs: &[ScalarExpr], mut row: Row, ctx: &EvalCtx) -> Row {
        match self {
            // Columns kept in order (project, project-away): moved in place.
            MapShape::Select(picks) => {
                if let Some(&last) = picks.last()
                    && last >= row.len()
                {
                    row.resize(last + 1, Value::Null);
                }
                for (i, &j) in picks.iter().enumerate() {
                    if i != j {
                        row[i] = std::mem::take(&mut row[j]);
                    }
                }
                row.truncate(picks.len());
                row
            }
            // A row cut to fewer columns is made anew, rather than kept in the input row's
            // larger allocation.
            MapShape::InPlace(_) if exprs.len() < row.len() => {
                exprs.iter().map(|e| e.eval(&row, ctx)).collect()
            }
            // Computed over the whole input row first, then written over it.
            MapShape::InPlace(computed) => {
                match computed.as_slice() {
                    [] => {}
                    &[i] => {
                        let v = exprs[i].eval(&row, ctx);
                        put(&mut row, i, v);
                    }
                    _ => {
                        let values: Vec<Value> =
                            computed.iter().map(|&i| exprs[i].eval(&row, ctx)).collect();
                        for (&i, v) in computed.iter().zip(values) {
                            put(&mut row, i, v);
                        }
                    }
                }
                row.resize(exprs.len(), Value::Null);
                row
            }
            MapShape::Rebuild(sources) => sources
                .iter()
                .map(|s| match *s {
                    Source::Move(j) => row.get_mut(j).map(std::mem::take).unwrap_or_default(),
                    Source::Copy(j) => row.get(j).cloned().unwrap_or_default(),
                    Source::Eval(e) => exprs[e].eval(&row, ctx),
                })
                .collect(),
        }
    }

    /// The shape of a map computing `exprs` (over an input row at least as wide as the
    /// columns they read).
    pub(super) fn of(exprs: &[ScalarExpr]) -> MapShape {
        let column = |e: &ScalarExpr| match e {
            ScalarExpr::Column(j) => Some(*j),
            _ => None,
        };
        let picks: Option<Vec<usize>> = exprs.iter().map(column).collect();
        if let Some(picks) = picks
            && picks.windows(2).all(|w| w[0] < w[1])
        {
            return MapShape::Select(picks);
        }
        if exprs
            .iter()
            .enumerate()
            .all(|(i, e)| column(e).is_none_or(|j| j == i))
        {
            return MapShape::InPlace(
                (0..exprs.len())
                    .filter(|&i| column(&exprs[i]).is_none())
                    .collect(),
            );
        }
        // An input column is moved out at its last read: after it, no column copies it and no
        // computed column reads it (computed columns are evaluated in output order, over the
        // input row less the columns moved out before them).
        let reads: Vec<std::collections::BTreeSet<usize>> = exprs
            .iter()
            .map(|e| {
                let mut cols = std::collections::BTreeSet::new();
                if column(e).is_none() {
                    expr_columns(e, &mut cols);
                }
                cols
            })
            .collect();
        let sources = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| match column(e) {
                None => Source::Eval(i),
                Some(j) => {
                    let read_later = exprs[i + 1..]
                        .iter()
                        .zip(&reads[i + 1..])
                        .any(|(later, r)| column(later) == Some(j) || r.contains(&j));
                    if read_later {
                        Source::Copy(j)
                    } else {
                        Source::Move(j)
                    }
                }
            })
            .collect();
        MapShape::Rebuild(sources)
    }
}

/// Writes `v` as column `i` of `row`, widening it with nulls when it is narrower.
fn put(row: &mut Row, i: usize, v: Value) {
    if i >= row.len() {
        row.resize(i + 1, Value::Null);
    }
    row[i] = v;
}

/// Where an output column of an mv-apply comes from: a kept input column (an expression over
/// the possibly narrow input row) or a column of the sub-plan's result.
pub(super) enum ApplySource {
    Row(ScalarExpr),
    Sub(usize),
}

/// The most sub-plan results an mv-apply keeps; past that it forgets them all.
pub(super) const APPLY_MEMO_LIMIT: usize = 1 << 14;

/// After this many lookups, an mv-apply memo that has hit fewer than a quarter of them stops.
pub(super) const APPLY_MEMO_TRIAL: usize = 4096;

/// An mv-apply's sub-plan results by what they depend on. The sub-plan's rows for an input row
/// depend only on the input columns its items and sub-plan read (often one or two, such as an
/// address tested against a watchlist's ranges) and on the scalars it reads; records that agree
/// on those share one evaluation of the sub-plan.
pub(super) struct ApplyMemo {
    /// The expressions, over the (possibly narrow) input row, of the values results depend on.
    key: Vec<ScalarExpr>,
    /// The output row's columns.
    out: Vec<ApplySource>,
    /// The scalars the results were computed with; a change forgets them.
    scalars: Vec<Value>,
    results: HashMap<Vec<Value>, Vec<Row>>,
    /// Lookups and hits so far; a memo that rarely hits (its key is nearly the whole row)
    /// turns itself off.
    lookups: usize,
    hits: usize,
    off: bool,
}

impl ApplyMemo {
    /// The memo for mv-apply `node` over input rows of full width `width`, held as `narrow`
    /// says, whose output keeps the columns `picks` (of keep then sub-plan columns) when cut.
    pub(super) fn new(
        node: &Node,
        width: usize,
        narrow: Option<&Narrow>,
        picks: Option<&[usize]>,
    ) -> ApplyMemo {
        let on_row = |c: usize| match narrow {
            Some(n) => n.expr(&ScalarExpr::Column(c)),
            None => ScalarExpr::Column(c),
        };
        let (mut key, mut out) = (Vec::new(), Vec::new());
        if let Node::MvApply {
            items, keep, sub, ..
        } = node
        {
            let mut cols: std::collections::BTreeSet<usize> = crate::plan::ir::apply_rows_read(sub)
                .into_iter()
                .filter(|c| *c < width)
                .collect();
            for it in items.iter() {
                expr_columns(&it.expr, &mut cols);
            }
            key = cols.into_iter().map(on_row).collect();
            let k = keep.len();
            let sub_width = sub.schema.len();
            let source = |i: usize| match keep.get(i) {
                Some(c) => ApplySource::Row(on_row(*c)),
                None => ApplySource::Sub(i - k),
            };
            out = match picks {
                Some(picks) => picks.iter().map(|&i| source(i)).collect(),
                None => (0..k + sub_width).map(source).collect(),
            };
        }
        ApplyMemo {
            key,
            out,
            scalars: Vec::new(),
            results: HashMap::new(),
            lookups: 0,
            hits: 0,
            off: false,
        }
    }

    /// The output rows for input row `r`: from the memo, or from `compute` (the sub-plan's rows
    /// for `r`), remembered.
    pub(super) fn rows(
        &mut self,
        r: &[Value],
        ctx: &EvalCtx,
        compute: impl FnOnce(&[Value]) -> Vec<Row>,
    ) -> Vec<Row> {
        if self.off {
            let subs = compute(r);
            return self.output(r, ctx, &subs);
        }
        if self.scalars != ctx.scalars {
            self.scalars = ctx.scalars.clone();
            self.results.clear();
        }
        let key: Vec<Value> = self.key.iter().map(|e| e.eval(r, ctx)).collect();
        self.lookups += 1;
        if self.results.contains_key(&key) {
            self.hits += 1;
        } else {
            if self.results.len() >= APPLY_MEMO_LIMIT {
                self.results.clear();
            }
            if self.lookups >= APPLY_MEMO_TRIAL && self.hits * 4 < self.lookups {
                self.off = true;
                self.results = HashMap::new();
                let subs = compute(r);
                return self.output(r, ctx, &subs);
            }
            let rows = compute(r);
            self.results.insert(key.clone(), rows);
        }
        match self.results.get(&key) {
            Some(subs) => self.output(r, ctx, subs),
            None => Vec::new(),
        }
    }

    /// The output rows of input row `r` given the sub-plan's rows `subs` for it.
    fn output(&self, r: &[Value], ctx: &EvalCtx, subs: &[Row]) -> Vec<Row> {
        subs.iter()
            .map(|s| {
                self.out
                    .iter()
                    .map(|src| match src {
                        ApplySource::Row(e) => e.eval(r, ctx),
                        ApplySource::Sub(i) => s.get(*i).cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Adds the columns `e` reads to `out`.
pub(super) fn expr_columns(e: &ScalarExpr, out: &mut std::collections::BTreeSet<usize>) {
    if let ScalarExpr::Column(i) = e {
        out.insert(*i);
    }
    e.for_each_child(&mut |c| expr_columns(c, out));
}

pub(super) fn ctx_of(row: &[Value], env: Option<usize>) -> EvalCtx {
    match env {
        Some(w) => EvalCtx {
            now: 0,
            scalars: row.get(w..).map(|s| s.to_vec()).unwrap_or_default(),
        },
        None => EvalCtx::default(),
    }
}

/// One step of a chain of maps and filters: a row in, the row it becomes or none.
pub(super) type Step = Box<dyn FnMut(Row) -> Option<Row>>;

/// True when `p` is a map or filter that reads no scalar sub-query and tests no window, and
/// (a filter) is not directly on a scan: a step that [`Renderer::chain`] can fuse with the
/// steps around it into one operator.
pub(super) fn fusable(p: &Plan) -> bool {
    match &p.node {
        Node::Map { exprs, .. } => !exprs.iter().any(uses_scalars),
        Node::Filter {
            input,
            predicate,
            temporal,
        } => {
            temporal.is_empty()
                && !uses_scalars(predicate)
                && !matches!(input.node, Node::Scan { .. })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::ops::BinOp;
    use proptest::prelude::*;

    /// An expression over rows of `width` columns: a column (possibly past the row's end), a
    /// literal, a sum of two columns, or a string function of one.
    fn expr(width: usize) -> impl Strategy<Value = ScalarExpr> {
        prop_oneof![
            4 => (0..width + 2).prop_map(ScalarExpr::Column),
            1 => any::<i64>().prop_map(|x| ScalarExpr::Literal(Value::Long(x))),
            1 => (0..width, 0..width).prop_map(|(a, b)| ScalarExpr::Binary(
                BinOp::Add,
                Box::new(ScalarExpr::Column(a)),
                Box::new(ScalarExpr::Column(b)),
            )),
            1 => (0..width).prop_map(|a| ScalarExpr::Call {
                name: "tostring".into(),
                args: vec![ScalarExpr::Column(a)],
            }),
        ]
    }

    fn row(width: usize) -> impl Strategy<Value = Row> {
        proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(Value::Long),
                "[a-c]{0,3}".prop_map(Value::str),
                Just(Value::Null),
            ],
            width,
        )
    }

    proptest! {
        /// Whatever the shape chosen, a map's row is its expressions each evaluated over the
        /// input row.
        #[test]
        fn map_shapes_give_each_expression_over_the_input(
            (input, exprs) in (1usize..6).prop_flat_map(|w| (row(w), proptest::collection::vec(expr(w), 0..8)))
        ) {
            let ctx = EvalCtx::default();
            let want: Row = exprs.iter().map(|e| e.eval(&input, &ctx)).collect();
            let got = MapShape::of(&exprs).apply(&exprs, input.clone(), &ctx);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn shapes_move_rather_than_copy() {
        let col = ScalarExpr::Column;
        let f = |j| ScalarExpr::Call {
            name: "tostring".into(),
            args: vec![col(j)],
        };
        // extend, and a project that rewrites one column in place: written into the row.
        assert!(matches!(
            MapShape::of(&[col(0), col(1), f(0)]),
            MapShape::InPlace(ref computed) if computed == &[2]
        ));
        assert!(matches!(
            MapShape::of(&[col(0), f(1), col(2)]),
            MapShape::InPlace(ref computed) if computed == &[1]
        ));
        // Reordered: each column moved at its last read; one read again later is copied, and
        // one that a later computed column reads too.
        let MapShape::Rebuild(s) = MapShape::of(&[col(2), col(0), col(2), f(1), col(1)]) else {
            panic!("a rebuilt row expected");
        };
        assert_eq!(
            s,
            vec![
                Source::Copy(2),
                Source::Move(0),
                Source::Move(2),
                Source::Eval(3),
                Source::Move(1)
            ]
        );
        let MapShape::Rebuild(s) = MapShape::of(&[col(1), f(1)]) else {
            panic!("a rebuilt row expected");
        };
        assert_eq!(s, vec![Source::Copy(1), Source::Eval(1)]);
    }
}
