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
//! Rule files are read and bound with [`RuleOptions`] (watchlist and `externaldata` files,
//! the default query period, strictness) into a [`RulePack`], whose rules a [`RuleSelection`]
//! narrows; [`QueryFile`] reads and binds one query or rule file with diagnostics at their
//! place in the file, and [`run_query`] evaluates one bound query over logs at one tick.
//!
//! `examples/hunt.rs` is the same as a program (`cargo run --example hunt -- DIR`). To print
//! or write alerts as the commands do (a table, JSON Lines, CSV), describe each with
//! [`crate::alerts::render::describe`] and render it with a [`crate::alerts::render::Renderer`].

mod detect;
mod hunt;
mod query;
mod replay;
mod rules;

pub use detect::{
    DetectOptions, DetectSummary, LogInput, Notices, WatchedWatchlist, detect, late_detail,
};
pub use hunt::{HuntOptions, HuntSummary, hunt};
pub use query::{Engine, QueryOptions, QueryResult, run_query};
pub use replay::{ReplayOptions, ReplayReport, ReplaySummary, replay};
pub use rules::{
    PackRule, QueryFile, QueryPeriod, RuleOptions, RulePack, RuleSelection, rule_files,
};

use crate::alerts::AlertEvent;
use crate::logs::ReadCounts;
use crate::pack::TickDone;
use crate::pack::stream::LateRecord;
use crate::rules::Rule;

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
