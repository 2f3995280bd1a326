//! Reading the logs and watchlists that `run` and `hunt` evaluate queries over.

use std::collections::HashMap;
use std::path::PathBuf;

use super::check::QueryOptions;
use crate::catalog::Catalog;
use crate::eval::Watchlist;
use crate::ingest::{Ingest, Options, Origin, Projection, RejectReason, Report};
use crate::model::{Row, Value, format_datetime_iso, parse_timespan};
use crate::plan::Program;
use crate::runtime::ClusterOptions;
use crate::runtime::arrival::{Entry, LatePolicy, Watermark, arrival_order};

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
    /// The name `--order` takes.
    pub fn name(self) -> &'static str {
        match self {
            Order::Event => "event",
            Order::Arrival => "arrival",
        }
    }
}

/// The name `--late` takes for a policy.
pub fn policy_name(policy: LatePolicy) -> &'static str {
    match policy {
        LatePolicy::Accept => "accept",
        LatePolicy::Reject => "reject",
    }
}

/// The run summary's line on late records: in `order` (an [`Order::name`]) with the allowed
/// `lateness` (as given) and the `policy` name, `late` records were late, `accepted` of them
/// entered late and `rejected` were rejected.
pub fn late_summary(
    order: &str,
    lateness: &str,
    policy: &str,
    late: u64,
    accepted: u64,
    rejected: u64,
) -> String {
    if order == Order::Event.name() {
        return "late records: 0 (event-time order)".to_string();
    }
    format!(
        "late records: {late} ({accepted} entered late, {rejected} rejected; arrival order, allowed lateness {lateness}, --late={policy})"
    )
}

/// What becomes of a late record (`--late`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Late {
    /// It enters at the current tick (the watermark's), its row unchanged.
    Accept,
    /// It is not fed: it is counted with the rejects and written to the rejects file.
    Reject,
}

/// The default of `--allowed-lateness`.
pub const DEFAULT_LATENESS: &str = "5m";

/// The options of `hunt` and `replay` on the order records arrive in, late records and the
/// rejects file.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ArrivalArgs {
    /// The order records reach the rules in.
    #[arg(long, value_enum, default_value_t = Order::Event)]
    pub order: Order,
    /// With --order arrival: how far the watermark trails the newest event time seen, such
    /// as 5m, 30s or 1h (default 5m); a record older than the watermark is late.
    #[arg(long, value_name = "TIMESPAN")]
    pub allowed_lateness: Option<String>,
    /// With --order arrival: what becomes of a late record (default: accept); either way it
    /// is counted and reported.
    #[arg(long, value_enum, value_name = "accept|reject")]
    pub late: Option<Late>,
    /// Write every rejected line (ingest's rejects, and late records under --late=reject) to
    /// FILE as JSON Lines (file, line, reason, detail, text). In a cluster process p writes
    /// FILE.p.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// A record stamped more than this ahead of the wall clock (or, with --order arrival, of
    /// the newest record before it) is rejected as a future record: a bad clock would
    /// otherwise make every later record late (default 1d). `none` accepts any time.
    #[arg(long, value_name = "TIMESPAN|none")]
    pub max_ahead: Option<String>,
}

/// How records are ordered and late ones treated, as [`read_logs_with`] needs it.
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

/// `--max-ahead`: a timespan (default 1d), or `none` for no bound; or a usage error.
pub fn max_ahead(text: Option<&str>) -> Result<Option<i64>, String> {
    match text.map(str::trim) {
        None => Ok(Some(crate::model::TICKS_PER_DAY)),
        Some(t) if t.eq_ignore_ascii_case("none") => Ok(None),
        Some(t) => match parse_timespan(t) {
            Some(v) if v > 0 => Ok(Some(v)),
            _ => Err(format!(
                "--max-ahead {t}: not a positive timespan (such as 1d or 6h) nor `none`"
            )),
        },
    }
}

impl ArrivalArgs {
    /// The arrival options these arguments give for ticks `tick` long, or the message of a
    /// usage error (a lateness that is not a timespan of zero or more).
    pub fn arrival(&self, tick: i64) -> Result<Arrival, String> {
        let text = self.lateness_text();
        let lateness = match parse_timespan(text) {
            Some(l) if l >= 0 => l,
            _ => {
                return Err(format!(
                    "--allowed-lateness {text}: not a timespan of zero or more (such as 5m, 30s, 1h)"
                ));
            }
        };
        Ok(Arrival {
            order: self.order,
            lateness,
            late: match self.late {
                Some(Late::Reject) => LatePolicy::Reject,
                Some(Late::Accept) | None => LatePolicy::Accept,
            },
            tick,
            max_ahead: max_ahead(self.max_ahead.as_deref())?,
        })
    }

    /// The allowed lateness as given (or its default).
    pub fn lateness_text(&self) -> &str {
        self.allowed_lateness.as_deref().unwrap_or(DEFAULT_LATENESS)
    }

    /// A note for standard error when --late or --allowed-lateness is given without
    /// `--order arrival`, where it has no effect.
    pub fn unused_note(&self) -> Option<&'static str> {
        (self.order == Order::Event && (self.late.is_some() || self.allowed_lateness.is_some()))
            .then_some(
                "note: --late and --allowed-lateness apply with --order arrival; in event-time order no record is late",
            )
    }

    /// The rejects file this process writes: `--rejects FILE`, as FILE.p for process p of a
    /// cluster of several.
    pub fn rejects_path(&self, cluster: &ClusterOptions) -> Option<PathBuf> {
        let path = self.rejects.as_ref()?;
        if cluster.processes <= 1 {
            return Some(path.clone());
        }
        let mut name = path.clone().into_os_string();
        name.push(format!(".{}", cluster.process));
        Some(PathBuf::from(name))
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

/// How many late records are named (file:line) in the warnings.
pub const MAX_LATE_EXAMPLES: usize = 5;

/// Late records: how many, what became of them, and the first few as `file:line: what`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LateCounts {
    /// Records older than the watermark when they arrived.
    pub late: u64,
    /// Of them, those fed at the watermark's tick (`--late=accept`).
    pub accepted: u64,
    /// Of them, those rejected (`--late=reject`).
    pub rejected: u64,
    /// The first few, as `file:line: what`.
    pub examples: Vec<String>,
}

impl LateCounts {
    fn add(&mut self, other: &LateCounts) {
        self.late += other.late;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for e in &other.examples {
            if self.examples.len() < MAX_LATE_EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }
}

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
    /// Late records (included in `rejected` when rejected).
    #[serde(default)]
    pub late: LateCounts,
    /// Per table: the earliest and latest event time read.
    #[serde(default)]
    pub spans: std::collections::BTreeMap<String, (Option<i64>, Option<i64>)>,
    /// Per reason (as the rejects report names it): lines rejected, and the first few as
    /// `file:line: detail`.
    #[serde(default)]
    pub rejects: std::collections::BTreeMap<String, (u64, Vec<String>)>,
}

/// How many rejected lines per reason [`ReadCounts`] names.
const MAX_REJECT_EXAMPLES: usize = 5;

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
            out.late.add(&c.late);
            out.earliest = match (out.earliest, c.earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.latest = match (out.latest, c.latest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            for (t, (first, last)) in c.spans {
                let span = out.spans.entry(t).or_default();
                span.0 = match (span.0, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                span.1 = match (span.1, last) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            for (reason, (n, examples)) in c.rejects {
                let r = out.rejects.entry(reason).or_default();
                r.0 += n;
                let room = MAX_REJECT_EXAMPLES.saturating_sub(r.1.len());
                r.1.extend(examples.into_iter().take(room));
            }
        }
        out
    }

    /// Lines rejected by ingest (unreadable ones), late records aside.
    pub fn ingest_rejected(&self) -> u64 {
        self.rejected.saturating_sub(self.late.rejected)
    }

    /// Prints the warnings a user should see on standard error: rejected lines, records left
    /// out, and late records with the first few named.
    pub fn warn(&self) {
        let ingest = self.ingest_rejected();
        if ingest > 0 {
            eprintln!(
                "warning: {ingest} input lines rejected (see `kqlflow inspect` or --rejects for details)"
            );
        }
        if self.timeless > 0 {
            eprintln!(
                "warning: {} records without an event time were left out",
                self.timeless
            );
        }
        if self.late.late > 0 {
            eprintln!(
                "warning: {} late records (older than the watermark): {} entered late, {} rejected",
                self.late.late, self.late.accepted, self.late.rejected
            );
            for e in &self.late.examples {
                eprintln!("  {e}");
            }
            if self.late.late > self.late.examples.len() as u64 {
                eprintln!(
                    "  … and {} more",
                    self.late.late - self.late.examples.len() as u64
                );
            }
        }
    }
}

impl ReadLogs {
    /// Keeps a record of `table` entering at `time`: in `tables` as it is, or, shaped for a
    /// pack, in `fed`.
    fn keep(&mut self, table: &str, time: i64, row: Row) {
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
                    let examples = tally.examples.iter().take(MAX_REJECT_EXAMPLES).cloned();
                    (reason.to_string(), (tally.count, examples.collect()))
                })
                .collect(),
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

/// A record read in arrival order, before the watermark has placed it.
struct Pending {
    table: usize,
    origin: Origin,
    time: i64,
    row: Row,
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
    let mut pending: Vec<Pending> = Vec::new();
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
    for p in logs {
        ing.read_path(p, &mut |rec| {
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
                pending.push(Pending {
                    table,
                    origin,
                    time: t,
                    row,
                });
            } else {
                out.keep(&def.name, t, row);
            }
        });
    }
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
        place_by_arrival(
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
pub(super) fn projection_for(programs: &[&Program]) -> Result<Projection, String> {
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
pub(super) fn layouts_of(ing: &Ingest) -> Vec<Vec<usize>> {
    (0..Catalog::builtin().tables().len())
        .map(|t| ing.layout(t).map(|l| l.columns.clone()).unwrap_or_default())
        .collect()
}

/// A record read under a projection whose table layouts are `layouts` (see [`layouts_of`]),
/// as a row of its table in schema order (columns not read are empty, the time column holds
/// the event time): its table, its event time and the row; `None` when it has no event time.
pub(super) fn schema_row<'c>(
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

/// Walks `pending` (every record read, file after file, each file in line order) in arrival
/// order under the watermark: each record goes into `out.tables` at its entry tick, or, late
/// under [`LatePolicy::Reject`], to the report's rejects; late records are counted in
/// `out.late`.
fn place_by_arrival(
    catalog: &Catalog,
    mut pending: Vec<Pending>,
    arrival: &Arrival,
    report: &mut Report,
    out: &mut ReadLogs,
) {
    // Records come file after file; a stable sort keeps each file's line order.
    pending.sort_by_key(|p| p.origin.file);
    let times: Vec<i64> = pending.iter().map(|p| p.time).collect();
    let mut starts: Vec<usize> = Vec::new();
    for (k, p) in pending.iter().enumerate() {
        if k == 0 || pending[k - 1].origin.file != p.origin.file {
            starts.push(k);
        }
    }
    let streams: Vec<&[i64]> = starts
        .iter()
        .enumerate()
        .map(|(s, &from)| {
            let to = starts.get(s + 1).copied().unwrap_or(times.len());
            &times[from..to]
        })
        .collect();
    let order = arrival_order(&streams);
    let mut watermark = Watermark::new(arrival.lateness, arrival.tick, arrival.late);
    if let Some(m) = arrival.max_ahead {
        watermark = watermark.with_max_ahead(m);
    }
    let file_name = |report: &Report, file: usize| {
        report
            .files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    };
    for (s, i) in order {
        let Some(p) = starts.get(s).and_then(|from| pending.get_mut(from + i)) else {
            continue;
        };
        let Some(def) = catalog.by_id(p.table) else {
            continue;
        };
        let entry = watermark.admit(p.time);
        if let Entry::Future { reference } = entry {
            report.reject_kept(
                p.origin.file,
                p.origin.line,
                &def.name,
                RejectReason::FutureRecord,
                &format!(
                    "event time {} is more than {} ahead of the newest record before it ({})",
                    format_datetime_iso(p.time),
                    arrival
                        .max_ahead
                        .map_or(String::new(), crate::plan::window::human_duration),
                    format_datetime_iso(reference)
                ),
            );
            continue;
        }
        if let Entry::Late { watermark: w, .. } | Entry::Rejected { watermark: w } = entry {
            out.late.late += 1;
            let what = match entry.tick() {
                Some(tick) => {
                    out.late.accepted += 1;
                    format!("entered at {}", format_datetime_iso(tick_time(tick)))
                }
                None => {
                    out.late.rejected += 1;
                    "rejected".to_string()
                }
            };
            let detail = format!(
                "event time {} is before the watermark {}",
                format_datetime_iso(p.time),
                format_datetime_iso(w)
            );
            if out.late.examples.len() < MAX_LATE_EXAMPLES {
                out.late.examples.push(format!(
                    "{}:{}: {}: {detail}; {what}",
                    file_name(report, p.origin.file),
                    p.origin.line,
                    RejectReason::LateRecord
                ));
            }
            if entry.tick().is_none() {
                report.reject_kept(
                    p.origin.file,
                    p.origin.line,
                    &def.name,
                    RejectReason::LateRecord,
                    &detail,
                );
            }
        }
        if let Some(tick) = entry.tick() {
            out.keep(&def.name, tick_time(tick), std::mem::take(&mut p.row));
        }
    }
}

/// A tick as an event time (ticks come from event times, so they fit; a tick rounded past
/// the last representable time is clamped).
fn tick_time(tick: crate::runtime::Time) -> i64 {
    i64::try_from(tick).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each process of a cluster read reaches process 0's summary and report whole: the
    /// tables' spans widen, rejects add up by reason, a few examples kept.
    #[test]
    fn read_counts_merge_spans_and_rejects_across_processes() {
        let one = ReadCounts {
            records: [("SigninLogs".to_string(), 3)].into(),
            spans: [("SigninLogs".to_string(), (Some(10), Some(20)))].into(),
            rejects: [(
                "malformed JSON".to_string(),
                (2, vec!["a:1: x".into(), "a:2: y".into()]),
            )]
            .into(),
            ..ReadCounts::default()
        };
        let two = ReadCounts {
            records: [("SigninLogs".to_string(), 4), ("AuditLogs".to_string(), 1)].into(),
            spans: [
                ("SigninLogs".to_string(), (Some(5), Some(15))),
                ("AuditLogs".to_string(), (Some(7), Some(7))),
            ]
            .into(),
            rejects: [(
                "malformed JSON".to_string(),
                (6, (0..6).map(|i| format!("b:{i}: z")).collect()),
            )]
            .into(),
            ..ReadCounts::default()
        };
        let merged = ReadCounts::merge(&[one.to_note(), two.to_note()]);
        assert_eq!(merged.records["SigninLogs"], 7);
        assert_eq!(merged.spans["SigninLogs"], (Some(5), Some(20)));
        assert_eq!(merged.spans["AuditLogs"], (Some(7), Some(7)));
        let (n, examples) = &merged.rejects["malformed JSON"];
        assert_eq!(*n, 8);
        assert_eq!(examples.len(), MAX_REJECT_EXAMPLES);
        assert_eq!(examples[0], "a:1: x");
    }
    use crate::model::{TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND};

    #[test]
    fn arrival_options_from_arguments() {
        let args = ArrivalArgs::default();
        let a = args.arrival(TICKS_PER_SECOND).unwrap();
        assert_eq!(a, Arrival::default());
        assert_eq!(a.lateness, 5 * TICKS_PER_MINUTE);
        assert_eq!(args.unused_note(), None);
        let args = ArrivalArgs {
            order: Order::Arrival,
            allowed_lateness: Some("1h".into()),
            late: Some(Late::Reject),
            rejects: None,
            max_ahead: Some("6h".into()),
        };
        let a = args.arrival(TICKS_PER_MINUTE).unwrap();
        assert_eq!(a.max_ahead, Some(6 * TICKS_PER_HOUR));
        assert_eq!(max_ahead(Some("none")), Ok(None));
        assert!(max_ahead(Some("soon")).is_err());
        assert_eq!(
            (a.order, a.lateness, a.late, a.tick),
            (
                Order::Arrival,
                TICKS_PER_HOUR,
                LatePolicy::Reject,
                TICKS_PER_MINUTE
            )
        );
        assert_eq!(args.unused_note(), None);
        for bad in ["soon", "-1m", ""] {
            let args = ArrivalArgs {
                allowed_lateness: Some(bad.into()),
                ..ArrivalArgs::default()
            };
            let e = args.arrival(TICKS_PER_SECOND).unwrap_err();
            assert!(e.starts_with(&format!("--allowed-lateness {bad}:")), "{e}");
            assert!(args.unused_note().is_some());
        }
    }

    #[test]
    fn each_process_of_a_cluster_has_its_own_rejects_file() {
        let args = ArrivalArgs {
            rejects: Some(PathBuf::from("out/rejects.jsonl")),
            ..ArrivalArgs::default()
        };
        let one = ClusterOptions::default();
        assert_eq!(
            args.rejects_path(&one),
            Some(PathBuf::from("out/rejects.jsonl"))
        );
        let second = ClusterOptions {
            processes: 2,
            process: 1,
            ..ClusterOptions::default()
        };
        assert_eq!(
            args.rejects_path(&second),
            Some(PathBuf::from("out/rejects.jsonl.1"))
        );
        assert_eq!(ArrivalArgs::default().rejects_path(&second), None);
    }

    #[test]
    fn late_counts_add_up_across_a_cluster() {
        let note = |late: u64, rejected: u64, example: &str| ReadCounts {
            rejected: rejected + 1,
            late: LateCounts {
                late,
                accepted: late - rejected,
                rejected,
                examples: vec![example.to_string(); late as usize],
            },
            ..ReadCounts::default()
        };
        let merged = ReadCounts::merge(&[note(4, 1, "a:1").to_note(), note(3, 0, "b:2").to_note()]);
        assert_eq!(
            (merged.late.late, merged.late.accepted, merged.late.rejected),
            (7, 6, 1)
        );
        assert_eq!(merged.rejected, 3);
        assert_eq!(merged.ingest_rejected(), 2);
        assert_eq!(merged.late.examples.len(), MAX_LATE_EXAMPLES);
        assert_eq!(merged.late.examples[4], "b:2");
        // A note from a process that counts no late records still reads.
        let old = r#"{"records":{},"rejected":2,"timeless":0,"earliest":null,"latest":null}"#;
        let merged = ReadCounts::merge(&[vec![Value::str(old)]]);
        assert_eq!((merged.rejected, merged.late.late), (2, 0));
    }

    #[test]
    fn late_summary_lines() {
        assert_eq!(
            late_summary("event", "5m", "accept", 0, 0, 0),
            "late records: 0 (event-time order)"
        );
        assert_eq!(
            late_summary("arrival", "10m", "reject", 3, 0, 3),
            "late records: 3 (0 entered late, 3 rejected; arrival order, allowed lateness 10m, --late=reject)"
        );
    }
}
