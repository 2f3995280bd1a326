//! `kqlflow explain`: print a query's bound plan, and the plan the incremental engine runs
//! (filters pushed down).

use clap::Args;
use std::path::PathBuf;

use super::check::QueryOptions;
use crate::api::QueryFile;

/// Arguments of `kqlflow explain`.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  kqlflow explain rules/RareAuditActivityByApp.yaml --period 1d")]
pub struct ExplainArgs {
    /// A query (.kql) or Sentinel rule (.yaml) file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    common: QueryOptions,
    /// Print the plan as JSON instead of a tree.
    #[arg(long)]
    json: bool,
}

/// Runs `kqlflow explain`: 0 when the query binds, 1 when it does not, 2 for a usage error.
pub fn run(args: &ExplainArgs) -> i32 {
    let loaded = match QueryFile::read(&args.file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let opts = match args.common.bind_options(loaded.rule.as_ref()) {
        // An externaldata URL without its file binds to no rows here, with a note.
        Ok(o) => crate::plan::BindOptions {
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
            if args.json {
                match serde_json::to_string_pretty(&p) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            } else {
                print!("{}", p.explain());
                // The plan the incremental engine runs: filters pushed down.
                let pushed = crate::plan::optimize(&p);
                if pushed == p {
                    println!("after pushdown: unchanged");
                } else {
                    println!("after pushdown:");
                    for line in pushed.explain().lines() {
                        println!("  {line}");
                    }
                }
                for n in &p.notes {
                    println!("note: {n}");
                }
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
