//! The library API: a rule pack loaded and a folder of logs hunted, replayed or watched live in
//! a few calls, with the alerts the command line prints.

use std::sync::{Arc, Mutex};

use kqlflow::alerts::Status;
use kqlflow::api::{
    Alert, AlertSink, DetectOptions, HuntOptions, LogInput, ReplayOptions, RulePack,
    WatchedWatchlist, detect, hunt, on_alert, replay,
};
use kqlflow::logs::ReadCounts;
use kqlflow::pack::TickDone;
use kqlflow::pack::stream::LateRecord;
use kqlflow::runtime::arrival::LatePolicy;
use kqlflow::runtime::live::Speed;

#[test]
fn the_library_hunts_the_demo_tenant_as_the_command_does() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let allow = dir.path().join("allow.csv");
    std::fs::write(&allow, "IPOrRange,Comment\n10.0.0.0/8,lab\n").unwrap();
    let pack = RulePack::builtin(&Default::default()).unwrap();
    assert_eq!(pack.rules.len(), 9);
    assert!(!pack.failed, "{:?}", pack.messages);
    let mut options = HuntOptions::default();
    let text = std::fs::read_to_string(&allow).unwrap();
    options.watchlists.insert(
        "NetworkAllowlist".into(),
        kqlflow::eval::Watchlist::from_csv(&text).unwrap(),
    );
    let mut raised = Vec::new();
    let mut sink = on_alert(|a| {
        if a.event.status == Status::Raised {
            raised.push((a.rule.name.clone(), a.event.tick));
        }
    });
    let summary = hunt(&pack, std::slice::from_ref(&logs), &options, &mut sink).unwrap();
    assert!(summary.records > 0);
    assert_eq!(summary.rejected, 0);
    assert_eq!(raised.len() as u64, summary.raised.iter().sum::<u64>());
    assert!(!raised.is_empty());
    // The command line, on the same logs and watchlist, raises the same alerts at the same
    // ticks (its JSON Lines give each rule's name and the tick).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(["hunt", "--format", "jsonl", "--include-hunting", "--logs"])
        .arg(&logs)
        .arg("--watchlist")
        .arg(format!("NetworkAllowlist={}", allow.display()))
        .output()
        .unwrap();
    let mut from_cli: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["status"] == "raised")
        .map(|v| {
            (
                v["rule"].as_str().unwrap_or("").to_string(),
                v["tick"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut from_lib: Vec<(String, String)> = raised
        .iter()
        .map(|(r, t)| (r.clone(), kqlflow::model::format_datetime_iso(*t as i64)))
        .collect();
    from_cli.sort();
    from_lib.sort();
    assert_eq!(
        from_lib,
        from_cli,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn loading_rules_reports_each_problem_by_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "id: x\nquery: |\n  SigninLogs | where\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
    let pack = RulePack::load(&[dir.path().to_path_buf()], &Default::default()).unwrap();
    assert!(pack.failed);
    assert!(pack.rules.is_empty());
    assert!(
        pack.messages.iter().any(|m| m.contains("bad.yaml")),
        "{:?}",
        pack.messages
    );
    let empty = tempfile::tempdir().unwrap();
    let err = RulePack::load(&[empty.path().to_path_buf()], &Default::default()).unwrap_err();
    assert!(err.contains("no rule files"), "{err}");
}

/// The demo tenant's logs in a folder, with its allowlist as the hunt options' watchlist.
fn demo_tenant(dir: &std::path::Path) -> (std::path::PathBuf, HuntOptions) {
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let mut options = HuntOptions::default();
    options.watchlists.insert(
        "NetworkAllowlist".into(),
        kqlflow::eval::Watchlist::from_csv("IPOrRange,Comment\n10.0.0.0/8,lab\n").unwrap(),
    );
    (logs, options)
}

/// Raised alerts as (rule, tick), sorted.
fn raised_by(pack: &RulePack, logs: &std::path::Path, options: &HuntOptions) -> Vec<(String, u64)> {
    let mut raised = Vec::new();
    let mut sink = on_alert(|a| {
        if a.event.status == Status::Raised {
            raised.push((a.rule.name.clone(), a.event.tick));
        }
    });
    hunt(pack, &[logs.to_path_buf()], options, &mut sink).unwrap();
    raised.sort();
    raised
}

/// A sink that keeps everything a job tells it.
#[derive(Default)]
struct Everything {
    raised: Vec<(String, u64)>,
    events: usize,
    reads: Vec<ReadCounts>,
    ticks: u64,
    handed: u64,
    late: Vec<LateRecord>,
}

impl AlertSink for Everything {
    fn alert(&mut self, a: Alert<'_>) {
        self.events += 1;
        if a.event.status == Status::Raised {
            self.raised.push((a.rule.name.clone(), a.event.tick));
        }
    }
    fn read(&mut self, counts: &ReadCounts) {
        self.reads.push(counts.clone());
    }
    fn ticks(&mut self, ticks: &[TickDone]) {
        self.ticks += ticks.len() as u64;
        if let Some(t) = ticks.last() {
            self.handed = t.records;
        }
    }
    fn late(&mut self, record: &LateRecord) {
        self.late.push(record.clone());
    }
}

#[test]
fn the_library_replays_what_it_hunts_and_measures_every_tick() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, options) = demo_tenant(dir.path());
    let pack = RulePack::builtin(&Default::default()).unwrap();
    let hunted = raised_by(&pack, &logs, &options);
    assert!(!hunted.is_empty());
    let mut sink = Everything::default();
    let options = ReplayOptions {
        run: options,
        speed: Speed::Max,
    };
    let done = replay(&pack, std::slice::from_ref(&logs), &options, &mut sink).unwrap();
    sink.raised.sort();
    // Paced or not, the same records raise the same alerts at the same ticks.
    assert_eq!(sink.raised, hunted);
    let report = &done.report;
    assert_eq!(report.rules, 9);
    assert_eq!(report.records, done.run.records);
    assert!(report.records > 0);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.speed, "max");
    assert_eq!(report.tick, "1s");
    assert_eq!(report.order, "event");
    assert_eq!(
        report.alerts_total + report.hunting_results.values().sum::<u64>(),
        hunted.len() as u64
    );
    // Every tick through the dataflow was measured and told to the sink.
    assert!(sink.ticks > 0);
    assert_eq!(report.latency.count, sink.ticks);
    assert_eq!(done.latency_ticks, sink.ticks);
    // The sink heard what was read before any tick, and every record was handed.
    let first = sink.reads.first().unwrap();
    assert_eq!(first.records.values().sum::<u64>(), report.records);
    assert_eq!(done.progress.last().map(|p| p.1), Some(sink.handed));
    assert!(sink.handed > 0 && sink.handed <= report.records);
}

const BLOCKED_RULE: &str = r#"id: 6f0c5a8e-1d2b-4c3a-9e8f-000000000003
name: Sign-in from a blocked address
severity: High
kind: Scheduled
queryFrequency: 5m
queryPeriod: 1h
query: |
  let blocked = _GetWatchlist('Blocked') | project IPAddress = tostring(IP);
  SigninLogs
  | where TimeGenerated > ago(1h)
  | join kind=inner (blocked) on IPAddress
  | project TimeGenerated, UserPrincipalName, IPAddress
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
"#;

fn signin(minute: u32, user: &str, ip: &str) -> String {
    format!(
        r#"{{"TimeGenerated":"2024-05-01T10:{minute:02}:00Z","Type":"SigninLogs","UserPrincipalName":"{user}","IPAddress":"{ip}","ResultType":"0"}}"#
    )
}

/// The account an alert names.
fn account(a: &Alert<'_>) -> String {
    let i = a
        .columns
        .iter()
        .position(|c| c == "UserPrincipalName")
        .unwrap();
    let row = a.event.rows.first().or(a.event.removed.first());
    row.map(|r| r[i].to_string()).unwrap_or_default()
}

#[test]
fn the_library_detects_over_a_stream_of_lines_with_late_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked.yaml"), BLOCKED_RULE).unwrap();
    let blocked = dir.path().join("blocked.csv");
    std::fs::write(&blocked, "IP\n192.0.2.1\n").unwrap();
    let rule_options = kqlflow::api::RuleOptions::default().watchlist("Blocked", &blocked);
    let mut pack = RulePack::load(&[dir.path().to_path_buf()], &rule_options).unwrap();
    assert!(!pack.failed, "{:?}", pack.messages);
    assert!(!pack.keep_runnable());
    let (watched, rows) = WatchedWatchlist::read("Blocked", &blocked).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let told = notices.clone();
    let mut options = DetectOptions {
        lateness: 5 * kqlflow::model::TICKS_PER_MINUTE,
        late: LatePolicy::Reject,
        rejects: Some(rejects.clone()),
        watched: vec![watched],
        notices: Arc::new(move |t: &str| told.lock().unwrap().push(t.to_string())),
        ..DetectOptions::default()
    };
    options.watchlists.insert("Blocked".into(), rows);
    let text = [
        signin(10, "alice", "192.0.2.1"),
        signin(20, "bob", "203.0.113.9"),
        // Ten minutes behind the newest: late under a five-minute lateness, and rejected.
        signin(10, "mallory", "192.0.2.1"),
        "not json".to_string(),
        signin(30, "carol", "192.0.2.1"),
    ]
    .join("\n")
        + "\n";
    let input = LogInput::Lines {
        name: "stream".into(),
        reader: Box::new(std::io::Cursor::new(text.into_bytes())),
    };
    let mut accounts = Vec::new();
    let mut late = Vec::new();
    struct Sink<'a> {
        accounts: &'a mut Vec<(Status, String)>,
        late: &'a mut Vec<LateRecord>,
    }
    impl AlertSink for Sink<'_> {
        fn alert(&mut self, a: Alert<'_>) {
            self.accounts.push((a.event.status, account(&a)));
        }
        fn late(&mut self, record: &LateRecord) {
            self.late.push(record.clone());
        }
    }
    let mut sink = Sink {
        accounts: &mut accounts,
        late: &mut late,
    };
    let summary = detect(&pack, vec![input], &options, &mut sink).unwrap();
    let raised: Vec<&str> = accounts
        .iter()
        .filter(|(s, _)| *s == Status::Raised)
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(raised, ["alice", "carol"], "{accounts:?}");
    assert_eq!(summary.pack.raised, vec![2]);
    assert_eq!(summary.records.get("SigninLogs"), Some(&4));
    assert_eq!(summary.rejected, 1);
    assert_eq!((summary.late, summary.late_accepted), (1, 0));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].origin, "stream:3");
    assert_eq!(late[0].entered, None);
    // The unreadable line was told as it was met; it and the late record are in the rejects.
    let told = notices.lock().unwrap().clone();
    assert!(
        told.iter()
            .any(|t| t.starts_with("warning: rejected stream:4")),
        "{told:?}"
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(written.lines().count(), 2, "{written}");
    assert!(written.contains("late record"), "{written}");
    assert!(options.stop.load(std::sync::atomic::Ordering::Acquire));
}

#[test]
fn the_library_detects_what_it_hunts_over_a_file_in_event_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, options) = demo_tenant(dir.path());
    let pack = RulePack::builtin(&Default::default()).unwrap();
    let hunted = raised_by(&pack, &logs, &options);
    assert!(!hunted.is_empty());
    // The demo tenant's files, one per table, merged into one file in event-time order:
    // detection over it raises what the hunt raises.
    let mut lines: Vec<(i64, String)> = Vec::new();
    for f in kqlflow::ingest::log_files(std::slice::from_ref(&logs)) {
        // A file's name tells its records' table; in one stream each record tells its own.
        let table = f.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let t = v["TimeGenerated"].as_str().unwrap_or_default();
            let t = kqlflow::model::parse_datetime(t).unwrap();
            let line = match v.get("Type") {
                Some(_) => l.to_string(),
                None => format!("{{\"Type\":\"{table}\",{}", &l[1..]),
            };
            lines.push((t, line));
        }
    }
    lines.sort();
    let text: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
    let detect_options = DetectOptions {
        watchlists: options.watchlists.clone(),
        ..DetectOptions::default()
    };
    let merged = dir.path().join("merged.jsonl");
    std::fs::write(&merged, text).unwrap();
    let mut sink = Everything::default();
    let input = LogInput::Path(merged);
    let summary = detect(&pack, vec![input], &detect_options, &mut sink).unwrap();
    sink.raised.sort();
    assert_eq!(sink.raised, hunted);
    assert_eq!(summary.late, 0);
    assert!(sink.late.is_empty());
    assert_eq!(summary.rejected, 0);
    assert!(sink.events >= hunted.len());
}
