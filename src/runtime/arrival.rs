//! Arrival order and late records.
//!
//! Live, records do not come in event-time order: each log file (an export, a tail of a
//! diagnostic stream) is an arrival stream in its own line order, and Entra ID sign-in and
//! audit logs arrive minutes late. The input watermark trails the newest event time seen by the
//! allowed lateness: `W = newest − lateness`. A record whose event time `t` is before `W` is
//! late. Ticks before `W` are closed (every record of them that is not late has arrived), so a
//! record enters the dataflow at the tick of `max(t, W)`: its own tick when it is on time, the
//! watermark's tick (the current tick, which is still open) when it is late. Its row is not
//! changed: a late record keeps its `TimeGenerated`.
//!
//! [`arrival_order`] interleaves several streams as a live tail of them would see them;
//! [`Watermark`] (and [`entries`], its pure form over a whole sequence) gives each record its
//! entry tick.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Time, tick_of};

/// What is done with a late record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatePolicy {
    /// It enters at the watermark's tick, its row unchanged (the default).
    #[default]
    Accept,
    /// It is not fed: it goes to the rejects.
    Reject,
}

/// Where one record enters the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// On time (not before the watermark): at the tick of its own event time.
    OnTime(Time),
    /// Late and accepted: at the tick of the watermark it arrived behind.
    Late {
        /// The tick it enters at: the first tick at or after `watermark`.
        tick: Time,
        /// The watermark when it arrived, in 100 ns units since the epoch.
        watermark: i64,
    },
    /// Late and rejected: not fed.
    Rejected {
        /// The watermark when it arrived, in 100 ns units since the epoch.
        watermark: i64,
    },
    /// Too far ahead of the clock or of the stream to be believed (a record stamped years
    /// ahead): not fed, and the watermark does not move, so later records are not made late.
    Future {
        /// The time it was measured against: the wall clock, or the newest event time seen.
        reference: i64,
    },
}

impl Entry {
    /// The tick the record enters at; `None` when it is rejected.
    pub fn tick(self) -> Option<Time> {
        match self {
            Entry::OnTime(t) | Entry::Late { tick: t, .. } => Some(t),
            Entry::Rejected { .. } | Entry::Future { .. } => None,
        }
    }

    /// Whether the record was late (whether it was accepted or rejected).
    pub fn is_late(self) -> bool {
        matches!(self, Entry::Late { .. } | Entry::Rejected { .. })
    }
}

/// The input watermark of one arrival stream: it trails the newest event time seen by the
/// allowed lateness, and tells each record, as it arrives, where it enters.
#[derive(Clone, Debug)]
pub struct Watermark {
    lateness: i64,
    tick: i64,
    policy: LatePolicy,
    newest: Option<i64>,
    /// How far ahead of the wall clock, and of the newest event time seen, a record may be.
    max_ahead: Option<i64>,
    /// The wall clock when last read: a record before it plus `max_ahead` needs no new
    /// reading (the clock only moves on), so the clock is read only for records ahead of it.
    wall: std::cell::Cell<i64>,
}

/// The wall clock, in 100 ns units since the epoch.
pub fn wall_clock() -> i64 {
    chrono::Utc::now().timestamp_micros().saturating_mul(10)
}

impl Watermark {
    /// A watermark trailing the newest event time by `lateness` (100 ns units; a negative one
    /// counts as 0), for a dataflow whose ticks are `tick` long, treating late records as
    /// `policy` says. No record has been seen yet.
    pub fn new(lateness: i64, tick: i64, policy: LatePolicy) -> Watermark {
        Watermark {
            lateness: lateness.max(0),
            tick: tick.max(1),
            policy,
            newest: None,
            max_ahead: None,
            wall: std::cell::Cell::new(i64::MIN),
        }
    }

    /// The same watermark, refusing records more than `max_ahead` (100 ns units) ahead of the
    /// wall clock or of the newest event time seen (see [`Entry::Future`]).
    pub fn with_max_ahead(mut self, max_ahead: i64) -> Watermark {
        self.max_ahead = Some(max_ahead.max(0));
        self
    }

    /// Whether a record at `t` is too far ahead to believe: the time it is measured against.
    fn ahead(&self, t: i64) -> Option<i64> {
        let m = self.max_ahead?;
        if t > self.wall.get().saturating_add(m) {
            self.wall.set(wall_clock());
            if t > self.wall.get().saturating_add(m) {
                return Some(self.wall.get());
            }
        }
        self.newest.filter(|n| t > n.saturating_add(m))
    }

    /// The watermark now: the newest event time seen minus the allowed lateness; `None`
    /// before the first record.
    pub fn current(&self) -> Option<i64> {
        self.newest.map(|n| n.saturating_sub(self.lateness))
    }

    /// The newest event time seen so far.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Moves the watermark up as if a record with event time `t` had arrived (a clock
    /// saying event time has reached `t`), without a record.
    pub fn observe(&mut self, t: i64) {
        self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
    }

    /// Takes the next record to arrive, with event time `t`, and says where it enters: at
    /// the tick of `t` when `t` is not before the watermark (the watermark as it was before
    /// this record: a record never makes itself late), else at the watermark's tick, or
    /// nowhere under [`LatePolicy::Reject`]. The watermark then moves up to `t − lateness` if
    /// that is later. With a bound ([`Watermark::with_max_ahead`]), a record too far ahead
    /// is [`Entry::Future`] and moves nothing.
    pub fn admit(&mut self, t: i64) -> Entry {
        if let Some(reference) = self.ahead(t) {
            return Entry::Future { reference };
        }
        let w = self.current();
        self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        match w {
            Some(w) if t < w => match self.policy {
                LatePolicy::Accept => Entry::Late {
                    tick: tick_of(w, self.tick),
                    watermark: w,
                },
                LatePolicy::Reject => Entry::Rejected { watermark: w },
            },
            _ => Entry::OnTime(tick_of(t, self.tick)),
        }
    }
}

/// The entry of each record of `times` (event times in arrival order, 100 ns units) under a
/// watermark trailing the newest by `lateness`, with ticks `tick` long: see
/// [`Watermark::admit`].
pub fn entries(
    times: impl IntoIterator<Item = i64>,
    lateness: i64,
    tick: i64,
    policy: LatePolicy,
) -> Vec<Entry> {
    let mut w = Watermark::new(lateness, tick, policy);
    times.into_iter().map(|t| w.admit(t)).collect()
}

/// The order in which a live tail of several arrival streams sees their records: each
/// stream's records in their own order, the streams interleaved by a k-way merge that always
/// takes next the stream whose next record has the least event time (ties: the stream that
/// comes first). `streams[s]` are stream `s`'s event times in its order; the result lists
/// every record once as (stream, position in the stream).
///
/// A stream in event-time order merges into its place; a record that is behind others of its
/// own stream comes after them, as it would live.
pub fn arrival_order(streams: &[&[i64]]) -> Vec<(usize, usize)> {
    let total = streams.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(total);
    let mut next = vec![0usize; streams.len()];
    let mut heads: BinaryHeap<Reverse<(i64, usize)>> = streams
        .iter()
        .enumerate()
        .filter_map(|(s, times)| times.first().map(|&t| Reverse((t, s))))
        .collect();
    while let Some(Reverse((_, s))) = heads.pop() {
        let Some(times) = streams.get(s) else {
            continue;
        };
        let i = next[s];
        out.push((s, i));
        next[s] = i + 1;
        if let Some(&t) = times.get(i + 1) {
            heads.push(Reverse((t, s)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S};

    const T0: i64 = 1_714_550_400 * S; // 2024-05-01T08:00:00Z
    const L: i64 = 5 * MIN;

    fn ticks(e: &[Entry]) -> Vec<Option<Time>> {
        e.iter().map(|e| e.tick()).collect()
    }

    #[test]
    fn in_order_records_enter_at_their_own_tick() {
        let times = [T0, T0 + S / 2, T0 + MIN, T0 + 10 * MIN];
        let e = entries(times, L, S, LatePolicy::Accept);
        assert!(e.iter().all(|e| !e.is_late()), "{e:?}");
        assert_eq!(
            ticks(&e),
            vec![
                Some(T0 as Time),
                Some((T0 + S) as Time),
                Some((T0 + MIN) as Time),
                Some((T0 + 10 * MIN) as Time)
            ]
        );
    }

    #[test]
    fn behind_within_the_lateness_is_not_late() {
        // 4m59s behind the newest, and exactly at the watermark (5m behind): both on time.
        let times = [T0 + 10 * MIN, T0 + 5 * MIN + S, T0 + 5 * MIN];
        let e = entries(times, L, S, LatePolicy::Accept);
        assert_eq!(
            e,
            vec![
                Entry::OnTime((T0 + 10 * MIN) as Time),
                Entry::OnTime((T0 + 5 * MIN + S) as Time),
                Entry::OnTime((T0 + 5 * MIN) as Time),
            ]
        );
    }

    #[test]
    fn beyond_the_lateness_enters_at_the_watermarks_tick() {
        // The newest is 08:10; a record of 08:00 is 10 minutes behind: the watermark is 08:05,
        // and the record enters at 08:05, after the ticks that are closed.
        let times = [T0, T0 + 10 * MIN, T0, T0 + 10 * MIN + S];
        let e = entries(times, L, S, LatePolicy::Accept);
        assert_eq!(
            e[2],
            Entry::Late {
                tick: (T0 + 5 * MIN) as Time,
                watermark: T0 + 5 * MIN
            }
        );
        assert_eq!(e.iter().filter(|e| e.is_late()).count(), 1);
        assert_eq!(e[3], Entry::OnTime((T0 + 10 * MIN + S) as Time));
        // One tick behind the watermark: late even when the tick is still open.
        let e = entries([T0 + 10 * MIN, T0 + 5 * MIN - 1], L, S, LatePolicy::Accept);
        assert_eq!(
            e[1],
            Entry::Late {
                tick: (T0 + 5 * MIN) as Time,
                watermark: T0 + 5 * MIN
            }
        );
    }

    #[test]
    fn a_late_record_never_enters_before_a_closed_tick() {
        // A watermark between ticks: the late record enters at the first tick at or after it
        // (ticks of a minute; the watermark 08:05:30 rounds up to 08:06).
        let times = [T0 + 10 * MIN + 30 * S, T0];
        let e = entries(times, L, MIN, LatePolicy::Accept);
        assert_eq!(e[1].tick(), Some((T0 + 6 * MIN) as Time));
        // For any arrival sequence, the entry tick is the tick of max(t, W), never before the
        // watermark, and a record not late keeps its own tick.
        let times = [
            T0,
            T0 + 7 * MIN,
            T0 + 3 * MIN,
            T0 + MIN,
            T0 + 20 * MIN,
            T0 + 2 * MIN,
            T0 + 16 * MIN,
        ];
        let e = entries(times, L, MIN, LatePolicy::Accept);
        let mut newest = i64::MIN;
        for (t, e) in times.iter().zip(&e) {
            let w = newest.saturating_sub(L);
            let expected = tick_of((*t).max(w), MIN);
            assert_eq!(e.tick(), Some(expected), "{t} {e:?}");
            assert_eq!(e.is_late(), *t < w);
            newest = newest.max(*t);
        }
    }

    #[test]
    fn reject_policy_rejects_only_the_late() {
        let times = [T0, T0 + 10 * MIN, T0, T0 + 6 * MIN];
        let e = entries(times, L, S, LatePolicy::Reject);
        assert_eq!(
            e,
            vec![
                Entry::OnTime(T0 as Time),
                Entry::OnTime((T0 + 10 * MIN) as Time),
                Entry::Rejected {
                    watermark: T0 + 5 * MIN
                },
                Entry::OnTime((T0 + 6 * MIN) as Time),
            ]
        );
        assert_eq!(e[2].tick(), None);
        assert!(e[2].is_late());
    }

    #[test]
    fn the_watermark_only_moves_up() {
        // The watermark only moves up: a rejected record does not lower it, and a later
        // record is judged against the newest time seen.
        let mut w = Watermark::new(L, S, LatePolicy::Reject);
        assert_eq!(w.current(), None);
        w.admit(T0 + 10 * MIN);
        w.admit(T0);
        assert_eq!(w.newest(), Some(T0 + 10 * MIN));
        assert_eq!(w.current(), Some(T0 + 5 * MIN));
    }

    #[test]
    fn equal_times_are_never_late() {
        let times = [T0, T0, T0, T0 + 10 * MIN, T0 + 10 * MIN];
        let e = entries(times, 0, S, LatePolicy::Accept);
        assert!(e.iter().all(|e| !e.is_late()), "{e:?}");
        // With no lateness allowed, anything behind the newest is late.
        let e = entries([T0 + S, T0], 0, S, LatePolicy::Accept);
        assert!(e[1].is_late());
    }

    #[test]
    fn lateness_wide_enough_makes_nothing_late() {
        let times = [T0, T0 + 10 * MIN, T0, T0 + 59 * MIN, T0 + MIN];
        let e = entries(times, 60 * MIN, S, LatePolicy::Accept);
        assert!(e.iter().all(|e| !e.is_late()), "{e:?}");
    }

    #[test]
    fn a_record_far_ahead_is_refused_and_moves_nothing() {
        const H: i64 = 3600 * 10_000_000;
        let now = wall_clock();
        let mut w =
            Watermark::new(5 * 60 * 10_000_000, S, LatePolicy::Accept).with_max_ahead(24 * H);
        assert!(matches!(w.admit(now - 10 * H), Entry::OnTime(_)));
        // Years ahead of the wall clock: refused; the next record is not late.
        let far = now + 4 * 365 * 24 * H;
        assert!(matches!(w.admit(far), Entry::Future { .. }));
        assert!(matches!(w.admit(now - 9 * H), Entry::OnTime(_)));
        // More than a day ahead of the stream (an archive from years ago): refused too.
        let mut old = Watermark::new(0, S, LatePolicy::Accept).with_max_ahead(24 * H);
        let t0 = 1_714_557_600 * 10_000_000;
        assert!(matches!(old.admit(t0), Entry::OnTime(_)));
        assert!(matches!(old.admit(t0 + 30 * H), Entry::Future { .. }));
        assert!(matches!(old.admit(t0 + 20 * H), Entry::OnTime(_)));
        // Without a bound, as before.
        let mut free = Watermark::new(0, S, LatePolicy::Accept);
        free.admit(t0);
        assert!(matches!(free.admit(far), Entry::OnTime(_)));
        assert!(free.admit(t0 + H).is_late());
    }

    #[test]
    fn merge_takes_the_least_next_time_ties_by_stream() {
        // Two files: a's third record is 10 minutes behind; b is in order.
        let a = [T0, T0 + 10 * MIN, T0, T0 + 20 * MIN];
        let b = [T0, T0 + 5 * MIN, T0 + 12 * MIN];
        let order = arrival_order(&[&a, &b]);
        assert_eq!(
            order,
            vec![
                (0, 0), // a T0 (tie with b: stream a first)
                (1, 0), // b T0
                (1, 1), // b +5
                (0, 1), // a +10
                (0, 2), // a T0, behind in its own file
                (1, 2), // b +12
                (0, 3), // a +20
            ]
        );
        let times: Vec<i64> = order
            .iter()
            .map(|&(s, i)| if s == 0 { a[i] } else { b[i] })
            .collect();
        let e = entries(times, L, S, LatePolicy::Accept);
        let late: Vec<(usize, usize)> = order
            .iter()
            .zip(&e)
            .filter(|(_, e)| e.is_late())
            .map(|(o, _)| *o)
            .collect();
        assert_eq!(late, vec![(0, 2)]);
    }

    #[test]
    fn merge_of_sorted_streams_is_event_time_order() {
        let a = [T0, T0 + 2 * S, T0 + 4 * S];
        let b = [T0 + S, T0 + 2 * S, T0 + 3 * S];
        let c: [i64; 0] = [];
        let order = arrival_order(&[&a, &c, &b]);
        assert_eq!(order, vec![(0, 0), (2, 0), (0, 1), (2, 1), (2, 2), (0, 2)]);
        assert_eq!(arrival_order(&[]), Vec::<(usize, usize)>::new());
    }

    #[test]
    fn within_one_stream_order_is_line_order() {
        let a = [T0 + 3 * S, T0 + S, T0 + 2 * S, T0 + S];
        assert_eq!(arrival_order(&[&a]), vec![(0, 0), (0, 1), (0, 2), (0, 3)]);
    }
}
