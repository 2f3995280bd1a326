//! Reading log exports into typed rows.
//!
//! kqlflow reads every format of SEMANTICS.md "Input formats": Log Analytics rows as JSON Lines
//! or a JSON array; Azure Monitor diagnostic records as a `{"records":[…]}` envelope or JSON
//! Lines of records; the Log Analytics portal's CSV export (BOM, `[UTC]` header suffixes, US
//! datetimes, quoted multi-line JSON cells); any of them gzipped (told by the gzip magic bytes,
//! not the file name); files or whole directory trees.
//!
//! Each record's table comes from its `Type` column, its diagnostic `category`, `--table`, or the
//! file's name or folder (`SigninLogs.jsonl.gz`, `insights-logs-auditlogs/…`). Values are coerced
//! to the table's schema; a [`Projection`] limits which columns are materialised. Nothing is
//! lost: a line that cannot be read is counted in the [`Report`] with file:line and reason (and
//! written to the rejects file when asked), a value that does not fit its column becomes null
//! with a warning.

mod coerce;
mod csv;
mod gzip;
mod infer;
mod json;
mod parallel;
mod report;
mod source;
pub mod tail;

pub use infer::custom_table_from_logs;
pub use source::{LiveLines, log_files};

pub use report::{FileStats, RejectEcho, RejectReason, Report, TableStats, Tally, WarningKind};

use rustc_hash::FxHashMap as HashMap;
use std::collections::HashMap as StdHashMap;
use std::path::Path;
use std::sync::Arc;

use crate::catalog::{Catalog, Table};
use crate::model::{Row, Type, Value};

/// How the reader is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// The table of every record whose table cannot be told otherwise (`--table`).
    pub table: Option<String>,
    /// Lines longer than this many bytes are rejected (`--max-line-bytes`, default 16 MiB).
    pub max_line_bytes: usize,
    /// How many examples the report keeps per reason.
    pub max_examples: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            table: None,
            max_line_bytes: 16 << 20,
            max_examples: 5,
        }
    }
}

/// One record read: its table (an id in the catalog), its event time in 100 ns ticks since the
/// epoch (`TimeGenerated`, else a fallback column such as `CreatedDateTime`, else `None`), the
/// values of the table's projected columns in [`Layout`] order, and where it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The table's id in the catalog.
    pub table: usize,
    /// The event time.
    pub time: Option<i64>,
    /// The projected columns' values.
    pub row: Row,
    /// Where it was read.
    pub origin: Origin,
}

/// Where a record was read: its file, as an index into [`Report::files`] (one entry per file
/// read, in the order read), and its line in the file, from 1 (the first line of a CSV row
/// that spans several, the line a JSON document's element starts on; the records of one
/// diagnostic envelope share its line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The file's index in [`Report::files`].
    pub file: usize,
    /// The line, from 1.
    pub line: u64,
}

/// Which columns of which tables to materialise.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// Per table name: `None` reads every column; absent tables are read whole unless
    /// `only_listed`.
    tables: StdHashMap<String, Option<Vec<String>>>,
    only_listed: bool,
}

impl Projection {
    /// Every column of every table.
    pub fn all() -> Projection {
        Projection::default()
    }

    /// Only the named columns of the named tables; records of other tables are counted but not
    /// materialised. Unknown tables or columns are errors that name the closest known ones.
    pub fn only(catalog: &Catalog, wanted: &[(&str, &[&str])]) -> Result<Projection, String> {
        let mut tables = StdHashMap::new();
        for (t, cols) in wanted {
            let table = catalog.table(t).ok_or_else(|| {
                format!(
                    "unknown table {t}; did you mean {}?",
                    catalog.closest(t, 3).join(", ")
                )
            })?;
            for c in *cols {
                if table.schema.index_of(c).is_none() {
                    return Err(format!(
                        "table {t} has no column {c}; did you mean {}?",
                        table.schema.closest(c, 3).join(", ")
                    ));
                }
            }
            tables.insert(
                (*t).to_string(),
                Some(cols.iter().map(|c| (*c).to_string()).collect()),
            );
        }
        Ok(Projection {
            tables,
            only_listed: true,
        })
    }
}

/// Where a table's rows put each column: `row[i]` holds schema column `columns[i]`.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The table.
    pub table: Arc<Table>,
    /// Schema positions of the row's values, ascending.
    pub columns: Vec<usize>,
}

impl Layout {
    /// The position in the row of the column named `name`, if projected.
    pub fn slot_of(&self, name: &str) -> Option<usize> {
        let col = self.table.schema.index_of(name)?;
        self.columns.iter().position(|&c| c == col)
    }
}

/// How one JSON key or CSV header maps to a table column.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySlot {
    /// Position in the schema.
    pub col: usize,
    /// Position in the row, when projected.
    pub slot: Option<usize>,
    /// The column's type.
    pub ty: Type,
    /// 0 for `TimeGenerated`, 1.. for the fallback event-time columns.
    pub time_rank: Option<u8>,
    /// True for the `Type` column.
    pub is_type: bool,
}

/// Per table: the layout and the lookup from field names to columns.
pub(crate) struct TableReader {
    pub layout: Layout,
    /// Skip rows of this table (not in the projection).
    pub skip: bool,
    exact: HashMap<String, KeySlot>,
    folded: HashMap<String, KeySlot>,
}

impl TableReader {
    fn new(
        table: Arc<Table>,
        wanted: Option<&Option<Vec<String>>>,
        only_listed: bool,
    ) -> TableReader {
        let schema = &table.schema;
        let (columns, skip): (Vec<usize>, bool) = match wanted {
            Some(Some(cols)) => {
                let mut v: Vec<usize> = cols.iter().filter_map(|c| schema.index_of(c)).collect();
                v.sort_unstable();
                v.dedup();
                (v, false)
            }
            Some(None) => ((0..schema.len()).collect(), false),
            None if only_listed => (Vec::new(), true),
            None => ((0..schema.len()).collect(), false),
        };
        let mut exact = HashMap::default();
        let mut folded = HashMap::default();
        for (col, c) in schema.columns().iter().enumerate() {
            let time_rank = if col == table.time_column {
                Some(0)
            } else {
                table
                    .time_fallbacks
                    .iter()
                    .position(|&f| f == col)
                    .map(|p| p as u8 + 1)
            };
            let ks = KeySlot {
                col,
                slot: columns.iter().position(|&x| x == col),
                ty: c.ty,
                time_rank,
                is_type: c.name.as_ref() == "Type",
            };
            exact.entry(c.name.to_string()).or_insert(ks);
            folded.entry(c.name.to_ascii_lowercase()).or_insert(ks);
        }
        TableReader {
            layout: Layout { table, columns },
            skip,
            exact,
            folded,
        }
    }

    /// The column a field name maps to: exact name first, then ignoring case.
    pub(crate) fn key(&self, name: &str) -> Option<KeySlot> {
        if let Some(k) = self.exact.get(name) {
            return Some(*k);
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.folded.get(&name.to_ascii_lowercase()).copied()
        } else {
            self.folded.get(name).copied()
        }
    }

    /// True when most of `keys` are columns of this table (at least three, and at least twice
    /// as many as the keys that are not): the test for reading a row whose `Type` names no table
    /// as the table of the rest of its file.
    pub(crate) fn fits<'k>(&self, keys: impl Iterator<Item = &'k str>) -> bool {
        let (mut known, mut unknown) = (0usize, 0usize);
        for k in keys {
            if self.key(k).is_some() {
                known += 1;
            } else {
                unknown += 1;
            }
        }
        known >= 3 && known >= 2 * unknown
    }

    /// A row of defaults: empty strings in string columns, nulls elsewhere.
    pub(crate) fn empty_row(&self) -> Row {
        let schema = &self.layout.table.schema;
        self.layout
            .columns
            .iter()
            .map(|&c| {
                if schema.columns()[c].ty == Type::String {
                    Value::empty_string()
                } else {
                    Value::Null
                }
            })
            .collect()
    }
}

/// The state of one row being built.
pub(crate) struct RowState {
    pub row: Row,
    /// The best event time so far: (rank, ticks); rank 0 is TimeGenerated.
    pub time: Option<(u8, i64)>,
    /// TimeGenerated was present but not a datetime.
    pub bad_time: Option<String>,
    /// Cells set to null, as `column: reason`.
    pub wrong_types: Vec<String>,
    /// Field names that match no column.
    pub unknown: Vec<String>,
}

impl RowState {
    pub(crate) fn new(reader: &TableReader) -> RowState {
        RowState {
            row: reader.empty_row(),
            time: None,
            bad_time: None,
            wrong_types: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// Stores a coerced value for the column `k`.
    pub(crate) fn set(&mut self, k: KeySlot, v: Result<Value, String>, schema_name: &str) {
        match v {
            Ok(v) => {
                if let (Some(rank), Value::DateTime(t)) = (k.time_rank, &v)
                    && self.time.is_none_or(|(r, _)| rank < r)
                {
                    self.time = Some((rank, *t));
                }
                if let Some(slot) = k.slot {
                    self.row[slot] = v;
                }
            }
            Err(reason) => {
                if k.time_rank == Some(0) {
                    self.bad_time = Some(reason);
                } else {
                    self.wrong_types.push(format!("{schema_name}: {reason}"));
                }
            }
        }
    }
}

/// The tables' readers, each built when its table is first read (a reader's lookups cost
/// memory, and the catalog has over a hundred tables).
pub(crate) struct Readers<'c> {
    cells: Vec<std::cell::OnceCell<TableReader>>,
    catalog: &'c Catalog,
    projection: Projection,
}

impl Readers<'_> {
    /// The reader of table `table` (an id in the catalog).
    pub(crate) fn get(&self, table: usize) -> &TableReader {
        self.cells[table].get_or_init(|| {
            let t = &self.catalog.tables()[table];
            TableReader::new(
                t.clone(),
                self.projection.tables.get(t.name.as_ref()),
                self.projection.only_listed,
            )
        })
    }
}

/// The reader: reads files into [`Record`]s for a sink, keeping a [`Report`].
pub struct Ingest<'c> {
    catalog: &'c Catalog,
    options: Options,
    /// Per table, its reader, built when the table is first read (a reader's lookups cost
    /// memory, and the catalog has over a hundred tables).
    readers: Readers<'c>,
    key_caches: Vec<json::KeyCache>,
    /// The files read so far, by identity (device and inode): each is read once.
    seen_files: std::collections::HashMap<source::FileId, String>,
    /// What has been read so far.
    pub report: Report,
}

impl<'c> Ingest<'c> {
    /// A reader over `catalog`'s tables that materialises the columns `projection` asks for.
    pub fn new(catalog: &'c Catalog, projection: &Projection, options: Options) -> Ingest<'c> {
        let readers = Readers {
            cells: catalog
                .tables()
                .iter()
                .map(|_| std::cell::OnceCell::new())
                .collect(),
            catalog,
            projection: projection.clone(),
        };
        let report = Report::new(options.max_examples);
        let key_caches = catalog
            .tables()
            .iter()
            .map(|_| json::KeyCache::default())
            .collect();
        Ingest {
            catalog,
            options,
            readers,
            key_caches,
            seen_files: std::collections::HashMap::new(),
            report,
        }
    }

    /// The layout of table `table`'s rows (which columns, in which order).
    pub fn layout(&self, table: usize) -> Option<&Layout> {
        (table < self.readers.cells.len()).then(|| &self.readers.get(table).layout)
    }

    /// Reads a file, or every log file under a directory (files ending in `.json`, `.jsonl`,
    /// `.ndjson`, `.csv`, `.txt` or `.gz`, hidden ones skipped, in name order), handing each
    /// record to `sink`.
    pub fn read_path(&mut self, path: &Path, sink: &mut dyn FnMut(Record)) {
        source::read_path(self, path, sink)
    }

    /// Reads `paths` (files, directories, `-` for standard input) as [`Ingest::read_path`]
    /// reads each in turn, the files on up to `threads` threads (each file whole on one):
    /// `sink` gets the same records in the same order, and the report (rejects file
    /// included) is the same, whatever the number of threads.
    pub fn read_paths(
        &mut self,
        paths: &[std::path::PathBuf],
        threads: usize,
        sink: &mut dyn FnMut(Record),
    ) {
        parallel::read_paths(self, paths, threads, sink)
    }

    /// A reader like this one (catalog, columns, options) with nothing read yet, whose report
    /// keeps its rejected lines for [`Report::absorb`] when this one writes a rejects file.
    pub(crate) fn forked(&self) -> Ingest<'c> {
        let mut ing = Ingest::new(
            self.readers.catalog,
            &self.readers.projection,
            self.options.clone(),
        );
        ing.report = self.fresh_report();
        ing
    }

    /// An empty report for a fork of this reader (see [`Ingest::forked`]).
    pub(crate) fn fresh_report(&self) -> Report {
        let mut report = Report::new(self.options.max_examples);
        if self.report.keeps_rejects() {
            report.buffer_rejects();
        }
        report
    }

    /// Reads one in-memory file called `name` (for tests, fuzzing and standard input).
    pub fn read_bytes(&mut self, name: &str, bytes: &[u8], sink: &mut dyn FnMut(Record)) {
        source::read_stream(self, name, Box::new(bytes), bytes.len() as u64, sink)
    }

    /// Reads JSON Lines from `reader` (standard input, a followed file), called `name`, handing
    /// each record to `sink` as soon as its line is complete; `path` names the table of
    /// records that tell none, as a file's name does. Returns when `reader` ends.
    pub fn read_live(
        &mut self,
        name: &str,
        path: Option<&Path>,
        reader: Box<dyn std::io::Read + '_>,
        sink: &mut dyn FnMut(Record),
    ) {
        source::read_live_lines(self, name, path, reader, sink)
    }

    /// Starts reading JSON Lines that arrive in pieces (a followed file read a chunk at a
    /// time), called `name`: hand each piece to [`Ingest::live_push`] and, when the stream ends,
    /// call [`Ingest::live_end`]. `path` names the table of records that tell none.
    pub fn live_lines(&mut self, name: &str, path: Option<&Path>) -> LiveLines {
        LiveLines::new(self, name, path)
    }

    /// Reads the lines `bytes` completes in `lines`, handing each record to `sink`.
    pub fn live_push(&mut self, lines: &mut LiveLines, bytes: &[u8], sink: &mut dyn FnMut(Record)) {
        lines.push(self, bytes, sink)
    }

    /// Reads the last line of `lines`, left without a newline when its stream ended.
    pub fn live_end(&mut self, lines: &mut LiveLines, sink: &mut dyn FnMut(Record)) {
        lines.end(self, sink)
    }

    /// Flushes the rejects file; see [`Report::finish`].
    pub fn finish(&mut self) -> Result<(), String> {
        self.report.finish()
    }

    /// The table id for a table name (exact, then ignoring case).
    pub(crate) fn table_id(&self, name: &str) -> Option<usize> {
        self.catalog.id_of_ignore_case(name)
    }

    /// The table the options or the file's path name (standard input has no path: only
    /// the options can name its table).
    pub(crate) fn hint_for(&self, path: Option<&Path>) -> Option<usize> {
        if let Some(t) = &self.options.table {
            return self.table_id(t);
        }
        let path = path?;
        let names: Vec<&str> = self
            .catalog
            .tables()
            .iter()
            .map(|t| t.name.as_ref())
            .collect();
        crate::catalog::table_for_path(path, &names).and_then(|n| self.table_id(&n))
    }

    /// Hands a finished row to the sink and counts it (or counts why it was rejected).
    pub(crate) fn emit(
        &mut self,
        file: &str,
        line: u64,
        table: usize,
        st: RowState,
        text: &[u8],
        sink: &mut dyn FnMut(Record),
    ) {
        let reader = &self.readers.get(table);
        let table_name = reader.layout.table.name.to_string();
        if let Some(reason) = st.bad_time {
            self.report.reject(
                file,
                line,
                RejectReason::BadTime,
                &format!("TimeGenerated: {reason}"),
                text,
            );
            return;
        }
        for w in &st.wrong_types {
            self.report.warn(file, line, WarningKind::WrongType, w);
        }
        let time = st.time.map(|(_, t)| t);
        let stats = self.report.tables.entry(table_name).or_default();
        stats.rows += 1;
        for u in st.unknown {
            *stats.unknown_columns.entry(u).or_default() += 1;
        }
        match time {
            Some(t) => {
                stats.min_time = Some(stats.min_time.map_or(t, |m| m.min(t)));
                stats.max_time = Some(stats.max_time.map_or(t, |m| m.max(t)));
            }
            None => stats.rows_without_time += 1,
        }
        let no_time_generated = st.time.is_none_or(|(rank, _)| rank != 0);
        if let Some(f) = self.report.files.last_mut() {
            f.rows += 1;
        }
        if no_time_generated {
            let detail = if time.is_some() {
                "event time taken from a fallback column"
            } else {
                "no event time"
            };
            self.report
                .warn(file, line, WarningKind::NoTimeGenerated, detail);
        }
        if !self.readers.get(table).skip {
            let mut row = st.row;
            // Every Log Analytics row's `Type` is its table's name: fill it when the record
            // does not (a file named for its table, `--table`, a diagnostic record).
            if let Some(slot) = self.readers.get(table).layout.slot_of("Type")
                && matches!(&row[slot], Value::String(s) if s.is_empty())
            {
                row[slot] = Value::str(&self.readers.get(table).layout.table.name);
            }
            let origin = Origin {
                file: self.report.files.len().saturating_sub(1),
                line,
            };
            sink(Record {
                table,
                time,
                row,
                origin,
            });
        }
    }
}
