//! Live driving of a dataflow: records handed to the inputs tick by tick, as fast as possible or
//! paced against the wall clock, with each tick's outputs and the latency of each tick (from
//! handing its last record to the input until the probe passes it and its outputs have been
//! handled) reported to a [`Sink`] on worker 0 as the dataflow runs.
//!
//! Each process passes the events it read itself (its share of the files): the worker threads
//! of a process split them between them, and the dataflow exchanges rows as its operators
//! need.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

use super::{ClusterOptions, Event, Rows, Time, tick_of};
use crate::model::Row;

/// How fast event time passes in a replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Ticks are handed to the dataflow as fast as it takes them: in batches (of up to
    /// [`MAX_BATCH_RECORDS`] records or [`MAX_BATCH_TICKS`] ticks), at most [`IN_FLIGHT`]
    /// of them in the dataflow at once; a tick's latency includes waiting for the rest of its
    /// batch and for the batches before it.
    Max,
    /// Event time runs this many times faster than the wall clock: a record is handed when
    /// `(its tick - the first tick) / speed` has passed since the start.
    Times(f64),
}

impl Speed {
    /// Reads `max` or a positive number such as `60` or `3600x`.
    pub fn parse(s: &str) -> Result<Speed, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match t.trim_end_matches(['x', 'X']).parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Speed::Times(v)),
            _ => Err(format!(
                "--speed {s}: not `max` or a positive number (times real time, such as 60 or 3600)"
            )),
        }
    }
}

/// What worker 0 is told while a dataflow runs. Its methods are called on worker 0's thread,
/// so they should be quick (send to a channel, record in a histogram).
pub trait Sink: Send {
    /// Every process's note (see [`Feed::note`]), ordered by process, before any change.
    fn notes(&mut self, _notes: Vec<Row>) {}
    /// The outputs' changes at `tick` (output index, row, diff), consolidated, in tick order.
    /// Called for every tick at which an output changed, including ticks no record was handed
    /// at (a row leaving a window).
    fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>);
    /// Tick `tick`, whose records (`records` of them in this process so far) were handed to
    /// the inputs `latency` ago, has passed the probe and its changes have been handled.
    fn tick_done(&mut self, tick: Time, records: u64, latency: Duration);
}

/// At `--speed max`, ticks are handed in batches of at most this many records…
pub const MAX_BATCH_RECORDS: usize = 4096;
/// … or this many ticks, with a bounded number of batches in the dataflow at once
/// ([`IN_FLIGHT`]).
pub const MAX_BATCH_TICKS: usize = 256;

/// At `--speed max`, the batches handed and not yet through the dataflow at most: the
/// previous batch must be through before the one after the current is handed, so that a
/// worker done with its share of a batch goes on to the next rather than wait for the others
/// at every batch. (When every batch needs every worker, more batches in flight only hold
/// more rows: 16 were slower than 2 on two workers.)
pub const IN_FLIGHT: usize = 2;

/// The input of an event that marks a tick without feeding a record (see [`Feed::events`]).
pub const NO_INPUT: usize = usize::MAX;

/// The longest a worker waiting for the others parks before looking again.
const PARK: Duration = Duration::from_millis(1);
/// How long a worker waiting for the others keeps stepping before it parks: most waits on an
/// idle machine are shorter, and waking a parked thread costs more than them.
const SPIN: Duration = Duration::from_micros(200);

/// The output changes worker 0 has received: (output, row, tick, diff).
pub(super) type Captured = Rc<RefCell<Vec<(usize, Row, Time, isize)>>>;

/// What one process feeds a live dataflow.
#[derive(Clone, Debug, Default)]
pub struct Feed {
    /// This process's records (its share of the files), in any order. An event of input
    /// [`NO_INPUT`] feeds nothing: the dataflow passes its tick as one of its records' (and
    /// reports it to the sink).
    pub events: Vec<Event>,
    /// Changes fed once in the whole cluster, each at its time (watchlists: their first
    /// version at time 0, later versions' changes when they take effect): pass the same on
    /// every process; only worker 0 of process 0 feeds them.
    pub constant: Vec<Event>,
    /// This process's note for worker 0 (its counts, its time range): the sink gets every
    /// process's note before the first change.
    pub note: Row,
    /// Added to each worker's index where the run names its workers (the operator profile):
    /// 0, except for a dataflow that runs one worker's rules of a split run (see
    /// [`super::split`]).
    pub first_worker: usize,
}

/// Runs a dataflow with `inputs` inputs built by `build` (which returns its outputs) on the
/// workers `cluster` describes, fed by `feed`. Worker 0 of process 0 reports to `sink`; the
/// call returns when every input is exhausted and every output settled.
pub fn run_live<B, S>(
    cluster: &ClusterOptions,
    tick: i64,
    speed: Speed,
    inputs: usize,
    feed: Feed,
    build: B,
    sink: S,
) -> Result<(), String>
where
    B: for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>> + Send + Sync + 'static,
    S: Sink + 'static,
{
    cluster.timely_config()?;
    let options = cluster.clone();
    let Feed {
        mut events,
        mut constant,
        note,
        first_worker,
    } = feed;
    events.sort_by_key(|e| e.time);
    constant.sort_by_key(|e| e.time);
    // Each record is fed by exactly one worker: record `j` by local worker `j % workers`. Every
    // worker reads every record's time (a batch's ticks are the same on all of them); each owns
    // its own records' rows, in order, and moves them into the dataflow (rather than cloning
    // them), so a record's memory is freed once the dataflow is done with it, and no worker
    // touches a row (or a cache line of one) that another feeds.
    let local_workers = cluster.workers;
    let per_worker = events.len() / local_workers.max(1) + 1;
    let mut shares: Vec<Vec<Row>> = (0..local_workers.max(1))
        .map(|_| Vec::with_capacity(per_worker))
        .collect();
    let events: Arc<Vec<Fed>> = Arc::new(
        events
            .into_iter()
            .enumerate()
            .map(|(j, e)| {
                if let Some(share) = shares.get_mut(j % local_workers.max(1)) {
                    share.push(e.row);
                }
                Fed {
                    input: e.input,
                    time: e.time,
                    diff: e.diff,
                }
            })
            .collect(),
    );
    let shares: Arc<Vec<Mutex<Vec<Row>>>> = Arc::new(shares.into_iter().map(Mutex::new).collect());
    // The inputs fed only constant changes (watchlists), each with the index of its last
    // change: an input is closed once its last change is fed (at once on the workers that feed
    // none), so that what reads it knows it will not change again.
    let mut last_constant: Vec<(usize, usize)> = Vec::new();
    for (k, e) in constant.iter().enumerate() {
        match last_constant.iter_mut().find(|(i, _)| *i == e.input) {
            Some(l) => l.1 = k,
            None => last_constant.push((e.input, k)),
        }
    }
    let fed_inputs: std::collections::HashSet<usize> = events.iter().map(|e| e.input).collect();
    last_constant.retain(|(i, _)| !fed_inputs.contains(i));
    let last_constant = Arc::new(last_constant);
    let constant = Arc::new(constant);
    let note = Arc::new(note);
    let build = Arc::new(build);
    let sink = Arc::new(Mutex::new(Some(sink)));
    let fed = Arc::new(AtomicU64::new(0));
    let origin = events.first().map(|e| tick_of(e.time, tick)).unwrap_or(0);
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let run = move || {
        super::connect::execute(&options, move |worker| {
            if let Ok(tx) = started_tx.lock() {
                let _ = tx.send(());
            }
            super::profile::register(worker, first_worker + worker.index());
            let index = worker.index();
            let local = index % local_workers.max(1);
            // This worker's records' rows, in the order it feeds them.
            let mut rows = shares
                .get(local)
                .and_then(|s| s.lock().ok().map(|mut v| std::mem::take(&mut *v)))
                .unwrap_or_default()
                .into_iter();
            // Only worker 0 reports: it takes the sink.
            let mut sink: Option<S> = if index == 0 {
                sink.lock().ok().and_then(|mut s| s.take())
            } else {
                None
            };
            let captured: Captured = Rc::new(RefCell::new(Vec::new()));
            let notes: Rc<RefCell<Vec<Row>>> = Rc::new(RefCell::new(Vec::new()));
            let (handles, mut note_input, probe) =
                build_dataflow(worker, inputs, &*build, &captured, &notes);
            let mut handles: Vec<Option<InputSession<Time, Row, isize>>> =
                handles.into_iter().map(Some).collect();
            let drain = |upto: Option<Time>, sink: &mut S| drain(&captured, upto, sink);
            // Tick 0: the constants, each process's note and any record of tick 0, then a
            // barrier, so that worker 0 has every note before the first change.
            // Worker 0 feeds the constant changes, each at its tick: `c` is the next.
            let mut c = 0;
            if index == 0 {
                while c < constant.len() && tick_of(constant[c].time, tick) == 0 {
                    let e = &constant[c];
                    if let Some(h) = handles.get_mut(e.input).and_then(Option::as_mut) {
                        h.update(e.row.clone(), e.diff);
                    }
                    c += 1;
                }
            } else {
                c = constant.len();
            }
            if local == 0 {
                note_input.update((*note).clone(), 1);
            }
            let mut i = 0;
            while i < events.len() && tick_of(events[i].time, tick) == 0 {
                if i % local_workers.max(1) == local {
                    // Taken whether or not it is fed, so that the next row is the next record's.
                    let row = rows.next().unwrap_or_default();
                    if let Some(h) = handles.get_mut(events[i].input).and_then(Option::as_mut) {
                        h.update(row, events[i].diff);
                    }
                }
                i += 1;
            }
            for h in handles.iter_mut().flatten() {
                h.advance_to(1);
                h.flush();
            }
            close_constants(
                &mut handles,
                &last_constant,
                if index == 0 { c } else { usize::MAX },
            );
            drop(note_input);
            worker.step_while(|| probe.less_equal(&0));
            if let Some(s) = sink.as_mut() {
                let mut all = std::mem::take(&mut *notes.borrow_mut());
                all.sort();
                s.notes(all);
                drain(Some(0), s);
            }
            let start = Instant::now();
            let deadline = |t: Time| -> Option<Instant> {
                match speed {
                    Speed::Max => None,
                    Speed::Times(x) => {
                        let secs = t.saturating_sub(origin) as f64 / 1e7 / x;
                        Some(start + Duration::from_secs_f64(secs.min(1e9)))
                    }
                }
            };
            // Ticks handed but not yet through the probe (worker 0): (tick, when, records).
            let mut pending: VecDeque<(Time, Instant, u64)> = VecDeque::new();
            let mut mine: u64 = 0;
            let (mut batch_records, mut batch_ticks) = (0usize, 0usize);
            // The last tick of each batch handed and not known to be through, at full speed.
            let mut in_flight: VecDeque<Time> = VecDeque::new();
            while i < events.len() || c < constant.len() {
                let t = match (events.get(i), constant.get(c)) {
                    (Some(e), Some(k)) => tick_of(e.time, tick).min(tick_of(k.time, tick)),
                    (Some(e), None) => tick_of(e.time, tick),
                    (None, Some(k)) => tick_of(k.time, tick),
                    (None, None) => break,
                };
                if let Some(d) = deadline(t) {
                    // Wait for the tick's wall time, keeping the dataflow going meanwhile.
                    loop {
                        let now = Instant::now();
                        if now >= d {
                            break;
                        }
                        worker.step_or_park(Some(d - now));
                        if let Some(s) = sink.as_mut() {
                            settle(&mut pending, &probe, s, &captured);
                        }
                    }
                }
                // The inputs' frontier moves once per batch of ticks, the updates carrying their
                // own ticks: every operator is then scheduled once per batch rather than once
                // per tick (most of a fine-ticked replay's cost). As fast as possible a batch is
                // a number of ticks or records; paced, the ticks already due when one is handed
                // (one tick when the dataflow keeps up with the clock).
                let first = i;
                let mut j = i;
                while j < events.len() && tick_of(events[j].time, tick) == t {
                    if j % local_workers.max(1) == local {
                        let row = rows.next().unwrap_or_default();
                        if let Some(h) = handles.get_mut(events[j].input).and_then(Option::as_mut) {
                            h.update_at(row, t, events[j].diff);
                            mine += 1;
                        }
                    }
                    j += 1;
                }
                while c < constant.len() && tick_of(constant[c].time, tick) == t {
                    let e = &constant[c];
                    if let Some(h) = handles.get_mut(e.input).and_then(Option::as_mut) {
                        h.update_at(e.row.clone(), t, e.diff);
                    }
                    c += 1;
                }
                fed.fetch_add(mine, Ordering::Relaxed);
                mine = 0;
                i = j;
                if index == 0 {
                    close_constants(&mut handles, &last_constant, c);
                }
                if sink.is_some() {
                    pending.push_back((t, Instant::now(), fed.load(Ordering::Relaxed)));
                }
                batch_records += j - first;
                batch_ticks += 1;
                if speed == Speed::Max {
                    // As fast as possible: hand ticks in batches, a bounded number of them in
                    // the dataflow at once, so that differential processes many ticks per step.
                    if batch_records >= MAX_BATCH_RECORDS
                        || batch_ticks >= MAX_BATCH_TICKS
                        || (i >= events.len() && c >= constant.len())
                    {
                        for h in handles.iter_mut().flatten() {
                            h.advance_to(t + 1);
                            h.flush();
                        }
                        // Batches in flight (see [`IN_FLIGHT`]): once that many batches are
                        // handed and not through, the oldest must pass the probe before the
                        // next is handed.
                        in_flight.push_back(t);
                        if in_flight.len() < IN_FLIGHT {
                            worker.step();
                        } else if let Some(oldest) = in_flight.pop_front() {
                            // Past a short spin, parking when there is nothing to do leaves
                            // the core to the other workers (or to other work on a shared
                            // machine); a message or activation wakes the worker.
                            let waiting = Instant::now();
                            while probe.less_equal(&oldest) {
                                if waiting.elapsed() < SPIN {
                                    worker.step();
                                } else {
                                    worker.step_or_park(Some(PARK));
                                }
                            }
                        }
                        batch_records = 0;
                        batch_ticks = 0;
                    }
                } else {
                    // Paced: when the next tick is already due (the dataflow is behind the
                    // clock), hand it too before stepping, up to a batch; otherwise step once
                    // so the dataflow keeps going.
                    let behind = events
                        .get(i)
                        .and_then(|e| deadline(tick_of(e.time, tick)))
                        .is_some_and(|d| d <= Instant::now());
                    if !behind
                        || batch_records >= MAX_BATCH_RECORDS
                        || batch_ticks >= MAX_BATCH_TICKS
                    {
                        for h in handles.iter_mut().flatten() {
                            h.advance_to(t + 1);
                            h.flush();
                        }
                        worker.step();
                        batch_records = 0;
                        batch_ticks = 0;
                    }
                }
                if let Some(s) = sink.as_mut() {
                    settle(&mut pending, &probe, s, &captured);
                }
            }
            // Closing the inputs lets every scheduled change (a row leaving a window after the
            // last record) come out.
            handles.clear();
            while !probe.done() {
                worker.step_or_park(Some(Duration::from_millis(10)));
                if let Some(s) = sink.as_mut() {
                    settle(&mut pending, &probe, s, &captured);
                }
            }
            if let Some(s) = sink.as_mut() {
                settle(&mut pending, &probe, s, &captured);
                drain(None, s);
            }
        })
        .map_err(|e| format!("starting the workers: {e}"))
        .map(|guards| guards.join())
    };
    let results = if cluster.processes > 1 {
        let handle = std::thread::spawn(run);
        if started_rx.recv_timeout(cluster.connect_timeout).is_err() && !handle.is_finished() {
            return Err(super::unreachable_peers(cluster));
        }
        handle
            .join()
            .map_err(|_| super::failure("the workers' thread failed"))??
    } else {
        run()?
    };
    for r in results {
        r.map_err(|e| super::failure(&format!("a worker failed ({e})")))?;
    }
    Ok(())
}

/// Closes each constant input (input, index of its last change) whose last change is before
/// `fed` (the index of the next constant change to feed).
fn close_constants(
    handles: &mut [Option<InputSession<Time, Row, isize>>],
    last_constant: &[(usize, usize)],
    fed: usize,
) {
    for &(input, last) in last_constant {
        if last < fed
            && let Some(h) = handles.get_mut(input)
        {
            *h = None;
        }
    }
}

/// A record waiting to be fed, less its row (which the worker that feeds it owns): its input,
/// event time and difference.
struct Fed {
    input: usize,
    time: i64,
    diff: isize,
}

/// A built dataflow: its input handles, its note input and its probe.
pub(super) type Built = (
    Vec<InputSession<Time, Row, isize>>,
    InputSession<Time, Row, isize>,
    ProbeHandle<Time>,
);

/// Builds the dataflow on `worker`: `inputs` input collections, the outputs `build` makes of
/// them, each output's changes gathered into `captured` on worker 0 (output index, row, tick,
/// diff), and a note input whose rows worker 0 gathers into `notes`. Returns the input
/// handles, the note input and a probe that watches the inputs, the notes and every output.
pub(super) fn build_dataflow<B>(
    worker: &mut timely::worker::Worker,
    inputs: usize,
    build: &B,
    captured: &Captured,
    notes: &Rc<RefCell<Vec<Row>>>,
) -> Built
where
    B: for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>>,
{
    let into = captured.clone();
    let notes_into = notes.clone();
    worker.dataflow::<Time, _, _>(move |scope| {
        let mut handles = Vec::with_capacity(inputs);
        let mut collections = Vec::with_capacity(inputs);
        for _ in 0..inputs {
            let (handle, collection) = scope.new_collection::<Row, isize>();
            handles.push(handle);
            collections.push(collection);
        }
        // The probe watches the inputs too, so that a dataflow without outputs still tells
        // when a tick is through.
        let probe = ProbeHandle::<Time>::new();
        for c in &collections {
            c.inner.clone().probe_with(&probe);
        }
        let (note_input, note_stream) = scope.new_collection::<Row, isize>();
        note_stream
            .inner
            .exchange(|_| 0)
            .inspect(move |(row, _, _): &(Row, Time, isize)| {
                notes_into.borrow_mut().push(row.clone());
            })
            .probe_with(&probe);
        let outs = build(collections);
        for (i, out) in outs.into_iter().enumerate() {
            let into = into.clone();
            out.inner
                .exchange(|_| 0)
                .inspect(move |(row, t, diff): &(Row, Time, isize)| {
                    into.borrow_mut().push((i, row.clone(), *t, *diff));
                })
                .probe_with(&probe);
        }
        (handles, note_input, probe)
    })
}

/// Hands `sink` the changes in `captured` up to tick `upto` (all of them with `None`),
/// consolidated, tick by tick in order; later changes stay. Changes up to a tick are complete
/// once the probe has passed it.
pub(super) fn drain<S: Sink>(captured: &Captured, upto: Option<Time>, sink: &mut S) {
    let ready = take_ready(captured, upto);
    hand(&ready, &mut 0, None, sink);
}

/// Takes the changes in `captured` up to tick `upto` (all of them with `None`) out of it,
/// sorted by tick; later changes stay.
fn take_ready(captured: &Captured, upto: Option<Time>) -> Vec<(Time, usize, Row, isize)> {
    let mut ready: Vec<(Time, usize, Row, isize)> = Vec::new();
    {
        let mut buf = captured.borrow_mut();
        let mut rest = Vec::new();
        for (i, row, t, d) in buf.drain(..) {
            if upto.is_none_or(|u| t <= u) {
                ready.push((t, i, row, d));
            } else {
                rest.push((i, row, t, d));
            }
        }
        *buf = rest;
    }
    ready.sort();
    ready
}

/// Hands `sink` the changes of `ready` (sorted by tick) from position `*k` up to tick `upto`
/// (to the end with `None`), consolidated, tick by tick; `*k` ends past the last handed.
fn hand<S: Sink>(
    ready: &[(Time, usize, Row, isize)],
    k: &mut usize,
    upto: Option<Time>,
    sink: &mut S,
) {
    while let Some(&(t, ..)) = ready.get(*k) {
        if upto.is_some_and(|u| t > u) {
            break;
        }
        let mut out: Vec<(usize, Row, i64)> = Vec::new();
        while let Some((_, i, row, d)) = ready.get(*k).filter(|r| r.0 == t) {
            match out.last_mut() {
                Some(last) if last.0 == *i && last.1 == *row => last.2 += *d as i64,
                _ => out.push((*i, row.clone(), *d as i64)),
            }
            *k += 1;
        }
        out.retain(|c| c.2 != 0);
        if !out.is_empty() {
            sink.changes(t, out);
        }
    }
}

/// Reports every pending tick the probe has passed: its changes, then its latency. The
/// captured changes are taken once for all those ticks, not once per tick (a batch of ticks
/// in flight holds changes of every one of them).
pub(super) fn settle<S: Sink>(
    pending: &mut VecDeque<(Time, Instant, u64)>,
    probe: &ProbeHandle<Time>,
    sink: &mut S,
    captured: &Captured,
) {
    let passed = pending
        .iter()
        .take_while(|(t, ..)| !probe.less_equal(t))
        .count();
    let Some(&(last, ..)) = passed.checked_sub(1).and_then(|p| pending.get(p)) else {
        return;
    };
    let ready = take_ready(captured, Some(last));
    let mut k = 0;
    for (t, at, records) in pending.drain(..passed) {
        hand(&ready, &mut k, Some(t), sink);
        sink.tick_done(t, records, at.elapsed());
    }
}

/// A [`Sink`] that keeps every change of output 0 and the processes' notes, for a caller that
/// wants the whole change stream at the end.
pub struct Collect {
    kept: Arc<Mutex<Collected>>,
}

/// What a [`Collect`] sink kept.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// Output 0's changes, in tick order.
    pub changes: Vec<super::Change>,
    /// Every process's note.
    pub notes: Vec<Row>,
}

impl Collect {
    /// The sink and where what it keeps ends up.
    pub fn new() -> (Collect, Arc<Mutex<Collected>>) {
        let kept = Arc::new(Mutex::new(Collected::default()));
        (Collect { kept: kept.clone() }, kept)
    }
}

impl Sink for Collect {
    fn notes(&mut self, notes: Vec<Row>) {
        if let Ok(mut k) = self.kept.lock() {
            k.notes = notes;
        }
    }

    fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>) {
        if let Ok(mut k) = self.kept.lock() {
            k.changes.extend(
                changes
                    .into_iter()
                    .filter(|c| c.0 == 0)
                    .map(|(_, row, diff)| super::Change { tick, row, diff }),
            );
        }
    }

    fn tick_done(&mut self, _tick: Time, _records: u64, _latency: Duration) {}
}
