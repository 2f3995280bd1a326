//! The schema of a custom (`_CL`) table kqlflow has no schema for, taken from the logs a run
//! reads: the keys of its JSON records (each record's in name order) or its CSV header, in the
//! order first seen, typed by the suffix Log Analytics gives custom fields (`_s` string, `_d`
//! real, `_b` bool, `_t` datetime, `_g` guid as string) and otherwise by the values seen;
//! `TimeGenerated` is the datetime event time, as in every table.
//!
//! This pass only looks: a line it cannot read is skipped here, and counted with its file, line
//! and reason when the run reads the logs as it reads any table's.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::gzip::{GzipReader, GzipWatch};
use super::source::{Format, sniff};
use crate::catalog::{STANDARD_COLUMNS, Table};
use crate::model::{Column, Str, Type};

/// What the values of one column have been so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// Only nulls or empty strings.
    Nothing,
    Bool,
    Long,
    Real,
    DateTime,
    String,
    Dynamic,
}

impl Seen {
    /// The kind of both `self` and `other`: numbers widen to real, anything else that
    /// differs is a string (an object or array with anything else is dynamic).
    fn join(self, other: Seen) -> Seen {
        use Seen::*;
        match (self, other) {
            (Nothing, x) | (x, Nothing) => x,
            (a, b) if a == b => a,
            (Long, Real) | (Real, Long) => Real,
            (Dynamic, _) | (_, Dynamic) => Dynamic,
            _ => String,
        }
    }

    fn ty(self) -> Type {
        match self {
            Seen::Bool => Type::Bool,
            Seen::Long => Type::Long,
            Seen::Real => Type::Real,
            Seen::DateTime => Type::DateTime,
            Seen::Dynamic => Type::Dynamic,
            Seen::Nothing | Seen::String => Type::String,
        }
    }
}

/// The kind of a JSON value.
fn seen_json(v: &Json) -> Seen {
    match v {
        Json::Null => Seen::Nothing,
        Json::Bool(_) => Seen::Bool,
        Json::Number(n) if n.is_i64() => Seen::Long,
        Json::Number(_) => Seen::Real,
        Json::String(s) => seen_text(s),
        Json::Array(_) | Json::Object(_) => Seen::Dynamic,
    }
}

/// The kind of a value written as text (a CSV cell or a JSON string): a datetime when it reads
/// as one, else a string (numbers and bools in strings stay strings, as Log Analytics keeps
/// them; a CSV cell is told by [`seen_cell`]).
fn seen_text(s: &str) -> Seen {
    let t = s.trim();
    if t.is_empty() {
        Seen::Nothing
    } else if looks_like_datetime(t) {
        Seen::DateTime
    } else {
        Seen::String
    }
}

/// True for an ISO 8601 date or datetime (`2024-05-01`, `2024-05-01T12:00:00Z`): digits and a
/// dash where a year ends, and a datetime kqlflow reads.
fn looks_like_datetime(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && crate::model::parse_datetime(t).is_some()
}

/// The kind of a CSV cell: CSV has no types, so a cell that reads as a bool, a whole number,
/// a number or a datetime is one.
fn seen_cell(s: &str) -> Seen {
    let t = s.trim();
    if t.is_empty() {
        Seen::Nothing
    } else if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
        Seen::Bool
    } else if t.parse::<i64>().is_ok() {
        Seen::Long
    } else if t.parse::<f64>().is_ok_and(f64::is_finite) {
        Seen::Real
    } else if (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']')) {
        if serde_json::from_str::<Json>(t).is_ok() {
            Seen::Dynamic
        } else {
            Seen::String
        }
    } else {
        seen_text(t)
    }
}

/// The columns found so far, in the order first seen.
#[derive(Default)]
struct Columns {
    names: Vec<String>,
    seen: Vec<Seen>,
    records: u64,
}

impl Columns {
    fn see(&mut self, name: &str, kind: Seen) {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.seen[i] = self.seen[i].join(kind),
            None => {
                self.names.push(name.to_string());
                self.seen.push(kind);
            }
        }
    }

    fn see_object(&mut self, table: &str, named_by_path: bool, obj: &Map<String, Json>) {
        // A record of another table (its `Type` says so) is not this table's; in a file not
        // named after the table only the records whose `Type` names it are.
        match obj.get("Type").and_then(Json::as_str) {
            Some(t) if !t.eq_ignore_ascii_case(table) => return,
            None if !named_by_path => return,
            _ => {}
        }
        self.records += 1;
        for (k, v) in obj {
            self.see(k, seen_json(v));
        }
    }
}

/// The type of custom field `name` whose values were `seen`: by Log Analytics' suffix first,
/// the standard columns' own types, else what the values were.
fn column_type(name: &str, seen: Seen) -> Type {
    if let Some((_, ty)) = STANDARD_COLUMNS.iter().find(|(c, _)| *c == name) {
        return *ty;
    }
    match name.rsplit_once('_').map(|(_, suffix)| suffix) {
        Some("s" | "g") => Type::String,
        Some("d") => Type::Real,
        Some("b") => Type::Bool,
        Some("t") => Type::DateTime,
        _ => seen.ty(),
    }
}

/// Opens `path`, decoding gzip (told by its magic bytes).
fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path)?;
    let mut reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, file));
    if reader.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        reader = Box::new(BufReader::with_capacity(
            1 << 16,
            GzipReader::new(reader, GzipWatch::default()),
        ));
    }
    Ok(reader)
}

/// The longest line read, as ingest's default `--max-line-bytes`.
const MAX_LINE: u64 = 16 << 20;

/// Reads one file's records of `table` into `cols`; a file that cannot be read adds nothing
/// (the run reports it).
fn read_file(path: &Path, table: &str, named_by_path: bool, cols: &mut Columns) {
    // Only regular files: a FIFO would block, a device never end (the run reports them).
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return;
    }
    let Ok(mut reader) = open(path) else { return };
    let mut text = Vec::new();
    // The first 64 KiB tell the format; JSON Lines are then read a line at a time.
    if (&mut reader).take(1 << 16).read_to_end(&mut text).is_err() {
        return;
    }
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace() && *b != 0xef && *b != 0xbb && *b != 0xbf)
        .unwrap_or(text.len());
    match sniff(&text[start..]) {
        Format::JsonLines => {
            let mut all = std::io::Cursor::new(text).chain(reader);
            let mut line = Vec::new();
            loop {
                line.clear();
                // A line longer than ingest takes is skipped here (ingest rejects it),
                // without holding more than that limit of it.
                match (&mut all).take(MAX_LINE + 1).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.len() as u64 > MAX_LINE && !line.ends_with(b"\n") {
                    let mut skipped = Vec::new();
                    loop {
                        skipped.clear();
                        match (&mut all).take(1 << 16).read_until(b'\n', &mut skipped) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if skipped.ends_with(b"\n") => break,
                            Ok(_) => {}
                        }
                    }
                    continue;
                }
                let l = line.trim_ascii();
                if !named_by_path && !contains(l, table.as_bytes()) {
                    continue;
                }
                if let Ok(Json::Object(obj)) = serde_json::from_slice::<Json>(l) {
                    cols.see_object(table, named_by_path, &obj);
                }
            }
        }
        Format::Document => {
            if reader.read_to_end(&mut text).is_err() {
                return;
            }
            match serde_json::from_slice::<Json>(&text[start..]) {
                Ok(Json::Array(items)) => {
                    for it in &items {
                        if let Json::Object(obj) = it {
                            cols.see_object(table, named_by_path, obj);
                        }
                    }
                }
                Ok(Json::Object(obj)) => match obj.get("records") {
                    Some(Json::Array(items)) => {
                        for it in items {
                            if let Json::Object(o) = it {
                                cols.see_object(table, named_by_path, o);
                            }
                        }
                    }
                    _ => cols.see_object(table, named_by_path, &obj),
                },
                _ => {}
            }
        }
        // A CSV file has no `Type` per record: only a file named after the table is read.
        Format::Csv if named_by_path => {
            let all = std::io::Cursor::new(text).chain(reader);
            let mut rdr = ::csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(all);
            let header: Vec<String> = match rdr.headers() {
                Ok(h) => h.iter().map(super::csv::clean_header).collect(),
                Err(_) => return,
            };
            for h in &header {
                cols.see(h, Seen::Nothing);
            }
            for rec in rdr.records() {
                let Ok(rec) = rec else { continue };
                cols.records += 1;
                for (h, cell) in header.iter().zip(rec.iter()) {
                    cols.see(h, seen_cell(cell));
                }
            }
        }
        Format::Csv | Format::Unknown => {}
    }
}

/// True when `hay` contains `needle` ignoring ASCII case.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What a schema was taken from: the table's name and each log file with its size and
/// modification time.
type CacheKey = (String, Vec<(PathBuf, u64, Option<std::time::SystemTime>)>);

/// The schemas taken so far in this process: the rules of a pack that read the same custom
/// table over the same files read them once.
static CACHE: std::sync::Mutex<Vec<(CacheKey, Found)>> = std::sync::Mutex::new(Vec::new());

/// A schema taken from logs and the number of records it was taken from, if any.
type Found = Option<(Table, u64)>;

/// The schema of custom table `name` taken from the records of it in `logs` (files and
/// folders, as a run reads them): the files whose name starts with the table's name
/// (`Cisco_Umbrella_dns_CL.json`) and, in other files, the JSON records whose `Type` is the
/// table; with the number of records it was taken from. `None` when the logs hold no record
/// of it. Taken again only when the files change (their list, sizes or times).
pub fn custom_table_from_logs(name: &str, logs: &[PathBuf]) -> Option<(Table, u64)> {
    let files = super::log_files(logs);
    let key: CacheKey = (
        name.to_string(),
        files
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok();
                (
                    p.clone(),
                    m.as_ref().map_or(0, std::fs::Metadata::len),
                    m.and_then(|m| m.modified().ok()),
                )
            })
            .collect(),
    );
    if let Ok(cache) = CACHE.lock()
        && let Some((_, found)) = cache.iter().find(|(k, _)| *k == key)
    {
        return found.clone();
    }
    let found = infer(name, &files);
    if let Ok(mut cache) = CACHE.lock() {
        cache.push((key, found.clone()));
    }
    found
}

/// [`custom_table_from_logs`] over the log files `files`, read now.
fn infer(name: &str, files: &[PathBuf]) -> Option<(Table, u64)> {
    let mut cols = Columns::default();
    for path in files {
        let named = crate::catalog::table_for_path(path, &[name]).is_some();
        read_file(path, name, named, &mut cols);
    }
    if cols.records == 0 {
        return None;
    }
    let columns: Vec<Column> = cols
        .names
        .iter()
        .zip(&cols.seen)
        .map(|(n, s)| Column {
            name: Str::from(n.as_str()),
            ty: column_type(n, *s),
        })
        .collect();
    let table = crate::catalog::table_from_columns(name, columns).ok()?;
    Some((table, cols.records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(t: &Table, c: &str) -> Option<Type> {
        t.schema.column(c).map(|c| c.ty)
    }

    #[test]
    fn json_lines_typed_by_suffix_then_by_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Custom_Test_CL.jsonl");
        std::fs::write(
            &p,
            concat!(
                r#"{"TimeGenerated":"2024-05-01T00:00:00Z","User_s":"a","Score_d":1,"Ok_b":true,"Seen_t":"2024-05-01T00:00:00Z","Id_g":"0f8fad5b-d9cb-469f-a165-70867728950e","Count":3,"Ratio":1,"When":"2024-05-01T01:00:00Z","Bag":{"k":1},"Mixed":1}"#,
                "\n",
                "not json\n",
                r#"{"TimeGenerated":"2024-05-01T00:01:00Z","Ratio":2.5,"Mixed":"x","Extra":"e"}"#,
                "\n"
            ),
        )
        .unwrap();
        let (t, n) = custom_table_from_logs("Custom_Test_CL", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(n, 2);
        assert_eq!(ty(&t, "TimeGenerated"), Some(Type::DateTime));
        assert_eq!(ty(&t, "User_s"), Some(Type::String));
        assert_eq!(ty(&t, "Score_d"), Some(Type::Real));
        assert_eq!(ty(&t, "Ok_b"), Some(Type::Bool));
        assert_eq!(ty(&t, "Seen_t"), Some(Type::DateTime));
        assert_eq!(ty(&t, "Id_g"), Some(Type::String));
        assert_eq!(ty(&t, "Count"), Some(Type::Long));
        assert_eq!(ty(&t, "Ratio"), Some(Type::Real));
        assert_eq!(ty(&t, "When"), Some(Type::DateTime));
        assert_eq!(ty(&t, "Bag"), Some(Type::Dynamic));
        assert_eq!(ty(&t, "Mixed"), Some(Type::String));
        assert_eq!(ty(&t, "Extra"), Some(Type::String));
        let names: Vec<&str> = t.schema.columns().iter().map(|c| &*c.name).collect();
        // A record's keys in name order, then the keys later records add.
        assert_eq!(names[..3], ["Bag", "Count", "Id_g"]);
        assert_eq!(names[11], "Extra");
        assert!(names.contains(&"_ResourceId"));
    }

    #[test]
    fn records_typed_as_the_table_in_other_files_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mixed.jsonl"),
            concat!(
                r#"{"Type":"Other_CL","TimeGenerated":"2024-05-01T00:00:00Z","Nope":1}"#,
                "\n",
                r#"{"Type":"My_CL","TimeGenerated":"2024-05-01T00:00:00Z","Yes":1}"#,
                "\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("My_CL.csv"),
            "\u{feff}TimeGenerated [UTC],Host,Port,Up\n2024-05-01T00:00:00Z,h1,443,true\n2024-05-01T00:00:00Z,h2,,false\n",
        )
        .unwrap();
        let (t, n) = custom_table_from_logs("My_CL", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(ty(&t, "Yes"), Some(Type::Long));
        assert_eq!(ty(&t, "Nope"), None);
        assert_eq!(ty(&t, "Host"), Some(Type::String));
        assert_eq!(ty(&t, "Port"), Some(Type::Long));
        assert_eq!(ty(&t, "Up"), Some(Type::Bool));
        assert_eq!(ty(&t, "TimeGenerated"), Some(Type::DateTime));
        assert!(custom_table_from_logs("Absent_CL", &[dir.path().to_path_buf()]).is_none());
    }

    #[test]
    fn gzip_files_are_read_and_an_overlong_line_is_skipped() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        text.push_str(r#"{"TimeGenerated":"2024-05-01T00:00:00Z","A_s":"x"}"#);
        text.push('\n');
        text.push_str(&format!(r#"{{"Long_s":"{}"}}"#, "y".repeat(17 << 20)));
        text.push('\n');
        text.push_str(r#"{"TimeGenerated":"2024-05-01T00:00:00Z","B_d":2}"#);
        text.push('\n');
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        std::fs::write(dir.path().join("Zip_CL.jsonl.gz"), gz.finish().unwrap()).unwrap();
        let (t, n) = custom_table_from_logs("Zip_CL", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(n, 2);
        assert_eq!(ty(&t, "A_s"), Some(Type::String));
        assert_eq!(ty(&t, "B_d"), Some(Type::Real));
        assert_eq!(ty(&t, "Long_s"), None);
    }
}
