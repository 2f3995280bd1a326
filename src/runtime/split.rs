//! Dataflows that share nothing, run side by side: each group of rules on its own thread as a
//! one-worker timely computation, their outputs merged into one change stream in tick order.
//!
//! Workers of one timely computation agree on every frontier: each batch of ticks handed to
//! the inputs is announced to every worker, and a worker's operators wait until every other
//! worker's inputs have moved past a tick. When each rule of a pack runs wholly on one worker
//! (see [`crate::exec::placement`]), no row crosses between workers after it is fed, yet that
//! agreement still ties their progress together. Run instead as separate computations, one per
//! worker, each group of rules goes at its own pace, and the only thing shared is the merge of
//! their outputs here.
//!
//! The merged stream is what one dataflow computing every group's outputs would give its
//! [`Sink`]: the notes first, then, tick by tick, the changes of every output at that tick
//! (ordered by output), then the tick's report. A tick is reported once every group has
//! passed it, so the slowest group decides when. Every group passes every tick at which any
//! group is fed a record (the others with no record of theirs, see [`super::live::NO_INPUT`]),
//! and a tick's latency runs from the last moment a group handed it to its inputs: when the
//! tick's last record was handed, as on one dataflow.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::live::{Feed, Sink, Speed, run_live};
use super::{ClusterOptions, Rows, Time};
use crate::model::Row;

/// One group of a split run: its dataflow's input count, what it is fed, how it is built,
/// and the index in the merged stream of each of its outputs.
pub struct Group<B> {
    /// The dataflow's inputs (see [`run_live`]).
    pub inputs: usize,
    /// The group's records and constant changes.
    pub feed: Feed,
    /// Builds the group's outputs from its inputs.
    pub build: B,
    /// Output `i` of the group is output `outputs[i]` of the merged stream.
    pub outputs: Vec<usize>,
}

/// Runs each of `groups` as its own one-worker dataflow on its own thread (ticks of `tick`
/// event-time units, handed at `speed`), and reports their outputs, merged, to `sink`:
/// `notes` first, then every change and tick report in tick order, as one dataflow computing
/// all the outputs would. `ticks` holds the tick of every record fed (of all groups, each
/// record once), from which each tick report's count of records so far is taken. Returns once
/// every group is done, with the first group's error if any failed.
pub fn run_split<B, S>(
    tick: i64,
    speed: Speed,
    groups: Vec<Group<B>>,
    notes: Vec<Row>,
    mut ticks: Vec<Time>,
    mut sink: S,
) -> Result<(), String>
where
    B: for<'scope> Fn(Vec<Rows<'scope>>) -> Vec<Rows<'scope>> + Send + Sync + 'static,
    S: Sink + 'static,
{
    let (tx, rx) = mpsc::channel::<Vec<Message>>();
    let batch = if speed == Speed::Max { BATCH } else { 1 };
    let one = ClusterOptions::default();
    let mut threads = Vec::with_capacity(groups.len());
    let count = groups.len();
    for (g, group) in groups.into_iter().enumerate() {
        let forward = Forward {
            group: g,
            outputs: group.outputs,
            tx: tx.clone(),
            pending: Vec::new(),
            ticks: 0,
            batch,
        };
        let one = one.clone();
        // This thread only prepares the feed and waits for its dataflow's worker (a thread
        // of timely's, with the workers' stack): it needs no more than a default stack.
        let thread = std::thread::Builder::new()
            .name(format!("kqlflow-group-{g}"))
            .stack_size(DRIVER_STACK)
            .spawn(move || {
                run_live(
                    &one,
                    tick,
                    speed,
                    group.inputs,
                    group.feed,
                    group.build,
                    forward,
                )
            })
            .map_err(|e| format!("starting a worker thread: {e}"))?;
        threads.push(thread);
    }
    drop(tx);
    ticks.sort_unstable();
    sink.notes(notes);
    let mut merge = Merge::new(count, ticks);
    for messages in rx {
        for m in messages {
            merge.take(m, &mut sink);
        }
    }
    // Every group's forwarder is gone: whatever is left (a group that failed) is handed as is.
    for g in 0..count {
        merge.take(Message::Finished { group: g }, &mut sink);
    }
    let mut result = Ok(());
    for t in threads {
        let outcome = t
            .join()
            .map_err(|_| super::failure("a worker thread failed"))
            .and_then(|r| r);
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

/// The stack of the thread that starts each group's dataflow and waits for it.
const DRIVER_STACK: usize = 8 << 20;

/// At `--speed max`, each group sends its tick reports (and the changes before them) in
/// batches of this many ticks rather than one message per tick.
const BATCH: usize = 256;

/// What a group tells the merge.
#[derive(Debug)]
enum Message {
    /// Changes of the group's outputs at `tick`, with their merged output indices.
    Changes {
        tick: Time,
        changes: Vec<(usize, Row, i64)>,
    },
    /// The group has passed `tick`, which it handed to its inputs at `handed`: every change
    /// of its outputs up to `tick` has been sent.
    Done {
        group: usize,
        tick: Time,
        handed: Instant,
    },
    /// The group has ended: every change of its outputs has been sent.
    Finished { group: usize },
}

/// The sink of one group: passes its changes, renumbered, and its tick reports to the merge.
struct Forward {
    group: usize,
    outputs: Vec<usize>,
    tx: mpsc::Sender<Vec<Message>>,
    pending: Vec<Message>,
    /// Tick reports in `pending`.
    ticks: usize,
    batch: usize,
}

impl Forward {
    fn send(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.pending));
            self.ticks = 0;
        }
    }
}

impl Sink for Forward {
    fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>) {
        let changes = changes
            .into_iter()
            .map(|(i, row, d)| (self.outputs.get(i).copied().unwrap_or(i), row, d))
            .collect();
        self.pending.push(Message::Changes { tick, changes });
    }

    fn tick_done(&mut self, tick: Time, _records: u64, latency: Duration) {
        let now = Instant::now();
        self.pending.push(Message::Done {
            group: self.group,
            tick,
            handed: now.checked_sub(latency).unwrap_or(now),
        });
        self.ticks += 1;
        if self.ticks >= self.batch {
            self.send();
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.pending.push(Message::Finished { group: self.group });
        self.send();
    }
}

/// The merge of the groups' outputs: holds each tick's changes and report until every group
/// has passed the tick.
struct Merge {
    /// Per group, the last tick it has passed (`None`: none yet; `Time::MAX` once ended).
    passed: Vec<Option<Time>>,
    /// Changes not yet handed, by tick.
    changes: BTreeMap<Time, Vec<(usize, Row, i64)>>,
    /// Ticks some group has reported and not yet handed, with the last moment a group handed
    /// each.
    done: BTreeMap<Time, Instant>,
    /// The tick of every record, ascending, and how many of them are at ticks handed so far.
    ticks: Vec<Time>,
    counted: usize,
}

impl Merge {
    fn new(groups: usize, ticks: Vec<Time>) -> Merge {
        Merge {
            passed: vec![None; groups],
            changes: BTreeMap::new(),
            done: BTreeMap::new(),
            ticks,
            counted: 0,
        }
    }

    /// Takes one message, and hands `sink` every tick that every group has now passed.
    fn take<S: Sink>(&mut self, message: Message, sink: &mut S) {
        match message {
            Message::Changes { tick, changes } => {
                self.changes.entry(tick).or_default().extend(changes)
            }
            Message::Done {
                group,
                tick,
                handed,
            } => {
                let at = self.done.entry(tick).or_insert(handed);
                *at = (*at).max(handed);
                if let Some(p) = self.passed.get_mut(group) {
                    *p = Some(p.map_or(tick, |q| q.max(tick)));
                }
            }
            Message::Finished { group } => {
                if let Some(p) = self.passed.get_mut(group) {
                    *p = Some(Time::MAX);
                }
            }
        }
        self.release(sink);
    }

    /// Hands `sink` the changes and tick reports up to the least tick every group has passed.
    fn release<S: Sink>(&mut self, sink: &mut S) {
        let Some(upto) = self
            .passed
            .iter()
            .try_fold(Time::MAX, |m, p| p.map(|p| m.min(p)))
        else {
            return;
        };
        loop {
            let next_change = self.changes.keys().next().copied().filter(|&t| t <= upto);
            let next_done = self.done.keys().next().copied().filter(|&t| t <= upto);
            let t = match (next_change, next_done) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if let Some(mut changes) = self.changes.remove(&t) {
                // Each output's changes come from one group, already ordered.
                changes.sort_by_key(|c| c.0);
                sink.changes(t, changes);
            }
            if let Some(handed) = self.done.remove(&t) {
                while self.ticks.get(self.counted).is_some_and(|&r| r <= t) {
                    self.counted += 1;
                }
                sink.tick_done(t, self.counted as u64, handed.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    /// A sink that records what it is told, in order.
    #[derive(Default)]
    struct Record {
        seen: Vec<String>,
        latencies: Vec<Duration>,
    }

    impl Sink for Record {
        fn notes(&mut self, notes: Vec<Row>) {
            self.seen.push(format!("notes {}", notes.len()));
        }
        fn changes(&mut self, tick: Time, changes: Vec<(usize, Row, i64)>) {
            let outs: Vec<String> = changes
                .iter()
                .map(|(i, r, d)| format!("{i}:{:?}:{d}", r.first()))
                .collect();
            self.seen.push(format!("changes {tick} {}", outs.join(",")));
        }
        fn tick_done(&mut self, tick: Time, records: u64, latency: Duration) {
            self.seen.push(format!("done {tick} {records}"));
            self.latencies.push(latency);
        }
    }

    fn change(_group: usize, tick: Time, output: usize, v: i64) -> Message {
        Message::Changes {
            tick,
            changes: vec![(output, vec![Value::Long(v)], 1)],
        }
    }

    fn done(group: usize, tick: Time) -> Message {
        Message::Done {
            group,
            tick,
            handed: Instant::now(),
        }
    }

    #[test]
    fn a_tick_waits_for_every_group_and_comes_out_in_order() {
        let mut sink = Record::default();
        // Records at ticks 1, 1, 2, 5.
        let mut merge = Merge::new(2, vec![1, 1, 2, 5]);
        merge.take(change(0, 1, 3, 10), &mut sink);
        merge.take(done(0, 1), &mut sink);
        merge.take(done(0, 2), &mut sink);
        // Group 1 has passed nothing: nothing is handed.
        assert!(sink.seen.is_empty());
        merge.take(change(1, 1, 0, 20), &mut sink);
        merge.take(done(1, 1), &mut sink);
        // Tick 1 is passed by both: its changes, ordered by output, then its report.
        assert_eq!(
            sink.seen,
            vec![
                "changes 1 0:Some(Long(20)):1,3:Some(Long(10)):1",
                "done 1 2"
            ]
        );
        // A change at a tick no record has (a window closing) and group 1 going ahead.
        merge.take(change(1, 4, 0, 21), &mut sink);
        merge.take(done(1, 5), &mut sink);
        assert_eq!(sink.seen.len(), 3, "{:?}", sink.seen);
        assert_eq!(sink.seen[2], "done 2 3");
        merge.take(Message::Finished { group: 0 }, &mut sink);
        assert_eq!(
            &sink.seen[3..],
            &["changes 4 0:Some(Long(21)):1", "done 5 4"]
        );
        // Nothing is handed twice.
        merge.take(Message::Finished { group: 1 }, &mut sink);
        assert_eq!(sink.seen.len(), 5);
    }

    #[test]
    fn a_tick_reported_by_two_groups_is_handed_once_timed_from_its_last_handing() {
        let mut sink = Record::default();
        let mut merge = Merge::new(2, vec![7, 7]);
        let long_ago = Instant::now() - Duration::from_secs(600);
        merge.take(
            Message::Done {
                group: 0,
                tick: 7,
                handed: long_ago,
            },
            &mut sink,
        );
        merge.take(done(1, 7), &mut sink);
        assert_eq!(sink.seen, vec!["done 7 2"]);
        // Group 1 handed the tick just now: that is when its last record went in.
        assert!(
            sink.latencies[0] < Duration::from_secs(300),
            "{:?}",
            sink.latencies
        );
    }
}
