//! A rule pack run live: records, watchlist versions and clock readings arrive on a channel
//! in the order they happen (a tail of the logs), and alerts come out as soon as the ticks
//! they are raised at close.
//!
//! Event time moves with what arrives. The watermark trails the newest event time seen (or
//! the wall clock's reading) by the allowed lateness, and every tick up to the watermark's is
//! closed as soon as the records that arrived with it have been fed: with no allowed lateness,
//! the alert a record raises comes out right after the record. A record behind the watermark
//! is late (see [`crate::runtime::arrival`]): it enters at the open tick, its row unchanged,
//! or is rejected. A record on time whose tick has already closed (it shares its tick with an
//! earlier record that closed it) enters at the open tick as well.
//!
//! A watchlist version that arrives replaces the watchlist's rows from the open tick on.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, Receiver};

use super::{PackSink, PackSummary, Report, check, input_names, render_pack};
use crate::alerts::{Tracker, tracker_for};
use crate::eval::Watchlist;
use crate::exec::{Layouts, SourceFilter, watchlist_sources};
use crate::model::Row;
use crate::plan::Program;
use crate::rules::Rule;
use crate::runtime::arrival::{Entry, LatePolicy, Watermark};
use crate::runtime::stream::{Msg, run_stream};
use crate::runtime::{Time, tick_of};

/// What reaches a live pack, in the order it happens.
#[derive(Clone, Debug)]
pub enum Arrived {
    /// A record of table `table`: its event time and its row in the table's schema order.
    Record {
        /// The table's name.
        table: String,
        /// The event time, in 100 ns units since the epoch.
        time: i64,
        /// The row, full width.
        row: Row,
        /// Where it was read, as `file:line`.
        origin: String,
    },
    /// A new version of a watchlist: its rows replace the watchlist's from the open tick on.
    Watchlist {
        /// The watchlist's name.
        name: String,
        /// Its rows.
        version: Watchlist,
    },
    /// Event time has reached at least this (a wall-clock reading, in 100 ns units since the
    /// epoch), with no record.
    Clock(i64),
}

/// How a live pack runs.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Worker threads.
    pub workers: usize,
    /// The tick length, in 100 ns units.
    pub tick: i64,
    /// How far the watermark trails the newest event time, in 100 ns units.
    pub lateness: i64,
    /// What becomes of a late record.
    pub late: LatePolicy,
    /// How far ahead of the wall clock or of the newest record a record may be before it is
    /// refused as a future record, in 100 ns units; `None` for any.
    pub max_ahead: Option<i64>,
}

/// A late (or future) record, as a live pack tells of it.
#[derive(Clone, Debug, PartialEq)]
pub struct LateRecord {
    /// Where it was read.
    pub origin: String,
    /// Its table.
    pub table: String,
    /// Its event time.
    pub time: i64,
    /// The watermark it arrived behind.
    pub watermark: i64,
    /// The tick it entered at; `None` when it was rejected.
    pub entered: Option<Time>,
    /// True for a future record (too far ahead of the wall clock or of the newest record,
    /// then `watermark` is the time it was measured against): rejected.
    pub future: bool,
}

/// Turns what arrives into updates of a pack's inputs, ticks and watermark: the part of a live
/// pack that decides where each record enters.
pub struct Feeder {
    names: Vec<(bool, String)>,
    programs: Vec<Program>,
    filter: SourceFilter,
    layouts: Layouts,
    /// Equal strings of the records fed share one allocation (bounded: see [`Interner`]).
    interner: crate::model::Interner,
    watermark: Watermark,
    tick: i64,
    /// The first tick not closed yet.
    open: Time,
    /// Each watchlist input's current rows.
    watchlists: HashMap<usize, BTreeMap<Row, isize>>,
    out: Vec<Msg>,
    /// Records of the tables the rules read that no rule's scan filter keeps.
    pub skipped: u64,
    /// Records fed.
    pub fed: u64,
    /// Late records, in arrival order, since last taken.
    pub late: Vec<LateRecord>,
}

impl Feeder {
    /// A feeder for `rules`' inputs (every table some rule reads, then every watchlist) with
    /// `options`' ticks and lateness.
    pub fn new(rules: &[(Rule, Program)], options: &StreamOptions) -> Feeder {
        let programs: Vec<Program> = rules.iter().map(|(_, p)| p.clone()).collect();
        Feeder {
            names: input_names(rules.iter().map(|(_, p)| p)),
            filter: SourceFilter::of(&programs),
            layouts: Layouts::of(&programs),
            interner: crate::model::Interner::with_limit(1 << 16),
            programs,
            watermark: {
                let w = Watermark::new(options.lateness, options.tick, options.late);
                match options.max_ahead {
                    Some(m) => w.with_max_ahead(m),
                    None => w,
                }
            },
            tick: options.tick.max(1),
            open: 0,
            watchlists: HashMap::new(),
            out: Vec::new(),
            skipped: 0,
            fed: 0,
            late: Vec::new(),
        }
    }

    /// The first tick not closed yet.
    pub fn open(&self) -> Time {
        self.open
    }

    /// Takes what arrived: a record becomes an update at its entry tick (or is skipped,
    /// rejected as late, or ignored for a table no rule reads); a watchlist version becomes the
    /// changes from the rows in effect to its rows, at the open tick; a clock reading moves
    /// the watermark.
    pub fn arrive(&mut self, a: Arrived) {
        match a {
            Arrived::Record {
                table,
                time,
                row,
                origin,
            } => {
                let entry = self.watermark.admit(time);
                let Some(input) = self.names.iter().position(|n| !n.0 && n.1 == table) else {
                    return;
                };
                if let Entry::Future { reference } = entry {
                    self.late.push(LateRecord {
                        origin,
                        table: table.clone(),
                        time,
                        watermark: reference,
                        entered: None,
                        future: true,
                    });
                    return;
                }
                if let Entry::Late { watermark, .. } | Entry::Rejected { watermark } = entry {
                    self.late.push(LateRecord {
                        origin,
                        table: table.clone(),
                        time,
                        watermark,
                        entered: entry.tick().map(|t| t.max(self.open)),
                        future: false,
                    });
                }
                let Some(tick) = entry.tick() else {
                    return;
                };
                if !self.filter.keeps(&table, &row) {
                    self.skipped += 1;
                    return;
                }
                self.fed += 1;
                let mut row = self.layouts.narrow(&table, row);
                self.interner.intern_row(&mut row);
                self.out.push(Msg::Update {
                    input,
                    tick: tick.max(self.open),
                    row,
                    diff: 1,
                });
            }
            Arrived::Watchlist { name, version } => {
                let Some(input) = self.names.iter().position(|n| n.0 && n.1 == name) else {
                    return;
                };
                let mut rows: BTreeMap<Row, isize> = BTreeMap::new();
                let one = HashMap::from([(name.clone(), version)]);
                if let Some(changes) = self.programs.iter().find_map(|p| {
                    watchlist_sources(p, &one)
                        .into_iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, c)| c)
                }) {
                    for (_, row, diff) in changes {
                        *rows.entry(row).or_insert(0) += diff;
                    }
                }
                let current = self.watchlists.entry(input).or_default();
                let mut changes: BTreeMap<Row, isize> = BTreeMap::new();
                for (row, n) in current.iter() {
                    *changes.entry(row.clone()).or_insert(0) -= n;
                }
                for (row, n) in &rows {
                    *changes.entry(row.clone()).or_insert(0) += n;
                }
                for (row, diff) in changes {
                    if diff != 0 {
                        self.out.push(Msg::Update {
                            input,
                            tick: self.open,
                            row,
                            diff,
                        });
                    }
                }
                rows.retain(|_, n| *n != 0);
                *current = rows;
            }
            Arrived::Clock(t) => self.watermark.observe(t),
        }
    }

    /// The updates taken since the last call, then, when the watermark has moved past the
    /// open tick, the advance that closes every tick up to the watermark's.
    pub fn close(&mut self) -> Vec<Msg> {
        if let Some(w) = self.watermark.current() {
            let to = tick_of(w, self.tick) + self.tick as Time;
            if to > self.open {
                self.open = to;
                self.out.push(Msg::Advance(to));
            }
        }
        std::mem::take(&mut self.out)
    }
}

/// At most this many arrivals are taken before their updates are handed to the dataflow.
const MAX_BATCH: usize = 4096;

/// Runs `rules` live over what `arrived` receives, starting from `watchlists`' first versions
/// (a later version is an [`Arrived::Watchlist`]), until every sender of `arrived` is dropped;
/// calls `on` with every [`Report`] as it happens and `on_late` with every late record, on the
/// calling thread. Every rule must pass [`check`].
pub fn run(
    rules: &[(Rule, Program)],
    watchlists: &HashMap<String, Watchlist>,
    arrived: Receiver<Arrived>,
    options: &StreamOptions,
    mut on: impl FnMut(&Report),
    mut on_late: impl FnMut(&LateRecord),
) -> Result<PackSummary, String> {
    check(rules)?;
    if let Some((name, _)) = watchlists.iter().find(|(_, w)| !w.updates.is_empty()) {
        return Err(format!(
            "watchlist {name}: live, a watchlist's new version is its file changed on disk, not a version dated with @"
        ));
    }
    let mut feeder = Feeder::new(rules, options);
    for (name, w) in watchlists {
        feeder.arrive(Arrived::Watchlist {
            name: name.clone(),
            version: w.clone(),
        });
    }
    let first = feeder.close();
    let names = feeder.names.clone();
    let layouts = feeder.layouts.clone();
    let programs = feeder.programs.clone();
    let trackers: Vec<Tracker> = rules.iter().map(|(r, p)| tracker_for(r, p).0).collect();
    enum Out {
        Report(Report),
        Late(LateRecord),
        Fed { skipped: u64 },
    }
    let (tx, rx) = mpsc::channel::<Out>();
    let (report_tx, report_rx) = mpsc::channel::<Report>();
    // Bounded: the feeder waits while the dataflow is behind.
    let (msg_tx, msg_rx) = mpsc::sync_channel::<Vec<Msg>>(16);
    let _ = msg_tx.send(first);
    // The feeder's thread: arrivals into updates, in batches.
    let late_tx = tx.clone();
    let feeding = std::thread::spawn(move || {
        while let Ok(a) = arrived.recv() {
            feeder.arrive(a);
            let mut n = 1;
            while n < MAX_BATCH {
                match arrived.try_recv() {
                    Ok(a) => feeder.arrive(a),
                    Err(_) => break,
                }
                n += 1;
            }
            for l in feeder.late.drain(..) {
                let _ = late_tx.send(Out::Late(l));
            }
            if msg_tx.send(feeder.close()).is_err() {
                break;
            }
        }
        let _ = late_tx.send(Out::Fed {
            skipped: feeder.skipped,
        });
    });
    // The dataflow's thread.
    let tick = options.tick;
    let workers = options.workers;
    let sink = PackSink::new(trackers, report_tx, false);
    let dataflow = std::thread::spawn(move || {
        run_stream(
            workers,
            names.len(),
            msg_rx,
            render_pack(programs, Vec::new(), names, layouts, tick, Vec::new()),
            sink,
        )
    });
    // Reports and late records, merged in the order they come.
    let forward = std::thread::spawn(move || {
        for r in report_rx {
            if tx.send(Out::Report(r)).is_err() {
                break;
            }
        }
    });
    let mut summary = PackSummary {
        raised: vec![0; rules.len()],
        suppressed: vec![0; rules.len()],
        ticks: 0,
        skipped: 0,
    };
    for out in rx {
        match out {
            Out::Report(report) => {
                summary.count(&report);
                on(&report);
            }
            Out::Late(l) => on_late(&l),
            Out::Fed { skipped } => summary.skipped = skipped,
        }
    }
    let _ = feeding.join();
    let _ = forward.join();
    dataflow
        .join()
        .map_err(|_| crate::runtime::failure("the dataflow's thread failed"))??;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_MINUTE, TICKS_PER_SECOND, Value};
    use crate::plan::BindOptions;

    const RULE: &str = r#"id: 6f0c5a8e-1d2b-4c3a-9e8f-000000000002
name: Sign-in from a blocked address
severity: High
query: |
  let blocked = _GetWatchlist('Blocked') | project IPAddress = tostring(IP);
  SigninLogs
  | where TimeGenerated > ago(1h)
  | where ResultType == "0"
  | join kind=inner (blocked) on IPAddress
  | project TimeGenerated, UserPrincipalName, IPAddress
"#;

    fn rules() -> Vec<(Rule, Program)> {
        let rule = Rule::from_yaml(RULE, "blocked.yaml").unwrap();
        let q = crate::kql::parse(&rule.query).unwrap();
        let mut opts = BindOptions {
            query_period: rule.query_period,
            ..BindOptions::default()
        };
        opts.watchlists.insert("Blocked".into(), vec!["IP".into()]);
        let p =
            crate::plan::bind(&rule.query, &q, crate::catalog::Catalog::builtin(), &opts).unwrap();
        vec![(rule, p)]
    }

    fn options(lateness: i64, late: LatePolicy) -> StreamOptions {
        StreamOptions {
            workers: 1,
            tick: TICKS_PER_SECOND,
            lateness,
            late,
            max_ahead: None,
        }
    }

    const T0: i64 = 1_714_557_600 * TICKS_PER_SECOND; // 2024-05-01T10:00:00Z

    fn signin(t: i64, user: &str, result: &str) -> Arrived {
        let def = crate::catalog::Catalog::builtin()
            .table("SigninLogs")
            .unwrap();
        let mut row = def.schema.empty_row();
        for (name, v) in [
            ("TimeGenerated", Value::DateTime(t)),
            ("UserPrincipalName", Value::str(user)),
            ("IPAddress", Value::str("192.0.2.1")),
            ("ResultType", Value::str(result)),
        ] {
            row[def.schema.index_of(name).unwrap()] = v;
        }
        Arrived::Record {
            table: "SigninLogs".into(),
            time: t,
            row,
            origin: format!("test:{user}"),
        }
    }

    /// (tick, diff) of every update, and the advances, of `msgs`.
    fn shape(msgs: &[Msg]) -> Vec<(char, u64, isize)> {
        msgs.iter()
            .map(|m| match m {
                Msg::Update { tick, diff, .. } => ('u', *tick, *diff),
                Msg::Advance(t) => ('a', *t, 0),
            })
            .collect()
    }

    const S: u64 = TICKS_PER_SECOND as u64;

    #[test]
    fn a_record_closes_its_own_tick_and_a_later_one_of_that_tick_enters_the_next() {
        let rules = rules();
        let mut f = Feeder::new(&rules, &options(0, LatePolicy::Accept));
        let t = T0 + TICKS_PER_SECOND / 2;
        f.arrive(signin(t, "alice", "0"));
        let first = tick_of(t, TICKS_PER_SECOND);
        assert_eq!(
            shape(&f.close()),
            vec![('u', first, 1), ('a', first + S, 0)]
        );
        // The same tick again: on time (not behind the watermark), but its tick is closed.
        f.arrive(signin(t, "bob", "0"));
        assert_eq!(shape(&f.close()), vec![('u', first + S, 1)]);
        assert!(f.late.is_empty());
        // A failed sign-in is kept by no rule's filter: not fed, but it moves event time.
        f.arrive(signin(t + 10 * TICKS_PER_SECOND, "carol", "50126"));
        assert_eq!(shape(&f.close()), vec![('a', first + 11 * S, 0)]);
        assert_eq!((f.fed, f.skipped), (2, 1));
    }

    #[test]
    fn late_records_enter_at_the_open_tick_or_are_rejected() {
        let rules = rules();
        for policy in [LatePolicy::Accept, LatePolicy::Reject] {
            let mut f = Feeder::new(&rules, &options(TICKS_PER_MINUTE, policy));
            f.arrive(signin(T0 + 10 * TICKS_PER_MINUTE, "alice", "0"));
            // The watermark trails by a minute: ticks up to 10:09 close.
            let w = (T0 + 9 * TICKS_PER_MINUTE) as u64;
            assert_eq!(
                shape(&f.close()),
                vec![('u', w + 60 * S, 1), ('a', w + S, 0)]
            );
            // Within the lateness: its own tick.
            f.arrive(signin(
                T0 + 9 * TICKS_PER_MINUTE + 30 * TICKS_PER_SECOND,
                "bob",
                "0",
            ));
            assert_eq!(shape(&f.close()), vec![('u', w + 30 * S, 1)]);
            // Behind the watermark: late.
            f.arrive(signin(T0 + 2 * TICKS_PER_MINUTE, "mallory", "0"));
            let out = shape(&f.close());
            assert_eq!(f.late.len(), 1);
            assert_eq!(f.late[0].origin, "test:mallory");
            assert_eq!(f.late[0].watermark, T0 + 9 * TICKS_PER_MINUTE);
            match policy {
                LatePolicy::Accept => {
                    assert_eq!(out, vec![('u', w + S, 1)]);
                    assert_eq!(f.late[0].entered, Some(w + S));
                }
                LatePolicy::Reject => {
                    assert!(out.is_empty());
                    assert_eq!(f.late[0].entered, None);
                }
            }
        }
    }

    #[test]
    fn a_watchlist_version_changes_the_rows_at_the_open_tick_and_a_clock_moves_time() {
        let rules = rules();
        let mut f = Feeder::new(&rules, &options(0, LatePolicy::Accept));
        let version = |ips: &[&str]| Watchlist {
            columns: vec!["IP".into()],
            rows: ips.iter().map(|i| vec![i.to_string()]).collect(),
            updates: vec![],
        };
        f.arrive(Arrived::Watchlist {
            name: "Blocked".into(),
            version: version(&["192.0.2.1", "192.0.2.2"]),
        });
        assert_eq!(shape(&f.close()), vec![('u', 0, 1), ('u', 0, 1)]);
        f.arrive(Arrived::Clock(T0));
        let open = T0 as u64 + S;
        assert_eq!(shape(&f.close()), vec![('a', open, 0)]);
        // 192.0.2.2 leaves, 192.0.2.3 comes: two changes at the open tick.
        f.arrive(Arrived::Watchlist {
            name: "Blocked".into(),
            version: version(&["192.0.2.1", "192.0.2.3"]),
        });
        let msgs = f.close();
        let rows: Vec<(String, isize)> = msgs
            .iter()
            .map(|m| match m {
                Msg::Update {
                    row, diff, tick, ..
                } => {
                    assert_eq!(*tick, open);
                    (row[0].to_string(), *diff)
                }
                Msg::Advance(_) => panic!("no advance"),
            })
            .collect();
        assert_eq!(
            rows,
            vec![("192.0.2.2".to_string(), -1), ("192.0.2.3".to_string(), 1)]
        );
        // A watchlist no rule reads is ignored.
        f.arrive(Arrived::Watchlist {
            name: "Other".into(),
            version: version(&["x"]),
        });
        assert!(f.close().is_empty());
    }
}
