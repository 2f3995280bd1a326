//! Column projection at the scans: a table's records enter the dataflow holding only the
//! columns some query reads, not the table's full width.
//!
//! Plans address a scan's columns by their position in the table's schema, and a table such
//! as SigninLogs has dozens of columns of which a rule reads a handful. Carrying the full
//! width through the dataflow would copy, hash, sort and drop every unread column at each
//! operator. Instead, [`Layouts`] gives each table the ascending list of the columns any query
//! of the dataflow reads (the union over the queries, since queries share a table's input),
//! records are cut to those columns before they are fed, and the renderer rewrites the
//! expressions of the filters, maps and aggregates that sit on a scan to address the narrow
//! row ([`Narrow`]). Where a scan's rows flow on unchanged into an operator that needs the
//! full width (a join, a union, `distinct`), they are widened back, with every unread column
//! holding its empty value, which is what ingest gives an unread column in the first place.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::model::{Row, Value};
use crate::plan::ir::{AggCall, Program, ScalarExpr, TemporalBound};
use crate::runtime::Rows;

/// The columns each table's records hold in the dataflow.
#[derive(Clone, Debug, Default)]
pub struct Layouts {
    /// Table name → the schema positions it keeps, ascending.
    tables: HashMap<String, Vec<usize>>,
}

impl Layouts {
    /// The layouts for `programs` rendered together: per table of the built-in catalog, every
    /// column any of them reads (with the event-time column). Tables the catalog does not know
    /// keep their full rows.
    pub fn of<'a>(programs: impl IntoIterator<Item = &'a Program>) -> Layouts {
        let catalog = Catalog::builtin();
        let mut read: HashMap<String, BTreeSet<usize>> = HashMap::new();
        for p in programs {
            for (table, cols) in super::columns_read(p) {
                read.entry(table).or_default().extend(cols);
            }
        }
        let tables = read
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

    /// The columns `table`'s records keep, when they are cut.
    pub fn kept(&self, table: &str) -> Option<&[usize]> {
        self.tables.get(table).map(Vec::as_slice)
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
    pub(super) fn scan(&self, table: &str) -> Option<Narrow> {
        let kept = self.tables.get(table)?;
        let def = Catalog::builtin().table(table)?;
        Some(Narrow {
            kept: Arc::new(kept.clone()),
            template: Arc::new(def.schema.empty_row()),
        })
    }
}

/// Rows cut to some of their schema's columns: the positions kept, ascending, and the full
/// row's empty values (what every other column holds).
#[derive(Clone, Debug)]
pub(super) struct Narrow {
    kept: Arc<Vec<usize>>,
    template: Arc<Row>,
}

impl Narrow {
    /// The narrow row's width.
    pub(super) fn width(&self) -> usize {
        self.kept.len()
    }

    /// Where schema column `c` is in the narrow row.
    fn position(&self, c: usize) -> Option<usize> {
        self.kept.binary_search(&c).ok()
    }

    /// `e`, which reads full rows, rewritten to read narrow rows: a kept column moves to its
    /// place and any other column is its empty value, as it would be in the full row.
    pub(super) fn expr(&self, e: &ScalarExpr) -> ScalarExpr {
        e.map_columns(&|c| match self.position(c) {
            Some(p) => ScalarExpr::Column(p),
            None => ScalarExpr::Literal(self.template.get(c).cloned().unwrap_or(Value::Null)),
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
    /// is not kept.
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

    /// The full rows of the narrow `rows`.
    pub(super) fn widen<'scope>(&self, rows: Rows<'scope>) -> Rows<'scope> {
        let (kept, template) = (self.kept.clone(), self.template.clone());
        rows.map(move |row| {
            let mut out: Row = template.as_ref().clone();
            for (&c, v) in kept.iter().zip(row) {
                if let Some(cell) = out.get_mut(c) {
                    *cell = v;
                }
            }
            out
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
        let n = Narrow {
            kept: Arc::new(vec![1, 3]),
            template: Arc::new(vec![
                Value::empty_string(),
                Value::Null,
                Value::empty_string(),
                Value::Null,
            ]),
        };
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
}
