//! `kqlflow hunt`: the retro-hunt. Every rule of a rule folder runs incrementally over the
//! logs, and the alerts each would have raised are printed with the tick they were raised at,
//! followed by a summary.

use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::check::QueryOptions;
use crate::alerts::{Status, tracker_for};
use crate::logs::ReadCounts;
use crate::model::{Value, format_datetime_iso, parse_datetime, parse_timespan, to_json_text};
use crate::pack::{PackOptions, Report};
use crate::plan::Program;
use crate::rules::Rule;
use crate::runtime::Time;
use crate::runtime::live::Speed;

/// How alerts are printed on standard output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AlertFormat {
    /// One line per alert, coloured by severity on a terminal.
    Table,
    /// One JSON object per lifecycle event: raised and closed (updated too with --updates).
    Jsonl,
    /// CSV of the raised alerts: tick, severity, rule, rule id, title, entities, rows (JSON).
    Csv,
}

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

/// One alert event's line in the JSON Lines output.
#[derive(serde::Serialize)]
struct AlertRecord<'a> {
    rule_id: &'a str,
    rule: &'a str,
    /// `alert` for a scheduled rule, `hunting` for a hunting query's result.
    kind: &'static str,
    title: &'a str,
    description: &'a str,
    severity: &'a str,
    tactics: &'a [String],
    techniques: &'a [String],
    status: Status,
    tick: String,
    entities: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<&'a str, &'a str>,
    /// The key's rows in the result after the event.
    count: usize,
    /// Raised: the key's rows; updated: the rows added.
    rows: Vec<serde_json::Value>,
    /// Updated: the rows removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<serde_json::Value>,
}

fn entities(rule: &Rule, columns: &[String], row: &[Value]) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for m in &rule.entity_mappings {
        for f in &m.field_mappings {
            if let Some(i) = columns.iter().position(|c| *c == f.column_name) {
                let v = row.get(i).map(|v| v.to_string()).unwrap_or_default();
                out.insert(
                    format!("{}.{}", m.entity_type, f.identifier),
                    serde_json::Value::String(v),
                );
            }
        }
    }
    out
}

/// An alert event as it is shown.
pub(super) struct Described {
    /// Its entities: `EntityType.identifier` → value.
    pub entities: BTreeMap<String, serde_json::Value>,
    /// The entities as `k=v` text.
    pub shown: String,
    /// What the alert says about itself (title, description, severity, …).
    pub details: crate::alerts::Details,
    /// Its JSON Lines record.
    pub line: String,
}

/// An alert event `e` of `rule` (whose result has `columns`) as it is shown.
pub(super) fn describe(
    rule: &Rule,
    columns: &[String],
    e: &crate::alerts::AlertEvent,
) -> Described {
    // A closed alert has no rows left: its entities come from its key, laid out as a row.
    let from_key = || {
        let mut row = vec![Value::Null; columns.len()];
        for (i, v) in crate::alerts::alert_key(rule, columns)
            .into_iter()
            .zip(&e.key)
        {
            if let Some(cell) = row.get_mut(i) {
                *cell = v.clone();
            }
        }
        row
    };
    let keyed;
    let row: &[Value] = match e.rows.first().or(e.removed.first()) {
        Some(r) => r,
        None => {
            keyed = from_key();
            &keyed
        }
    };
    let ents = entities(rule, columns, row);
    let details = crate::alerts::details(rule, columns, row);
    let shown: Vec<String> = ents
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let record = AlertRecord {
        rule_id: &rule.id,
        rule: &rule.name,
        kind: if rule.is_scheduled() {
            "alert"
        } else {
            "hunting"
        },
        title: &details.title,
        description: &details.description,
        severity: &details.severity,
        tactics: &details.tactics,
        techniques: &rule.relevant_techniques,
        status: e.status,
        tick: format_datetime_iso(e.tick as i64),
        entities: ents.clone(),
        custom_details: details
            .custom
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        count: e.count,
        rows: e.rows.iter().map(|r| row_json(columns, r)).collect(),
        removed: e.removed.iter().map(|r| row_json(columns, r)).collect(),
    };
    let line = serde_json::to_string(&record).unwrap_or_default();
    Described {
        entities: ents,
        shown: shown.join("  "),
        details,
        line,
    }
}

fn row_json(columns: &[String], row: &[Value]) -> serde_json::Value {
    let text = format!(
        "{{{}}}",
        columns
            .iter()
            .zip(row)
            .map(|(c, v)| format!(
                "{}:{}",
                serde_json::Value::String(c.clone()),
                to_json_text(v)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

pub(super) fn colour(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "high" => "\x1b[31m",
        "medium" => "\x1b[33m",
        "low" => "\x1b[36m",
        "informational" => "\x1b[34m",
        _ => "",
    }
}

/// A rule read from its file and bound: (file, rule, plan).
pub(super) type LoadedRule = (PathBuf, Rule, Program);

/// Drops from `rules` each rule that cannot run incrementally, telling why on standard error
/// when `tell`; whether any was dropped.
pub(super) fn keep_runnable(rules: &mut Vec<LoadedRule>, tell: bool) -> bool {
    let mut pack = to_pack(std::mem::take(rules));
    let dropped = pack.keep_runnable();
    if tell {
        for m in &pack.messages {
            eprintln!("{m}");
        }
    }
    *rules = from_pack(pack);
    dropped
}

/// `rules` as the library's pack.
fn to_pack(rules: Vec<LoadedRule>) -> crate::api::RulePack {
    crate::api::RulePack {
        rules: rules
            .into_iter()
            .map(|(path, rule, program)| crate::api::PackRule {
                path,
                rule,
                program,
            })
            .collect(),
        ..Default::default()
    }
}

/// The rules of the library's `pack`.
fn from_pack(pack: crate::api::RulePack) -> Vec<LoadedRule> {
    pack.rules
        .into_iter()
        .map(|r| (r.path, r.rule, r.program))
        .collect()
}

/// A pack's rules as the pack runs them, with each rule's result columns and severity.
pub(super) type PackParts = (Vec<(Rule, Program)>, Vec<Vec<String>>, Vec<String>);

/// The pack of `rules`: (rule, plan) pairs, each rule's result columns, each rule's severity
/// (Informational when it gives none).
pub(super) fn pack_parts(rules: &[LoadedRule]) -> PackParts {
    let pack: Vec<(Rule, Program)> = rules
        .iter()
        .map(|(_, r, p)| (r.clone(), p.clone()))
        .collect();
    let columns = pack.iter().map(|(r, p)| tracker_for(r, p).1).collect();
    let severities = pack
        .iter()
        .map(|(r, _)| r.severity.clone().unwrap_or_else(|| "Informational".into()))
        .collect();
    (pack, columns, severities)
}

/// Reads and binds the rule files (.yaml) of `paths` (files or folders): the rules that bind,
/// and whether any could not be read or bound (each told on standard error); or the exit
/// code of a usage error.
pub(super) fn load_rules(
    paths: &[PathBuf],
    common: &QueryOptions,
) -> Result<(Vec<LoadedRule>, bool), i32> {
    told(crate::api::RulePack::load(paths, common))
}

/// The rule pack built into the binary (the `dataflows/` files), bound.
pub(super) fn builtin_rules(common: &QueryOptions) -> Result<(Vec<LoadedRule>, bool), i32> {
    told(crate::api::RulePack::builtin(common))
}

/// A loaded pack's rules and whether some failed, its messages told on standard error; or
/// exit code 2 for an error that stops the run.
fn told(pack: Result<crate::api::RulePack, String>) -> Result<(Vec<LoadedRule>, bool), i32> {
    match pack {
        Ok(pack) => {
            for m in &pack.messages {
                eprintln!("{m}");
            }
            let failed = pack.failed;
            Ok((from_pack(pack), failed))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(2)
        }
    }
}

/// Runs `kqlflow hunt`: 0 when every rule ran, 1 when a rule could not be read, bound or run,
/// 2 for a usage error.
pub fn run(args: &HuntArgs) -> i32 {
    if let Err(e) = args.show.validate() {
        eprintln!("error: {e}");
        return 2;
    }
    let start = Instant::now();
    let tick = match parse_timespan(&args.tick) {
        Some(t) if t > 0 => t,
        _ => {
            eprintln!(
                "error: --tick {}: not a positive timespan (such as 1s, 1m)",
                args.tick
            );
            return 2;
        }
    };
    let arrival = match args.arrival.arrival(tick) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let bound = |s: &Option<String>, name: &str| -> Result<Option<i64>, String> {
        match s {
            None => Ok(None),
            Some(s) => parse_datetime(s)
                .map(Some)
                .ok_or_else(|| format!("--{name} {s}: not a datetime")),
        }
    };
    let (from, to) = match (bound(&args.from, "from"), bound(&args.to, "to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let watchlists = match super::logs::load_watchlists(&args.common) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let loaded = if args.rules.is_empty() {
        builtin_rules(&args.common)
    } else {
        load_rules(&args.rules, &args.common)
    };
    let (mut rules, mut failed) = match loaded {
        Ok(r) => r,
        Err(code) => return code,
    };
    if let Err(e) = args.show.select(&mut rules, |(_, r, _)| r) {
        eprintln!("error: {e}");
        return 2;
    }
    let cluster = args.cluster.options();
    failed |= keep_runnable(&mut rules, cluster.process == 0);
    let programs: Vec<&Program> = rules.iter().map(|(_, _, p)| p).collect();
    // With several processes, each reads its share of the files; process 0 prints.
    let files = crate::logs::share_of_files(&args.logs, cluster.processes, cluster.process);
    if cluster.process == 0
        && let Some(note) = args.arrival.unused_note()
    {
        eprintln!("{note}");
    }
    let log_options = crate::logs::LogOptions {
        table: args.table.clone(),
        arrival: arrival.clone(),
        rejects: args.arrival.rejects_path(&cluster),
    };
    let mut read = match crate::logs::read_logs_for_pack(
        &programs,
        &files,
        &log_options,
        crate::pack::Shape::of_programs(programs.iter().copied()),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mine = read.counts();
    let fed = std::mem::take(&mut read.fed);
    let mut printer = match super::output::AlertPrinter::new(
        args.format,
        args.no_color,
        &args.show,
        args.out.as_deref().filter(|_| cluster.process == 0),
        rules.iter().map(|(_, r, _)| r.name.clone()).collect(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut top_entities: BTreeMap<String, usize> = BTreeMap::new();
    let in_range = |t: Time| from.is_none_or(|f| t as i64 >= f) && to.is_none_or(|x| t as i64 <= x);
    let total: u64 = mine.records.values().sum();
    let progress = indicatif::ProgressBar::new(total);
    if std::io::stderr().is_terminal() && cluster.process == 0 {
        progress.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} hunting {human_pos}/{human_len} records {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
    } else {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let (pack, columns, severities) = pack_parts(&rules);
    let mut counts = mine.clone();
    let mut raised_in_range = vec![0usize; pack.len()];
    let mut log = args
        .report
        .as_ref()
        .filter(|_| cluster.process == 0)
        .map(|_| crate::report::AlertLog::new(pack.len()));
    let options = PackOptions {
        cluster: cluster.clone(),
        tick,
        speed: Speed::Max,
    };
    let summary = crate::pack::run_fed(
        &pack,
        fed,
        &watchlists,
        &options,
        mine.to_note(),
        |report| match report {
            Report::Notes(notes) => counts = ReadCounts::merge(notes),
            Report::Ticks(ticks) => {
                if let Some(t) = ticks.last() {
                    progress.set_position(t.records);
                }
            }
            Report::Finished { .. } => {}
            Report::Alert {
                rule: order,
                event: e,
            } => {
                let (rule, columns) = (&pack[*order].0, &columns[*order]);
                if !in_range(e.tick) {
                    return;
                }
                let d = describe(rule, columns, e);
                let shown = progress.suspend(|| printer.event(*order, rule, &d, e));
                if let Some(log) = log.as_mut() {
                    super::page::note_event(log, *order, &d, e, shown);
                }
                if shown {
                    raised_in_range[*order] += 1;
                    for v in d.entities.values() {
                        *top_entities
                            .entry(v.as_str().unwrap_or("").to_string())
                            .or_default() += 1;
                    }
                }
            }
        },
    );
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            progress.finish_and_clear();
            let _ = printer.finish();
            eprintln!("error: {e}");
            return 1;
        }
    };
    if cluster.process != 0 {
        super::cluster::follower_done(
            &cluster,
            files.len(),
            mine.records.values().sum(),
            "the alerts and the summary",
        );
        return i32::from(failed);
    }
    progress.finish_and_clear();
    if let Err(e) = printer.finish() {
        eprintln!("error: {e}");
        return 1;
    }
    super::logs::warn(&counts);
    let per_rule: Vec<(String, String, usize, u64, bool)> = pack
        .iter()
        .enumerate()
        .map(|(i, (r, _))| {
            (
                r.name.clone(),
                severities[i].clone(),
                raised_in_range[i],
                summary.suppressed.get(i).copied().unwrap_or(0),
                !r.is_scheduled(),
            )
        })
        .collect();
    let secs = start.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\nsummary:");
    super::output::summarise_incidents(&mut err, &printer.incidents, &printer.rule_names, 20);
    for (t, n) in &counts.records {
        let _ = writeln!(err, "  {t}: {n} records");
    }
    let late = super::logs::late_summary(
        arrival.order.name(),
        args.arrival.lateness_text(),
        crate::logs::policy_name(arrival.late),
        counts.late.late,
        counts.late.accepted,
        counts.late.rejected,
    );
    let _ = writeln!(
        err,
        "  rejected lines: {}; records without event time: {}; {late}",
        counts.rejected, counts.timeless
    );
    if summary.skipped > 0 {
        let _ = writeln!(
            err,
            "  {} records kept by no rule's first filter were not fed to the dataflow",
            summary.skipped
        );
    }
    let mut by_severity: BTreeMap<usize, (String, usize)> = BTreeMap::new();
    // Detections by severity, highest first, then hunting queries apart.
    let mut order: Vec<usize> = (0..per_rule.len()).collect();
    order.sort_by_key(|&i| {
        let (_, sev, _, _, hunting) = &per_rule[i];
        (
            *hunting,
            std::cmp::Reverse(crate::alerts::severity_rank(sev).unwrap_or(0)),
            i,
        )
    });
    let mut hunting_heading = false;
    for i in order {
        let (name, sev, n, suppressed, hunting) = &per_rule[i];
        let held = if *suppressed > 0 {
            format!(" ({suppressed} suppressed)")
        } else {
            String::new()
        };
        if *hunting {
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
        let e = by_severity
            .entry(crate::alerts::severity_rank(sev).unwrap_or(0))
            .or_insert_with(|| (sev.clone(), 0));
        e.1 += n;
        let _ = writeln!(err, "  [{sev}] {name}: {n} alert(s){held}");
    }
    let by_severity: Vec<(String, usize)> = by_severity.into_values().rev().collect();
    let sev: Vec<String> = by_severity
        .iter()
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
    let mut top: Vec<(&String, &usize)> =
        top_entities.iter().filter(|(k, _)| !k.is_empty()).collect();
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
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        err,
        "  {} rule(s), {records} records in {secs:.2} s ({rate:.0} records/s)",
        rules.len()
    );
    if let (Some(path), Some(log)) = (&args.report, log) {
        let run = super::page::Run {
            command: "hunt",
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
            wall_seconds: start.elapsed().as_secs_f64(),
        };
        match super::page::write(path, &super::page::gather(run, log)) {
            Ok(()) => {
                let _ = writeln!(err, "  report: {}", path.display());
            }
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return 1;
            }
        }
    }
    if printer.stdout_closed {
        let _ = writeln!(
            err,
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
