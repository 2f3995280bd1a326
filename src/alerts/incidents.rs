//! Incidents: raised alerts grouped the way Sentinel's incident grouping does. An alert joins
//! an incident whose last alert is within the grouping window before it and that shares its
//! entities (any one of them, or all, as configured; values compared case-insensitively,
//! empty values ignored), among the alerts of the same rule or of any rule. An alert that
//! matches several incidents merges them. Incidents are listed by their highest severity, then
//! by their first alert.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use crate::runtime::Time;

/// Which alerts may share an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Alerts of any rule (the same entity seen by several rules is one incident).
    AcrossRules,
    /// Alerts of the same rule only (Sentinel's per-rule grouping).
    PerRule,
    /// No grouping: one incident per alert.
    None,
}

/// How an alert's entities must match an incident's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Matching {
    /// Any one entity value in common.
    Any,
    /// Every entity value of the alert among the incident's (an alert without entities
    /// then joins its rule's incident within the window, as Sentinel's "all entities" does).
    All,
}

/// How alerts are grouped into incidents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Which alerts may share an incident.
    pub scope: Scope,
    /// How entities must match.
    pub matching: Matching,
    /// An alert joins an incident whose last alert is at most this long before it (100 ns
    /// ticks).
    pub window: i64,
}

/// One alert as an incident keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The rule's index in the pack.
    pub rule: usize,
    /// When it was raised.
    pub tick: Time,
    /// Its severity's rank (see [`super::SEVERITIES`]).
    pub severity: usize,
    /// Its title.
    pub title: String,
    /// Its entities as `EntityType.identifier=value`.
    pub entities: Vec<String>,
}

/// An incident: the alerts grouped into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// The highest severity rank of its alerts.
    pub severity: usize,
    /// Its first alert's tick.
    pub first: Time,
    /// Its last alert's tick.
    pub last: Time,
    /// The rules whose alerts it holds.
    pub rules: BTreeSet<usize>,
    /// Its entity values (lower-cased), non-empty.
    pub entities: BTreeSet<String>,
    /// Its alerts, in the order they came, up to [`MEMBERS_KEPT`].
    pub members: Vec<Member>,
    /// How many alerts it holds.
    pub alerts: usize,
}

impl Incident {
    /// Its title: its most severe alert's, the earliest of them.
    pub fn title(&self) -> &str {
        self.members
            .iter()
            .max_by_key(|m| (m.severity, std::cmp::Reverse(m.tick)))
            .map_or("", |m| m.title.as_str())
    }
}

/// How many alerts an incident keeps for display (it counts them all).
pub const MEMBERS_KEPT: usize = 50;

/// The value part of `Type.identifier=value`, lower-cased; `None` when empty.
fn value_of(entity: &str) -> Option<String> {
    let v = entity.split_once('=').map_or(entity, |(_, v)| v).trim();
    (!v.is_empty()).then(|| v.to_lowercase())
}

/// Groups alerts into incidents as they are raised (in tick order).
#[derive(Clone, Debug)]
pub struct Grouper {
    options: Options,
    incidents: Vec<Option<Incident>>,
}

impl Grouper {
    /// An empty grouper.
    pub fn new(options: Options) -> Grouper {
        Grouper {
            options,
            incidents: Vec::new(),
        }
    }

    /// Adds a raised alert.
    pub fn add(&mut self, m: Member) {
        let values: BTreeSet<String> = m.entities.iter().filter_map(|e| value_of(e)).collect();
        let o = self.options;
        let matches = |inc: &Incident| {
            if o.scope == Scope::None {
                return false;
            }
            if o.scope == Scope::PerRule && !inc.rules.contains(&m.rule) {
                return false;
            }
            if (m.tick as i64).saturating_sub(inc.last as i64) > o.window {
                return false;
            }
            match o.matching {
                Matching::Any => values.iter().any(|v| inc.entities.contains(v)),
                Matching::All if values.is_empty() => inc.rules.contains(&m.rule),
                Matching::All => values.iter().all(|v| inc.entities.contains(v)),
            }
        };
        let hits: Vec<usize> = self
            .incidents
            .iter()
            .enumerate()
            .filter_map(|(i, inc)| inc.as_ref().filter(|inc| matches(inc)).map(|_| i))
            .collect();
        let mut target = match hits.first() {
            Some(&i) => self.incidents[i].take(),
            None => None,
        }
        .unwrap_or(Incident {
            severity: m.severity,
            first: m.tick,
            last: m.tick,
            rules: BTreeSet::new(),
            entities: BTreeSet::new(),
            members: Vec::new(),
            alerts: 0,
        });
        for &i in hits.iter().skip(1) {
            if let Some(other) = self.incidents[i].take() {
                target.severity = target.severity.max(other.severity);
                target.first = target.first.min(other.first);
                target.last = target.last.max(other.last);
                target.rules.extend(other.rules);
                target.entities.extend(other.entities);
                target.alerts += other.alerts;
                target.members.extend(other.members);
                target.members.sort_by_key(|m| m.tick);
                target.members.truncate(MEMBERS_KEPT);
            }
        }
        target.severity = target.severity.max(m.severity);
        target.first = target.first.min(m.tick);
        target.last = target.last.max(m.tick);
        target.rules.insert(m.rule);
        target.entities.extend(values);
        target.alerts += 1;
        if target.members.len() < MEMBERS_KEPT {
            target.members.push(m);
        }
        match hits.first() {
            Some(&i) => self.incidents[i] = Some(target),
            None => self.incidents.push(Some(target)),
        }
    }

    /// The incidents, highest severity first, then by first alert.
    pub fn incidents(&self) -> Vec<&Incident> {
        let mut out: Vec<&Incident> = self.incidents.iter().flatten().collect();
        out.sort_by_key(|i| (std::cmp::Reverse(i.severity), i.first));
        out
    }

    /// How many incidents per severity rank.
    pub fn by_severity(&self) -> BTreeMap<usize, usize> {
        let mut out = BTreeMap::new();
        for i in self.incidents.iter().flatten() {
            *out.entry(i.severity).or_default() += 1;
        }
        out
    }
}

/// One incident's line in [`write_jsonl`]'s file.
#[derive(serde::Serialize)]
struct IncidentRecord<'a> {
    incident: usize,
    severity: &'static str,
    title: &'a str,
    first: String,
    last: String,
    alerts: usize,
    rules: Vec<&'a str>,
    entities: Vec<&'a str>,
    members: Vec<MemberRecord<'a>>,
}

#[derive(serde::Serialize)]
struct MemberRecord<'a> {
    rule: &'a str,
    tick: String,
    severity: &'static str,
    title: &'a str,
    entities: &'a [String],
}

fn severity_name(rank: usize) -> &'static str {
    super::SEVERITIES
        .get(rank)
        .copied()
        .unwrap_or("Informational")
}

/// Writes `incidents` to `path` as JSON Lines, one incident a line with its alerts (`names`
/// are the rules' names by index), as `--incidents-out` does.
pub fn write_jsonl(
    path: &std::path::Path,
    incidents: &[&Incident],
    names: &[String],
) -> Result<(), String> {
    let mut f = std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let name = |r: usize| names.get(r).map_or("", String::as_str);
    for (n, i) in incidents.iter().enumerate() {
        let record = IncidentRecord {
            incident: n + 1,
            severity: severity_name(i.severity),
            title: i.title(),
            first: crate::model::format_datetime_iso(i.first as i64),
            last: crate::model::format_datetime_iso(i.last as i64),
            alerts: i.alerts,
            rules: i.rules.iter().map(|&r| name(r)).collect(),
            entities: i.entities.iter().map(String::as_str).collect(),
            members: i
                .members
                .iter()
                .map(|m| MemberRecord {
                    rule: name(m.rule),
                    tick: crate::model::format_datetime_iso(m.tick as i64),
                    severity: severity_name(m.severity),
                    title: &m.title,
                    entities: &m.entities,
                })
                .collect(),
        };
        let line = serde_json::to_string(&record).map_err(|e| e.to_string())?;
        writeln!(f, "{line}").map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    f.flush()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = crate::model::TICKS_PER_HOUR;

    fn m(rule: usize, hour: i64, severity: usize, entities: &[&str]) -> Member {
        Member {
            rule,
            tick: (hour * H) as Time,
            severity,
            title: format!("rule {rule}"),
            entities: entities.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn grouped(options: Options, alerts: Vec<Member>) -> Vec<Vec<usize>> {
        let mut g = Grouper::new(options);
        for a in alerts {
            g.add(a);
        }
        g.incidents()
            .iter()
            .map(|i| i.members.iter().map(|m| m.rule).collect())
            .collect()
    }

    const ACROSS: Options = Options {
        scope: Scope::AcrossRules,
        matching: Matching::Any,
        window: 24 * H,
    };

    #[test]
    fn one_entity_seen_by_several_rules_is_one_incident() {
        let alerts = vec![
            m(
                0,
                1,
                1,
                &["Account.Name=backup-runner", "IP.Address=203.0.113.5"],
            ),
            m(1, 2, 2, &["Account.Name=Backup-Runner"]),
            m(2, 3, 0, &["IP.Address=203.0.113.5", "Host.HostName="]),
            m(3, 4, 3, &["Account.FullName=alice@contoso.com"]),
            // Past the window of the first incident's last alert (hour 3): a new incident.
            m(4, 40, 2, &["Account.Name=backup-runner"]),
        ];
        // By severity, then time: alice's High, the three-rule Medium, the late Medium.
        assert_eq!(
            grouped(ACROSS, alerts.clone()),
            vec![vec![3], vec![0, 1, 2], vec![4]]
        );
        let per_rule = Options {
            scope: Scope::PerRule,
            ..ACROSS
        };
        assert_eq!(grouped(per_rule, alerts.clone()).len(), 5);
        let none = Options {
            scope: Scope::None,
            ..ACROSS
        };
        assert_eq!(grouped(none, alerts).len(), 5);
    }

    #[test]
    fn an_alert_matching_two_incidents_merges_them() {
        let alerts = vec![
            m(0, 1, 1, &["Account.Name=a"]),
            m(1, 2, 1, &["IP.Address=1.2.3.4"]),
            m(2, 3, 2, &["Account.Name=a", "IP.Address=1.2.3.4"]),
        ];
        let mut g = Grouper::new(ACROSS);
        for a in alerts {
            g.add(a);
        }
        let inc = g.incidents();
        assert_eq!(inc.len(), 1);
        assert_eq!(inc[0].alerts, 3);
        assert_eq!(inc[0].severity, 2);
        assert_eq!(inc[0].first, H as Time);
    }

    #[test]
    fn all_entities_must_match_under_all() {
        let all = Options {
            matching: Matching::All,
            ..ACROSS
        };
        let alerts = vec![
            m(0, 1, 1, &["Account.Name=a", "IP.Address=1.2.3.4"]),
            m(0, 2, 1, &["Account.Name=a"]),
            m(0, 3, 1, &["Account.Name=a", "IP.Address=5.6.7.8"]),
        ];
        assert_eq!(grouped(all, alerts), vec![vec![0, 0], vec![0]]);
    }
}
