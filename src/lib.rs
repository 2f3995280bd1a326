//! kqlflow runs Microsoft Sentinel style KQL detection and hunting rules over Entra ID (Azure AD)
//! logs as incrementally maintained differential dataflows.
//!
//! # Hunting from a program
//!
//! A program starts at [`api`]: load a rule pack (the built-in one, rule files or folders),
//! run it over logs as a [`hunt`](api::hunt), a [`replay`](api::replay) or a live
//! [`detect`](api::detect), and receive the alerts in an [`AlertSink`](api::AlertSink). This is
//! `examples/hunt.rs`, which hunts a folder of logs with the built-in pack
//! (`cargo run --release --example hunt -- DIR`):
//!
#![doc = concat!("```no_run\n", include_str!("../examples/hunt.rs"), "```")]
//!
//! # The data flow
//!
//! Records go **ingest → plan → exec → alerts → sinks**:
//!
//! 1. **ingest**: [`ingest`] reads log exports (JSON Lines, JSON arrays, Azure Monitor
//!    diagnostic records, the portal's CSV, gzipped or not) into typed rows of the [`catalog`]'s
//!    tables, rejecting bad lines with a reason; [`logs`] reads files and folders for the rules
//!    that will run, in event-time or arrival order (late records, records from the future),
//!    and the watchlists' CSV files.
//! 2. **plan**: [`rules`] reads Sentinel analytic-rule YAML, [`kql`] parses the query, and
//!    [`plan`] binds it against the catalog into a typed relational [`Program`](plan::Program)
//!    with its temporal bounds; [`eval`] is the batch reference evaluator of that IR.
//! 3. **exec**: [`exec`] renders a program into differential dataflow operators (using the one
//!    implementation of KQL's functions and aggregates in [`func`]); [`pack`] runs every rule
//!    of a pack in one dataflow over shared table inputs, on the workers and processes of
//!    [`runtime`] (timely), tick by tick in event time.
//! 4. **alerts**: [`alerts`] turns each rule's result changes into raised, updated and closed
//!    alerts (entities, suppression, incidents) and renders them as a table, JSON Lines or CSV.
//! 5. **sinks**: [`api`] hands every alert, what was read and each tick to the caller's
//!    [`AlertSink`](api::AlertSink); [`report`] gathers a run into an HTML page; [`cli`] is
//!    the `kqlflow` command line, which parses arguments and prints what the library returns.
//!
//! Around them: [`model`] holds KQL's values, types, rows and schemas and Kusto's
//! conversions; [`demo`] the built-in demo tenant and rule pack. `ARCHITECTURE.md` in the
//! project's shared docs gives the design.

#![warn(missing_docs)]

/// The version `kqlflow --version` prints and reports record: the crate's version and the git commit it was built
/// from (`0.1.0 (commit 0123456789ab)`), or `unknown commit` for a build from a source tree
/// without git history.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KQLFLOW_COMMIT"), ")");

/// The README's Rust examples ("As a library"), compiled and type-checked as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

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
