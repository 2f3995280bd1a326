//! Reading the logs and watchlists that `run` and `hunt` evaluate queries over.

use std::collections::HashMap;
use std::path::PathBuf;

use super::check::QueryOptions;
use crate::catalog::Catalog;
use crate::eval::Watchlist;
use crate::ingest::{Ingest, Options, Projection, Report};
use crate::model::{Row, Value};
use crate::plan::Program;

/// Reads the watchlist files named by `--watchlist NAME=FILE.csv[@DATETIME]`, each with its
/// later versions.
pub fn load_watchlists(common: &QueryOptions) -> Result<HashMap<String, Watchlist>, String> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Watchlist::from_csv(&t))
            .map_err(|e| format!("watchlist {}: {e}", path.display()))
    };
    let mut out = HashMap::new();
    for (name, files) in common.watchlist_paths()? {
        let Some(first) = &files.first else {
            continue;
        };
        let mut w = read(first)?;
        for (from, path) in &files.later {
            w.updates.push((*from, read(path)?));
        }
        out.insert(name, w);
    }
    Ok(out)
}

/// The records read for a set of programs.
pub struct ReadLogs {
    /// Per table name: (event time, row in the table's schema order).
    pub tables: HashMap<String, Vec<(i64, Row)>>,
    /// The latest event time read.
    pub latest: Option<i64>,
    /// The earliest event time read.
    pub earliest: Option<i64>,
    /// Records left out for having no event time.
    pub timeless: u64,
    /// The ingest report (rows per table, rejects).
    pub report: Report,
}

/// What one process of a cluster read, sent to process 0 for the run's summary (as one JSON
/// text value in a note row).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadCounts {
    /// Records per table.
    pub records: std::collections::BTreeMap<String, u64>,
    /// Lines rejected.
    pub rejected: u64,
    /// Records left out for having no event time.
    pub timeless: u64,
    /// The earliest event time read.
    pub earliest: Option<i64>,
    /// The latest event time read.
    pub latest: Option<i64>,
}

impl ReadCounts {
    /// As a note row.
    pub fn to_note(&self) -> Row {
        vec![Value::str(serde_json::to_string(self).unwrap_or_default())]
    }

    /// The cluster's counts: the sum of every process's note (notes that are not counts are
    /// skipped).
    pub fn merge(notes: &[Row]) -> ReadCounts {
        let mut out = ReadCounts::default();
        for n in notes {
            let Some(c) = n
                .first()
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str::<ReadCounts>(t).ok())
            else {
                continue;
            };
            for (t, k) in c.records {
                *out.records.entry(t).or_default() += k;
            }
            out.rejected += c.rejected;
            out.timeless += c.timeless;
            out.earliest = match (out.earliest, c.earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.latest = match (out.latest, c.latest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    /// Prints the warnings a user should see on standard error: rejected lines and records
    /// left out.
    pub fn warn(&self) {
        if self.rejected > 0 {
            eprintln!(
                "warning: {} input lines rejected (see `kqlflow inspect` for details)",
                self.rejected
            );
        }
        if self.timeless > 0 {
            eprintln!(
                "warning: {} records without an event time were left out",
                self.timeless
            );
        }
    }
}

impl ReadLogs {
    /// What was read, as counts.
    pub fn counts(&self) -> ReadCounts {
        ReadCounts {
            records: self
                .tables
                .iter()
                .map(|(t, rows)| (t.clone(), rows.len() as u64))
                .collect(),
            rejected: self.report.rejected(),
            timeless: self.timeless,
            earliest: self.earliest,
            latest: self.latest,
        }
    }

    /// Prints the warnings a user should see on standard error: rejected lines and records
    /// left out.
    pub fn warn(&self) {
        self.counts().warn();
    }
}

/// Reads `logs` for `programs`: ingest materialises only the columns the programs read from
/// each table (the rest are skipped unparsed), and the rows are laid out in their table's
/// schema order, as plans address them.
pub fn read_logs(
    programs: &[&Program],
    logs: &[PathBuf],
    table: Option<String>,
) -> Result<ReadLogs, String> {
    let catalog = Catalog::builtin();
    let mut read: std::collections::BTreeMap<String, std::collections::BTreeSet<usize>> =
        Default::default();
    for p in programs {
        for (t, cols) in crate::exec::columns_read(p) {
            read.entry(t).or_default().extend(cols);
        }
    }
    let wanted: Vec<(String, Vec<String>)> = read
        .iter()
        .filter_map(|(t, cols)| {
            let def = catalog.table(t)?;
            let mut names: Vec<String> = cols
                .iter()
                .filter_map(|&c| def.schema.columns().get(c).map(|c| c.name.to_string()))
                .collect();
            names.push(def.schema.columns()[def.time_column].name.to_string());
            Some((t.clone(), names))
        })
        .collect();
    let refs: Vec<(&str, Vec<&str>)> = wanted
        .iter()
        .map(|(t, c)| (t.as_str(), c.iter().map(String::as_str).collect()))
        .collect();
    let slices: Vec<(&str, &[&str])> = refs.iter().map(|(t, c)| (*t, c.as_slice())).collect();
    let projection = Projection::only(catalog, &slices)?;
    let mut ing = Ingest::new(
        catalog,
        &projection,
        Options {
            table,
            ..Options::default()
        },
    );
    let layouts: Vec<Vec<usize>> = (0..catalog.tables().len())
        .map(|t| ing.layout(t).map(|l| l.columns.clone()).unwrap_or_default())
        .collect();
    let mut out = ReadLogs {
        tables: HashMap::new(),
        latest: None,
        earliest: None,
        timeless: 0,
        report: Report::default(),
    };
    for p in logs {
        ing.read_path(p, &mut |rec| {
            let Some(def) = catalog.by_id(rec.table) else {
                return;
            };
            let Some(t) = rec.time else {
                out.timeless += 1;
                return;
            };
            out.latest = Some(out.latest.map_or(t, |l| l.max(t)));
            out.earliest = Some(out.earliest.map_or(t, |l| l.min(t)));
            let mut row = def.schema.empty_row();
            for (slot, v) in layouts[rec.table].iter().zip(rec.row) {
                if let Some(cell) = row.get_mut(*slot) {
                    *cell = v;
                }
            }
            if let Some(v) = row.get_mut(def.time_column)
                && v.is_null()
            {
                *v = Value::DateTime(t);
            }
            out.tables
                .entry(def.name.to_string())
                .or_default()
                .push((t, row));
        });
    }
    ing.finish()?;
    out.report = std::mem::take(&mut ing.report);
    Ok(out)
}
