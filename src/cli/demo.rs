//! `kqlflow demo`: the rule pack run incrementally over the built-in tenant, and the real sample
//! exports read by ingest.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::catalog::Catalog;
use crate::demo::{RULES, allowlist, attack_tenant};
use crate::exec::{run_program, watchlist_sources};
use crate::ingest::{Ingest, Options, Projection};
use crate::model::{Row, TICKS_PER_SECOND, format_datetime_iso};
use crate::plan::BindOptions;
use crate::rules::Rule;
use crate::runtime::{ClusterOptions, snapshot};

/// What one rule did over the tenant.
struct Outcome {
    first: Option<(u64, Vec<Row>)>,
    distinct_rows: usize,
    entities: Vec<usize>,
    columns: Vec<String>,
}

fn run_rule(rule: &Rule, tables: &[(String, Vec<(i64, Row)>)]) -> Result<Outcome, String> {
    let q = crate::kql::parse(&rule.query).map_err(|e| e.message)?;
    let mut opts = BindOptions {
        query_period: rule.query_period,
        ..BindOptions::default()
    };
    let allow = allowlist();
    opts.watchlists
        .insert("NetworkAllowlist".into(), allow.columns.clone());
    let program =
        crate::plan::bind(&rule.query, &q, Catalog::builtin(), &opts).map_err(|e| e.message)?;
    let watchlists = watchlist_sources(
        &program,
        &HashMap::from([("NetworkAllowlist".to_string(), allow)]),
    );
    let changes = run_program(
        &program,
        tables,
        &watchlists,
        &ClusterOptions::default(),
        TICKS_PER_SECOND,
    )?;
    let first_tick = changes.iter().find(|c| c.diff > 0).map(|c| c.tick);
    let first = first_tick.map(|t| {
        (
            t,
            snapshot(&changes, t).into_iter().map(|(r, _)| r).collect(),
        )
    });
    let distinct_rows = changes
        .iter()
        .filter(|c| c.diff > 0)
        .map(|c| &c.row)
        .collect::<BTreeSet<_>>()
        .len();
    let columns: Vec<String> = program
        .schema()
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    let entities = rule
        .entity_mappings
        .iter()
        .flat_map(|m| m.field_mappings.iter())
        .filter_map(|f| columns.iter().position(|c| *c == f.column_name))
        .collect();
    Ok(Outcome {
        first,
        distinct_rows,
        entities,
        columns,
    })
}

/// Arguments of `kqlflow demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Also write the tenant as JSON Lines files (one per table) into DIR/logs and the
    /// allowlist watchlist as DIR/allow.csv, to try `kqlflow hunt` and `kqlflow run` on.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

/// Runs `kqlflow demo`.
pub fn run(args: &DemoArgs) -> i32 {
    if let Some(dir) = &args.out {
        let logs = dir.join("logs");
        let written = std::fs::create_dir_all(&logs).and_then(|_| crate::demo::write_tenant(&logs)).and_then(|files| {
            std::fs::write(dir.join("allow.csv"), "IPOrRange,Comment\n10.0.0.0/8,lab\n192.0.2.44,scanner\n198.51.100.1-198.51.100.20,partner\n")?;
            Ok(files)
        });
        match written {
            Ok(files) => {
                eprintln!(
                    "wrote {} log files to {d}/logs and the allowlist to {d}/allow.csv; try:",
                    files.len(),
                    d = dir.display()
                );
                eprintln!(
                    "  kqlflow hunt --rules dataflows/ --logs {d}/logs --watchlist NetworkAllowlist={d}/allow.csv\n",
                    d = dir.display()
                );
            }
            Err(e) => {
                eprintln!("error: writing the tenant to {}: {e}", dir.display());
                return 1;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match demo(&mut out) {
        Ok(code) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn demo(out: &mut dyn Write) -> std::io::Result<i32> {
    let tables = attack_tenant();
    let records: usize = tables.iter().map(|(_, r)| r.len()).sum();
    writeln!(
        out,
        "kqlflow demo: the rule pack (dataflows/) run incrementally over a built-in tenant of {records} records\n\
         in {} tables, holding a password spray followed by account changes, a service principal\n\
         sign-in burst, sustained provisioning failures and a rare app-initiated change.\n",
        tables.len()
    )?;
    let start = Instant::now();
    let mut fired = 0;
    let mut failed = false;
    for (file, text) in RULES {
        let rule = match Rule::from_yaml(text, Path::new(file)) {
            Ok(r) => r,
            Err(e) => {
                writeln!(out, "{file}: error: {e}")?;
                failed = true;
                continue;
            }
        };
        let severity = rule
            .severity
            .clone()
            .unwrap_or_else(|| "Informational".into());
        writeln!(out, "[{severity}] {} ({file})", rule.name)?;
        match run_rule(&rule, &tables) {
            Err(e) => {
                writeln!(out, "  error: {e}")?;
                failed = true;
            }
            Ok(Outcome { first: None, .. }) => writeln!(out, "  did not fire")?,
            Ok(Outcome {
                first: Some((tick, rows)),
                distinct_rows,
                entities,
                columns,
            }) => {
                fired += 1;
                writeln!(
                    out,
                    "  first fired at tick {} with {} row(s); {} distinct row(s) over the replay",
                    format_datetime_iso(tick as i64),
                    rows.len(),
                    distinct_rows
                )?;
                let shown: Vec<usize> = if entities.is_empty() {
                    (0..columns.len().min(3)).collect()
                } else {
                    entities
                };
                for r in rows.iter().take(3) {
                    let parts: Vec<String> = shown
                        .iter()
                        .filter_map(|&i| Some(format!("{}={}", columns.get(i)?, r.get(i)?)))
                        .collect();
                    writeln!(out, "    {}", parts.join("  "))?;
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    writeln!(
        out,
        "\n{fired} of {} rules fired; {records} records replayed in {elapsed:.2} s on 1 worker.",
        RULES.len()
    )?;
    // The real sample exports built in too, read by ingest.
    const FILES: [(&str, &[u8]); 3] = [
        (
            "demo/SigninLogs_disable_accounts.csv",
            include_bytes!("../../demo/SigninLogs_disable_accounts.csv"),
        ),
        (
            "demo/AuditLogs_Hunting.csv",
            include_bytes!("../../demo/AuditLogs_Hunting.csv"),
        ),
        (
            "demo/AADAuditEvents.json",
            include_bytes!("../../demo/AADAuditEvents.json"),
        ),
    ];
    let mut ing = Ingest::new(Catalog::builtin(), &Projection::all(), Options::default());
    for (name, bytes) in FILES {
        ing.read_bytes(name, bytes, &mut |_| {});
    }
    writeln!(
        out,
        "Ingest of the real exports in demo/: {} file(s), {} row(s) read, {} rejected (kqlflow inspect demo/ for the report).",
        ing.report.files.len(),
        ing.report.rows(),
        ing.report.rejected()
    )?;
    Ok(i32::from(failed))
}
