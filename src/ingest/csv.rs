//! The Log Analytics portal's CSV export: a header row (with a possible BOM and `[UTC]` style
//! suffixes on datetime columns), US datetimes, and quoted cells holding multi-line JSON.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::rc::Rc;

use super::coerce::coerce_str;
use super::gzip::GzipWatch;
use super::source::{is_damaged, report_gzip_end};
use super::{Ingest, KeySlot, Record, RejectReason, RowState, WarningKind};

/// A header name without the BOM and the portal's ` [UTC]` / ` [Local Time]` suffix.
pub(crate) fn clean_header(h: &str) -> String {
    let h = h.trim_start_matches('\u{feff}').trim();
    match (h.ends_with(']'), h.rfind(" [")) {
        (true, Some(p)) => h[..p].trim_end().to_string(),
        _ => h.to_string(),
    }
}

fn record_text(rec: &csv::ByteRecord) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
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

/// A CSV file being read: its header and how the header maps onto each table's columns.
struct CsvFile {
    header: Vec<String>,
    /// The position of the `Type` column in the header.
    type_col: Option<usize>,
    /// The table of rows that name none.
    hint: Option<usize>,
    /// Per table: the column each header field maps to.
    maps: HashMap<usize, Vec<Option<KeySlot>>>,
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
                None if hint
                    .is_some_and(|h| ing.readers[h].fits(header.iter().map(String::as_str))) =>
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
        let map = self
            .maps
            .entry(table)
            .or_insert_with(|| header.iter().map(|h| reader.key(h)).collect());
        let mut st = RowState::new(reader);
        for (i, value) in fields.iter().enumerate() {
            match map[i] {
                Some(k) => {
                    let col = &reader.layout.table.schema.columns()[k.col];
                    if k.slot.is_some() || k.time_rank.is_some() {
                        st.set(k, coerce_str(value, k.ty), &col.name);
                    }
                }
                None => st.unknown.push(header[i].clone()),
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
    fn headers_lose_bom_and_suffix() {
        assert_eq!(clean_header("\u{feff}TimeGenerated [UTC]"), "TimeGenerated");
        assert_eq!(clean_header("StartTime [Local Time]"), "StartTime");
        assert_eq!(clean_header("IPAddress"), "IPAddress");
        assert_eq!(clean_header("a[0]"), "a[0]");
    }
}
