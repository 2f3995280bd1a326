//! `kqlflow inspect` and, for now, `kqlflow demo`.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::catalog::Catalog;
use crate::ingest::{Ingest, Options, Projection, Report};
use crate::model::format_datetime_iso;

/// Arguments of `kqlflow inspect`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  kqlflow inspect SigninLogs.jsonl.gz AuditLogs.csv\n  \
kqlflow inspect exports/ --table SigninLogs --rejects rejects.jsonl\n  \
kqlflow inspect - --table AuditLogs --json < audit.jsonl"
)]
pub struct InspectArgs {
    /// Files or directories to read (`-` for standard input). Directories are walked for
    /// .json, .jsonl, .ndjson, .csv, .txt and .gz files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The table of records whose table neither a Type column, a diagnostic category nor the
    /// file name tells.
    #[arg(long)]
    table: Option<String>,
    /// Write every rejected line to FILE as JSON Lines (file, line, reason, detail, text).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Reject lines longer than this many bytes.
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    max_line_bytes: usize,
    /// How many examples to show per reason.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `kqlflow inspect`.
pub fn run(args: &InspectArgs) -> i32 {
    let catalog = Catalog::builtin();
    if let Some(t) = &args.table
        && catalog.id_of_ignore_case(t).is_none()
    {
        eprintln!(
            "error: --table {t}: no such table; did you mean {}?",
            catalog.closest(t, 3).join(", ")
        );
        return 2;
    }
    let options = Options {
        table: args.table.clone(),
        max_line_bytes: args.max_line_bytes,
        max_examples: args.examples,
    };
    let mut ing = Ingest::new(catalog, &Projection::all(), options);
    if let Some(path) = &args.rejects {
        match std::fs::File::create(path) {
            Ok(f) => ing
                .report
                .keep_rejects(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                eprintln!(
                    "error: cannot create the rejects file {}: {e}",
                    path.display()
                );
                return 1;
            }
        }
    }
    let start = Instant::now();
    for p in &args.paths {
        ing.read_path(p, &mut |_| {});
    }
    let finished = ing.finish();
    let elapsed = start.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let printed = if args.json {
        serde_json::to_writer_pretty(&mut out, &ing.report)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        print_report(&mut out, &ing.report, elapsed)
    };
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing the report: {e}");
        return 1;
    }
    if let Err(e) = finished {
        eprintln!("error: {e}");
        return 1;
    }
    0
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < UNITS.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// Prints the report as text: a summary line, per table, per file, rejects and warnings.
pub fn print_report(out: &mut dyn Write, r: &Report, seconds: f64) -> std::io::Result<()> {
    let bytes: u64 = r.files.iter().map(|f| f.bytes).sum();
    let rate = if seconds > 0.0 {
        bytes as f64 / seconds / 1e6
    } else {
        0.0
    };
    writeln!(
        out,
        "{} file(s), {}, {} row(s) read, {} rejected, in {:.3} s ({:.1} MB/s)",
        r.files.len(),
        human_bytes(bytes),
        r.rows(),
        r.rejected(),
        seconds,
        rate
    )?;
    if !r.tables.is_empty() {
        writeln!(out, "\nper table:")?;
        let w = r.tables.keys().map(|k| k.len()).max().unwrap_or(5).max(5);
        writeln!(
            out,
            "  {:w$}  {:>9}  {:>12}  {:<28}  {:<28}",
            "table", "rows", "without time", "first", "last"
        )?;
        for (name, t) in &r.tables {
            let first = t
                .min_time
                .map(format_datetime_iso)
                .unwrap_or_else(|| "-".into());
            let last = t
                .max_time
                .map(format_datetime_iso)
                .unwrap_or_else(|| "-".into());
            writeln!(
                out,
                "  {name:w$}  {:>9}  {:>12}  {first:<28}  {last:<28}",
                t.rows, t.rows_without_time
            )?;
        }
        for (name, t) in &r.tables {
            if !t.unknown_columns.is_empty() {
                let cols: Vec<String> = t
                    .unknown_columns
                    .iter()
                    .map(|(c, n)| format!("{c} ({n})"))
                    .collect();
                writeln!(
                    out,
                    "  {name}: columns the schema lacks: {}",
                    cols.join(", ")
                )?;
            }
        }
    }
    writeln!(out, "\nper file:")?;
    for f in &r.files {
        let format = if f.format.is_empty() {
            "-"
        } else {
            f.format.as_str()
        };
        writeln!(
            out,
            "  {}  [{}]  {}  {} row(s), {} rejected",
            f.path,
            format,
            human_bytes(f.bytes),
            f.rows,
            f.rejected
        )?;
    }
    if !r.rejects.is_empty() {
        writeln!(out, "\nrejected ({}):", r.rejected())?;
        for (reason, t) in &r.rejects {
            writeln!(out, "  {reason}: {}", t.count)?;
            for e in &t.examples {
                writeln!(out, "    {e}")?;
            }
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for (kind, t) in &r.warnings {
            writeln!(out, "  {kind}: {}", t.count)?;
            for e in &t.examples {
                writeln!(out, "    {e}")?;
            }
        }
    }
    Ok(())
}
