//! The one rendering of alert events as text, which every command prints and writes: a line of
//! a table (coloured by severity on a terminal), a JSON Lines record, or a CSV row.

use std::collections::BTreeMap;

use crate::alerts::{AlertEvent, Status};
use crate::model::{Value, format_datetime_iso, to_json_text};
use crate::rules::Rule;

/// How alert events are rendered as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertFormat {
    /// One line per alert, coloured by severity on a terminal.
    Table,
    /// One JSON object per lifecycle event: raised and closed (updated too with --updates).
    Jsonl,
    /// CSV of the raised alerts: tick, severity, rule, rule id, title, entities, rows (JSON).
    Csv,
}

/// One alert event's line in the JSON Lines output.
#[derive(serde::Serialize)]
struct AlertRecord<'a> {
    rule_id: &'a str,
    rule: &'a str,
    /// `alert` for a scheduled rule, `hunting` for a hunting query's result.
    kind: &'static str,
    title: &'a str,
    description: &'a str,
    severity: &'a str,
    tactics: &'a [String],
    techniques: &'a [String],
    status: Status,
    tick: String,
    entities: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<&'a str, &'a str>,
    /// The key's rows in the result after the event.
    count: usize,
    /// Raised: the key's rows; updated: the rows added.
    rows: Vec<serde_json::Value>,
    /// Updated: the rows removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<serde_json::Value>,
}

/// The entities of `row` (of a result with `columns`) that `rule` maps: `EntityType.identifier` → value.
fn entities(rule: &Rule, columns: &[String], row: &[Value]) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for m in &rule.entity_mappings {
        for f in &m.field_mappings {
            if let Some(i) = columns.iter().position(|c| *c == f.column_name) {
                let v = row.get(i).map(|v| v.to_string()).unwrap_or_default();
                out.insert(
                    format!("{}.{}", m.entity_type, f.identifier),
                    serde_json::Value::String(v),
                );
            }
        }
    }
    out
}

/// An alert event as it is shown.
pub struct Described {
    /// Its entities: `EntityType.identifier` → value.
    pub entities: BTreeMap<String, serde_json::Value>,
    /// The entities as `k=v` text.
    pub shown: String,
    /// What the alert says about itself (title, description, severity, …).
    pub details: crate::alerts::Details,
    /// Its JSON Lines record.
    pub line: String,
}

/// An alert event `e` of `rule` (whose result has `columns`) as it is shown.
pub fn describe(rule: &Rule, columns: &[String], e: &crate::alerts::AlertEvent) -> Described {
    // A closed alert has no rows left: its entities come from its key, laid out as a row.
    let from_key = || {
        let mut row = vec![Value::Null; columns.len()];
        for (i, v) in crate::alerts::alert_key(rule, columns)
            .into_iter()
            .zip(&e.key)
        {
            if let Some(cell) = row.get_mut(i) {
                *cell = v.clone();
            }
        }
        row
    };
    let keyed;
    let row: &[Value] = match e.rows.first().or(e.removed.first()) {
        Some(r) => r,
        None => {
            keyed = from_key();
            &keyed
        }
    };
    let ents = entities(rule, columns, row);
    let details = crate::alerts::details(rule, columns, row);
    let shown: Vec<String> = ents
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let record = AlertRecord {
        rule_id: &rule.id,
        rule: &rule.name,
        kind: if rule.is_scheduled() {
            "alert"
        } else {
            "hunting"
        },
        title: &details.title,
        description: &details.description,
        severity: &details.severity,
        tactics: &details.tactics,
        techniques: &rule.relevant_techniques,
        status: e.status,
        tick: format_datetime_iso(e.tick as i64),
        entities: ents.clone(),
        custom_details: details
            .custom
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        count: e.count,
        rows: e.rows.iter().map(|r| row_json(columns, r)).collect(),
        removed: e.removed.iter().map(|r| row_json(columns, r)).collect(),
    };
    let line = serde_json::to_string(&record).unwrap_or_default();
    Described {
        entities: ents,
        shown: shown.join("  "),
        details,
        line,
    }
}

/// `row` as a JSON object of `columns`.
fn row_json(columns: &[String], row: &[Value]) -> serde_json::Value {
    let text = format!(
        "{{{}}}",
        columns
            .iter()
            .zip(row)
            .map(|(c, v)| format!(
                "{}:{}",
                serde_json::Value::String(c.clone()),
                to_json_text(v)
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// The terminal colour (an ANSI escape) of a severity in the table; none for an unknown one.
pub fn colour(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "high" => "\x1b[31m",
        "medium" => "\x1b[33m",
        "low" => "\x1b[36m",
        "informational" => "\x1b[34m",
        _ => "",
    }
}

/// Renders alert events in one format, as [`Renderer::render`] says.
#[derive(Clone, Debug)]
pub struct Renderer {
    /// The format.
    pub format: AlertFormat,
    /// Colour the table's severities (ANSI escapes).
    pub colours: bool,
    /// Cut the table's lines to this many characters (a terminal's width).
    pub width: Option<usize>,
    /// Show updates and closes in the table too, not only raises.
    pub updates: bool,
    /// Whether the CSV header has been rendered.
    pub csv_header: bool,
}

/// The CSV header of [`AlertFormat::Csv`].
pub const CSV_HEADER: [&str; 7] = [
    "tick", "severity", "rule", "rule_id", "title", "entities", "rows",
];

impl Renderer {
    /// A renderer in `format`, without colours or a width, showing raises only in the table.
    pub fn new(format: AlertFormat) -> Renderer {
        Renderer {
            format,
            colours: false,
            width: None,
            updates: false,
            csv_header: false,
        }
    }

    /// The text of event `e`, described as `d`, in the renderer's format: a line of the
    /// table (raises only, unless `updates`), a JSON Lines record, or a CSV row of a raise
    /// (after the header, before the first); `None` when the format shows no such event.
    pub fn render(&mut self, d: &Described, e: &AlertEvent) -> Option<String> {
        match self.format {
            AlertFormat::Jsonl => Some(format!("{}\n", d.line)),
            // The table lists raised alerts; with --updates, every step of their lifecycle.
            AlertFormat::Table if e.status != Status::Raised && !self.updates => None,
            AlertFormat::Table => {
                let (on, off) = if self.colours {
                    (colour(&d.details.severity), "\x1b[0m")
                } else {
                    ("", "")
                };
                let mark = match e.status {
                    Status::Raised => "",
                    Status::Updated => "updated: ",
                    Status::Closed => "closed: ",
                };
                let plain = format!(
                    "{}  {:<13} {mark}{}  {}",
                    format_datetime_iso(e.tick as i64),
                    d.details.severity,
                    d.details.title,
                    d.shown
                );
                let cut = match self.width {
                    Some(w) if plain.chars().count() > w && w > 1 => {
                        let mut s: String = plain.chars().take(w - 1).collect();
                        s.push('…');
                        s
                    }
                    _ => plain,
                };
                // Colour the severity (it starts after the tick and two spaces).
                let head = format_datetime_iso(e.tick as i64).chars().count() + 2;
                let (a, rest) = split_chars(&cut, head);
                let sev_len = d.details.severity.chars().count().min(rest.chars().count());
                let (b, c) = split_chars(rest, sev_len);
                Some(format!("{a}{on}{b}{off}{c}\n"))
            }
            AlertFormat::Csv => {
                if e.status != Status::Raised {
                    return None;
                }
                let mut w = csv::Writer::from_writer(Vec::new());
                if !self.csv_header {
                    self.csv_header = true;
                    let _ = w.write_record(CSV_HEADER);
                }
                let v: serde_json::Value =
                    serde_json::from_str(&d.line).unwrap_or(serde_json::Value::Null);
                let _ = w.write_record([
                    format_datetime_iso(e.tick as i64),
                    d.details.severity.clone(),
                    v["rule"].as_str().unwrap_or("").to_string(),
                    v["rule_id"].as_str().unwrap_or("").to_string(),
                    d.details.title.clone(),
                    d.shown.replace("  ", "; "),
                    v["rows"].to_string(),
                ]);
                w.into_inner()
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            }
        }
    }

    /// The CSV header line, when the format is CSV and no event has rendered it yet (a run
    /// without alerts still prints its header); `None` otherwise.
    pub fn pending_header(&mut self) -> Option<String> {
        if self.format != AlertFormat::Csv || self.csv_header {
            return None;
        }
        self.csv_header = true;
        Some(CSV_HEADER.join(",") + "\n")
    }
}

/// `s` split after its first `n` characters.
fn split_chars(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"id: 6f0c5a8e-1d2b-4c3a-9e8f-000000000003
name: Sign-in from a blocked address
severity: High
kind: Scheduled
queryFrequency: 5m
queryPeriod: 1h
query: |
  SigninLogs | project UserPrincipalName, IPAddress
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
"#;

    /// One raise and its close, rendered in each format: the table shows the raise (and the
    /// close with updates), JSON Lines both, CSV the raise after its header.
    #[test]
    fn each_format_renders_an_alert_as_every_command_prints_it() {
        let rule = Rule::from_yaml(RULE, "blocked.yaml").unwrap();
        let columns = vec!["UserPrincipalName".to_string(), "IPAddress".to_string()];
        let tick = crate::model::parse_datetime("2024-05-01T10:00:00Z").unwrap() as u64;
        let raised = AlertEvent {
            tick,
            status: Status::Raised,
            key: vec![Value::str("alice")],
            rows: vec![vec![Value::str("alice"), Value::str("192.0.2.1")]],
            removed: Vec::new(),
            count: 1,
        };
        let closed = AlertEvent {
            status: Status::Closed,
            rows: Vec::new(),
            count: 0,
            ..raised.clone()
        };
        let (d, c) = (
            describe(&rule, &columns, &raised),
            describe(&rule, &columns, &closed),
        );
        assert_eq!(d.shown, "Account.FullName=alice");
        // A closed alert's entities come from its key.
        assert_eq!(c.shown, d.shown);

        let mut table = Renderer::new(AlertFormat::Table);
        let line = table.render(&d, &raised).unwrap();
        assert!(line.starts_with("2024-05-01T10:00:00"), "{line}");
        assert!(line.contains("High"), "{line}");
        assert!(line.ends_with("Account.FullName=alice\n"), "{line}");
        assert_eq!(table.render(&c, &closed), None);
        table.updates = true;
        assert!(table.render(&c, &closed).unwrap().contains("closed: "));
        assert_eq!(table.pending_header(), None);

        let mut jsonl = Renderer::new(AlertFormat::Jsonl);
        let v: serde_json::Value =
            serde_json::from_str(&jsonl.render(&d, &raised).unwrap()).unwrap();
        assert_eq!(v["status"], "raised");
        assert_eq!(v["rule"], "Sign-in from a blocked address");
        assert_eq!(v["entities"]["Account.FullName"], "alice");
        assert_eq!(v["rows"][0]["IPAddress"], "192.0.2.1");
        let v: serde_json::Value =
            serde_json::from_str(&jsonl.render(&c, &closed).unwrap()).unwrap();
        assert_eq!(v["status"], "closed");

        let mut csv = Renderer::new(AlertFormat::Csv);
        let text = csv.render(&d, &raised).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
        let row = lines.next().unwrap();
        assert!(
            row.contains("High,Sign-in from a blocked address,"),
            "{row}"
        );
        assert_eq!(csv.render(&c, &closed), None);
        assert_eq!(csv.pending_header(), None);
        let mut empty = Renderer::new(AlertFormat::Csv);
        assert_eq!(
            empty.pending_header().as_deref(),
            Some("tick,severity,rule,rule_id,title,entities,rows\n")
        );
    }
}
