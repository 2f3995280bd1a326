//! How `hunt`, `replay` and `detect` show alert events: which ones (severity, updates, hunting
//! results), in which format, on standard output and in the `--out` file, as they happen.
//!
//! Events are written as the dataflow reports them, tick by tick, so memory does not grow
//! with the alerts so far. When standard output closes early (`| head`), printing stops and
//! the `--out` file is still written to the end; the command then exits non-zero.

use std::io::Write;

use clap::Args;

use crate::alerts::incidents::{Grouper, Incident, Matching, Member, Options, Scope, write_jsonl};
use crate::alerts::render::{AlertFormat, Described, Renderer};
use crate::alerts::{AlertEvent, SEVERITIES, Status, severity_rank};
use crate::api::RuleSelection;
use crate::model::format_datetime_iso;
use crate::rules::Rule;

/// Which alert events to show.
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// Only alerts of this severity or higher: informational, low, medium or high.
    #[arg(long, value_name = "SEVERITY")]
    pub min_severity: Option<String>,
    /// Also show each update of an open alert (the rows added and removed). By default the
    /// JSON Lines output and --out hold each alert's raise and close, and the table its raise.
    #[arg(long)]
    pub updates: bool,
    /// Show hunting queries' results among the alerts (by default they are counted apart in
    /// the summary and written only to --hunting-out).
    #[arg(long)]
    pub include_hunting: bool,
    /// Write hunting queries' results as JSON Lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub hunting_out: Option<std::path::PathBuf>,
    /// How alerts are grouped into incidents: alerts of any rule sharing an entity
    /// (across-rules), of the same rule (per-rule), or not at all (none).
    #[arg(
        long,
        value_enum,
        default_value = "across-rules",
        value_name = "GROUPING"
    )]
    pub incidents: Scope,
    /// Which entities an alert must share with an incident to join it: any one, or all of
    /// its own.
    #[arg(long, value_enum, default_value = "any", value_name = "any|all")]
    pub incident_match: Matching,
    /// An alert joins an incident whose last alert is at most this long before it.
    #[arg(long, default_value = "1d", value_name = "TIMESPAN")]
    pub incident_window: String,
    /// Write the incidents (each with its alerts) as JSON Lines to FILE at the end.
    #[arg(long, value_name = "FILE")]
    pub incidents_out: Option<std::path::PathBuf>,
    /// Run only the rules whose id is this, or whose name contains it (case-insensitive;
    /// repeatable).
    #[arg(long = "only-rule", value_name = "ID|NAME")]
    pub only_rule: Vec<String>,
    /// Run only the rules with this tactic or technique, such as Persistence or T1098
    /// (repeatable).
    #[arg(long = "tactic", value_name = "TACTIC|TECHNIQUE")]
    pub tactic: Vec<String>,
}

impl Default for ShowArgs {
    /// The defaults of the command line: every severity, raises and closes, hunting results
    /// apart, incidents across rules on any shared entity within a day.
    fn default() -> ShowArgs {
        ShowArgs {
            min_severity: None,
            updates: false,
            include_hunting: false,
            hunting_out: None,
            incidents: Scope::AcrossRules,
            incident_match: Matching::Any,
            incident_window: "1d".into(),
            incidents_out: None,
            only_rule: Vec::new(),
            tactic: Vec::new(),
        }
    }
}

impl ShowArgs {
    /// The lowest severity rank shown, or a usage error.
    pub fn min_rank(&self) -> Result<usize, String> {
        match &self.min_severity {
            None => Ok(0),
            Some(s) => severity_rank(s).ok_or_else(|| {
                format!("--min-severity {s}: expected informational, low, medium or high")
            }),
        }
    }

    /// The incident grouping options, or a usage error.
    pub fn incident_options(&self) -> Result<Options, String> {
        let window = match crate::model::parse_timespan(&self.incident_window) {
            Some(w) if w > 0 => w,
            _ => {
                return Err(format!(
                    "--incident-window {}: not a positive timespan (such as 5h or 1d)",
                    self.incident_window
                ));
            }
        };
        Ok(Options {
            scope: self.incidents,
            matching: self.incident_match,
            window,
        })
    }

    /// The rules `--only-rule` and `--tactic` select.
    pub fn selection(&self) -> RuleSelection {
        RuleSelection {
            rules: self.only_rule.clone(),
            tactics: self.tactic.clone(),
        }
    }

    /// Checks every option: a usage error names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.min_rank()?;
        self.incident_options()?;
        Ok(())
    }
}

/// Writes alert events as [`ShowArgs`] and the format say.
pub struct AlertPrinter {
    /// The rendering on standard output (table lines cut to the terminal's width, when
    /// standard output is one).
    renderer: Renderer,
    min_rank: usize,
    updates: bool,
    include_hunting: bool,
    out: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
    hunting_out: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
    /// Standard output was closed by its reader.
    pub stdout_closed: bool,
    /// The first error writing a file.
    pub file_error: Option<String>,
    /// Hunting results (raised) per rule index, counted whether shown or not.
    pub hunting_results: Vec<u64>,
    /// Flush the files after every event (live detection).
    pub live: bool,
    /// Print nothing on standard output (the files are still written).
    pub quiet: bool,
    /// The incidents of the alerts shown.
    pub incidents: Grouper,
    incidents_out: Option<std::path::PathBuf>,
    /// The rules' names, by index.
    pub rule_names: Vec<String>,
}

fn create(p: &std::path::Path) -> Result<std::io::BufWriter<std::fs::File>, String> {
    std::fs::File::create(p)
        .map(std::io::BufWriter::new)
        .map_err(|e| format!("cannot create {}: {e}", p.display()))
}

impl AlertPrinter {
    /// A printer for `rules` rules; `out` is the alerts file (`--out`), created now.
    pub fn new(
        format: AlertFormat,
        no_color: bool,
        show: &ShowArgs,
        out: Option<&std::path::Path>,
        rule_names: Vec<String>,
    ) -> Result<AlertPrinter, String> {
        let rules = rule_names.len();
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        let width = terminal
            .then(|| {
                console::Term::stdout()
                    .size_checked()
                    .map(|(_, w)| w as usize)
            })
            .flatten();
        Ok(AlertPrinter {
            renderer: Renderer {
                format,
                colours: format == AlertFormat::Table && !no_color && terminal,
                width,
                updates: show.updates,
                csv_header: false,
            },
            min_rank: show.min_rank()?,
            updates: show.updates,
            include_hunting: show.include_hunting,
            out: match out {
                Some(p) => Some((p.to_path_buf(), create(p)?)),
                None => None,
            },
            hunting_out: match &show.hunting_out {
                Some(p) => Some((p.clone(), create(p)?)),
                None => None,
            },
            stdout_closed: false,
            file_error: None,
            hunting_results: vec![0; rules],
            live: false,
            quiet: false,
            incidents: Grouper::new(show.incident_options()?),
            incidents_out: show.incidents_out.clone(),
            rule_names,
        })
    }

    /// Whether an event of `rule` with these details is shown at all (severity, hunting),
    /// and whether it is a hunting result.
    fn selected(&self, rule: &Rule, d: &Described) -> (bool, bool) {
        let hunting = !rule.is_scheduled();
        let rank = severity_rank(&d.details.severity).unwrap_or(0);
        (rank >= self.min_rank, hunting)
    }

    /// Whether [`AlertPrinter::event`] would do nothing with `e` whatever its description: an
    /// update when updates are not shown. Describing an event renders its rows, so the sinks
    /// ask this first (a hunting query's results can update at every tick).
    pub fn ignores(&self, e: &AlertEvent) -> bool {
        e.status == Status::Updated && !self.updates
    }

    /// Shows event `e` of rule number `index` (`rule`), described as `d`. Returns whether
    /// it counts as a shown alert (a raise that passes the filters and is not a hunting
    /// result, unless those are included).
    pub fn event(&mut self, index: usize, rule: &Rule, d: &Described, e: &AlertEvent) -> bool {
        let (passes, hunting) = self.selected(rule, d);
        if hunting
            && e.status == Status::Raised
            && let Some(n) = self.hunting_results.get_mut(index)
        {
            *n += 1;
        }
        if !passes || (e.status == Status::Updated && !self.updates) {
            return false;
        }
        let live = self.live;
        let write = |file: &mut Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
                     error: &mut Option<String>| {
            if let Some((path, f)) = file.as_mut()
                && let Err(err) =
                    writeln!(f, "{}", d.line).and_then(|_| if live { f.flush() } else { Ok(()) })
                && error.is_none()
            {
                *error = Some(format!("writing {}: {err}", path.display()));
            }
        };
        if hunting {
            write(&mut self.hunting_out, &mut self.file_error);
            if !self.include_hunting {
                return false;
            }
        } else if e.status == Status::Raised {
            self.incidents.add(Member {
                rule: index,
                tick: e.tick,
                severity: severity_rank(&d.details.severity).unwrap_or(0),
                title: d.details.title.clone(),
                entities: d
                    .entities
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect(),
            });
        }
        write(&mut self.out, &mut self.file_error);
        if !self.stdout_closed && !self.quiet {
            let text = self.renderer.render(d, e);
            if let Some(text) = text {
                let mut lock = std::io::stdout().lock();
                if lock
                    .write_all(text.as_bytes())
                    .and_then(|_| lock.flush())
                    .is_err()
                {
                    self.stdout_closed = true;
                }
            }
        }
        e.status == Status::Raised
    }

    /// Writes the CSV header when no alert wrote it, and flushes the files: the first error.
    pub fn finish(&mut self) -> Result<(), String> {
        if !self.stdout_closed
            && let Some(header) = self.renderer.pending_header()
        {
            let mut lock = std::io::stdout().lock();
            if lock.write_all(header.as_bytes()).is_err() {
                self.stdout_closed = true;
            }
        }
        if let Some(path) = &self.incidents_out
            && let Err(e) = write_jsonl(path, &self.incidents.incidents(), &self.rule_names)
            && self.file_error.is_none()
        {
            self.file_error = Some(e);
        }
        for (path, f) in self.out.iter_mut().chain(self.hunting_out.iter_mut()) {
            if let Err(e) = f.flush()
                && self.file_error.is_none()
            {
                self.file_error = Some(format!("writing {}: {e}", path.display()));
            }
        }
        match &self.file_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn severity_name(rank: usize) -> &'static str {
    SEVERITIES.get(rank).copied().unwrap_or("Informational")
}

/// The title of an incident: its most severe alert's, earliest first.
pub fn incident_title(i: &Incident) -> &str {
    i.title()
}

/// Writes the incidents section of a summary: how many per severity, then the first `shown`
/// incidents (severity, first tick, alerts, rules, title, entities), one line each.
pub fn summarise_incidents(
    out: &mut impl Write,
    grouper: &Grouper,
    names: &[String],
    shown: usize,
) {
    let incidents = grouper.incidents();
    let by: Vec<String> = grouper
        .by_severity()
        .iter()
        .rev()
        .map(|(s, n)| format!("{} {n}", severity_name(*s)))
        .collect();
    let _ = writeln!(
        out,
        "  incidents: {}{}",
        incidents.len(),
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    );
    for i in incidents.iter().take(shown) {
        let rules: Vec<&str> = i
            .rules
            .iter()
            .map(|&r| names.get(r).map_or("", String::as_str))
            .collect();
        let entities: Vec<&str> = i.entities.iter().take(4).map(String::as_str).collect();
        let _ = writeln!(
            out,
            "    [{}] {}  {}  {} alert(s) from {} rule(s){}  {}",
            severity_name(i.severity),
            format_datetime_iso(i.first as i64),
            incident_title(i),
            i.alerts,
            rules.len(),
            if rules.len() > 1 {
                format!(" ({})", rules.join("; "))
            } else {
                String::new()
            },
            entities.join(", ")
        );
    }
    if incidents.len() > shown {
        let _ = writeln!(
            out,
            "    … and {} more (--incidents-out FILE writes them all)",
            incidents.len() - shown
        );
    }
}
