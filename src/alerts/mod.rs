//! Alerts: a rule's result changes turned into the lifecycle of SEMANTICS.md "Results and
//! alerts". An alert's key is the values of the rule's entity columns (its `entityMappings`,
//! else the legacy `AccountCustomEntity`, `IPCustomEntity`, `HostCustomEntity` columns, else
//! the whole row). An alert is *raised* when its key enters the result, *updated* when the
//! key's rows change while it is in, *closed* when the key leaves. A raise within the rule's
//! `suppressionDuration` of the key's previous raise is suppressed (counted, not reported).
//! One alert per key, not one per event.

pub mod incidents;
pub mod render;

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
    /// Raised: the key's rows in the result. Updated: the rows that entered the key's result
    /// at the tick. Closed: none. (An update carries what changed, so the events of a run grow
    /// with its changes, not with the square of a key's rows.)
    pub rows: Vec<Row>,
    /// Updated: the rows that left the key's result at the tick. Otherwise none.
    pub removed: Vec<Row>,
    /// The key's rows in the result after the tick (distinct rows; 0 when closed).
    pub count: usize,
}

/// A rule's `triggerOperator` and `triggerThreshold`: alerts are open only while the result's
/// row count passes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// The comparison.
    pub op: TriggerOp,
    /// The threshold.
    pub threshold: i64,
}

/// `triggerOperator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerOp {
    /// `gt`: more rows than the threshold.
    Gt,
    /// `lt`: fewer rows than the threshold.
    Lt,
    /// `eq`: exactly the threshold.
    Eq,
    /// `ne`: any other count.
    Ne,
}

impl Trigger {
    /// Sentinel's default: more than 0 rows (any row raises).
    pub const ANY_ROW: Trigger = Trigger {
        op: TriggerOp::Gt,
        threshold: 0,
    };

    /// The rule's trigger, or an error naming an operator kqlflow does not know. A rule
    /// without one has [`Trigger::ANY_ROW`].
    pub fn of_rule(rule: &crate::rules::Rule) -> Result<Trigger, String> {
        let op = match rule.trigger_operator.as_deref().map(str::trim) {
            None => TriggerOp::Gt,
            Some(o) => match o.to_ascii_lowercase().as_str() {
                "gt" | "greaterthan" => TriggerOp::Gt,
                "lt" | "lessthan" => TriggerOp::Lt,
                "eq" | "equal" => TriggerOp::Eq,
                "ne" | "notequal" => TriggerOp::Ne,
                other => {
                    return Err(format!(
                        "triggerOperator `{other}`: expected gt, lt, eq or ne"
                    ));
                }
            },
        };
        Ok(Trigger {
            op,
            threshold: rule.trigger_threshold.unwrap_or(0),
        })
    }

    /// True when a result of `rows` rows passes.
    pub fn passes(&self, rows: i64) -> bool {
        match self.op {
            TriggerOp::Gt => rows > self.threshold,
            TriggerOp::Lt => rows < self.threshold,
            TriggerOp::Eq => rows == self.threshold,
            TriggerOp::Ne => rows != self.threshold,
        }
    }

    /// True when the trigger could pass on an empty result, where kqlflow has no row to
    /// raise an alert from.
    pub fn passes_empty(&self) -> bool {
        self.passes(0)
    }
}

/// How a rule's result rows are grouped into alerts (`eventGroupingSettings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// No setting: one alert per entity key (see [`key_columns`]).
    ByEntities,
    /// `SingleAlert`: one alert for the whole result.
    SingleAlert,
    /// `AlertPerResult`: one alert per result row.
    AlertPerResult,
}

impl Grouping {
    /// The rule's grouping, or an error naming a kind kqlflow does not know.
    pub fn of_rule(rule: &crate::rules::Rule) -> Result<Grouping, String> {
        match rule
            .event_grouping_settings
            .as_ref()
            .and_then(|g| g.aggregation_kind.as_deref())
            .map(str::trim)
        {
            None => Ok(Grouping::ByEntities),
            Some(k) if k.eq_ignore_ascii_case("SingleAlert") => Ok(Grouping::SingleAlert),
            Some(k) if k.eq_ignore_ascii_case("AlertPerResult") => Ok(Grouping::AlertPerResult),
            Some(k) => Err(format!(
                "eventGroupingSettings.aggregationKind `{k}`: expected SingleAlert or AlertPerResult"
            )),
        }
    }
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
    let events = replay(&mut tracker, changes);
    (events, tracker.suppressed())
}

/// Feeds `changes` (sorted by tick) to `tracker`, tick by tick: the alert events in order.
fn replay(tracker: &mut Tracker, changes: &[Change]) -> Vec<AlertEvent> {
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
    events
}

/// One rule's alerts kept current tick by tick: the live form of [`lifecycle`]. Feed it each
/// tick's changes of the rule's result, in tick order, and it returns the alert events of
/// that tick.
#[derive(Clone, Debug)]
pub struct Tracker {
    key: Vec<usize>,
    suppression: i64,
    trigger: Trigger,
    /// The rows of each key currently in the result, with multiplicities.
    current: BTreeMap<Row, BTreeMap<Row, i64>>,
    /// When each key was last raised, while a re-raise would still be suppressed (kept only
    /// with a suppression duration, and pruned as the window passes).
    last_raised: BTreeMap<Row, Time>,
    /// The size of `last_raised` after its last pruning.
    pruned_at: usize,
    /// The keys whose alert is open. A closed key keeps nothing, so memory follows the open
    /// alerts and the rules' results, not the alerts so far.
    open: std::collections::BTreeSet<Row>,
    suppressed: u64,
    /// The result's row count (with multiplicities).
    total: i64,
    /// Whether the trigger passed at the last tick.
    passing: bool,
}

impl Tracker {
    /// A tracker keyed by the `key` columns, with `suppression` in 100 ns ticks (0 for none),
    /// raising on any row.
    pub fn new(key: Vec<usize>, suppression: i64) -> Tracker {
        Tracker::with_trigger(key, suppression, Trigger::ANY_ROW)
    }

    /// A tracker keyed by the `key` columns, with `suppression` in 100 ns ticks (0 for none),
    /// whose alerts are open only while the result's row count passes `trigger`.
    pub fn with_trigger(key: Vec<usize>, suppression: i64, trigger: Trigger) -> Tracker {
        Tracker {
            key,
            suppression,
            trigger,
            current: BTreeMap::new(),
            last_raised: BTreeMap::new(),
            pruned_at: 0,
            open: std::collections::BTreeSet::new(),
            suppressed: 0,
            total: 0,
            passing: trigger.passes(0),
        }
    }

    /// How many raises were held back by suppression so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// How many keys the tracker holds anything for (rows, an open alert, a recent raise):
    /// what its memory follows.
    pub fn kept(&self) -> usize {
        self.current.len() + self.open.len() + self.last_raised.len()
    }

    /// How many alerts are open (their key is in the result).
    pub fn open(&self) -> usize {
        self.open.len()
    }

    /// Applies the result's changes at `tick` (rows with their diffs; the ticks must come in
    /// increasing order) and returns the alert events they cause, ordered by key.
    pub fn apply(
        &mut self,
        tick: Time,
        changes: impl IntoIterator<Item = (Row, i64)>,
    ) -> Vec<AlertEvent> {
        // Per touched key, the rows whose presence changed: (row, was present).
        let mut touched: BTreeMap<Row, BTreeMap<Row, bool>> = BTreeMap::new();
        for (row, diff) in changes {
            let k: Row = self
                .key
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            self.total += diff;
            let rows = self.current.entry(k.clone()).or_default();
            let n = rows.entry(row.clone()).or_default();
            let was = *n > 0;
            *n += diff;
            if *n == 0 {
                rows.remove(&row);
            }
            touched.entry(k).or_default().entry(row).or_insert(was);
        }
        let passing = self.trigger.passes(self.total);
        if passing != self.passing {
            // The whole result opens or closes: every key with rows, or open, is touched.
            let keys: Vec<Row> = self
                .current
                .keys()
                .chain(self.open.iter())
                .cloned()
                .collect();
            for k in keys {
                touched.entry(k).or_default();
            }
            self.passing = passing;
        }
        let mut events = Vec::new();
        for (k, changed) in touched {
            let present = |rows: &BTreeMap<Row, i64>, r: &Row| rows.get(r).is_some_and(|n| *n > 0);
            let live = self.current.get(&k);
            let count = if passing {
                live.map_or(0, |m| m.values().filter(|n| **n > 0).count())
            } else {
                0
            };
            let was_open = self.open.contains(&k);
            match (was_open, count == 0) {
                (false, false) => {
                    let held = self.last_raised.get(&k).is_some_and(|&t| {
                        self.suppression > 0 && (tick as i64) < t as i64 + self.suppression
                    });
                    self.open.insert(k.clone());
                    if held {
                        self.suppressed += 1;
                    } else {
                        if self.suppression > 0 {
                            self.last_raised.insert(k.clone(), tick);
                            if self.last_raised.len() > 2 * self.pruned_at.max(1024) {
                                let (window, now) = (self.suppression, tick as i64);
                                self.last_raised
                                    .retain(|_, t| (*t as i64).saturating_add(window) > now);
                                self.pruned_at = self.last_raised.len();
                            }
                        }
                        let rows = live
                            .map(|m| {
                                m.iter()
                                    .filter(|(_, n)| **n > 0)
                                    .map(|(r, _)| r.clone())
                                    .collect()
                            })
                            .unwrap_or_default();
                        events.push(AlertEvent {
                            tick,
                            status: Status::Raised,
                            key: k.clone(),
                            rows,
                            removed: Vec::new(),
                            count,
                        });
                    }
                }
                (true, false) => {
                    let empty = BTreeMap::new();
                    let live = live.unwrap_or(&empty);
                    let mut added = Vec::new();
                    let mut removed = Vec::new();
                    for (r, was) in changed {
                        match (was, present(live, &r)) {
                            (false, true) => added.push(r),
                            (true, false) => removed.push(r),
                            _ => {}
                        }
                    }
                    if !added.is_empty() || !removed.is_empty() {
                        events.push(AlertEvent {
                            tick,
                            status: Status::Updated,
                            key: k.clone(),
                            rows: added,
                            removed,
                            count,
                        });
                    }
                }
                (true, true) => {
                    self.open.remove(&k);
                    events.push(AlertEvent {
                        tick,
                        status: Status::Closed,
                        key: k.clone(),
                        rows: Vec::new(),
                        removed: Vec::new(),
                        count: 0,
                    });
                }
                (false, true) => {}
            }
            if self.current.get(&k).is_some_and(BTreeMap::is_empty) {
                self.current.remove(&k);
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
    let (mut tracker, columns) = tracker_for(rule, program);
    let events = replay(&mut tracker, changes);
    (events, tracker.suppressed(), columns)
}

/// An empty [`Tracker`] for `rule`, bound as `program`, and the result's column names: keyed
/// by the rule's grouping (its entity columns unless `eventGroupingSettings` says
/// otherwise), suppressed by its suppressionDuration (unless `suppressionEnabled: false`),
/// open while its trigger passes. A trigger operator or grouping kind kqlflow does not know
/// counts as the default (see [`check_rule`], which reports them).
pub fn tracker_for(
    rule: &crate::rules::Rule,
    program: &crate::plan::Program,
) -> (Tracker, Vec<String>) {
    let root = crate::exec::strip_presentation(&program.root);
    let columns: Vec<String> = root.schema.iter().map(|c| c.name.to_string()).collect();
    let key = alert_key(rule, &columns);
    let suppression = if rule.suppression_enabled == Some(false) {
        0
    } else {
        rule.suppression_duration.unwrap_or(0)
    };
    let trigger = Trigger::of_rule(rule).unwrap_or(Trigger::ANY_ROW);
    (Tracker::with_trigger(key, suppression, trigger), columns)
}

/// The columns of `rule`'s alert key over its result `columns`: none for `SingleAlert`, all
/// for `AlertPerResult`, else its entity columns ([`key_columns`]).
pub fn alert_key(rule: &crate::rules::Rule, columns: &[String]) -> Vec<usize> {
    match Grouping::of_rule(rule).unwrap_or(Grouping::ByEntities) {
        Grouping::SingleAlert => Vec::new(),
        Grouping::AlertPerResult => (0..columns.len()).collect(),
        Grouping::ByEntities => key_columns(&entity_columns(rule), columns),
    }
}

/// What an alert says about itself, from its rule and one of its rows: Sentinel's
/// `alertDetailsOverride` and `customDetails`, else the rule's own name, description,
/// severity and tactics.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    /// `alertDisplayNameFormat` filled in, else the rule's name.
    pub title: String,
    /// `alertDescriptionFormat` filled in, else the rule's description.
    pub description: String,
    /// The value of `alertSeverityColumnName` when it is a severity, else the rule's
    /// (Informational when it has none).
    pub severity: String,
    /// The value of `alertTacticsColumnName` (a list or comma-separated text) when given,
    /// else the rule's tactics.
    pub tactics: Vec<String>,
    /// Each `customDetails` name with its column's value.
    pub custom: Vec<(String, String)>,
}

/// The four severities, lowest first.
pub const SEVERITIES: [&str; 4] = ["Informational", "Low", "Medium", "High"];

/// The rank of a severity in [`SEVERITIES`] (case-insensitive), if it is one.
pub fn severity_rank(s: &str) -> Option<usize> {
    SEVERITIES
        .iter()
        .position(|x| x.eq_ignore_ascii_case(s.trim()))
}

/// A value as an alert's text shows it: as `tostring` gives it (strings as they are, null
/// as empty).
fn text_of(v: &Value) -> String {
    crate::func::ops::text_of(v).into_owned()
}

/// `format` with each `{{Column}}` replaced by the column's value in `row`; a placeholder
/// naming no column is left as written.
pub fn fill(format: &str, columns: &[String], row: &[Value]) -> String {
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                let name = after[..j].trim();
                match columns.iter().position(|c| c == name) {
                    Some(c) => out.push_str(&row.get(c).map(text_of).unwrap_or_default()),
                    None => out.push_str(&rest[i..i + 2 + j + 2]),
                }
                rest = &after[j + 2..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The details of an alert of `rule` whose result has `columns`, from its row `row`.
pub fn details(rule: &crate::rules::Rule, columns: &[String], row: &[Value]) -> Details {
    let o = rule.alert_details.clone().unwrap_or_default();
    let column = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| columns.iter().position(|c| c == n))
            .and_then(|i| row.get(i))
    };
    let severity = column(&o.severity_column)
        .map(text_of)
        .and_then(|s| severity_rank(&s).map(|r| SEVERITIES[r].to_string()))
        .or_else(|| rule.severity.clone())
        .unwrap_or_else(|| "Informational".to_string());
    let tactics = match column(&o.tactics_column) {
        Some(Value::Array(items)) => items.iter().map(text_of).collect(),
        Some(v) => text_of(v)
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        None => rule.tactics.clone(),
    };
    Details {
        title: o
            .display_name_format
            .as_deref()
            .map(|f| fill(f, columns, row))
            .unwrap_or_else(|| rule.name.clone()),
        description: o
            .description_format
            .as_deref()
            .map(|f| fill(f, columns, row))
            .unwrap_or_else(|| rule.description.trim().to_string()),
        severity,
        tactics,
        custom: rule
            .custom_details
            .iter()
            .map(|(name, col)| {
                let v = columns
                    .iter()
                    .position(|c| c == col)
                    .and_then(|i| row.get(i))
                    .map(text_of)
                    .unwrap_or_default();
                (name.clone(), v)
            })
            .collect(),
    }
}

/// The result columns `rule`'s entity mappings read, in mapping order.
pub fn entity_columns(rule: &crate::rules::Rule) -> Vec<String> {
    rule.entity_mappings
        .iter()
        .flat_map(|m| m.field_mappings.iter().map(|f| f.column_name.clone()))
        .collect()
}

/// What is wrong with `rule`'s alert settings: a trigger operator or grouping kind kqlflow
/// does not know, or a trigger that passes on an empty result (kqlflow raises alerts from
/// result rows, so such a rule never raises on an empty result).
pub fn check_rule(rule: &crate::rules::Rule) -> Vec<String> {
    let mut out = Vec::new();
    match Trigger::of_rule(rule) {
        Err(e) => out.push(e),
        Ok(t) if t.passes_empty() => out.push(format!(
            "the trigger ({} {}) passes on an empty result: kqlflow raises alerts from result rows, so this rule raises nothing while its result is empty",
            rule.trigger_operator.as_deref().unwrap_or("gt"),
            t.threshold
        )),
        Ok(_) => {}
    }
    if let Err(e) = Grouping::of_rule(rule) {
        out.push(e);
    }
    out
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
    fn an_update_carries_only_the_rows_that_changed() {
        // A key gathering a thousand rows: each update holds the one row added, not all.
        let mut t = Tracker::new(vec![0], 0);
        let mut sizes = Vec::new();
        for i in 0..1000 {
            for e in t.apply(i, [(vec![Value::str("k"), Value::Long(i as i64)], 1)]) {
                sizes.push((e.status, e.rows.len(), e.removed.len(), e.count));
            }
        }
        assert_eq!(sizes[0], (Status::Raised, 1, 0, 1));
        assert!(
            sizes[1..]
                .iter()
                .all(|s| s.0 == Status::Updated && s.1 == 1 && s.2 == 0)
        );
        assert_eq!(sizes[999].3, 1000);
        // A row leaving is an update that names it; the last one leaving closes the alert.
        let e = t.apply(1000, [(vec![Value::str("k"), Value::Long(5)], -1)]);
        assert_eq!(e[0].status, Status::Updated);
        assert_eq!(e[0].removed, vec![vec![Value::str("k"), Value::Long(5)]]);
        assert!(e[0].rows.is_empty());
        assert_eq!(e[0].count, 999);
    }

    #[test]
    fn closed_alerts_leave_nothing_behind() {
        // 10 000 alerts raised and closed: the tracker keeps nothing of them, nor of the
        // raises past their suppression window.
        for suppression in [0, 50] {
            let mut t = Tracker::new(vec![0], suppression);
            for i in 0..10_000u64 {
                let row = vec![Value::Long(i as i64)];
                t.apply(2 * i, [(row.clone(), 1)]);
                t.apply(2 * i + 1, [(row, -1)]);
            }
            assert!(t.kept() <= 2048 + 25, "{suppression}: {}", t.kept());
            if suppression == 0 {
                assert_eq!(t.kept(), 0);
            }
        }
    }

    #[test]
    fn a_trigger_threshold_opens_and_closes_every_alert_of_the_result() {
        // triggerOperator gt, triggerThreshold 2: alerts only while the result has 3+ rows.
        let trigger = Trigger {
            op: TriggerOp::Gt,
            threshold: 2,
        };
        let mut t = Tracker::with_trigger(vec![0], 0, trigger);
        let row = |u: &str| vec![Value::str(u), Value::Long(1)];
        assert!(t.apply(1, [(row("a"), 1), (row("b"), 1)]).is_empty());
        let raised = t.apply(2, [(row("c"), 1)]);
        let keys: Vec<(Status, String)> = raised
            .iter()
            .map(|e| (e.status, e.key[0].to_string()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (Status::Raised, "a".into()),
                (Status::Raised, "b".into()),
                (Status::Raised, "c".into())
            ]
        );
        // Back to two rows: every alert closes, though a and c are still in the result.
        let closed = t.apply(3, [(row("b"), -1)]);
        assert_eq!(closed.len(), 3);
        assert!(closed.iter().all(|e| e.status == Status::Closed));
        assert_eq!(t.open(), 0);
        let again = t.apply(4, [(row("d"), 1)]);
        assert_eq!(again.len(), 3, "{again:?}");
        // Each operator.
        for (op, n, passes) in [
            (TriggerOp::Gt, 3, true),
            (TriggerOp::Lt, 3, false),
            (TriggerOp::Lt, 1, true),
            (TriggerOp::Eq, 2, true),
            (TriggerOp::Ne, 2, false),
        ] {
            assert_eq!(Trigger { op, threshold: 2 }.passes(n), passes, "{op:?} {n}");
        }
    }

    fn rule(extra: &str) -> crate::rules::Rule {
        crate::rules::Rule::from_yaml(
            &format!(
                "id: x\nname: r\nquery: SigninLogs\nentityMappings:\n  - entityType: Account\n    fieldMappings:\n      - identifier: FullName\n        columnName: U\n{extra}"
            ),
            "r.yaml",
        )
        .unwrap()
    }

    #[test]
    fn grouping_kinds_choose_the_alert_key() {
        let cols: Vec<String> = ["U", "IP"].iter().map(|s| s.to_string()).collect();
        assert_eq!(alert_key(&rule(""), &cols), vec![0]);
        let single = rule("eventGroupingSettings:\n  aggregationKind: SingleAlert\n");
        assert_eq!(alert_key(&single, &cols), Vec::<usize>::new());
        let per = rule("eventGroupingSettings:\n  aggregationKind: AlertPerResult\n");
        assert_eq!(alert_key(&per, &cols), vec![0, 1]);
        let odd = rule("eventGroupingSettings:\n  aggregationKind: Sometimes\n");
        assert_eq!(check_rule(&odd).len(), 1);
        // SingleAlert: one alert whose rows grow; AlertPerResult: one alert per row.
        let changes = vec![
            Change {
                tick: 1,
                row: vec![Value::str("a"), Value::str("1")],
                diff: 1,
            },
            Change {
                tick: 1,
                row: vec![Value::str("a"), Value::str("2")],
                diff: 1,
            },
            Change {
                tick: 2,
                row: vec![Value::str("b"), Value::str("3")],
                diff: 1,
            },
        ];
        let raised = |key: Vec<usize>| {
            lifecycle(&changes, &key, 0)
                .0
                .iter()
                .filter(|e| e.status == Status::Raised)
                .count()
        };
        assert_eq!(raised(alert_key(&single, &cols)), 1);
        assert_eq!(raised(alert_key(&per, &cols)), 3);
        assert_eq!(raised(alert_key(&rule(""), &cols)), 2);
    }

    #[test]
    fn a_trigger_that_passes_on_no_rows_is_reported() {
        let r = rule("triggerOperator: lt\ntriggerThreshold: 1\n");
        assert!(check_rule(&r)[0].contains("passes on an empty result"));
        assert!(check_rule(&rule("triggerOperator: gt\ntriggerThreshold: 0\n")).is_empty());
        let bad = rule("triggerOperator: gte\n");
        assert!(check_rule(&bad)[0].contains("expected gt, lt, eq or ne"));
    }

    #[test]
    fn alert_details_fill_their_placeholders_from_the_row() {
        let r = rule(
            "alertDetailsOverride:\n  alertDisplayNameFormat: Sign-in by {{U}} from {{IP}}\n  alertDescriptionFormat: '{{U}} used {{Nope}}'\n  alertSeverityColumnName: Sev\n  alertTacticsColumnName: Tac\ncustomDetails:\n  Address: IP\n",
        );
        let cols: Vec<String> = ["U", "IP", "Sev", "Tac"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let row = vec![
            Value::str("alice"),
            Value::str("203.0.113.5"),
            Value::str("high"),
            Value::array(vec![Value::str("InitialAccess"), Value::str("Persistence")]),
        ];
        let d = details(&r, &cols, &row);
        assert_eq!(d.title, "Sign-in by alice from 203.0.113.5");
        assert_eq!(d.description, "alice used {{Nope}}");
        assert_eq!(d.severity, "High");
        assert_eq!(d.tactics, vec!["InitialAccess", "Persistence"]);
        assert_eq!(
            d.custom,
            vec![("Address".to_string(), "203.0.113.5".to_string())]
        );
        // Not a severity: the rule's own (none: Informational); no override: the rule's name.
        let mut odd = row.clone();
        odd[2] = Value::str("severe");
        assert_eq!(details(&r, &cols, &odd).severity, "Informational");
        assert_eq!(details(&rule(""), &cols, &row).title, "r");
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
