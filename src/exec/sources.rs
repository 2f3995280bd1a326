//! What programs read from their sources: the columns of each table, and the filter that
//! drops, as records are read, those no program can keep.

use super::*;

/// The columns (schema positions) that `program` reads from each table, over every scan of it.
pub fn columns_read(
    program: &Program,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<usize>> {
    fn walk(
        p: &Plan,
        out: &mut std::collections::BTreeMap<String, std::collections::BTreeSet<usize>>,
    ) {
        if let Node::Scan { table, columns } = &p.node {
            out.entry(table.clone())
                .or_default()
                .extend(columns.iter().copied());
        }
        for i in p.inputs() {
            walk(i, out);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(&program.root, &mut out);
    for s in program.shared.iter().chain(&program.scalars) {
        walk(s, &mut out);
    }
    out
}

/// The columns (schema positions) that any of `programs` reads from each table: the union
/// of [`columns_read`] over them, for programs that share their table inputs.
pub fn columns_read_by<'a>(
    programs: impl IntoIterator<Item = &'a Program>,
) -> BTreeMap<String, std::collections::BTreeSet<usize>> {
    let mut read: BTreeMap<String, std::collections::BTreeSet<usize>> = BTreeMap::new();
    for p in programs {
        for (table, cols) in columns_read(p) {
            read.entry(table).or_default().extend(cols);
        }
    }
    read
}

/// Which records can reach a set of programs' results, from the filters that sit directly on
/// their scans once pushed down ([`optimize()`], as the dataflow runs them): a record of a table
/// is kept when some scan of the table is unfiltered, or when the chain of filters directly on
/// one of its scans accepts it. A record no chain
/// accepts can change no result at any tick, so the runtime does not feed it to the dataflow
/// (predicate pushdown to the sources). Temporal bounds are left out of the test (they keep a
/// record for some ticks); a filter that reads a scalar sub-query passes everything.
#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    /// Per table: `None` when some scan takes every record, else each filtered scan's chain
    /// of predicates (a record is kept when every predicate of some chain holds).
    tables: HashMap<String, Option<Vec<Vec<ScalarExpr>>>>,
}

type Chains = HashMap<String, Option<Vec<Vec<ScalarExpr>>>>;

impl SourceFilter {
    /// The filter for `programs` run together.
    pub fn of<'a>(programs: impl IntoIterator<Item = &'a Program>) -> SourceFilter {
        /// The scan at the bottom of a chain of filters from `p`, with the chain's predicates.
        fn chain(p: &Plan) -> Option<(&str, Vec<ScalarExpr>)> {
            match &p.node {
                Node::Scan { table, .. } => Some((table, Vec::new())),
                Node::Filter {
                    input, predicate, ..
                } => {
                    let (table, mut preds) = chain(input)?;
                    if !uses_scalars(predicate) {
                        preds.push(predicate.clone());
                    }
                    Some((table, preds))
                }
                _ => None,
            }
        }
        fn walk(p: &Plan, out: &mut Chains) {
            match chain(p) {
                Some((table, preds)) if !preds.is_empty() => {
                    if let Some(chains) = out
                        .entry(table.to_string())
                        .or_insert_with(|| Some(Vec::new()))
                    {
                        chains.push(preds);
                    }
                }
                Some((table, _)) => {
                    out.insert(table.to_string(), None);
                }
                None => {
                    for i in p.inputs() {
                        walk(i, out);
                    }
                }
            }
        }
        let mut tables = HashMap::new();
        for program in programs {
            // The chains of the plan the dataflow runs, filters pushed down.
            let program = optimize(program);
            walk(&program.root, &mut tables);
            for s in program.shared.iter().chain(&program.scalars) {
                walk(s, &mut tables);
            }
        }
        SourceFilter { tables }
    }

    /// Whether a record of `table` (a full-width row in the table's schema order) can reach a
    /// result. Tables no program scans keep nothing.
    pub fn keeps(&self, table: &str, row: &[Value]) -> bool {
        match self.tables.get(table) {
            None => false,
            Some(None) => true,
            Some(Some(chains)) => {
                let ctx = EvalCtx::default();
                chains.iter().any(|preds| {
                    preds
                        .iter()
                        .all(|p| crate::func::ops::is_true(&p.eval(row, &ctx)))
                })
            }
        }
    }

    /// The tables whose records are tested (the others are kept whole or not read), for
    /// `explain`.
    pub fn filtered_tables(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self
            .tables
            .iter()
            .filter(|(_, f)| f.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        t.sort();
        t
    }
}
