//! The Log Analytics portal's CSV export: a header row (with a possible BOM and `[UTC]` style
//! suffixes on datetime columns), US datetimes, and quoted cells holding multi-line JSON.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::BufRead;

use super::coerce::coerce_str;
use super::gzip::GzipWatch;
use super::source::{is_damaged, report_gzip_end};
use super::{Ingest, KeySlot, Record, RejectReason, RowState, TableReader, WarningKind};

/// A header name without the BOM and the portal's ` [UTC]` / ` [Local Time]` suffix.
pub(crate) fn clean_header(h: &str) -> String {
    let h = h.trim_start_matches('\u{feff}').trim();
    match (h.ends_with(']'), h.rfind(" [")) {
        (true, Some(p)) => h[..p].trim_end().to_string(),
        _ => h.to_string(),
    }
}

/// A CSV row's fields as CSV text (with its line end), the text a reject keeps.
fn record_text(rec: &Fields) -> Vec<u8> {
    csv_text(rec.iter())
}

/// `fields` written as one CSV row. The writer's buffer holds the whole row (its fields, each
/// byte doubled at worst, the quotes and delimiters), so that each field is written in one go:
/// with a smaller buffer, writing a large field rescans what is left of it at every refill.
fn csv_text<'f>(fields: impl Iterator<Item = &'f [u8]> + Clone) -> Vec<u8> {
    let (bytes, count) = fields
        .clone()
        .fold((0usize, 0usize), |(b, c), f| (b + f.len(), c + 1));
    let room = 2 * bytes + 3 * count + 8;
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(room)
        .from_writer(Vec::with_capacity(room));
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

/// The bytes of a reject's text kept from a row too long to keep: its first KiB.
const HEAD_BYTES: usize = 1024;

/// One CSV row as read: its fields' bytes one after another, and where each field ends.
#[derive(Default)]
struct Fields {
    /// The fields' bytes (the buffer the parser writes into; only the first
    /// `ends[count - 1]` bytes are the row's).
    data: Vec<u8>,
    /// Where each field ends in `data` (a buffer: only the first `count` are the row's).
    ends: Vec<usize>,
    /// How many fields the row has.
    count: usize,
}

impl Fields {
    /// How many fields the row has.
    fn len(&self) -> usize {
        self.count
    }

    /// Field `i`.
    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..self.ends[i])
    }

    /// Every field's bytes, one after another.
    fn as_slice(&self) -> &[u8] {
        match self.count {
            0 => &[],
            n => &self.data[..self.ends[n - 1]],
        }
    }

    /// The fields, in order.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + Clone + '_ {
        (0..self.count).filter_map(|i| self.get(i))
    }
}

/// What [`Rows::next`] read.
enum Next {
    /// A row, now in the [`Fields`] passed, starting on this line.
    Row(u64),
    /// A row longer than the limit: skipped, not kept.
    TooLong(LongRow),
    /// The end of the data.
    End,
    /// Reading failed inside the row starting on this line.
    Failed(u64, std::io::Error),
}

/// A row longer than `--max-line-bytes`, skipped.
struct LongRow {
    /// The line it starts on.
    line: u64,
    /// Its bytes, without its line end (to the end of the data when it runs on to there).
    bytes: u64,
    /// The lines it spans.
    lines: u64,
    /// Its first fields, as CSV text, at most [`HEAD_BYTES`].
    head: Vec<u8>,
    /// True when the data ends inside one of its quoted fields: a quote that is never closed.
    unclosed: bool,
}

/// Reads CSV rows from a stream, none longer than `max` bytes: a longer row is skipped to its
/// end as the CSV parser tells it (through quoted fields and the line ends in them), without
/// keeping it, in time linear in its length.
struct Rows<'r> {
    input: Box<dyn BufRead + 'r>,
    core: csv_core::Reader,
    max: usize,
    /// Newlines consumed so far.
    newlines: u64,
    /// The last byte consumed.
    last: Option<u8>,
    /// The bytes of the row read last (it is within the limit), to read again after its
    /// first line when it turns out to be a broken quote (see [`Rows::reread_after_first_line`]).
    raw: Vec<u8>,
    /// Bytes to read before the rest of the input, from `pending_at` on.
    pending: Vec<u8>,
    pending_at: usize,
}

impl<'r> Rows<'r> {
    fn new(input: Box<dyn BufRead + 'r>, max: usize) -> Rows<'r> {
        Rows {
            input,
            core: csv_core::Reader::new(),
            max,
            newlines: 0,
            last: None,
            raw: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
        }
    }

    /// The lines the row read last spans.
    fn row_lines(&self, line: u64) -> u64 {
        let mut lines = (self.newlines + 2).saturating_sub(line);
        if self.last == Some(b'\n') {
            lines -= 1;
        }
        lines.max(1)
    }

    /// Reads the lines of the row read last (which started on line `line`) again as rows, from
    /// its second line on: its first line opened a quote it did not close (the row has the
    /// wrong number of fields), and what followed are rows of their own.
    fn reread_after_first_line(&mut self, line: u64) -> bool {
        let Some(p) = memchr::memchr(b'\n', &self.raw) else {
            return false;
        };
        let mut again = self.raw.split_off(p + 1);
        again.extend_from_slice(&self.pending[self.pending_at.min(self.pending.len())..]);
        self.pending = again;
        self.pending_at = 0;
        self.newlines = line;
        self.last = Some(b'\n');
        self.core = csv_core::Reader::new();
        true
    }

    /// The bytes to read next (empty at the end): the pending ones, else the buffered input,
    /// retrying interrupted reads.
    fn fill<'a>(pending: &'a [u8], input: &'a mut (dyn BufRead + 'r)) -> std::io::Result<&'a [u8]> {
        if !pending.is_empty() {
            return Ok(pending);
        }
        loop {
            match input.fill_buf() {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        input.fill_buf()
    }

    /// Consumes `n` bytes of the buffered input, counting its newlines.
    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if self.pending_at < self.pending.len() {
            let end = (self.pending_at + n).min(self.pending.len());
            let seen = &self.pending[self.pending_at..end];
            self.newlines += memchr::memchr_iter(b'\n', seen).count() as u64;
            self.last = seen.last().copied().or(self.last);
            self.pending_at = end;
            if self.pending_at == self.pending.len() {
                self.pending.clear();
                self.pending_at = 0;
            }
            return;
        }
        if let Ok(buf) = self.input.fill_buf() {
            let seen = &buf[..n.min(buf.len())];
            self.newlines += memchr::memchr_iter(b'\n', seen).count() as u64;
            self.last = seen.last().copied().or(self.last);
        }
        self.input.consume(n);
    }

    /// Reads the next row into `rec`.
    fn next(&mut self, rec: &mut Fields) -> Next {
        use csv_core::ReadRecordResult as R;
        // Line ends before the row: blank lines, which the parser skips too; the row's line is
        // that of its first byte.
        loop {
            let buf = match Self::fill(&self.pending[self.pending_at..], &mut *self.input) {
                Ok(b) => b,
                Err(e) => return Next::Failed(self.newlines + 1, e),
            };
            if buf.is_empty() {
                return Next::End;
            }
            let n = buf
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .unwrap_or(buf.len());
            let more = n == buf.len();
            self.consume(n);
            if !more {
                break;
            }
        }
        let line = self.newlines + 1;
        self.raw.clear();
        if rec.data.is_empty() {
            rec.data.resize(1 << 12, 0);
            rec.ends.resize(64, 0);
        }
        let (mut bytes, mut nout, mut nend) = (0usize, 0usize, 0usize);
        loop {
            let buf = match Self::fill(&self.pending[self.pending_at..], &mut *self.input) {
                Ok(b) => b,
                Err(e) => return Next::Failed(line, e),
            };
            // Never more than one byte past the limit: the row's fields stay within it.
            let room = self.max.saturating_add(1).saturating_sub(bytes);
            let input = &buf[..buf.len().min(room)];
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut rec.data[nout..], &mut rec.ends[nend..]);
            self.raw.extend_from_slice(&input[..nin]);
            self.consume(nin);
            bytes += nin;
            nout += o;
            nend += e;
            match res {
                R::InputEmpty if bytes > self.max => {
                    let head = partial_text(rec, nout, nend);
                    return self.skip(line, bytes as u64, head);
                }
                R::InputEmpty => {}
                R::OutputFull => {
                    let len = rec
                        .data
                        .len()
                        .saturating_mul(2)
                        .min(self.max.saturating_add(1))
                        .max(nout + 1);
                    rec.data.resize(len, 0);
                }
                R::OutputEndsFull => {
                    let len = rec.ends.len() * 2;
                    rec.ends.resize(len, 0);
                }
                R::Record => {
                    rec.count = nend;
                    return Next::Row(line);
                }
                R::End => return Next::End,
            }
        }
    }

    /// Skips the rest of a row found longer than the limit after `bytes` bytes, keeping none of
    /// it: to its end as the parser tells it, or to the end of the data.
    fn skip(&mut self, line: u64, mut bytes: u64, head: Vec<u8>) -> Next {
        use csv_core::ReadRecordResult as R;
        let mut out = vec![0u8; 1 << 16];
        let mut ends = vec![0usize; 1 << 10];
        let unclosed = loop {
            let buf = match Self::fill(&self.pending[self.pending_at..], &mut *self.input) {
                Ok(b) => b,
                Err(e) => return Next::Failed(line, e),
            };
            if buf.is_empty() {
                // The data ends inside the row. It ends inside a quoted field (a quote never
                // closed) when a line end would not end it: the parser, done with, is asked.
                let (res, ..) = self.core.read_record(b"\n", &mut out, &mut ends);
                break res == R::InputEmpty;
            }
            let (res, nin, _, _) = self.core.read_record(buf, &mut out, &mut ends);
            self.consume(nin);
            bytes += nin as u64;
            if matches!(res, R::Record | R::End) {
                // Without its line end.
                if matches!(self.last, Some(b'\n' | b'\r')) {
                    bytes -= 1;
                }
                break false;
            }
        };
        // The lines it spans: from its first to the one its last byte is on (a newline ends
        // the line it is on).
        Next::TooLong(LongRow {
            line,
            bytes,
            lines: self.row_lines(line),
            head,
            unclosed,
        })
    }
}

/// The CSV text of the first fields of a row being read (`nout` bytes of fields in `rec.data`,
/// `nend` of them whole), at most [`HEAD_BYTES`].
fn partial_text(rec: &Fields, nout: usize, nend: usize) -> Vec<u8> {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut left = HEAD_BYTES;
    for &end in rec.ends[..nend].iter().chain(std::iter::once(&nout)) {
        let end = end.min(nout).max(start);
        let take = (end - start).min(left);
        fields.push(&rec.data[start..start + take]);
        left -= take;
        start = end;
        if left == 0 {
            break;
        }
    }
    let mut text = csv_text(fields.into_iter());
    text.truncate(HEAD_BYTES);
    text
}

/// The column `X` a header name `X_dynamic` or `X_string` (suffix in any case) is half of, as
/// the Log Analytics portal's CSV export names the halves of a column whose type differs
/// between the tables of a union (dynamic in `SigninLogs`, string in
/// `AADNonInteractiveUserSignInLogs`), and whether it is the `_dynamic` half.
fn split_name(h: &str) -> Option<(&str, bool)> {
    for (suffix, dynamic) in [("_dynamic", true), ("_string", false)] {
        if h.len() > suffix.len()
            && h.is_char_boundary(h.len() - suffix.len())
            && h[h.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        {
            return Some((&h[..h.len() - suffix.len()], dynamic));
        }
    }
    None
}

/// True when a `_dynamic` cell holds JSON (the portal leaves the half a row does not use
/// empty).
fn holds_json(cell: &str) -> bool {
    !cell.trim().is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(cell).is_ok()
}

/// A schema column read from the two halves of a split portal column.
struct SplitColumn {
    key: KeySlot,
    /// The header position of the `_dynamic` half.
    dynamic: Option<usize>,
    /// The header position of the `_string` half.
    string: Option<usize>,
}

impl SplitColumn {
    /// The cell the column takes: the `_dynamic` half when it holds JSON, else the `_string`
    /// half when it is not empty, else the `_dynamic` half's text.
    fn cell<'f>(&self, fields: &[&'f str]) -> &'f str {
        let d = self.dynamic.map(|i| fields[i]);
        let s = self.string.map(|i| fields[i]);
        match (d, s) {
            (Some(d), _) if holds_json(d) => d,
            (_, Some(s)) if !s.is_empty() => s,
            (Some(d), _) => d,
            (None, Some(s)) => s,
            (None, None) => "",
        }
    }
}

/// How a CSV header maps onto one table's columns.
struct HeaderMap {
    /// Per header field: the column it fills on its own.
    direct: Vec<Option<KeySlot>>,
    /// Per header field: true when it is half of a split column.
    halves: Vec<bool>,
    /// The columns read from split halves.
    split: Vec<SplitColumn>,
}

impl HeaderMap {
    /// Maps `header` onto `reader`'s table: each name onto the column it names (exactly, then
    /// ignoring case); then each `X_dynamic` / `X_string` that names no column onto the column
    /// `X`, when the table has `X` and no header name maps onto `X` itself.
    fn new(header: &[String], reader: &TableReader) -> HeaderMap {
        let direct: Vec<Option<KeySlot>> = header.iter().map(|h| reader.key(h)).collect();
        let mut halves = vec![false; header.len()];
        let mut split: Vec<SplitColumn> = Vec::new();
        for (i, h) in header.iter().enumerate() {
            if direct[i].is_some() {
                continue;
            }
            let Some((base, dynamic)) = split_name(h) else {
                continue;
            };
            let Some(key) = reader.key(base) else {
                continue;
            };
            if direct.iter().flatten().any(|d| d.col == key.col) {
                continue;
            }
            let pos = match split.iter().position(|s| s.key.col == key.col) {
                Some(p) => p,
                None => {
                    split.push(SplitColumn {
                        key,
                        dynamic: None,
                        string: None,
                    });
                    split.len() - 1
                }
            };
            let half = if dynamic {
                &mut split[pos].dynamic
            } else {
                &mut split[pos].string
            };
            if half.is_none() {
                *half = Some(i);
                halves[i] = true;
            }
        }
        HeaderMap {
            direct,
            halves,
            split,
        }
    }

    /// The header names that map to no column.
    fn unmapped<'h>(&self, header: &'h [String]) -> impl Iterator<Item = &'h String> {
        header
            .iter()
            .enumerate()
            .filter(|(i, _)| self.direct[*i].is_none() && !self.halves[*i])
            .map(|(_, h)| h)
    }
}

/// A CSV file being read: its header and how the header maps onto each table's columns.
struct CsvFile {
    header: Vec<String>,
    /// The position of the `Type` column in the header.
    type_col: Option<usize>,
    /// The table of rows that name none.
    hint: Option<usize>,
    /// Per table: how the header maps onto its columns.
    maps: HashMap<usize, HeaderMap>,
}

impl CsvFile {
    /// Reads one data row (`rec`, starting on line `line`) into a record, or rejects it.
    fn row(
        &mut self,
        ing: &mut Ingest,
        name: &str,
        rec: &Fields,
        line: u64,
        sink: &mut dyn FnMut(Record),
    ) {
        let header = &self.header;
        if rec.len() != header.len() {
            let detail = format!(
                "the row has {} fields, the header {}",
                rec.len(),
                header.len()
            );
            ing.report.reject(
                name,
                line,
                RejectReason::CsvFieldCount,
                &detail,
                &record_text(rec),
            );
            return;
        }
        if let Some(at) = memchr::memchr(0, rec.as_slice()) {
            ing.report.reject(
                name,
                line,
                RejectReason::NulByte,
                &format!("a NUL byte at byte {} of the row's fields", at + 1),
                &record_text(rec),
            );
            return;
        }
        let mut fields = Vec::with_capacity(rec.len());
        for f in rec.iter() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s),
                Err(_) => {
                    ing.report.reject(
                        name,
                        line,
                        RejectReason::NotUtf8,
                        "the row is not UTF-8 text",
                        &record_text(rec),
                    );
                    return;
                }
            }
        }
        let named = self.type_col.map(|i| fields[i]).filter(|t| !t.is_empty());
        let hint = self.hint;
        let table = match named {
            Some(t) => match ing.table_id(t) {
                Some(id) => id,
                None if hint.is_some_and(|h| {
                    let reader = &ing.readers.get(h);
                    reader.fits(header.iter().map(|n| match split_name(n) {
                        Some((base, _)) if reader.key(n).is_none() => base,
                        _ => n.as_str(),
                    }))
                }) =>
                {
                    let h = hint.unwrap_or_default();
                    let name_of = ing.readers.get(h).layout.table.name.clone();
                    let detail = format!(
                        "Type {t:?} names no table, but the row's columns are those of {name_of}, the file's table: read as {name_of}"
                    );
                    ing.report
                        .warn(name, line, WarningKind::TypeNotATable, &detail);
                    h
                }
                None => {
                    let detail = format!(
                        "table {t:?} is not one kqlflow knows ({})",
                        ing.known_tables()
                    );
                    ing.report.reject(
                        name,
                        line,
                        RejectReason::UnknownTable,
                        &detail,
                        &record_text(rec),
                    );
                    return;
                }
            },
            None => match hint {
                Some(id) => id,
                None => {
                    ing.report.reject(
                        name,
                        line,
                        RejectReason::UnknownTable,
                        "no Type column, and neither --table nor the file name names a table",
                        &record_text(rec),
                    );
                    return;
                }
            },
        };
        let reader = &ing.readers.get(table);
        let map = match self.maps.entry(table) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let map = HeaderMap::new(header, reader);
                let table_name = &reader.layout.table.name;
                for h in map.unmapped(header) {
                    let detail =
                        format!("{h} maps to no column of {table_name}: its values are not read");
                    ing.report
                        .warn(name, 1, WarningKind::UnmappedColumn, &detail);
                }
                e.insert(map)
            }
        };
        let reader = &ing.readers.get(table);
        let columns = reader.layout.table.schema.columns();
        let mut st = RowState::new(reader);
        for (i, value) in fields.iter().enumerate() {
            match map.direct[i] {
                Some(k) => {
                    if k.slot.is_some() || k.time_rank.is_some() {
                        st.set(k, coerce_str(value, k.ty), &columns[k.col].name);
                    }
                }
                None if map.halves[i] => {}
                None => st.unknown.push(header[i].clone()),
            }
        }
        for sc in &map.split {
            let k = sc.key;
            if k.slot.is_some() || k.time_rank.is_some() {
                st.set(k, coerce_str(sc.cell(&fields), k.ty), &columns[k.col].name);
            }
        }
        let text = record_text(rec);
        ing.emit(name, line, table, st, &text, sink);
    }
}

/// Reads a CSV file with a header row. From a gzip stream (`gz`), each row is read once the
/// next has begun, so that the last one can be told cut short when the stream is damaged: it
/// is then rejected with the damage. A row longer than `--max-line-bytes` is rejected and
/// skipped without being kept, and reading goes on after it; when the data ends inside one of
/// its quoted fields (a quote never closed), the reject says how many lines it took.
pub(crate) fn read_csv(
    ing: &mut Ingest,
    name: &str,
    stream: Box<dyn BufRead + '_>,
    hint: Option<usize>,
    gz: Option<&GzipWatch>,
    sink: &mut dyn FnMut(Record),
) {
    let max = ing.options.max_line_bytes;
    let mut rows = Rows::new(stream, max);
    let mut rec = Fields::default();
    let header: Vec<String> = match rows.next(&mut rec) {
        Next::Row(_) => rec
            .iter()
            .map(|f| clean_header(&String::from_utf8_lossy(f)))
            .collect(),
        Next::End => return,
        Next::TooLong(long) => {
            let detail = format!(
                "the header row: {}; the file's rows cannot be read without it",
                too_long_detail(&long, max)
            );
            ing.report.reject(
                name,
                long.line,
                RejectReason::LineTooLong,
                &detail,
                &long.head,
            );
            return;
        }
        Next::Failed(_, e) => {
            ing.report.reject(
                name,
                1,
                RejectReason::MalformedCsv,
                &format!("header: {e}"),
                b"",
            );
            return;
        }
    };
    let mut file = CsvFile {
        type_col: header.iter().position(|h| h == "Type"),
        header,
        hint,
        maps: HashMap::new(),
    };
    // The row read last, held back while reading a gzip stream, and its line.
    let mut held = Fields::default();
    let mut held_line: Option<u64> = None;
    loop {
        let line = match rows.next(&mut rec) {
            Next::Row(line) => line,
            Next::End => break,
            Next::TooLong(long) => {
                // The row before it is whole: read it first.
                if let Some(l) = held_line.take() {
                    file.row(ing, name, &held, l, sink);
                }
                ing.report.reject(
                    name,
                    long.line,
                    RejectReason::LineTooLong,
                    &too_long_detail(&long, max),
                    &long.head,
                );
                continue;
            }
            Next::Failed(line, e) => {
                if let Some(l) = held_line.take() {
                    file.row(ing, name, &held, l, sink);
                }
                ing.report
                    .reject(name, line, RejectReason::Unreadable, &e.to_string(), b"");
                break;
            }
        };
        if rec.len() == 1 && rec.get(0).is_some_and(<[u8]>::is_empty) {
            continue; // a blank line
        }
        // A row over several lines with the wrong number of fields: a quote opened on its
        // first line and not closed there took the lines after it. Only that line is rejected;
        // the lines after it are read as rows.
        let spans = rows.row_lines(line);
        // (A row that holds an odd number of quotes ended inside a quoted field: the data
        // ended before its quote was closed.)
        let unclosed = memchr::memchr_iter(b'"', &rows.raw).count() % 2 == 1;
        // (Not the last row of a damaged gzip stream: the damage cut it, and is reported.)
        let cut_by_damage = gz.is_some_and(is_damaged);
        if (rec.len() != file.header.len() || unclosed) && spans > 1 && !cut_by_damage {
            if let Some(l) = held_line.take() {
                file.row(ing, name, &held, l, sink);
            }
            let first = rows
                .raw
                .split(|&b| b == b'\n')
                .next()
                .unwrap_or_default()
                .to_vec();
            if rows.reread_after_first_line(line) {
                let detail = if unclosed {
                    format!(
                        "a quote opened on this line is not closed on it (it is never closed: read as one row, it took the {spans} lines to the end of the data); the lines after it are read as rows"
                    )
                } else {
                    format!(
                        "a quote opened on this line is not closed on it (read as one row, it took {spans} lines and had {} fields, the header {}); the lines after it are read as rows",
                        rec.len(),
                        file.header.len()
                    )
                };
                ing.report
                    .reject(name, line, RejectReason::CsvFieldCount, &detail, &first);
                continue;
            }
        }
        if gz.is_some() {
            if let Some(l) = held_line.take() {
                file.row(ing, name, &held, l, sink);
            }
            std::mem::swap(&mut held, &mut rec);
            held_line = Some(line);
        } else {
            file.row(ing, name, &rec, line, sink);
        }
    }
    let (count, last) = (rows.newlines, rows.last);
    let ends_with_newline = last == Some(b'\n');
    // The line after the data: where a damage between rows is reported.
    let end_line = count + 1 + u64::from(!ends_with_newline && last.is_some());
    if let Some(l) = held_line {
        // A damaged stream's last row is cut short when the data ends inside it (no line end
        // after it, or inside a quoted cell, whose text then ends with the line end), or when
        // it lacks fields.
        let cut = gz.is_some_and(is_damaged)
            && (!ends_with_newline
                || held.len() != file.header.len()
                || held.iter().next_back().is_some_and(|f| f.ends_with(b"\n")));
        if cut {
            return report_gzip_end(ing, name, gz, l, &record_text(&held));
        }
        file.row(ing, name, &held, l, sink);
    }
    report_gzip_end(ing, name, gz, end_line, b"");
}

/// What a reject of the row `long` says.
fn too_long_detail(long: &LongRow, max: usize) -> String {
    let limit = format!("more than the limit of {max} (--max-line-bytes)");
    if long.unclosed {
        let after = long.lines.saturating_sub(1);
        let s = if after == 1 { "" } else { "s" };
        format!(
            "a quoted field of this row is never closed: the row runs on to the end of the data, {} bytes over {} lines, {limit}; the rest of the data ({after} more line{s}) is part of it, not read as rows",
            long.bytes, long.lines
        )
    } else if long.lines > 1 {
        format!(
            "a row of {} bytes over {} lines, {limit}",
            long.bytes, long.lines
        )
    } else {
        format!("{} bytes, {limit}", long.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_and_json_cells() {
        assert_eq!(split_name("Status_dynamic"), Some(("Status", true)));
        assert_eq!(
            split_name("LocationDetails_STRING"),
            Some(("LocationDetails", false))
        );
        assert_eq!(split_name("_string"), None);
        assert_eq!(split_name("Status"), None);
        assert_eq!(split_name("é_string"), Some(("é", false)));
        assert!(holds_json(r#"{"a":1}"#) && holds_json("[]") && holds_json("5"));
        assert!(!holds_json("") && !holds_json("  ") && !holds_json("Paris"));
    }

    /// The rows of `data` read with the limit `max`, `chunk` bytes at a time, as text.
    fn rows(data: &[u8], max: usize, chunk: usize) -> Vec<String> {
        let input = std::io::BufReader::with_capacity(chunk, data);
        let mut rows = Rows::new(Box::new(input), max);
        let mut rec = Fields::default();
        let mut out = Vec::new();
        loop {
            match rows.next(&mut rec) {
                Next::Row(line) => {
                    let fields: Vec<String> = rec
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into())
                        .collect();
                    out.push(format!("{line}: {}", fields.join("|")));
                }
                Next::TooLong(l) => out.push(format!(
                    "{}: too long, {} bytes over {} lines{}: {}",
                    l.line,
                    l.bytes,
                    l.lines,
                    if l.unclosed { ", unclosed" } else { "" },
                    String::from_utf8_lossy(&l.head).trim_end()
                )),
                Next::End => break,
                Next::Failed(line, e) => out.push(format!("{line}: failed: {e}")),
            }
            assert!(rec.data.len() <= (max + 1).max(1 << 12));
        }
        out
    }

    /// `rows` gives the same rows whatever the size of the reads.
    fn rows_all_ways(data: &[u8], max: usize) -> Vec<String> {
        let whole = rows(data, max, 1 << 16);
        for chunk in [1, 2, 5] {
            assert_eq!(
                rows(data, max, chunk),
                whole,
                "read {chunk} bytes at a time"
            );
        }
        whole
    }

    #[test]
    fn rows_know_their_lines() {
        let data = b"a,b\r\n\r\n1,\"x\r\ny\"\r\n\n\n2,\"\"\"q\"\"\"\n3,z";
        assert_eq!(
            rows_all_ways(data, 100),
            ["1: a|b", "3: 1|x\r\ny", "7: 2|\"q\"", "8: 3|z"]
        );
        // A byte order mark is not part of the first field.
        assert_eq!(rows(b"\xEF\xBB\xBFa,b\n", 100, 1 << 16), ["1: a|b"]);
    }

    #[test]
    fn a_row_past_the_limit_is_skipped_to_its_end() {
        // A quoted field of 3 lines and 200 bytes, closed: the rows after it are read.
        let big = format!("{}\n{}\n{}", "x".repeat(60), "y".repeat(60), "z".repeat(60));
        let data = format!("a,b\n1,2\n3,\"{big}\"\n4,5\n");
        assert_eq!(
            rows_all_ways(data.as_bytes(), 50),
            [
                "1: a|b".to_string(),
                "2: 1|2".into(),
                format!("3: too long, 186 bytes over 3 lines: 3,{}", &big[..48]),
                "6: 4|5".into(),
            ]
        );
        // Unquoted, and at the end of the data without a line end.
        let data = format!("a,b\n{}\n1,2\n{}", "w".repeat(80), "v".repeat(80));
        assert_eq!(
            rows_all_ways(data.as_bytes(), 50),
            [
                "1: a|b".to_string(),
                format!("2: too long, 80 bytes over 1 lines: {}", "w".repeat(51)),
                "3: 1|2".into(),
                format!("4: too long, 80 bytes over 1 lines: {}", "v".repeat(51)),
            ]
        );
        // A row exactly at the limit is read.
        let data = format!("a,b\n{},c\r\nd,e\n", "u".repeat(48));
        assert_eq!(rows_all_ways(data.as_bytes(), 50).len(), 3);
    }

    #[test]
    fn a_quote_never_closed_takes_the_rest_of_the_data_once() {
        let data = format!("a,b\n1,2\n3,\"open\n4,5\n{}\n", "x".repeat(500));
        assert_eq!(
            rows_all_ways(data.as_bytes(), 100),
            [
                "1: a|b".to_string(),
                "2: 1|2".into(),
                format!(
                    "3: too long, 513 bytes over 3 lines, unclosed: 3,\"open\n4,5\n{}\"",
                    "x".repeat(89)
                ),
            ]
        );
    }

    #[test]
    fn headers_lose_bom_and_suffix() {
        assert_eq!(clean_header("\u{feff}TimeGenerated [UTC]"), "TimeGenerated");
        assert_eq!(clean_header("StartTime [Local Time]"), "StartTime");
        assert_eq!(clean_header("IPAddress"), "IPAddress");
        assert_eq!(clean_header("a[0]"), "a[0]");
    }
}
