//! Reading log files on several threads gives what reading them one after another gives: the
//! same records in the same order (origins included), the same report, the same rejects file,
//! whatever the number of threads, with bad lines, duplicates, missing paths and empty files
//! among the inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection, Record};

fn signin(day: u32, n: usize, extra: &str) -> String {
    format!(
        "{{\"TimeGenerated\":\"2024-05-{day:02}T10:{:02}:{:02}Z\",\"Type\":\"SigninLogs\",\"UserPrincipalName\":\"u{n}@contoso.com\",\"ResultType\":\"{}\"{extra}}}\n",
        n % 60,
        (n * 7) % 60,
        n % 3
    )
}

fn audit(day: u32, n: usize) -> String {
    format!(
        "{{\"TimeGenerated\":\"2024-05-{day:02}T11:{:02}:00Z\",\"Type\":\"AuditLogs\",\"OperationName\":\"Update user\",\"Result\":\"success\",\"CorrelationId\":\"c{n}\"}}\n",
        n % 60
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// A log folder of many files: plain and gzipped, bad lines among good ones, values of the
/// wrong type, unknown columns, an empty file, a file with no good line.
fn tenant(dir: &Path) -> Vec<PathBuf> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(logs.join("SigninLogs")).unwrap();
    std::fs::create_dir_all(logs.join("AuditLogs")).unwrap();
    for day in 1..=6u32 {
        let mut text = String::new();
        for n in 0..(40 * day as usize) {
            match n % 17 {
                3 => text.push_str("{not json\n"),
                5 => text.push_str(&signin(day, n, ",\"RiskLevel\":7,\"NoSuchColumn\":1")),
                _ => text.push_str(&signin(day, n, "")),
            }
        }
        let path = logs.join(format!("SigninLogs/2024-05-{day:02}.jsonl"));
        if day % 2 == 0 {
            std::fs::write(path.with_extension("jsonl.gz"), gzip(&text)).unwrap();
        } else {
            std::fs::write(path, text).unwrap();
        }
        let audits: String = (0..(10 + day as usize)).map(|n| audit(day, n)).collect();
        std::fs::write(
            logs.join(format!("AuditLogs/2024-05-{day:02}.jsonl")),
            audits,
        )
        .unwrap();
    }
    std::fs::write(logs.join("AuditLogs/empty.jsonl"), "").unwrap();
    std::fs::write(logs.join("AuditLogs/garbage.jsonl"), "[[[\nnope\n").unwrap();
    vec![
        logs.clone(),
        // A file given again, and a path that is not there.
        logs.join("AuditLogs/2024-05-03.jsonl"),
        dir.join("missing.jsonl"),
    ]
}

/// What reading `paths` with `threads` threads gives: the records, the report as JSON and
/// the rejects file.
fn read(paths: &[PathBuf], threads: usize, rejects: &Path) -> (Vec<Record>, String, String) {
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    ing.report
        .keep_rejects(Box::new(std::fs::File::create(rejects).unwrap()));
    let mut records = Vec::new();
    ing.read_paths(paths, threads, &mut |r| records.push(r));
    ing.finish().unwrap();
    let report = serde_json::to_string(&ing.report).unwrap();
    (records, report, std::fs::read_to_string(rejects).unwrap())
}

#[test]
fn every_thread_count_reads_what_one_thread_reads() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tenant(dir.path());
    let rejects = dir.path().join("rejects.jsonl");
    let (records, report, rejected) = read(&paths, 1, &rejects);
    // The folder's reading is not trivial: records of both tables, rejects, warnings.
    assert!(records.len() > 700, "{}", records.len());
    assert!(report.contains("\"AuditLogs\""), "{report}");
    assert!(rejected.lines().count() > 40, "{rejected}");
    let parsed: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        parsed["warnings"]
            .as_object()
            .is_some_and(|w| !w.is_empty())
    );
    assert!(report.contains("missing.jsonl"), "{report}");
    // The sequential read that `read_path` gives, path by path, is the same.
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    let mut one_by_one = Vec::new();
    for p in &paths {
        ing.read_path(p, &mut |r| one_by_one.push(r));
    }
    assert_eq!(one_by_one, records);
    assert_eq!(serde_json::to_string(&ing.report).unwrap(), report);
    for threads in [2, 3, 5, 16] {
        let (r, rep, rej) = read(&paths, threads, &rejects);
        assert_eq!(r.len(), records.len(), "{threads} threads");
        assert!(r == records, "{threads} threads: records differ");
        assert_eq!(rep, report, "{threads} threads");
        assert_eq!(rej, rejected, "{threads} threads");
    }
}

#[test]
fn origins_name_the_file_each_record_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let paths = tenant(dir.path());
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    let mut records = Vec::new();
    ing.read_paths(&paths, 4, &mut |r| records.push(r));
    let catalog = Catalog::builtin();
    for r in &records {
        let file = &ing.report.files[r.origin.file].path;
        let table = &catalog.tables()[r.table].name;
        assert!(file.contains(table.as_ref() as &str), "{file} for {table}");
    }
    // Files come in the order of the walk: every record of a file before the next file's.
    assert!(
        records
            .windows(2)
            .all(|w| w[0].origin.file <= w[1].origin.file)
    );
}
