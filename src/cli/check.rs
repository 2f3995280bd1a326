//! `kqlflow check`: parse and bind query and rule files, print each one's output columns or
//! its errors with file positions.

use clap::Args;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::api::{QueryFile, QueryPeriod, RuleOptions};
use crate::logs::WatchlistFiles;
use crate::plan::BindOptions;
use crate::rules::{self, Rule};

/// Arguments of `kqlflow check`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kqlflow check rules/*.yaml queries/hunt.kql\n  \
kqlflow check spikes.kql --watchlist NetworkAllowlist=allow.csv --period 14d"
)]
pub struct CheckArgs {
    /// Query files (.kql) and Sentinel rule files (.yaml, .yml).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    common: QueryOptions,
}

/// Options shared by the commands that bind queries.
#[derive(Args, Debug, Clone, Default)]
pub struct QueryOptions {
    /// A watchlist's CSV file, as NAME=FILE.csv (repeatable). NAME=FILE.csv@DATETIME is a
    /// later version of the watchlist, which replaces its rows from that event time on.
    /// Without one, a watchlist's columns are taken as strings from their use.
    #[arg(long = "watchlist", value_name = "NAME=FILE.csv[@DATETIME]")]
    pub watchlists: Vec<String>,
    /// The local file an `externaldata` URL is read from, as URL=FILE (repeatable): kqlflow
    /// reads no external storage. The file is read in the format the query gives (csv,
    /// tsv, txt, json, multijson). `check` and `explain` bind an unmapped URL to no rows with
    /// a note; the commands that run queries refuse it.
    #[arg(long = "externaldata", value_name = "URL=FILE")]
    pub externaldata: Vec<String>,
    /// The query period when a rule gives none, such as 1d or P14D (default 1d): the
    /// look-back window of hunting queries, .kql files and scheduled rules without a
    /// queryPeriod, and what {{StartTimeISO}} is now() minus. A hunting query or .kql file
    /// that filters a table by time itself reads that table as it says. `all` removes the
    /// window of those queries ({{StartTimeISO}} stays 1d back).
    #[arg(long, value_name = "DURATION")]
    pub period: Option<String>,
    /// Fail a query or rule that has any note or warning (a watchlist without its file or
    /// without a column the query reads, a union leg skipped, a filter reaching past the
    /// rule's period, a trigger kqlflow cannot honour) instead of running it with the note.
    #[arg(long)]
    pub strict: bool,
}

impl QueryOptions {
    /// The watchlist files by name, or a usage error: the first version (no time, from
    /// the start), then the later ones in time order, each with the event time it takes
    /// effect from (100 ns units since the epoch).
    pub fn watchlist_paths(&self) -> Result<HashMap<String, WatchlistFiles>, String> {
        let mut out: HashMap<String, WatchlistFiles> = HashMap::new();
        for w in &self.watchlists {
            let Some((name, file)) = w.split_once('=') else {
                return Err(format!("--watchlist {w}: expected NAME=FILE.csv"));
            };
            let (name, file) = (name.trim(), file.trim());
            // FILE.csv@DATETIME, where the part after the last '@' is a datetime; a file name
            // with an '@' of its own is left whole.
            let (file, from) = match file.rsplit_once('@') {
                Some((f, at)) if !f.is_empty() => match crate::model::parse_datetime(at.trim()) {
                    Some(t) => (f, Some(t)),
                    None => {
                        return Err(format!(
                            "--watchlist {w}: `{at}` after @ is not a datetime (such as 2024-05-01T00:00:00Z)"
                        ));
                    }
                },
                _ => (file, None),
            };
            let files = out.entry(name.to_string()).or_default();
            match from {
                None if files.first.is_some() => {
                    return Err(format!(
                        "--watchlist {name}: given twice without a time; a later version is NAME=FILE.csv@DATETIME"
                    ));
                }
                None => files.first = Some(PathBuf::from(file)),
                Some(t) => {
                    if files.later.iter().any(|(at, _)| *at == t) {
                        return Err(format!(
                            "--watchlist {name}: two versions take effect at the same time"
                        ));
                    }
                    files.later.push((t, PathBuf::from(file)));
                }
            }
        }
        for (name, files) in &mut out {
            if files.first.is_none() {
                return Err(format!(
                    "--watchlist {name}: only later versions (@DATETIME) given; give the first as {name}=FILE.csv"
                ));
            }
            files.later.sort_by_key(|(t, _)| *t);
        }
        Ok(out)
    }

    /// The library's rule options these arguments give, or a usage error.
    pub fn options(&self) -> Result<RuleOptions, String> {
        let period = match self.period.as_deref().map(str::trim) {
            None => QueryPeriod::Default,
            Some(p) if p.eq_ignore_ascii_case("all") => QueryPeriod::All,
            Some(p) => QueryPeriod::Of(rules::parse_duration(p).ok_or_else(|| {
                format!("--period {p}: not a duration (such as 1d or P14D) nor `all`")
            })?),
        };
        let mut externaldata = HashMap::new();
        for m in &self.externaldata {
            // The URL itself holds `=` in its query string: the file is after the last `=`.
            let Some((url, file)) = m.rsplit_once('=') else {
                return Err(format!("--externaldata {m}: expected URL=FILE"));
            };
            if url.is_empty() || file.is_empty() {
                return Err(format!("--externaldata {m}: expected URL=FILE"));
            }
            externaldata.insert(url.to_string(), PathBuf::from(file));
        }
        Ok(RuleOptions {
            watchlists: self.watchlist_paths()?,
            externaldata,
            period,
            strict: self.strict,
            logs: Vec::new(),
        })
    }

    /// The bind options for a query (the rule's query period wins over `--period`), or a
    /// usage error.
    pub fn bind_options(&self, rule: Option<&Rule>) -> Result<BindOptions, String> {
        self.options()?.bind_options(rule)
    }
}

/// True for files that a glob over a rule folder picks up but that hold no query: Markdown,
/// plain text notes, CSV and JSON (watchlists, logs). Everything else is read as a query or
/// a rule.
fn is_documentation(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(
        ext.as_deref(),
        Some("md" | "markdown" | "txt" | "csv" | "json" | "jsonl" | "tsv")
    )
}

/// Runs `kqlflow check`: 0 when every file binds, 1 when one does not, 2 for a usage error.
pub fn run(args: &CheckArgs) -> i32 {
    if let Err(e) = args.common.watchlist_paths() {
        eprintln!("error: {e}");
        return 2;
    }
    let mut failed = false;
    for path in &args.files {
        if is_documentation(path) {
            println!("{}: skipped (not a query or rule file)", path.display());
            continue;
        }
        let loaded = match QueryFile::read(path) {
            Ok(l) => l,
            Err(e) => {
                println!("{e}");
                failed = true;
                continue;
            }
        };
        let opts = match args.common.bind_options(loaded.rule.as_ref()) {
            // An externaldata URL without its file binds to no rows here, with a note.
            Ok(o) => BindOptions {
                externaldata_optional: true,
                open_custom_tables: true,
                ..o
            },
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        match loaded.bind(&opts) {
            Ok(p) => {
                println!("{}: OK", path.display());
                for c in p.schema() {
                    println!("    {}: {}", c.name, c.ty);
                }
                for n in &p.notes {
                    println!("  note: {n}");
                }
                let mut warned = !p.notes.is_empty();
                if let Some(rule) = &loaded.rule {
                    println!("  {}", rules::honoured_summary(rule));
                    for w in crate::alerts::check_rule(rule) {
                        println!("{}: warning: {w}", path.display());
                        warned = true;
                    }
                }
                for w in loaded.warnings(&p) {
                    println!("{w}");
                    warned = true;
                }
                if warned && args.common.strict {
                    println!(
                        "{}: error: --strict: the notes and warnings above",
                        path.display()
                    );
                    failed = true;
                }
            }
            Err(e) => {
                println!("{e}");
                failed = true;
            }
        }
    }
    i32::from(failed)
}
