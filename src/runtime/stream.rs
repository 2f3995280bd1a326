//! Streaming driving of a dataflow: updates handed to the inputs as they arrive on a channel,
//! for as long as the channel is open (a live tail of the logs), with the outputs' changes and
//! each closed tick's latency reported to a [`Sink`] on worker 0 as soon as the probe passes.
//!
//! The feeder (on its own thread) says where event time stands with [`Msg::Advance`]: ticks
//! before the advanced-to tick are closed, and their changes come out. Updates may be at the
//! open tick or any later one; an update for a closed tick is fed at the open tick instead.
//!
//! Streaming runs in one process, on `workers` threads: worker 0 takes the channel and feeds
//! every update; the dataflow's exchanges spread the work. The other workers follow worker
//! 0's frontier, which it publishes to them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// An input of the dataflow.
type Inputs = differential_dataflow::input::InputSession<Time, Row, isize>;

use super::live::{Captured, Sink, build_dataflow, drain, settle};
use super::{Rows, Time};
use crate::model::Row;

/// What the feeder of a streaming dataflow hands worker 0.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// `diff` copies of `row` into input `input` at tick `tick` (a closed tick counts as the
    /// open one).
    Update {
        /// Which input.
        input: usize,
        /// The tick.
        tick: Time,
        /// The row.
        row: Row,
        /// +1 to insert, −1 to retract.
        diff: isize,
    },
    /// Every later update is at this tick or after: the ticks before it are closed.
    Advance(Time),
}

/// How long an idle worker waits for news before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// Runs a dataflow with `inputs` inputs built by `build` on `workers` threads of this process,
/// fed by the batches of [`Msg`]s `feed` receives, until `feed`'s senders are all dropped;
/// then the inputs close and every scheduled change comes out. Worker 0 reports to `sink`:
/// the changes of each closed tick, then the tick's latency (from the advance that closed it
/// to its changes being handled).
pub fn run_stream<B, S>(
    workers: usize,
    inputs: usize,
    feed: Receiver<Vec<Msg>>,
    build: B,
    sink: S,
) -> Result<(), String>
where
    B: for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>> + Send + Sync + 'static,
    S: Sink + 'static,
{
    if workers == 0 {
        return Err("-w must be at least 1".into());
    }
    let config = timely::Config::process(workers);
    let build = Arc::new(build);
    let sink = Arc::new(Mutex::new(Some(sink)));
    let feed = Arc::new(Mutex::new(Some(feed)));
    // Worker 0's input frontier, for the others to follow; set when the feed has ended.
    let frontier = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicBool::new(false));
    // The other workers' threads, for worker 0 to wake when its frontier moves.
    let threads: Arc<Mutex<Vec<Thread>>> = Arc::new(Mutex::new(Vec::new()));
    let guards = timely::execute(config, move |worker| {
        let index = worker.index();
        let captured: Captured = Rc::new(RefCell::new(Vec::new()));
        let notes: Rc<RefCell<Vec<Row>>> = Rc::new(RefCell::new(Vec::new()));
        let (mut handles, note_input, probe) =
            build_dataflow(worker, inputs, &*build, &captured, &notes);
        drop(note_input);
        let mut now: Time = 0;
        let advance = |handles: &mut Vec<Inputs>, to: Time| {
            for h in handles.iter_mut() {
                h.advance_to(to);
                h.flush();
            }
        };
        if index != 0 {
            if let Ok(mut t) = threads.lock() {
                t.push(std::thread::current());
            }
            // Follow worker 0's frontier until the feed ends.
            loop {
                let to = frontier.load(Ordering::Acquire);
                if to > now {
                    now = to;
                    advance(&mut handles, now);
                }
                if ended.load(Ordering::Acquire) {
                    break;
                }
                worker.step_or_park(Some(IDLE_WAIT));
            }
        } else {
            let mut sink: Option<S> = sink.lock().ok().and_then(|mut s| s.take());
            let feed: Option<Receiver<Vec<Msg>>> = feed.lock().ok().and_then(|mut f| f.take());
            // Ticks closed but not yet through the probe: (last closed tick, when, updates).
            let mut pending: VecDeque<(Time, Instant, u64)> = VecDeque::new();
            let mut fed: u64 = 0;
            let wake = |threads: &Arc<Mutex<Vec<Thread>>>| {
                if let Ok(t) = threads.lock() {
                    for th in t.iter() {
                        th.unpark();
                    }
                }
            };
            if let Some(feed) = feed {
                let mut apply =
                    |batch: Vec<Msg>,
                     handles: &mut Vec<Inputs>,
                     now: &mut Time,
                     pending: &mut VecDeque<(Time, Instant, u64)>| {
                        for m in batch {
                            match m {
                                Msg::Update {
                                    input,
                                    tick,
                                    row,
                                    diff,
                                } => {
                                    if let Some(h) = handles.get_mut(input) {
                                        h.update_at(row, tick.max(*now), diff);
                                        fed += 1;
                                    }
                                }
                                Msg::Advance(to) if to > *now => {
                                    advance(handles, to);
                                    pending.push_back((to - 1, Instant::now(), fed));
                                    *now = to;
                                    frontier.store(to, Ordering::Release);
                                    wake(&threads);
                                }
                                Msg::Advance(_) => {}
                            }
                        }
                    };
                'feed: loop {
                    // Take what has come; wait for more only when the dataflow is idle.
                    let mut got = false;
                    loop {
                        match feed.try_recv() {
                            Ok(batch) => {
                                apply(batch, &mut handles, &mut now, &mut pending);
                                got = true;
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => break 'feed,
                        }
                    }
                    if !got && pending.is_empty() {
                        match feed.recv_timeout(IDLE_WAIT) {
                            Ok(batch) => apply(batch, &mut handles, &mut now, &mut pending),
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => break 'feed,
                        }
                    }
                    worker.step();
                    if let Some(s) = sink.as_mut() {
                        settle(&mut pending, &probe, s, &captured);
                    }
                }
            }
            ended.store(true, Ordering::Release);
            wake(&threads);
            // Closing the inputs lets every scheduled change (a row leaving a window after
            // the last record) come out.
            handles.clear();
            while !probe.done() {
                worker.step_or_park(Some(Duration::from_millis(10)));
                if let Some(s) = sink.as_mut() {
                    settle(&mut pending, &probe, s, &captured);
                }
            }
            if let Some(s) = sink.as_mut() {
                settle(&mut pending, &probe, s, &captured);
                drain(&captured, None, s);
            }
            return;
        }
        handles.clear();
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(10)));
        }
    })
    .map_err(|e| format!("starting the workers: {e}"))?;
    for r in guards.join() {
        r.map_err(|e| format!("a worker failed: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use std::sync::mpsc;

    /// Keeps every change and every closed tick.
    type Kept = (Vec<(Time, Row, i64)>, Vec<Time>);

    #[derive(Clone, Default)]
    struct Keep(Arc<Mutex<Kept>>);

    impl Sink for Keep {
        fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>) {
            if let Ok(mut k) = self.0.lock() {
                k.0.extend(changes.into_iter().map(|(_, r, d)| (tick, r, d)));
            }
        }
        fn tick_done(&mut self, tick: Time, _records: u64, _latency: Duration) {
            if let Ok(mut k) = self.0.lock() {
                k.1.push(tick);
            }
        }
    }

    fn row(s: &str) -> Row {
        vec![Value::str(s)]
    }

    /// Counts the rows of input 0 per value, as `(value, count)` rows.
    fn counts(inputs: Vec<Rows<'_>>) -> Vec<Rows<'_>> {
        inputs
            .into_iter()
            .take(1)
            .map(|c| {
                c.map(|r| (r, ()))
                    .reduce(|_k, input, out| {
                        let n: isize = input.iter().map(|(_, d)| *d).sum();
                        out.push((n as i64, 1));
                    })
                    .map(|(mut r, n)| {
                        r.push(Value::Long(n));
                        r
                    })
            })
            .collect()
    }

    fn run(workers: usize, batches: Vec<Vec<Msg>>) -> (Vec<(Time, Row, i64)>, Vec<Time>) {
        let (tx, rx) = mpsc::channel();
        let keep = Keep::default();
        let kept = keep.0.clone();
        let feeder = std::thread::spawn(move || {
            for b in batches {
                if tx.send(b).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        run_stream(workers, 1, rx, counts, keep).unwrap();
        feeder.join().unwrap();
        kept.lock().unwrap().clone()
    }

    fn up(tick: Time, s: &str, diff: isize) -> Msg {
        Msg::Update {
            input: 0,
            tick,
            row: row(s),
            diff,
        }
    }

    #[test]
    fn closed_ticks_come_out_in_order_and_late_updates_enter_at_the_open_tick() {
        for workers in [1, 3] {
            let (changes, ticks) = run(
                workers,
                vec![
                    vec![up(10, "a", 1), up(12, "a", 1), Msg::Advance(11)],
                    // Tick 5 is closed: this update enters at the open tick, 11.
                    vec![up(5, "b", 1), Msg::Advance(20)],
                    vec![up(20, "a", -1)],
                ],
            );
            let with = |r: &str, n: i64| {
                let mut x = row(r);
                x.push(Value::Long(n));
                x
            };
            assert_eq!(
                changes,
                vec![
                    (10, with("a", 1), 1),
                    (11, with("b", 1), 1),
                    (12, with("a", 1), -1),
                    (12, with("a", 2), 1),
                    (20, with("a", 1), 1),
                    (20, with("a", 2), -1),
                ],
                "{workers} workers"
            );
            assert_eq!(ticks, vec![10, 19], "{workers} workers");
        }
    }

    #[test]
    fn an_empty_feed_ends_at_once() {
        let (changes, ticks) = run(2, vec![]);
        assert!(changes.is_empty());
        assert!(ticks.is_empty());
    }
}
