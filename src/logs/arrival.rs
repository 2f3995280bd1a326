//! Records placed in arrival order under the watermark.

use super::{Arrival, MAX_LATE_EXAMPLES, ReadLogs};
use crate::catalog::Catalog;
use crate::ingest::{Origin, RejectReason, Report};
use crate::model::{Row, format_datetime_iso};
use crate::runtime::arrival::{Entry, Watermark, arrival_order};

/// A record read in arrival order, before the watermark has placed it.
pub(super) struct Pending {
    /// The record's table (an index into the catalog).
    pub(super) table: usize,
    /// Where it was read.
    pub(super) origin: Origin,
    /// Its event time.
    pub(super) time: i64,
    /// Its row, in its table's schema order.
    pub(super) row: Row,
}

/// Walks `pending` (every record read, file after file, each file in line order) in arrival
/// order under the watermark: each record goes into `out.tables` at its entry tick, or, late
/// under [`crate::runtime::arrival::LatePolicy::Reject`], to the report's rejects; late records are counted in
/// `out.late`.
pub(super) fn place_by_arrival(
    catalog: &Catalog,
    mut pending: Vec<Pending>,
    arrival: &Arrival,
    report: &mut Report,
    out: &mut ReadLogs,
) {
    // Records come file after file; a stable sort keeps each file's line order.
    pending.sort_by_key(|p| p.origin.file);
    let times: Vec<i64> = pending.iter().map(|p| p.time).collect();
    let mut starts: Vec<usize> = Vec::new();
    for (k, p) in pending.iter().enumerate() {
        if k == 0 || pending[k - 1].origin.file != p.origin.file {
            starts.push(k);
        }
    }
    let streams: Vec<&[i64]> = starts
        .iter()
        .enumerate()
        .map(|(s, &from)| {
            let to = starts.get(s + 1).copied().unwrap_or(times.len());
            &times[from..to]
        })
        .collect();
    let order = arrival_order(&streams);
    let mut watermark = Watermark::new(arrival.lateness, arrival.tick, arrival.late);
    if let Some(m) = arrival.max_ahead {
        watermark = watermark.with_max_ahead(m);
    }
    let file_name = |report: &Report, file: usize| {
        report
            .files
            .get(file)
            .map(|f| f.path.clone())
            .unwrap_or_default()
    };
    for (s, i) in order {
        let Some(p) = starts.get(s).and_then(|from| pending.get_mut(from + i)) else {
            continue;
        };
        let Some(def) = catalog.by_id(p.table) else {
            continue;
        };
        let entry = watermark.admit(p.time);
        if let Entry::Future { reference } = entry {
            report.reject_kept(
                p.origin.file,
                p.origin.line,
                &def.name,
                RejectReason::FutureRecord,
                &format!(
                    "event time {} is more than {} ahead of the newest record before it ({})",
                    format_datetime_iso(p.time),
                    arrival
                        .max_ahead
                        .map_or(String::new(), crate::plan::window::human_duration),
                    format_datetime_iso(reference)
                ),
            );
            continue;
        }
        if let Entry::Late { watermark: w, .. } | Entry::Rejected { watermark: w } = entry {
            out.late.late += 1;
            let what = match entry.tick() {
                Some(tick) => {
                    out.late.accepted += 1;
                    format!("entered at {}", format_datetime_iso(tick_time(tick)))
                }
                None => {
                    out.late.rejected += 1;
                    "rejected".to_string()
                }
            };
            let detail = format!(
                "event time {} is before the watermark {}",
                format_datetime_iso(p.time),
                format_datetime_iso(w)
            );
            if out.late.examples.len() < MAX_LATE_EXAMPLES {
                out.late.examples.push(format!(
                    "{}:{}: {}: {detail}; {what}",
                    file_name(report, p.origin.file),
                    p.origin.line,
                    RejectReason::LateRecord
                ));
            }
            if entry.tick().is_none() {
                report.reject_kept(
                    p.origin.file,
                    p.origin.line,
                    &def.name,
                    RejectReason::LateRecord,
                    &detail,
                );
            }
        }
        if let Some(tick) = entry.tick() {
            out.keep(&def.name, tick_time(tick), std::mem::take(&mut p.row));
        }
    }
}

/// A tick as an event time (ticks come from event times, so they fit; a tick rounded past
/// the last representable time is clamped).
fn tick_time(tick: crate::runtime::Time) -> i64 {
    i64::try_from(tick).unwrap_or(i64::MAX)
}
