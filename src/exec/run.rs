//! Running one program on its own: its watchlists' changes, the check that the engine
//! supports it, the run over tables (on the cluster) and the result at a tick.

use super::*;

/// A watchlist input's changes: (event time, row, +1 or −1). The first version's rows come at
/// time 0; each later version retracts the rows it drops and inserts the rows it adds at the
/// time it takes effect.
pub type WatchlistChanges = Vec<(i64, Row, isize)>;

/// The watchlists `program` reads, each as changes of rows in the columns its plan asks for
/// (see [`crate::eval::watchlist_rows`]); watchlists the program reads but `watchlists` lacks
/// are empty.
pub fn watchlist_sources(
    program: &Program,
    watchlists: &HashMap<String, crate::eval::Watchlist>,
) -> Vec<(String, WatchlistChanges)> {
    fn walk(p: &Plan, out: &mut Vec<(String, Vec<crate::model::Column>)>) {
        if let Node::Watchlist { name } = &p.node
            && !out.iter().any(|(n, _)| n == name)
        {
            out.push((name.clone(), p.schema.clone()));
        }
        for i in p.inputs() {
            walk(i, out);
        }
    }
    let mut found = Vec::new();
    walk(&program.root, &mut found);
    for s in program.shared.iter().chain(&program.scalars) {
        walk(s, &mut found);
    }
    found
        .into_iter()
        .map(|(name, schema)| {
            let changes = watchlists
                .get(&name)
                .map(|w| watchlist_changes(&schema, w))
                .unwrap_or_default();
            (name, changes)
        })
        .collect()
}

/// A watchlist's versions as changes of its rows in the columns `schema` asks for.
fn watchlist_changes(
    schema: &[crate::model::Column],
    w: &crate::eval::Watchlist,
) -> WatchlistChanges {
    let count = |rows: Vec<Row>| {
        let mut m: BTreeMap<Row, isize> = BTreeMap::new();
        for r in rows {
            *m.entry(r).or_insert(0) += 1;
        }
        m
    };
    let mut current = count(crate::eval::watchlist_rows(schema, w));
    let mut out: WatchlistChanges = current.iter().map(|(r, n)| (0, r.clone(), *n)).collect();
    for (from, version) in &w.updates {
        let next = count(crate::eval::watchlist_rows(schema, version));
        let mut diff: BTreeMap<&Row, isize> = BTreeMap::new();
        for (r, n) in &next {
            *diff.entry(r).or_insert(0) += n;
        }
        for (r, n) in &current {
            *diff.entry(r).or_insert(0) -= n;
        }
        out.extend(
            diff.into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|(r, n)| (*from, r.clone(), n)),
        );
        current = next;
    }
    out
}

/// Checks that every node of `program` can be rendered by the incremental engine; the message
/// names the first that cannot.
pub fn check_supported(program: &Program) -> Result<(), String> {
    fn walk(p: &Plan, top: bool) -> Result<(), String> {
        match &p.node {
            Node::ApplyRows if top => {
                return Err("apply rows outside an mv-apply".into());
            }
            Node::Take { input, .. } if !top => return walk(input, false),
            Node::Sort { input, .. } | Node::Take { input, .. } => return walk(input, true),
            Node::MakeSeries {
                axis,
                keys,
                nonempty,
                ..
            } => {
                if let Some(why) = axis.moving_unsupported(keys.is_empty() && *nonempty) {
                    return Err(why.to_string());
                }
            }
            _ => {}
        }
        for i in p.inputs() {
            walk(i, false)?;
        }
        Ok(())
    }
    walk(&program.root, true)?;
    for s in program.shared.iter().chain(&program.scalars) {
        walk(s, false)?;
    }
    Ok(())
}

/// Runs `program` incrementally over the given tables' records (table name → (event time,
/// full-width row)) and watchlists (their changes, from [`watchlist_sources`]), on the workers
/// `cluster` describes, and returns the result's change stream. `tables` are this process's
/// records (with several processes, each passes its own share); the watchlists are fed once.
pub fn run_program(
    program: &Program,
    tables: &[(String, Vec<(i64, Row)>)],
    watchlists: &[(String, WatchlistChanges)],
    cluster: &crate::runtime::ClusterOptions,
    tick: i64,
) -> Result<Vec<crate::runtime::Change>, String> {
    run_program_at(program, tables, watchlists, cluster, tick, Vec::new(), None).map(|(c, _)| c)
}

/// [`run_program`], with this process's `note` (see [`crate::runtime::live::Feed::note`]):
/// returns the change stream and every process's note, ordered (both empty on processes other
/// than 0). With `at`, only the result at tick `at` is wanted: every record and
/// watchlist change up to `at` enters at `at` itself and later ones are left out, so the
/// dataflow runs one tick instead of stepping through every tick before it. The changes then
/// all fall at `at`, and their snapshot there is the result at `at` (a temporal filter keeps
/// a record entering at `at` exactly when its window holds at `at`).
pub fn run_program_at(
    program: &Program,
    tables: &[(String, Vec<(i64, Row)>)],
    watchlists: &[(String, WatchlistChanges)],
    cluster: &crate::runtime::ClusterOptions,
    tick: i64,
    note: Row,
    at: Option<i64>,
) -> Result<(Vec<crate::runtime::Change>, Vec<Row>), String> {
    use crate::runtime::Event;
    let entry = |t: i64| match at {
        Some(a) if t > a => None,
        Some(a) => Some(a),
        None => Some(t),
    };
    use crate::runtime::live::{Collect, Feed, Speed, run_live};
    check_supported(program)?;
    let mut names: Vec<(bool, String)> = Vec::new();
    let mut events = Vec::new();
    let read = columns_read(program);
    // Only the tables the program reads become inputs, and only the records that the filters
    // on its scans keep: the others' rows are not copied.
    let filter = SourceFilter::of([program]);
    // Each record holds only the columns the program reads.
    let layouts = Layouts::of([program]);
    for (name, rows) in tables.iter().filter(|(name, _)| read.contains_key(name)) {
        let input = names.len();
        names.push((false, name.clone()));
        events.extend(
            rows.iter()
                .filter(|(_, row)| filter.keeps(name, row))
                .filter_map(|(t, row)| {
                    Some(Event {
                        input,
                        time: entry(*t)?,
                        row: layouts.narrow(name, row.clone()),
                        diff: 1,
                    })
                }),
        );
    }
    // A table the program reads but the logs lack is an empty input, not an error.
    for table in read.into_keys() {
        if !names.iter().any(|(w, n)| !w && *n == table) {
            names.push((false, table));
        }
    }
    let mut constant = Vec::new();
    for (name, changes) in watchlists {
        let input = names.len();
        names.push((true, name.clone()));
        constant.extend(changes.iter().filter_map(|(time, row, diff)| {
            Some(Event {
                input,
                time: entry(*time)?,
                row: row.clone(),
                diff: *diff,
            })
        }));
    }
    let program = program.clone();
    // One more input than the sources, never fed: the result when rendering fails.
    let n = names.len() + 1;
    let (sink, changes) = Collect::new();
    run_live(
        cluster,
        tick,
        Speed::Max,
        n,
        Feed {
            events,
            constant,
            note,
            first_worker: 0,
        },
        move |mut inputs: Vec<Rows<'_>>| {
            let mut sources = Sources {
                tables: HashMap::new(),
                watchlists: HashMap::new(),
                layouts: layouts.clone(),
            };
            let spare = inputs.pop();
            for ((is_watchlist, name), c) in names.iter().zip(inputs) {
                if *is_watchlist {
                    sources.watchlists.insert(name.clone(), c);
                } else {
                    sources.tables.insert(name.clone(), c);
                }
            }
            let Some(spare) = spare else {
                unreachable!("run_dataflow makes the inputs it is asked for")
            };
            let worker = spare.scope().index();
            // A query that reads no table nor watchlist (`print`, `datatable`) still renders
            // in this scope: the spare input, never fed, under a name no query reads (a
            // watchlist's name is never empty), gives it the scope.
            if sources.tables.is_empty() && sources.watchlists.is_empty() {
                sources.watchlists.insert(String::new(), spare.clone());
            }
            // check_supported ran first, so rendering does not fail; were it to, the result is
            // empty rather than a panic inside a worker.
            vec![render(&program, &sources, tick, worker).unwrap_or(spare)]
        },
        sink,
    )?;
    let (changes, notes) = changes
        .lock()
        .map(|mut c| (std::mem::take(&mut c.changes), std::mem::take(&mut c.notes)))
        .map_err(|_| "a worker failed while reporting".to_string())?;
    Ok((crate::runtime::consolidate(changes), notes))
}

/// The query's result at tick `now` from its change stream: the rows present then, with the
/// query's final sort, top and take applied (by the batch evaluator's own code for them).
pub fn snapshot_rows(program: &Program, changes: &[crate::runtime::Change], now: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (row, n) in crate::runtime::snapshot(changes, now.max(0) as u64) {
        for _ in 0..n.max(0) {
            rows.push(row.clone());
        }
    }
    // Replace the query under its presentation nodes by these rows, and let the evaluator
    // order and cut them.
    fn replace(p: &Plan, rows: Vec<Row>) -> Plan {
        let mut p = p.clone();
        match &mut p.node {
            Node::Sort { input, .. } => **input = replace(input, rows),
            Node::Take { input, count, .. } if *count > 0 => **input = replace(input, rows),
            _ => p.node = Node::Constant { rows },
        }
        p
    }
    let shown = Program {
        root: replace(&program.root, rows),
        shared: Vec::new(),
        scalars: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    };
    crate::eval::evaluate(&shown, &crate::eval::Data::default(), now)
}
