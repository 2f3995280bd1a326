//! One query evaluated over logs at one tick, as `kqlflow run` does: by the incremental engine
//! (a differential dataflow, the logs fed in event-time order, on one or several workers or
//! processes) or by the batch reference evaluator; the rows at that tick, or the change stream.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::eval::{self, Data, Watchlist};
use crate::logs::ReadCounts;
use crate::model::{Column, Row, Type, Value};
use crate::plan::Program;
use crate::runtime::ClusterOptions;

/// Which engine evaluates a query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The incremental engine: the query as a differential dataflow, the logs fed in
    /// event-time order.
    #[default]
    Incremental,
    /// The batch reference evaluator (one worker, one process).
    Batch,
}

/// How [`run_query`] evaluates a query.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// The tick to evaluate at (`now()`), in 100 ns units since the epoch; `None` for the
    /// latest event time read (the wall clock when no record has one). Rounded up to its tick.
    pub at: Option<i64>,
    /// The tick length in 100 ns units (default one second).
    pub tick: i64,
    /// The table of records whose table nothing else tells (a file named after no table).
    pub table: Option<String>,
    /// Watchlists by name, with their later versions.
    pub watchlists: HashMap<String, Watchlist>,
    /// The engine.
    pub engine: Engine,
    /// The change stream (every tick at which a row entered or left the result, with `_tick`
    /// and `_diff` columns first) instead of the result at one tick; incremental engine only.
    pub changes: bool,
    /// Worker threads and processes (incremental engine only). Each process reads its share
    /// of the log files ([`crate::logs::share_of_files`]); process 0 receives the result.
    pub cluster: ClusterOptions,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            at: None,
            tick: crate::model::TICKS_PER_SECOND,
            table: None,
            watchlists: HashMap::new(),
            engine: Engine::default(),
            changes: false,
            cluster: ClusterOptions::default(),
        }
    }
}

/// What [`run_query`] read and found.
#[derive(Clone, Debug, Default)]
pub struct QueryResult {
    /// The result's columns.
    pub schema: Vec<Column>,
    /// The result's rows (on process 0 of a cluster; empty on the others).
    pub rows: Vec<Row>,
    /// What this process read.
    pub local: ReadCounts,
    /// The log files this process read (its share, in a cluster).
    pub files: usize,
    /// Records this process read.
    pub records: u64,
    /// In a cluster of several processes, on process 0: input lines rejected and records
    /// without an event time, over every process.
    pub cluster_rejected: i64,
    /// See [`Self::cluster_rejected`].
    pub cluster_timeless: i64,
}

/// Reads this process's share of `logs` for `program` and evaluates it as `options` say: the
/// result at one tick (or the change stream), with what was read. An error when the options
/// do not go together (several workers or the change stream with the batch engine), when the
/// logs cannot be read or when the dataflow fails.
pub fn run_query(
    program: &Program,
    logs: &[PathBuf],
    options: &QueryOptions,
) -> Result<QueryResult, String> {
    let cluster = &options.cluster;
    if options.engine == Engine::Batch {
        if cluster.processes > 1 || cluster.workers > 1 {
            return Err("several workers or processes need the incremental engine".into());
        }
        if options.changes {
            return Err("the change stream needs the incremental engine".into());
        }
    }
    let files = crate::logs::share_of_files(logs, cluster.processes, cluster.process);
    let read = crate::logs::read_logs(&[program], &files, options.table.clone())?;
    let local = read.counts();
    let records: u64 = read.tables.values().map(|r| r.len() as u64).sum();
    let mut latest = read.latest;
    let note = vec![
        Value::Long(read.latest.unwrap_or(i64::MIN)),
        Value::Long(read.report.rejected() as i64),
        Value::Long(read.timeless as i64),
    ];
    let mut data = Data {
        tables: read.tables,
        watchlists: options.watchlists.clone(),
    };
    // The result at a tick T is the query with now() = T over the records up to T; `at` (or
    // the latest event time) is rounded up to its tick so both engines see the same T.
    let now_of = |latest: Option<i64>| {
        let now = options
            .at
            .or(latest)
            .unwrap_or_else(crate::runtime::arrival::wall_clock);
        crate::runtime::tick_of(now, options.tick) as i64
    };
    let mut result = QueryResult {
        schema: program.schema().to_vec(),
        rows: Vec::new(),
        local,
        files: files.len(),
        records,
        cluster_rejected: 0,
        cluster_timeless: 0,
    };
    if options.engine == Engine::Batch {
        result.rows = eval::evaluate(program, &data, now_of(latest));
        return Ok(result);
    }
    let tables: Vec<(String, Vec<(i64, Row)>)> =
        std::mem::take(&mut data.tables).into_iter().collect();
    let watchlists = crate::exec::watchlist_sources(program, &data.watchlists);
    // Only the result at one tick is wanted (not the change stream): when that tick is known
    // before the run, the dataflow computes just that tick.
    let only = (!options.changes && (options.at.is_some() || cluster.processes == 1))
        .then(|| now_of(latest));
    let (changes, notes) = crate::exec::run_program_at(
        program,
        &tables,
        &watchlists,
        cluster,
        options.tick,
        note,
        only,
    )?;
    // The change stream is gathered on the first worker of process 0.
    if cluster.process != 0 {
        return Ok(result);
    }
    if cluster.processes > 1 {
        // The cluster's figures, from every process's note.
        let long = |r: &Row, i: usize| match r.get(i) {
            Some(Value::Long(n)) => *n,
            _ => 0,
        };
        latest = notes
            .iter()
            .map(|r| long(r, 0))
            .filter(|t| *t != i64::MIN)
            .max();
        result.cluster_rejected = notes.iter().map(|r| long(r, 1)).sum();
        result.cluster_timeless = notes.iter().map(|r| long(r, 2)).sum();
    }
    if options.changes {
        let mut schema = vec![
            Column {
                name: "_tick".into(),
                ty: Type::DateTime,
            },
            Column {
                name: "_diff".into(),
                ty: Type::Long,
            },
        ];
        schema.extend(
            crate::exec::strip_presentation(&program.root)
                .schema
                .iter()
                .cloned(),
        );
        result.schema = schema;
        result.rows = changes
            .iter()
            .map(|c| {
                let mut r = vec![Value::DateTime(c.tick as i64), Value::Long(c.diff)];
                r.extend(c.row.iter().cloned());
                r
            })
            .collect();
    } else {
        result.rows = crate::exec::snapshot_rows(program, &changes, now_of(latest));
    }
    Ok(result)
}
