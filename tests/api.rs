//! The library API: a rule pack loaded and a folder of logs hunted in a few calls, with the
//! alerts the command line prints.

use kqlflow::alerts::Status;
use kqlflow::api::{HuntOptions, RulePack, hunt};

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
    let summary = hunt(&pack, std::slice::from_ref(&logs), &options, &mut |a| {
        if a.event.status == Status::Raised {
            raised.push((a.rule.name.clone(), a.event.tick));
        }
    })
    .unwrap();
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
