//! `kqlflow detect`: live detection over standard input and followed files. Over a stream in
//! event-time order whose records have ticks of their own, it raises exactly what `hunt`
//! raises; followed, it prints each alert while the run goes on, takes a watchlist file's new
//! rows when the file changes, reports bad lines and late records with file:line, and ends
//! with its summary on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kqlflow")
}

fn rules_dir() -> String {
    format!("{}/dataflows", env!("CARGO_MANIFEST_DIR"))
}

/// A generated tenant's records as one JSON Lines stream in event-time order.
fn merged_tenant(dir: &Path) -> (PathBuf, String) {
    let out = Command::new(bin())
        .args([
            "generate",
            "--users",
            "12",
            "--service-principals",
            "4",
            "--days",
            "3",
            "--seed",
            "11",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut stack = vec![dir.join("logs")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let t = v["TimeGenerated"].as_str().unwrap_or_default().to_string();
            lines.push((t, l.to_string()));
        }
    }
    lines.sort();
    let merged = dir.join("merged.jsonl");
    let text: String = lines.into_iter().map(|(_, l)| l + "\n").collect();
    std::fs::write(&merged, text).unwrap();
    let allow = format!(
        "NetworkAllowlist={}",
        dir.join("NetworkAllowlist.csv").display()
    );
    (merged, allow)
}

/// Sorted JSON Lines of alert events.
fn sorted(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn detect_on_standard_input_raises_what_hunt_raises() {
    let dir = tempfile::tempdir().unwrap();
    let (merged, allow) = merged_tenant(dir.path());
    // One tick per 100 ns: every record has a tick of its own, as every record closes its
    // tick live.
    let hunt = Command::new(bin())
        .args(["hunt", "--rules", &rules_dir(), "--logs"])
        .arg(&merged)
        .args([
            "--order",
            "arrival",
            "--allowed-lateness",
            "0s",
            "--tick",
            "1tick",
        ])
        .args(["--watchlist", &allow, "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        hunt.status.success(),
        "{}",
        String::from_utf8_lossy(&hunt.stderr)
    );
    let expected = sorted(&String::from_utf8_lossy(&hunt.stdout));
    assert!(
        expected.iter().any(|l| l.contains("\"status\":\"raised\"")),
        "the tenant raises alerts"
    );
    for workers in ["1", "3"] {
        let detect = Command::new(bin())
            .args(["detect", "--rules", &rules_dir(), "--tick", "1tick"])
            .args(["--watchlist", &allow, "--format", "jsonl", "-w", workers])
            .stdin(std::fs::File::open(&merged).unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&detect.stderr);
        assert!(detect.status.success(), "{err}");
        assert_eq!(
            sorted(&String::from_utf8_lossy(&detect.stdout)),
            expected,
            "-w {workers}"
        );
        assert!(err.contains("late records: 0"), "{err}");
    }
}

const RULE: &str = r#"id: 6f0c5a8e-1d2b-4c3a-9e8f-000000000003
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

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// (status, user, tick) of an alert event line.
fn event(line: &str) -> (String, String, String) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["status"].as_str().unwrap().to_string(),
        v["entities"]["Account.FullName"]
            .as_str()
            .unwrap()
            .to_string(),
        v["tick"].as_str().unwrap().to_string(),
    )
}

#[test]
fn detect_follows_a_growing_file_and_a_changing_watchlist() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("blocked.yaml"), RULE).unwrap();
    let blocked = dir.path().join("blocked.csv");
    std::fs::write(&blocked, "IP\n192.0.2.1\n").unwrap();
    let log = dir.path().join("signins.jsonl");
    std::fs::write(&log, signin(0, "alice", "198.51.100.7") + "\n").unwrap();
    let mut child = Command::new(bin())
        .args(["detect", "--rules"])
        .arg(&rules)
        .arg("--logs")
        .arg(&log)
        .args(["--follow", "--poll", "100ms", "--format", "jsonl"])
        .arg("--watchlist")
        .arg(format!("Blocked={}", blocked.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    let next = || {
        event(
            &rx.recv_timeout(Duration::from_secs(60))
                .expect("an alert within a minute"),
        )
    };
    // A sign-in from the blocked address raises an alert while the run goes on.
    std::thread::sleep(Duration::from_millis(300));
    append(&log, &signin(1, "mallory", "192.0.2.1"));
    assert_eq!(
        next(),
        (
            "raised".into(),
            "mallory".into(),
            "2024-05-01T10:01:00Z".into()
        )
    );
    // A bad line is reported with file:line and skipped.
    append(&log, "{not json");
    // The watchlist now blocks alice's address instead: from the open tick on, mallory's alert
    // closes and alice's sign-in (within the hour) raises one.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&blocked, "IP\n198.51.100.7\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // A later record closes the tick the change went in at.
    append(&log, &signin(2, "bob", "203.0.113.9"));
    let mut changes = vec![next(), next()];
    changes.sort();
    assert_eq!(
        changes,
        vec![
            (
                "closed".into(),
                "mallory".into(),
                "2024-05-01T10:01:01Z".into()
            ),
            (
                "raised".into(),
                "alice".into(),
                "2024-05-01T10:01:01Z".into()
            ),
        ]
    );
    // Ctrl-C ends the run with its summary.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let log_name = log.display().to_string();
    assert!(err.contains(&format!("rejected {log_name}:3")), "{err}");
    assert!(err.contains("SigninLogs: 3 records"), "{err}");
    assert!(err.contains("rejected lines: 1"), "{err}");
    assert!(err.contains("watchlist changes: 1 taken"), "{err}");
    assert!(
        err.contains("Sign-in from a blocked address: 2 alert(s)"),
        "{err}"
    );
}

#[test]
fn detect_reports_late_records_and_rejects_them_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("blocked.yaml"), RULE).unwrap();
    let blocked = dir.path().join("blocked.csv");
    std::fs::write(&blocked, "IP\n192.0.2.1\n").unwrap();
    let text = [
        signin(10, "alice", "192.0.2.1"),
        signin(20, "bob", "203.0.113.9"),
        // Ten minutes behind: late under a five-minute lateness.
        signin(10, "mallory", "192.0.2.1"),
    ]
    .join("\n")
        + "\n";
    let rejects = dir.path().join("rejects.jsonl");
    let mut child = Command::new(bin())
        .args(["detect", "--rules"])
        .arg(&rules)
        .args([
            "--allowed-lateness",
            "5m",
            "--late",
            "reject",
            "--format",
            "jsonl",
        ])
        .arg("--rejects")
        .arg(&rejects)
        .arg("--watchlist")
        .arg(format!("Blocked={}", blocked.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let users: Vec<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(event)
        .collect();
    assert_eq!(
        users,
        vec![
            (
                "raised".into(),
                "alice".into(),
                "2024-05-01T10:10:00Z".into()
            ),
            (
                "closed".into(),
                "alice".into(),
                "2024-05-01T11:10:00Z".into()
            ),
        ]
    );
    assert!(err.contains("late record <stdin>:3"), "{err}");
    assert!(
        err.contains("late records: 1 (0 entered late, 1 rejected"),
        "{err}"
    );
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(rejected.contains("\"line\":3"), "{rejected}");
    assert!(rejected.contains("late record"), "{rejected}");
}

#[test]
fn detect_usage_errors() {
    let out = Command::new(bin())
        .args(["detect", "--allowed-lateness", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allowed-lateness soon"));
    let out = Command::new(bin())
        .args(["detect", "--watchlist", "A=a.csv@2024-05-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dated with @"));
}

/// SIGTERM (a service manager stopping detection) ends `detect` as Ctrl-C does: with its
/// summary, and exit code 0.
#[cfg(unix)]
#[test]
fn sigterm_ends_detect_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("blocked.yaml"), RULE).unwrap();
    let blocked = dir.path().join("blocked.csv");
    std::fs::write(&blocked, "IP\n192.0.2.1\n").unwrap();
    let mut child = Command::new(bin())
        .args(["detect", "--rules"])
        .arg(&rules)
        .args(["--format", "jsonl", "--watchlist"])
        .arg(format!("Blocked={}", blocked.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A record, then standard input stays open: detection waits for more.
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", signin(0, "alice", "192.0.2.1")).unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"status\":\"raised\""), "{first}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {err}", out.status);
    assert!(err.contains("summary:"), "{err}");
    drop(stdin);
}

/// Following many files under a small descriptor limit: one follower thread reads them all
/// (a thread per file would need hundreds), files that do not grow are closed and reopened
/// where they stopped, and every record of every file is read, first lines and appended ones.
#[cfg(target_os = "linux")]
#[test]
fn detect_follows_many_files_with_few_threads_and_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("blocked.yaml"), RULE).unwrap();
    let blocked = dir.path().join("blocked.csv");
    std::fs::write(&blocked, "IP\n192.0.2.1\n").unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    const FILES: usize = 300;
    let path = |i: usize| logs.join(format!("signins-{i:04}.jsonl"));
    for i in 0..FILES {
        std::fs::write(
            path(i),
            signin(0, &format!("user{i}"), "198.51.100.7") + "\n",
        )
        .unwrap();
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$@\"")
        .arg("sh")
        .arg(bin())
        .args(["detect", "--rules"])
        .arg(&rules)
        .arg("--logs")
        .arg(&logs)
        .args([
            "--follow",
            "--poll",
            "100ms",
            "--format",
            "jsonl",
            "--watchlist",
        ])
        .arg(format!("Blocked={}", blocked.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    // Every file grows by a line (some closed by then, to stay within the descriptors), then
    // the last one by a sign-in from the blocked address, whose alert shows it was read.
    for i in 0..FILES {
        append(&path(i), &signin(1, &format!("user{i}"), "203.0.113.9"));
    }
    append(&path(FILES - 1), &signin(2, "mallory", "192.0.2.1"));
    let alert = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an alert within a minute");
    assert_eq!(
        event(&alert),
        (
            "raised".into(),
            "mallory".into(),
            "2024-05-01T10:02:00Z".into()
        )
    );
    let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .count();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(threads < 24, "{threads} threads for {FILES} files");
    assert!(
        err.contains(&format!("SigninLogs: {} records", 2 * FILES + 1)),
        "{err}"
    );
    assert!(!err.contains("cannot read"), "{err}");
    assert!(err.contains("rejected lines: 0;"), "{err}");
}
