//! `kqlflow replay` and the pack it runs: the same alerts as a hunt, at any speed and on any
//! number of workers, with a latency for every tick and a JSON report.

use std::collections::HashMap;
use std::process::Command;

use kqlflow::alerts::{AlertEvent, for_rule};
use kqlflow::demo::{RULES, allowlist, attack_tenant};
use kqlflow::exec::{run_program, watchlist_sources};
use kqlflow::model::TICKS_PER_SECOND as S;
use kqlflow::pack::{PackOptions, Report};
use kqlflow::plan::{BindOptions, Program};
use kqlflow::rules::Rule;
use kqlflow::runtime::ClusterOptions;
use kqlflow::runtime::live::Speed;

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

fn pack() -> Vec<(Rule, Program)> {
    RULES
        .iter()
        .map(|(name, text)| {
            let rule = Rule::from_yaml(text, std::path::Path::new(name)).unwrap();
            let q = kqlflow::kql::parse(&rule.query).unwrap();
            let mut opts = BindOptions {
                query_period: rule.query_period,
                ..BindOptions::default()
            };
            opts.watchlists
                .insert("NetworkAllowlist".into(), allowlist().columns.clone());
            let p =
                kqlflow::plan::bind(&rule.query, &q, kqlflow::catalog::Catalog::builtin(), &opts)
                    .unwrap();
            (rule, p)
        })
        .collect()
}

/// Every alert event of the pack run as one dataflow, per rule, and the ticks reported.
fn pack_alerts(workers: usize, speed: Speed) -> (Vec<Vec<AlertEvent>>, u64) {
    let (alerts, ticks, _) = pack_run(workers, speed);
    (alerts, ticks)
}

/// Every alert event of the pack, per rule; the ticks reported; and the records the last tick
/// report counts. Checks that the notes come first, once, and the finish last, once; that
/// ticks are reported in order, each once; and that the count of records never falls.
fn pack_run(workers: usize, speed: Speed) -> (Vec<Vec<AlertEvent>>, u64, u64) {
    let rules = pack();
    let tables: HashMap<_, _> = attack_tenant().into_iter().collect();
    let watchlists = HashMap::from([("NetworkAllowlist".to_string(), allowlist())]);
    let options = PackOptions {
        cluster: ClusterOptions {
            workers,
            ..ClusterOptions::default()
        },
        tick: S,
        speed,
    };
    let mut per_rule = vec![Vec::new(); rules.len()];
    let mut ticks = 0;
    let mut last_tick = 0;
    let mut records = 0;
    let (mut notes, mut finished) = (0, 0);
    kqlflow::pack::run(&rules, tables, &watchlists, &options, Vec::new(), |r| {
        assert_eq!(finished, 0, "{r:?} after the finish");
        match r {
            Report::Alert { rule, event } => {
                assert_eq!(notes, 1, "an alert before the notes");
                per_rule[*rule].push(event.clone())
            }
            Report::Ticks(done) => {
                for t in done {
                    // Ticks are reported in order, each once.
                    assert!(t.tick > last_tick || ticks == 0);
                    assert!(t.records >= records, "{t:?} after {records} records");
                    last_tick = t.tick;
                    records = t.records;
                    ticks += 1;
                }
            }
            Report::Notes(_) => notes += 1,
            Report::Finished { .. } => finished += 1,
        }
    })
    .unwrap();
    assert_eq!((notes, finished), (1, 1));
    (per_rule, ticks, records)
}

#[test]
fn the_pack_as_one_dataflow_raises_what_each_rule_raises_alone_on_1_2_and_3_workers() {
    let rules = pack();
    let tenant = attack_tenant();
    let watchlists = HashMap::from([("NetworkAllowlist".to_string(), allowlist())]);
    let alone: Vec<Vec<AlertEvent>> = rules
        .iter()
        .map(|(rule, p)| {
            let w = watchlist_sources(p, &watchlists);
            let changes = run_program(p, &tenant, &w, &ClusterOptions::default(), S).unwrap();
            for_rule(rule, p, &changes).0
        })
        .collect();
    assert!(alone.iter().all(|a| !a.is_empty()), "every rule fires");
    let records: usize = tenant.iter().map(|(_, r)| r.len()).sum();
    // On 2 and 3 workers the rules are placed on workers (each rule's summarizes and joins on
    // one worker) rather than spread by key: the answers must not change.
    let fed = kqlflow::pack::Shape::of(&rules).prepare_all(tenant.iter().cloned().collect());
    for workers in [2, 3] {
        let cluster = ClusterOptions {
            workers,
            ..ClusterOptions::default()
        };
        let placed = kqlflow::pack::placement_of(&rules, &fed, &cluster);
        assert_eq!(placed.len(), rules.len());
        let on: std::collections::BTreeSet<usize> = placed.iter().flatten().copied().collect();
        assert!(on.len() >= 2, "{workers} workers: rules placed on {on:?}");
        assert!(on.iter().all(|&w| w < workers));
    }
    // Two processes cannot know each other's records: nothing is placed.
    let two = ClusterOptions {
        workers: 2,
        processes: 2,
        ..ClusterOptions::default()
    };
    assert!(kqlflow::pack::placement_of(&rules, &fed, &two).is_empty());
    // On 2 workers every rule is placed, so each worker's rules run as a dataflow of their own
    // (kqlflow::runtime::split), their outputs merged.
    let two_workers = ClusterOptions {
        workers: 2,
        ..ClusterOptions::default()
    };
    assert!(
        kqlflow::pack::placement_of(&rules, &fed, &two_workers)
            .iter()
            .all(Option::is_some)
    );
    let mut counted = Vec::new();
    for workers in [1, 2, 3] {
        let (together, ticks, fed) = pack_run(workers, Speed::Max);
        counted.push(fed);
        assert!(fed <= records as u64, "{fed} of {records} records counted");
        assert_eq!(together, alone, "{workers} worker(s)");
        // One latency per tick at which records were handed.
        let mut distinct: Vec<u64> = tenant
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|(t, _)| kqlflow::runtime::tick_of(*t, S)))
            .collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(ticks, distinct.len() as u64);
        assert!(records > 0);
    }
    // By the last tick every record fed has been counted once, however the pack is split.
    assert!(
        counted.iter().all(|&c| c == counted[0] && c > 0),
        "{counted:?}"
    );
}

#[test]
fn a_paced_replay_raises_the_same_alerts_and_takes_the_time_it_should() {
    let (fast, _) = pack_alerts(1, Speed::Max);
    let started = std::time::Instant::now();
    // The tenant spans about 4.2 days of event time: at 2 000 000 times real time, 0.18 s.
    let (paced, _) = pack_alerts(2, Speed::Times(2_000_000.0));
    let took = started.elapsed().as_secs_f64();
    assert_eq!(paced, fast);
    let tenant = attack_tenant();
    let times: Vec<i64> = tenant
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(t, _)| *t))
        .collect();
    let span = (times.iter().max().unwrap() - times.iter().min().unwrap()) as f64 / S as f64;
    // A paced replay cannot hand its last tick before that tick's wall time.
    assert!(took >= span / 2_000_000.0 * 0.99, "{took} s for {span} s");
}

#[test]
fn replay_prints_alerts_latency_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let allow = dir.path().join("allow.csv");
    std::fs::write(
        &allow,
        "IPOrRange,Comment\n10.0.0.0/8,lab\n192.0.2.44,scanner\n198.51.100.1-198.51.100.20,partner\n",
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let alerts = dir.path().join("alerts.jsonl");
    let page = dir.path().join("report.html");
    let (code, out, err) = kqlflow(&[
        "replay",
        "--logs",
        logs.to_str().unwrap(),
        "--watchlist",
        &format!("NetworkAllowlist={}", allow.display()),
        "--report",
        report.to_str().unwrap(),
        "--alerts",
        alerts.to_str().unwrap(),
        "--report-html",
        page.to_str().unwrap(),
        "-w",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    // The built-in pack's seven alerts on the demo tenant, as `hunt` raises them; the three
    // hunting queries' rows are results, counted apart.
    assert_eq!(out.lines().count(), 7, "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("2024-05-01T02:00:00Z"),
        "{out}"
    );
    assert!(err.contains("sp_graph_signins.yaml: 1 result(s)"), "{err}");
    assert!(err.contains("tick latency over 250 ticks: p50"), "{err}");
    assert!(err.contains("records/s"), "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["records"], 251);
    assert_eq!(r["rules"], 9);
    assert_eq!(r["workers"], 2);
    assert_eq!(r["alerts_total"], 7);
    assert_eq!(r["hunting_results"]["sp_graph_signins.yaml"], 1);
    // alice's two alerts an hour apart make one incident, and so do sp-a's credential and
    // volume alerts: five incidents.
    assert_eq!(r["incidents"], 5);
    assert_eq!(r["alerts"]["sp_signin_volume_anomaly.yaml"], 1);
    assert_eq!(r["alerts"]["rare_audit_activity_by_app.yaml"], 2);
    assert_eq!(r["latency"]["count"], 250);
    let p50 = r["latency"]["p50_ms"].as_f64().unwrap();
    let p99 = r["latency"]["p99_ms"].as_f64().unwrap();
    let max = r["latency"]["max_ms"].as_f64().unwrap();
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{r}");
    assert_eq!(r["from"], "2024-05-01T00:00:00Z");
    // The HTML report: the replay's incidents and its latency and throughput plots.
    assert!(err.contains("HTML report: "), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<title>kqlflow replay report</title>"));
    assert_eq!(html.matches("<tr class=\"incident\"").count(), 5);
    assert!(html.contains("<svg id=\"timeline\""));
    let latency = html.split("<svg id=\"latency\"").nth(1).unwrap();
    let latency = latency.split("</svg>").next().unwrap();
    assert!(latency.contains("<polyline"), "{latency}");
    // A dot per percentile (0 to 99.999%, ten a decade) and the maximum.
    assert_eq!(latency.matches("<circle").count(), 52);
    assert!(html.contains("250 ticks measured"), "{html}");
    let events = std::fs::read_to_string(&alerts).unwrap();
    assert!(events.lines().any(|l| l.contains("\"status\":\"closed\"")));
    assert_eq!(
        events
            .lines()
            .filter(|l| l.contains("\"status\":\"raised\""))
            .count(),
        7
    );
}

#[test]
fn replay_usage_errors_are_clear() {
    let (code, _, err) = kqlflow(&["replay", "--logs", "x", "--speed", "fast"]);
    assert_eq!(code, 2);
    assert!(err.contains("--speed fast"), "{err}");
    let (code, _, err) = kqlflow(&["replay", "--logs", "x", "--tick", "0s"]);
    assert_eq!(code, 2);
    assert!(err.contains("--tick"), "{err}");
}

#[test]
fn without_report_the_report_goes_to_a_new_temporary_file_named_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let (cwd, tmp) = (dir.path().join("cwd"), dir.path().join("tmp"));
    std::fs::create_dir(&cwd).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
            .args(["replay", "--quiet", "--logs", logs.to_str().unwrap()])
            .current_dir(&cwd)
            .env("TMPDIR", &tmp)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let path = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("report: "))
            .unwrap_or_else(|| panic!("no report line: {err}"));
        std::path::PathBuf::from(path)
    };
    let (first, second) = (run(), run());
    // Nothing is written where the command runs or beside the logs; each run has its own file.
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    assert_ne!(first, second);
    for path in [first, second] {
        assert_eq!(path.parent(), Some(tmp.as_path()));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(r["records"], 251);
        assert!(
            r["version"]
                .as_str()
                .unwrap()
                .starts_with(env!("CARGO_PKG_VERSION")),
            "{r}"
        );
    }
}

#[test]
fn the_operator_profile_names_operators_and_rules_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    kqlflow::demo::write_tenant(&logs).unwrap();
    let run = |profile: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kqlflow"));
        cmd.args([
            "replay",
            "--quiet",
            "-w",
            "2",
            "--logs",
            logs.to_str().unwrap(),
        ])
        .env("TMPDIR", dir.path());
        match profile {
            Some(n) => cmd.env("KQLFLOW_PROFILE_OPERATORS", n),
            None => cmd.env_remove("KQLFLOW_PROFILE_OPERATORS"),
        };
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(Some("3"));
    // One report per worker, each with its three most expensive operators, the totals by
    // rule (the pack's rules by name) and by operator kind.
    for worker in 0..2 {
        assert!(
            err.contains(&format!("operator profile, worker {worker}:")),
            "{err}"
        );
    }
    let top: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("operator profile, worker 0"))
        .skip(1)
        .take_while(|l| l.contains(" runs  "))
        .collect();
    assert_eq!(top.len(), 3, "{err}");
    assert!(
        err.contains("Service principal sign-in volume anomaly"),
        "{err}"
    );
    assert!(
        err.contains("  by name:") && err.contains("Summarize"),
        "{err}"
    );
    assert!(!run(None).contains("operator profile"));
}
