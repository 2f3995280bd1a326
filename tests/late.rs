//! Late records: `hunt` and `replay` with `--order arrival` over a hand-made log in which one
//! failed sign-in is 10 minutes behind the records before it in its file, and the temporal
//! filter's window of a record that enters late.

use std::path::Path;
use std::process::Command;

use kqlflow::catalog::Catalog;
use kqlflow::exec::run_program;
use kqlflow::model::{Row, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{self, BindOptions};
use kqlflow::runtime::arrival::{LatePolicy, arrival_order, entries};
use kqlflow::runtime::{ClusterOptions, snapshot};

fn kqlflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const RULE: &str = r#"id: 6f0c5a8e-1d2b-4c3a-9e8f-000000000001
name: Failed sign-in in the last 30 minutes
severity: Low
queryFrequency: 5m
queryPeriod: 30m
triggerOperator: gt
triggerThreshold: 0
query: |
  SigninLogs
  | where TimeGenerated > ago(30m)
  | where ResultType == "50126"
  | project TimeGenerated, UserPrincipalName, IPAddress
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
"#;

fn signin(time: &str, user: &str, result: &str) -> String {
    format!(
        r#"{{"TimeGenerated":"2024-05-01T{time}:00Z","Type":"SigninLogs","UserPrincipalName":"{user}@contoso.com","IPAddress":"203.0.113.7","ResultType":"{result}"}}"#
    )
}

/// A tenant of two log files and the rule: `a.jsonl`'s line 4 (mallory's failed sign-in at
/// 10:02) comes after a record of 10:12, 10 minutes behind; `b.jsonl` is in order and, live,
/// interleaves with `a.jsonl` (its 10:01 record is not late, as it would be were the files
/// read one after the other).
fn tenant(dir: &Path) -> (String, String) {
    let rules = dir.join("rules");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(rules.join("failed.yaml"), RULE).unwrap();
    let a = [
        signin("10:00", "alice", "0"),
        signin("10:05", "bob", "0"),
        signin("10:12", "carol", "0"),
        signin("10:02", "mallory", "50126"),
        signin("10:20", "dave", "0"),
    ];
    let b = [signin("10:01", "erin", "0"), signin("10:30", "frank", "0")];
    std::fs::write(logs.join("a.jsonl"), a.join("\n") + "\n").unwrap();
    std::fs::write(logs.join("b.jsonl"), b.join("\n") + "\n").unwrap();
    (rules.display().to_string(), logs.display().to_string())
}

/// (status, tick) of each lifecycle event printed by `hunt --format jsonl`.
fn lifecycle(out: &str) -> Vec<(String, String)> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["status"].as_str().unwrap().to_string(),
                v["tick"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn hunt(rules: &str, logs: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "hunt", "--rules", rules, "--logs", logs, "--format", "jsonl",
    ];
    args.extend_from_slice(extra);
    kqlflow(&args)
}

fn raised_and_closed(raised: &str) -> Vec<(String, String)> {
    vec![
        ("raised".to_string(), format!("2024-05-01T{raised}:00Z")),
        ("closed".to_string(), "2024-05-01T10:32:00Z".to_string()),
    ]
}

#[test]
fn a_late_record_is_reported_and_still_raises_its_alert_late() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    let (code, out, err) = hunt(&rules, &logs, &["--order", "arrival"]);
    assert_eq!(code, 0, "{err}");
    // Mallory's sign-in enters at the watermark (10:12 − 5m = 10:07) and leaves the 30-minute
    // window when its own window ends (10:02 + 30m).
    assert_eq!(lifecycle(&out), raised_and_closed("10:07"), "{out}");
    // Its row keeps its TimeGenerated.
    assert!(
        out.contains(r#""TimeGenerated":"2024-05-01T10:02:00Z""#),
        "{out}"
    );
    assert!(
        err.contains("late records: 1 (1 entered late, 0 rejected; arrival order, allowed lateness 5m, --late=accept)"),
        "{err}"
    );
    assert!(
        err.contains(
            "a.jsonl:4: late record: event time 2024-05-01T10:02:00Z is before the watermark 2024-05-01T10:07:00Z; entered at 2024-05-01T10:07:00Z"
        ),
        "{err}"
    );
    assert!(err.contains("SigninLogs: 7 records"), "{err}");
    assert!(err.contains("rejected lines: 0"), "{err}");
}

#[test]
fn late_reject_moves_the_record_to_the_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    let rejects = dir.path().join("rejects.jsonl");
    let (code, out, err) = hunt(
        &rules,
        &logs,
        &[
            "--order",
            "arrival",
            "--late=reject",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(lifecycle(&out), vec![], "{out}");
    assert!(
        err.contains("late records: 1 (0 entered late, 1 rejected; arrival order, allowed lateness 5m, --late=reject)"),
        "{err}"
    );
    assert!(err.contains("rejected lines: 1;"), "{err}");
    assert!(err.contains("SigninLogs: 6 records"), "{err}");
    assert!(err.contains("a.jsonl:4: late record"), "{err}");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0]["file"].as_str().unwrap().ends_with("a.jsonl"));
    assert_eq!(lines[0]["line"], 4);
    assert_eq!(lines[0]["reason"], "late record");
    assert_eq!(
        lines[0]["detail"],
        "event time 2024-05-01T10:02:00Z is before the watermark 2024-05-01T10:07:00Z"
    );
}

#[test]
fn within_the_allowed_lateness_nothing_is_late() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    let (code, out, err) = hunt(
        &rules,
        &logs,
        &["--order", "arrival", "--allowed-lateness", "1h"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(lifecycle(&out), raised_and_closed("10:02"), "{out}");
    assert!(
        err.contains(
            "late records: 0 (0 entered late, 0 rejected; arrival order, allowed lateness 1h"
        ),
        "{err}"
    );
    assert!(!err.contains("late record:"), "{err}");
}

#[test]
fn in_event_order_nothing_is_late() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    for extra in [&[][..], &["--order", "event"][..]] {
        let (code, out, err) = hunt(&rules, &logs, extra);
        assert_eq!(code, 0, "{err}");
        assert_eq!(lifecycle(&out), raised_and_closed("10:02"), "{out}");
        assert!(err.contains("late records: 0 (event-time order)"), "{err}");
        assert!(!err.contains("note:"), "{err}");
    }
    // --late without --order arrival changes nothing, and says so.
    let (code, out, err) = hunt(&rules, &logs, &["--late=reject"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lifecycle(&out), raised_and_closed("10:02"), "{out}");
    assert!(err.contains("note: --late and --allowed-lateness apply with --order arrival"));
}

#[test]
fn replay_counts_late_records_in_its_summary_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    let report = dir.path().join("report.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "--rules",
            &rules,
            "--logs",
            &logs,
            "--report",
            report.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = kqlflow(&args);
        assert_eq!(code, 0, "{err}");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        (out, err, r)
    };
    let (out, err, r) = run(&["--order", "arrival"]);
    assert!(out.starts_with("2024-05-01T10:07:00Z"), "{out}");
    assert!(
        err.contains("late records: 1 (1 entered late, 0 rejected"),
        "{err}"
    );
    assert_eq!(r["order"], "arrival");
    assert_eq!(r["allowed_lateness"], "5m");
    assert_eq!(r["late_policy"], "accept");
    assert_eq!(
        (&r["late_records"], &r["late_accepted"], &r["late_rejected"]),
        (&1.into(), &1.into(), &0.into())
    );
    assert_eq!((&r["records"], &r["rejected"]), (&7.into(), &0.into()));
    assert_eq!(r["alerts_total"], 1);

    let (out, err, r) = run(&["--order", "arrival", "--late", "reject"]);
    assert_eq!(out, "", "{out}");
    assert!(
        err.contains("late records: 1 (0 entered late, 1 rejected"),
        "{err}"
    );
    assert_eq!(
        (&r["late_records"], &r["late_accepted"], &r["late_rejected"]),
        (&1.into(), &0.into(), &1.into())
    );
    assert_eq!((&r["records"], &r["rejected"]), (&6.into(), &1.into()));
    assert_eq!(r["alerts_total"], 0);

    let (out, err, r) = run(&[]);
    assert!(out.starts_with("2024-05-01T10:02:00Z"), "{out}");
    assert!(err.contains("late records: 0 (event-time order)"), "{err}");
    assert_eq!(r["order"], "event");
    assert_eq!(r["late_records"], 0);
}

#[test]
fn a_bad_lateness_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    for lateness in ["soon", "-5m"] {
        let flag = format!("--allowed-lateness={lateness}");
        let (code, _, err) = hunt(&rules, &logs, &["--order", "arrival", &flag]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!(
                "--allowed-lateness {lateness}: not a timespan of zero or more"
            )),
            "{err}"
        );
        let (code, _, err) = kqlflow(&["replay", "--logs", &logs, &flag]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--allowed-lateness"), "{err}");
    }
    let (code, _, err) = hunt(&rules, &logs, &["--late", "drop"]);
    assert_eq!(code, 2, "{err}");
}

const T0: i64 = 1_714_557_600 * S; // 2024-05-01T10:00:00Z

fn failed_signin(t: i64, user: &str) -> Row {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let set = |row: &mut Row, col: &str, v: Value| row[table.schema.index_of(col).unwrap()] = v;
    set(&mut row, "TimeGenerated", Value::DateTime(t));
    set(&mut row, "UserPrincipalName", Value::str(user));
    set(&mut row, "ResultType", Value::str("50126"));
    set(&mut row, "Type", Value::str("SigninLogs"));
    row
}

/// The ticks at which `user` is in the result of a `where TimeGenerated > ago(window)` filter
/// over one sign-in at `t` fed at tick `entry`: (first tick present, first tick absent again).
fn presence_of(window: &str, t: i64, entry: i64) -> Option<(i64, i64)> {
    let src =
        format!("SigninLogs | where TimeGenerated > ago({window}) | project UserPrincipalName");
    let q = kqlflow::kql::parse(&src).unwrap();
    let p = plan::bind(&src, &q, Catalog::builtin(), &BindOptions::default()).unwrap();
    let rows = vec![(entry, failed_signin(t, "mallory"))];
    let changes = run_program(
        &p,
        &[("SigninLogs".to_string(), rows)],
        &[],
        &ClusterOptions::default(),
        S,
    )
    .unwrap();
    let present = |k: i64| !snapshot(&changes, k as u64).is_empty();
    let first = (0..120).map(|m| T0 + m * MIN).find(|&k| present(k))?;
    let gone = (0..120)
        .map(|m| T0 + m * MIN)
        .find(|&k| k > first && !present(k))?;
    Some((first, gone))
}

#[test]
fn a_late_record_enters_its_window_late_and_leaves_when_its_window_ends() {
    // Arrival: 10:00, 10:12, then the 10:02 record (late: the watermark is 10:07).
    let e = entries(
        [T0, T0 + 12 * MIN, T0 + 2 * MIN],
        5 * MIN,
        S,
        LatePolicy::Accept,
    );
    let entry = e[2].tick().unwrap() as i64;
    assert_eq!(entry, T0 + 7 * MIN);
    // On time it is in the 30-minute window from 10:02 to 10:32; late, from 10:07 to 10:32.
    assert_eq!(
        presence_of("30m", T0 + 2 * MIN, T0 + 2 * MIN),
        Some((T0 + 2 * MIN, T0 + 32 * MIN))
    );
    assert_eq!(
        presence_of("30m", T0 + 2 * MIN, entry),
        Some((T0 + 7 * MIN, T0 + 32 * MIN))
    );
    // A window that has ended by the time the record enters: it never shows.
    assert_eq!(presence_of("3m", T0 + 2 * MIN, entry), None);
}

#[test]
fn files_interleave_as_a_live_tail_sees_them() {
    // The tenant's two files: only a.jsonl's 10:02 record is late; read one after the other,
    // b.jsonl's 10:01 record would be late too.
    let m = |h: i64| T0 + h * MIN;
    let a = [m(0), m(5), m(12), m(2), m(20)];
    let b = [m(1), m(30)];
    let order = arrival_order(&[&a, &b]);
    let times: Vec<i64> = order
        .iter()
        .map(|&(s, i)| if s == 0 { a[i] } else { b[i] })
        .collect();
    let late: Vec<(usize, usize)> = order
        .iter()
        .zip(entries(times, 5 * MIN, S, LatePolicy::Accept))
        .filter(|(_, e)| e.is_late())
        .map(|(o, _)| *o)
        .collect();
    assert_eq!(late, vec![(0, 3)]);
    let concatenated = a.iter().chain(&b).copied();
    let late = entries(concatenated, 5 * MIN, S, LatePolicy::Accept)
        .iter()
        .filter(|e| e.is_late())
        .count();
    assert_eq!(late, 2);
}

/// One record stamped years ahead (a bad clock) is rejected as a future record, counted and
/// written to the rejects; the records after it are not made late, and the attack still
/// raises its alert, in an arrival-order hunt and in live detection.
#[test]
fn a_record_from_the_future_does_not_blind_detection() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = tenant(dir.path());
    // a.jsonl again, with a 2030 record before mallory's failure.
    let future = r#"{"TimeGenerated":"2030-01-01T00:00:00Z","Type":"SigninLogs","UserPrincipalName":"clock@contoso.com","IPAddress":"203.0.113.8","ResultType":"0"}"#;
    let a = [
        signin("10:00", "alice", "0"),
        signin("10:05", "bob", "0"),
        future.to_string(),
        signin("10:12", "carol", "0"),
        signin("10:13", "mallory", "50126"),
        signin("10:20", "dave", "0"),
    ];
    std::fs::write(Path::new(&logs).join("a.jsonl"), a.join("\n") + "\n").unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let (code, out, err) = hunt(
        &rules,
        &logs,
        &["--order", "arrival", "--rejects", rejects.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let events = lifecycle(&out);
    assert_eq!(
        events[0],
        ("raised".to_string(), "2024-05-01T10:13:00Z".to_string()),
        "{out}"
    );
    assert!(err.contains("late records: 0"), "{err}");
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        written.contains("\"reason\":\"future record\""),
        "{written}"
    );
    assert!(written.contains("a.jsonl"), "{written}");
    // Event order: the record is rejected too (it would stretch the run to 2030).
    let (code, out, err) = hunt(&rules, &logs, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lifecycle(&out)[0].1, "2024-05-01T10:13:00Z", "{out}");
    assert!(err.contains("rejected lines: 1"), "{err}");
    // --max-ahead none takes it: in arrival order, the three records after it are then late.
    let (_, _, err) = hunt(
        &rules,
        &logs,
        &["--order", "arrival", "--max-ahead", "none"],
    );
    assert!(err.contains("late records: 3"), "{err}");
    // Live detection over standard input.
    let text = std::fs::read_to_string(Path::new(&logs).join("a.jsonl")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(["detect", "--rules", &rules, "--format", "jsonl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(lifecycle(&stdout)[0].1, "2024-05-01T10:13:00Z", "{stdout}");
    assert!(stderr.contains("warning: future record"), "{stderr}");
    assert!(stderr.contains("future records rejected: 1"), "{stderr}");
}
