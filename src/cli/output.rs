//! How `hunt`, `replay` and `detect` show alert events: which ones (severity, updates, hunting
//! results), in which format, on standard output and in the `--out` file, as they happen.
//!
//! Events are written as the dataflow reports them, tick by tick, so memory does not grow
//! with the alerts so far. When standard output closes early (`| head`), printing stops and
//! the `--out` file is still written to the end; the command then exits non-zero.

use std::io::Write;

use clap::Args;

use super::hunt::{AlertFormat, Described, colour};
use crate::alerts::{AlertEvent, Status, severity_rank};
use crate::model::format_datetime_iso;
use crate::rules::Rule;

/// Which alert events to show.
#[derive(Args, Debug, Clone, Default)]
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
}

/// Writes alert events as [`ShowArgs`] and the format say.
pub struct AlertPrinter {
    format: AlertFormat,
    colours: bool,
    /// The terminal's width, when standard output is one: table lines are cut to it.
    width: Option<usize>,
    min_rank: usize,
    updates: bool,
    include_hunting: bool,
    out: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
    hunting_out: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
    csv_header: bool,
    /// Standard output was closed by its reader.
    pub stdout_closed: bool,
    /// The first error writing a file.
    pub file_error: Option<String>,
    /// Hunting results (raised) per rule index, counted whether shown or not.
    pub hunting_results: Vec<u64>,
    /// Flush the files after every event (live detection).
    pub live: bool,
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
        rules: usize,
    ) -> Result<AlertPrinter, String> {
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
            format,
            colours: format == AlertFormat::Table && !no_color && terminal,
            width,
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
            csv_header: false,
            stdout_closed: false,
            file_error: None,
            hunting_results: vec![0; rules],
            live: false,
        })
    }

    /// Whether an event of `rule` with these details is shown at all (severity, hunting),
    /// and whether it is a hunting result.
    fn selected(&self, rule: &Rule, d: &Described) -> (bool, bool) {
        let hunting = !rule.is_scheduled();
        let rank = severity_rank(&d.details.severity).unwrap_or(0);
        (rank >= self.min_rank, hunting)
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
        }
        write(&mut self.out, &mut self.file_error);
        if !self.stdout_closed {
            let text = self.render(d, e);
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

    /// The text an event prints on standard output, if any.
    fn render(&mut self, d: &Described, e: &AlertEvent) -> Option<String> {
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
                    let _ = w.write_record([
                        "tick", "severity", "rule", "rule_id", "title", "entities", "rows",
                    ]);
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

    /// Writes the CSV header when no alert wrote it, and flushes the files: the first error.
    pub fn finish(&mut self) -> Result<(), String> {
        if self.format == AlertFormat::Csv && !self.csv_header && !self.stdout_closed {
            self.csv_header = true;
            let mut lock = std::io::stdout().lock();
            if writeln!(lock, "tick,severity,rule,rule_id,title,entities,rows").is_err() {
                self.stdout_closed = true;
            }
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

/// `s` split after its first `n` characters.
fn split_chars(s: &str, n: usize) -> (&str, &str) {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    }
}
