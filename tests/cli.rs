//! The `kqlflow` binary as a user runs it.

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

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in [
        &["--help"][..],
        &["inspect", "--help"],
        &["demo", "--help"],
        &["check", "--help"],
        &["explain", "--help"],
        &["run", "--help"],
        &["hunt", "--help"],
        &["replay", "--help"],
        &["detect", "--help"],
        &["generate", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let (code, out, _) = kqlflow(sub);
        assert_eq!(code, 0);
        assert!(out.contains("Example"), "{sub:?}: {out}");
    }
}

#[test]
fn dash_h_is_help_in_every_command_and_the_hostfile_is_long_only() {
    for sub in [
        "inspect",
        "check",
        "explain",
        "run",
        "hunt",
        "detect",
        "replay",
        "demo",
        "generate",
        "completions",
        "man",
    ] {
        let (code, out, err) = kqlflow(&[sub, "-h"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(out.starts_with(char::is_uppercase), "{sub}: {out}");
        assert!(
            out.contains(&format!("Usage: kqlflow {sub}")),
            "{sub}: {out}"
        );
    }
    for sub in ["run", "hunt", "replay"] {
        let (code, out, _) = kqlflow(&[sub, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("--hostfile <FILE>"), "{sub}: {out}");
        assert!(out.contains("-w, --workers"), "{sub}: {out}");
        assert!(out.contains("-n, --processes"), "{sub}: {out}");
        assert!(out.contains("-p, --process"), "{sub}: {out}");
    }
}

#[test]
fn version_names_the_crate_version_and_the_commit() {
    let (code, out, _) = kqlflow(&["--version"]);
    assert_eq!(code, 0);
    let line = out.trim_end();
    let expected = format!("kqlflow {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected), "{line}");
    // Built from a git checkout: its commit; from a source tree without history: said so.
    let commit = line[expected.len()..].trim_end_matches(')');
    let known = commit
        .strip_prefix("commit ")
        .is_some_and(|h| h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(known || commit == "unknown commit", "{line}");
    let (code, short, _) = kqlflow(&["-V"]);
    assert_eq!(code, 0);
    assert_eq!(short, out);
}

#[test]
fn bash_completion_completes_commands_and_options() {
    let (code, script, _) = kqlflow(&["completions", "bash"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kqlflow.bash");
    std::fs::write(&path, &script).unwrap();
    // Source the script and ask its completion function what follows the words typed, as bash
    // does at a Tab.
    let complete = |words: &[&str]| -> Vec<String> {
        let cword = words.len() - 1;
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let prog = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
             _kqlflow kqlflow '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            quoted.join(" "),
            words.join(" "),
            words[cword],
            words[cword.saturating_sub(1)],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &prog])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(complete(&["kqlflow", "hu"]), vec!["hunt"]);
    assert_eq!(complete(&["kqlflow", "hunt", "--host"]), vec!["--hostfile"]);
    let shells = complete(&["kqlflow", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|s| s == shell), "{shells:?}");
    }
}

#[test]
fn completion_scripts_for_other_shells_name_every_command() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, err) = kqlflow(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["hunt", "replay", "detect", "hostfile", "completions"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let (code, _, err) = kqlflow(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values"), "{err}");
}

#[test]
fn man_page_documents_every_command() {
    let (code, page, _) = kqlflow(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH kqlflow 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in [
        "inspect", "check", "run", "hunt", "detect", "replay", "demo", "man",
    ] {
        assert!(
            page.contains(&format!("kqlflow\\-{sub}(1)")),
            "{sub}: {page}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let (code, _, err) = kqlflow(&["man", "--dir", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let hunt = std::fs::read_to_string(out.join("kqlflow-hunt.1")).unwrap();
    assert!(hunt.contains(".TH kqlflow-hunt 1"), "{hunt}");
    // Options as clap defines them, roff-escaped.
    assert!(hunt.contains("\\-\\-hostfile"), "{hunt}");
    assert!(hunt.contains("\\-\\-rules"), "{hunt}");
    assert!(out.join("kqlflow.1").is_file());
}

#[test]
fn inspect_reports_tables_rejects_and_unknown_columns() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("SigninLogs.jsonl");
    std::fs::write(
        &logs,
        "{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"UserPrincipalName\":\"a@b.c\",\"Extra\":1}\n{\"TimeGenerated\":\n",
    )
    .unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let (code, out, err) = kqlflow(&[
        "inspect",
        logs.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 row(s) read, 1 rejected"), "{out}");
    assert!(out.contains("SigninLogs"), "{out}");
    assert!(out.contains("2024-05-01T10:00:00Z"), "{out}");
    assert!(out.contains("columns the schema lacks: Extra (1)"), "{out}");
    assert!(out.contains("SigninLogs.jsonl:2: truncated JSON"), "{out}");
    let kept = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(kept.lines().count(), 1);

    let (code, out, _) = kqlflow(&["inspect", logs.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["tables"]["SigninLogs"]["rows"], 1);
    assert_eq!(report["rejects"]["MalformedJson"]["count"], 1);
}

#[test]
fn usage_errors_are_clear() {
    let (code, _, err) = kqlflow(&["inspect", "x.json", "--table", "SignInLog"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean SigninLogs"), "{err}");
    let (code, _, err) = kqlflow(&["inspect"]);
    assert_eq!(code, 2);
    assert!(err.contains("PATH"), "{err}");
    let (code, out, _) = kqlflow(&["inspect", "/no/such/file.json"]);
    assert_eq!(code, 0);
    assert!(out.contains("unreadable: 1"), "{out}");
}

#[test]
fn demo_runs_on_the_built_in_data() {
    let (code, out, err) = kqlflow(&["demo"]);
    assert_eq!(code, 0, "{err}");
    // Every labelled attack of the generated tenant is alerted (or found by its hunting
    // query) by its rule, and nothing else.
    assert!(
        err.contains("recall: 20 of 20 labelled attacks alerted (or, for a hunting query, found) by the rule meant for them; 0 alert(s) or result(s) no label explains"),
        "{err}"
    );
    // The summary: incidents first, then the figures, with the three
    // hunting queries' results apart from the twelve alerts.
    let summary = err.split("replay summary:").nth(1).unwrap_or_default();
    assert!(summary.trim_start().starts_with("incidents: "), "{err}");
    assert!(err.contains("alerts: 12\n"), "{err}");
    assert!(err.contains("hunting results (not alerts"), "{err}");
    assert!(
        err.contains("sp_signins_with_audit_actions.yaml: 4 result(s)"),
        "{err}"
    );
    assert!(err.contains("9 of 9 rules fired"), "{err}");
    assert!(err.contains("13 row(s) read, 0 rejected"), "{err}");
    assert!(err.contains("tick latency over"), "{err}");
    // The alerts are printed as they are raised, in time order.
    let ticks: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ticks.len(), 13, "{out}"); // the heading, then twelve alerts
    let mut sorted = ticks[1..].to_vec();
    sorted.sort();
    assert_eq!(&ticks[1..], &sorted[..]);
    assert!(
        out.contains("Medium        Service principal sign-in volume anomaly"),
        "{out}"
    );
}

/// `--watchlist NAME=FILE.csv@DATETIME` gives a later version of a watchlist: the result
/// follows it from that time on, on both engines.
#[test]
fn run_follows_a_watchlist_that_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let mut logs = String::new();
    for m in [0, 10, 20, 40] {
        logs.push_str(&format!(
            "{{\"TimeGenerated\":\"2024-05-01T10:{m:02}:00Z\",\"UserPrincipalName\":\"alice@contoso.com\",\"IPAddress\":\"203.0.113.5\",\"ResultType\":\"0\"}}\n"
        ));
    }
    std::fs::write(p("SigninLogs.jsonl"), logs).unwrap();
    std::fs::write(p("v1.csv"), "SearchKey,Level\nalice@contoso.com,high\n").unwrap();
    std::fs::write(p("v2.csv"), "SearchKey,Level\nbob@contoso.com,high\n").unwrap();
    std::fs::write(
        p("q.kql"),
        "SigninLogs | join kind=leftanti (_GetWatchlist('Vip') | project UserPrincipalName = SearchKey) on UserPrincipalName | project TimeGenerated, UserPrincipalName",
    )
    .unwrap();
    let v1 = format!("Vip={}", p("v1.csv"));
    let v2 = format!("Vip={}@2024-05-01T10:30:00Z", p("v2.csv"));
    fn base<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["run", "--tick", "1m", "--format", "csv"];
        a.extend_from_slice(extra);
        a
    }
    let q = p("q.kql");
    let l = p("SigninLogs.jsonl");
    // `--period all`: the query reads every record, with no look-back window.
    let common = [
        q.as_str(),
        "--logs",
        l.as_str(),
        "--watchlist",
        v1.as_str(),
        "--watchlist",
        v2.as_str(),
        "--period",
        "all",
    ];
    // The change stream: alice leaves the watchlist at 10:30, so her three sign-ins so far
    // enter the anti-join then, and the fourth when it comes.
    let (code, out, err) = kqlflow(&[base(&["--changes"]), common.to_vec()].concat());
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("2024-05-01T10:30:00"))
            .count(),
        3,
        "{out}"
    );
    assert!(lines.iter().all(|l| l.contains(",1,")), "{out}");
    // Snapshots before and after, on both engines.
    for engine in ["incremental", "batch"] {
        let (code, before, err) = kqlflow(
            &[
                base(&["--at", "2024-05-01T10:25:00Z", "--engine", engine]),
                common.to_vec(),
            ]
            .concat(),
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            before.lines().count(),
            1,
            "{engine}: only the header: {before}"
        );
        let (code, after, err) = kqlflow(
            &[
                base(&["--at", "2024-05-01T10:45:00Z", "--engine", engine]),
                common.to_vec(),
            ]
            .concat(),
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(after.lines().count(), 5, "{engine}: {after}");
    }
    // A later version needs a first one, and a time that reads as one.
    let (code, _, err) = kqlflow(&["run", &q, "--logs", &l, "--watchlist", &v2]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give the first as Vip=FILE.csv"), "{err}");
    let bad = format!("Vip={}@yesterday", p("v2.csv"));
    let (code, _, err) = kqlflow(&[
        "run",
        &q,
        "--logs",
        &l,
        "--watchlist",
        &v1,
        "--watchlist",
        &bad,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`yesterday` after @ is not a datetime"),
        "{err}"
    );
}

/// Under an address-space limit too small for a hunt (`ulimit -v`), the run stops with one
/// line that names the limit and exit code 1: no abort without a cause, no backtrace.
#[cfg(unix)]
#[test]
fn a_memory_limit_stops_a_hunt_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = kqlflow(&["demo", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let logs = dir.path().join("logs");
    let mut stopped = 0;
    for limit_kib in [60_000, 100_000, 150_000] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v {limit_kib} && exec \"$0\" hunt --logs \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_kqlflow"))
            .arg(&logs)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // Enough for this small tenant: the hunt ran whole.
            assert!(err.contains("9 rule(s)"), "{err}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{limit_kib} KiB: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            (last.contains("ran out of memory") || last.contains("cannot start a thread"))
                && last.contains("(ulimit -v)"),
            "{limit_kib} KiB: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        stopped += 1;
    }
    // 60 MB is too small for any hunt.
    assert!(stopped >= 1);
}

#[test]
fn externaldata_reads_the_mapped_file_on_both_engines_and_refuses_an_unmapped_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let mut logs = String::new();
    for (m, ip) in [(0, "10.1.2.3"), (5, "192.0.2.7"), (9, "203.0.113.5")] {
        logs.push_str(&format!(
            "{{\"TimeGenerated\":\"2024-05-01T10:{m:02}:00Z\",\"UserPrincipalName\":\"alice@contoso.com\",\"IPAddress\":\"{ip}\",\"ResultType\":\"0\"}}\n"
        ));
    }
    std::fs::write(p("SigninLogs.jsonl"), logs).unwrap();
    // The ServiceTags shape: one JSON document whose `values` hold the ranges.
    std::fs::write(
        p("tags.json"),
        r#"{"changeNumber": "1", "cloud": "Public", "values": [{"name": "Corp", "properties": {"addressPrefixes": ["10.0.0.0/8", "192.0.2.0/24"]}}]}"#,
    )
    .unwrap();
    let url = "https://example.com/tags.json?v=1";
    std::fs::write(
        p("q.kql"),
        format!(
            "let ranges = externaldata(changeNumber: string, cloud: string, values: dynamic) [\"{url}\"] with(format='multijson')\n| mv-expand values | mv-expand Prefix = values.properties.addressPrefixes to typeof(string) | project Prefix, Tag = tostring(values.name);\nSigninLogs | evaluate ipv4_lookup(ranges, IPAddress, Prefix) | project IPAddress, Tag"
        ),
    )
    .unwrap();
    let map = format!("{url}={}", p("tags.json"));
    let (q, l) = (p("q.kql"), p("SigninLogs.jsonl"));
    for engine in ["incremental", "batch"] {
        let (code, out, err) = kqlflow(&[
            "run",
            &q,
            "--logs",
            &l,
            "--externaldata",
            &map,
            "--period",
            "all",
            "--format",
            "csv",
            "--engine",
            engine,
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        let mut lines: Vec<&str> = out.lines().skip(1).collect();
        lines.sort();
        assert_eq!(
            lines,
            ["10.1.2.3,Corp", "192.0.2.7,Corp"],
            "{engine}: {out}"
        );
    }
    let (code, _, err) = kqlflow(&["run", &q, "--logs", &l, "--period", "all"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--externaldata https://example.com/tags.json?v=1=FILE"),
        "{err}"
    );
    let (code, out, _) = kqlflow(&["check", &q]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("has no file"), "{out}");
}
