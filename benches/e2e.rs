//! The end-to-end harness: generates a tenant of a given size with `kqlflow generate`, replays
//! it through the built-in rule pack with `kqlflow replay`, and prints records/s and tick
//! latency percentiles for 1 and 2 worker threads, for 2 processes of 1 thread on loopback,
//! and against offered load (a sweep of `--speed`).
//!
//! ```sh
//! cargo bench --bench e2e                                  # 200 users, 7 days
//! cargo bench --bench e2e -- --users 2000 --days 14       # the issue's size
//! cargo bench --bench e2e -- --users 2000 --days 14 --only workers
//! cargo bench --bench e2e -- --users 400 --service-principals 12 --days 14 --seed 2 --only ddlimit
//! cargo bench --bench e2e -- --users 400 --service-principals 12 --days 14 --seed 2 --only ddlimit --workers 1,2
//! ```
//!
//! `--only ddlimit` compares kqlflow with `../shared/bench/ddlimit` (three of the pack's rules
//! written by hand as differential dataflows), when that folder is there: it builds the
//! reference, runs it and `kqlflow replay` with the same three rules alternately three times,
//! and prints the median records/s and peak memory of each, their ratios, and whether both
//! raised and closed the same alerts at the same ticks; `--workers 1,2` runs the comparison
//! on each of those worker counts (both programs on the same count; 1 by default).
//! Figures go to standard output and, as JSON, to `target/e2e-report.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Options {
    users: usize,
    sps: usize,
    days: u32,
    seed: u64,
    only: Option<String>,
    speeds: Vec<String>,
    /// The worker counts of the ddlimit comparison (`--workers 1,2`).
    workers: Vec<String>,
}

fn options() -> Options {
    let mut o = Options {
        users: 200,
        sps: 20,
        days: 7,
        seed: 7,
        only: None,
        speeds: Vec::new(),
        workers: vec!["1".to_string()],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--users" => o.users = value.parse().unwrap_or(o.users),
            "--service-principals" => o.sps = value.parse().unwrap_or(o.sps),
            "--days" => o.days = value.parse().unwrap_or(o.days),
            "--seed" => o.seed = value.parse().unwrap_or(o.seed),
            "--only" => o.only = Some(value),
            "--speeds" => o.speeds = value.split(',').map(str::to_string).collect(),
            "--workers" => o.workers = value.split(',').map(str::to_string).collect(),
            // cargo bench passes --bench; anything else unknown is ignored.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn kqlflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kqlflow"))
}

/// Generates the tenant once per size and seed, under target/.
fn tenant(o: &Options) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/e2e-tenant-u{}-s{}-d{}-seed{}",
        o.users, o.sps, o.days, o.seed
    ));
    if !dir.join("labels.jsonl").is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        let started = std::time::Instant::now();
        let status = kqlflow()
            .args([
                "generate",
                "--users",
                &o.users.to_string(),
                "--service-principals",
                &o.sps.to_string(),
                "--days",
                &o.days.to_string(),
                "--seed",
                &o.seed.to_string(),
                "--out",
                dir.to_str().unwrap_or("."),
            ])
            .stdout(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("kqlflow generate failed");
            std::process::exit(1);
        }
        println!(
            "generated {} in {:.1} s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    dir
}

/// One replay; returns its JSON report.
fn replay(dir: &Path, name: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let report = dir.join(format!("report-{name}.json"));
    let logs = dir.join("logs");
    let allow = format!(
        "NetworkAllowlist={}",
        dir.join("NetworkAllowlist.csv").display()
    );
    let mut args = vec![
        "replay",
        "--quiet",
        "--logs",
        logs.to_str()?,
        "--watchlist",
        &allow,
        "--report",
        report.to_str()?,
    ];
    args.extend_from_slice(extra);
    let out = kqlflow().args(&args).output().ok()?;
    if !out.status.success() {
        eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_str(&std::fs::read_to_string(&report).ok()?).ok()
}

/// Two processes of one thread each on loopback; returns process 0's report.
fn replay_two_processes(dir: &Path) -> Option<serde_json::Value> {
    let ports: Vec<u16> = (0..2)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect();
    if ports.len() != 2 {
        return None;
    }
    let hosts = dir.join("hosts.txt");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .ok()?;
    let logs = dir.join("logs");
    let allow = format!(
        "NetworkAllowlist={}",
        dir.join("NetworkAllowlist.csv").display()
    );
    let report1 = dir.join("report-p1.json");
    let second = kqlflow()
        .args([
            "replay",
            "--quiet",
            "--logs",
            logs.to_str()?,
            "--watchlist",
            &allow,
            "--report",
            report1.to_str()?,
            "-n",
            "2",
            "-p",
            "1",
            "--hostfile",
            hosts.to_str()?,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let first = replay(
        dir,
        "2proc",
        &["-n", "2", "-p", "0", "--hostfile", hosts.to_str()?],
    );
    let _ = second.wait_with_output();
    first
}

fn line(name: &str, r: &serde_json::Value) -> String {
    let l = &r["latency"];
    format!(
        "{name:<22} {:>10.0} rec/s  {:>9.0}x  p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms  max {:>8.3} ms  alerts {:>4}  peak {:>6.0} MiB",
        r["records_per_second"].as_f64().unwrap_or(0.0),
        r["speedup"].as_f64().unwrap_or(0.0),
        l["p50_ms"].as_f64().unwrap_or(0.0),
        l["p90_ms"].as_f64().unwrap_or(0.0),
        l["p99_ms"].as_f64().unwrap_or(0.0),
        l["p999_ms"].as_f64().unwrap_or(0.0),
        l["max_ms"].as_f64().unwrap_or(0.0),
        r["alerts_total"].as_u64().unwrap_or(0),
        r["peak_memory_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
    )
}

/// The three rules `../shared/bench/ddlimit` computes.
const DDLIMIT_RULES: [&str; 3] = [
    "provisioning_failures_by_job_error.yaml",
    "sp_signin_failures.yaml",
    "sp_signin_volume_anomaly.yaml",
];

/// Builds the hand-written reference, when its source is there; its binary.
fn build_ddlimit() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("../shared/bench/ddlimit");
    if !src.join("Cargo.toml").is_file() {
        println!(
            "ddlimit: {} is not there; no comparison with the reference",
            src.display()
        );
        return None;
    }
    let target = root.join("target/ddlimit");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(src.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!("ddlimit: the reference did not build; no comparison");
        return None;
    }
    Some(target.join("release/ddlimit"))
}

/// The raised and closed alerts of an alerts file (rule, status, tick, entities), sorted.
fn alert_keys(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut keys: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|a| a["status"] == "raised" || a["status"] == "closed")
        .map(|a| {
            format!(
                "{} {} {} {}",
                a["rule"], a["status"], a["tick"], a["entities"]
            )
        })
        .collect();
    keys.sort();
    keys
}

/// A number after `label` in `text` (such as `records/s` or `peak memory:`).
fn figure(text: &str, before: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let at = l.find(before)?;
        let head = &l[..at];
        let word = head.split_whitespace().last()?;
        word.parse().ok()
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// kqlflow against the reference on the same tenant, both on `workers` worker threads,
/// alternately, three runs each.
fn compare_ddlimit(dir: &Path, workers: &str) {
    let Some(ddlimit) = build_ddlimit() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let logs = dir.join("logs");
    let allow = format!(
        "NetworkAllowlist={}",
        dir.join("NetworkAllowlist.csv").display()
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_peak, mut their_peak) = (Vec::new(), Vec::new());
    let (ours_alerts, theirs_alerts) = (
        dir.join("alerts-kqlflow.jsonl"),
        dir.join("alerts-ddlimit.jsonl"),
    );
    for _ in 0..3 {
        let mut rules: Vec<String> = Vec::new();
        for r in DDLIMIT_RULES {
            rules.push("--rules".into());
            rules.push(root.join("dataflows").join(r).display().to_string());
        }
        let alerts = ours_alerts.display().to_string();
        let mut extra: Vec<&str> = rules.iter().map(String::as_str).collect();
        extra.extend(["--alerts", &alerts, "-w", workers]);
        if let Some(r) = replay(dir, "ddlimit-kqlflow", &extra) {
            ours.push(r["records_per_second"].as_f64().unwrap_or(0.0));
            our_peak.push(r["peak_memory_bytes"].as_f64().unwrap_or(0.0) / 1048576.0);
        }
        let out = Command::new(&ddlimit)
            .args([
                "--logs",
                logs.to_str().unwrap_or("."),
                "--watchlist",
                &allow,
                "-w",
                workers,
            ])
            .arg("--alerts")
            .arg(&theirs_alerts)
            .output();
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            if let Some(x) = figure(&text, "records/s") {
                theirs.push(x);
            }
            if let Some(x) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("peak memory: "))
                .and_then(|l| l.trim_end_matches(" MiB").parse::<f64>().ok())
            {
                their_peak.push(x);
            }
        }
    }
    if ours.is_empty() || theirs.is_empty() {
        println!("ddlimit: a run failed; no comparison");
        return;
    }
    let (a, b) = (median(ours), median(theirs));
    let (pa, pb) = (median(our_peak), median(their_peak));
    let same = alert_keys(&ours_alerts) == alert_keys(&theirs_alerts);
    println!(
        "ddlimit, 3 rules, -w {workers}   kqlflow {a:>8.0} rec/s {pa:>6.0} MiB   reference {b:>8.0} rec/s {pb:>6.0} MiB   \
         reference/kqlflow: {:.1}x records/s, {:.1}x memory   same alerts: {same}",
        b / a.max(1e-9),
        pa / pb.max(1e-9),
    );
}

fn main() {
    let o = options();
    let dir = tenant(&o);
    let mut results: Vec<(String, serde_json::Value)> = Vec::new();
    let wanted = |what: &str| o.only.as_deref().is_none_or(|w| w == what);
    if wanted("workers") {
        for (name, extra) in [
            ("max, -w 1", vec!["-w", "1"]),
            ("max, -w 2", vec!["-w", "2"]),
        ] {
            if let Some(r) = replay(&dir, &name.replace([',', ' '], ""), &extra) {
                println!("{}", line(name, &r));
                results.push((name.to_string(), r));
            }
        }
        if let Some(r) = replay_two_processes(&dir) {
            println!("{}", line("max, -n 2 (1 thread)", &r));
            results.push(("max, -n 2 -w 1".to_string(), r));
        }
    }
    if wanted("speed") {
        // Offered load: event time at N times real time; the records/s offered is the
        // tenant's records over its span, times N.
        let speeds = if o.speeds.is_empty() {
            vec!["1000", "3000", "10000", "30000"]
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            o.speeds.clone()
        };
        for s in speeds {
            if let Some(r) = replay(&dir, &format!("speed{s}"), &["--speed", &s, "-w", "1"]) {
                let span = r["replay_seconds"].as_f64().unwrap_or(0.0)
                    * r["speedup"].as_f64().unwrap_or(0.0);
                let offered = r["records"].as_f64().unwrap_or(0.0) / span.max(1e-9)
                    * s.parse::<f64>().unwrap_or(0.0);
                let name = format!("speed {s} ({offered:.0}/s)");
                println!("{}", line(&name, &r));
                results.push((name, r));
            }
        }
    }
    if wanted("ddlimit") {
        for w in &o.workers {
            compare_ddlimit(&dir, w);
        }
    }
    if results.is_empty() {
        return;
    }
    let first = results.first().map(|(_, r)| r.clone()).unwrap_or_default();
    println!(
        "tenant: {} users, {} service principals, {} days: {} records; machine: {}",
        o.users, o.sps, o.days, first["records"], first["machine"]
    );
    let all: serde_json::Value = results
        .into_iter()
        .collect::<serde_json::Map<_, _>>()
        .into();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-report.json");
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).unwrap_or_default(),
    );
    println!("report: {}", path.display());
}
