//! Column projection at the scans: a table's records enter the dataflow holding only the
//! columns some query reads, not the table's full width.
//!
//! Plans address a scan's columns by their position in the table's schema, and a table such
//! as SigninLogs has dozens of columns of which a rule reads a handful. Carrying the full
//! width through the dataflow would copy, hash, sort and drop every unread column at each
//! operator. Instead, [`Layouts`] gives each table the ascending list of the columns any query
//! of the dataflow reads (the union over the queries, since queries share a table's input),
//! records are cut to those columns before they are fed, and the renderer rewrites the
//! expressions of the filters, maps, mv-applies and aggregates above a scan to address the
//! narrow row ([`Narrow`]). A map over narrow rows gives narrow rows too: an output column
//! that is a constant there (an unread column passed on, as `extend` and `project-away` do)
//! stays out of the row. Where narrow rows flow on into an operator that needs the full width
//! (a join, a union, `distinct`), they are widened back, with every unread column holding its
//! empty value, which is what ingest gives an unread column in the first place.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::model::{Row, Value};
use crate::plan::ir::{AggCall, Program, ScalarExpr, TemporalBound};
use crate::plan::optimize;
use crate::runtime::Rows;

/// The columns each table's records hold in the dataflow.
#[derive(Clone, Debug, Default)]
pub struct Layouts {
    /// Table name → the schema positions it keeps, ascending.
    tables: HashMap<String, Vec<usize>>,
}

impl Layouts {
    /// The layouts for `programs` rendered together: per table of the built-in catalog, every
    /// column any of them reads (with the event-time column), in the plans the dataflow runs
    /// (filters pushed down by [`optimize()`], which moves no column read). Tables the catalog
    /// does not know keep their full rows.
    pub fn of<'a>(programs: impl IntoIterator<Item = &'a Program>) -> Layouts {
        let catalog = Catalog::builtin();
        let optimized: Vec<Program> = programs.into_iter().map(optimize).collect();
        let tables = super::columns_read_by(&optimized)
            .into_iter()
            .filter_map(|(table, mut cols)| {
                let def = catalog.table(&table)?;
                cols.insert(def.time_column);
                let width = def.schema.columns().len();
                let kept: Vec<usize> = cols.into_iter().filter(|&c| c < width).collect();
                Some((table, kept))
            })
            .collect();
        Layouts { tables }
    }

    /// Layouts that keep every table's full rows.
    pub fn full() -> Layouts {
        Layouts::default()
    }

    /// True when no table's rows are cut.
    pub fn is_full(&self) -> bool {
        self.tables.is_empty()
    }

    /// The columns `table`'s records keep, when they are cut.
    pub fn kept(&self, table: &str) -> Option<&[usize]> {
        self.tables.get(table).map(Vec::as_slice)
    }

    /// Where each column `own` keeps of `table` is in this layout's rows, when `own` keeps
    /// fewer of them (and every one it keeps is here): the projection from this layout's rows
    /// to `own`'s. `None` when the two keep the same columns, or cannot be projected.
    pub(super) fn projection_to(&self, own: &Layouts, table: &str) -> Option<Vec<usize>> {
        let here = self.tables.get(table)?;
        let there = own.tables.get(table)?;
        if there.len() >= here.len() {
            return None;
        }
        there
            .iter()
            .map(|c| here.iter().position(|h| h == c))
            .collect()
    }

    /// `row`, a record of `table` cut to this layout, cut further to `own`'s (a layout that
    /// keeps some of these columns, as those of a subset of the programs): the values `own`
    /// keeps, in its order, moved out of an owned row and copied from a borrowed one. A row
    /// whose layout is the same in both, or that cannot be projected, is kept whole.
    pub fn recut(&self, own: &Layouts, table: &str, row: std::borrow::Cow<'_, Row>) -> Row {
        use std::borrow::Cow;
        match (self.projection_to(own, table), row) {
            (Some(positions), Cow::Borrowed(row)) => positions
                .iter()
                .map(|&p| row.get(p).cloned().unwrap_or_default())
                .collect(),
            (Some(positions), Cow::Owned(mut row)) => positions
                .iter()
                .map(|&p| row.get_mut(p).map(std::mem::take).unwrap_or_default())
                .collect(),
            (None, row) => row.into_owned(),
        }
    }

    /// `row`, a full-width record of `table`, cut to the columns its layout keeps.
    pub fn narrow(&self, table: &str, row: Row) -> Row {
        match self.tables.get(table) {
            Some(kept) => {
                let mut row = row;
                let mut out = Vec::with_capacity(kept.len());
                for &c in kept {
                    out.push(row.get_mut(c).map(std::mem::take).unwrap_or_default());
                }
                out
            }
            None => row,
        }
    }

    /// How a scan of `table` reads its narrow rows, when they are cut.
    pub(crate) fn scan(&self, table: &str) -> Option<Narrow> {
        let kept = self.tables.get(table)?;
        let def = Catalog::builtin().table(table)?;
        let mut slots: Vec<Slot> = def
            .schema
            .empty_row()
            .into_iter()
            .map(Slot::Const)
            .collect();
        for (p, &c) in kept.iter().enumerate() {
            if let Some(s) = slots.get_mut(c) {
                *s = Slot::At(p);
            }
        }
        Some(Narrow::new(slots))
    }
}

/// Where a column of a plan's schema is in its narrow rows.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Slot {
    /// At this position of the narrow row (no two columns share one).
    At(usize),
    /// Not in the row: every row's value is this one.
    Const(Value),
}

/// Rows that hold only some of their schema's columns: per column of the schema, its position
/// in the row or the value it has in every row (an unread column's empty value, or a
/// constant a map computed).
#[derive(Clone, Debug)]
pub(crate) struct Narrow {
    slots: Arc<Vec<Slot>>,
    width: usize,
}

impl Narrow {
    fn new(slots: Vec<Slot>) -> Narrow {
        let width = slots.iter().filter(|s| matches!(s, Slot::At(_))).count();
        Narrow {
            slots: Arc::new(slots),
            width,
        }
    }

    /// The narrow row's width.
    pub(super) fn width(&self) -> usize {
        self.width
    }

    /// Where schema column `c` is in the narrow row.
    fn position(&self, c: usize) -> Option<usize> {
        match self.slots.get(c) {
            Some(Slot::At(p)) => Some(*p),
            _ => None,
        }
    }

    /// `e`, which reads full rows, rewritten to read narrow rows: a column in the row moves
    /// to its place and any other is its constant value, as it would be in the full row.
    pub(super) fn expr(&self, e: &ScalarExpr) -> ScalarExpr {
        e.map_columns(&|c| match self.slots.get(c) {
            Some(Slot::At(p)) => ScalarExpr::Column(*p),
            Some(Slot::Const(v)) => ScalarExpr::Literal(v.clone()),
            None => ScalarExpr::Literal(Value::Null),
        })
    }

    /// The aggregate calls rewritten as [`Narrow::expr`] does.
    pub(super) fn aggs(&self, aggs: &[AggCall]) -> Vec<AggCall> {
        aggs.iter()
            .map(|a| AggCall {
                spec: a.spec,
                args: a.args.iter().map(|e| self.expr(e)).collect(),
            })
            .collect()
    }

    /// The temporal bounds rewritten to the narrow row, or `None` when one reads a column that
    /// is not in it.
    pub(super) fn bounds(&self, bounds: &[TemporalBound]) -> Option<Vec<TemporalBound>> {
        bounds
            .iter()
            .map(|b| {
                Some(TemporalBound {
                    column: self.position(b.column)?,
                    ..*b
                })
            })
            .collect()
    }

    /// A map's output over narrow rows: each expression rewritten to read them, those that
    /// are constants left out of the row. Returns the expressions to compute, in output row
    /// order, and the output's layout.
    pub(super) fn map(&self, exprs: &[ScalarExpr]) -> (Vec<ScalarExpr>, Narrow) {
        let mut computed = Vec::new();
        let mut slots = Vec::with_capacity(exprs.len());
        for e in exprs {
            match self.expr(e) {
                ScalarExpr::Literal(v) => slots.push(Slot::Const(v)),
                other => {
                    slots.push(Slot::At(computed.len()));
                    computed.push(other);
                }
            }
        }
        (computed, Narrow::new(slots))
    }

    /// The layout of rows made of this layout's columns `keep` followed by `more` computed
    /// columns (mv-apply's output), and the positions in such a full row of the columns the
    /// narrow row holds.
    pub(super) fn keep_then(&self, keep: &[usize], more: usize) -> (Narrow, Vec<usize>) {
        let mut slots = Vec::with_capacity(keep.len() + more);
        let mut picks = Vec::new();
        for (i, &k) in keep.iter().enumerate() {
            match self.slots.get(k) {
                Some(Slot::Const(v)) => slots.push(Slot::Const(v.clone())),
                _ => {
                    slots.push(Slot::At(picks.len()));
                    picks.push(i);
                }
            }
        }
        for i in keep.len()..keep.len() + more {
            slots.push(Slot::At(picks.len()));
            picks.push(i);
        }
        (Narrow::new(slots), picks)
    }

    /// The full row of a narrow `row`.
    pub(crate) fn widen_row(&self, row: &[Value]) -> Row {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::At(p) => row.get(*p).cloned().unwrap_or(Value::Null),
                Slot::Const(v) => v.clone(),
            })
            .collect()
    }

    /// The full rows of the narrow `rows`.
    pub(super) fn widen<'scope>(&self, rows: Rows<'scope>) -> Rows<'scope> {
        let slots = self.slots.clone();
        rows.map(move |mut row| {
            slots
                .iter()
                .map(|s| match s {
                    Slot::At(p) => row.get_mut(*p).map(std::mem::take).unwrap_or_default(),
                    Slot::Const(v) => v.clone(),
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn narrow_keeps_the_read_columns_in_schema_order() {
        let src = "SigninLogs | where ResultType != \"0\" | project UserPrincipalName, IPAddress";
        let q = crate::kql::parse(src).expect("parses");
        let program = crate::plan::bind(
            src,
            &q,
            Catalog::builtin(),
            &crate::plan::BindOptions::default(),
        )
        .expect("binds");
        let layouts = Layouts::of([&program]);
        let def = Catalog::builtin().table("SigninLogs").expect("known");
        let kept = layouts.kept("SigninLogs").expect("cut");
        let names: Vec<&str> = kept
            .iter()
            .map(|&c| &*def.schema.columns()[c].name)
            .collect();
        assert_eq!(kept.len(), 4, "{names:?}");
        for n in [
            "ResultType",
            "UserPrincipalName",
            "IPAddress",
            "TimeGenerated",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        let mut row = def.schema.empty_row();
        let upn = def.schema.index_of("UserPrincipalName").expect("column");
        row[upn] = Value::str("alice@contoso.com");
        let narrow = layouts.narrow("SigninLogs", row);
        assert_eq!(narrow.len(), 4);
        assert!(narrow.contains(&Value::str("alice@contoso.com")));
        // A table no program reads is left whole.
        assert_eq!(layouts.narrow("AuditLogs", vec![Value::Long(1)]).len(), 1);
    }

    #[test]
    fn an_unkept_column_reads_as_its_empty_value() {
        let n = Narrow::new(vec![
            Slot::Const(Value::empty_string()),
            Slot::At(0),
            Slot::Const(Value::empty_string()),
            Slot::At(1),
        ]);
        let e = ScalarExpr::Binary(
            crate::func::ops::BinOp::Add,
            Box::new(ScalarExpr::Column(3)),
            Box::new(ScalarExpr::Column(2)),
        );
        let got = n.expr(&e);
        assert_eq!(
            got,
            ScalarExpr::Binary(
                crate::func::ops::BinOp::Add,
                Box::new(ScalarExpr::Column(1)),
                Box::new(ScalarExpr::Literal(Value::empty_string())),
            )
        );
    }

    #[test]
    fn a_map_leaves_its_constant_outputs_out_of_the_row() {
        // Schema (a, b, c): b is not in the row, a at 0, c at 1.
        let n = Narrow::new(vec![
            Slot::At(0),
            Slot::Const(Value::empty_string()),
            Slot::At(1),
        ]);
        let (exprs, out) = n.map(&[
            ScalarExpr::Column(2),
            ScalarExpr::Column(1),
            ScalarExpr::Literal(Value::Long(7)),
            ScalarExpr::Column(0),
        ]);
        assert_eq!(exprs, vec![ScalarExpr::Column(1), ScalarExpr::Column(0)]);
        assert_eq!(out.width(), 2);
        let row = vec![Value::str("c"), Value::str("a")];
        assert_eq!(
            out.widen_row(&row),
            vec![
                Value::str("c"),
                Value::empty_string(),
                Value::Long(7),
                Value::str("a"),
            ]
        );
        // mv-apply's output: columns 2 and 1 kept, then two computed columns.
        let (after, picks) = n.keep_then(&[2, 1], 2);
        assert_eq!(picks, vec![0, 2, 3]);
        assert_eq!(
            after.widen_row(&[Value::str("c"), Value::Long(1), Value::Long(2)]),
            vec![
                Value::str("c"),
                Value::empty_string(),
                Value::Long(1),
                Value::Long(2),
            ]
        );
    }
}
