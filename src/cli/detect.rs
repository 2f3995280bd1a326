//! `kqlflow detect`: live detection. The rule pack runs over records as they arrive (standard
//! input, or files followed as they grow), and each alert is printed the moment the record
//! that raises it has been fed; watchlist files are re-read when they change on disk.

use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::check::QueryOptions;
use super::logs::Late;
use crate::alerts::render::{AlertFormat, describe};
use crate::api::{
    Alert, AlertSink, DetectOptions, DetectSummary, LogInput, RulePack, WatchedWatchlist,
};
use crate::eval::Watchlist;
use crate::model::{format_datetime_iso, parse_timespan};
use crate::pack::stream::LateRecord;
use crate::runtime::arrival::LatePolicy;

/// What moves event time forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// Only the records: event time is the newest record's, so windows close as records come.
    Event,
    /// The records and the wall clock: event time is at least the time now, so windows close
    /// (and alerts clear) when the logs are quiet too. For logs of the present.
    Wall,
}

/// Arguments of `kqlflow detect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
tail -F /var/log/entra/signins.jsonl | kqlflow detect --rules dataflows/\n  \
kqlflow detect --rules dataflows/ --logs exports/ --follow --watchlist NetworkAllowlist=allow.csv\n  \
kqlflow detect --logs today.jsonl --format jsonl --out alerts.jsonl   (the built-in rule pack)")]
pub struct DetectArgs {
    /// Rule files (.yaml) or folders of them (default: the built-in rule pack).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Log files or directories to read, `-` for standard input (the default). Records are
    /// taken as they arrive, each file in its own line order; standard input and followed
    /// files are read as JSON Lines (one record, or one {"records":[…]} envelope, per line).
    #[arg(long, num_args = 1.., value_name = "PATH", default_value = "-")]
    logs: Vec<PathBuf>,
    /// Keep reading until interrupted (Ctrl-C): files as they grow (rotated or truncated
    /// files from their start) and new log files in the directories.
    #[arg(short = 'f', long)]
    follow: bool,
    /// How often watchlist files and log directories are looked at for changes, and the wall
    /// clock read under --clock wall.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    poll: String,
    /// How far the watermark trails the newest event time. With 0s an alert comes out as soon
    /// as the record that raises it is fed; a larger lateness lets records that arrive out of
    /// order by up to that much keep their own tick, and holds alerts back by as much.
    #[arg(long, default_value = "0s", value_name = "TIMESPAN")]
    allowed_lateness: String,
    /// A record stamped more than this ahead of the wall clock or of the newest record before
    /// it is rejected as a future record (a bad clock would otherwise make every later
    /// record late and blind detection); default 1d, `none` for no bound.
    #[arg(long, value_name = "TIMESPAN|none")]
    max_ahead: Option<String>,
    /// What becomes of a record older than the watermark: it enters at the current tick, or
    /// is rejected. Either way it is reported and counted.
    #[arg(long, value_enum, default_value_t = Late::Accept, value_name = "accept|reject")]
    late: Late,
    /// What moves event time forward.
    #[arg(long, value_enum, default_value_t = Clock::Event)]
    clock: Clock,
    /// Write every rejected line (unreadable lines, late records under --late=reject) to
    /// FILE as JSON Lines (file, line, reason, detail, text).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// How to print the alerts.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    format: AlertFormat,
    /// Also write the alerts' lifecycle events (as --format jsonl prints them) to FILE, as
    /// they happen.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No colours in the table, even on a terminal.
    #[arg(long)]
    no_color: bool,
    /// The event-time step of the dataflows.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    tick: String,
    /// Worker threads.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    workers: usize,
    /// The table of records whose table nothing else tells.
    #[arg(long)]
    table: Option<String>,
    #[command(flatten)]
    show: super::output::ShowArgs,
    #[command(flatten)]
    common: QueryOptions,
}

/// A timespan argument, or the usage error's message.
fn timespan(name: &str, text: &str, zero_ok: bool) -> Result<i64, String> {
    match parse_timespan(text) {
        Some(t) if t > 0 || (zero_ok && t == 0) => Ok(t),
        _ => Err(format!(
            "--{name} {text}: not a {} timespan (such as 0s, 500ms, 5m)",
            if zero_ok {
                "zero or positive"
            } else {
                "positive"
            }
        )),
    }
}

/// The detection's options of `args`, or the message of a usage error.
fn detect_options(args: &DetectArgs) -> Result<DetectOptions, String> {
    let tick = timespan("tick", &args.tick, false)?;
    let lateness = timespan("allowed-lateness", &args.allowed_lateness, true)?;
    let poll = timespan("poll", &args.poll, false)?;
    let max_ahead = super::logs::max_ahead(args.max_ahead.as_deref())?;
    if args.workers == 0 {
        return Err("-w must be at least 1".to_string());
    }
    let (watchlists, watched) = watched_watchlists(&args.common)?;
    Ok(DetectOptions {
        tick,
        lateness,
        late: match args.late {
            Late::Accept => LatePolicy::Accept,
            Late::Reject => LatePolicy::Reject,
        },
        max_ahead,
        workers: args.workers,
        table: args.table.clone(),
        follow: args.follow,
        poll: Duration::from_micros((poll / 10).max(1) as u64),
        wall_clock: args.clock == Clock::Wall,
        watchlists,
        watched,
        rejects: args.rejects.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        notices: Arc::new(|text: &str| eprintln!("{text}")),
    })
}

/// The watchlists of `--watchlist`, one file each, read now and watched for changes; or the
/// message of a usage error (a version dated with @, which is for hunt and replay, or a file
/// that cannot be read).
fn watched_watchlists(
    common: &QueryOptions,
) -> Result<(HashMap<String, Watchlist>, Vec<WatchedWatchlist>), String> {
    let dated = |w: &&String| {
        w.split_once('=')
            .and_then(|(_, f)| f.rsplit_once('@'))
            .is_some_and(|(f, at)| {
                !f.is_empty() && crate::model::parse_datetime(at.trim()).is_some()
            })
    };
    let refused = "detect re-reads a watchlist's file when it changes; a version dated with @ is for hunt and replay";
    if let Some(w) = common.watchlists.iter().find(dated) {
        return Err(format!("--watchlist {w}: {refused}"));
    }
    let mut watched = Vec::new();
    let mut watchlists = HashMap::new();
    for (name, files) in common.watchlist_paths()? {
        if !files.later.is_empty() {
            return Err(format!("--watchlist {name}: {refused}"));
        }
        let Some(path) = files.first else { continue };
        let (w, rows) = WatchedWatchlist::read(&name, &path)?;
        watchlists.insert(name, rows);
        watched.push(w);
    }
    Ok((watchlists, watched))
}

/// How `detect` shows the alerts and late records as the library's detection meets them.
struct DetectPrinter {
    printer: super::output::AlertPrinter,
    /// Per rule: alerts shown.
    shown: Vec<u64>,
    /// `--max-ahead`, for the future records' warnings.
    max_ahead: Option<i64>,
}

impl AlertSink for DetectPrinter {
    fn alert(&mut self, a: Alert<'_>) {
        if self.printer.ignores(a.event) {
            return;
        }
        let d = describe(a.rule, a.columns, a.event);
        if self.printer.event(a.index, a.rule, &d, a.event)
            && let Some(n) = self.shown.get_mut(a.index)
        {
            *n += 1;
        }
    }

    fn late(&mut self, late: &LateRecord) {
        let detail = crate::api::late_detail(late, self.max_ahead);
        if late.future {
            eprintln!("warning: future record {}: {detail}; rejected", late.origin);
            return;
        }
        let what = match late.entered {
            Some(t) => format!("entered at {}", format_datetime_iso(t as i64)),
            None => "rejected".to_string(),
        };
        eprintln!("warning: late record {}: {detail}; {what}", late.origin);
    }
}

/// Runs `kqlflow detect`: 0 when every rule ran, 1 when a rule could not be read, bound or
/// run, 2 for a usage error.
pub fn run(args: &DetectArgs) -> i32 {
    if let Err(e) = args.show.validate() {
        eprintln!("error: {e}");
        return 2;
    }
    let start = Instant::now();
    let options = match detect_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut pack = match super::hunt::load_pack(&args.rules, &args.logs, &args.common, &args.show) {
        Ok(p) => p,
        Err(code) => return code,
    };
    super::hunt::keep_runnable(&mut pack, true);
    let mut failed = pack.failed;
    let mut printer = match super::output::AlertPrinter::new(
        args.format,
        args.no_color,
        &args.show,
        args.out.as_deref(),
        pack.rules.iter().map(|r| r.rule.name.clone()).collect(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    printer.live = true;
    {
        let stop = options.stop.clone();
        // The first Ctrl-C ends the run with its summary; a second ends it at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::AcqRel) {
                std::process::exit(130);
            }
        });
    }
    let logs = args.logs.iter().cloned().map(LogInput::Path).collect();
    let mut sink = DetectPrinter {
        printer,
        shown: vec![0; pack.rules.len()],
        max_ahead: options.max_ahead,
    };
    let summary = match crate::api::detect(&pack, logs, &options, &mut sink) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Err(e) = sink.printer.finish() {
        eprintln!("error: {e}");
        failed = true;
    }
    print_summary(args, &options, &pack, &summary, &sink, start);
    i32::from(failed)
}

/// Prints the detection's summary on standard error: its incidents, the records read, the
/// rejected, late and future records, the alerts per rule, the latency and the time taken.
fn print_summary(
    args: &DetectArgs,
    options: &DetectOptions,
    pack: &RulePack,
    summary: &DetectSummary,
    sink: &DetectPrinter,
    start: Instant,
) {
    let secs = start.elapsed().as_secs_f64();
    let printer = &sink.printer;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nsummary:");
    super::output::summarise_incidents(&mut err, &printer.incidents, &printer.rule_names, 20);
    for (t, n) in &summary.records {
        let _ = writeln!(err, "  {t}: {n} records");
    }
    let _ = writeln!(
        err,
        "  rejected lines: {}; records without event time: {}; late records: {} ({} entered late, {} rejected; allowed lateness {}, --late={})",
        summary.rejected,
        summary.timeless,
        summary.late,
        summary.late_accepted,
        summary.late - summary.late_accepted,
        args.allowed_lateness,
        crate::logs::policy_name(options.late),
    );
    if summary.future > 0 {
        let _ = writeln!(
            err,
            "  future records rejected: {} (more than --max-ahead ahead of the wall clock or of the stream)",
            summary.future
        );
    }
    if summary.pack.skipped > 0 {
        let _ = writeln!(
            err,
            "  {} records kept by no rule's first filter were not fed to the dataflow",
            summary.pack.skipped
        );
    }
    let (reloads, reload_errors) = (summary.watchlist_reloads, summary.watchlist_errors);
    if reloads + reload_errors > 0 {
        let _ = writeln!(
            err,
            "  watchlist changes: {reloads} taken, {reload_errors} unreadable (kept the rows before)"
        );
    }
    let severities = super::hunt::severities(pack);
    for (i, r) in pack.rules.iter().enumerate() {
        let held = match summary.pack.suppressed.get(i) {
            Some(&n) if n > 0 => format!(" ({n} suppressed)"),
            _ => String::new(),
        };
        let _ = writeln!(
            err,
            "  [{}] {}: {} alert(s){held}",
            severities[i], r.rule.name, sink.shown[i]
        );
    }
    let p = &summary.latency;
    if p.count > 0 {
        let _ = writeln!(
            err,
            "  latency from a tick's close to its alerts, over {} ticks: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p.count, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    let total: u64 = summary.records.values().sum();
    let _ = writeln!(
        err,
        "  {} rule(s), {total} records in {secs:.2} s",
        pack.rules.len()
    );
}
