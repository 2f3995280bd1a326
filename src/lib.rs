//! kqlflow runs Microsoft Sentinel style KQL detection and hunting rules over Entra ID (Azure AD)
//! logs as incrementally maintained differential dataflows.
//!
//! A program that hunts starts at [`api`]: load a rule pack, hunt, replay or detect live over
//! logs, and receive the alerts in a sink (`examples/hunt.rs`).
//!
//! The crate is split by concern (see `ARCHITECTURE.md` in the project's shared docs):
//!
//! - [`model`]: KQL scalar values, types, rows and schemas, and Kusto's conversions;
//! - [`catalog`]: the built-in table schemas and the mapping of Azure Monitor diagnostic
//!   records onto them;
//! - [`ingest`]: readers for the log export formats, with coercion to the schema and a report of
//!   every rejected line;
//! - [`logs`]: reading the logs for the rules (files and folders, event-time or arrival order,
//!   late records, rejects) and the watchlists' files;
//! - [`func`]: the one implementation of KQL's operators, scalar functions and aggregates;
//! - [`kql`]: the KQL lexer, parser and diagnostics;
//! - [`plan`]: binding a parsed query against the catalog into the typed relational IR;
//! - [`eval`]: the batch reference evaluator of the IR;
//! - [`rules`]: Sentinel analytic-rule YAML files;
//! - [`alerts`]: rule results turned into raised, updated and closed alerts;
//! - [`demo`]: the built-in demo tenant and rule pack;
//! - [`report`]: the HTML report page of a hunt, a replay or the demo;
//! - [`api`]: the jobs as a library: rule packs, hunting, replaying and live detection over
//!   logs, alerts to a sink;
//! - [`cli`]: the `kqlflow` command line.

#![warn(missing_docs)]

/// The version `kqlflow --version` prints and reports record: the crate's version and the git commit it was built
/// from (`0.1.0 (commit 0123456789ab)`), or `unknown commit` for a build from a source tree
/// without git history.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KQLFLOW_COMMIT"), ")");

pub mod alerts;
pub mod api;
pub mod catalog;
pub mod cli;
pub mod demo;
pub mod eval;
pub mod exec;
pub mod func;
pub mod ingest;
pub mod kql;
pub mod logs;
pub mod model;
pub mod pack;
pub mod plan;
pub mod report;
pub mod rules;
pub mod runtime;
