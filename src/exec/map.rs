//! How `extend`/`project` and `mv-apply` make their rows: a map's shape (columns moved
//! rather than rebuilt), mv-apply's memo of sub-plan results, and evaluation contexts.

use super::*;

/// How a map's output row is made from its input row without building it anew where it can be.
pub(super) enum MapShape {
    /// Input columns in increasing order, nothing computed: moved within the row.
    Select(Vec<usize>),
    /// The first this many input columns as they are, then computed columns.
    Extend(usize),
    /// Every column computed into a new row.
    Any,
}

impl MapShape {
    /// The output row of a map of this shape computing `exprs` over `row`.
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
            // The first columns kept as they are (extend): the others computed and put after
            // them.
            MapShape::Extend(kept) => {
                let more: Vec<Value> = exprs[*kept..].iter().map(|e| e.eval(&row, ctx)).collect();
                row.resize(*kept, Value::Null);
                row.extend(more);
                row
            }
            MapShape::Any => exprs.iter().map(|e| e.eval(&row, ctx)).collect(),
        }
    }

    /// The shape of a map computing `exprs` (over an input row at least as wide as the
    /// columns they read).
    pub(super) fn of(exprs: &[ScalarExpr]) -> MapShape {
        let picks: Option<Vec<usize>> = exprs
            .iter()
            .map(|e| match e {
                ScalarExpr::Column(j) => Some(*j),
                _ => None,
            })
            .collect();
        if let Some(picks) = picks
            && picks.windows(2).all(|w| w[0] < w[1])
        {
            return MapShape::Select(picks);
        }
        let kept = exprs
            .iter()
            .enumerate()
            .take_while(|(i, e)| matches!(e, ScalarExpr::Column(j) if j == i))
            .count();
        if kept > 0 {
            MapShape::Extend(kept)
        } else {
            MapShape::Any
        }
    }
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
