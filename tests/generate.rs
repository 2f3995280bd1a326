//! `kqlflow generate`: the simulated tenant is deterministic, every file ingests cleanly, and
//! the rule pack (run as `kqlflow hunt` runs it) raises exactly the labelled attacks, and
//! nothing on a tenant without attacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection};
use kqlflow::model::parse_datetime;
use kqlflow_replay::sim::{self, Label, TABLES, TenantConfig};

fn config(users: usize, sps: usize, days: u32, seed: u64, attacks: bool) -> TenantConfig {
    TenantConfig {
        users,
        service_principals: sps,
        days,
        seed,
        attacks,
        threads: 2,
        ..TenantConfig::default()
    }
}

/// Every file under `dir`, relative path to bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut one_thread = config(12, 4, 3, 42, true);
    one_thread.threads = 1;
    sim::generate(&one_thread, dirs[0].path()).unwrap();
    sim::generate(&config(12, 4, 3, 42, true), dirs[1].path()).unwrap();
    sim::generate(&config(12, 4, 3, 43, true), dirs[2].path()).unwrap();
    let (a, b, c) = (
        contents(dirs[0].path()),
        contents(dirs[1].path()),
        contents(dirs[2].path()),
    );
    assert_eq!(a.len(), 7 * 3 + 2);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(
            b[path] == *bytes,
            "{} differs between two runs with one seed",
            path.display()
        );
    }
    let differing = a
        .iter()
        .filter(|(p, bytes)| c.get(*p).is_none_or(|other| other != *bytes))
        .count();
    assert!(
        differing >= 7 * 3,
        "another seed changes every log file: {differing}"
    );
}

#[test]
fn every_file_ingests_without_rejects_or_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let summary = sim::generate(&config(20, 6, 3, 5, true), dir.path()).unwrap();
    assert_eq!(summary.files.len(), 7 * 3);
    let catalog = Catalog::builtin();
    let mut ing = Ingest::new(catalog, &Projection::all(), Options::default());
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    for t in TABLES {
        ing.read_path(&dir.path().join("logs").join(t), &mut |rec| {
            let name = catalog.by_id(rec.table).unwrap().name.to_string();
            assert!(rec.time.is_some(), "{name}: a record without event time");
            *rows.entry(name).or_default() += 1;
        });
    }
    ing.finish().unwrap();
    let report = &ing.report;
    assert_eq!(report.rejected(), 0, "{:?}", report.rejects);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    for t in TABLES {
        let (records, raw, _) = summary.table_totals(t);
        assert!(records > 0, "{t} is empty");
        assert_eq!(rows.get(t).copied(), Some(records), "{t}: rows read");
        let stats = &report.tables[t];
        assert!(
            stats.unknown_columns.is_empty(),
            "{t}: {:?}",
            stats.unknown_columns
        );
        // Each file is named after its day and holds only that day's records.
        assert_eq!(stats.rows, records);
        if t == "SigninLogs" {
            let avg = raw / records;
            assert!(avg > 1500, "a SigninLogs row is a few KB: {avg} bytes");
        }
    }
    // Arrival order: within a file, event times are a few minutes out of order.
    assert!(summary.out_of_order() > 0);
    assert!(summary.max_delay_secs > 60.0 && summary.max_delay_secs <= 900.0);
    // The labels file holds the summary's labels.
    let text = std::fs::read_to_string(&summary.labels_path).unwrap();
    let labels: Vec<Label> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(labels, summary.labels);
    assert!(
        std::fs::read_to_string(&summary.allowlist_path)
            .unwrap()
            .starts_with("IPOrRange,")
    );
}

/// A raised alert of `kqlflow hunt --format jsonl`: rule id, tick, entities.
#[derive(Debug)]
struct Alert {
    rule_id: String,
    tick: i64,
    entities: BTreeMap<String, String>,
}

fn hunt(dir: &Path) -> Vec<Alert> {
    let mut args: Vec<String> = vec![
        "hunt".into(),
        "--rules".into(),
        format!("{}/dataflows", env!("CARGO_MANIFEST_DIR")),
        "--logs".into(),
    ];
    args.push(dir.join("logs").display().to_string());
    args.extend([
        "--watchlist".into(),
        format!(
            "NetworkAllowlist={}",
            dir.join("NetworkAllowlist.csv").display()
        ),
        "--format".into(),
        "jsonl".into(),
        // The labels cover the hunting queries' results too.
        "--include-hunting".into(),
        // Hourly evaluation (the rules' own frequency is 1h or 1d) keeps a debug build fast.
        "--tick".into(),
        "1h".into(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rejected lines: 0;"), "{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["status"] == "raised")
        .map(|e| Alert {
            rule_id: e["rule_id"].as_str().unwrap().to_string(),
            tick: parse_datetime(e["tick"].as_str().unwrap()).unwrap(),
            entities: e["entities"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        })
        .collect()
}

/// Whether `alert` is the alert `label` expects: its rule, its entities, raised between the
/// instance's first record and an hour after its last (the next hourly evaluation).
fn matches(alert: &Alert, label: &Label) -> bool {
    let start = parse_datetime(&label.start).unwrap();
    let end = parse_datetime(&label.end).unwrap();
    let hour = 3600 * 10_000_000;
    alert.rule_id == label.rule_id
        && label
            .entities
            .iter()
            .all(|(k, v)| alert.entities.get(k) == Some(v))
        && alert.tick >= start - 10_000_000
        && alert.tick <= end + hour
}

#[test]
fn hunt_raises_every_labelled_attack_and_nothing_else() {
    let clock = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let summary = sim::generate(&config(30, 5, 6, 1, true), dir.path()).unwrap();
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    // Every rule of the pack has labels, with the rule's id from its YAML file.
    let mut rule_ids = BTreeMap::new();
    for (file, text) in kqlflow::demo::RULES {
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .trim()
            .to_string();
        rule_ids.insert(file.to_string(), id);
    }
    for (file, id) in &rule_ids {
        let n = summary.labels.iter().filter(|l| &l.rule == file).count();
        assert!(n >= 2, "{file}: {n} labels");
        assert!(
            summary
                .labels
                .iter()
                .filter(|l| &l.rule == file)
                .all(|l| &l.rule_id == id)
        );
    }
    let generated = clock.elapsed();
    let alerts = hunt(dir.path());
    let missed: Vec<&Label> = summary
        .labels
        .iter()
        .filter(|l| !alerts.iter().any(|a| matches(a, l)))
        .collect();
    let unexpected: Vec<&Alert> = alerts
        .iter()
        .filter(|a| !summary.labels.iter().any(|l| matches(a, l)))
        .collect();
    assert!(missed.is_empty(), "labels no alert matches: {missed:#?}");
    assert!(
        unexpected.is_empty(),
        "alerts no label explains: {unexpected:#?}"
    );
    eprintln!(
        "{} labels, {} alerts; generated in {generated:?}, hunted in {:?}",
        summary.labels.len(),
        alerts.len(),
        clock.elapsed() - generated
    );
}

#[test]
fn a_tenant_without_attacks_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let summary = sim::generate(&config(30, 5, 6, 2, false), dir.path()).unwrap();
    assert!(summary.labels.is_empty());
    assert_eq!(std::fs::read_to_string(&summary.labels_path).unwrap(), "");
    let alerts = hunt(dir.path());
    assert!(alerts.is_empty(), "{alerts:#?}");
}

/// The whole output of `kqlflow hunt` over a generated tenant on `workers` workers, every
/// alert lifecycle event and hunting result in JSON Lines, sorted; and its summary's lines
/// that count records.
fn hunt_output(dir: &Path, workers: usize) -> (Vec<String>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(["hunt", "--rules"])
        .arg(format!("{}/dataflows", env!("CARGO_MANIFEST_DIR")))
        .arg("--logs")
        .arg(dir.join("logs"))
        .arg("--watchlist")
        .arg(format!(
            "NetworkAllowlist={}",
            dir.join("NetworkAllowlist.csv").display()
        ))
        .args([
            "--format",
            "jsonl",
            "--include-hunting",
            "--tick",
            "1m",
            "-w",
        ])
        .arg(workers.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    let counts = stderr
        .lines()
        .filter(|l| l.contains(" records") && !l.contains("records/s"))
        .map(str::to_string)
        .collect();
    (lines, counts)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 3, ..Default::default() })]

    /// On several workers each worker's rules run as a dataflow of their own and their
    /// outputs are merged: on random tenants, minute by minute, the alerts and hunting results
    /// are those of one worker.
    #[test]
    fn hunt_on_two_and_three_workers_gives_what_one_gives(
        seed in 0u64..1_000_000,
        users in 6usize..20,
        sps in 2usize..5,
        days in 2u32..4,
    ) {
        let dir = tempfile::tempdir().unwrap();
        sim::generate(&config(users, sps, days, seed, true), dir.path()).unwrap();
        let (one, counted) = hunt_output(dir.path(), 1);
        proptest::prop_assert!(!one.is_empty());
        proptest::prop_assert!(!counted.is_empty());
        for workers in [2, 3] {
            let (many, counts) = hunt_output(dir.path(), workers);
            proptest::prop_assert_eq!(&many, &one, "{} workers", workers);
            proptest::prop_assert_eq!(&counts, &counted, "{} workers", workers);
        }
    }
}
