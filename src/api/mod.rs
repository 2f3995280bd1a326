//! The library's entry points for the jobs the command line runs: load a rule pack (rule files,
//! folders of them, or the built-in pack), then run it over logs in any format as a
//! [`hunt`] (as fast as it goes), a [`replay`] (paced, each tick's latency measured) or a live
//! [`detect`] (files followed as they grow, or a stream of lines), on one or several workers
//! or processes. The alerts come to an [`AlertSink`] of the caller's as the rules raise,
//! update and close them; each job returns what it read and did.
//!
//! ```no_run
//! use kqlflow::api::{HuntOptions, RulePack, hunt, on_alert};
//!
//! # fn main() -> Result<(), String> {
//! let pack = RulePack::builtin(&Default::default())?;
//! for message in &pack.messages {
//!     eprintln!("{message}");
//! }
//! let mut sink = on_alert(|alert| {
//!     println!("{} {:?} {:?}", alert.rule.name, alert.event.status, alert.event.key);
//! });
//! let summary = hunt(&pack, &["tenant/logs".into()], &HuntOptions::default(), &mut sink)?;
//! println!("{} records read, {} rejected", summary.records, summary.rejected);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/hunt.rs` is the same as a program (`cargo run --example hunt -- DIR`). To print
//! or write alerts as the commands do (a table, JSON Lines, CSV), describe each with
//! [`crate::alerts::render::describe`] and render it with a [`crate::alerts::render::Renderer`].

mod detect;
mod hunt;
mod replay;

pub use detect::{
    DetectOptions, DetectSummary, LogInput, Notices, WatchedWatchlist, detect, late_detail,
};
pub use hunt::{HuntOptions, HuntSummary, hunt};
pub use replay::{ReplayOptions, ReplayReport, ReplaySummary, replay};

use std::path::{Path, PathBuf};

use crate::alerts::AlertEvent;
use crate::cli::check::{Loaded, QueryOptions};
use crate::logs::ReadCounts;
use crate::pack::TickDone;
use crate::pack::stream::LateRecord;
use crate::plan::Program;
use crate::rules::Rule;

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

impl RulePack {
    /// Each rule with its plan, as the pack's dataflow runs them.
    pub(crate) fn pairs(&self) -> Vec<(Rule, Program)> {
        self.rules
            .iter()
            .map(|r| (r.rule.clone(), r.program.clone()))
            .collect()
    }

    /// Each rule's result columns, as its alerts' rows are laid out.
    pub(crate) fn columns(&self) -> Vec<Vec<String>> {
        self.rules
            .iter()
            .map(|r| crate::alerts::tracker_for(&r.rule, &r.program).1)
            .collect()
    }
}

/// One step of an alert's lifecycle, as a job hands it to its sink.
pub struct Alert<'a> {
    /// The rule's index in the pack.
    pub index: usize,
    /// The rule that raised it.
    pub rule: &'a Rule,
    /// The rule's result columns (the positions of the event's rows).
    pub columns: &'a [String],
    /// Raised, updated or closed, with its rows and tick.
    pub event: &'a AlertEvent,
}

/// What receives a job's alerts, and, if it wants them, what the job read and how its ticks
/// went. Every method is called on the thread that called the job, in the order things happen.
pub trait AlertSink {
    /// A step of an alert's lifecycle: raised, updated or closed.
    fn alert(&mut self, alert: Alert<'_>);

    /// What was read: [`hunt`] and [`replay`] tell this process's read as soon as its logs are
    /// read, then the whole cluster's once every process has reported.
    fn read(&mut self, _counts: &ReadCounts) {}

    /// Ticks whose records are through the dataflow and whose alerts are out, in order: their
    /// latency and the records handed so far.
    fn ticks(&mut self, _ticks: &[TickDone]) {}

    /// A late record that entered at the watermark's tick or was rejected, or a record from
    /// the future that was rejected ([`detect`]; [`hunt`] and [`replay`] count theirs in
    /// what they read).
    fn late(&mut self, _record: &LateRecord) {}
}

/// An [`AlertSink`] that hands each alert to a closure and ignores the rest (see [`on_alert`]).
pub struct OnAlert<F>(pub F);

impl<F: FnMut(Alert<'_>)> AlertSink for OnAlert<F> {
    fn alert(&mut self, alert: Alert<'_>) {
        (self.0)(alert)
    }
}

/// A sink that calls `f` with each alert: `hunt(&pack, &logs, &options, &mut on_alert(|a| …))`.
pub fn on_alert<F: FnMut(Alert<'_>)>(f: F) -> OnAlert<F> {
    OnAlert(f)
}
