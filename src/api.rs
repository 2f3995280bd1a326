//! The library's entry points for the jobs the command line runs: load a rule pack (rule files,
//! folders of them, or the built-in pack), read logs in any format, and hunt over them, the
//! alerts coming to a sink of the caller's as the rules raise, update and close them.
//!
//! ```no_run
//! use kqlflow::api::{HuntOptions, RulePack, hunt};
//!
//! # fn main() -> Result<(), String> {
//! let pack = RulePack::builtin(&Default::default())?;
//! for message in &pack.messages {
//!     eprintln!("{message}");
//! }
//! let summary = hunt(&pack, &["tenant/logs".into()], &HuntOptions::default(), &mut |alert| {
//!     println!("{} {:?} {:?}", alert.rule.name, alert.event.status, alert.event.key);
//! })?;
//! println!("{} records read, {} rejected", summary.records, summary.rejected);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/hunt.rs` is the same as a program (`cargo run --example hunt -- DIR`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::alerts::AlertEvent;
use crate::cli::check::{Loaded, QueryOptions};
use crate::eval::Watchlist;
use crate::pack::{PackOptions, Report};
use crate::plan::Program;
use crate::rules::Rule;
use crate::runtime::ClusterOptions;
use crate::runtime::live::Speed;

/// How rules are bound: watchlist files, `externaldata` files, the default query period,
/// strictness (the command line's shared options; `Default` for none).
pub type RuleOptions = QueryOptions;

/// A rule of a pack, bound.
#[derive(Clone, Debug)]
pub struct PackRule {
    /// The file it was read from (`dataflows/NAME.yaml` for the built-in pack).
    pub path: PathBuf,
    /// The rule.
    pub rule: Rule,
    /// Its query, bound.
    pub program: Program,
}

/// The rules of a pack that bind, with what loading them had to say.
#[derive(Clone, Debug, Default)]
pub struct RulePack {
    /// The rules that bound, in file order.
    pub rules: Vec<PackRule>,
    /// Notes, warnings and errors, each naming its file, in the order they arose.
    pub messages: Vec<String>,
    /// Whether some rule file could not be read or bound (it is left out, its error in
    /// `messages`).
    pub failed: bool,
}

impl RulePack {
    /// The rule pack built into the binary (the `dataflows/` files), bound with `options`.
    pub fn builtin(options: &RuleOptions) -> Result<RulePack, String> {
        let texts = crate::demo::RULES
            .iter()
            .map(|(name, text)| (Path::new("dataflows").join(name), Some(text.to_string())))
            .collect();
        RulePack::bind(texts, options)
    }

    /// The rule files (.yaml, .yml) of `paths` (files, or folders of them), bound with
    /// `options`. An error when there are none, or when `options` cannot be used.
    pub fn load(paths: &[PathBuf], options: &RuleOptions) -> Result<RulePack, String> {
        let files = rule_files(paths);
        if files.is_empty() {
            return Err(format!(
                "no rule files (.yaml) in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        RulePack::bind(files.into_iter().map(|f| (f, None)).collect(), options)
    }

    /// Reads (unless its text is given) and binds each rule file.
    fn bind(
        files: Vec<(PathBuf, Option<String>)>,
        options: &RuleOptions,
    ) -> Result<RulePack, String> {
        let mut pack = RulePack::default();
        for (f, text) in files {
            let loaded = match text.map_or_else(|| Loaded::read(&f), |t| Loaded::from_text(&f, t)) {
                Ok(l) => l,
                Err(e) => {
                    pack.messages.push(e);
                    pack.failed = true;
                    continue;
                }
            };
            let Some(rule) = loaded.rule.clone() else {
                pack.messages.push(format!(
                    "{}: error: not a rule file (hunt runs Sentinel rule YAML)",
                    f.display()
                ));
                pack.failed = true;
                continue;
            };
            let opts = options.bind_options(Some(&rule))?;
            let program = match loaded.bind(&opts) {
                Ok(p) => p,
                Err(e) => {
                    pack.messages.push(e);
                    pack.failed = true;
                    continue;
                }
            };
            // What check says of the rule, said here too: a note (a watchlist without its
            // file or a column, a union leg skipped) changes what the rule can find.
            let mut told = Vec::new();
            told.extend(
                program
                    .notes
                    .iter()
                    .map(|n| format!("{}: note: {n}", f.display())),
            );
            told.extend(loaded.warnings(&program));
            told.extend(
                crate::alerts::check_rule(&rule)
                    .into_iter()
                    .map(|w| format!("{}: warning: {w}", f.display())),
            );
            let strict_stop = !told.is_empty() && options.strict;
            pack.messages.extend(told);
            if let Some(first) = pack.rules.iter().find(|r| r.rule.id == rule.id) {
                pack.messages.push(format!(
                    "{}: error: rule id {} is also the id of {}: each rule needs its own id",
                    f.display(),
                    rule.id,
                    first.path.display()
                ));
                pack.failed = true;
                continue;
            }
            if strict_stop {
                pack.messages.push(format!(
                    "{}: error: --strict: not run because of the notes and warnings above",
                    f.display()
                ));
                pack.failed = true;
                continue;
            }
            pack.rules.push(PackRule {
                path: f,
                rule,
                program,
            });
        }
        Ok(pack)
    }

    /// Drops each rule the incremental engine cannot run, with an error in `messages` (and
    /// `failed` set); whether any was dropped.
    pub fn keep_runnable(&mut self) -> bool {
        let mut dropped = Vec::new();
        self.rules.retain(
            |r| match crate::pack::check(&[(r.rule.clone(), r.program.clone())]) {
                Ok(()) => true,
                Err(e) => {
                    dropped.push(format!("{}: error: {e}", r.path.display()));
                    false
                }
            },
        );
        let any = !dropped.is_empty();
        self.failed |= any;
        self.messages.extend(dropped);
        any
    }
}

/// The rule files of `paths`: each file as given, each folder's .yaml and .yml files sorted.
pub(crate) fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            found
                .retain(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// How [`hunt`] runs.
#[derive(Clone, Debug)]
pub struct HuntOptions {
    /// The tick length in 100 ns units (default one second): the event-time granularity at
    /// which alerts are raised.
    pub tick: i64,
    /// Watchlists by name, with their later versions.
    pub watchlists: HashMap<String, Watchlist>,
    /// The table of records whose table nothing else tells (a file named after no table).
    pub table: Option<String>,
    /// Worker threads and processes.
    pub cluster: ClusterOptions,
}

impl Default for HuntOptions {
    fn default() -> HuntOptions {
        HuntOptions {
            tick: crate::model::TICKS_PER_SECOND,
            watchlists: HashMap::new(),
            table: None,
            cluster: ClusterOptions::default(),
        }
    }
}

/// One step of an alert's lifecycle, as [`hunt`] hands it to its sink.
pub struct HuntAlert<'a> {
    /// The rule that raised it.
    pub rule: &'a Rule,
    /// The rule's result columns (the positions of the event's rows).
    pub columns: &'a [String],
    /// Raised, updated or closed, with its rows and tick.
    pub event: &'a AlertEvent,
}

/// What a hunt read and raised.
#[derive(Clone, Debug, Default)]
pub struct HuntSummary {
    /// Records read, over every table.
    pub records: u64,
    /// Lines rejected (the ingest report tells why).
    pub rejected: u64,
    /// Per rule of the pack: alerts raised.
    pub raised: Vec<u64>,
}

/// Reads the logs at `logs` (files or folders, any input format) and runs every rule of
/// `pack` over them in event-time order, as `kqlflow hunt` does: `sink` receives each alert
/// event (raised, updated, closed) as the rules raise it.
pub fn hunt(
    pack: &RulePack,
    logs: &[PathBuf],
    options: &HuntOptions,
    sink: &mut dyn FnMut(HuntAlert<'_>),
) -> Result<HuntSummary, String> {
    let programs: Vec<&Program> = pack.rules.iter().map(|r| &r.program).collect();
    let log_options = crate::logs::LogOptions {
        table: options.table.clone(),
        arrival: crate::logs::Arrival {
            tick: options.tick,
            ..Default::default()
        },
        rejects: None,
    };
    let mut read = crate::logs::read_logs_for_pack(
        &programs,
        logs,
        &log_options,
        crate::pack::Shape::of_programs(programs.iter().copied()),
    )?;
    let counts = read.counts();
    let fed = std::mem::take(&mut read.fed);
    let rules: Vec<(Rule, Program)> = pack
        .rules
        .iter()
        .map(|r| (r.rule.clone(), r.program.clone()))
        .collect();
    let columns: Vec<Vec<String>> = rules
        .iter()
        .map(|(r, p)| crate::alerts::tracker_for(r, p).1)
        .collect();
    let run = PackOptions {
        cluster: options.cluster.clone(),
        tick: options.tick,
        speed: Speed::Max,
    };
    let summary = crate::pack::run_fed(
        &rules,
        fed,
        &options.watchlists,
        &run,
        counts.to_note(),
        |report| {
            if let Report::Alert { rule, event } = report
                && let (Some((r, _)), Some(cols)) = (rules.get(*rule), columns.get(*rule))
            {
                sink(HuntAlert {
                    rule: r,
                    columns: cols,
                    event,
                });
            }
        },
    )?;
    Ok(HuntSummary {
        records: counts.records.values().sum(),
        rejected: counts.rejected,
        raised: summary.raised,
    })
}
