//! The `kqlflow` command line: argument parsing (clap) and printing. Logic that a library user
//! would need lives in the library's other modules.

pub mod check;
pub mod cluster;
mod demo;
mod detect;
mod explain;
mod generate;
mod hunt;
mod inspect;
mod logs;
mod output;
mod replay;
mod run;
mod shell;

use clap::{Parser, Subcommand};

pub use crate::VERSION;

/// The `kqlflow` command.
#[derive(Parser, Debug)]
#[command(
    name = "kqlflow",
    version = VERSION,
    about = "Sentinel-style KQL detection rules over Entra ID logs, as incremental dataflows",
    after_help = "Examples:\n  kqlflow demo\n  kqlflow generate --out tenant/\n  kqlflow inspect logs/ --rejects rejects.jsonl\n  kqlflow check rules/*.yaml"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read log files and report, per table, what they hold and what could not be read.
    Inspect(inspect::InspectArgs),
    /// Parse and bind query (.kql) and rule (.yaml) files; print their output columns or errors.
    Check(check::CheckArgs),
    /// Print a query's bound plan: nodes, schemas, temporal bounds.
    Explain(explain::ExplainArgs),
    /// Evaluate a query or rule over log files at one tick and print the result rows.
    Run(run::RunArgs),
    /// Retro-hunt: run every rule of a rule folder over the logs and print the alerts each
    /// would have raised, with when.
    Hunt(hunt::HuntArgs),
    /// Live detection: run the rule pack over records as they arrive (standard input, or
    /// files followed as they grow) and print each alert as soon as it is raised.
    Detect(detect::DetectArgs),
    /// Replay logs through the rule pack as if live, at a chosen speed, and measure the
    /// latency of every tick (hdrhistogram percentiles, records/s, a JSON report).
    Replay(replay::ReplayArgs),
    /// Generate a small tenant with labelled attacks, replay it through the built-in rule pack,
    /// and check the alerts against the labels.
    #[command(
        after_help = "Examples:\n  kqlflow demo\n  kqlflow demo --out tenant/   (then: kqlflow hunt --rules dataflows/ --logs tenant/logs --watchlist NetworkAllowlist=tenant/NetworkAllowlist.csv)"
    )]
    Demo(demo::DemoArgs),
    /// Write a deterministic synthetic tenant (seven tables, one file per day) with injected
    /// attacks and their ground truth.
    Generate(generate::GenerateArgs),
    /// Print a shell completion script for kqlflow (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Print kqlflow's man page (roff), or write one page per command into a folder.
    Man(shell::ManArgs),
}

/// Runs the command line and returns the process exit code: 0 on success, 1 when the command
/// failed, 2 for a usage error.
pub fn main() -> i32 {
    crate::runtime::quiet_worker_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Hunt(args) => hunt::run(&args),
        Command::Detect(args) => detect::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
    }
}

/// The command line this process was started with, as the reports record it.
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}
