//! Reading logs for the rules that run over them: files and folders in any input format (see
//! [`crate::ingest`]), each record laid out as a row of its table in schema order, with only the
//! columns the rules read materialised; in event-time order or in arrival order under a
//! watermark (late records accepted or rejected, records from the future rejected); with every
//! rejected line counted by reason and, if asked, written to a rejects file. Also the
//! watchlists' CSV files, each with its later versions.
//!
//! [`read_logs`] reads for a batch evaluation (`kqlflow run`), [`read_logs_for_pack`] for a
//! rule pack's dataflow (hunt, replay); [`ReadCounts`] is what a read tells (and what each
//! process of a cluster sends process 0).

mod arrival;
mod counts;
mod share;
mod watchlists;

pub use counts::{LateCounts, MAX_LATE_EXAMPLES, ReadCounts};
pub use share::share_of_files;
pub use watchlists::{WatchlistFiles, load_watchlists, read_watchlist};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::ingest::{Ingest, Options, Projection, RejectReason, Report};
use crate::model::{Row, Value, format_datetime_iso};
use crate::plan::Program;
use crate::runtime::arrival::LatePolicy;

/// In what order the records of the logs reach the dataflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Merged by event time: every record enters at its own tick, none is late.
    #[default]
    Event,
    /// As a live tail of the files would see them: each file in its own line order, the
    /// files interleaved by the event time of their next record; a record behind the
    /// watermark is late.
    Arrival,
}

impl Order {
    /// Its name: `event` or `arrival` (as `--order` takes it).
    pub fn name(self) -> &'static str {
        match self {
            Order::Event => "event",
            Order::Arrival => "arrival",
        }
    }
}

/// The name of a late policy: `accept` or `reject` (as `--late` takes it).
pub fn policy_name(policy: LatePolicy) -> &'static str {
    match policy {
        LatePolicy::Accept => "accept",
        LatePolicy::Reject => "reject",
    }
}

/// How records are ordered and late ones treated, as [`read_logs_with`] needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Event-time or arrival order.
    pub order: Order,
    /// How far the watermark trails the newest event time, in 100 ns units.
    pub lateness: i64,
    /// What becomes of a late record.
    pub late: LatePolicy,
    /// The dataflow's tick length, in 100 ns units (entry times are ticks).
    pub tick: i64,
    /// How far ahead of the wall clock (or of the stream, in arrival order) a record may be,
    /// in 100 ns units; `None` for any.
    pub max_ahead: Option<i64>,
}

impl Default for Arrival {
    fn default() -> Arrival {
        Arrival {
            order: Order::Event,
            lateness: 5 * crate::model::TICKS_PER_MINUTE,
            late: LatePolicy::Accept,
            tick: crate::model::TICKS_PER_SECOND,
            max_ahead: Some(crate::model::TICKS_PER_DAY),
        }
    }
}

/// How [`read_logs_with`] reads the logs.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// The table of records whose table nothing else tells (`--table`).
    pub table: Option<String>,
    /// The order of the records, and late records.
    pub arrival: Arrival,
    /// Where to write the rejected lines, if anywhere.
    pub rejects: Option<PathBuf>,
}

/// The records read for a set of programs.
pub struct ReadLogs {
    /// Per table name: (entry time, row in the table's schema order). The entry time is the
    /// record's event time in event-time order; in arrival order it is the tick the record
    /// enters at (the watermark's for a late record, whose row keeps its `TimeGenerated`).
    pub tables: HashMap<String, Vec<(i64, Row)>>,
    /// The latest event time read.
    pub latest: Option<i64>,
    /// The earliest event time read.
    pub earliest: Option<i64>,
    /// Records left out for having no event time.
    pub timeless: u64,
    /// Late records (arrival order only).
    pub late: LateCounts,
    /// The ingest report (rows per table, rejects).
    pub report: Report,
    /// With [`read_logs_for_pack`]: the records as the pack is fed them (cut, filtered,
    /// interned as they are read), in place of `tables`.
    pub fed: crate::pack::FedTables,
    /// The pack's shape, when records are prepared for it as they are read.
    shape: Option<crate::pack::Shape>,
    /// Records kept per table (in `tables` or offered to the shape).
    kept: std::collections::BTreeMap<String, u64>,
}

impl ReadLogs {
    /// Keeps a record of `table` entering at `time`: in `tables` as it is, or, shaped for a
    /// pack, in `fed`.
    pub(crate) fn keep(&mut self, table: &str, time: i64, row: Row) {
        match self.kept.get_mut(table) {
            Some(n) => *n += 1,
            None => {
                self.kept.insert(table.to_string(), 1);
            }
        }
        match self.shape.as_mut() {
            Some(shape) => {
                let prepared = shape.prepare(table, row);
                self.fed.add(prepared, table, time);
            }
            None => match self.tables.get_mut(table) {
                Some(rows) => rows.push((time, row)),
                None => {
                    self.tables.insert(table.to_string(), vec![(time, row)]);
                }
            },
        }
    }

    /// What was read, as counts.
    pub fn counts(&self) -> ReadCounts {
        ReadCounts {
            records: self.kept.clone(),
            rejected: self.report.rejected(),
            timeless: self.timeless,
            earliest: self.earliest,
            latest: self.latest,
            late: self.late.clone(),
            spans: self
                .report
                .tables
                .iter()
                .map(|(t, s)| (t.clone(), (s.min_time, s.max_time)))
                .collect(),
            rejects: self
                .report
                .rejects
                .iter()
                .map(|(reason, tally)| {
                    let examples = tally
                        .examples
                        .iter()
                        .take(counts::MAX_REJECT_EXAMPLES)
                        .cloned();
                    (reason.to_string(), (tally.count, examples.collect()))
                })
                .collect(),
        }
    }
}

/// Reads `logs` for `programs`: ingest materialises only the columns the programs read from
/// each table (the rest are skipped unparsed), and the rows are laid out in their table's
/// schema order, as plans address them. Records are in event-time order (see
/// [`read_logs_with`]).
pub fn read_logs(
    programs: &[&Program],
    logs: &[PathBuf],
    table: Option<String>,
) -> Result<ReadLogs, String> {
    read_logs_with(
        programs,
        logs,
        &LogOptions {
            table,
            ..LogOptions::default()
        },
    )
}

/// Reads `logs` for `programs` as [`read_logs`] does, with `options`: in arrival order each
/// record gets its entry tick from the watermark (see [`crate::runtime::arrival`]), late
/// records are counted, and under [`LatePolicy::Reject`] moved to the rejects; the rejected
/// lines are written to `options.rejects` when given.
pub fn read_logs_with(
    programs: &[&Program],
    logs: &[PathBuf],
    options: &LogOptions,
) -> Result<ReadLogs, String> {
    read_logs_shaped(programs, logs, options, None)
}

/// Reads `logs` for a pack as [`read_logs_with`] does, but keeps each record only as the pack
/// is fed it (`shape`: cut to the columns the rules read, dropped when no rule's scan filter
/// keeps it, strings interned), in [`ReadLogs::fed`], as it is read: a run never holds the
/// full-width rows of every record at once. In arrival order records wait full-width until the
/// watermark places them.
pub fn read_logs_for_pack(
    programs: &[&Program],
    logs: &[PathBuf],
    options: &LogOptions,
    shape: crate::pack::Shape,
) -> Result<ReadLogs, String> {
    read_logs_shaped(programs, logs, options, Some(shape))
}

fn read_logs_shaped(
    programs: &[&Program],
    logs: &[PathBuf],
    options: &LogOptions,
    shape: Option<crate::pack::Shape>,
) -> Result<ReadLogs, String> {
    let catalog = Catalog::builtin();
    let projection = projection_for(programs)?;
    let mut ing = Ingest::new(
        catalog,
        &projection,
        Options {
            table: options.table.clone(),
            ..Options::default()
        },
    );
    if let Some(path) = &options.rejects {
        let f = std::fs::File::create(path)
            .map_err(|e| format!("cannot create the rejects file {}: {e}", path.display()))?;
        ing.report
            .keep_rejects(Box::new(std::io::BufWriter::new(f)));
    }
    let arrival = options.arrival.order == Order::Arrival;
    let mut pending: Vec<arrival::Pending> = Vec::new();
    let layouts = layouts_of(&ing);
    let mut out = ReadLogs {
        tables: HashMap::new(),
        latest: None,
        earliest: None,
        timeless: 0,
        late: LateCounts::default(),
        report: Report::default(),
        fed: crate::pack::FedTables::default(),
        shape,
        kept: Default::default(),
    };
    // Records too far ahead of the wall clock (a bad clock) are rejected, not fed: one
    // record stamped years ahead would otherwise stretch the run to its time, or, in arrival
    // order, make every later record late.
    let limit = options
        .arrival
        .max_ahead
        .map(|m| crate::runtime::arrival::wall_clock().saturating_add(m));
    let mut future: Vec<(crate::ingest::Origin, String, i64)> = Vec::new();
    // Files are read on every core, each whole on one thread, and their records taken in
    // the order a sequential read gives.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    ing.read_paths(logs, threads, &mut |rec| {
        if rec.time.is_none() {
            out.timeless += 1;
            return;
        }
        let (table, origin) = (rec.table, rec.origin);
        let Some((def, t, row)) = schema_row(catalog, &layouts, rec) else {
            return;
        };
        if limit.is_some_and(|l| t > l) {
            future.push((origin, def.name.to_string(), t));
            return;
        }
        out.latest = Some(out.latest.map_or(t, |l| l.max(t)));
        out.earliest = Some(out.earliest.map_or(t, |l| l.min(t)));
        if arrival {
            pending.push(arrival::Pending {
                table,
                origin,
                time: t,
                row,
            });
        } else {
            out.keep(&def.name, t, row);
        }
    });
    for (origin, table, t) in future {
        ing.report.reject_kept(
            origin.file,
            origin.line,
            &table,
            RejectReason::FutureRecord,
            &format!(
                "event time {} is more than {} ahead of the wall clock",
                format_datetime_iso(t),
                options
                    .arrival
                    .max_ahead
                    .map_or(String::new(), crate::plan::window::human_duration)
            ),
        );
    }
    if arrival {
        arrival::place_by_arrival(
            catalog,
            pending,
            &options.arrival,
            &mut ing.report,
            &mut out,
        );
    }
    ing.finish()?;
    out.report = std::mem::take(&mut ing.report);
    out.shape = None;
    Ok(out)
}

/// The ingest projection for `programs`: of each table they read, the columns they read and
/// the table's time column.
pub fn projection_for(programs: &[&Program]) -> Result<Projection, String> {
    let catalog = Catalog::builtin();
    let read = crate::exec::columns_read_by(programs.iter().copied());
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
    Projection::only(catalog, &slices)
}

/// Each table's layout under `ing`'s projection: the schema position of each value of a
/// record's row.
pub fn layouts_of(ing: &Ingest) -> Vec<Vec<usize>> {
    (0..Catalog::builtin().tables().len())
        .map(|t| ing.layout(t).map(|l| l.columns.clone()).unwrap_or_default())
        .collect()
}

/// A record read under a projection whose table layouts are `layouts` (see [`layouts_of`]),
/// as a row of its table in schema order (columns not read are empty, the time column holds
/// the event time): its table, its event time and the row; `None` when it has no event time.
pub fn schema_row<'c>(
    catalog: &'c Catalog,
    layouts: &[Vec<usize>],
    rec: crate::ingest::Record,
) -> Option<(&'c crate::catalog::Table, i64, Row)> {
    let def = catalog.by_id(rec.table)?;
    let t = rec.time?;
    let mut row = def.schema.empty_row();
    for (slot, v) in layouts.get(rec.table)?.iter().zip(rec.row) {
        if let Some(cell) = row.get_mut(*slot) {
            *cell = v;
        }
    }
    if let Some(v) = row.get_mut(def.time_column)
        && v.is_null()
    {
        *v = Value::DateTime(t);
    }
    Some((def, t, row))
}

/// The rejects file process p of a cluster writes when the cluster's is `path`: `path` itself
/// for a single process, `path.p` for each of several.
pub fn rejects_of_process(path: &Path, cluster: &crate::runtime::ClusterOptions) -> PathBuf {
    if cluster.processes <= 1 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{}", cluster.process));
    PathBuf::from(name)
}
