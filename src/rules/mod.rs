//! Sentinel analytic-rule YAML files: metadata, the query, entity mappings and the query's
//! schedule, with errors that name the file, line and column.
//!
//! [`load_rule`] reads a file into a [`Rule`]; [`Rule::parse_query`] parses its query and
//! reports KQL errors at the line and column of the YAML file (the query of a `query: |` block
//! starts on the line after the key, its indentation removed, and [`Rule::query_position`]
//! maps a query offset back to the file). Keys kqlflow does not interpret (`tags`,
//! `metadata`, `customDetails`, …) are kept in [`Rule::extra`].

mod duration;

pub use duration::parse_duration;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value as Yaml;

use crate::kql::{self, LineCol, LineIndex, ParseError, Query};

/// A data connector a rule needs (`requiredDataConnectors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataConnector {
    /// `connectorId`, such as `AzureActiveDirectory`.
    pub connector_id: String,
    /// `dataTypes`: the tables the connector provides, such as `SigninLogs`.
    pub data_types: Vec<String>,
}

/// One `fieldMappings` entry: an entity identifier and the result column that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldMapping {
    /// The entity identifier, such as `FullName`, `Address`, `AadUserId`.
    pub identifier: String,
    /// The query result column.
    pub column_name: String,
}

/// One `entityMappings` entry: an entity type and where its identifiers come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityMapping {
    /// The entity type, such as `Account`, `IP`, `Host`.
    pub entity_type: String,
    /// The identifier-to-column mappings.
    pub field_mappings: Vec<FieldMapping>,
}

/// `eventGroupingSettings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventGroupingSettings {
    /// `aggregationKind`: `SingleAlert` or `AlertPerResult`.
    pub aggregation_kind: Option<String>,
}

/// `alertDetailsOverride`: an alert's name, description, severity and tactics taken from its
/// result row. The formats hold `{{Column}}` placeholders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertDetailsOverride {
    /// `alertDisplayNameFormat`.
    pub display_name_format: Option<String>,
    /// `alertDescriptionFormat`.
    pub description_format: Option<String>,
    /// `alertSeverityColumnName`: the column holding the alert's severity.
    pub severity_column: Option<String>,
    /// `alertTacticsColumnName`: the column holding the alert's tactics.
    pub tactics_column: Option<String>,
}

/// Where a rule's query text sits in its YAML file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLocation {
    /// The 1-based file line of the query's first line.
    pub line: usize,
    /// Columns to add to a query column to get the file column: the block scalar's indentation,
    /// or the value's offset on the key's line for a single-line value.
    pub column_offset: usize,
    /// True when every query line maps exactly (a literal `|` block scalar); false for plain,
    /// quoted or folded values, where only the first line's columns are exact.
    pub exact: bool,
}

/// A Sentinel analytic or hunting rule read from YAML.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// `id` (a GUID).
    pub id: String,
    /// `name`.
    pub name: String,
    /// `description` (empty when absent).
    pub description: String,
    /// `severity`: `Informational`, `Low`, `Medium` or `High`.
    pub severity: Option<String>,
    /// `status`, such as `Available`.
    pub status: Option<String>,
    /// `requiredDataConnectors`.
    pub required_data_connectors: Vec<DataConnector>,
    /// `queryFrequency` in 100 ns ticks.
    pub query_frequency: Option<i64>,
    /// `queryPeriod` (the look-back window) in 100 ns ticks.
    pub query_period: Option<i64>,
    /// `triggerOperator`: `gt`, `lt`, `eq` or `ne`.
    pub trigger_operator: Option<String>,
    /// `triggerThreshold`.
    pub trigger_threshold: Option<i64>,
    /// `tactics` (MITRE ATT&CK tactics).
    pub tactics: Vec<String>,
    /// `relevantTechniques` (MITRE ATT&CK technique ids).
    pub relevant_techniques: Vec<String>,
    /// `query`: the KQL text.
    pub query: String,
    /// `entityMappings`.
    pub entity_mappings: Vec<EntityMapping>,
    /// `eventGroupingSettings`.
    pub event_grouping_settings: Option<EventGroupingSettings>,
    /// `alertDetailsOverride`.
    pub alert_details: Option<AlertDetailsOverride>,
    /// `customDetails`: detail names and the result columns that hold them, in file order.
    pub custom_details: Vec<(String, String)>,
    /// `suppressionDuration` in 100 ns ticks.
    pub suppression_duration: Option<i64>,
    /// `suppressionEnabled`.
    pub suppression_enabled: Option<bool>,
    /// `version`, such as `1.0.3`.
    pub version: Option<String>,
    /// `kind`: `Scheduled`, `NRT`, … (absent for hunting queries).
    pub kind: Option<String>,
    /// Every other top-level key, unchanged.
    pub extra: BTreeMap<String, Yaml>,
    /// Where the query is in the file.
    pub query_location: QueryLocation,
    /// For a query that is not a literal block (quoted, plain or folded, whose lines YAML
    /// joins and unescapes), the file line and column of each byte of [`Rule::query`]; empty
    /// for a literal block, whose lines map one to one.
    pub query_map: Vec<LineCol>,
    /// The file the rule was read from (the origin given to [`Rule::from_yaml`]).
    pub path: Option<PathBuf>,
    /// Things accepted but worth telling the user, such as text ignored after a duration.
    pub warnings: Vec<String>,
}

/// An error reading a rule: the file, the 1-based line and column when known, and what is
/// wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// The rule file (or the origin name given to [`Rule::from_yaml`]).
    pub path: PathBuf,
    /// The 1-based line and column, when known.
    pub position: Option<LineCol>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}: {}", self.path.display(), p, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for RuleError {}

/// Reads and checks the rule in the YAML file at `path`.
pub fn load_rule(path: impl AsRef<Path>) -> Result<Rule, RuleError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| RuleError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the rule file: {e}"),
    })?;
    Rule::from_yaml(&text, path)
}

/// The top-level keys [`Rule`] interprets.
const KNOWN: &[&str] = &[
    "id",
    "name",
    "description",
    "severity",
    "status",
    "requiredDataConnectors",
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "tactics",
    "relevantTechniques",
    "query",
    "entityMappings",
    "eventGroupingSettings",
    "suppressionDuration",
    "suppressionEnabled",
    "version",
    "kind",
    "alertDetailsOverride",
    "customDetails",
];

/// The rule keys kqlflow acts on, with what it does with each.
pub const HONOURED: &[(&str, &str)] = &[
    ("id", "names the rule in alerts and filters"),
    ("name", "names the rule in alerts and filters"),
    (
        "description",
        "describes the alert when no alertDescriptionFormat is given",
    ),
    ("severity", "the alert's severity"),
    ("tactics", "the alert's tactics"),
    ("relevantTechniques", "the alert's techniques"),
    ("query", "the query"),
    (
        "kind",
        "Scheduled and NRT rules raise alerts; others are hunting queries",
    ),
    (
        "queryFrequency",
        "makes a rule without `kind` a scheduled rule; the result is kept current at every tick instead of every run",
    ),
    (
        "queryPeriod",
        "the look-back window of every table scan, and {{StartTimeISO}}",
    ),
    (
        "triggerOperator",
        "alerts only while the result's row count passes the threshold",
    ),
    (
        "triggerThreshold",
        "alerts only while the result's row count passes the threshold",
    ),
    ("entityMappings", "the alert's entities and its key"),
    ("eventGroupingSettings", "SingleAlert or AlertPerResult"),
    (
        "suppressionDuration",
        "holds back a re-raise of the same key",
    ),
    ("suppressionEnabled", "turns suppressionDuration on or off"),
    (
        "alertDetailsOverride",
        "the alert's name, description, severity and tactics from its row",
    ),
    (
        "customDetails",
        "named values of the alert's row shown with it",
    ),
];

/// One line saying which of `rule`'s keys kqlflow honours and which it ignores.
pub fn honoured_summary(rule: &Rule) -> String {
    let mut present: Vec<&str> = HONOURED
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| match *k {
            "id" | "name" | "query" => true,
            "description" => !rule.description.is_empty(),
            "severity" => rule.severity.is_some(),
            "tactics" => !rule.tactics.is_empty(),
            "relevantTechniques" => !rule.relevant_techniques.is_empty(),
            "kind" => rule.kind.is_some(),
            "queryFrequency" => rule.query_frequency.is_some(),
            "queryPeriod" => rule.query_period.is_some(),
            "triggerOperator" => rule.trigger_operator.is_some(),
            "triggerThreshold" => rule.trigger_threshold.is_some(),
            "entityMappings" => !rule.entity_mappings.is_empty(),
            "eventGroupingSettings" => rule.event_grouping_settings.is_some(),
            "suppressionDuration" => rule.suppression_duration.is_some(),
            "suppressionEnabled" => rule.suppression_enabled.is_some(),
            "alertDetailsOverride" => rule.alert_details.is_some(),
            "customDetails" => !rule.custom_details.is_empty(),
            _ => false,
        })
        .collect();
    present.dedup();
    let mut ignored: Vec<String> = ["status", "version", "requiredDataConnectors"]
        .iter()
        .filter(|k| match **k {
            "status" => rule.status.is_some(),
            "version" => rule.version.is_some(),
            _ => !rule.required_data_connectors.is_empty(),
        })
        .map(|k| k.to_string())
        .collect();
    ignored.extend(rule.extra.keys().cloned());
    let kind = if rule.is_scheduled() {
        "scheduled rule (raises alerts)"
    } else {
        "hunting query (gives results)"
    };
    format!(
        "{kind}; honoured: {}; ignored: {}",
        present.join(", "),
        if ignored.is_empty() {
            "none".to_string()
        } else {
            ignored.join(", ")
        }
    )
}

/// Reads one rule's fields from the YAML document, with errors located at the key's line.
struct Reader<'t> {
    text: &'t str,
    origin: &'t Path,
    map: &'t serde_yaml_ng::Mapping,
    warnings: Vec<String>,
}

impl<'t> Reader<'t> {
    fn err(&self, key: &str, message: String) -> RuleError {
        RuleError {
            path: self.origin.to_path_buf(),
            position: key_position(self.text, key),
            message,
        }
    }

    fn get(&self, key: &str) -> Option<&'t Yaml> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>, RuleError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => scalar_string(v)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("`{key}` must be a string"))),
        }
    }

    fn required(&self, key: &str) -> Result<String, RuleError> {
        self.string(key)?.ok_or_else(|| RuleError {
            path: self.origin.to_path_buf(),
            position: None,
            message: format!("the rule has no `{key}`"),
        })
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, RuleError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Yaml::Sequence(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| {
                    scalar_string(v)
                        .ok_or_else(|| self.err(key, format!("`{key}` must be a list of strings")))
                })
                .collect(),
            Some(v) => scalar_string(v)
                .map(|s| vec![s])
                .ok_or_else(|| self.err(key, format!("`{key}` must be a list of strings"))),
        }
    }

    fn duration(&mut self, key: &str) -> Result<Option<i64>, RuleError> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        // Some published rules carry a KQL-style comment after the value (`7d // …`).
        let (value, comment) = match s.find("//") {
            Some(i) => (s[..i].trim(), Some(s[i..].trim())),
            None => (s.trim(), None),
        };
        match parse_duration(value) {
            Some(t) => {
                if let Some(c) = comment {
                    self.warnings
                        .push(format!("`{key}`: ignored the text after the duration: {c}"));
                }
                Ok(Some(t))
            }
            None => Err(self.err(
                key,
                format!(
                    "invalid duration '{s}' for `{key}`: expected ISO 8601 (PT1H, P14D, PT5M) \
                     or a KQL timespan (1h, 14d, 5m)"
                ),
            )),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, RuleError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .map(Some)
                .ok_or_else(|| self.err(key, format!("`{key}` must be an integer"))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, RuleError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .or_else(|| match v.as_str().map(|s| s.trim().to_ascii_lowercase()) {
                    Some(s) if s == "true" => Some(true),
                    Some(s) if s == "false" => Some(false),
                    _ => None,
                })
                .map(Some)
                .ok_or_else(|| self.err(key, format!("`{key}` must be true or false"))),
        }
    }

    fn connectors(&self) -> Result<Vec<DataConnector>, RuleError> {
        const KEY: &str = "requiredDataConnectors";
        let Some(v) = self.get(KEY) else {
            return Ok(Vec::new());
        };
        let Some(items) = v.as_sequence() else {
            return Err(self.err(KEY, format!("`{KEY}` must be a list")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let field = |name: &str| item.get(name).filter(|v| !v.is_null());
                let connector_id =
                    field("connectorId")
                        .and_then(scalar_string)
                        .ok_or_else(|| {
                            self.err(KEY, format!("`{KEY}[{i}]` has no string `connectorId`"))
                        })?;
                let data_types = match field("dataTypes") {
                    None => Vec::new(),
                    Some(Yaml::Sequence(ts)) => ts
                        .iter()
                        .map(|t| {
                            scalar_string(t).ok_or_else(|| {
                                self.err(
                                    KEY,
                                    format!("`{KEY}[{i}].dataTypes` must be a list of strings"),
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(self.err(KEY, format!("`{KEY}[{i}].dataTypes` must be a list")));
                    }
                };
                Ok(DataConnector {
                    connector_id,
                    data_types,
                })
            })
            .collect()
    }

    fn entity_mappings(&self) -> Result<Vec<EntityMapping>, RuleError> {
        const KEY: &str = "entityMappings";
        let Some(v) = self.get(KEY) else {
            return Ok(Vec::new());
        };
        let Some(items) = v.as_sequence() else {
            return Err(self.err(KEY, format!("`{KEY}` must be a list")));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let entity_type = item
                .get("entityType")
                .and_then(scalar_string)
                .ok_or_else(|| self.err(KEY, format!("`{KEY}[{i}]` has no string `entityType`")))?;
            let Some(fms) = item.get("fieldMappings").and_then(Yaml::as_sequence) else {
                return Err(self.err(KEY, format!("`{KEY}[{i}]` has no `fieldMappings` list")));
            };
            let mut field_mappings = Vec::with_capacity(fms.len());
            for (j, fm) in fms.iter().enumerate() {
                let get = |name: &str| {
                    fm.get(name).and_then(scalar_string).ok_or_else(|| {
                        self.err(
                            KEY,
                            format!("`{KEY}[{i}].fieldMappings[{j}]` has no string `{name}`"),
                        )
                    })
                };
                field_mappings.push(FieldMapping {
                    identifier: get("identifier")?,
                    column_name: get("columnName")?,
                });
            }
            out.push(EntityMapping {
                entity_type,
                field_mappings,
            });
        }
        Ok(out)
    }

    fn alert_details(&self) -> Result<Option<AlertDetailsOverride>, RuleError> {
        const KEY: &str = "alertDetailsOverride";
        match self.get(KEY) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::Mapping(m)) => {
                let get = |k: &str| {
                    m.get(k)
                        .and_then(scalar_string)
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                };
                Ok(Some(AlertDetailsOverride {
                    display_name_format: get("alertDisplayNameFormat"),
                    description_format: get("alertDescriptionFormat"),
                    severity_column: get("alertSeverityColumnName"),
                    tactics_column: get("alertTacticsColumnName"),
                }))
            }
            Some(_) => Err(self.err(KEY, format!("`{KEY}` must be a mapping"))),
        }
    }

    fn custom_details(&self) -> Result<Vec<(String, String)>, RuleError> {
        const KEY: &str = "customDetails";
        match self.get(KEY) {
            None | Some(Yaml::Null) => Ok(Vec::new()),
            Some(Yaml::Mapping(m)) => m
                .iter()
                .map(|(k, v)| match (scalar_string(k), scalar_string(v)) {
                    (Some(k), Some(v)) => Ok((k, v.trim().to_string())),
                    _ => Err(self.err(
                        KEY,
                        format!("`{KEY}` maps detail names to result column names"),
                    )),
                })
                .collect(),
            Some(_) => Err(self.err(KEY, format!("`{KEY}` must be a mapping"))),
        }
    }

    fn grouping(&self) -> Result<Option<EventGroupingSettings>, RuleError> {
        const KEY: &str = "eventGroupingSettings";
        match self.get(KEY) {
            None => Ok(None),
            Some(Yaml::Mapping(m)) => Ok(Some(EventGroupingSettings {
                aggregation_kind: m.get("aggregationKind").and_then(scalar_string),
            })),
            Some(_) => Err(self.err(KEY, format!("`{KEY}` must be a mapping"))),
        }
    }
}

/// A YAML scalar as text (strings as they are, numbers and bools printed).
fn scalar_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Tagged(t) => scalar_string(&t.value),
        _ => None,
    }
}

/// The position of top-level key `key` (a line starting with `key:`) in the YAML text: the
/// column of its value when there is one on the line, else of the key.
fn key_position(text: &str, key: &str) -> Option<LineCol> {
    let (line_no, line) = text.lines().enumerate().find(|(_, l)| {
        l.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    })?;
    let after_key = line.find(':').map_or(0, |i| i + 1);
    let rest = &line[after_key..];
    let value_col = rest.len() - rest.trim_start().len();
    let column = if rest.trim().is_empty() {
        1
    } else {
        line[..after_key + value_col].chars().count() + 1
    };
    Some(LineCol {
        line: line_no + 1,
        column,
    })
}

/// The position of the second line that starts with top-level key `key:`, which a YAML
/// mapping cannot hold twice.
fn repeated_key_position(text: &str, key: &str) -> Option<LineCol> {
    let (line_no, _) = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .nth(1)?;
    Some(LineCol {
        line: line_no + 1,
        column: 1,
    })
}

/// Finds the query's place in the file from the `query:` key line.
fn locate_query(text: &str) -> QueryLocation {
    let fallback = QueryLocation {
        line: 1,
        column_offset: 0,
        exact: false,
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(key_idx) = lines.iter().position(|l| {
        l.strip_prefix("query")
            .is_some_and(|r| r.trim_start().starts_with(':'))
    }) else {
        return fallback;
    };
    let line = lines[key_idx];
    let after_key = line.find(':').map_or(line.len(), |i| i + 1);
    let header = line[after_key..].trim();
    // Drop a YAML comment after the block indicator.
    let header = header.split(" #").next().unwrap_or("").trim();
    if let Some(indicators) = header.strip_prefix(['|', '>']) {
        let folded = header.starts_with('>');
        let explicit = indicators
            .chars()
            .find(|c| c.is_ascii_digit())
            .and_then(|c| c.to_digit(10))
            .map(|d| d as usize);
        let indent = explicit.unwrap_or_else(|| {
            lines[key_idx + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .map_or(0, |l| l.len() - l.trim_start_matches(' ').len())
        });
        return QueryLocation {
            line: key_idx + 2,
            column_offset: indent,
            exact: !folded,
        };
    }
    // A plain or quoted value on the key's line.
    let rest = &line[after_key..];
    let lead = rest.len() - rest.trim_start().len();
    let quoted = rest.trim_start().starts_with(['"', '\'']);
    QueryLocation {
        line: key_idx + 1,
        column_offset: line[..after_key + lead].chars().count() + usize::from(quoted),
        exact: false,
    }
}

/// The file line and column of each byte of `query`, a YAML value that starts at `loc` in the
/// file `text` but is not a literal block: YAML folds its line breaks and indentation into
/// spaces and unescapes quotes, so the query's characters are matched to the file's in order,
/// a file character the query lacks (indentation, a line break folded away, an escape or
/// quote character) skipped.
fn align_query(query: &str, text: &str, loc: QueryLocation) -> Vec<LineCol> {
    let mut out = Vec::with_capacity(query.len());
    // The file's characters from the value's start, each with its position.
    let mut file = Vec::new();
    for (i, line) in text.lines().enumerate().skip(loc.line.saturating_sub(1)) {
        let skip = if i + 1 == loc.line {
            loc.column_offset
        } else {
            0
        };
        for (c, ch) in line.chars().enumerate().skip(skip) {
            file.push((
                ch,
                LineCol {
                    line: i + 1,
                    column: c + 1,
                },
            ));
        }
        file.push((
            '\n',
            LineCol {
                line: i + 1,
                column: line.chars().count() + 1,
            },
        ));
    }
    let mut j = 0;
    let mut last = LineCol {
        line: loc.line,
        column: loc.column_offset + 1,
    };
    for q in query.chars() {
        while j < file.len() {
            let (f, at) = file[j];
            if f == q || (q.is_whitespace() && f.is_whitespace()) {
                last = at;
                j += 1;
                break;
            }
            // A character YAML leaves out of the value: skip it.
            j += 1;
        }
        for _ in 0..q.len_utf8() {
            out.push(last);
        }
    }
    out
}

impl Rule {
    /// Reads a rule from YAML text; `origin` names the text in errors (usually its file).
    pub fn from_yaml(text: &str, origin: impl AsRef<Path>) -> Result<Rule, RuleError> {
        let origin = origin.as_ref();
        let doc: Yaml = serde_yaml_ng::from_str(text).map_err(|e| {
            let message = e.to_string();
            // A repeated key is reported at the mapping's start: point at the repeat instead
            // when it is a top-level key.
            let repeated = message
                .strip_prefix("duplicate entry with key \"")
                .and_then(|k| k.strip_suffix('"'))
                .and_then(|k| repeated_key_position(text, k));
            let position = repeated.or_else(|| {
                e.location().map(|l| LineCol {
                    line: l.line(),
                    column: l.column(),
                })
            });
            let message = match message.find(" at line ") {
                Some(i) => {
                    let tail = &message[i + " at line ".len()..];
                    let after = tail
                        .find(|c: char| {
                            !(c.is_ascii_digit() || c == ' ' || c.is_ascii_alphabetic())
                        })
                        .map_or("", |j| &tail[j..]);
                    format!("invalid YAML: {}{}", &message[..i], after)
                }
                None => format!("invalid YAML: {message}"),
            };
            RuleError {
                path: origin.to_path_buf(),
                position,
                message,
            }
        })?;
        let Yaml::Mapping(map) = &doc else {
            return Err(RuleError {
                path: origin.to_path_buf(),
                position: Some(LineCol { line: 1, column: 1 }),
                message: "a rule file must be a YAML mapping with keys such as `id`, `name` and \
                          `query`"
                    .to_string(),
            });
        };
        let mut r = Reader {
            text,
            origin,
            map,
            warnings: Vec::new(),
        };
        let query = r.required("query")?;
        let rule = Rule {
            id: r.required("id")?,
            name: r.required("name")?,
            description: r.string("description")?.unwrap_or_default(),
            severity: r.string("severity")?,
            status: r.string("status")?,
            required_data_connectors: r.connectors()?,
            query_frequency: r.duration("queryFrequency")?,
            query_period: r.duration("queryPeriod")?,
            trigger_operator: r.string("triggerOperator")?,
            trigger_threshold: r.int("triggerThreshold")?,
            tactics: r.strings("tactics")?,
            relevant_techniques: r.strings("relevantTechniques")?,
            entity_mappings: r.entity_mappings()?,
            event_grouping_settings: r.grouping()?,
            alert_details: r.alert_details()?,
            custom_details: r.custom_details()?,
            suppression_duration: r.duration("suppressionDuration")?,
            suppression_enabled: r.bool("suppressionEnabled")?,
            version: r.string("version")?,
            kind: r.string("kind")?,
            extra: map
                .iter()
                .filter_map(|(k, v)| {
                    let k = scalar_string(k)?;
                    (!KNOWN.contains(&k.as_str())).then(|| (k, v.clone()))
                })
                .collect(),
            query_location: locate_query(text),
            query_map: Vec::new(),
            path: Some(origin.to_path_buf()),
            warnings: std::mem::take(&mut r.warnings),
            query,
        };
        let mut rule = rule;
        if !rule.query_location.exact {
            rule.query_map = align_query(&rule.query, text, rule.query_location);
        }
        Ok(rule)
    }

    /// True for an analytic rule that Sentinel runs on a schedule: `kind` `Scheduled` or
    /// `NRT`, or a `queryFrequency` without a kind. Such a rule sees only its query period
    /// and raises alerts; any other rule is a hunting query, whose rows are results.
    pub fn is_scheduled(&self) -> bool {
        match self.kind.as_deref() {
            Some(k) => k.eq_ignore_ascii_case("Scheduled") || k.eq_ignore_ascii_case("NRT"),
            None => self.query_frequency.is_some(),
        }
    }

    /// The value of a top-level key that [`Rule`] does not interpret (`tags`, `metadata`, …).
    pub fn field(&self, key: &str) -> Option<&Yaml> {
        self.extra.get(key)
    }

    /// The file's name for messages: the path, or `<rule>` when there is none.
    fn origin(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("<rule>"))
    }

    /// The 1-based file line and column of byte `offset` of [`Rule::query`].
    pub fn query_position(&self, offset: usize) -> LineCol {
        if !self.query_map.is_empty() {
            return match self.query_map.get(offset) {
                Some(at) => *at,
                None => {
                    let last = self.query_map[self.query_map.len() - 1];
                    LineCol {
                        line: last.line,
                        column: last.column + 1,
                    }
                }
            };
        }
        let at = LineIndex::new(&self.query).line_col(&self.query, offset);
        let loc = self.query_location;
        if at.line == 1 || loc.exact {
            LineCol {
                line: loc.line + at.line - 1,
                column: at.column + loc.column_offset,
            }
        } else {
            LineCol {
                line: loc.line + at.line - 1,
                column: at.column,
            }
        }
    }

    /// A query syntax error as a [`RuleError`] at its file line and column.
    pub fn query_error(&self, e: &ParseError) -> RuleError {
        RuleError {
            path: self.origin(),
            position: Some(self.query_position(e.span.start)),
            message: e.message.clone(),
        }
    }

    /// Parses the rule's query; the first syntax error is reported at its file position.
    pub fn parse_query(&self) -> Result<Query, RuleError> {
        kql::parse(&self.query).map_err(|e| self.query_error(&e))
    }

    /// Parses the rule's query, reporting every syntax error at its file position.
    pub fn parse_query_all(&self) -> Result<Query, Vec<RuleError>> {
        kql::parse_all(&self.query)
            .map_err(|errs| errs.iter().map(|e| self.query_error(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_DAY, TICKS_PER_HOUR};

    const RULE: &str = "\
id: 0001
name: Test rule
description: |
  Something.
severity: Medium
queryFrequency: 1h
queryPeriod: P14D
triggerOperator: gt
triggerThreshold: 0
tactics:
  - InitialAccess
relevantTechniques:
  - T1078
tags:
  - Custom
query: |
  SigninLogs
    | where ResultType != 0
  | extend x = ,
entityMappings:
  - entityType: Account
    fieldMappings:
      - identifier: FullName
        columnName: UserPrincipalName
suppressionDuration: PT5H
suppressionEnabled: false
version: 1.0
kind: Scheduled
";

    #[test]
    fn reads_fields() {
        let r = Rule::from_yaml(RULE, "t.yaml").unwrap();
        assert_eq!(r.id, "0001");
        assert_eq!(r.name, "Test rule");
        assert_eq!(r.description, "Something.\n");
        assert_eq!(r.query_frequency, Some(TICKS_PER_HOUR));
        assert_eq!(r.query_period, Some(14 * TICKS_PER_DAY));
        assert_eq!(r.suppression_duration, Some(5 * TICKS_PER_HOUR));
        assert_eq!(r.suppression_enabled, Some(false));
        assert_eq!(r.trigger_threshold, Some(0));
        assert_eq!(r.version.as_deref(), Some("1.0"));
        assert_eq!(r.tactics, ["InitialAccess"]);
        assert_eq!(
            r.entity_mappings[0].field_mappings[0].column_name,
            "UserPrincipalName"
        );
        assert!(r.field("tags").is_some());
        assert!(r.field("query").is_none());
        assert_eq!(
            r.query_location,
            QueryLocation {
                line: 17,
                column_offset: 2,
                exact: true
            }
        );
    }

    #[test]
    fn query_errors_point_into_the_file() {
        let r = Rule::from_yaml(RULE, "t.yaml").unwrap();
        let e = r.parse_query().unwrap_err();
        // `  | extend x = ,` is file line 19; the ',' is at column 16.
        assert_eq!(
            e.position,
            Some(LineCol {
                line: 19,
                column: 16
            })
        );
        assert!(
            e.to_string()
                .starts_with("t.yaml:19:16: expected an expression after '='"),
            "{e}"
        );
    }

    #[test]
    fn reports_bad_values_at_their_key() {
        let bad = RULE.replace("queryPeriod: P14D", "queryPeriod: 14 days");
        let e = Rule::from_yaml(&bad, "t.yaml").unwrap_err();
        assert_eq!(
            e.position,
            Some(LineCol {
                line: 7,
                column: 14
            })
        );
        assert!(
            e.message
                .contains("invalid duration '14 days' for `queryPeriod`"),
            "{e}"
        );

        let e = Rule::from_yaml("id: x\nname: y\n", "t.yaml").unwrap_err();
        assert_eq!(e.message, "the rule has no `query`");

        let e = Rule::from_yaml("id: x\n  name: [\n", "t.yaml").unwrap_err();
        assert!(e.position.is_some(), "{e}");
        assert!(e.message.starts_with("invalid YAML"), "{e}");

        let e = Rule::from_yaml("id: x\nname: y\nquery: T\nid: z\n", "t.yaml").unwrap_err();
        assert_eq!(e.position, Some(LineCol { line: 4, column: 1 }), "{e}");
        assert_eq!(
            e.to_string(),
            "t.yaml:4:1: invalid YAML: duplicate entry with key \"id\""
        );

        let e = Rule::from_yaml("- a\n- b\n", "t.yaml").unwrap_err();
        assert!(e.message.contains("must be a YAML mapping"), "{e}");

        let bad = RULE.replace("        columnName: UserPrincipalName\n", "");
        let e = Rule::from_yaml(&bad, "t.yaml").unwrap_err();
        assert!(
            e.message
                .contains("`entityMappings[0].fieldMappings[0]` has no string `columnName`"),
            "{e}"
        );
    }

    #[test]
    fn tolerates_a_comment_after_a_duration() {
        let r = Rule::from_yaml(
            &RULE.replace("queryPeriod: P14D", "queryPeriod: 7d // widened"),
            "t.yaml",
        )
        .unwrap();
        assert_eq!(r.query_period, Some(7 * TICKS_PER_DAY));
        assert_eq!(r.warnings.len(), 1);
    }

    #[test]
    fn errors_in_quoted_and_folded_queries_point_at_their_file_line() {
        for (text, line) in [
            (
                "id: x\nname: r\nquery: 'SigninLogs\n  | where A == \"a''b\"\n  | where Nope == 1'\n",
                5,
            ),
            (
                "id: x\nname: r\nquery: \"SigninLogs\n  | where A == \\\"a\\\"\n\n  | where Nope == 1\"\n",
                6,
            ),
            (
                "id: x\nname: r\nquery: >\n  SigninLogs\n  | where A == 'a'\n  | where Nope == 1\n",
                6,
            ),
            (
                "id: x\nname: r\nquery: SigninLogs\n  | where Nope == 1\n",
                4,
            ),
        ] {
            let r = Rule::from_yaml(text, "r.yaml").unwrap();
            let at = r.query.find("Nope").unwrap();
            assert_eq!(
                r.query_position(at),
                LineCol { line, column: 11 },
                "{text:?} -> {:?}",
                r.query
            );
        }
    }

    #[test]
    fn single_line_queries() {
        let r = Rule::from_yaml("id: a\nname: b\nquery: \"T | where x ==\"\n", "t.yaml").unwrap();
        assert_eq!(r.query_location.line, 3);
        let e = r.parse_query().unwrap_err();
        assert_eq!(
            e.position,
            Some(LineCol {
                line: 3,
                column: 23
            })
        );
    }
}
