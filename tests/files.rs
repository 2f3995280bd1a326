//! Files read twice, never, or forever: a log folder with symlinks to itself and to a
//! sibling, a symlink loop and a FIFO is read with each file once, in bounded time, and every
//! skip is reported.

#![cfg(unix)]

use std::path::Path;
use std::time::{Duration, Instant};

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection, WarningKind};

fn signin(n: usize) -> String {
    format!(
        "{{\"TimeGenerated\":\"2024-05-01T10:{n:02}:00Z\",\"Type\":\"SigninLogs\",\"UserPrincipalName\":\"u{n}@contoso.com\"}}\n"
    )
}

/// Reads `paths` (in one ingest, as `hunt` does with its `--logs`): records read, and the
/// report.
fn read(paths: &[&Path]) -> (usize, kqlflow::ingest::Report) {
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    let mut n = 0;
    for p in paths {
        ing.read_path(p, &mut |_| n += 1);
    }
    (n, std::mem::take(&mut ing.report))
}

fn show(r: &kqlflow::ingest::Report) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

#[test]
fn symlinks_loops_and_fifos_are_read_once_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let other = dir.path().join("other");
    std::fs::create_dir_all(logs.join("day1")).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(logs.join("day1/a.jsonl"), signin(1) + &signin(2)).unwrap();
    std::fs::write(other.join("b.jsonl"), signin(3)).unwrap();
    // A symlink to the folder itself (a loop), one to a sibling folder, one to a file.
    std::os::unix::fs::symlink(".", logs.join("day1/again")).unwrap();
    std::os::unix::fs::symlink(&other, logs.join("other")).unwrap();
    std::os::unix::fs::symlink(logs.join("day1/a.jsonl"), logs.join("copy.jsonl")).unwrap();
    // A FIFO with a log name: reading it would block forever.
    let fifo = logs.join("pipe.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    let has_fifo = made.is_ok_and(|s| s.success());
    let started = Instant::now();
    // The folder, and the sibling again through its own path.
    let (records, report) = read(&[&logs, &other]);
    assert!(started.elapsed() < Duration::from_secs(30));
    // a.jsonl once (not again through `again` or `copy.jsonl`), b.jsonl once.
    assert_eq!(records, 3, "{}", show(&report));
    let warned = |k: WarningKind| report.warnings.get(&k).map_or(0, |t| t.count);
    assert!(warned(WarningKind::DuplicateFile) >= 1, "{}", show(&report));
    if has_fifo {
        let unreadable = report
            .rejects
            .get(&kqlflow::ingest::RejectReason::Unreadable)
            .map_or(0, |t| t.count);
        assert_eq!(unreadable, 1, "{}", show(&report));
        assert!(
            show(&report).contains("not a regular file"),
            "{}",
            show(&report)
        );
    }
    // The walk that splits files between processes lists each file once too.
    let files = kqlflow::ingest::log_files(&[logs.clone(), other.clone()]);
    let regular: Vec<_> = files
        .iter()
        .filter(|f| !f.ends_with("pipe.jsonl"))
        .collect();
    assert_eq!(regular.len(), 2, "{files:?}");
}

#[test]
fn a_symlink_loop_is_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("a/b")).unwrap();
    std::fs::write(logs.join("a/b/x.jsonl"), signin(1)).unwrap();
    std::os::unix::fs::symlink(&logs, logs.join("a/b/up")).unwrap();
    let (records, report) = read(&[&logs]);
    assert_eq!(records, 1);
    assert_eq!(
        report
            .warnings
            .get(&WarningKind::DirectoryLoop)
            .map_or(0, |t| t.count),
        1,
        "{}",
        show(&report)
    );
}
