//! The replay: a rule pack run over logs as if they were arriving live, at a chosen speed, with
//! the latency of every tick measured (from handing the tick's last record to the dataflow
//! until its alerts are out).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use kqlflow_replay::latency::{LatencyRecorder, Percentiles, machine, peak_memory_bytes};

use super::hunt::{HuntOptions, HuntSummary, run_over_logs};
use super::{Alert, AlertSink, RulePack};
use crate::logs::ReadCounts;
use crate::model::format_datetime_iso;
use crate::pack::TickDone;
use crate::plan::window::human_duration;
use crate::runtime::live::Speed;

/// How [`replay`] runs: as a hunt does, at a chosen speed.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// The logs, the pack's watchlists, the tick, the arrival order and the cluster.
    pub run: HuntOptions,
    /// How fast event time passes (default: as fast as the dataflow goes).
    pub speed: Speed,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            run: HuntOptions::default(),
            speed: Speed::Max,
        }
    }
}

/// What a replay read, raised and measured.
#[derive(Clone, Debug)]
pub struct ReplaySummary {
    /// What was read and raised, as a hunt tells it.
    pub run: HuntSummary,
    /// Records handed to the dataflow over the replay: (seconds since it started, records
    /// so far), a sample every 50 ms at most, the last at its end.
    pub progress: Vec<(f64, u64)>,
    /// The latency of each tick: (percentile, milliseconds), as a curve.
    pub latency_curve: Vec<(f64, f64)>,
    /// Ticks measured.
    pub latency_ticks: u64,
    /// The report (`kqlflow replay --report`'s JSON).
    pub report: ReplayReport,
}

/// The JSON report of a replay.
#[derive(Clone, Debug, Default, serde::Serialize)]
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
    /// The incidents the alerts group into (0 from [`replay`]: grouping alerts into incidents
    /// is the caller's, see [`crate::alerts::incidents::Grouper`]).
    pub incidents: usize,
    /// Peak resident memory of this process, in bytes.
    pub peak_memory_bytes: Option<u64>,
}

impl ReplayReport {
    /// The report of a replay of `pack` with `options` that did `run`, its ticks' latency
    /// `latency`. The command line is this process's; the speed, tick and lateness are as
    /// the options give them (`max` or N times real time, timespans such as `1s`).
    fn of(
        pack: &RulePack,
        options: &ReplayOptions,
        run: &HuntSummary,
        latency: &Percentiles,
    ) -> ReplayReport {
        let counts = &run.counts;
        let records: u64 = counts.records.values().sum();
        let span = match (counts.earliest, counts.latest) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e7,
            _ => 0.0,
        };
        let mut alerts = BTreeMap::new();
        let mut hunting = BTreeMap::new();
        for (r, n) in pack.rules.iter().zip(&run.pack.raised) {
            let into = if r.rule.is_scheduled() {
                &mut alerts
            } else {
                &mut hunting
            };
            let name = r
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            *into.entry(name).or_insert(0) += *n;
        }
        let per_second = |n: f64| {
            if run.run_seconds > 0.0 {
                n / run.run_seconds
            } else {
                0.0
            }
        };
        let o = &options.run;
        ReplayReport {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            version: crate::VERSION.to_string(),
            machine: machine(),
            workers: o.cluster.workers,
            processes: o.cluster.processes,
            speed: match options.speed {
                Speed::Max => "max".to_string(),
                Speed::Times(v) => v.to_string(),
            },
            tick: human_duration(o.tick),
            rules: pack.rules.len(),
            records,
            records_per_table: counts.records.clone(),
            rejected: counts.rejected,
            order: o.order.name().to_string(),
            allowed_lateness: human_duration(o.lateness),
            late_policy: crate::logs::policy_name(o.late).to_string(),
            late_records: counts.late.late,
            late_accepted: counts.late.accepted,
            late_rejected: counts.late.rejected,
            skipped_at_source: run.pack.skipped,
            from: counts.earliest.map(format_datetime_iso),
            to: counts.latest.map(format_datetime_iso),
            ingest_seconds: run.ingest_seconds,
            replay_seconds: run.run_seconds,
            records_per_second: per_second(records as f64),
            speedup: per_second(span),
            latency: latency.clone(),
            alerts_total: alerts.values().sum(),
            alerts,
            hunting_results: hunting,
            incidents: 0,
            peak_memory_bytes: peak_memory_bytes(),
        }
    }
}

/// Replays the logs at `logs` (files or folders, any input format) through every rule of
/// `pack` as `kqlflow replay` does: ticks are handed at `options.speed` and each one's latency
/// measured; `sink` receives each alert event as the rules raise it, and each tick. Every rule
/// must be one the incremental engine runs ([`RulePack::keep_runnable`]).
pub fn replay(
    pack: &RulePack,
    logs: &[PathBuf],
    options: &ReplayOptions,
    sink: &mut dyn AlertSink,
) -> Result<ReplaySummary, String> {
    let mut measured = Measured {
        inner: sink,
        latencies: LatencyRecorder::new()?,
        samples: Vec::new(),
        handed: 0,
        start: None,
    };
    let run = run_over_logs(pack, logs, &options.run, options.speed, &mut measured)?;
    let mut progress = measured.samples;
    progress.push((run.run_seconds, measured.handed));
    let report = ReplayReport::of(pack, options, &run, &measured.latencies.percentiles());
    Ok(ReplaySummary {
        progress,
        latency_curve: measured.latencies.curve(),
        latency_ticks: measured.latencies.count(),
        report,
        run,
    })
}

/// A sink that measures each tick's latency and samples the records handed, then passes
/// everything on.
struct Measured<'a> {
    inner: &'a mut dyn AlertSink,
    latencies: LatencyRecorder,
    samples: Vec<(f64, u64)>,
    handed: u64,
    /// When the replay started: when the logs had been read.
    start: Option<Instant>,
}

impl AlertSink for Measured<'_> {
    fn alert(&mut self, alert: Alert<'_>) {
        self.inner.alert(alert);
    }

    fn read(&mut self, counts: &ReadCounts) {
        self.start.get_or_insert_with(Instant::now);
        self.inner.read(counts);
    }

    fn ticks(&mut self, ticks: &[TickDone]) {
        for t in ticks {
            self.latencies.record(t.latency);
        }
        if let Some(t) = ticks.last() {
            let now = self.start.map_or(0.0, |s| s.elapsed().as_secs_f64());
            self.handed = t.records;
            if self.samples.last().is_none_or(|s| now - s.0 >= 0.05) {
                self.samples.push((now, t.records));
            }
        }
        self.inner.ticks(ticks);
    }
}
