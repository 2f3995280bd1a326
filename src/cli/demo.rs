//! `kqlflow demo`: a small tenant generated with labelled attacks, replayed through the built-in
//! rule pack with the alerts checked against the labels, and the real sample exports read by
//! ingest.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kqlflow_replay::sim::{self, Label, TenantConfig};

use super::check::QueryOptions;
use super::cluster::ClusterArgs;
use super::replay::ReplayArgs;
use crate::catalog::Catalog;
use crate::demo::RULES;
use crate::ingest::{Ingest, Options, Projection};
use crate::model::{TICKS_PER_SECOND, parse_datetime};

/// Arguments of `kqlflow demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the generated tenant in DIR (logs in DIR/logs, DIR/labels.jsonl,
    /// DIR/NetworkAllowlist.csv, DIR/replay-report.json) instead of a temporary folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    workers: usize,
    /// Write the demo's report to FILE: one self-contained HTML page of the replay (the
    /// run, incidents, a timeline, the entities, a MITRE ATT&CK matrix, tick latency and
    /// records/s) that opens offline in a browser.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// The demo tenant: small enough to replay in seconds, long enough (8 days) for the rules that
/// need a baseline, with every attack kind of the rule pack injected twice.
fn demo_config() -> TenantConfig {
    TenantConfig {
        users: 12,
        service_principals: 4,
        days: 8,
        seed: 1,
        ..TenantConfig::default()
    }
}

/// Runs `kqlflow demo`: generates a small tenant with labelled attacks, replays it through the
/// built-in rule pack, prints the alerts as they are raised, checks them against the labels,
/// and prints the replay's figures. 0 when every labelled attack was alerted.
pub fn run(args: &DemoArgs) -> i32 {
    let (dir, temporary) = match &args.out {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("kqlflow-demo-{}", std::process::id())),
            true,
        ),
    };
    let code = demo(args, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    code
}

fn demo(args: &DemoArgs, dir: &Path) -> i32 {
    let config = demo_config();
    let started = Instant::now();
    let summary = match sim::generate(&config, dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: generating the demo tenant in {}: {e}",
                dir.display()
            );
            return 1;
        }
    };
    let (records, _, gz) = summary.totals();
    println!(
        "kqlflow demo: a generated tenant ({} users, {} service principals, {} days: {records} records, \
         {:.1} MB gzipped, {} attacks injected) replayed through the rule pack (dataflows/, {} rules).\n",
        config.users,
        config.service_principals,
        config.days,
        gz as f64 / 1e6,
        summary.labels.len(),
        RULES.len()
    );
    let generated = started.elapsed().as_secs_f64();
    let allow = format!("NetworkAllowlist={}", summary.allowlist_path.display());
    let common = QueryOptions {
        watchlists: vec![allow.clone()],
        period: None,
        strict: false,
        externaldata: Vec::new(),
    };
    let watchlists = match super::logs::load_watchlists(&common) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let replay_args = ReplayArgs {
        rules: Vec::new(),
        logs: vec![dir.join("logs")],
        speed: "max".into(),
        tick: "1s".into(),
        // The demo prints the replay's figures; it writes no report.
        report: None,
        report_html: args.report.clone(),
        alerts: None,
        quiet: false,
        table: None,
        arrival: super::logs::ArrivalArgs::default(),
        show: super::output::ShowArgs::default(),
        common,
        cluster: ClusterArgs {
            workers: args.workers,
            processes: 1,
            process: 0,
            hostfile: None,
            connect_timeout: 60,
        },
    };
    let (outcome, failed) = match super::replay::replay(&replay_args, &watchlists, true) {
        Ok(o) => o,
        Err(code) => return code,
    };
    super::replay::print_summary(&outcome.report, &outcome.printer);
    // The labels are the ground truth: each attack instance should be alerted by its rule,
    // with its entities, between its first record and an hour after its last.
    let hour = 3600 * TICKS_PER_SECOND;
    let matches = |a: &super::replay::RaisedAlert, l: &Label| {
        let (Some(start), Some(end)) = (parse_datetime(&l.start), parse_datetime(&l.end)) else {
            return false;
        };
        a.1 == l.rule
            && l.entities.iter().all(|(k, v)| a.2.get(k) == Some(v))
            && a.0 as i64 >= start - TICKS_PER_SECOND
            && a.0 as i64 <= end + hour
    };
    let missed: Vec<&Label> = summary
        .labels
        .iter()
        .filter(|l| !outcome.raised.iter().any(|a| matches(a, l)))
        .collect();
    let unexplained = outcome
        .raised
        .iter()
        .filter(|a| !summary.labels.iter().any(|l| matches(a, l)))
        .count();
    eprintln!(
        "\nrecall: {} of {} labelled attacks alerted (or, for a hunting query, found) by the rule meant for them; {unexplained} alert(s) or result(s) no label explains",
        summary.labels.len() - missed.len(),
        summary.labels.len()
    );
    for l in &missed {
        eprintln!("  missed: {} ({}) {} to {}", l.kind, l.rule, l.start, l.end);
    }
    let fired: std::collections::BTreeSet<&String> = outcome.raised.iter().map(|a| &a.1).collect();
    eprintln!(
        "{} of {} rules fired; generated in {generated:.1} s, whole demo in {:.1} s",
        fired.len(),
        RULES.len(),
        started.elapsed().as_secs_f64()
    );
    if let (Some(path), Some(page)) = (&args.report, &outcome.page) {
        let mut page = page.clone();
        page.command = "demo".into();
        match crate::report::gather::write(path, &page) {
            Ok(()) => eprintln!("report: {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    if args.out.is_some() {
        eprintln!(
            "the tenant is in {d}: kqlflow hunt --rules dataflows/ --logs {d}/logs --watchlist {allow}",
            d = dir.display()
        );
    }
    // The real sample exports built in too, read by ingest.
    const FILES: [(&str, &[u8]); 3] = [
        (
            "demo/SigninLogs_disable_accounts.csv",
            include_bytes!("../../demo/SigninLogs_disable_accounts.csv"),
        ),
        (
            "demo/AuditLogs_Hunting.csv",
            include_bytes!("../../demo/AuditLogs_Hunting.csv"),
        ),
        (
            "demo/AADAuditEvents.json",
            include_bytes!("../../demo/AADAuditEvents.json"),
        ),
    ];
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    for (name, bytes) in FILES {
        ing.read_bytes(name, bytes, &mut |_| {});
    }
    eprintln!(
        "ingest of the real exports in demo/: {} file(s), {} row(s) read, {} rejected (kqlflow inspect demo/ for the report)",
        ing.report.files.len(),
        ing.report.rows(),
        ing.report.rejected()
    );
    i32::from(failed || !missed.is_empty())
}
