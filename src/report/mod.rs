//! The run report: one self-contained HTML page an analyst opens after a retro-hunt, a replay
//! or the demo (`hunt --report`, `replay --report-html`, `demo --report`).
//!
//! A run's results are gathered ([`gather`]) into a [`RunReport`], plain data with no reference
//! to the engine, and [`html::render`] turns it into the page: what was read and rejected, the
//! rules' figures, incidents and alerts by severity, a timeline of alerts per rule, a table
//! per entity, a MITRE ATT&CK matrix, and for a replay its tick latency and throughput. The
//! plots are inline SVG drawn by [`svg`]; the page needs no network.

pub mod gather;
pub mod html;
pub mod svg;

/// Everything the report page shows. Times are in 100 ns ticks since the Unix epoch, as
/// everywhere in kqlflow.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// The command that ran: `hunt`, `replay` or `demo`.
    pub command: String,
    /// The command line.
    pub command_line: String,
    /// kqlflow's version.
    pub version: String,
    /// The tables read, with their records and time span.
    pub tables: Vec<TableRead>,
    /// Lines rejected, by reason.
    pub rejects: Vec<Rejected>,
    /// Records that arrived late, and what became of them.
    pub late: Late,
    /// Records left out for having no event time.
    pub timeless: u64,
    /// Records no rule's first filter keeps, not fed to the dataflow.
    pub skipped: u64,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// The rules run, in pack order (alerts and incidents refer to them by index).
    pub rules: Vec<RuleRun>,
    /// The alerts shown, in the order they were raised.
    pub alerts: Vec<Alert>,
    /// Alerts raised beyond those kept in `alerts` (counted, not listed).
    pub alerts_left_out: u64,
    /// The incidents the alerts group into, highest severity first.
    pub incidents: Vec<Incident>,
    /// The replay's figures, for `replay` and `demo`.
    pub replay: Option<ReplayFigures>,
}

/// One table read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRead {
    /// Its name.
    pub table: String,
    /// Records read.
    pub records: u64,
    /// Its earliest event time.
    pub first: Option<i64>,
    /// Its latest event time.
    pub last: Option<i64>,
}

/// Lines rejected for one reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rejected {
    /// The reason.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// The first few, as `file:line: detail`.
    pub examples: Vec<String>,
}

/// Late records: read in arrival order, older than the watermark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Late {
    /// The order records were fed in: `event` or `arrival`.
    pub order: String,
    /// The allowed lateness.
    pub lateness: String,
    /// What became of late records: `accept` or `reject`.
    pub policy: String,
    /// Late records.
    pub late: u64,
    /// Of them, fed at the watermark's tick.
    pub accepted: u64,
    /// Of them, rejected.
    pub rejected: u64,
}

/// One rule of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleRun {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: String,
    /// Its severity (`Informational` when it gives none).
    pub severity: String,
    /// Its MITRE ATT&CK tactics.
    pub tactics: Vec<String>,
    /// Its MITRE ATT&CK techniques.
    pub techniques: Vec<String>,
    /// A hunting query (its results are not alerts).
    pub hunting: bool,
    /// Records of the tables it reads.
    pub records_read: u64,
    /// Rows its query kept: the rows of its raised alerts and of their updates.
    pub rows_kept: u64,
    /// Alerts it raised that were shown (a hunting query's results count only when they are
    /// shown among the alerts).
    pub alerts: u64,
    /// A hunting query's results, shown or not.
    pub results: u64,
    /// Raises held back by its suppression.
    pub suppressed: u64,
}

/// A raised alert.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alert {
    /// When it was raised.
    pub tick: i64,
    /// Its rule's index in [`RunReport::rules`].
    pub rule: usize,
    /// Its severity's rank (see [`crate::alerts::SEVERITIES`]).
    pub severity: usize,
    /// Its title.
    pub title: String,
    /// Its entities: (`EntityType.identifier`, value).
    pub entities: Vec<(String, String)>,
}

/// An incident: alerts grouped by shared entities.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Incident {
    /// Its highest severity rank.
    pub severity: usize,
    /// Its title (its most severe alert's).
    pub title: String,
    /// Its first alert's tick.
    pub first: i64,
    /// Its last alert's tick.
    pub last: i64,
    /// How many alerts it holds.
    pub alerts: usize,
    /// Its rules' indexes.
    pub rules: Vec<usize>,
    /// Its entity values.
    pub entities: Vec<String>,
    /// Its first alerts.
    pub members: Vec<Alert>,
}

impl Incident {
    /// The report's form of an incident of an [`incidents::Grouper`](crate::alerts::incidents::Grouper).
    pub fn of(i: &crate::alerts::incidents::Incident) -> Incident {
        let title = i.title();
        Incident {
            severity: i.severity,
            title: title.to_string(),
            first: i.first as i64,
            last: i.last as i64,
            alerts: i.alerts,
            rules: i.rules.iter().copied().collect(),
            entities: i.entities.iter().cloned().collect(),
            members: i
                .members
                .iter()
                .map(|m| Alert {
                    tick: m.tick as i64,
                    rule: m.rule,
                    severity: m.severity,
                    title: m.title.clone(),
                    entities: m
                        .entities
                        .iter()
                        .map(|e| match e.split_once('=') {
                            Some((k, v)) => (k.to_string(), v.to_string()),
                            None => (String::new(), e.clone()),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A replay's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayFigures {
    /// `max` or N times real time.
    pub speed: String,
    /// The tick length.
    pub tick: String,
    /// Worker threads per process.
    pub workers: usize,
    /// Seconds reading the logs.
    pub ingest_seconds: f64,
    /// Seconds of the replay.
    pub replay_seconds: f64,
    /// Event time replayed per wall second.
    pub speedup: f64,
    /// Ticks measured.
    pub ticks: u64,
    /// Tick latency as a percentile curve: (quantile, milliseconds).
    pub latency: Vec<(f64, f64)>,
    /// Records handed to the dataflow over the replay: (seconds since its start, records so
    /// far), in time order.
    pub progress: Vec<(f64, u64)>,
}

/// How many alerts a command keeps for the report; beyond, they are counted only (the page
/// stays small, and the `--out` file holds them all).
pub const ALERTS_KEPT: usize = 200_000;

/// Gathers the alerts of a run for its report, up to [`ALERTS_KEPT`].
#[derive(Clone, Debug, Default)]
pub struct AlertLog {
    /// The alerts kept.
    pub alerts: Vec<Alert>,
    /// Alerts counted beyond those kept.
    pub left_out: u64,
    /// Per rule index: rows its query kept (raises and updates).
    pub rows_kept: Vec<u64>,
    /// Per rule index: alerts shown (kept or counted beyond).
    pub shown: Vec<u64>,
}

impl AlertLog {
    /// An empty log for `rules` rules.
    pub fn new(rules: usize) -> AlertLog {
        AlertLog {
            alerts: Vec::new(),
            left_out: 0,
            rows_kept: vec![0; rules],
            shown: vec![0; rules],
        }
    }

    /// Counts rows a rule's query kept.
    pub fn rows(&mut self, rule: usize, rows: usize) {
        if let Some(n) = self.rows_kept.get_mut(rule) {
            *n += rows as u64;
        }
    }

    /// Keeps a shown alert.
    pub fn push(&mut self, alert: Alert) {
        if let Some(n) = self.shown.get_mut(alert.rule) {
            *n += 1;
        }
        if self.alerts.len() < ALERTS_KEPT {
            self.alerts.push(alert);
        } else {
            self.left_out += 1;
        }
    }
}
