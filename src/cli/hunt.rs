//! `kqlflow hunt`: the retro-hunt. Every rule of a rule folder runs incrementally over the
//! logs, and the alerts each would have raised are printed with the tick they were raised at,
//! followed by a summary.

use clap::Args;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::check::QueryOptions;
use crate::alerts::render::{AlertFormat, describe};
use crate::api::{Alert, AlertSink, HuntOptions, HuntSummary, RuleOptions, RulePack};
use crate::logs::ReadCounts;
use crate::model::{parse_datetime, parse_timespan};

/// Arguments of `kqlflow hunt`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kqlflow hunt --rules dataflows/ --logs exports/\n  \
kqlflow hunt --rules dataflows/ --logs exports/ --from 2024-05-01 --to 2024-05-08 --out alerts.jsonl\n  \
kqlflow hunt --rules dataflows/ --logs exports/ --watchlist NetworkAllowlist=allow.csv --format jsonl\n  \
kqlflow hunt --logs exports/ --report report.html\n  \
kqlflow hunt --rules dataflows/ --logs /shared/exports/ -w 2 -n 2 -p 0 --hostfile hosts.txt   (and -p 1 on the second host)"
)]
pub struct HuntArgs {
    /// Rule files (.yaml) or folders of them (default: the rule pack built into kqlflow, the
    /// `dataflows/` folder).
    #[arg(long, num_args = 1.., value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Log files or directories to read.
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    logs: Vec<PathBuf>,
    /// Report alerts raised at or after this time.
    #[arg(long, value_name = "DATETIME")]
    from: Option<String>,
    /// Report alerts raised at or before this time.
    #[arg(long, value_name = "DATETIME")]
    to: Option<String>,
    /// Also write the alerts' lifecycle events (as --format jsonl prints them) to FILE, to the
    /// end even when standard output closes early.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the hunt's report to FILE: one self-contained HTML page (the run, incidents,
    /// a timeline, the entities, a MITRE ATT&CK matrix) that opens offline in a browser.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// How to print the alerts.
    #[arg(long, value_enum, default_value_t = AlertFormat::Table)]
    format: AlertFormat,
    /// No colours in the table, even on a terminal.
    #[arg(long)]
    no_color: bool,
    /// The event-time step of the dataflows.
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    tick: String,
    #[command(flatten)]
    cluster: super::cluster::ClusterArgs,
    /// The table of records whose table nothing else tells.
    #[arg(long)]
    table: Option<String>,
    #[command(flatten)]
    arrival: super::logs::ArrivalArgs,
    #[command(flatten)]
    show: super::output::ShowArgs,
    #[command(flatten)]
    common: QueryOptions,
}

/// Loads the rule pack (the rule files of `paths`, or the built-in pack when there are none;
/// a custom table without a schema takes its columns from `logs`),
/// its notes, warnings and errors told on standard error, and keeps the rules `show` selects:
/// the pack (`failed` when a rule could not be read or bound), or the exit code of a usage
/// error.
pub(super) fn load_pack(
    paths: &[PathBuf],
    logs: &[PathBuf],
    common: &QueryOptions,
    show: &super::output::ShowArgs,
) -> Result<RulePack, i32> {
    let usage = |e: String| {
        eprintln!("error: {e}");
        2
    };
    let options = RuleOptions {
        logs: logs.to_vec(),
        ..common.options().map_err(usage)?
    };
    let loaded = if paths.is_empty() {
        RulePack::builtin(&options)
    } else {
        RulePack::load(paths, &options)
    };
    let mut pack = loaded.map_err(usage)?;
    for m in pack.messages.drain(..) {
        eprintln!("{m}");
    }
    let selection = show.selection();
    if !selection.is_all() && pack.select(&selection) == 0 {
        return Err(usage("--only-rule/--tactic select no rule".to_string()));
    }
    Ok(pack)
}

/// Drops from `pack` each rule that cannot run incrementally, telling why on standard error
/// when `tell`; whether any was dropped.
pub(super) fn keep_runnable(pack: &mut RulePack, tell: bool) -> bool {
    let dropped = pack.keep_runnable();
    for m in pack.messages.drain(..) {
        if tell {
            eprintln!("{m}");
        }
    }
    dropped
}

/// Each rule's severity (Informational when it gives none).
pub(super) fn severities(pack: &RulePack) -> Vec<String> {
    pack.rules
        .iter()
        .map(|r| {
            r.rule
                .severity
                .clone()
                .unwrap_or_else(|| "Informational".into())
        })
        .collect()
}

/// A progress bar on standard error for a run that shows it (on a terminal, in process 0),
/// drawn with `template`; else a hidden one.
pub(super) fn progress_bar(shown: bool, template: &str) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new(0);
    if std::io::stderr().is_terminal() && shown {
        progress.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
    } else {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress
}

/// How `hunt` shows the alerts as the library's hunt raises them: those raised between
/// `--from` and `--to`, printed, noted for the report, counted per rule and per entity.
struct HuntPrinter {
    printer: super::output::AlertPrinter,
    progress: indicatif::ProgressBar,
    /// `--from` and `--to`.
    from: Option<i64>,
    to: Option<i64>,
    /// The report's alerts (with `--report`, in process 0).
    log: Option<crate::report::AlertLog>,
    /// Per rule: alerts shown.
    shown: Vec<usize>,
    /// Entities of the alerts shown, with how many alerts name each.
    entities: BTreeMap<String, usize>,
    /// Whether the progress bar's length has been set.
    sized: bool,
}

impl AlertSink for HuntPrinter {
    fn alert(&mut self, a: Alert<'_>) {
        let t = a.event.tick as i64;
        if self.from.is_some_and(|f| t < f) || self.to.is_some_and(|x| t > x) {
            return;
        }
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
        if shown {
            if let Some(n) = self.shown.get_mut(a.index) {
                *n += 1;
            }
            for v in d.entities.values() {
                *self
                    .entities
                    .entry(v.as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
    }

    fn read(&mut self, counts: &ReadCounts) {
        if !self.sized {
            self.sized = true;
            self.progress.set_length(counts.records.values().sum());
        }
    }

    fn ticks(&mut self, ticks: &[crate::pack::TickDone]) {
        if let Some(t) = ticks.last() {
            self.progress.set_position(t.records);
        }
    }
}

/// The hunt's options of `args`, with `--from` and `--to`; or the message of a usage error.
fn hunt_options(args: &HuntArgs) -> Result<(HuntOptions, Option<i64>, Option<i64>), String> {
    let tick = match parse_timespan(&args.tick) {
        Some(t) if t > 0 => t,
        _ => {
            return Err(format!(
                "--tick {}: not a positive timespan (such as 1s, 1m)",
                args.tick
            ));
        }
    };
    let arrival = args.arrival.arrival(tick)?;
    let bound = |s: &Option<String>, name: &str| -> Result<Option<i64>, String> {
        match s {
            None => Ok(None),
            Some(s) => parse_datetime(s)
                .map(Some)
                .ok_or_else(|| format!("--{name} {s}: not a datetime")),
        }
    };
    let (from, to) = (bound(&args.from, "from")?, bound(&args.to, "to")?);
    let watchlists = super::logs::load_watchlists(&args.common)?;
    let cluster = args.cluster.options();
    let options = HuntOptions {
        tick,
        watchlists,
        table: args.table.clone(),
        rejects: args.arrival.rejects_path(&cluster),
        cluster,
        order: arrival.order,
        lateness: arrival.lateness,
        late: arrival.late,
        max_ahead: arrival.max_ahead,
    };
    Ok((options, from, to))
}

/// Runs `kqlflow hunt`: 0 when every rule ran, 1 when a rule could not be read, bound or run,
/// 2 for a usage error.
pub fn run(args: &HuntArgs) -> i32 {
    if let Err(e) = args.show.validate() {
        eprintln!("error: {e}");
        return 2;
    }
    let start = Instant::now();
    let (options, from, to) = match hunt_options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut pack = match load_pack(&args.rules, &args.logs, &args.common, &args.show) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let leader = options.cluster.process == 0;
    keep_runnable(&mut pack, leader);
    let failed = pack.failed;
    if leader && let Some(note) = args.arrival.unused_note() {
        eprintln!("{note}");
    }
    let printer = match super::output::AlertPrinter::new(
        args.format,
        args.no_color,
        &args.show,
        args.out.as_deref().filter(|_| leader),
        pack.rules.iter().map(|r| r.rule.name.clone()).collect(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut sink = HuntPrinter {
        printer,
        progress: progress_bar(
            leader,
            "{spinner} hunting {human_pos}/{human_len} records {wide_bar} {eta}",
        ),
        from,
        to,
        log: args
            .report
            .as_ref()
            .filter(|_| leader)
            .map(|_| crate::report::AlertLog::new(pack.rules.len())),
        shown: vec![0; pack.rules.len()],
        entities: BTreeMap::new(),
        sized: false,
    };
    let summary = match crate::api::hunt(&pack, &args.logs, &options, &mut sink) {
        Ok(s) => s,
        Err(e) => {
            sink.progress.finish_and_clear();
            let _ = sink.printer.finish();
            eprintln!("error: {e}");
            return 1;
        }
    };
    if !leader {
        super::cluster::follower_done(
            &options.cluster,
            summary.files,
            summary.local.records.values().sum(),
            "the alerts and the summary",
        );
        return i32::from(failed);
    }
    sink.progress.finish_and_clear();
    if let Err(e) = sink.printer.finish() {
        eprintln!("error: {e}");
        return 1;
    }
    super::logs::warn(&summary.counts);
    print_summary(args, &options, &pack, &summary, &sink, start);
    if let (Some(path), Some(log)) = (&args.report, sink.log.take()) {
        let rules = pack.pairs();
        let run = crate::report::gather::Run {
            command: "hunt",
            command_line: super::command_line(),
            counts: &summary.counts,
            arrival: (
                options.order.name(),
                args.arrival.lateness_text(),
                crate::logs::policy_name(options.late),
            ),
            pack: &rules,
            summary: &summary.pack,
            hunting_results: &sink.printer.hunting_results,
            incidents: &sink.printer.incidents,
            wall_seconds: start.elapsed().as_secs_f64(),
        };
        match crate::report::gather::write(path, &crate::report::gather::gather(run, log)) {
            Ok(()) => eprintln!("  report: {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    if sink.printer.stdout_closed {
        eprintln!(
            "error: standard output was closed before every alert was printed{}",
            if args.out.is_some() {
                "; the --out file holds them all"
            } else {
                ""
            }
        );
        return 1;
    }
    i32::from(failed)
}

/// Prints the hunt's summary on standard error: its incidents, the records read, the alerts
/// per rule (by severity, hunting queries apart), the top entities and the time taken.
fn print_summary(
    args: &HuntArgs,
    options: &HuntOptions,
    pack: &RulePack,
    summary: &HuntSummary,
    sink: &HuntPrinter,
    start: Instant,
) {
    let counts = &summary.counts;
    let printer = &sink.printer;
    let severities = severities(pack);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nsummary:");
    super::output::summarise_incidents(&mut err, &printer.incidents, &printer.rule_names, 20);
    for (t, n) in &counts.records {
        let _ = writeln!(err, "  {t}: {n} records");
    }
    let late = super::logs::late_summary(
        options.order.name(),
        args.arrival.lateness_text(),
        crate::logs::policy_name(options.late),
        counts.late.late,
        counts.late.accepted,
        counts.late.rejected,
    );
    let _ = writeln!(
        err,
        "  rejected lines: {}; records without event time: {}; {late}",
        counts.rejected, counts.timeless
    );
    if summary.pack.skipped > 0 {
        let _ = writeln!(
            err,
            "  {} records kept by no rule's first filter were not fed to the dataflow",
            summary.pack.skipped
        );
    }
    let mut by_severity: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    // Detections by severity, highest first, then hunting queries apart.
    let mut order: Vec<usize> = (0..pack.rules.len()).collect();
    let hunting = |i: usize| !pack.rules[i].rule.is_scheduled();
    order.sort_by_key(|&i| {
        (
            hunting(i),
            std::cmp::Reverse(crate::alerts::severity_rank(&severities[i]).unwrap_or(0)),
            i,
        )
    });
    let mut hunting_heading = false;
    for i in order {
        let (name, sev) = (&pack.rules[i].rule.name, &severities[i]);
        if hunting(i) {
            if !hunting_heading {
                hunting_heading = true;
                let _ = writeln!(
                    err,
                    "  hunting results ({}):",
                    if args.show.include_hunting {
                        "shown with the alerts"
                    } else {
                        "not alerts; --include-hunting shows them, --hunting-out writes them"
                    }
                );
            }
            let results = printer.hunting_results.get(i).copied().unwrap_or(0);
            let _ = writeln!(err, "    {name}: {results} result(s)");
            continue;
        }
        let n = sink.shown[i];
        let held = match summary.pack.suppressed.get(i) {
            Some(&s) if s > 0 => format!(" ({s} suppressed)"),
            _ => String::new(),
        };
        let e = by_severity
            .entry(crate::alerts::severity_rank(sev).unwrap_or(0))
            .or_insert_with(|| (sev.clone(), 0));
        e.1 += n;
        let _ = writeln!(err, "  [{sev}] {name}: {n} alert(s){held}");
    }
    let sev: Vec<String> = by_severity
        .into_values()
        .rev()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let _ = writeln!(
        err,
        "  alerts by severity: {}",
        if sev.is_empty() {
            "none".to_string()
        } else {
            sev.join(", ")
        }
    );
    let mut top: Vec<(&String, &usize)> = sink
        .entities
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = top
        .iter()
        .take(5)
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    if !top.is_empty() {
        let _ = writeln!(err, "  top entities: {}", top.join(", "));
    }
    let records: u64 = counts.records.values().sum();
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        err,
        "  {} rule(s), {records} records in {secs:.2} s ({rate:.0} records/s)",
        pack.rules.len()
    );
}
