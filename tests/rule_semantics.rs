//! Sentinel's rule semantics as kqlflow applies them: a scheduled rule sees only its
//! queryPeriod (on both engines), a hunting query or .kql file gets `--period` unless it filters
//! by time itself, trigger thresholds, grouping kinds, and alert details.

use std::path::{Path, PathBuf};
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

fn corpus_rule(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/sentinel-rules")
        .join(name)
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
