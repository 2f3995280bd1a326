//! The Log Analytics portal's CSV export: a header row (with a possible BOM and `[UTC]` style
//! suffixes on datetime columns), US datetimes, and quoted cells holding multi-line JSON.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::rc::Rc;

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

/// A CSV row as CSV text (with its line end), the text a reject keeps. The writer's buffer
/// holds the whole row (its bytes, each doubled at worst, the quotes and delimiters), so that
/// each field is written in one go: with a smaller buffer, writing a large field rescans what
/// is left of it at every refill, in time quadratic in its length.
fn record_text(rec: &csv::ByteRecord) -> Vec<u8> {
    let room = 2 * rec.as_slice().len() + 3 * rec.len() + 8;
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(room)
        .from_writer(Vec::with_capacity(room));
    let _ = w.write_byte_record(rec);
    w.into_inner().unwrap_or_default()
}

/// What [`NewlineTracker`] has seen of the data.
#[derive(Default)]
struct Seen {
    /// Offsets of the newlines not yet passed by [`LineCounter`].
    newlines: VecDeque<u64>,
    /// Newlines seen in all.
    count: u64,
    /// The last byte seen.
    last: Option<u8>,
}

/// Passes bytes through and notes where the newlines are, so that each record's first line can
/// be told exactly (the CSV reader's own line count is off by one after a CRLF terminator).
struct NewlineTracker<R> {
    inner: R,
    offset: u64,
    seen: Rc<RefCell<Seen>>,
}

impl<R: Read> Read for NewlineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = self.seen.borrow_mut();
        for p in memchr::memchr_iter(b'\n', &buf[..n]) {
            seen.newlines.push_back(self.offset + p as u64);
            seen.count += 1;
        }
        if n > 0 {
            seen.last = Some(buf[n - 1]);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Counts lines up to a record's start.
struct LineCounter {
    seen: Rc<RefCell<Seen>>,
    passed: u64,
}

impl LineCounter {
    /// The 1-based line on which the record starting at byte `start` begins: newlines at or
    /// before `start` come before it (at `start` itself sits the LF of a CRLF that the reader
    /// has not consumed yet).
    fn line_at(&mut self, start: u64) -> u64 {
        let mut seen = self.seen.borrow_mut();
        while seen.newlines.front().is_some_and(|&p| p <= start) {
            seen.newlines.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
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
        rec: &csv::ByteRecord,
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
                    let reader = &ing.readers[h];
                    reader.fits(header.iter().map(|n| match split_name(n) {
                        Some((base, _)) if reader.key(n).is_none() => base,
                        _ => n.as_str(),
                    }))
                }) =>
                {
                    let h = hint.unwrap_or_default();
                    let name_of = ing.readers[h].layout.table.name.clone();
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
        let reader = &ing.readers[table];
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
        let reader = &ing.readers[table];
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
/// is then rejected with the damage.
pub(crate) fn read_csv(
    ing: &mut Ingest,
    name: &str,
    stream: Box<dyn Read + '_>,
    hint: Option<usize>,
    gz: Option<&GzipWatch>,
    sink: &mut dyn FnMut(Record),
) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let tracker = NewlineTracker {
        inner: stream,
        offset: 0,
        seen: seen.clone(),
    };
    let mut lines = LineCounter {
        seen: seen.clone(),
        passed: 0,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(tracker);
    let mut rec = csv::ByteRecord::new();
    let header: Vec<String> = match rdr.read_byte_record(&mut rec) {
        Ok(true) => rec
            .iter()
            .map(|f| clean_header(&String::from_utf8_lossy(f)))
            .collect(),
        Ok(false) => return,
        Err(e) => {
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
    let mut held = csv::ByteRecord::new();
    let mut held_line: Option<u64> = None;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                let reason = if io {
                    RejectReason::Unreadable
                } else {
                    RejectReason::MalformedCsv
                };
                ing.report.reject(name, line, reason, &e.to_string(), b"");
                if io {
                    break;
                }
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| lines.line_at(p.byte()));
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue; // a blank line
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
    let (count, last) = {
        let s = seen.borrow();
        (s.count, s.last)
    };
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

    #[test]
    fn headers_lose_bom_and_suffix() {
        assert_eq!(clean_header("\u{feff}TimeGenerated [UTC]"), "TimeGenerated");
        assert_eq!(clean_header("StartTime [Local Time]"), "StartTime");
        assert_eq!(clean_header("IPAddress"), "IPAddress");
        assert_eq!(clean_header("a[0]"), "a[0]");
    }
}
