//! `kqlflow generate`: writes a deterministic synthetic tenant (the seven Entra ID and Azure
//! tables as daily gzipped JSON Lines), its injected attacks' ground truth and the allowlist
//! watchlist, with [`kqlflow_replay::sim`].

use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

use kqlflow_replay::sim::{self, TABLES, TenantConfig};

/// Arguments of `kqlflow generate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  kqlflow generate --out tenant/\n  \
kqlflow generate --users 2000 --service-principals 40 --days 30 --seed 7 --out big/\n  \
kqlflow generate --no-attacks --start 2024-06-01 --out quiet/\n  \
kqlflow hunt --rules dataflows/ --logs tenant/logs --watchlist NetworkAllowlist=tenant/NetworkAllowlist.csv")]
pub struct GenerateArgs {
    /// Number of users.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Number of application service principals (about half as many managed identities are
    /// added).
    #[arg(long, default_value_t = 12)]
    service_principals: usize,
    /// Number of days.
    #[arg(long, default_value_t = 16)]
    days: u32,
    /// Seed: the same seed and options write byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First day (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2024-05-01", value_name = "DATE")]
    start: String,
    /// Write only the benign background: the rule pack raises no alert on it.
    #[arg(long)]
    no_attacks: bool,
    /// Worker threads (0: one per core); the output does not depend on it.
    #[arg(short = 'w', long = "workers", default_value_t = 0)]
    workers: usize,
    /// gzip compression level, 0 to 9.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    compression: u32,
    /// The folder to write (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Runs `kqlflow generate`: 0 on success, 1 when the files could not be written, 2 for a
/// usage error.
pub fn run(args: &GenerateArgs) -> i32 {
    let Some(start) = sim::json::parse_date(&args.start) else {
        eprintln!("error: --start {}: not a date (YYYY-MM-DD)", args.start);
        return 2;
    };
    if args.days == 0 {
        eprintln!("error: --days must be at least 1");
        return 2;
    }
    let config = TenantConfig {
        users: args.users,
        service_principals: args.service_principals,
        days: args.days,
        seed: args.seed,
        start,
        attacks: !args.no_attacks,
        threads: args.workers,
        compression: args.compression,
    };
    let clock = Instant::now();
    let summary = match sim::generate(&config, &args.out) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: writing {}: {e}", args.out.display());
            return 1;
        }
    };
    let secs = clock.elapsed().as_secs_f64().max(1e-9);
    let (records, raw, bytes) = summary.totals();
    let (users, sps, mis, jobs) = summary.entities;
    println!(
        "tenant {}: {users} users, {sps} service principals, {mis} managed identities, {jobs} provisioning jobs; {} day(s) from {}, seed {}",
        summary.domain, args.days, args.start, args.seed
    );
    println!(
        "{:<34} {:>6} {:>11} {:>11} {:>11} {:>9}",
        "table", "files", "records", "JSON", "gzip", "avg/rec"
    );
    for t in TABLES {
        let (r, raw_t, b) = summary.table_totals(t);
        let files = summary.files.iter().filter(|f| f.table == t).count();
        let avg = raw_t.checked_div(r).unwrap_or(0);
        println!(
            "{t:<34} {files:>6} {r:>11} {:>11} {:>11} {:>7} B",
            mb(raw_t),
            mb(b),
            avg
        );
    }
    println!(
        "{:<34} {:>6} {records:>11} {:>11} {:>11}",
        "total",
        summary.files.len(),
        mb(raw),
        mb(bytes)
    );
    println!(
        "arrival order: {} records written after a later event (ingestion delays up to {:.0} s); TimeGenerated is the event time",
        summary.out_of_order(),
        summary.max_delay_secs
    );
    if config.attacks {
        let scenarios = summary
            .labels
            .iter()
            .map(|l| l.scenario)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        println!(
            "attacks: {scenarios} instance(s), {} label(s) in {}",
            summary.labels.len(),
            summary.labels_path.display()
        );
        for kind in sim::KINDS {
            let mut rules: Vec<&str> = summary
                .labels
                .iter()
                .filter(|l| l.kind == kind)
                .map(|l| l.rule.as_str())
                .collect();
            let n = summary
                .labels
                .iter()
                .filter(|l| l.kind == kind)
                .map(|l| l.scenario)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            rules.sort_unstable();
            rules.dedup();
            println!("  {kind:<38} {n:>3}  -> {}", rules.join(", "));
        }
        for s in &summary.skipped {
            println!("  skipped {s}");
        }
    } else {
        println!("attacks: none (--no-attacks): the rule pack raises no alert");
    }
    println!("watchlist: {}", summary.allowlist_path.display());
    println!(
        "wrote {} in {secs:.2} s ({:.0} records/s, {:.1} MB/s of JSON)",
        mb(bytes),
        records as f64 / secs,
        raw as f64 / 1e6 / secs
    );
    println!(
        "hunt it: kqlflow hunt --rules dataflows/ --logs {0}/logs --watchlist NetworkAllowlist={0}/NetworkAllowlist.csv",
        args.out.display().to_string().trim_end_matches('/')
    );
    0
}
