//! Fuzzes the log readers: any bytes, under any of a few names that select a table, must be read
//! without a panic, and every record handed out must have a row of its layout's width.
#![no_main]

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["SigninLogs.jsonl", "data.json", "AuditLogs.csv", "x"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let options = Options { max_line_bytes: 1 << 12, ..Options::default() };
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), options);
    let mut widths = Vec::new();
    ing.read_bytes(name, bytes, &mut |r| widths.push((r.table, r.row.len())));
    for (table, width) in widths {
        assert_eq!(ing.layout(table).map(|l| l.columns.len()), Some(width));
    }
});
