//! The retro-hunt: a rule pack run over logs as fast as it goes, and the run over logs that
//! [`super::replay`] paces.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use super::{Alert, AlertSink, RulePack};
use crate::eval::Watchlist;
use crate::logs::{Arrival, LogOptions, Order, ReadCounts};
use crate::pack::{PackOptions, PackSummary, Report};
use crate::runtime::ClusterOptions;
use crate::runtime::arrival::LatePolicy;
use crate::runtime::live::Speed;

/// How [`hunt`] (and [`super::replay`]) read the logs and run the pack.
#[derive(Clone, Debug)]
pub struct HuntOptions {
    /// The tick length in 100 ns units (default one second): the event-time granularity at
    /// which alerts are raised.
    pub tick: i64,
    /// Watchlists by name, with their later versions.
    pub watchlists: HashMap<String, Watchlist>,
    /// The table of records whose table nothing else tells (a file named after no table).
    pub table: Option<String>,
    /// Worker threads and processes. With several processes, each is run with the same
    /// options but its own `cluster.process`, and reads its share of the log files
    /// ([`crate::logs::share_of_files`]); process 0's sink receives the alerts.
    pub cluster: ClusterOptions,
    /// The order records reach the rules in (default: event time).
    pub order: Order,
    /// In arrival order: how far the watermark trails the newest event time, in 100 ns units
    /// (default five minutes).
    pub lateness: i64,
    /// In arrival order: what becomes of a late record (default: it enters late).
    pub late: LatePolicy,
    /// How far ahead of the wall clock (or, in arrival order, of the newest record before it)
    /// a record may be before it is rejected as a future record, in 100 ns units (default
    /// one day); `None` for any.
    pub max_ahead: Option<i64>,
    /// Where this process writes every rejected line as JSON Lines, if anywhere.
    pub rejects: Option<PathBuf>,
}

impl Default for HuntOptions {
    fn default() -> HuntOptions {
        let arrival = Arrival::default();
        HuntOptions {
            tick: crate::model::TICKS_PER_SECOND,
            watchlists: HashMap::new(),
            table: None,
            cluster: ClusterOptions::default(),
            order: arrival.order,
            lateness: arrival.lateness,
            late: arrival.late,
            max_ahead: arrival.max_ahead,
            rejects: None,
        }
    }
}

impl HuntOptions {
    /// The order and lateness options as the log reader takes them.
    pub fn arrival(&self) -> Arrival {
        Arrival {
            order: self.order,
            lateness: self.lateness,
            late: self.late,
            tick: self.tick,
            max_ahead: self.max_ahead,
        }
    }
}

/// What a hunt read and raised.
#[derive(Clone, Debug, Default)]
pub struct HuntSummary {
    /// Records read, over every table (the whole cluster's).
    pub records: u64,
    /// Lines rejected: unreadable, from the future, or late under [`LatePolicy::Reject`]
    /// (the whole cluster's).
    pub rejected: u64,
    /// Per rule of the pack: alerts raised.
    pub raised: Vec<u64>,
    /// What was read, the whole cluster's: per table, rejects by reason, late records.
    pub counts: ReadCounts,
    /// What this process read.
    pub local: ReadCounts,
    /// The log files this process read (its share, in a cluster).
    pub files: usize,
    /// The pack's counts: raises suppressed per rule, ticks, records no rule keeps.
    pub pack: PackSummary,
    /// Seconds spent reading the logs.
    pub ingest_seconds: f64,
    /// Seconds spent running the pack over them.
    pub run_seconds: f64,
}

/// Reads the logs at `logs` (files or folders, any input format) and runs every rule of
/// `pack` over them in event-time (or arrival) order, as `kqlflow hunt` does: `sink`
/// receives each alert event (raised, updated, closed) as the rules raise it. Every rule must
/// be one the incremental engine runs ([`RulePack::keep_runnable`]).
pub fn hunt(
    pack: &RulePack,
    logs: &[PathBuf],
    options: &HuntOptions,
    sink: &mut dyn AlertSink,
) -> Result<HuntSummary, String> {
    run_over_logs(pack, logs, options, Speed::Max, sink)
}

/// Reads this process's share of `logs` for `pack` and runs the pack over them at `speed`,
/// telling `sink` what was read, each tick and each alert.
pub(super) fn run_over_logs(
    pack: &RulePack,
    logs: &[PathBuf],
    options: &HuntOptions,
    speed: Speed,
    sink: &mut dyn AlertSink,
) -> Result<HuntSummary, String> {
    let started = Instant::now();
    let cluster = &options.cluster;
    let files = crate::logs::share_of_files(logs, cluster.processes, cluster.process);
    let programs: Vec<&crate::plan::Program> = pack.rules.iter().map(|r| &r.program).collect();
    let log_options = LogOptions {
        table: options.table.clone(),
        arrival: options.arrival(),
        rejects: options.rejects.clone(),
    };
    let mut read = crate::logs::read_logs_for_pack(
        &programs,
        &files,
        &log_options,
        crate::pack::Shape::of_programs(programs.iter().copied()),
    )?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let local = read.counts();
    sink.read(&local);
    let fed = std::mem::take(&mut read.fed);
    let rules = pack.pairs();
    let columns = pack.columns();
    let run = PackOptions {
        cluster: cluster.clone(),
        tick: options.tick,
        speed,
    };
    let mut counts = local.clone();
    let run_start = Instant::now();
    let summary = crate::pack::run_fed(
        &rules,
        fed,
        &options.watchlists,
        &run,
        local.to_note(),
        |report| match report {
            Report::Notes(notes) => {
                counts = ReadCounts::merge(notes);
                sink.read(&counts);
            }
            Report::Ticks(ticks) => sink.ticks(ticks),
            Report::Finished { .. } => {}
            Report::Alert { rule, event } => {
                if let (Some((r, _)), Some(cols)) = (rules.get(*rule), columns.get(*rule)) {
                    sink.alert(Alert {
                        index: *rule,
                        rule: r,
                        columns: cols,
                        event,
                    });
                }
            }
        },
    )?;
    Ok(HuntSummary {
        records: counts.records.values().sum(),
        rejected: counts.rejected,
        raised: summary.raised.clone(),
        counts,
        local,
        files: files.len(),
        pack: summary,
        ingest_seconds,
        run_seconds: run_start.elapsed().as_secs_f64(),
    })
}
