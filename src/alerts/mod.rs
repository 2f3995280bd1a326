//! Alerts: a rule's result changes turned into the lifecycle of SEMANTICS.md "Results and
//! alerts". An alert's key is the values of the rule's entity columns (its `entityMappings`,
//! else the legacy `AccountCustomEntity`, `IPCustomEntity`, `HostCustomEntity` columns, else
//! the whole row). An alert is *raised* when its key enters the result, *updated* when the
//! key's rows change while it is in, *closed* when the key leaves. A raise within the rule's
//! `suppressionDuration` of the key's previous raise is suppressed (counted, not reported).
//! One alert per key, not one per event.

use std::collections::BTreeMap;

use crate::model::{Row, Value};
use crate::runtime::{Change, Time};

/// What happened to an alert at a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The key entered the result.
    Raised,
    /// The key's rows changed while it stayed in the result.
    Updated,
    /// The key left the result.
    Closed,
}

/// One step of one alert's lifecycle.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// The tick (event time) at which it happened.
    pub tick: Time,
    /// Raised, updated or closed.
    pub status: Status,
    /// The alert key: the entity columns' values.
    pub key: Row,
    /// The key's rows in the result after the tick (empty when closed).
    pub rows: Vec<Row>,
}

/// Which columns make an alert's key.
pub fn key_columns(entity_columns: &[String], columns: &[String]) -> Vec<usize> {
    let find = |name: &str| columns.iter().position(|c| c == name);
    let mapped: Vec<usize> = entity_columns.iter().filter_map(|c| find(c)).collect();
    if !mapped.is_empty() {
        return dedup(mapped);
    }
    let legacy: Vec<usize> = ["AccountCustomEntity", "IPCustomEntity", "HostCustomEntity"]
        .iter()
        .filter_map(|c| find(c))
        .collect();
    if !legacy.is_empty() {
        return legacy;
    }
    (0..columns.len()).collect()
}

fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    let mut seen = Vec::new();
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(*x);
            true
        }
    });
    v
}

/// The alert lifecycle of a rule from its result's change stream (sorted by tick, as the
/// runtime returns it), keyed by `key` columns; `suppression` is the rule's
/// suppressionDuration in 100 ns ticks (0 for none). Returns the events in tick order and the
/// number of raises suppressed.
pub fn lifecycle(changes: &[Change], key: &[usize], suppression: i64) -> (Vec<AlertEvent>, u64) {
    let mut tracker = Tracker::new(key.to_vec(), suppression);
    let mut events = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let tick = changes[i].tick;
        let mut j = i;
        while j < changes.len() && changes[j].tick == tick {
            j += 1;
        }
        events.extend(tracker.apply(tick, changes[i..j].iter().map(|c| (c.row.clone(), c.diff))));
        i = j;
    }
    (events, tracker.suppressed())
}

/// One rule's alerts kept current tick by tick: the live form of [`lifecycle`]. Feed it each
/// tick's changes of the rule's result, in tick order, and it returns the alert events of
/// that tick.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    key: Vec<usize>,
    suppression: i64,
    /// The rows of each key currently in the result, with multiplicities.
    current: BTreeMap<Row, BTreeMap<Row, i64>>,
    last_raised: BTreeMap<Row, Time>,
    open: BTreeMap<Row, bool>,
    suppressed: u64,
}

impl Tracker {
    /// A tracker keyed by the `key` columns, with `suppression` in 100 ns ticks (0 for none).
    pub fn new(key: Vec<usize>, suppression: i64) -> Tracker {
        Tracker {
            key,
            suppression,
            ..Tracker::default()
        }
    }

    /// How many raises were held back by suppression so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// How many alerts are open (their key is in the result).
    pub fn open(&self) -> usize {
        self.open.values().filter(|o| **o).count()
    }

    /// Applies the result's changes at `tick` (rows with their diffs; the ticks must come in
    /// increasing order) and returns the alert events they cause, ordered by key.
    pub fn apply(
        &mut self,
        tick: Time,
        changes: impl IntoIterator<Item = (Row, i64)>,
    ) -> Vec<AlertEvent> {
        let mut touched: BTreeMap<Row, ()> = BTreeMap::new();
        for (row, diff) in changes {
            let k: Row = self
                .key
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            let rows = self.current.entry(k.clone()).or_default();
            let n = rows.entry(row.clone()).or_default();
            *n += diff;
            if *n == 0 {
                rows.remove(&row);
            }
            touched.insert(k, ());
        }
        let mut events = Vec::new();
        for (k, ()) in touched {
            let rows: Vec<Row> = self
                .current
                .get(&k)
                .map(|m| {
                    m.iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(r, _)| r.clone())
                        .collect()
                })
                .unwrap_or_default();
            let was_open = self.open.get(&k).copied().unwrap_or(false);
            match (was_open, rows.is_empty()) {
                (false, false) => {
                    let held = self.last_raised.get(&k).is_some_and(|&t| {
                        self.suppression > 0 && (tick as i64) < t as i64 + self.suppression
                    });
                    self.open.insert(k.clone(), true);
                    if held {
                        self.suppressed += 1;
                    } else {
                        self.last_raised.insert(k.clone(), tick);
                        events.push(AlertEvent {
                            tick,
                            status: Status::Raised,
                            key: k,
                            rows,
                        });
                    }
                }
                (true, false) => events.push(AlertEvent {
                    tick,
                    status: Status::Updated,
                    key: k,
                    rows,
                }),
                (true, true) => {
                    self.open.insert(k.clone(), false);
                    self.current.remove(&k);
                    events.push(AlertEvent {
                        tick,
                        status: Status::Closed,
                        key: k,
                        rows: Vec::new(),
                    });
                }
                (false, true) => {
                    self.current.remove(&k);
                }
            }
        }
        events
    }
}

/// The alert lifecycle of `rule`, bound as `program`, from its result's change stream: keyed by
/// the rule's entity columns, suppressed by its suppressionDuration. Returns the events, the
/// number of raises suppressed, and the result's column names (the rows' layout).
pub fn for_rule(
    rule: &crate::rules::Rule,
    program: &crate::plan::Program,
    changes: &[Change],
) -> (Vec<AlertEvent>, u64, Vec<String>) {
    let (tracker, columns) = tracker_for(rule, program);
    let (events, suppressed) = lifecycle(changes, &tracker.key, tracker.suppression);
    (events, suppressed, columns)
}

/// An empty [`Tracker`] for `rule`, bound as `program` (keyed by the rule's entity columns,
/// suppressed by its suppressionDuration), and the result's column names.
pub fn tracker_for(
    rule: &crate::rules::Rule,
    program: &crate::plan::Program,
) -> (Tracker, Vec<String>) {
    let root = crate::exec::strip_presentation(&program.root);
    let columns: Vec<String> = root.schema.iter().map(|c| c.name.to_string()).collect();
    let entity_cols: Vec<String> = rule
        .entity_mappings
        .iter()
        .flat_map(|m| m.field_mappings.iter().map(|f| f.column_name.clone()))
        .collect();
    let key = key_columns(&entity_cols, &columns);
    (
        Tracker::new(key, rule.suppression_duration.unwrap_or(0)),
        columns,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(tick: u64, user: &str, n: i64, diff: i64) -> Change {
        Change {
            tick,
            row: vec![Value::str(user), Value::Long(n)],
            diff,
        }
    }

    #[test]
    fn raised_updated_closed_once_per_key() {
        // A brute force whose count grows is one alert that is updated, then closed.
        let changes = vec![
            c(1, "alice", 10, 1),
            c(2, "alice", 10, -1),
            c(2, "alice", 11, 1),
            c(2, "bob", 12, 1),
            c(5, "alice", 11, -1),
        ];
        let (events, suppressed) = lifecycle(&changes, &[0], 0);
        assert_eq!(suppressed, 0);
        let summary: Vec<(u64, Status, String)> = events
            .iter()
            .map(|e| (e.tick, e.status, e.key[0].to_string()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, Status::Raised, "alice".into()),
                (2, Status::Updated, "alice".into()),
                (2, Status::Raised, "bob".into()),
                (5, Status::Closed, "alice".into()),
            ]
        );
        assert_eq!(
            events[1].rows,
            vec![vec![Value::str("alice"), Value::Long(11)]]
        );
        assert!(events[3].rows.is_empty());
    }

    #[test]
    fn suppression_holds_back_a_quick_re_raise() {
        let changes = vec![
            c(10, "alice", 1, 1),
            c(12, "alice", 1, -1),
            c(15, "alice", 2, 1),
            c(40, "alice", 2, -1),
            c(50, "alice", 3, 1),
        ];
        let (events, suppressed) = lifecycle(&changes, &[0], 20);
        let statuses: Vec<(u64, Status)> = events.iter().map(|e| (e.tick, e.status)).collect();
        // The re-raise at 15 is within 20 of the raise at 10: held back, but its closing at 40
        // is still reported; the raise at 50 is past the window.
        assert_eq!(suppressed, 1);
        assert_eq!(
            statuses,
            vec![
                (10, Status::Raised),
                (12, Status::Closed),
                (40, Status::Closed),
                (50, Status::Raised)
            ]
        );
    }

    #[test]
    fn key_columns_follow_entities_then_legacy_then_row() {
        let cols: Vec<String> = ["A", "AccountCustomEntity", "IPCustomEntity", "B"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(key_columns(&["B".into(), "B".into()], &cols), vec![3]);
        assert_eq!(key_columns(&[], &cols), vec![1, 2]);
        assert_eq!(key_columns(&["Missing".into()], &cols[..1]), vec![0]);
    }
}
