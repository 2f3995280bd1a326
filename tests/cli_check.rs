//! `kqlflow check` and `kqlflow explain` as a user runs them.

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

/// The seed queries of the public corpus (`--features corpus`, with `../shared` beside the
/// checkout).
#[cfg(feature = "corpus")]
fn seeds() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/seed-queries");
    assert!(
        p.is_dir(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        p.display()
    );
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn help_has_examples() {
    for sub in ["check", "explain"] {
        let (code, out, _) = kqlflow(&[sub, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("Example"), "{sub}: {out}");
    }
}

#[cfg(feature = "corpus")]
#[test]
fn check_prints_columns_of_good_seeds() {
    let dir = seeds();
    let yaml = dir.join("provisioning_failures_by_job_error.yaml");
    let kql = dir.join("rare_audit_activity_by_app.kql");
    let (code, out, err) = kqlflow(&["check", s(&yaml), s(&kql)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{}: OK\n    JobId: string\n    SPName: string\n",
            s(&yaml)
        )),
        "{out}"
    );
    assert!(out.contains("    Sustained: bool\n"), "{out}");
    assert!(
        out.contains(&format!("{}: OK\n    InitiatedByApp: string\n", s(&kql))),
        "{out}"
    );
    assert!(out.contains("    IPCustomEntity: string\n"), "{out}");
}

#[cfg(feature = "corpus")]
#[test]
fn check_prints_positions_of_bad_seeds_and_fails() {
    let dir = seeds();
    let a = dir.join("sp_signin_failures_blog.kql");
    let b = dir.join("sp_credential_added_while_active_blog.kql");
    let good = dir.join("sp_graph_signins_blog.kql");
    let (code, out, _) = kqlflow(&["check", s(&a), s(&good), s(&b)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{}:7:89: error: ", s(&a))), "{out}");
    assert!(out.contains(&format!("{}:7:94: error: ", s(&b))), "{out}");
    assert!(out.contains(&format!("{}: OK", s(&good))), "{out}");
    // The source line and a caret follow.
    assert!(out.contains("count() as applicationCount"), "{out}");
    assert!(out.contains("^^^"), "{out}");
}

#[test]
fn check_of_the_built_in_pack_folder() {
    // `kqlflow check dataflows/*`: every rule of the pack OK with its columns and kind, the
    // README skipped, exit code 0.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(|p| s(p)))
        .collect();
    let (code, out, err) = kqlflow(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": OK\n").count(), 9, "{out}");
    assert!(out.contains("README.md: skipped"), "{out}");
    let prov = dir.join("provisioning_failures_by_job_error.yaml");
    assert!(
        out.contains(&format!(
            "{}: OK\n    JobId: string\n    SPName: string\n",
            s(&prov)
        )),
        "{out}"
    );
    let rare = dir.join("rare_audit_activity_by_app.yaml");
    assert!(
        out.contains(&format!("{}: OK\n    InitiatedByApp: string\n", s(&rare))),
        "{out}"
    );
    assert_eq!(
        out.matches("scheduled rule (raises alerts)").count(),
        6,
        "{out}"
    );
    assert_eq!(
        out.matches("hunting query (gives results)").count(),
        3,
        "{out}"
    );
}

#[test]
fn yaml_rule_errors_point_into_the_yaml_file() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("rule.yaml");
    std::fs::write(
        &rule,
        "id: 1\nname: test\nqueryPeriod: 2h\nquery: |\n  SigninLogs\n  | where TimeGenerated > ago(1h)\n  | where UserPrincipalNam == 'x'\n",
    )
    .unwrap();
    let (code, out, _) = kqlflow(&["check", s(&rule)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{}:7:11: error: unknown column 'UserPrincipalNam'",
            s(&rule)
        )),
        "{out}"
    );
    assert!(
        out.contains("7 |   | where UserPrincipalNam == 'x'"),
        "{out}"
    );
    let (code, out, _) = kqlflow(&["explain", s(&rule)]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn watchlists_and_period() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.kql");
    std::fs::write(
        &q,
        "_GetWatchlist('Allow') | project IPOrRange, Comment, SearchKey\n",
    )
    .unwrap();
    let (code, out, _) = kqlflow(&["check", s(&q)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("note: watchlist 'Allow' has no file"), "{out}");
    let csv = dir.path().join("allow.csv");
    std::fs::write(&csv, "IPOrRange,Comment\n10.0.0.0/8,lab\n").unwrap();
    let arg = format!("Allow={}", s(&csv));
    let (code, out, _) = kqlflow(&["check", s(&q), "--watchlist", &arg]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("note:"), "{out}");
    assert!(out.contains("    Comment: string\n"), "{out}");
    std::fs::write(&csv, "IPOrRange\n10.0.0.0/8\n").unwrap();
    let (code, out, _) = kqlflow(&["check", s(&q), "--watchlist", &arg]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("q.kql:1:45: error: unknown column 'Comment'"),
        "{out}"
    );

    let t = dir.path().join("t.kql");
    std::fs::write(
        &t,
        "SigninLogs | where TimeGenerated >= todatetime('{{StartTimeISO}}')",
    )
    .unwrap();
    let (code, out, _) = kqlflow(&["explain", s(&t), "--period", "3d"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[temporal #"), "{out}");
    assert!(out.contains(">= now() - 3.00:00:00]"), "{out}");
    let (code, _, err) = kqlflow(&["check", s(&t), "--period", "soon"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = kqlflow(&["check", s(&t), "--watchlist", "nonsense"]);
    assert_eq!(code, 2, "{err}");
}

#[cfg(feature = "corpus")]
#[test]
fn check_of_the_whole_seed_folder() {
    // `kqlflow check ../shared/corpus/seed-queries/*`: the five valid queries OK with their
    // columns, the two known-bad with every position, the README skipped, exit code 1.
    let dir = seeds();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(|p| s(p)))
        .collect();
    let (code, out, _) = kqlflow(&args);
    assert_eq!(code, 1, "{out}");
    for ok in [
        "failed_signins_with_audit_details.kql: OK",
        "provisioning_failures_by_job_error.yaml: OK",
        "rare_audit_activity_by_app.kql: OK",
        "sp_graph_signins_blog.kql: OK",
        "sp_signin_volume_anomaly.kql: OK",
    ] {
        assert!(out.contains(ok), "{ok} missing from:\n{out}");
    }
    assert!(out.contains("    DeviationScore: real"), "{out}");
    assert!(out.contains("    Sustained: bool"), "{out}");
    assert!(
        out.contains("sp_signin_failures_blog.kql:7:89: error: `as` is not valid"),
        "{out}"
    );
    assert!(out.contains("sp_credential_added_while_active_blog.kql:7:94: error: expected an expression after ','"), "{out}");
    assert!(out.contains("sp_credential_added_while_active_blog.kql:9:134: error: expected an expression after ','"), "{out}");
    assert!(out.contains("README.md: skipped"), "{out}");
    assert_eq!(out.matches(": OK").count(), 5, "{out}");
}

/// `explain` prints the plan as written, then the plan the incremental engine runs, with the
/// filter written after the extend moved onto the scan.
#[test]
fn explain_prints_the_plan_after_pushdown() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q.kql");
    std::fs::write(
        &q,
        "SigninLogs | extend x = 1 | where UserPrincipalName == 'a'\n",
    )
    .unwrap();
    let (code, out, _) = kqlflow(&["explain", s(&q)]);
    assert_eq!(code, 0, "{out}");
    let (written, pushed) = out
        .split_once("after pushdown:\n")
        .unwrap_or_else(|| panic!("{out}"));
    fn order(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| ["Filter", "Map", "Scan"].contains(w))
            .collect()
    }
    // The query has no time filter: the look-back window (--period, 1d) sits on the scan,
    // and the pushed-down filter merges with it.
    assert_eq!(order(written), ["Filter", "Map", "Filter", "Scan"], "{out}");
    assert!(
        written.contains("[temporal #84 > now() - 1.00:00:00]"),
        "{out}"
    );
    assert_eq!(order(pushed), ["Map", "Filter", "Scan"], "{out}");
    let q = dir.path().join("same.kql");
    std::fs::write(&q, "SigninLogs | where UserPrincipalName == 'a'\n").unwrap();
    let (code, out, _) = kqlflow(&["explain", s(&q), "--period", "all"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("after pushdown: unchanged"), "{out}");
}

/// A query too deep to run is refused with its position, whatever its length (20 000 chained
/// `where`s used to overflow the stack); one just under the limit runs on both engines.
#[test]
fn a_query_deeper_than_the_limit_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep.kql");
    let chain = |n: usize| {
        let mut q = String::from("SigninLogs");
        for i in 0..n {
            q.push_str(&format!(" | where UserPrincipalName != \"u{i}\""));
        }
        q
    };
    std::fs::write(&deep, chain(20_000)).unwrap();
    let (code, out, _) = kqlflow(&["check", s(&deep)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than 256 operators deep"), "{out}");
    let logs = dir.path().join("SigninLogs.jsonl");
    std::fs::write(
        &logs,
        "{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"UserPrincipalName\":\"a\"}\n",
    )
    .unwrap();
    let (code, _, err) = kqlflow(&["run", s(&deep), "--logs", s(&logs)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("more than 256 operators deep"), "{err}");
    // 127 wheres and 127 extends: a plan 256 deep.
    let mut q = String::from("SigninLogs");
    for i in 0..127 {
        q.push_str(&format!(
            " | where UserPrincipalName != \"u{i}\" | extend c{i} = {i}"
        ));
    }
    q.push_str(" | project UserPrincipalName, c126");
    let ok = dir.path().join("ok.kql");
    std::fs::write(&ok, q).unwrap();
    for engine in ["incremental", "batch"] {
        let (code, out, err) = kqlflow(&[
            "run",
            s(&ok),
            "--logs",
            s(&logs),
            "--engine",
            engine,
            "--format",
            "csv",
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        assert_eq!(out.lines().nth(1), Some("a,126"), "{engine}: {out}");
    }
}
