//! The ingest report: what was read, per table, and every line that was rejected or changed,
//! with file:line and reason. Optionally the rejected lines are written to a rejects file.

use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// Why a line or a file was rejected. The [`Display`](std::fmt::Display) text is the key the
/// report counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RejectReason {
    /// The line or element is not valid JSON (truncated, a syntax error).
    MalformedJson,
    /// Valid JSON, but not an object (a number, a string, an array where a row belongs).
    NotAnObject,
    /// JSON nested deeper than the parser allows.
    TooDeep,
    /// The record's table is not one kqlflow knows, or none could be told.
    UnknownTable,
    /// The record's `TimeGenerated` is not a datetime.
    BadTime,
    /// A line longer than the limit (`--max-line-bytes`).
    LineTooLong,
    /// Bytes that are not UTF-8 text.
    NotUtf8,
    /// A line (a CSV row, a JSON element) with a NUL byte in it: text logs hold none.
    NulByte,
    /// A file that holds binary data rather than text, as told by `is_binary` in the
    /// ingest's source module: a known binary format's magic number, UTF-16 text, or more than
    /// 10% NUL and control bytes in its first 64 KiB.
    BinaryFile,
    /// A file whose format is none of those kqlflow reads.
    UnknownFormat,
    /// A CSV row with a different number of fields than the header.
    CsvFieldCount,
    /// A CSV row that the CSV reader could not read.
    MalformedCsv,
    /// A gzip stream that is corrupt or cut short.
    BadGzip,
    /// A file or directory that could not be opened or read.
    Unreadable,
    /// A record older than the input watermark, under `--order arrival --late=reject`: read
    /// and valid, but not fed.
    LateRecord,
    /// A record stamped further ahead of the wall clock, or of the newest record before it,
    /// than `--max-ahead` allows: a bad clock, not fed (it would make every later record late).
    FutureRecord,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RejectReason::MalformedJson => "malformed JSON",
            RejectReason::NotAnObject => "not a JSON object",
            RejectReason::TooDeep => "JSON nested too deeply",
            RejectReason::UnknownTable => "unknown table",
            RejectReason::BadTime => "bad TimeGenerated",
            RejectReason::LineTooLong => "line too long",
            RejectReason::NotUtf8 => "not UTF-8 text",
            RejectReason::NulByte => "NUL byte in line",
            RejectReason::BinaryFile => "binary file",
            RejectReason::UnknownFormat => "unrecognised format",
            RejectReason::CsvFieldCount => "wrong number of CSV fields",
            RejectReason::MalformedCsv => "malformed CSV",
            RejectReason::BadGzip => "bad gzip data",
            RejectReason::Unreadable => "unreadable",
            RejectReason::LateRecord => "late record",
            RejectReason::FutureRecord => "future record",
        })
    }
}

/// What happened to a value that was kept with a change: the row was kept, the cell set to
/// null (or the event time taken from elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum WarningKind {
    /// A cell whose value does not fit its column's type: set to null.
    WrongType,
    /// A record with no `TimeGenerated`: its event time came from a fallback column or is
    /// unknown.
    NoTimeGenerated,
    /// A file with no records at all.
    EmptyFile,
    /// A row whose `Type` names no table, read as the table of the rest of its file because its
    /// columns are that table's (a query result that overwrote `Type`).
    TypeNotATable,
    /// A file reached again by another path (a symlink, an overlapping `--logs` argument):
    /// read once only.
    DuplicateFile,
    /// A directory reached again inside itself (a symlink loop): not walked again.
    DirectoryLoop,
    /// Zero bytes after the last member of a gzip file (padding, which gzip ignores too): the
    /// data is whole.
    GzipPadding,
    /// A column of a CSV file's header that maps to no column of the row's table: its values
    /// are not read (told once per file and table, at the header's line; the rows with it are
    /// counted in [`TableStats::unknown_columns`]).
    UnmappedColumn,
}

impl std::fmt::Display for WarningKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WarningKind::WrongType => "value of the wrong type set to null",
            WarningKind::NoTimeGenerated => "no TimeGenerated",
            WarningKind::EmptyFile => "empty file",
            WarningKind::TypeNotATable => "Type names no table; read as the file's table",
            WarningKind::DuplicateFile => "file already read by another path; skipped",
            WarningKind::DirectoryLoop => "directory loop; not walked again",
            WarningKind::GzipPadding => "zero padding after the gzip data",
            WarningKind::UnmappedColumn => "header column maps to no column",
        })
    }
}

/// A count and the first few examples (`file:line: detail`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    /// How many times it happened.
    pub count: u64,
    /// The first occurrences, as `file:line: detail`.
    pub examples: Vec<String>,
}

/// What was read of one table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableStats {
    /// Rows read and kept.
    pub rows: u64,
    /// The earliest event time seen, in 100 ns ticks since the epoch.
    pub min_time: Option<i64>,
    /// The latest event time seen.
    pub max_time: Option<i64>,
    /// Rows with no event time at all.
    pub rows_without_time: u64,
    /// Fields seen in the input that the table's schema lacks, with how many rows had each.
    pub unknown_columns: BTreeMap<String, u64>,
}

/// What was read of one file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileStats {
    /// The file's path.
    pub path: String,
    /// The format detected (`JSON Lines`, `JSON document`, `CSV`, with `gzip` when compressed).
    pub format: String,
    /// Bytes read (compressed size for gzip files).
    pub bytes: u64,
    /// Rows kept.
    pub rows: u64,
    /// Lines or elements rejected.
    pub rejected: u64,
}

/// What is told of each rejection as it happens: its reason and `file:line: detail`.
pub type RejectEcho = Box<dyn FnMut(RejectReason, &str) + Send>;

/// The whole report of an ingest run.
#[derive(Default, Serialize)]
pub struct Report {
    /// Per table name.
    pub tables: BTreeMap<String, TableStats>,
    /// Per file, in the order read.
    pub files: Vec<FileStats>,
    /// Rejections per reason.
    pub rejects: BTreeMap<RejectReason, Tally>,
    /// Warnings per kind.
    pub warnings: BTreeMap<WarningKind, Tally>,
    /// How many examples to keep per reason.
    #[serde(skip)]
    pub max_examples: usize,
    #[serde(skip)]
    rejects_out: Option<Box<dyn Write + Send>>,
    #[serde(skip)]
    rejects_write_error: Option<String>,
    #[serde(skip)]
    rejects_echo: Option<RejectEcho>,
    /// The rejects file's lines, kept here rather than written (a report that another
    /// absorbs, see [`Report::absorb`]).
    #[serde(skip)]
    rejects_buffer: Option<Vec<u8>>,
}

/// One line of the rejects file.
#[derive(Serialize)]
struct RejectLine<'a> {
    file: &'a str,
    line: u64,
    reason: String,
    detail: &'a str,
    text: &'a str,
}

impl Report {
    /// An empty report that keeps up to `max_examples` examples per reason.
    pub fn new(max_examples: usize) -> Report {
        Report {
            max_examples,
            ..Report::default()
        }
    }

    /// Writes every rejected line to `out`, one JSON object per line with `file`, `line`,
    /// `reason`, `detail` and `text` (the rejected text, lossily decoded when not UTF-8).
    pub fn keep_rejects(&mut self, out: Box<dyn Write + Send>) {
        self.rejects_out = Some(out);
    }

    /// Whether rejected lines are written somewhere (a rejects file or a buffer).
    pub(crate) fn keeps_rejects(&self) -> bool {
        self.rejects_out.is_some() || self.rejects_buffer.is_some()
    }

    /// Keeps the rejects file's lines in this report, for the report that absorbs it.
    pub(crate) fn buffer_rejects(&mut self) {
        self.rejects_buffer = Some(Vec::new());
    }

    /// Adds `other`, the report of reading the files that come next, to this one: its files
    /// after this one's, its tables' figures, tallies (examples up to the limit) and warnings,
    /// its rejected lines to the rejects file. Returns the index of its first file here (what
    /// its records' origins are shifted by).
    pub(crate) fn absorb(&mut self, other: Report) -> usize {
        let offset = self.files.len();
        self.files.extend(other.files);
        for (name, t) in other.tables {
            let mine = self.tables.entry(name).or_default();
            mine.rows += t.rows;
            mine.rows_without_time += t.rows_without_time;
            mine.min_time = match (mine.min_time, t.min_time) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            mine.max_time = match (mine.max_time, t.max_time) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            for (column, n) in t.unknown_columns {
                *mine.unknown_columns.entry(column).or_default() += n;
            }
        }
        let max = self.max_examples;
        let add = |into: &mut Tally, from: Tally| {
            into.count += from.count;
            let room = max.saturating_sub(into.examples.len());
            into.examples.extend(from.examples.into_iter().take(room));
        };
        for (reason, tally) in other.rejects {
            add(self.rejects.entry(reason).or_default(), tally);
        }
        for (kind, tally) in other.warnings {
            add(self.warnings.entry(kind).or_default(), tally);
        }
        if let Some(e) = other.rejects_write_error {
            self.rejects_write_error.get_or_insert(e);
        }
        if let Some(lines) = other.rejects_buffer {
            self.write_rejects(&lines);
        }
        offset
    }

    /// Writes rejects file lines (JSON, each ending in a newline) where this report keeps them.
    fn write_rejects(&mut self, lines: &[u8]) {
        if let Some(buffer) = self.rejects_buffer.as_mut() {
            buffer.extend_from_slice(lines);
        } else if let Some(out) = self.rejects_out.as_mut()
            && let Err(e) = out.write_all(lines)
            && self.rejects_write_error.is_none()
        {
            self.rejects_write_error = Some(e.to_string());
        }
    }

    /// Calls `echo` with every rejection as it is recorded: its reason and `file:line:
    /// detail` (for a reader that runs on and on, whose report is read only at its end).
    pub fn echo_rejects(&mut self, echo: RejectEcho) {
        self.rejects_echo = Some(echo);
    }

    /// Records a rejection at `file:line` (line 0 for a whole file) of the file being read.
    pub fn reject(
        &mut self,
        file: &str,
        line: u64,
        reason: RejectReason,
        detail: &str,
        text: &[u8],
    ) {
        if let Some(f) = self.files.last_mut() {
            f.rejected += 1;
        }
        self.tally_reject(file, line, reason, detail, text);
    }

    /// Records the rejection of a row that was read and kept, after its file was read: the
    /// row of table `table` at line `line` of file `file` (an index into [`Report::files`], as
    /// in [`Origin`](super::Origin)) is no longer counted as kept, and is counted as rejected
    /// for `reason`, in the tallies and in its file's figures, and written to the rejects file
    /// (with no text: the line is at file:line).
    pub fn reject_kept(
        &mut self,
        file: usize,
        line: u64,
        table: &str,
        reason: RejectReason,
        detail: &str,
    ) {
        let name = match self.files.get_mut(file) {
            Some(f) => {
                f.rows = f.rows.saturating_sub(1);
                f.rejected += 1;
                f.path.clone()
            }
            None => String::new(),
        };
        if let Some(t) = self.tables.get_mut(table) {
            t.rows = t.rows.saturating_sub(1);
        }
        self.tally_reject(&name, line, reason, detail, b"");
    }

    fn tally_reject(
        &mut self,
        file: &str,
        line: u64,
        reason: RejectReason,
        detail: &str,
        text: &[u8],
    ) {
        if let Some(echo) = self.rejects_echo.as_mut() {
            echo(reason, &location(file, line, detail));
        }
        let tally = self.rejects.entry(reason).or_default();
        tally.count += 1;
        if tally.examples.len() < self.max_examples {
            tally.examples.push(location(file, line, detail));
        }
        if self.keeps_rejects() {
            let text = String::from_utf8_lossy(text);
            let line = RejectLine {
                file,
                line,
                reason: reason.to_string(),
                detail,
                text: &text,
            };
            match serde_json::to_vec(&line) {
                Ok(mut bytes) => {
                    bytes.push(b'\n');
                    self.write_rejects(&bytes);
                }
                Err(e) => {
                    self.rejects_write_error.get_or_insert(e.to_string());
                }
            }
        }
    }

    /// Records a warning at `file:line`.
    pub fn warn(&mut self, file: &str, line: u64, kind: WarningKind, detail: &str) {
        let tally = self.warnings.entry(kind).or_default();
        tally.count += 1;
        if tally.examples.len() < self.max_examples {
            tally.examples.push(location(file, line, detail));
        }
    }

    /// Total rows kept.
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }

    /// Total rejections.
    pub fn rejected(&self) -> u64 {
        self.rejects.values().map(|t| t.count).sum()
    }

    /// Flushes the rejects file; returns the first error met while writing it, if any.
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(out) = self.rejects_out.as_mut()
            && let Err(e) = out.flush()
        {
            self.rejects_write_error.get_or_insert(e.to_string());
        }
        match &self.rejects_write_error {
            Some(e) => Err(format!("writing the rejects file: {e}")),
            None => Ok(()),
        }
    }
}

fn location(file: &str, line: u64, detail: &str) -> String {
    if line == 0 {
        format!("{file}: {detail}")
    } else {
        format!("{file}:{line}: {detail}")
    }
}
