//! The Log Analytics portal's CSV export: a header row (with a possible BOM and `[UTC]` style
//! suffixes on datetime columns), US datetimes, and quoted cells holding multi-line JSON.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::rc::Rc;

use super::coerce::coerce_str;
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

/// Passes bytes through and notes where the newlines are, so that each record's first line can
/// be told exactly (the CSV reader's own line count is off by one after a CRLF terminator).
struct NewlineTracker<R> {
    inner: R,
    offset: u64,
    newlines: Rc<RefCell<VecDeque<u64>>>,
}

impl<R: Read> Read for NewlineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut nl = self.newlines.borrow_mut();
        for p in memchr::memchr_iter(b'\n', &buf[..n]) {
            nl.push_back(self.offset + p as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Counts lines up to a record's start.
struct LineCounter {
    newlines: Rc<RefCell<VecDeque<u64>>>,
    passed: u64,
}

impl LineCounter {
    /// The 1-based line on which the record starting at byte `start` begins: newlines at or
    /// before `start` come before it (at `start` itself sits the LF of a CRLF that the reader
    /// has not consumed yet).
    fn line_at(&mut self, start: u64) -> u64 {
        let mut nl = self.newlines.borrow_mut();
        while nl.front().is_some_and(|&p| p <= start) {
            nl.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

pub(crate) fn read_csv(
    ing: &mut Ingest,
    name: &str,
    stream: Box<dyn Read + '_>,
    hint: Option<usize>,
    gz: bool,
    sink: &mut dyn FnMut(Record),
) {
    let newlines = Rc::new(RefCell::new(VecDeque::new()));
    let tracker = NewlineTracker {
        inner: stream,
        offset: 0,
        newlines: newlines.clone(),
    };
    let mut lines = LineCounter {
        newlines,
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
    let type_col = header.iter().position(|h| h == "Type");
    // Per table: the column each header field maps to.
    let mut maps: HashMap<usize, Vec<Option<KeySlot>>> = HashMap::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                let reason = match (io, gz) {
                    (true, true) => RejectReason::BadGzip,
                    (true, false) => RejectReason::Unreadable,
                    _ => RejectReason::MalformedCsv,
                };
                ing.report.reject(name, line, reason, &e.to_string(), b"");
                if io {
                    return;
                }
                continue;
            }
        }
        let line = rec.position().map_or(0, |p| lines.line_at(p.byte()));
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue; // a blank line
        }
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
                &record_text(&rec),
            );
            continue;
        }
        if let Some(at) = memchr::memchr(0, rec.as_slice()) {
            ing.report.reject(
                name,
                line,
                RejectReason::NulByte,
                &format!("a NUL byte at byte {} of the row's fields", at + 1),
                &record_text(&rec),
            );
            continue;
        }
        let mut fields = Vec::with_capacity(rec.len());
        let mut utf8_ok = true;
        for f in rec.iter() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s),
                Err(_) => {
                    utf8_ok = false;
                    break;
                }
            }
        }
        if !utf8_ok {
            ing.report.reject(
                name,
                line,
                RejectReason::NotUtf8,
                "the row is not UTF-8 text",
                &record_text(&rec),
            );
            continue;
        }
        let named = type_col.map(|i| fields[i]).filter(|t| !t.is_empty());
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
                        &record_text(&rec),
                    );
                    continue;
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
                        &record_text(&rec),
                    );
                    continue;
                }
            },
        };
        let reader = &ing.readers[table];
        let map = maps
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
        let text = record_text(&rec);
        ing.emit(name, line, table, st, &text, sink);
    }
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
