//! What a read of the logs tells: records per table, rejected lines by reason, late records.

use crate::model::{Row, Value};

/// How many late records are named (file:line) in the warnings.
pub const MAX_LATE_EXAMPLES: usize = 5;

/// Late records: how many, what became of them, and the first few as `file:line: what`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LateCounts {
    /// Records older than the watermark when they arrived.
    pub late: u64,
    /// Of them, those fed at the watermark's tick (`--late=accept`).
    pub accepted: u64,
    /// Of them, those rejected (`--late=reject`).
    pub rejected: u64,
    /// The first few, as `file:line: what`.
    pub examples: Vec<String>,
}

impl LateCounts {
    fn add(&mut self, other: &LateCounts) {
        self.late += other.late;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for e in &other.examples {
            if self.examples.len() < MAX_LATE_EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }
}

/// What one process of a cluster read, sent to process 0 for the run's summary (as one JSON
/// text value in a note row).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadCounts {
    /// Records per table.
    pub records: std::collections::BTreeMap<String, u64>,
    /// Lines rejected.
    pub rejected: u64,
    /// Records left out for having no event time.
    pub timeless: u64,
    /// The earliest event time read.
    pub earliest: Option<i64>,
    /// The latest event time read.
    pub latest: Option<i64>,
    /// Late records (included in `rejected` when rejected).
    #[serde(default)]
    pub late: LateCounts,
    /// Per table: the earliest and latest event time read.
    #[serde(default)]
    pub spans: std::collections::BTreeMap<String, (Option<i64>, Option<i64>)>,
    /// Per reason (as the rejects report names it): lines rejected, and the first few as
    /// `file:line: detail`.
    #[serde(default)]
    pub rejects: std::collections::BTreeMap<String, (u64, Vec<String>)>,
}

/// How many rejected lines per reason [`ReadCounts`] names.
pub(super) const MAX_REJECT_EXAMPLES: usize = 5;

impl ReadCounts {
    /// As a note row.
    pub fn to_note(&self) -> Row {
        vec![Value::str(serde_json::to_string(self).unwrap_or_default())]
    }

    /// The cluster's counts: the sum of every process's note (notes that are not counts are
    /// skipped).
    pub fn merge(notes: &[Row]) -> ReadCounts {
        let mut out = ReadCounts::default();
        for n in notes {
            let Some(c) = n
                .first()
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str::<ReadCounts>(t).ok())
            else {
                continue;
            };
            for (t, k) in c.records {
                *out.records.entry(t).or_default() += k;
            }
            out.rejected += c.rejected;
            out.timeless += c.timeless;
            out.late.add(&c.late);
            out.earliest = match (out.earliest, c.earliest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.latest = match (out.latest, c.latest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            for (t, (first, last)) in c.spans {
                let span = out.spans.entry(t).or_default();
                span.0 = match (span.0, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                span.1 = match (span.1, last) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
            for (reason, (n, examples)) in c.rejects {
                let r = out.rejects.entry(reason).or_default();
                r.0 += n;
                let room = MAX_REJECT_EXAMPLES.saturating_sub(r.1.len());
                r.1.extend(examples.into_iter().take(room));
            }
        }
        out
    }

    /// Lines rejected by ingest (unreadable ones), late records aside.
    pub fn ingest_rejected(&self) -> u64 {
        self.rejected.saturating_sub(self.late.rejected)
    }

    /// The warnings a user should see, one line each: rejected lines, records left out,
    /// and late records with the first few named (indented) after them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ingest = self.ingest_rejected();
        if ingest > 0 {
            out.push(format!(
                "warning: {ingest} input lines rejected (see `kqlflow inspect` or --rejects for details)"
            ));
        }
        if self.timeless > 0 {
            out.push(format!(
                "warning: {} records without an event time were left out",
                self.timeless
            ));
        }
        if self.late.late > 0 {
            out.push(format!(
                "warning: {} late records (older than the watermark): {} entered late, {} rejected",
                self.late.late, self.late.accepted, self.late.rejected
            ));
            for e in &self.late.examples {
                out.push(format!("  {e}"));
            }
            if self.late.late > self.late.examples.len() as u64 {
                out.push(format!(
                    "  … and {} more",
                    self.late.late - self.late.examples.len() as u64
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each process of a cluster read reaches process 0's summary and report whole: the
    /// tables' spans widen, rejects add up by reason, a few examples kept.
    #[test]
    fn read_counts_merge_spans_and_rejects_across_processes() {
        let one = ReadCounts {
            records: [("SigninLogs".to_string(), 3)].into(),
            spans: [("SigninLogs".to_string(), (Some(10), Some(20)))].into(),
            rejects: [(
                "malformed JSON".to_string(),
                (2, vec!["a:1: x".into(), "a:2: y".into()]),
            )]
            .into(),
            ..ReadCounts::default()
        };
        let two = ReadCounts {
            records: [("SigninLogs".to_string(), 4), ("AuditLogs".to_string(), 1)].into(),
            spans: [
                ("SigninLogs".to_string(), (Some(5), Some(15))),
                ("AuditLogs".to_string(), (Some(7), Some(7))),
            ]
            .into(),
            rejects: [(
                "malformed JSON".to_string(),
                (6, (0..6).map(|i| format!("b:{i}: z")).collect()),
            )]
            .into(),
            ..ReadCounts::default()
        };
        let merged = ReadCounts::merge(&[one.to_note(), two.to_note()]);
        assert_eq!(merged.records["SigninLogs"], 7);
        assert_eq!(merged.spans["SigninLogs"], (Some(5), Some(20)));
        assert_eq!(merged.spans["AuditLogs"], (Some(7), Some(7)));
        let (n, examples) = &merged.rejects["malformed JSON"];
        assert_eq!(*n, 8);
        assert_eq!(examples.len(), MAX_REJECT_EXAMPLES);
        assert_eq!(examples[0], "a:1: x");
    }

    #[test]
    fn late_counts_add_up_across_a_cluster() {
        let note = |late: u64, rejected: u64, example: &str| ReadCounts {
            rejected: rejected + 1,
            late: LateCounts {
                late,
                accepted: late - rejected,
                rejected,
                examples: vec![example.to_string(); late as usize],
            },
            ..ReadCounts::default()
        };
        let merged = ReadCounts::merge(&[note(4, 1, "a:1").to_note(), note(3, 0, "b:2").to_note()]);
        assert_eq!(
            (merged.late.late, merged.late.accepted, merged.late.rejected),
            (7, 6, 1)
        );
        assert_eq!(merged.rejected, 3);
        assert_eq!(merged.ingest_rejected(), 2);
        assert_eq!(merged.late.examples.len(), MAX_LATE_EXAMPLES);
        assert_eq!(merged.late.examples[4], "b:2");
        // A note from a process that counts no late records still reads.
        let old = r#"{"records":{},"rejected":2,"timeless":0,"earliest":null,"latest":null}"#;
        let merged = ReadCounts::merge(&[vec![Value::str(old)]]);
        assert_eq!((merged.rejected, merged.late.late), (2, 0));
    }
}
