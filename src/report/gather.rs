//! A report gathered from a run of the engine: what a hunt, replay or the demo read, ran and
//! raised, turned into the plain [`RunReport`] the page shows, and the page written.

use std::path::Path;

use super::{AlertLog, Incident, Late, Rejected, RuleRun, RunReport, TableRead};
use crate::alerts::incidents::Grouper;
use crate::alerts::render::Described;
use crate::alerts::{AlertEvent, Status, severity_rank};
use crate::logs::ReadCounts;
use crate::pack::PackSummary;
use crate::plan::Program;
use crate::rules::Rule;

/// Notes a rule's event for the report: the rows its query kept, and, when `shown` (a raise
/// the printer counted as an alert), the alert.
pub fn note_event(log: &mut AlertLog, index: usize, d: &Described, e: &AlertEvent, shown: bool) {
    if matches!(e.status, Status::Raised | Status::Updated) {
        log.rows(index, e.rows.len());
    }
    if shown {
        log.push(crate::report::Alert {
            tick: e.tick as i64,
            rule: index,
            severity: severity_rank(&d.details.severity).unwrap_or(0),
            title: d.details.title.clone(),
            entities: d
                .entities
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        });
    }
}

/// What a run read and did, for its report.
pub struct Run<'a> {
    /// `hunt`, `replay` or `demo`.
    pub command: &'static str,
    /// The command line (or what the program that ran says of itself).
    pub command_line: String,
    /// The records read (the whole cluster's): per table with its time span, and the rejects
    /// by reason.
    pub counts: &'a ReadCounts,
    /// The order records were fed in, the allowed lateness and the late policy.
    pub arrival: (&'a str, &'a str, &'a str),
    /// The rules run.
    pub pack: &'a [(Rule, Program)],
    /// The pack's counts.
    pub summary: &'a PackSummary,
    /// Hunting results per rule.
    pub hunting_results: &'a [u64],
    /// The incidents.
    pub incidents: &'a Grouper,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

/// The report of a run whose alerts are in `log`.
pub fn gather(run: Run<'_>, log: AlertLog) -> RunReport {
    let counts = run.counts;
    let tables = counts
        .records
        .iter()
        .map(|(t, n)| {
            let span = counts.spans.get(t);
            TableRead {
                table: t.clone(),
                records: *n,
                first: span.and_then(|s| s.0),
                last: span.and_then(|s| s.1),
            }
        })
        .collect();
    let rejects = counts
        .rejects
        .iter()
        .map(|(reason, (count, examples))| Rejected {
            reason: reason.clone(),
            count: *count,
            examples: examples.clone(),
        })
        .collect();
    let rules = run
        .pack
        .iter()
        .enumerate()
        .map(|(i, (rule, program))| {
            let read = crate::exec::columns_read_by(std::iter::once(program));
            RuleRun {
                name: rule.name.clone(),
                id: rule.id.clone(),
                severity: rule
                    .severity
                    .clone()
                    .unwrap_or_else(|| "Informational".into()),
                tactics: rule.tactics.clone(),
                techniques: rule.relevant_techniques.clone(),
                hunting: !rule.is_scheduled(),
                records_read: read
                    .keys()
                    .map(|t| counts.records.get(t).copied().unwrap_or(0))
                    .sum(),
                rows_kept: log.rows_kept.get(i).copied().unwrap_or(0),
                alerts: log.shown.get(i).copied().unwrap_or(0),
                results: run.hunting_results.get(i).copied().unwrap_or(0),
                suppressed: run.summary.suppressed.get(i).copied().unwrap_or(0),
            }
        })
        .collect();
    RunReport {
        command: run.command.to_string(),
        command_line: run.command_line,
        version: crate::VERSION.to_string(),
        tables,
        rejects,
        late: Late {
            order: run.arrival.0.to_string(),
            lateness: run.arrival.1.to_string(),
            policy: run.arrival.2.to_string(),
            late: counts.late.late,
            accepted: counts.late.accepted,
            rejected: counts.late.rejected,
        },
        timeless: counts.timeless,
        skipped: run.summary.skipped,
        wall_seconds: run.wall_seconds,
        rules,
        alerts: log.alerts,
        alerts_left_out: log.left_out,
        incidents: run
            .incidents
            .incidents()
            .into_iter()
            .map(Incident::of)
            .collect(),
        replay: None,
    }
}

/// Writes the report's page to `path`.
pub fn write(path: &Path, report: &RunReport) -> Result<(), String> {
    std::fs::write(path, crate::report::html::render(report))
        .map_err(|e| format!("writing the report {}: {e}", path.display()))
}
