//! Rule packs: reading query and rule files, binding them with the options that say where
//! watchlists and `externaldata` files are and which query period applies, and keeping the
//! rules a caller selects.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::eval::Watchlist;
use crate::kql::{LineCol, LineIndex, Span};
use crate::logs::WatchlistFiles;
use crate::plan::{self, BindOptions, PeriodWindow, Program, WindowScope};
use crate::rules::Rule;

/// The query period of queries and rules that give none (a rule's own `queryPeriod` always
/// wins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryPeriod {
    /// One day.
    #[default]
    Default,
    /// This long, in 100 ns units.
    Of(i64),
    /// No look-back window: hunting queries and `.kql` files read every record
    /// (`{{StartTimeISO}}` stays one day back).
    All,
}

/// How rules are bound: watchlist files, `externaldata` files, the default query period,
/// strictness (`Default` for none of them).
#[derive(Clone, Debug, Default)]
pub struct RuleOptions {
    /// Each watchlist's CSV files by name (its first version, and later ones from an event
    /// time). A watchlist without files binds with the columns taken as strings from their use.
    pub watchlists: HashMap<String, WatchlistFiles>,
    /// The local file an `externaldata` URL is read from: kqlflow reads no external storage.
    pub externaldata: HashMap<String, PathBuf>,
    /// The query period when a rule gives none: the look-back window of hunting queries,
    /// `.kql` files and scheduled rules without a `queryPeriod`, and what `{{StartTimeISO}}`
    /// is `now()` minus. A hunting query that filters a table by time itself reads that table
    /// as it says.
    pub period: QueryPeriod,
    /// Leave out a rule that has any note or warning (a watchlist without its file or a
    /// column the query reads, a union leg skipped, a filter reaching past the rule's period, a
    /// trigger kqlflow cannot honour) instead of running it with the note.
    pub strict: bool,
    /// The logs (files and folders) the rules will run over: a custom (`_CL`) table kqlflow
    /// has no schema for takes its columns from its records there, with a note (empty: such
    /// a table does not bind).
    pub logs: Vec<PathBuf>,
}

impl RuleOptions {
    /// These options with watchlist `name`'s first version read from `path`.
    pub fn watchlist(mut self, name: &str, path: impl Into<PathBuf>) -> RuleOptions {
        self.watchlists.entry(name.to_string()).or_default().first = Some(path.into());
        self
    }

    /// The bind options for a query (`rule`'s own query period wins over [`Self::period`]),
    /// or an error when a watchlist file cannot be read.
    pub fn bind_options(&self, rule: Option<&Rule>) -> Result<BindOptions, String> {
        let mut opts = BindOptions::default();
        let mut windowed = true;
        match self.period {
            QueryPeriod::All => windowed = false,
            QueryPeriod::Of(p) => opts.query_period = Some(p),
            QueryPeriod::Default => {}
        }
        if let Some(p) = rule.and_then(|r| r.query_period) {
            opts.query_period = Some(p);
            windowed = true;
        }
        let scope = if rule.is_some_and(Rule::is_scheduled) {
            WindowScope::EveryScan
        } else {
            WindowScope::ScansWithoutTimeFilter
        };
        opts.window = windowed.then_some(PeriodWindow {
            period: opts.query_period.unwrap_or(crate::model::TICKS_PER_DAY),
            scope,
        });
        opts.externaldata = self.externaldata.clone();
        opts.logs = self.logs.clone();
        for (name, files) in &self.watchlists {
            // Every version's columns, in the order first seen.
            let mut columns: Vec<String> = Vec::new();
            for path in files.paths() {
                for c in plan::watchlist_columns(path)? {
                    if !columns.contains(&c) {
                        columns.push(c);
                    }
                }
            }
            opts.watchlists.insert(name.clone(), columns);
        }
        Ok(opts)
    }

    /// Reads the watchlists' files, each with its later versions.
    pub fn load_watchlists(&self) -> Result<HashMap<String, Watchlist>, String> {
        crate::logs::load_watchlists(&self.watchlists)
    }
}

/// A query read from a file: its text, and the rule it came from for YAML files.
pub struct QueryFile {
    /// The file.
    pub path: PathBuf,
    /// The query text.
    pub query: String,
    /// The rule, for YAML files.
    pub rule: Option<Rule>,
    /// The file's whole text (for diagnostics).
    pub file_text: String,
}

/// Renders a diagnostic at a 1-based line and column of `text`: `origin:line:col: error:
/// message`, the line and a caret.
fn render_at(text: &str, origin: &str, at: LineCol, width: usize, message: &str) -> String {
    let index = LineIndex::new(text);
    let line = index.line_text(text, at.line);
    let gutter = at.line.to_string();
    let pad = " ".repeat(gutter.len());
    let marker: String = line
        .chars()
        .take(at.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(
        "{origin}:{at}: error: {message}\n{pad} |\n{gutter} | {line}\n{pad} | {marker}{}",
        "^".repeat(width.max(1))
    )
}

impl QueryFile {
    /// Reads a query (.kql or any other extension) or a rule (.yaml, .yml) file.
    pub fn read(path: &Path) -> Result<QueryFile, String> {
        let file_text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: error: cannot read: {e}", path.display()))?;
        QueryFile::from_text(path, file_text)
    }

    /// A query or rule from its text, `path` telling which (by its extension) and naming it
    /// in messages.
    pub fn from_text(path: &Path, file_text: String) -> Result<QueryFile, String> {
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml {
            let rule = Rule::from_yaml(&file_text, path).map_err(|e| match e.position {
                Some(p) => render_at(&file_text, &path.display().to_string(), p, 1, &e.message),
                None => format!("{}: error: {}", path.display(), e.message),
            })?;
            Ok(QueryFile {
                path: path.to_path_buf(),
                query: rule.query.clone(),
                rule: Some(rule),
                file_text,
            })
        } else {
            Ok(QueryFile {
                path: path.to_path_buf(),
                query: file_text.clone(),
                rule: None,
                file_text,
            })
        }
    }

    /// A diagnostic about `span` of the query, at its position in the file.
    pub fn render(&self, span: Span, message: &str) -> String {
        let origin = self.path.display().to_string();
        match &self.rule {
            None => crate::kql::ParseError::new(span, message).render(&self.query, &origin),
            Some(rule) => {
                let at = rule.query_position(span.start);
                let end = rule.query_position(span.end);
                let width = if end.line == at.line && end.column > at.column {
                    end.column - at.column
                } else {
                    1
                };
                render_at(&self.file_text, &origin, at, width, message)
            }
        }
    }

    /// The program's warnings, each rendered at its place in the file as `check` prints them.
    pub fn warnings(&self, program: &Program) -> Vec<String> {
        program
            .warnings
            .iter()
            .map(|w| {
                self.render(Span::new(w.start, w.end), &w.message).replacen(
                    ": error: ",
                    ": warning: ",
                    1,
                )
            })
            .collect()
    }

    /// Parses and binds the query; on failure the rendered diagnostics (every syntax error
    /// the parser recovered from, one after another, or the binding error).
    pub fn bind(&self, opts: &BindOptions) -> Result<Program, String> {
        let q = crate::kql::parse_all(&self.query).map_err(|errors| {
            errors
                .iter()
                .map(|e| self.render(e.span, &e.message))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        plan::bind(&self.query, &q, Catalog::builtin(), opts)
            .map_err(|e| self.render(e.span, &e.message))
    }
}

/// A rule of a pack, bound.
#[derive(Clone, Debug)]
pub struct PackRule {
    /// The file it was read from (`dataflows/NAME.yaml` for the built-in pack).
    pub path: PathBuf,
    /// The rule.
    pub rule: Rule,
    /// Its query, bound.
    pub program: Program,
}

/// The rules of a pack that bind, with what loading them had to say.
#[derive(Clone, Debug, Default)]
pub struct RulePack {
    /// The rules that bound, in file order.
    pub rules: Vec<PackRule>,
    /// Notes, warnings and errors, each naming its file, in the order they arose.
    pub messages: Vec<String>,
    /// Whether some rule file could not be read or bound (it is left out, its error in
    /// `messages`).
    pub failed: bool,
}

impl RulePack {
    /// The rule pack built into the binary (the `dataflows/` files), bound with `options`.
    pub fn builtin(options: &RuleOptions) -> Result<RulePack, String> {
        let texts = crate::demo::RULES
            .iter()
            .map(|(name, text)| (Path::new("dataflows").join(name), Some(text.to_string())))
            .collect();
        RulePack::bind(texts, options)
    }

    /// The rule files (.yaml, .yml) of `paths` (files, or folders of them), bound with
    /// `options`. An error when there are none, or when `options` cannot be used.
    pub fn load(paths: &[PathBuf], options: &RuleOptions) -> Result<RulePack, String> {
        let files = rule_files(paths);
        if files.is_empty() {
            return Err(format!(
                "no rule files (.yaml) in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        RulePack::bind(files.into_iter().map(|f| (f, None)).collect(), options)
    }

    /// Reads (unless its text is given) and binds each rule file.
    fn bind(
        files: Vec<(PathBuf, Option<String>)>,
        options: &RuleOptions,
    ) -> Result<RulePack, String> {
        let mut pack = RulePack::default();
        for (f, text) in files {
            let loaded =
                match text.map_or_else(|| QueryFile::read(&f), |t| QueryFile::from_text(&f, t)) {
                    Ok(l) => l,
                    Err(e) => {
                        pack.messages.push(e);
                        pack.failed = true;
                        continue;
                    }
                };
            let Some(rule) = loaded.rule.clone() else {
                pack.messages.push(format!(
                    "{}: error: not a rule file (hunt runs Sentinel rule YAML)",
                    f.display()
                ));
                pack.failed = true;
                continue;
            };
            let opts = options.bind_options(Some(&rule))?;
            let program = match loaded.bind(&opts) {
                Ok(p) => p,
                Err(e) => {
                    pack.messages.push(e);
                    pack.failed = true;
                    continue;
                }
            };
            // What check says of the rule, said here too: a note (a watchlist without its
            // file or a column, a union leg skipped) changes what the rule can find.
            let mut told = Vec::new();
            told.extend(
                program
                    .notes
                    .iter()
                    .map(|n| format!("{}: note: {n}", f.display())),
            );
            told.extend(loaded.warnings(&program));
            told.extend(
                crate::alerts::check_rule(&rule)
                    .into_iter()
                    .map(|w| format!("{}: warning: {w}", f.display())),
            );
            let strict_stop = !told.is_empty() && options.strict;
            pack.messages.extend(told);
            if let Some(first) = pack.rules.iter().find(|r| r.rule.id == rule.id) {
                pack.messages.push(format!(
                    "{}: error: rule id {} is also the id of {}: each rule needs its own id",
                    f.display(),
                    rule.id,
                    first.path.display()
                ));
                pack.failed = true;
                continue;
            }
            if strict_stop {
                pack.messages.push(format!(
                    "{}: error: --strict: not run because of the notes and warnings above",
                    f.display()
                ));
                pack.failed = true;
                continue;
            }
            pack.rules.push(PackRule {
                path: f,
                rule,
                program,
            });
        }
        Ok(pack)
    }

    /// Drops each rule the incremental engine cannot run, with an error in `messages` (and
    /// `failed` set); whether any was dropped.
    pub fn keep_runnable(&mut self) -> bool {
        let mut dropped = Vec::new();
        self.rules.retain(
            |r| match crate::pack::check(&[(r.rule.clone(), r.program.clone())]) {
                Ok(()) => true,
                Err(e) => {
                    dropped.push(format!("{}: error: {e}", r.path.display()));
                    false
                }
            },
        );
        let any = !dropped.is_empty();
        self.failed |= any;
        self.messages.extend(dropped);
        any
    }
}

/// The rule files of `paths`: each file as given, each folder's .yaml and .yml files sorted.
pub fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            found
                .retain(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

impl RulePack {
    /// Each rule with its plan, as the pack's dataflow runs them.
    pub(crate) fn pairs(&self) -> Vec<(Rule, Program)> {
        self.rules
            .iter()
            .map(|r| (r.rule.clone(), r.program.clone()))
            .collect()
    }

    /// Each rule's result columns, as its alerts' rows are laid out.
    pub(crate) fn columns(&self) -> Vec<Vec<String>> {
        self.rules
            .iter()
            .map(|r| crate::alerts::tracker_for(&r.rule, &r.program).1)
            .collect()
    }
}

impl RulePack {
    /// Keeps only the rules `selection` selects; how many are left.
    pub fn select(&mut self, selection: &RuleSelection) -> usize {
        if !selection.is_all() {
            self.rules.retain(|r| selection.selects(&r.rule));
        }
        self.rules.len()
    }
}

/// Which rules of a pack to run: by id or name, by tactic or technique (empty: every rule).
#[derive(Clone, Debug, Default)]
pub struct RuleSelection {
    /// Rules whose id is one of these, or whose name contains one (case-insensitive).
    pub rules: Vec<String>,
    /// Rules with one of these tactics or techniques, such as `Persistence` or `T1098` (a
    /// technique also selects its sub-techniques, `T1098.001`).
    pub tactics: Vec<String>,
}

impl RuleSelection {
    /// Whether this selects every rule.
    pub fn is_all(&self) -> bool {
        self.rules.is_empty() && self.tactics.is_empty()
    }

    /// Whether `rule` is selected.
    pub fn selects(&self, rule: &Rule) -> bool {
        let by_rule = self.rules.is_empty()
            || self.rules.iter().any(|r| {
                let r = r.trim().to_lowercase();
                rule.id.eq_ignore_ascii_case(&r) || rule.name.to_lowercase().contains(&r)
            });
        let by_tactic = self.tactics.is_empty()
            || self.tactics.iter().any(|t| {
                let t = t.trim();
                rule.tactics
                    .iter()
                    .chain(&rule.relevant_techniques)
                    .any(|x| {
                        x.eq_ignore_ascii_case(t)
                            || x.to_lowercase()
                                .starts_with(&format!("{}.", t.to_lowercase()))
                    })
            });
        by_rule && by_tactic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_keeps_rules_by_id_name_tactic_or_technique() {
        let pack = RulePack::builtin(&RuleOptions::default()).unwrap();
        assert!(!pack.failed, "{:?}", pack.messages);
        let first = pack.rules[0].rule.clone();
        let all = RuleSelection::default();
        assert!(all.is_all() && pack.rules.iter().all(|r| all.selects(&r.rule)));
        let by_id = RuleSelection {
            rules: vec![first.id.to_uppercase()],
            ..RuleSelection::default()
        };
        let mut one = pack.clone();
        assert!(one.select(&by_id) >= 1);
        assert!(one.rules.iter().any(|r| r.rule.id == first.id));
        let by_name = RuleSelection {
            rules: vec![first.name.to_lowercase()],
            ..RuleSelection::default()
        };
        assert!(by_name.selects(&first));
        if let Some(t) = first.relevant_techniques.first() {
            let base = t.split('.').next().unwrap_or(t).to_string();
            let by_technique = RuleSelection {
                tactics: vec![base],
                ..RuleSelection::default()
            };
            assert!(by_technique.selects(&first));
        }
        let none = RuleSelection {
            tactics: vec!["NoSuchTactic".into()],
            ..RuleSelection::default()
        };
        assert_eq!(pack.clone().select(&none), 0);
    }

    #[test]
    fn options_bind_the_period_and_watchlist_columns() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("allow.csv");
        std::fs::write(&list, "IP,Note\n192.0.2.1,x\n").unwrap();
        let options = RuleOptions {
            period: QueryPeriod::Of(7 * crate::model::TICKS_PER_DAY),
            ..RuleOptions::default()
        }
        .watchlist("Allow", &list);
        let bind = options.bind_options(None).unwrap();
        assert_eq!(bind.query_period, Some(7 * crate::model::TICKS_PER_DAY));
        assert_eq!(bind.watchlists["Allow"], vec!["IP", "Note"]);
        assert!(bind.window.is_some());
        let all = RuleOptions {
            period: QueryPeriod::All,
            ..RuleOptions::default()
        };
        assert!(all.bind_options(None).unwrap().window.is_none());
        assert_eq!(options.load_watchlists().unwrap().len(), 1);
    }
}
