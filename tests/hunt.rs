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

/// `hunt` over the built-in pack's folder and `logs`, with the test allowlist written into
/// `dir`, and `extra` arguments.
fn hunt_pack(
    dir: &std::path::Path,
    logs: &std::path::Path,
    extra: &[&str],
) -> (i32, String, String) {
    let rules = rules_dir();
    let allow = allowlist(dir);
    let mut args = vec![
        "hunt",
        "--rules",
        &rules,
        "--logs",
        logs.to_str().unwrap(),
        "--watchlist",
        &allow,
    ];
    args.extend_from_slice(extra);
    kqlflow(&args)
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
    let (code, out, err) = hunt_pack(
        dir.path(),
        &logs,
        &["--include-hunting", "--out", out_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    // Exactly the expected alerts, once each, with their entities and the tick they were
    // raised at, in time order.
    let raised: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        raised,
        vec![
            "2024-05-01T00:05:00Z Informational Service principal sign-ins to Microsoft Graph Account.Name=sp-a IP.Address=203.0.113.50",
            "2024-05-01T02:00:00Z Low Rare audit activity initiated by an application Account.FullName=bob@contoso.com Host.HostName= IP.Address=203.0.113.9",
            "2024-05-03T03:00:00Z Medium Failed sign-ins with the user's recent audit changes Account.FullName=alice@contoso.com",
            "2024-05-03T04:00:00Z Low Rare audit activity initiated by an application Account.FullName=alice@contoso.com Host.HostName= IP.Address=203.0.113.9",
            "2024-05-03T12:00:00Z Low Service principal sign-in failures Account.Name=sp-b IP.Address=203.0.113.77",
            "2024-05-03T15:00:00Z Medium HUNT-01 Provisioning Failures by Job and Error (30d) CloudApplication.Name=Workday",
            "2024-05-04T23:20:00Z Informational Azure operations made by service principals and managed identities, with their sign-ins Account.Name=mi-1 IP.Address=10.2.3.4",
            "2024-05-04T23:30:00Z Informational Directory changes made by service principals and managed identities, with their sign-ins Account.Name=sp-a",
            "2024-05-04T23:40:00Z Informational Azure operations made by service principals and managed identities, with their sign-ins Account.Name=sp-a IP.Address=203.0.113.50",
            "2024-05-05T01:30:00Z Medium Credentials added to a service principal that was signing in Account.Name=sp-a IP.Address=198.51.100.66",
            "2024-05-05T04:24:30Z Medium Service principal sign-in volume anomaly Account.AadUserId=sp-a-id Account.Name=sp-a",
        ],
        "{out}"
    );
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
    assert_eq!(v["title"], "Service principal sign-in volume anomaly");
    assert_eq!(v["kind"], "alert");
    assert_eq!(v["count"], 1);
    // Raised and closed by default; updates only on request.
    assert!(!events.iter().any(|e| e["status"] == "updated"));
    assert!(events.iter().any(
        |e| e["status"] == "closed" && e["rule"] == "Service principal sign-in volume anomaly"
    ));
    let (code, out, err) = hunt_pack(dir.path(), &logs, &["--format", "jsonl", "--updates"]);
    assert_eq!(code, 0, "{err}");
    let updates: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| {
            e["status"] == "updated" && e["rule"] == "Service principal sign-in volume anomaly"
        })
        .collect();
    // The count grows by one sign-in at a time: each update replaces the key's one row, and
    // carries the row added and the row removed, not the key's whole history.
    assert!(!updates.is_empty());
    let first = &updates[0];
    assert_eq!(first["rows"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["removed"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["rows"][0]["CurrentSignins"], 51, "{first}");
    assert_eq!(first["removed"][0]["CurrentSignins"], 50, "{first}");
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
    let (code, out, err) = hunt_pack(dir.path(), &logs, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim().is_empty(),
        "nine failures from one address are below the spray rule's thresholds: {out}"
    );
    assert!(err.contains("alerts by severity: none"), "{err}");
}

#[test]
fn alerts_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let (code, out, err) = hunt_pack(dir.path(), &logs, &["--include-hunting", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        rdr.headers().unwrap().iter().collect::<Vec<_>>(),
        vec![
            "tick", "severity", "rule", "rule_id", "title", "entities", "rows"
        ]
    );
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 11);
    let volume = recs
        .iter()
        .find(|r| &r[2] == "Service principal sign-in volume anomaly")
        .unwrap();
    assert_eq!(&volume[0], "2024-05-05T04:24:30Z");
    assert_eq!(&volume[4], "Service principal sign-in volume anomaly");
    assert_eq!(&volume[5], "Account.AadUserId=sp-a-id; Account.Name=sp-a");
    let rows: serde_json::Value = serde_json::from_str(&volume[6]).unwrap();
    assert_eq!(rows[0]["CurrentSignins"], 50);
}

/// `hunt` without --rules runs the built-in pack; its summary lists incidents first (alice's
/// two alerts an hour apart are one incident, as are sp-a's credential and volume alerts) and
/// --incidents-out writes them; --only-rule and --tactic choose the rules run.
#[test]
fn incidents_and_rule_filters() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let incidents = dir.path().join("incidents.jsonl");
    let allow = allowlist(dir.path());
    let base = [
        "hunt",
        "--logs",
        logs.to_str().unwrap(),
        "--watchlist",
        &allow,
    ];
    let (code, out, err) =
        kqlflow(&[&base[..], &["--incidents-out", incidents.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 7, "{out}");
    let summary = err.split("summary:").nth(1).unwrap();
    assert!(
        summary
            .trim_start()
            .starts_with("incidents: 5 (Medium 3, Low 2)"),
        "{err}"
    );
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&incidents)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), 5);
    let alice = written
        .iter()
        .find(|i| {
            i["entities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "alice@contoso.com")
        })
        .unwrap();
    assert_eq!(alice["alerts"], 2, "{alice}");
    assert_eq!(alice["severity"], "Medium");
    assert_eq!(
        alice["title"],
        "Failed sign-ins with the user's recent audit changes"
    );
    // Highest severity first, then time.
    assert_eq!(written[0]["severity"], "Medium");
    assert_eq!(written[4]["severity"], "Low");
    // Per rule, nothing groups.
    let (_, _, err) = kqlflow(&[&base[..], &["--incidents", "per-rule"]].concat());
    assert!(err.contains("incidents: 7"), "{err}");
    // One rule by name; rules by technique (T1110, brute force: the failed sign-ins and the
    // service principal sign-in failures rules).
    let (code, out, err) = kqlflow(&[&base[..], &["--only-rule", "volume anomaly"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains("1 rule(s)"), "{err}");
    let (code, out, err) = kqlflow(&[&base[..], &["--tactic", "T1110"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines().all(
            |l| l.contains("Failed sign-ins with the user's recent audit changes")
                || l.contains("Service principal sign-in failures")
        ),
        "{out}"
    );
    let (code, _, err) = kqlflow(&[&base[..], &["--only-rule", "no such rule"]].concat());
    assert_eq!(code, 2, "{err}");
}

/// A rule reading a watchlist that is not given, or given without the column it reads, is
/// run with a note on standard error (as `check` says); `--strict` refuses to run it. Two
/// rules with one id are an error.
#[test]
fn watchlist_notes_strict_and_duplicate_ids() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let logs = logs.to_str().unwrap();
    let volume = format!("{}/sp_signin_volume_anomaly.yaml", rules_dir());
    let no_column = dir.path().join("allow.csv");
    std::fs::write(&no_column, "Range,Comment\n10.0.0.0/8,lab\n").unwrap();
    let wrong = format!("NetworkAllowlist={}", no_column.display());
    let (code, _, err) = kqlflow(&[
        "hunt",
        "--rules",
        &volume,
        "--logs",
        logs,
        "--watchlist",
        &wrong,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("sp_signin_volume_anomaly.yaml: note: union isfuzzy=true skips"),
        "{err}"
    );
    assert!(err.contains("unknown column 'IPOrRange'"), "{err}");
    let (code, _, err) = kqlflow(&["hunt", "--rules", &volume, "--logs", logs]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: watchlist 'NetworkAllowlist' has no file"),
        "{err}"
    );
    let (code, out, err) = kqlflow(&["hunt", "--rules", &volume, "--logs", logs, "--strict"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("error: --strict: not run"), "{err}");
    let (code, _, err) = kqlflow(&["check", &volume, "--watchlist", &wrong, "--strict"]);
    assert_eq!(code, 1, "{err}");
    // The same rule twice under two names.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let text = std::fs::read_to_string(&volume).unwrap();
    std::fs::write(rules.join("a.yaml"), &text).unwrap();
    std::fs::write(rules.join("b.yaml"), &text).unwrap();
    let (code, _, err) = kqlflow(&["hunt", "--rules", rules.to_str().unwrap(), "--logs", logs]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("b.yaml: error: rule id"), "{err}");
    assert!(err.contains("is also the id of"), "{err}");
}

/// `hunt --report` writes one self-contained HTML page: the run's tables, the incidents, the
/// timeline, the entity table and the ATT&CK matrix of the demo tenant's alerts.
#[test]
fn hunt_writes_its_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let page = dir.path().join("report.html");
    let (code, out, err) = hunt_pack(dir.path(), &logs, &["--report", page.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 7, "{out}");
    assert!(
        err.contains(&format!("report: {}", page.display())),
        "{err}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing fetched.
    assert!(!html.contains("src=\"http") && !html.contains("<link"));
    assert!(
        html.contains("<div class=\"big\">7</div><div>alerts</div>"),
        "{html}"
    );
    assert!(html.contains("<div class=\"big\">5</div><div>incidents</div>"));
    assert_eq!(html.matches("<tr class=\"incident\"").count(), 5);
    let timeline = html.split("<svg id=\"timeline\"").nth(1).unwrap();
    let timeline = timeline.split("</svg>").next().unwrap();
    assert!(
        timeline.matches("<g class=\"lane\"").count() >= 5,
        "{timeline}"
    );
    // Every bar tells its count.
    assert_eq!(
        timeline.matches("<title>").count(),
        timeline.matches("<rect").count()
    );
    // alice's two alerts, an hour apart, in her entity's rows.
    let alice = html
        .split("data-ent=\"account alice@contoso.com\">")
        .nth(1)
        .unwrap();
    let alice = alice.split("</tbody>").next().unwrap();
    assert_eq!(
        alice.matches("<tr class=\"ent-alert\"").count(),
        2,
        "{alice}"
    );
    assert!(html.contains("<div id=\"mitre-matrix\""));
    assert!(
        html.contains("T1110 <b>"),
        "the brute-force technique fired"
    );
    // The run: the tables read with their span, the rules with their records read.
    assert!(html.contains("<td>SigninLogs</td>"), "{html}");
    assert!(html.contains("<table id=\"rules\">"));
    assert!(!html.contains("id=\"replay\""));
}
