//! Property tests of the readers: the same rows written as JSON Lines, a JSON array, portal CSV
//! and gzip read back identically and equal to what was written; every line of a file is
//! either a row or a counted reject; no input makes the readers panic.

use proptest::prelude::*;
use std::io::Write;

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection, Record};
use kqlflow::model::{TICKS_PER_SECOND as SECOND, Value, format_datetime_iso, from_json};

/// Columns of SigninLogs of each kind of type, with how to generate them.
const COLUMNS: [(&str, Kind); 8] = [
    ("UserPrincipalName", Kind::Str),
    ("IPAddress", Kind::Str),
    ("ResultDescription", Kind::Str),
    ("DurationMs", Kind::Long),
    ("IsInteractive", Kind::Bool),
    ("CreatedDateTime", Kind::Time),
    ("LocationDetails", Kind::Dyn),
    ("DeviceDetail", Kind::Dyn),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    Long,
    Bool,
    Time,
    Dyn,
}

fn text() -> impl Strategy<Value = String> {
    // Printable text with the characters that stress CSV and JSON: quotes, commas, newlines,
    // backslashes, braces, non-ASCII.
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            1 => prop::sample::select(vec![' ', ',', '"', '\'', '\n', '\\', '{', '[', 'é', '日', '😀', ':']),
        ],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A generated cell: its JSON, its CSV text, and the value kqlflow must read.
#[derive(Clone, Debug)]
struct Cell {
    json: serde_json::Value,
    csv: String,
    expect: Value,
}

fn cell(kind: Kind) -> BoxedStrategy<Cell> {
    match kind {
        Kind::Str => text()
            .prop_map(|s| Cell {
                json: s.clone().into(),
                csv: s.clone(),
                expect: Value::str(&s),
            })
            .boxed(),
        Kind::Long => any::<i64>()
            .prop_map(|x| Cell {
                json: x.into(),
                csv: x.to_string(),
                expect: Value::Long(x),
            })
            .boxed(),
        Kind::Bool => any::<bool>()
            .prop_map(|b| Cell {
                json: b.into(),
                csv: if b { "TRUE".into() } else { "False".into() },
                expect: Value::Bool(b),
            })
            .boxed(),
        Kind::Time => (-62_135_596_800 * SECOND..253_402_300_799 * SECOND)
            .prop_map(|t| {
                let s = format_datetime_iso(t);
                Cell {
                    json: s.clone().into(),
                    csv: s,
                    expect: Value::DateTime(t),
                }
            })
            .boxed(),
        Kind::Dyn => json_value()
            .prop_filter("strings in dynamic columns are read as JSON text", |j| {
                !j.is_string()
            })
            .prop_map(|j| {
                let csv = if j.is_null() {
                    String::new()
                } else {
                    j.to_string()
                };
                Cell {
                    expect: from_json(&j),
                    csv,
                    json: j,
                }
            })
            .boxed(),
    }
}

/// A row: the time and a subset of the columns.
fn row() -> impl Strategy<Value = (i64, Vec<Option<Cell>>)> {
    let cells: Vec<BoxedStrategy<Option<Cell>>> = COLUMNS
        .iter()
        .map(|(_, k)| prop::option::of(cell(*k)).boxed())
        .collect();
    (0..4_102_444_800 * SECOND, cells)
}

fn json_line(time: i64, cells: &[Option<Cell>]) -> String {
    let mut m = serde_json::Map::new();
    m.insert("TimeGenerated".into(), format_datetime_iso(time).into());
    for ((name, _), c) in COLUMNS.iter().zip(cells) {
        if let Some(c) = c {
            m.insert((*name).into(), c.json.clone());
        }
    }
    serde_json::Value::Object(m).to_string()
}

fn csv_text(rows: &[(i64, Vec<Option<Cell>>)]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["TimeGenerated [UTC]".to_string()];
    header.extend(COLUMNS.iter().map(|(n, _)| n.to_string()));
    w.write_record(&header).unwrap();
    for (t, cells) in rows {
        let mut rec = vec![format_datetime_iso(*t)];
        rec.extend(
            cells
                .iter()
                .map(|c| c.as_ref().map_or(String::new(), |c| c.csv.clone())),
        );
        w.write_record(&rec).unwrap();
    }
    w.into_inner().unwrap()
}

fn read(name: &str, bytes: &[u8]) -> (Vec<Record>, u64) {
    let catalog = Catalog::builtin();
    let cols: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let p = Projection::only(catalog, &[("SigninLogs", &cols)]).unwrap();
    let mut ing = Ingest::new(catalog, &p, Options::default());
    let mut out = Vec::new();
    ing.read_bytes(name, bytes, &mut |r| out.push(r));
    (out, ing.report.rejected())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Marks where [`with_bad_bytes`] puts a NUL byte.
const NUL_MARK: char = '\u{E000}';
/// Marks where [`with_bad_bytes`] puts a byte that is not UTF-8.
const BAD_UTF8_MARK: char = '\u{E001}';

/// `text` as bytes, with a NUL byte for each [`NUL_MARK`] and 0xFF for each [`BAD_UTF8_MARK`].
fn with_bad_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            NUL_MARK => out.push(0),
            BAD_UTF8_MARK => out.push(0xff),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// What `zcat` gets out of `gz`: every byte decoded before the data ends or breaks.
fn zcat(gz: &[u8]) -> Vec<u8> {
    let mut dec = flate2::read::MultiGzDecoder::new(gz);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = std::io::Read::read(&mut dec, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The value a row must have in projected column `i` (layout order is schema order).
fn expected(cells: &[Option<Cell>]) -> Vec<Value> {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut pairs: Vec<(usize, Value)> = COLUMNS
        .iter()
        .zip(cells)
        .map(|((name, kind), c)| {
            let v = match (c, kind) {
                (Some(c), _) => c.expect.clone(),
                (None, Kind::Str) => Value::str(""),
                (None, _) => Value::Null,
            };
            (table.schema.index_of(name).unwrap(), v)
        })
        .collect();
    pairs.sort_by_key(|(i, _)| *i);
    pairs.into_iter().map(|(_, v)| v).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_format_reads_the_same_rows(rows in prop::collection::vec(row(), 1..12)) {
        let jsonl: String = rows.iter().map(|(t, c)| json_line(*t, c) + "\n").collect();
        let array = format!("[\n{}\n]", rows.iter().map(|(t, c)| json_line(*t, c)).collect::<Vec<_>>().join(",\n"));
        let csv = csv_text(&rows);
        let inputs: Vec<(&str, Vec<u8>)> = vec![
            ("SigninLogs.jsonl", jsonl.clone().into_bytes()),
            ("SigninLogs.json", array.into_bytes()),
            ("SigninLogs.csv", csv.clone()),
            ("SigninLogs.jsonl.gz", gzip(jsonl.as_bytes())),
            ("SigninLogs.csv.gz", gzip(&csv)),
        ];
        for (name, bytes) in inputs {
            let (records, rejected) = read(name, &bytes);
            prop_assert_eq!(rejected, 0, "{}", name);
            prop_assert_eq!(records.len(), rows.len(), "{}", name);
            for (r, (t, cells)) in records.iter().zip(&rows) {
                prop_assert_eq!(r.time, Some(*t), "{}", name);
                prop_assert_eq!(&r.row, &expected(cells), "{}", name);
            }
        }
    }

    #[test]
    fn every_line_is_a_row_or_a_reject(
        rows in prop::collection::vec(row(), 0..10),
        damage in prop::collection::vec((any::<prop::sample::Index>(), 0u8..6), 0..10),
    ) {
        // Damage fewer than half of the lines (a file mostly of garbage is judged as a whole:
        // its format is told from its majority).
        let mut lines: Vec<String> = rows.iter().map(|(t, c)| json_line(*t, c)).collect();
        let mut damaged = std::collections::BTreeSet::new();
        for (at, how) in &damage {
            if lines.is_empty() || (damaged.len() + 1) * 2 >= lines.len() { break; }
            let i = at.index(lines.len());
            if !damaged.insert(i) { continue; }
            let l = &mut lines[i];
            match how {
                0 => { let cut = l.len() / 2; let cut = (0..=cut).rev().find(|&c| l.is_char_boundary(c)).unwrap_or(0); l.truncate(cut); }
                1 => l.insert(0, 'x'),
                2 => *l = "\"just a string\"".into(),
                3 => *l = l.replace("TimeGenerated\":\"", "TimeGenerated\":\"not a time"),
                // A NUL byte or a byte that is not UTF-8 in the middle of the line (marked here,
                // put in below).
                _ => {
                    let mid = (0..=l.len() / 2).rev().find(|&c| l.is_char_boundary(c)).unwrap_or(0);
                    l.insert(mid, if *how == 4 { NUL_MARK } else { BAD_UTF8_MARK });
                }
            }
        }
        let non_blank = lines.iter().filter(|l| !l.trim().is_empty()).count() as u64;
        let text: String = lines.iter().map(|l| l.clone() + "\n").collect();
        let bytes = with_bad_bytes(&text);
        let (records, rejected) = read("SigninLogs.jsonl", &bytes);
        prop_assert_eq!(records.len() as u64 + rejected, non_blank, "{}", text);
    }

    #[test]
    fn a_cut_gzip_file_keeps_every_whole_line(
        rows in prop::collection::vec(row(), 1..12),
        at in any::<prop::sample::Index>(),
        csv in any::<bool>(),
    ) {
        // Whatever the cut, the rows whose lines were decoded whole are read, and the damage is
        // one reject.
        let text: Vec<u8> = if csv {
            csv_text(&rows)
        } else {
            rows.iter().map(|(t, c)| json_line(*t, c) + "\n").collect::<String>().into_bytes()
        };
        let gz = gzip(&text);
        let cut = 2 + at.index(gz.len() - 2);
        let got = zcat(&gz[..cut]);
        prop_assert!(text.starts_with(&got));
        let (records, rejected) = read(if csv { "SigninLogs.csv" } else { "SigninLogs.jsonl" }, &gz[..cut]);
        prop_assert_eq!(rejected, 1);
        // The rows read are the first rows, whole.
        for (r, (t, cells)) in records.iter().zip(&rows) {
            prop_assert_eq!(r.time, Some(*t));
            prop_assert_eq!(&r.row, &expected(cells));
        }
        if !csv {
            let whole = got.split(|&b| b == b'\n').filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok()).count();
            prop_assert_eq!(records.len(), whole);
        } else {
            // Each row read is whole: no row whose text was cut is kept.
            if !records.is_empty() {
                let full = csv_text(&rows[..records.len()]);
                prop_assert!(got.starts_with(&full), "{} rows read", records.len());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), name in prop::sample::select(vec!["SigninLogs.jsonl", "x.json", "AuditLogs.csv", "y"])) {
        let (records, _) = read(name, &bytes);
        let _ = records;
        let (_, _) = read(name, &gzip(&bytes));
    }

    #[test]
    fn mutated_samples_never_panic(cut in 0usize..4000, flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for sample in [&include_bytes!("../demo/AADAuditEvents.json")[..], include_bytes!("../demo/AuditLogs_Hunting.csv")] {
            let mut b = sample.to_vec();
            let i = flip.index(b.len());
            b[i] = byte;
            b.truncate(cut.min(b.len()).max(1));
            let _ = read("AuditLogs.json", &b);
        }
    }
}
