//! A rule pack run as one dataflow: every rule's plan rendered over the same table inputs (each
//! table is fed once, whatever the number of rules reading it), its result turned into alerts
//! tick by tick on worker 0, and the alerts and each tick's latency streamed to the caller
//! while the dataflow runs. `kqlflow hunt` runs a pack as fast as it can; `kqlflow replay`
//! paces it and measures it.

pub mod stream;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::Duration;

use crate::alerts::{AlertEvent, Tracker, tracker_for};
use crate::eval::Watchlist;
use crate::exec::{
    Layouts, SourceFilter, Sources, check_supported, columns_read, render_all, watchlist_sources,
};
use crate::model::Row;
use crate::plan::Program;
use crate::rules::Rule;
use crate::runtime::live::{Feed, NO_INPUT, Sink, Speed, run_live};
use crate::runtime::split::{Group, run_split};
use crate::runtime::{ClusterOptions, Event, Rows, Time, tick_of};

/// What a running pack reports, in the order it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// Every process's note (see [`Feed::note`]), ordered, before any alert.
    Notes(Vec<Row>),
    /// A step of an alert's lifecycle for rule `rule` (an index into the pack).
    Alert {
        /// The rule's index.
        rule: usize,
        /// The event.
        event: AlertEvent,
    },
    /// Ticks whose records were all handed to the dataflow are through it, their alerts
    /// reported, in order (a run as fast as possible reports them in batches).
    Ticks(Vec<TickDone>),
    /// The run is over: per rule, the raises held back by suppression.
    Finished {
        /// Per rule.
        suppressed: Vec<u64>,
    },
}

/// A tick through the dataflow: `latency` after its last record was handed, its alerts
/// reported; `records` records had been handed by then (in this process).
#[derive(Clone, Debug, PartialEq)]
pub struct TickDone {
    /// The tick.
    pub tick: Time,
    /// Records handed so far.
    pub records: u64,
    /// From handing the tick's last record to its alerts being out.
    pub latency: Duration,
}

/// How a pack runs.
#[derive(Clone, Debug)]
pub struct PackOptions {
    /// The workers.
    pub cluster: ClusterOptions,
    /// The tick length, in 100 ns units.
    pub tick: i64,
    /// How fast event time passes.
    pub speed: Speed,
}

/// Counts of a pack's run, per rule: alerts raised and raises suppressed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PackSummary {
    /// Per rule: raised alerts.
    pub raised: Vec<u64>,
    /// Per rule: raises held back by suppression.
    pub suppressed: Vec<u64>,
    /// Ticks reported.
    pub ticks: u64,
    /// This process's records of the tables the rules read that no rule's filter on its
    /// scans keeps: they cannot change any result and were not fed to the dataflow.
    pub skipped: u64,
}

impl PackSummary {
    /// Counts what `report` tells: a raised alert, a tick, the suppressed raises.
    fn count(&mut self, report: &Report) {
        match report {
            Report::Alert { rule, event } => {
                if event.status == crate::alerts::Status::Raised
                    && let Some(n) = self.raised.get_mut(*rule)
                {
                    *n += 1;
                }
            }
            Report::Ticks(ticks) => self.ticks += ticks.len() as u64,
            Report::Notes(_) => {}
            Report::Finished { suppressed } => self.suppressed = suppressed.clone(),
        }
    }
}

struct PackSink {
    trackers: Vec<Tracker>,
    tx: mpsc::Sender<Report>,
    /// Tick reports not sent yet: a run as fast as possible sends them in batches of up to
    /// [`TICK_BATCH`] (each send would wake the receiving thread), always before any other
    /// report so the order holds. Live detection sends each at once (`TICK_BATCH` of 1).
    ticks: Vec<TickDone>,
    tick_batch: usize,
}

/// How many tick reports [`PackSink`] gathers before sending them, when it batches.
const TICK_BATCH: usize = 256;

impl PackSink {
    fn new(trackers: Vec<Tracker>, tx: mpsc::Sender<Report>, batch_ticks: bool) -> PackSink {
        PackSink {
            trackers,
            tx,
            ticks: Vec::new(),
            tick_batch: if batch_ticks { TICK_BATCH } else { 1 },
        }
    }

    /// Sends the tick reports gathered so far, as one report.
    fn flush_ticks(&mut self) {
        if !self.ticks.is_empty() {
            let ticks = std::mem::replace(&mut self.ticks, Vec::with_capacity(self.tick_batch));
            let _ = self.tx.send(Report::Ticks(ticks));
        }
    }
}

impl Sink for PackSink {
    fn notes(&mut self, notes: Vec<Row>) {
        self.flush_ticks();
        let _ = self.tx.send(Report::Notes(notes));
    }

    fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>) {
        let mut by_rule: BTreeMap<usize, Vec<(Row, i64)>> = BTreeMap::new();
        for (i, row, d) in changes {
            by_rule.entry(i).or_default().push((row, d));
        }
        for (rule, rows) in by_rule {
            if let Some(t) = self.trackers.get_mut(rule) {
                for event in t.apply(tick, rows) {
                    self.flush_ticks();
                    let _ = self.tx.send(Report::Alert { rule, event });
                }
            }
        }
    }

    fn tick_done(&mut self, tick: Time, records: u64, latency: Duration) {
        self.ticks.push(TickDone {
            tick,
            records,
            latency,
        });
        if self.ticks.len() >= self.tick_batch {
            self.flush_ticks();
        }
    }
}

impl Drop for PackSink {
    fn drop(&mut self) {
        self.flush_ticks();
        let suppressed = self.trackers.iter().map(Tracker::suppressed).collect();
        let _ = self.tx.send(Report::Finished { suppressed });
    }
}

/// The inputs of a pack's dataflow, as (is a watchlist, name): every table some rule reads,
/// then every watchlist some rule reads, each once.
fn input_names<'a>(programs: impl IntoIterator<Item = &'a Program> + Clone) -> Vec<(bool, String)> {
    let mut names: Vec<(bool, String)> = Vec::new();
    for p in programs.clone() {
        for t in columns_read(p).into_keys() {
            if !names.contains(&(false, t.clone())) {
                names.push((false, t));
            }
        }
    }
    for p in programs {
        for (name, _) in watchlist_sources(p, &HashMap::new()) {
            if !names.contains(&(true, name.clone())) {
                names.push((true, name));
            }
        }
    }
    names
}

/// The dataflow of a pack: each input collection named by `names` (see [`input_names`])
/// becomes its table's or watchlist's source, and every program is rendered over them with
/// the sub-plans they compute alike shared; one output per program. `placed` gives each
/// program's worker (see [`crate::exec::placement`]; empty: every rule's keys spread).
fn render_pack(
    programs: Vec<Program>,
    labels: Vec<String>,
    names: Vec<(bool, String)>,
    layouts: Layouts,
    tick: i64,
    placed: Vec<Option<usize>>,
) -> impl for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>> + Send + Sync + 'static {
    move |inputs: Vec<Rows<'_>>| {
        let mut sources = Sources {
            tables: HashMap::new(),
            watchlists: HashMap::new(),
            layouts: layouts.clone(),
        };
        let Some(any) = inputs.first().cloned() else {
            return Vec::new();
        };
        let worker = any.scope().index();
        for ((is_watchlist, name), c) in names.iter().zip(inputs) {
            if *is_watchlist {
                sources.watchlists.insert(name.clone(), c);
            } else {
                sources.tables.insert(name.clone(), c);
            }
        }
        // Rules share the sub-plans and arrangements they compute alike. check() ran first,
        // so rendering does not fail; were it to, that rule's result is empty rather than a
        // panic inside a worker.
        crate::runtime::profile::label_programs(&labels);
        render_all(&programs, &sources, tick, worker, &placed)
            .0
            .into_iter()
            .map(|r| r.unwrap_or_else(|_| any.clone().filter(|_| false)))
            .collect()
    }
}

/// Checks that each rule can run incrementally; the message of the first that cannot.
pub fn check(rules: &[(Rule, Program)]) -> Result<(), String> {
    for (rule, program) in rules {
        check_supported(program).map_err(|e| format!("rule {}: {e}", rule.name))?;
    }
    Ok(())
}

/// Runs `rules` over this process's `tables` (name → (event time, full-width row)) and the
/// `watchlists` as one dataflow, and calls `on` with every [`Report`] as it happens (on the
/// calling thread). `note` is this process's note for process 0 (its counts). Only process 0
/// reports; the others return an empty summary once the cluster is done. Every rule must pass
/// [`check`].
pub fn run(
    rules: &[(Rule, Program)],
    tables: HashMap<String, Vec<(i64, Row)>>,
    watchlists: &HashMap<String, Watchlist>,
    options: &PackOptions,
    note: Row,
    on: impl FnMut(&Report),
) -> Result<PackSummary, String> {
    let fed = Shape::of(rules).prepare_all(tables);
    run_fed(rules, fed, watchlists, options, note, on)
}

/// What becomes of a record offered to a pack ([`Shape::prepare`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Prepared {
    /// No rule reads its table.
    Unread,
    /// Its table is read, but no rule's filter on its scans keeps it: it cannot change any
    /// result and is not fed (predicate pushdown).
    Skipped,
    /// Fed, as this row: cut to the columns some rule reads, strings interned.
    Fed(Row),
}

/// How a pack's records are cut before they are fed: the rules' scan filters, the columns
/// they read, and one string interner. Records can be shaped as they are read (so that a run
/// holds only the narrow rows), or all at once by [`run`].
pub struct Shape {
    names: Vec<(bool, String)>,
    filter: SourceFilter,
    layouts: Layouts,
    interner: crate::model::Interner,
}

impl Shape {
    /// The shape of the records `rules` read.
    pub fn of(rules: &[(Rule, Program)]) -> Shape {
        Shape::of_programs(rules.iter().map(|(_, p)| p))
    }

    /// The shape of the records the rules with these `programs` read.
    pub fn of_programs<'a>(programs: impl IntoIterator<Item = &'a Program> + Clone) -> Shape {
        Shape {
            names: input_names(programs.clone()),
            filter: SourceFilter::of(programs.clone()),
            layouts: Layouts::of(programs),
            interner: crate::model::Interner::default(),
        }
    }

    /// What becomes of `row`, a full-width record of `table`.
    pub fn prepare(&mut self, table: &str, row: Row) -> Prepared {
        if !self.names.iter().any(|(w, n)| !*w && n == table) {
            return Prepared::Unread;
        }
        if !self.filter.keeps(table, &row) {
            return Prepared::Skipped;
        }
        let mut row = self.layouts.narrow(table, row);
        self.interner.intern_row(&mut row);
        Prepared::Fed(row)
    }

    /// Every record of `tables` (name → (time, full-width row)) prepared.
    pub fn prepare_all(&mut self, tables: HashMap<String, Vec<(i64, Row)>>) -> FedTables {
        let mut out = FedTables::default();
        for (name, rows) in tables {
            for (time, row) in rows {
                out.add(self.prepare(&name, row), &name, time);
            }
        }
        out
    }
}

/// A pack's records as they are fed: per table, (time, row as [`Shape::prepare`] made it),
/// and how many were skipped.
#[derive(Clone, Debug, Default)]
pub struct FedTables {
    /// Table name → its fed records.
    pub tables: HashMap<String, Vec<(i64, Row)>>,
    /// Records of the tables the rules read that no rule's scan filter keeps.
    pub skipped: u64,
}

impl FedTables {
    /// Keeps a record of `table` at `time` as `prepared` says.
    pub fn add(&mut self, prepared: Prepared, table: &str, time: i64) {
        match prepared {
            Prepared::Fed(row) => match self.tables.get_mut(table) {
                Some(rows) => rows.push((time, row)),
                None => {
                    self.tables.insert(table.to_string(), vec![(time, row)]);
                }
            },
            Prepared::Skipped => self.skipped += 1,
            Prepared::Unread => {}
        }
    }
}

/// Where each rule's keyed state lives on the cluster (see [`crate::exec::placement`]): for
/// each rule, the worker all its summarizes and joins run on, or `None` where its keys are
/// spread over every worker. Placed by the estimated cost of each rule over the records `fed`
/// when the cluster is one process (which has read every record, so all its workers compute
/// the same placement); empty (every rule spread) otherwise, since another process's records
/// are not known here.
pub fn placement_of(
    rules: &[(Rule, Program)],
    fed: &FedTables,
    cluster: &crate::runtime::ClusterOptions,
) -> Vec<Option<usize>> {
    if cluster.processes > 1 || cluster.workers < 2 {
        return Vec::new();
    }
    let counts: HashMap<String, u64> = fed
        .tables
        .iter()
        .map(|(t, rows)| (t.clone(), rows.len() as u64))
        .collect();
    let weights: Vec<u64> = rules
        .iter()
        .map(|(_, p)| crate::exec::placement::program_weight(p, &counts))
        .collect();
    crate::exec::placement::place(&weights, cluster.workers)
}

/// The pack split by the worker each rule is placed on (`placed`, one per rule): for each
/// worker with rules, a dataflow of those rules alone over the inputs they read, its outputs
/// numbered as the rules in the pack. Each is fed the watchlists' changes and those of the
/// pack's `events` (records cut to the pack's `layouts`) that its rules' scan filters keep,
/// cut to the columns its rules read: a record that several workers' rules keep is fed to
/// each. Each also passes (without a record) every tick at which another is fed one.
fn split_by_worker(
    rules: &[(Rule, Program)],
    placed: &[Option<usize>],
    events: Vec<Event>,
    watchlists: &HashMap<String, Watchlist>,
    layouts: &Layouts,
    tick: i64,
) -> Vec<Group<impl for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>> + Send + Sync + 'static>>
{
    /// What one worker's dataflow reads: the worker, its rules' indices in the pack, its
    /// inputs, the columns it keeps, its scans' filters and its records.
    struct Part {
        worker: usize,
        members: Vec<usize>,
        names: Vec<(bool, String)>,
        layouts: Layouts,
        filter: SourceFilter,
        events: Vec<Event>,
    }
    let workers = placed.iter().flatten().max().map_or(0, |&w| w + 1);
    let mut parts: Vec<Part> = (0..workers)
        .map(|w| {
            let members: Vec<usize> = (0..rules.len())
                .filter(|&r| placed.get(r) == Some(&Some(w)))
                .collect();
            (w, members)
        })
        .filter(|(_, m)| !m.is_empty())
        .map(|(worker, members)| {
            let programs = || members.iter().map(|&r| &rules[r].1);
            Part {
                worker,
                names: input_names(programs()),
                layouts: Layouts::of(programs()),
                filter: SourceFilter::of(programs()),
                events: Vec::new(),
                members,
            }
        })
        .collect();
    // Per input of the pack: its table; per part, its input there and whether the part tests
    // that table's records; and how its narrow rows are widened for that test.
    let pack_names = input_names(rules.iter().map(|(_, p)| p));
    let readers: Vec<Vec<(usize, usize, bool)>> = pack_names
        .iter()
        .map(|name| {
            parts
                .iter()
                .enumerate()
                .filter_map(|(g, part)| {
                    let input = part.names.iter().position(|n| n == name)?;
                    let tested = part.filter.filtered_tables().contains(&name.1.as_str());
                    Some((g, input, tested))
                })
                .collect()
        })
        .collect();
    let wideners: Vec<Option<crate::exec::Narrow>> = pack_names
        .iter()
        .map(|(_, table)| layouts.scan(table))
        .collect();
    let mut keeping: Vec<(usize, usize)> = Vec::new();
    for e in events {
        let (Some(name), Some(readers)) = (pack_names.get(e.input), readers.get(e.input)) else {
            continue;
        };
        let table = name.1.as_str();
        // The parts that keep the record: the last takes its row, the others copy it.
        keeping.clear();
        {
            let full: Option<Cow<'_, Row>> = readers.iter().any(|r| r.2).then(|| {
                match wideners.get(e.input).and_then(Option::as_ref) {
                    Some(narrow) => Cow::Owned(narrow.widen_row(&e.row)),
                    None => Cow::Borrowed(&e.row),
                }
            });
            for &(g, input, tested) in readers {
                if !(tested
                    && full
                        .as_ref()
                        .is_some_and(|f| !parts[g].filter.keeps(table, f)))
                {
                    keeping.push((g, input));
                }
            }
        }
        let Some((&(last, last_input), others)) = keeping.split_last() else {
            continue;
        };
        for &(g, input) in others {
            let row = layouts.recut(&parts[g].layouts, table, Cow::Borrowed(&e.row));
            parts[g].events.push(Event {
                input,
                time: e.time,
                row,
                diff: e.diff,
            });
        }
        let row = layouts.recut(&parts[last].layouts, table, Cow::Owned(e.row));
        parts[last].events.push(Event {
            input: last_input,
            time: e.time,
            row,
            diff: e.diff,
        });
    }
    // Every part passes every tick at which any part is fed a record, as one dataflow would,
    // so that no tick waits in the merge for a part that has no record until much later.
    let ticks_of = |events: &[Event]| -> Vec<(Time, i64)> {
        let mut t: Vec<(Time, i64)> = events
            .iter()
            .map(|e| (tick_of(e.time, tick), e.time))
            .collect();
        t.sort_unstable();
        t.dedup_by_key(|x| x.0);
        t
    };
    let owns: Vec<Vec<(Time, i64)>> = parts.iter().map(|p| ticks_of(&p.events)).collect();
    let mut all: Vec<(Time, i64)> = owns.iter().flatten().copied().collect();
    all.sort_unstable();
    all.dedup_by_key(|x| x.0);
    for (part, own) in parts.iter_mut().zip(owns) {
        let mut k = 0;
        for &(t, time) in &all {
            while own.get(k).is_some_and(|o| o.0 < t) {
                k += 1;
            }
            if own.get(k).is_none_or(|o| o.0 != t) {
                part.events.push(Event {
                    input: NO_INPUT,
                    time,
                    row: Row::new(),
                    diff: 0,
                });
            }
        }
    }
    parts
        .into_iter()
        .map(|part| {
            let group: Vec<(Rule, Program)> =
                part.members.iter().map(|&r| rules[r].clone()).collect();
            let constant = constants(&group, &part.names, watchlists);
            let programs: Vec<Program> = group.iter().map(|(_, p)| p.clone()).collect();
            let labels: Vec<String> = group.iter().map(|(r, _)| r.name.clone()).collect();
            Group {
                inputs: part.names.len(),
                feed: Feed {
                    events: part.events,
                    constant,
                    note: Row::new(),
                    first_worker: part.worker,
                },
                build: render_pack(programs, labels, part.names, part.layouts, tick, Vec::new()),
                outputs: part.members,
            }
        })
        .collect()
}

/// Every watchlist's changes, as events of its input.
fn constants(
    rules: &[(Rule, Program)],
    names: &[(bool, String)],
    watchlists: &HashMap<String, Watchlist>,
) -> Vec<Event> {
    let mut constant = Vec::new();
    for (_, p) in rules {
        for (name, changes) in watchlist_sources(p, watchlists) {
            let Some(input) = names.iter().position(|n| *n == (true, name.clone())) else {
                continue;
            };
            if constant.iter().any(|e: &Event| e.input == input) {
                continue;
            }
            constant.extend(changes.into_iter().map(|(time, row, diff)| Event {
                input,
                time,
                row,
                diff,
            }));
        }
    }
    constant
}

/// [`run`] over records already prepared by the pack's [`Shape`].
pub fn run_fed(
    rules: &[(Rule, Program)],
    fed: FedTables,
    watchlists: &HashMap<String, Watchlist>,
    options: &PackOptions,
    note: Row,
    mut on: impl FnMut(&Report),
) -> Result<PackSummary, String> {
    check(rules)?;
    let names = input_names(rules.iter().map(|(_, p)| p));
    let layouts = Layouts::of(rules.iter().map(|(_, p)| p));
    let skipped = fed.skipped;
    let placed = placement_of(rules, &fed, &options.cluster);
    let split = !placed.is_empty() && placed.iter().all(Option::is_some);
    let mut events = Vec::new();
    for (name, rows) in fed.tables {
        if let Some(input) = names.iter().position(|n| *n == (false, name.clone())) {
            for (time, row) in rows {
                events.push(Event {
                    input,
                    time,
                    row,
                    diff: 1,
                });
            }
        }
    }
    let trackers: Vec<Tracker> = rules.iter().map(|(r, p)| tracker_for(r, p).0).collect();
    let (tx, rx) = mpsc::channel();
    let sink = PackSink::new(trackers, tx, options.speed == Speed::Max);
    let tick = options.tick;
    let speed = options.speed;
    let worker = if split {
        // Every rule is placed: each worker's rules run as a dataflow of their own (see
        // [`crate::runtime::split`]), which need not keep pace with the others'.
        let ticks: Vec<Time> = events.iter().map(|e| tick_of(e.time, tick)).collect();
        let groups = split_by_worker(rules, &placed, events, watchlists, &layouts, tick);
        std::thread::spawn(move || run_split(tick, speed, groups, vec![note], ticks, sink))
    } else {
        let constant = constants(rules, &names, watchlists);
        let programs: Vec<Program> = rules.iter().map(|(_, p)| p.clone()).collect();
        let labels: Vec<String> = rules.iter().map(|(r, _)| r.name.clone()).collect();
        let n = names.len();
        let cluster = options.cluster.clone();
        std::thread::spawn(move || {
            run_live(
                &cluster,
                tick,
                speed,
                n,
                Feed {
                    events,
                    constant,
                    note,
                    first_worker: 0,
                },
                render_pack(programs, labels, names, layouts, tick, placed),
                sink,
            )
        })
    };
    let mut summary = PackSummary {
        raised: vec![0; rules.len()],
        suppressed: vec![0; rules.len()],
        ticks: 0,
        skipped,
    };
    // The sink's channel closes when the dataflow ends (also when the cluster's peers never
    // connect: the connection itself gives up at the connect timeout).
    for report in rx {
        summary.count(&report);
        on(&report);
    }
    worker
        .join()
        .map_err(|_| crate::runtime::failure("the dataflow's thread failed"))??;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::model::Value;
    use crate::plan::BindOptions;

    fn rule(name: &str, query: &str) -> (Rule, Program) {
        let text = format!("id: {name}\nname: {name}\nseverity: Low\nquery: |\n  {query}\n");
        let rule = Rule::from_yaml(&text, std::path::Path::new(name)).unwrap();
        let q = crate::kql::parse(&rule.query).unwrap();
        let p = crate::plan::bind(&rule.query, &q, Catalog::builtin(), &BindOptions::default())
            .unwrap();
        (rule, p)
    }

    /// A full-width sign-in at `time` with these columns set.
    fn signin(time: i64, set: &[(&str, &str)]) -> (i64, Row) {
        let def = Catalog::builtin().table("SigninLogs").unwrap();
        let mut row = def.schema.empty_row();
        row[def.time_column] = Value::DateTime(time);
        for (c, v) in set {
            row[def.schema.index_of(c).unwrap()] = Value::str(v);
        }
        (time, row)
    }

    #[test]
    fn a_split_feeds_each_worker_the_records_its_rules_keep_cut_to_their_columns() {
        let rules = vec![
            rule(
                "failed",
                "SigninLogs | where ResultType != \"0\" | project UserPrincipalName",
            ),
            rule(
                "portal",
                "SigninLogs | where AppDisplayName == \"Portal\" | project IPAddress",
            ),
        ];
        let records = vec![
            // Kept by the first rule only, by the second only, by both, by neither.
            signin(10, &[("ResultType", "50126"), ("UserPrincipalName", "a@x")]),
            signin(
                20,
                &[
                    ("ResultType", "0"),
                    ("AppDisplayName", "Portal"),
                    ("IPAddress", "1.2.3.4"),
                ],
            ),
            signin(
                30,
                &[
                    ("ResultType", "50053"),
                    ("AppDisplayName", "Portal"),
                    ("UserPrincipalName", "b@x"),
                    ("IPAddress", "5.6.7.8"),
                ],
            ),
            signin(40, &[("ResultType", "0"), ("AppDisplayName", "Teams")]),
        ];
        let fed =
            Shape::of(&rules).prepare_all(HashMap::from([("SigninLogs".to_string(), records)]));
        let names = input_names(rules.iter().map(|(_, p)| p));
        let layouts = Layouts::of(rules.iter().map(|(_, p)| p));
        let events: Vec<Event> = fed
            .tables
            .into_values()
            .flatten()
            .map(|(time, row)| Event {
                input: 0,
                time,
                row,
                diff: 1,
            })
            .collect();
        assert_eq!(names, vec![(false, "SigninLogs".to_string())]);
        assert_eq!(events.len(), 3, "the record neither rule keeps is not fed");
        let groups = split_by_worker(
            &rules,
            &[Some(1), Some(0)],
            events,
            &HashMap::new(),
            &layouts,
            1,
        );
        assert_eq!(groups.len(), 2);
        let def = Catalog::builtin().table("SigninLogs").unwrap();
        // Each worker's rows: the event times, and the values of the columns its rule reads.
        let seen = |g: &Group<_>, column: &str| -> Vec<(i64, Vec<Value>)> {
            let own = Layouts::of([&rules[g.outputs[0]].1]);
            let kept = own.kept("SigninLogs").unwrap();
            let at = kept
                .iter()
                .position(|&c| c == def.schema.index_of(column).unwrap())
                .unwrap();
            g.feed
                .events
                .iter()
                .filter(|e| e.input != NO_INPUT)
                .map(|e| {
                    assert_eq!(e.row.len(), kept.len(), "cut to the rule's own columns");
                    assert_eq!(e.input, 0);
                    (e.time, vec![e.row[at].clone()])
                })
                .collect()
        };
        // Each passes, without a record, the ticks at which only the other is fed.
        let marks = |g: &Group<_>| -> Vec<(i64, usize, isize)> {
            g.feed
                .events
                .iter()
                .filter(|e| e.input == NO_INPUT)
                .map(|e| (e.time, e.row.len(), e.diff))
                .collect()
        };
        assert_eq!(marks(&groups[0]), vec![(10, 0, 0)]);
        assert_eq!(marks(&groups[1]), vec![(20, 0, 0)]);
        // Worker 0 runs the second rule: the Portal sign-ins.
        assert_eq!(groups[0].outputs, vec![1]);
        assert_eq!(groups[0].feed.first_worker, 0);
        assert_eq!(
            seen(&groups[0], "IPAddress"),
            vec![
                (20, vec![Value::str("1.2.3.4")]),
                (30, vec![Value::str("5.6.7.8")])
            ]
        );
        // Worker 1 runs the first: the failed ones.
        assert_eq!(groups[1].outputs, vec![0]);
        assert_eq!(groups[1].feed.first_worker, 1);
        assert_eq!(
            seen(&groups[1], "UserPrincipalName"),
            vec![(10, vec![Value::str("a@x")]), (30, vec![Value::str("b@x")])]
        );
    }
}
