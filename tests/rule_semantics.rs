//! Sentinel's rule semantics as kqlflow applies them: a scheduled rule sees only its
//! queryPeriod (on both engines), a hunting query or .kql file gets `--period` unless it filters
//! by time itself, trigger thresholds, grouping kinds, and alert details.

use std::path::Path;
use std::process::Command;

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

/// A public Sentinel rule of the corpus (`--features corpus`, with `../shared` beside the
/// checkout).
#[cfg(feature = "corpus")]
fn corpus_rule(name: &str) -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/sentinel-rules")
        .join(name);
    assert!(
        p.is_file(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        p.display()
    );
    p
}

/// An AuditLogs record of a certificate added to an application by a user, as the public rule
/// "New access credential added to Application or Service Principal" looks for.
fn credential_added(t: &str) -> String {
    let new = r#"[\"[KeyIdentifier=new-1,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=evil]\", \"[KeyIdentifier=old-1,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=old]\"]"#;
    let old = r#"[\"[KeyIdentifier=old-1,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=old]\"]"#;
    format!(
        r#"{{"TimeGenerated":"{t}","OperationName":"Update application - Certificates and secrets management","Result":"success","InitiatedBy":{{"user":{{"userPrincipalName":"mallory@contoso.com","ipAddress":"203.0.113.7"}}}},"TargetResources":[{{"type":"Application","displayName":"payroll-app","id":"app-1","modifiedProperties":[{{"displayName":"KeyDescription","newValue":"{new}","oldValue":"{old}"}}]}}],"AdditionalDetails":[{{"key":"User-Agent","value":"curl/8"}}],"CorrelationId":"c-1"}}"#
    )
}

fn other_audit(t: &str) -> String {
    format!(r#"{{"TimeGenerated":"{t}","OperationName":"Update user","Result":"success"}}"#)
}

/// `(status, tick)` of each JSON Lines alert event.
#[cfg(feature = "corpus")]
fn events(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["status"].as_str().unwrap().to_string(),
                v["tick"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The public rule (queryPeriod 1h, no time filter of its own) raises on the credential event
/// and closes it an hour later; at a tick 34 hours on, it returns nothing, on both engines.
#[cfg(feature = "corpus")]
#[test]
fn a_scheduled_rule_sees_only_its_query_period() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("AuditLogs.jsonl");
    std::fs::write(
        &logs,
        format!(
            "{}\n{}\n",
            credential_added("2024-05-01T10:00:00Z"),
            other_audit("2024-05-02T20:00:00Z")
        ),
    )
    .unwrap();
    let rule = corpus_rule("NewAppOrServicePrincipalCredential.yaml");
    let (rule, logs) = (rule.to_str().unwrap(), logs.to_str().unwrap());
    let (code, out, err) = kqlflow(&["hunt", "--rules", rule, "--logs", logs, "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        events(&out),
        vec![
            ("raised".to_string(), "2024-05-01T10:00:00Z".to_string()),
            ("closed".to_string(), "2024-05-01T11:00:00Z".to_string()),
        ],
        "{out}"
    );
    for engine in ["incremental", "batch"] {
        let rows = |at: &str| {
            let (code, out, err) = kqlflow(&[
                "run", rule, "--logs", logs, "--at", at, "--engine", engine, "--format", "csv",
            ]);
            assert_eq!(code, 0, "{err}");
            out.lines().skip(1).count()
        };
        assert_eq!(rows("2024-05-01T10:30:00Z"), 1, "{engine}");
        assert_eq!(rows("2024-05-02T20:00:00Z"), 0, "{engine}");
    }
}

/// A .kql file without a time filter reads `--period` (1d by default) back; with a time filter
/// of its own it reads what it says; `--period all` removes the window.
#[test]
fn a_query_without_its_own_time_filter_gets_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("AuditLogs.jsonl");
    std::fs::write(
        &logs,
        format!(
            "{}\n{}\n{}\n",
            other_audit("2024-05-01T10:00:00Z"),
            other_audit("2024-05-03T10:00:00Z"),
            other_audit("2024-05-05T09:00:00Z")
        ),
    )
    .unwrap();
    let q = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bare = q("bare.kql", "AuditLogs | summarize n = count()");
    let own = q(
        "own.kql",
        "AuditLogs | where TimeGenerated > ago(7d) | summarize n = count()",
    );
    let count = |query: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            query,
            "--logs",
            logs.to_str().unwrap(),
            "--at",
            "2024-05-05T09:00:00Z",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = kqlflow(&args);
        assert_eq!(code, 0, "{err}");
        out.lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(count(&bare, &[]), "1");
    assert_eq!(count(&bare, &["--period", "3d"]), "2");
    assert_eq!(count(&bare, &["--period", "all"]), "3");
    assert_eq!(count(&own, &[]), "3");
}

/// `check` warns when a scheduled rule's query reads further back than its queryPeriod, at
/// the filter's place in the file, and says which rule fields it honours and ignores.
#[test]
fn check_warns_about_a_query_that_reads_past_its_period() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("r.yaml");
    std::fs::write(
        &rule,
        "id: 00000000-0000-0000-0000-000000000001\nname: r\nseverity: Low\nkind: Scheduled\n\
         queryFrequency: 1d\nqueryPeriod: 1d\ntags:\n  - x\nquery: |\n  AuditLogs\n  | where TimeGenerated > ago(14d)\n",
    )
    .unwrap();
    let (code, out, _) = kqlflow(&["check", rule.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("r.yaml:11:11: warning: this filter reads back to now() - 14d, but the rule's queryPeriod is 1d"),
        "{out}"
    );
    assert!(out.contains("scheduled rule (raises alerts)"), "{out}");
    assert!(out.contains("ignored: tags"), "{out}");
}

const HUNTING: &str = "id: 00000000-0000-0000-0000-0000000000a1
name: Every update of a user
description: 'Hunting: who changed users.'
query: |
  AuditLogs
  | where OperationName == 'Update user'
  | project TimeGenerated, OperationName, CorrelationId
";

const DETECTION: &str = "id: 00000000-0000-0000-0000-0000000000a2
name: Credential added
severity: High
kind: Scheduled
queryFrequency: 1h
queryPeriod: 1d
triggerOperator: gt
triggerThreshold: 1
query: |
  AuditLogs
  | where OperationName has 'Certificates and secrets'
  | project TimeGenerated, OperationName, CorrelationId
alertDetailsOverride:
  alertDisplayNameFormat: 'Credential change {{CorrelationId}}'
customDetails:
  Operation: OperationName
";

/// Writes the two rules and a log with `n` credential events (10 s apart from 10:00) and two
/// user updates; returns
/// (rules folder, log file).
fn pack_and_log(dir: &Path, n: usize) -> (String, String) {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("hunting.yaml"), HUNTING).unwrap();
    std::fs::write(rules.join("detection.yaml"), DETECTION).unwrap();
    let mut log = String::new();
    log.push_str(&other_audit("2024-05-01T09:00:00Z"));
    log.push('\n');
    for i in 0..n {
        log.push_str(
            &credential_added(&format!(
                "2024-05-01T{:02}:{:02}:{:02}Z",
                10 + i * 10 / 3600,
                i * 10 / 60 % 60,
                i * 10 % 60
            ))
            .replace("\"c-1\"", &format!("\"c-{i}\"")),
        );
        log.push('\n');
    }
    log.push_str(&other_audit("2024-05-01T23:00:00Z"));
    log.push('\n');
    let logs = dir.join("AuditLogs.jsonl");
    std::fs::write(&logs, log).unwrap();
    (
        rules.to_str().unwrap().to_string(),
        logs.to_str().unwrap().to_string(),
    )
}

/// Hunting queries' rows are results, not alerts: off the alert stream, counted in the
/// summary, shown with --include-hunting and written to --hunting-out. A scheduled rule's
/// trigger threshold (more than 1 row) holds its alerts back until the second row; its title
/// comes from alertDisplayNameFormat and its custom details from customDetails.
#[test]
fn hunting_results_apart_thresholds_and_details() {
    let dir = tempfile::tempdir().unwrap();
    let (rules, logs) = pack_and_log(dir.path(), 2);
    let base = [
        "hunt", "--rules", &rules, "--logs", &logs, "--format", "jsonl",
    ];
    let (code, out, err) = kqlflow(&base);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().all(|e| e["kind"] == "alert"), "{out}");
    // Two credential rows: both alerts raise at the second (the threshold is > 1 row).
    let raised: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["status"] == "raised")
        .map(|e| (e["tick"].as_str().unwrap(), e["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        raised,
        vec![
            ("2024-05-01T10:00:10Z", "Credential change c-0"),
            ("2024-05-01T10:00:10Z", "Credential change c-1"),
        ],
        "{out}"
    );
    assert_eq!(
        events[0]["custom_details"]["Operation"],
        "Update application - Certificates and secrets management"
    );
    assert!(err.contains("hunting results"), "{err}");
    assert!(err.contains("Every update of a user: 2 result(s)"), "{err}");
    // With --include-hunting they are in the stream, marked as hunting results.
    let hunting_file = dir.path().join("hunting.jsonl");
    let (code, out, err) = kqlflow(
        &[
            &base[..],
            &[
                "--include-hunting",
                "--hunting-out",
                hunting_file.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let hunting = out
        .lines()
        .filter(|l| l.contains("\"kind\":\"hunting\""))
        .count();
    assert_eq!(hunting, 4, "{out}"); // two raised, two closed a day later
    let written = std::fs::read_to_string(&hunting_file).unwrap();
    assert_eq!(written.lines().count(), 4, "{written}");
    // --min-severity high keeps the High alerts; critical is not a severity.
    let (code, out, _) = kqlflow(&[&base[..], &["--min-severity", "high"]].concat());
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 4, "{out}");
    let (code, _, err) = kqlflow(&[&base[..], &["--min-severity", "critical"]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("expected informational, low, medium or high"),
        "{err}"
    );
}

/// One alert gathering thousands of rows writes output linear in its changes: with --updates,
/// each of 2 000 rows entering is one update holding that row, not the key's rows so far.
#[test]
fn the_jsonl_of_a_run_is_linear_in_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("single.yaml");
    std::fs::write(
        &rule,
        DETECTION.replace(
            "customDetails:",
            "eventGroupingSettings:\n  aggregationKind: SingleAlert\ncustomDetails:",
        ),
    )
    .unwrap();
    let (_, logs) = pack_and_log(dir.path(), 2000);
    let (code, out, err) = kqlflow(&[
        "hunt",
        "--rules",
        rule.to_str().unwrap(),
        "--logs",
        &logs,
        "--format",
        "jsonl",
        "--updates",
    ]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: usize = events
        .iter()
        .map(|e| e["rows"].as_array().map_or(0, Vec::len))
        .sum();
    let removed: usize = events
        .iter()
        .map(|e| e["removed"].as_array().map_or(0, Vec::len))
        .sum();
    // One raise with the first two rows, 1 998 updates adding one row each, 1 998 removing
    // one each as the rows leave the 1-day period, one close: no more rows than changes, and
    // a few hundred bytes per change.
    assert_eq!(events[0]["status"], "raised");
    assert_eq!(events[0]["count"], 2);
    assert_eq!(
        events.iter().filter(|e| e["status"] == "updated").count(),
        2 * 1998
    );
    assert_eq!((rows, removed), (2000, 1998));
    assert!(out.len() < 2000 * 2000, "{} bytes", out.len());
    assert_eq!(events.last().unwrap()["status"], "closed");
}

/// `hunt --out f | head -1`: the file is complete and the exit code says stdout closed.
#[test]
fn a_closed_stdout_leaves_the_out_file_complete() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // More output than a pipe holds, so the writer meets the closed pipe.
    let (rules, logs) = pack_and_log(dir.path(), 400);
    let out_file = dir.path().join("alerts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args([
            "hunt", "--rules", &rules, "--logs", &logs, "--format", "jsonl",
        ])
        .arg("--out")
        .arg(&out_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let written = std::fs::read_to_string(&out_file).unwrap();
    // 400 raised and 400 closed.
    assert_eq!(written.lines().count(), 800);
    assert!(!status.success());
}
