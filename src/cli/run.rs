//! `kqlflow run`: evaluate a query or rule over log files at one tick and print the result.

use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

use super::check::QueryOptions;
use crate::api::QueryFile;
use crate::model::{
    Column, Row, Value, format_datetime_iso, format_timespan, parse_datetime, to_json_text,
};
use crate::plan::BindOptions;

/// How `kqlflow run` prints rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns with a header.
    Table,
    /// One JSON object per row.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// Which engine evaluates the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The incremental engine: the query as a differential dataflow, the logs replayed in
    /// event-time order.
    Incremental,
    /// The batch reference evaluator.
    Batch,
}

/// Arguments of `kqlflow run`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kqlflow run rules/RareAuditActivityByApp.yaml --logs exports/\n  \
kqlflow run hunt.kql --logs SigninLogs.jsonl --at 2024-05-01T12:00:00Z --format jsonl\n  \
kqlflow run hunt.kql --logs exports/ --changes -w 2\n  \
kqlflow run hunt.kql --logs exports/ --engine batch\n  \
kqlflow run hunt.kql --logs exports/ -w 2 -n 2 -p 0 --hostfile hosts.txt   (and -p 1 on the second host)"
)]
pub struct RunArgs {
    /// A query (.kql) or Sentinel rule (.yaml) file.
    #[arg(value_name = "QUERY_OR_RULE")]
    file: PathBuf,
    /// Log files or directories to read (as `kqlflow inspect` reads them).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    logs: Vec<PathBuf>,
    /// The tick to evaluate at (now()); default: the latest event time read.
    #[arg(long, value_name = "DATETIME")]
    at: Option<String>,
    /// The table of records whose table nothing else tells.
    #[arg(long)]
    table: Option<String>,
    #[command(flatten)]
    common: QueryOptions,
    /// How to print the rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The engine: `incremental` (the differential dataflow) or `batch` (the reference).
    #[arg(long, value_enum, default_value_t = Engine::Incremental)]
    engine: Engine,
    /// Print the change stream (every tick at which a row entered or left the result, with
    /// `_tick` and `_diff` columns first) instead of the result at one tick.
    #[arg(long)]
    changes: bool,
    /// The tick length of event time (the incremental engine's time step).
    #[arg(long, default_value = "1s", value_name = "TIMESPAN")]
    tick: String,
    #[command(flatten)]
    cluster: super::cluster::ClusterArgs,
}

/// A value as text for the table and CSV formats.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.to_string(),
        Value::DateTime(t) => format_datetime_iso(*t),
        Value::TimeSpan(t) => format_timespan(*t),
        other => to_json_text(other),
    }
}

fn print_rows(
    out: &mut dyn Write,
    schema: &[Column],
    rows: &[Row],
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Jsonl => {
            for r in rows {
                let fields: Vec<String> = schema
                    .iter()
                    .zip(r)
                    .map(|(c, v)| {
                        format!(
                            "{}:{}",
                            serde_json::to_string(&*c.name).unwrap_or_default(),
                            to_json_text(v)
                        )
                    })
                    .collect();
                writeln!(out, "{{{}}}", fields.join(","))?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record(schema.iter().map(|c| c.name.to_string()));
            for r in rows {
                let _ = w.write_record(r.iter().map(text));
            }
            let bytes = w.into_inner().unwrap_or_default();
            out.write_all(&bytes)?;
        }
        Format::Table => {
            let cells: Vec<Vec<String>> =
                rows.iter().map(|r| r.iter().map(text).collect()).collect();
            let mut widths: Vec<usize> = schema.iter().map(|c| c.name.chars().count()).collect();
            for r in &cells {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |vals: Vec<&str>| -> String {
                vals.iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(out, "{}", line(schema.iter().map(|c| &*c.name).collect()))?;
            for r in &cells {
                writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
            }
            writeln!(out, "({} rows)", rows.len())?;
        }
    }
    Ok(())
}

/// Runs `kqlflow run`: 0 when the result was printed, 1 when the query does not bind or the
/// output fails, 2 for a usage error (including an engine that is not built).
pub fn run(args: &RunArgs) -> i32 {
    let tick = match crate::model::parse_timespan(&args.tick) {
        Some(t) if t > 0 => t,
        _ => {
            eprintln!(
                "error: --tick {}: not a positive timespan (such as 1s, 1m, 1h)",
                args.tick
            );
            return 2;
        }
    };
    if (args.cluster.processes > 1 || args.cluster.workers > 1) && args.engine == Engine::Batch {
        eprintln!("error: -w, -n and -p are for the incremental engine (leave out --engine batch)");
        return 2;
    }
    if args.changes && args.engine == Engine::Batch {
        eprintln!("error: --changes needs the incremental engine (leave out --engine batch)");
        return 2;
    }
    let loaded = match QueryFile::read(&args.file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let opts = match args.common.bind_options(loaded.rule.as_ref()) {
        // A custom table without a schema takes its columns from these logs.
        Ok(o) => BindOptions {
            logs: args.logs.clone(),
            ..o
        },
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let program = match loaded.bind(&opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let watchlists = match super::logs::load_watchlists(&args.common) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let at = match &args.at {
        Some(s) => match parse_datetime(s) {
            Some(t) => Some(t),
            None => {
                eprintln!("error: --at {s}: not a datetime (such as 2024-05-01T12:00:00Z)");
                return 2;
            }
        },
        None => None,
    };
    let cluster = args.cluster.options();
    let options = crate::api::QueryOptions {
        at,
        tick,
        table: args.table.clone(),
        watchlists,
        engine: match args.engine {
            Engine::Incremental => crate::api::Engine::Incremental,
            Engine::Batch => crate::api::Engine::Batch,
        },
        changes: args.changes,
        cluster: cluster.clone(),
    };
    let result = match crate::api::run_query(&program, &args.logs, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if cluster.processes == 1 {
        super::logs::warn(&result.local);
    }
    if cluster.process != 0 {
        super::cluster::follower_done(&cluster, result.files, result.records, "the result");
        return 0;
    }
    for n in &program.notes {
        eprintln!("note: {n}");
    }
    if result.cluster_rejected > 0 {
        eprintln!(
            "warning: {} input lines rejected across the cluster (see `kqlflow inspect` for details)",
            result.cluster_rejected
        );
    }
    if result.cluster_timeless > 0 {
        eprintln!(
            "warning: {} records without an event time were left out across the cluster",
            result.cluster_timeless
        );
    }
    let printed = print_rows(
        &mut std::io::stdout().lock(),
        &result.schema,
        &result.rows,
        args.format,
    );
    match printed {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
