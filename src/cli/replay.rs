//! `kqlflow replay`: a tenant's logs replayed through the rule pack as if they were arriving
//! live, at a chosen speed, with the latency of every tick measured (from handing the tick's
//! last record to the dataflow until the probe has passed it and its alerts are out) into an
//! hdrhistogram. Prints the raised alerts as they happen, then latency percentiles, records/s
//! and alerts per rule, and writes a JSON report.

use clap::Args;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use kqlflow_replay::latency::{LatencyRecorder, Percentiles, machine, peak_memory_bytes};

use super::check::QueryOptions;
use super::hunt::describe;
use crate::alerts::{Status, tracker_for};
use crate::eval::Watchlist;
use crate::logs::ReadCounts;
use crate::model::{format_datetime_iso, parse_timespan};
use crate::pack::{PackOptions, Report};
use crate::runtime::live::Speed;

/// Arguments of `kqlflow replay`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kqlflow replay --logs tenant/logs --watchlist NetworkAllowlist=tenant/NetworkAllowlist.csv\n  \
kqlflow replay --rules dataflows/ --logs tenant/logs --speed 3600 --tick 1s -w 2\n  \
kqlflow replay --logs tenant/logs --speed max --report report.json --alerts alerts.jsonl\n  \
kqlflow replay --logs tenant/logs --report-html report.html"
)]
pub struct ReplayArgs {
    /// Rule files (.yaml) or folders of them (default: the rule pack built into kqlflow, the
    /// `dataflows/` folder).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub(super) rules: Vec<PathBuf>,
    /// Log files or directories to replay.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub(super) logs: Vec<PathBuf>,
    /// How fast event time passes: `max` (each tick as soon as the previous one is through)
    /// or N times real time (`3600` replays an hour per second).
    #[arg(long, default_value = "max", value_name = "max|N")]
    pub(super) speed: String,
    /// The event-time step of the dataflow: a tick's records are handed together.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    pub(super) tick: String,
    /// Where to write the JSON report (default: a new file in the temporary folder,
    /// `kqlflow-replay-<time>-<pid>.json`, whose path is printed at the end).
    #[arg(long, value_name = "FILE")]
    pub(super) report: Option<PathBuf>,
    /// Also write the replay's report as one self-contained HTML page to FILE: the run,
    /// incidents, a timeline, the entities, a MITRE ATT&CK matrix, the tick latency
    /// percentiles and records/s over the replay.
    #[arg(long, value_name = "FILE")]
    pub(super) report_html: Option<PathBuf>,
    /// Also write the alerts' lifecycle events as JSON Lines to FILE (raised and closed;
    /// updated too with --updates).
    #[arg(long, value_name = "FILE")]
    pub(super) alerts: Option<PathBuf>,
    /// Do not print the alerts as they are raised (only the summary).
    #[arg(long)]
    pub(super) quiet: bool,
    /// The table of records whose table nothing else tells.
    #[arg(long)]
    pub(super) table: Option<String>,
    #[command(flatten)]
    pub(super) arrival: super::logs::ArrivalArgs,
    #[command(flatten)]
    pub(super) show: super::output::ShowArgs,
    #[command(flatten)]
    pub(super) common: QueryOptions,
    #[command(flatten)]
    pub(super) cluster: super::cluster::ClusterArgs,
}

/// The JSON report of a replay.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReplayReport {
    /// The command line.
    pub command: String,
    /// kqlflow's version and the commit it was built from, as `--version` prints them.
    pub version: String,
    /// The machine: cores and CPU model.
    pub machine: String,
    /// Worker threads per process.
    pub workers: usize,
    /// Processes.
    pub processes: usize,
    /// `max` or N (times real time).
    pub speed: String,
    /// The tick length.
    pub tick: String,
    /// Rules in the pack.
    pub rules: usize,
    /// Records replayed (the whole cluster's).
    pub records: u64,
    /// Records per table.
    pub records_per_table: std::collections::BTreeMap<String, u64>,
    /// Lines rejected: by ingest, and late records under `--late=reject`.
    pub rejected: u64,
    /// The order records were fed in: `event` or `arrival`.
    pub order: String,
    /// The allowed lateness (`--allowed-lateness`; it matters in arrival order).
    pub allowed_lateness: String,
    /// What became of late records: `accept` or `reject`.
    pub late_policy: String,
    /// Records older than the watermark when they arrived (arrival order only).
    pub late_records: u64,
    /// Of the late records, those fed at the watermark's tick.
    pub late_accepted: u64,
    /// Of the late records, those rejected (also counted in `rejected`).
    pub late_rejected: u64,
    /// Records no rule's filter on its scans keeps, not fed to the dataflow (process 0's
    /// share in a cluster).
    pub skipped_at_source: u64,
    /// The event-time span replayed.
    pub from: Option<String>,
    /// The end of the event-time span.
    pub to: Option<String>,
    /// Seconds spent reading the logs (before the replay).
    pub ingest_seconds: f64,
    /// Seconds of the replay itself.
    pub replay_seconds: f64,
    /// Records per second of replay.
    pub records_per_second: f64,
    /// Event time replayed per wall second (the achieved speed-up).
    pub speedup: f64,
    /// Per-tick latency (ticks at which records were handed).
    pub latency: Percentiles,
    /// Raised alerts per scheduled rule (file name → count).
    pub alerts: std::collections::BTreeMap<String, u64>,
    /// Raised alerts in all (scheduled rules).
    pub alerts_total: u64,
    /// Results raised per hunting query (file name → count): not alerts.
    pub hunting_results: std::collections::BTreeMap<String, u64>,
    /// The incidents the alerts group into.
    pub incidents: usize,
    /// Peak resident memory of this process, in bytes.
    pub peak_memory_bytes: Option<u64>,
}

/// What a replay did, for `kqlflow demo`: the report, and every raised alert as (tick, rule
/// file name, entities as `EntityType.identifier` → value).
pub(super) struct Outcome {
    pub(super) report: ReplayReport,
    /// Every raise, of detections and hunting queries alike.
    pub(super) raised: Vec<RaisedAlert>,
    /// The detections' alerts grouped into incidents, and the rules' names.
    pub(super) printer: super::output::AlertPrinter,
    /// The HTML report's data, with `--report-html` (process 0 only).
    pub(super) page: Option<crate::report::RunReport>,
}

/// A raised alert: (tick, rule file name, entities).
pub(super) type RaisedAlert = (u64, String, std::collections::BTreeMap<String, String>);

/// Runs `kqlflow replay`: 0 when every rule ran, 1 when one could not be read, bound or run,
/// 2 for a usage error.
pub fn run(args: &ReplayArgs) -> i32 {
    let watchlists = match super::logs::load_watchlists(&args.common) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match replay(args, &watchlists, true) {
        Ok((outcome, failed)) => {
            if args.cluster.process != 0 {
                return i32::from(failed);
            }
            print_summary(&outcome.report, &outcome.printer);
            if let (Some(path), Some(page)) = (&args.report_html, &outcome.page) {
                match super::page::write(path, page) {
                    Ok(()) => eprintln!("  HTML report: {}", path.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            }
            let text = serde_json::to_string_pretty(&outcome.report).unwrap_or_default() + "\n";
            let written = match &args.report {
                Some(path) => std::fs::write(path, text).map(|()| path.clone()),
                None => write_temporary_report(&text),
            };
            match written {
                Ok(path) => eprintln!("  report: {}", path.display()),
                Err(e) => {
                    eprintln!("error: writing the report: {e}");
                    return 1;
                }
            }
            i32::from(failed)
        }
        Err(code) => code,
    }
}

/// Writes the report into a new file of the temporary folder, named by the time and the
/// process id (never over an existing file, so a replay does not overwrite another's report);
/// its path.
fn write_temporary_report(text: &str) -> std::io::Result<PathBuf> {
    use std::io::ErrorKind;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let name = if attempt == 0 {
            format!("kqlflow-replay-{secs}-{}.json", std::process::id())
        } else {
            format!(
                "kqlflow-replay-{secs}-{}-{attempt}.json",
                std::process::id()
            )
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes()).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ));
            }
        }
    }
    Err(std::io::Error::new(
        ErrorKind::AlreadyExists,
        format!("no free report file name in {}", dir.display()),
    ))
}

/// Replays `args.logs` through the rules; prints the raised alerts as they happen when
/// `print` (and not `--quiet`). Returns the outcome and whether a rule failed, or an exit
/// code.
pub(super) fn replay(
    args: &ReplayArgs,
    watchlists: &HashMap<String, Watchlist>,
    print: bool,
) -> Result<(Outcome, bool), i32> {
    let usage = |m: String| {
        eprintln!("error: {m}");
        2
    };
    let tick = match parse_timespan(&args.tick) {
        Some(t) if t > 0 => t,
        _ => {
            return Err(usage(format!(
                "--tick {}: not a positive timespan (such as 1s, 1m)",
                args.tick
            )));
        }
    };
    let speed = Speed::parse(&args.speed).map_err(usage)?;
    let arrival = args.arrival.arrival(tick).map_err(usage)?;
    let (mut rules, mut failed) = if args.rules.is_empty() {
        super::hunt::builtin_rules(&args.common)?
    } else {
        super::hunt::load_rules(&args.rules, &args.common)?
    };
    args.show.select(&mut rules, |(_, r, _)| r).map_err(usage)?;
    let cluster = args.cluster.options();
    failed |= super::hunt::keep_runnable(&mut rules, true);
    let leader = cluster.process == 0;
    let started = Instant::now();
    let programs: Vec<&crate::plan::Program> = rules.iter().map(|(_, _, p)| p).collect();
    let files = crate::logs::share_of_files(&args.logs, cluster.processes, cluster.process);
    if leader && let Some(note) = args.arrival.unused_note() {
        eprintln!("{note}");
    }
    let log_options = crate::logs::LogOptions {
        table: args.table.clone(),
        arrival: arrival.clone(),
        rejects: args.arrival.rejects_path(&cluster),
    };
    let mut read = crate::logs::read_logs_for_pack(
        &programs,
        &files,
        &log_options,
        crate::pack::Shape::of_programs(programs.iter().copied()),
    )
    .map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let mine = read.counts();
    let fed = std::mem::take(&mut read.fed);
    let pack: Vec<(crate::rules::Rule, crate::plan::Program)> = rules
        .iter()
        .map(|(_, r, p)| (r.clone(), p.clone()))
        .collect();
    let names: Vec<String> = rules
        .iter()
        .map(|(path, _, _)| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let columns: Vec<Vec<String>> = pack.iter().map(|(r, p)| tracker_for(r, p).1).collect();
    let mut printer = super::output::AlertPrinter::new(
        super::hunt::AlertFormat::Table,
        false,
        &args.show,
        args.alerts.as_deref().filter(|_| leader),
        pack.iter().map(|(r, _)| r.name.clone()).collect(),
    )
    .map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    let total: u64 = mine.records.values().sum();
    let progress = indicatif::ProgressBar::new(total);
    if std::io::stderr().is_terminal() && leader {
        progress.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} replaying {wide_bar} {human_pos}/{human_len} records  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
    } else {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut latencies = LatencyRecorder::new().map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    let mut counts = mine.clone();
    let mut raised: Vec<RaisedAlert> = Vec::new();
    let mut log = args
        .report_html
        .as_ref()
        .filter(|_| leader)
        .map(|_| crate::report::AlertLog::new(pack.len()));
    // Records handed over the replay, for the page's throughput plot: a sample every 50 ms
    // at most.
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut handed = 0u64;
    printer.quiet = !(print && !args.quiet && leader);
    let options = PackOptions {
        cluster: cluster.clone(),
        tick,
        speed,
    };
    let replay_start = Instant::now();
    let summary = crate::pack::run_fed(
        &pack,
        fed,
        watchlists,
        &options,
        mine.to_note(),
        |report| match report {
            Report::Notes(notes) => {
                counts = ReadCounts::merge(notes);
                progress.set_length(counts.records.values().sum());
            }
            Report::Ticks(ticks) => {
                for t in ticks {
                    latencies.record(t.latency);
                }
                if log.is_some()
                    && let Some(t) = ticks.last()
                {
                    let now = replay_start.elapsed().as_secs_f64();
                    handed = t.records;
                    if samples.last().is_none_or(|s| now - s.0 >= 0.05) {
                        samples.push((now, t.records));
                    }
                }
                if let Some(t) = ticks.last() {
                    progress.set_position(t.records);
                    progress.set_message(format_datetime_iso(t.tick as i64));
                }
            }
            Report::Finished { .. } => {}
            Report::Alert { rule: i, event: e } => {
                let (rule, cols) = (&pack[*i].0, &columns[*i]);
                let d = describe(rule, cols, e);
                let shown = progress.suspend(|| printer.event(*i, rule, &d, e));
                if let Some(log) = log.as_mut() {
                    super::page::note_event(log, *i, &d, e, shown);
                }
                if e.status != Status::Raised {
                    return;
                }
                let ents = d
                    .entities
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect();
                raised.push((e.tick, names[*i].clone(), ents));
            }
        },
    );
    progress.finish_and_clear();
    let replay_seconds = replay_start.elapsed().as_secs_f64();
    let summary = summary.map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    if let Err(e) = printer.finish() {
        eprintln!("error: {e}");
        failed = true;
    }
    if !leader {
        super::cluster::follower_done(
            &cluster,
            files.len(),
            mine.records.values().sum(),
            "the alerts and the report",
        );
    } else {
        super::logs::warn(&counts);
    }
    let records: u64 = counts.records.values().sum();
    let span = match (counts.earliest, counts.latest) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e7,
        _ => 0.0,
    };
    let mut alerts = std::collections::BTreeMap::new();
    let mut hunting = std::collections::BTreeMap::new();
    for (i, n) in summary.raised.iter().enumerate() {
        let into = if pack[i].0.is_scheduled() {
            &mut alerts
        } else {
            &mut hunting
        };
        *into.entry(names[i].clone()).or_insert(0) += *n;
    }
    let report = ReplayReport {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        version: super::VERSION.to_string(),
        machine: machine(),
        workers: cluster.workers,
        processes: cluster.processes,
        speed: args.speed.clone(),
        tick: args.tick.clone(),
        rules: pack.len(),
        records,
        records_per_table: counts.records.clone(),
        rejected: counts.rejected,
        order: arrival.order.name().to_string(),
        allowed_lateness: args.arrival.lateness_text().to_string(),
        late_policy: crate::logs::policy_name(arrival.late).to_string(),
        late_records: counts.late.late,
        late_accepted: counts.late.accepted,
        late_rejected: counts.late.rejected,
        skipped_at_source: summary.skipped,
        from: counts.earliest.map(format_datetime_iso),
        to: counts.latest.map(format_datetime_iso),
        ingest_seconds,
        replay_seconds,
        records_per_second: if replay_seconds > 0.0 {
            records as f64 / replay_seconds
        } else {
            0.0
        },
        speedup: if replay_seconds > 0.0 {
            span / replay_seconds
        } else {
            0.0
        },
        latency: latencies.percentiles(),
        alerts_total: alerts.values().sum(),
        alerts,
        hunting_results: hunting,
        incidents: printer.incidents.incidents().len(),
        peak_memory_bytes: peak_memory_bytes(),
    };
    let page = log.map(|log| {
        let run = super::page::Run {
            command: "replay",
            counts: &counts,
            arrival: (
                arrival.order.name(),
                args.arrival.lateness_text(),
                crate::logs::policy_name(arrival.late),
            ),
            pack: &pack,
            summary: &summary,
            hunting_results: &printer.hunting_results,
            incidents: &printer.incidents,
            wall_seconds: started.elapsed().as_secs_f64(),
        };
        let mut page = super::page::gather(run, log);
        samples.push((replay_seconds, handed));
        page.replay = Some(crate::report::ReplayFigures {
            speed: args.speed.clone(),
            tick: args.tick.clone(),
            workers: cluster.workers,
            ingest_seconds,
            replay_seconds,
            speedup: report.speedup,
            ticks: latencies.count(),
            latency: latencies.curve(),
            progress: samples,
        });
        page
    });
    raised.sort();
    Ok((
        Outcome {
            report,
            raised,
            printer,
            page,
        },
        failed,
    ))
}

/// Prints a replay's summary on standard error: its incidents first, then its figures.
pub(super) fn print_summary(r: &ReplayReport, printer: &super::output::AlertPrinter) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nreplay summary:");
    super::output::summarise_incidents(&mut err, &printer.incidents, &printer.rule_names, 20);
    let _ = writeln!(
        err,
        "  {} records ({} rejected lines) from {} to {}, {} rule(s), speed {}, tick {}, {} worker(s) x {} process(es)",
        r.records,
        r.rejected,
        r.from.as_deref().unwrap_or("-"),
        r.to.as_deref().unwrap_or("-"),
        r.rules,
        r.speed,
        r.tick,
        r.workers,
        r.processes
    );
    let late = super::logs::late_summary(
        &r.order,
        &r.allowed_lateness,
        &r.late_policy,
        r.late_records,
        r.late_accepted,
        r.late_rejected,
    );
    let _ = writeln!(err, "  {late}");
    if r.skipped_at_source > 0 {
        let _ = writeln!(
            err,
            "  {} records kept by no rule's first filter were not fed to the dataflow",
            r.skipped_at_source
        );
    }
    let _ = writeln!(
        err,
        "  ingest {:.2} s; replay {:.2} s: {:.0} records/s, {:.0}x real time",
        r.ingest_seconds, r.replay_seconds, r.records_per_second, r.speedup
    );
    let l = &r.latency;
    let _ = writeln!(
        err,
        "  tick latency over {} ticks: p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
        l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
    for (rule, n) in &r.alerts {
        let _ = writeln!(err, "  {rule}: {n} alert(s)");
    }
    let _ = writeln!(err, "  alerts: {}", r.alerts_total);
    if !r.hunting_results.is_empty() {
        let _ = writeln!(
            err,
            "  hunting results (not alerts; --include-hunting shows them, --hunting-out writes them):"
        );
        for (rule, n) in &r.hunting_results {
            let _ = writeln!(err, "    {rule}: {n} result(s)");
        }
    }
    if let Some(b) = r.peak_memory_bytes {
        let _ = writeln!(err, "  peak memory: {:.1} MiB", b as f64 / 1048576.0);
    }
}
