//! kqlflow run as a cluster of two processes of two worker threads on loopback gives the same
//! change stream as one worker; a process whose peers never come fails within its timeout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kqlflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kqlflow"))
}

/// Two ports free on loopback now.
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Timely reports its connection progress on standard output; the result lines are the rest.
fn result_lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.starts_with("awaiting connections") && !l.starts_with("worker "))
        .map(str::to_string)
        .collect()
}

fn tenant(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let logs = dir.join("SigninLogs.jsonl");
    let mut text = String::new();
    for k in 0..400 {
        let user = ["alice", "bob", "carol", "dave", "erin"][k % 5];
        let ip = format!("203.0.113.{}", (k * 7) % 11);
        let result = if k % 3 == 0 { "0" } else { "50126" };
        let minute = k * 3;
        text.push_str(&format!(
            "{{\"TimeGenerated\":\"2024-05-01T{:02}:{:02}:{:02}Z\",\"UserPrincipalName\":\"{user}@contoso.com\",\"IPAddress\":\"{ip}\",\"ResultType\":\"{result}\"}}\n",
            minute / 60 % 24,
            minute % 60,
            k % 60
        ));
    }
    std::fs::write(&logs, text).unwrap();
    let query = dir.join("spray.kql");
    std::fs::write(
        &query,
        "SigninLogs\n| where TimeGenerated > ago(1h) and ResultType != \"0\"\n| summarize Failures = count(), IPs = dcount(IPAddress), Apps = make_set(IPAddress) by UserPrincipalName\n| where Failures >= 2",
    )
    .unwrap();
    (logs, query)
}

#[test]
fn two_processes_of_two_threads_agree_with_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, query) = tenant(dir.path());
    let (q, l) = (query.to_str().unwrap(), logs.to_str().unwrap());
    let one = kqlflow()
        .args(["run", q, "--logs", l, "--changes", "--format", "csv"])
        .output()
        .unwrap();
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let expected = result_lines(&one.stdout);
    assert!(expected.len() > 10, "the query changes often: {expected:?}");

    let (p0, p1) = free_ports();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, format!("127.0.0.1:{p0}\n127.0.0.1:{p1}\n")).unwrap();
    let h = hosts.to_str().unwrap();
    let common = [
        "run",
        q,
        "--logs",
        l,
        "--changes",
        "--format",
        "csv",
        "-w",
        "2",
        "-n",
        "2",
        "--hostfile",
        h,
        "--connect-timeout",
        "60",
    ];
    let second = kqlflow()
        .args(common)
        .args(["-p", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = kqlflow().args(common).args(["-p", "0"]).output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(result_lines(&first.stdout), expected);
    // Process 1 prints no result: process 0 does, once.
    assert!(
        result_lines(&second.stdout).is_empty(),
        "{:?}",
        result_lines(&second.stdout)
    );
    // The tenant is one file: process 1 was dealt nothing and read nothing.
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("process 1 of 2: read 0 records from 0 file(s); done"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[test]
fn a_process_without_its_peers_fails_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, query) = tenant(dir.path());
    let (p0, p1) = free_ports();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, format!("127.0.0.1:{p0}\n127.0.0.1:{p1}\n")).unwrap();
    let start = Instant::now();
    let out = kqlflow()
        .args([
            "run",
            query.to_str().unwrap(),
            "--logs",
            logs.to_str().unwrap(),
            "-n",
            "2",
            "-p",
            "0",
        ])
        .args([
            "--hostfile",
            hosts.to_str().unwrap(),
            "--connect-timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("process 0 of 2 could not reach its peers within 2 s"),
        "{err}"
    );
}

#[test]
fn cluster_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, query) = tenant(dir.path());
    let out = kqlflow()
        .args([
            "run",
            query.to_str().unwrap(),
            "--logs",
            logs.to_str().unwrap(),
            "-n",
            "2",
            "-p",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-p 2 is not a process of a cluster of 2")
    );
}

/// The alert lines of a hunt's JSON Lines output, sorted (timely's connection messages left
/// out).
fn alert_lines(out: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = result_lines(out)
        .into_iter()
        .filter(|l| l.starts_with('{'))
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_hunt_on_two_processes_reading_their_own_files_raises_the_alerts_of_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let config = kqlflow_replay::sim::TenantConfig {
        users: 6,
        service_principals: 3,
        days: 5,
        seed: 3,
        threads: 2,
        ..kqlflow_replay::sim::TenantConfig::default()
    };
    let summary = kqlflow_replay::sim::generate(&config, dir.path()).unwrap();
    let logs = dir.path().join("logs");
    let allow = format!("NetworkAllowlist={}", summary.allowlist_path.display());
    let rules = format!("{}/dataflows", env!("CARGO_MANIFEST_DIR"));
    let hunt = |extra: &[&str]| {
        let mut c = kqlflow();
        c.args([
            "hunt",
            "--rules",
            &rules,
            "--logs",
            logs.to_str().unwrap(),
            "--watchlist",
            &allow,
            "--format",
            "jsonl",
            "--tick",
            "1h",
        ])
        .args(extra);
        c
    };
    let one = hunt(&[]).output().unwrap();
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let expected = alert_lines(&one.stdout);
    assert!(
        expected.len() >= 10,
        "the attacks raise alerts: {expected:?}"
    );

    let (p0, p1) = free_ports();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, format!("127.0.0.1:{p0}\n127.0.0.1:{p1}\n")).unwrap();
    let h = hosts.to_str().unwrap();
    let cluster = [
        "-w",
        "2",
        "-n",
        "2",
        "--hostfile",
        h,
        "--connect-timeout",
        "60",
    ];
    let second = hunt(&cluster)
        .args(["-p", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = hunt(&cluster).args(["-p", "0"]).output().unwrap();
    let second = second.wait_with_output().unwrap();
    let (err0, err1) = (
        String::from_utf8_lossy(&first.stderr),
        String::from_utf8_lossy(&second.stderr),
    );
    assert!(first.status.success(), "{err0}");
    assert!(second.status.success(), "{err1}");
    // The same alerts, printed once, by process 0; its standard output holds nothing else
    // (no connection chatter: every line is a JSON alert), and process 1's nothing at all.
    assert_eq!(alert_lines(&first.stdout), expected);
    for line in String::from_utf8_lossy(&first.stdout).lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON on standard output: {line}"
        );
    }
    assert!(
        second.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    // Process 1 read a share of the files, not all of them; process 0's summary counts the
    // whole cluster's records.
    let read = err1
        .split("read ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{err1}"));
    let total_of = |err: &str| -> u64 {
        err.lines()
            .filter_map(|l| l.trim().strip_suffix(" records"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let total = total_of(&String::from_utf8_lossy(&one.stderr));
    assert!(total > 0);
    assert!(0 < read && read < total, "process 1 read {read} of {total}");
    assert_eq!(total_of(&err0), total, "{err0}");
}

/// `hunt` and `replay` honour --connect-timeout too: without their peers they fail in bounded
/// time with one line saying why, on either side of the cluster.
#[test]
fn hunt_and_replay_without_their_peers_fail_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = tenant(dir.path());
    let (p0, p1) = free_ports();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, format!("127.0.0.1:{p0}\n127.0.0.1:{p1}\n")).unwrap();
    let report = dir.path().join("report.json");
    for (command, process) in [("hunt", "0"), ("hunt", "1"), ("replay", "1")] {
        let start = Instant::now();
        let mut c = kqlflow();
        c.args([
            command,
            "--logs",
            logs.to_str().unwrap(),
            "-n",
            "2",
            "-p",
            process,
        ])
        .args([
            "--hostfile",
            hosts.to_str().unwrap(),
            "--connect-timeout",
            "2",
        ]);
        if command == "replay" {
            c.args(["--report", report.to_str().unwrap()]);
        }
        let out = c.output().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{command} -p {process}"
        );
        assert_eq!(out.status.code(), Some(1), "{command} -p {process}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "process {process} of 2 could not reach its peers within 2 s"
            )),
            "{command} -p {process}: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A peer killed during a run: the surviving process ends in bounded time with code 1 and one
/// error line (no panic messages or backtraces), whichever process died.
#[test]
fn a_killed_peer_fails_the_run_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = tenant(dir.path());
    for victim in [1usize, 0] {
        let (p0, p1) = free_ports();
        let hosts = dir.path().join("hosts.txt");
        std::fs::write(&hosts, format!("127.0.0.1:{p0}\n127.0.0.1:{p1}\n")).unwrap();
        let start = |p: usize| {
            let err = std::fs::File::create(dir.path().join(format!("err{p}"))).unwrap();
            kqlflow()
                .args(["replay", "--logs", logs.to_str().unwrap(), "--quiet"])
                .args([
                    "--speed",
                    "2000",
                    "--tick",
                    "1m",
                    "-n",
                    "2",
                    "-p",
                    &p.to_string(),
                ])
                .args([
                    "--hostfile",
                    hosts.to_str().unwrap(),
                    "--connect-timeout",
                    "30",
                ])
                .arg("--report")
                .arg(dir.path().join(format!("report{p}.json")))
                .env_remove("RUST_BACKTRACE")
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .unwrap()
        };
        let mut procs = [start(0), start(1)];
        // 20 hours of records at 2000x take 36 s: kill one well within.
        std::thread::sleep(Duration::from_secs(6));
        procs[victim].kill().unwrap();
        let _ = procs[victim].wait();
        let survivor = 1 - victim;
        let began = Instant::now();
        let status = loop {
            if let Some(s) = procs[survivor].try_wait().unwrap() {
                break s;
            }
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "process {survivor} still runs a minute after its peer died"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let err = std::fs::read_to_string(dir.path().join(format!("err{survivor}"))).unwrap();
        assert_eq!(status.code(), Some(1), "killed {victim}: {err}");
        assert!(!err.contains("panicked"), "killed {victim}: {err}");
        assert!(!err.contains("backtrace"), "killed {victim}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "killed {victim}: {err}"
        );
    }
}
