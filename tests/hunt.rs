//! `kqlflow hunt` over the demo tenant written as log files: each rule of the pack raises its
//! alerts once per entity key, with the tick it was raised at; a near-miss tenant raises none
//! of the rules that it misses.

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

fn rules_dir() -> String {
    format!("{}/dataflows", env!("CARGO_MANIFEST_DIR"))
}

fn allowlist(dir: &std::path::Path) -> String {
    let p = dir.join("allow.csv");
    std::fs::write(&p, "IPOrRange,Comment\n10.0.0.0/8,lab\n192.0.2.44,scanner\n198.51.100.1-198.51.100.20,partner\n").unwrap();
    format!("NetworkAllowlist={}", p.display())
}

#[test]
fn hunt_raises_each_rules_alerts_once_with_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let out_file = dir.path().join("alerts.jsonl");
    let (code, out, err) = kqlflow(&[
        "hunt",
        "--rules",
        &rules_dir(),
        "--logs",
        logs.to_str().unwrap(),
        "--watchlist",
        &allowlist(dir.path()),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // The volume anomaly: one alert for sp-a, raised at the burst's 50th sign-in.
    let volume: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("Service principal sign-in volume anomaly"))
        .collect();
    assert_eq!(volume.len(), 1, "{out}");
    assert!(volume[0].starts_with("2024-05-05T04:24:30Z"), "{out}");
    assert!(
        volume[0].contains("Account.Name=sp-a") && volume[0].contains("Account.AadUserId=sp-a-id"),
        "{out}"
    );
    // The password spray on alice: one alert for her account, however many rows and events.
    let spray: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("Failed sign-ins with the user's recent audit changes"))
        .collect();
    assert_eq!(spray.len(), 1, "{out}");
    assert!(
        spray[0].contains("Account.FullName=alice@contoso.com"),
        "{out}"
    );
    // The provisioning rollup: one alert for the Workday job, raised with its 10th failure.
    let prov: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("Provisioning Failures"))
        .collect();
    assert_eq!(prov.len(), 1, "{out}");
    assert!(prov[0].starts_with("2024-05-03T15:00:00Z"), "{out}");
    assert!(err.contains("alerts by severity:"), "{err}");
    assert!(err.contains("records/s"), "{err}");
    // The JSON Lines file holds the lifecycle, with rule metadata and rows.
    let text = std::fs::read_to_string(&out_file).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let raised = events
        .iter()
        .filter(|e| {
            e["status"] == "raised" && e["rule"] == "Service principal sign-in volume anomaly"
        })
        .count();
    assert_eq!(raised, 1);
    let v = events
        .iter()
        .find(|e| {
            e["status"] == "raised" && e["rule"] == "Service principal sign-in volume anomaly"
        })
        .unwrap();
    assert_eq!(v["severity"], "Medium");
    assert_eq!(v["tactics"][0], "Discovery");
    assert_eq!(v["rows"][0]["CurrentSignins"], 50);
    assert!(events.iter().any(
        |e| e["status"] == "updated" && e["rule"] == "Service principal sign-in volume anomaly"
    ));
    assert!(events.iter().any(
        |e| e["status"] == "closed" && e["rule"] == "Service principal sign-in volume anomaly"
    ));
}

#[test]
fn a_near_miss_raises_nothing() {
    // Only the allow-listed half of the burst and a few failures: below every threshold.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("SigninLogs.jsonl");
    let mut text = String::new();
    for k in 0..9 {
        text.push_str(&format!(
            "{{\"TimeGenerated\":\"2024-05-01T10:{k:02}:00Z\",\"UserPrincipalName\":\"alice@contoso.com\",\"IPAddress\":\"203.0.113.5\",\"ResultType\":\"50126\",\"AppDisplayName\":\"Azure Portal\",\"OperationName\":\"Sign-in activity\",\"Category\":\"SignInLogs\",\"CorrelationId\":\"c\"}}\n"
        ));
    }
    std::fs::write(&logs, text).unwrap();
    let (code, out, err) = kqlflow(&[
        "hunt",
        "--rules",
        &rules_dir(),
        "--logs",
        logs.to_str().unwrap(),
        "--watchlist",
        &allowlist(dir.path()),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim().is_empty(),
        "nine failures from one address are below the spray rule's thresholds: {out}"
    );
    assert!(err.contains("alerts by severity: none"), "{err}");
}
