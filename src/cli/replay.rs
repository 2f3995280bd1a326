//! `kqlflow replay`: a tenant's logs replayed through the rule pack as if they were arriving
//! live, at a chosen speed, with the latency of every tick measured (from handing the tick's
//! last record to the dataflow until the probe has passed it and its alerts are out) into an
//! hdrhistogram. Prints the raised alerts as they happen, then latency percentiles, records/s
//! and alerts per rule, and writes a JSON report.

use clap::Args;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::check::QueryOptions;
use crate::alerts::Status;
use crate::alerts::render::describe;
use crate::api::{Alert, AlertSink, HuntOptions, ReplayOptions, ReplayReport};
use crate::eval::Watchlist;
use crate::logs::ReadCounts;
use crate::model::{format_datetime_iso, parse_timespan};
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
                match crate::report::gather::write(path, page) {
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

/// How `replay` shows the alerts as the library's replay raises them: printed (unless
/// quiet), noted for the HTML report, every raise kept for the demo; and the progress.
struct ReplayPrinter {
    printer: super::output::AlertPrinter,
    progress: indicatif::ProgressBar,
    /// The HTML report's alerts (with `--report-html`, in process 0).
    log: Option<crate::report::AlertLog>,
    /// Each rule's file name.
    names: Vec<String>,
    /// Every raise.
    raised: Vec<RaisedAlert>,
}

impl AlertSink for ReplayPrinter {
    fn alert(&mut self, a: Alert<'_>) {
        if self.printer.ignores(a.event) {
            if let Some(log) = self.log.as_mut() {
                log.rows(a.index, a.event.rows.len());
            }
            return;
        }
        let d = describe(a.rule, a.columns, a.event);
        let printer = &mut self.printer;
        let shown = self
            .progress
            .suspend(|| printer.event(a.index, a.rule, &d, a.event));
        if let Some(log) = self.log.as_mut() {
            crate::report::gather::note_event(log, a.index, &d, a.event, shown);
        }
        if a.event.status != Status::Raised {
            return;
        }
        let ents = d
            .entities
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        let name = self.names.get(a.index).cloned().unwrap_or_default();
        self.raised.push((a.event.tick, name, ents));
    }

    fn read(&mut self, counts: &ReadCounts) {
        self.progress.set_length(counts.records.values().sum());
    }

    fn ticks(&mut self, ticks: &[crate::pack::TickDone]) {
        if let Some(t) = ticks.last() {
            self.progress.set_position(t.records);
            self.progress
                .set_message(format_datetime_iso(t.tick as i64));
        }
    }
}

/// The replay's options of `args` with `watchlists`, or the message of a usage error.
fn replay_options(
    args: &ReplayArgs,
    watchlists: &HashMap<String, Watchlist>,
) -> Result<ReplayOptions, String> {
    let tick = match parse_timespan(&args.tick) {
        Some(t) if t > 0 => t,
        _ => {
            return Err(format!(
                "--tick {}: not a positive timespan (such as 1s, 1m)",
                args.tick
            ));
        }
    };
    let speed = Speed::parse(&args.speed)?;
    let arrival = args.arrival.arrival(tick)?;
    let cluster = args.cluster.options();
    Ok(ReplayOptions {
        run: HuntOptions {
            tick,
            watchlists: watchlists.clone(),
            table: args.table.clone(),
            rejects: args.arrival.rejects_path(&cluster),
            cluster,
            order: arrival.order,
            lateness: arrival.lateness,
            late: arrival.late,
            max_ahead: arrival.max_ahead,
        },
        speed,
    })
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
    let options = replay_options(args, watchlists).map_err(usage)?;
    let mut pack = super::hunt::load_pack(&args.rules, &args.logs, &args.common, &args.show)?;
    super::hunt::keep_runnable(&mut pack, true);
    let mut failed = pack.failed;
    let cluster = &options.run.cluster;
    let leader = cluster.process == 0;
    let started = Instant::now();
    if leader && let Some(note) = args.arrival.unused_note() {
        eprintln!("{note}");
    }
    let mut printer = super::output::AlertPrinter::new(
        crate::alerts::render::AlertFormat::Table,
        false,
        &args.show,
        args.alerts.as_deref().filter(|_| leader),
        pack.rules.iter().map(|r| r.rule.name.clone()).collect(),
    )
    .map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    printer.quiet = !(print && !args.quiet && leader);
    let mut sink = ReplayPrinter {
        printer,
        progress: super::hunt::progress_bar(
            leader,
            "{spinner} replaying {wide_bar} {human_pos}/{human_len} records  {msg}",
        ),
        log: args
            .report_html
            .as_ref()
            .filter(|_| leader)
            .map(|_| crate::report::AlertLog::new(pack.rules.len())),
        names: pack
            .rules
            .iter()
            .map(|r| {
                r.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect(),
        raised: Vec::new(),
    };
    let result = crate::api::replay(&pack, &args.logs, &options, &mut sink);
    sink.progress.finish_and_clear();
    let done = result.map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    if let Err(e) = sink.printer.finish() {
        eprintln!("error: {e}");
        failed = true;
    }
    if !leader {
        super::cluster::follower_done(
            cluster,
            done.run.files,
            done.run.local.records.values().sum(),
            "the alerts and the report",
        );
    } else {
        super::logs::warn(&done.run.counts);
    }
    // The report says the speed, tick and lateness as they were given.
    let report = ReplayReport {
        speed: args.speed.clone(),
        tick: args.tick.clone(),
        allowed_lateness: args.arrival.lateness_text().to_string(),
        incidents: sink.printer.incidents.incidents().len(),
        ..done.report.clone()
    };
    let page = sink.log.take().map(|log| {
        let rules = pack.pairs();
        let run = crate::report::gather::Run {
            command: "replay",
            command_line: super::command_line(),
            counts: &done.run.counts,
            arrival: (&report.order, &report.allowed_lateness, &report.late_policy),
            pack: &rules,
            summary: &done.run.pack,
            hunting_results: &sink.printer.hunting_results,
            incidents: &sink.printer.incidents,
            wall_seconds: started.elapsed().as_secs_f64(),
        };
        let mut page = crate::report::gather::gather(run, log);
        page.replay = Some(crate::report::ReplayFigures {
            speed: args.speed.clone(),
            tick: args.tick.clone(),
            workers: cluster.workers,
            ingest_seconds: report.ingest_seconds,
            replay_seconds: report.replay_seconds,
            speedup: report.speedup,
            ticks: done.latency_ticks,
            latency: done.latency_curve.clone(),
            progress: done.progress.clone(),
        });
        page
    });
    sink.raised.sort();
    Ok((
        Outcome {
            report,
            raised: sink.raised,
            printer: sink.printer,
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
