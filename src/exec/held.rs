//! Updates held until a later tick, as a temporal filter holds a window's future: a queue that
//! is cheap when updates come in tick order (as a window's retractions do, each a fixed span
//! after its record) and still right when they do not.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use timely::dataflow::operators::{Capability, InputCapability};

use crate::model::Row;
use crate::runtime::Time;

/// Makes sure `cap`, the one capability an operator holds for its pending output, is at or
/// before `at`, taking a new one from `from` (the capability of a message whose updates are
/// due no earlier than `at`) when it is not.
pub(super) fn hold_from(
    cap: &mut Option<Capability<Time>>,
    from: &InputCapability<Time>,
    at: Time,
) {
    if cap.as_ref().is_none_or(|c| *c.time() > at) {
        *cap = Some(from.delayed(&at, 0));
    }
}

/// Moves `cap` to `first`, the earliest tick still pending, or drops it when nothing is.
pub(super) fn hold_at(cap: &mut Option<Capability<Time>>, first: Option<Time>) {
    match (first, cap.as_mut()) {
        (Some(first), Some(c)) => c.downgrade(&first),
        _ => *cap = None,
    }
}

/// One held update: the row, its multiplicity change, and the tick it is due at.
struct Update {
    at: Time,
    row: Row,
    diff: isize,
}

impl PartialEq for Update {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Update {}

impl PartialOrd for Update {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Update {
    /// By due tick only: the order updates of one tick come out in does not matter.
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

/// Updates by the tick they are due at, least first. An update due no earlier than the last
/// one pushed in order is appended to a queue (O(1), no per-tick container); any other goes to
/// a heap (O(log n)).
#[derive(Default)]
pub(super) struct Held {
    in_order: VecDeque<Update>,
    out_of_order: BinaryHeap<Reverse<Update>>,
}

impl Held {
    /// Holds `row` with `diff` until tick `at`.
    pub(super) fn push(&mut self, at: Time, row: Row, diff: isize) {
        let update = Update { at, row, diff };
        match self.in_order.back() {
            Some(last) if last.at > at => self.out_of_order.push(Reverse(update)),
            _ => self.in_order.push_back(update),
        }
    }

    /// The earliest tick an update is due at.
    pub(super) fn first(&self) -> Option<Time> {
        match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(a), Some(Reverse(b))) => Some(a.at.min(b.at)),
            (Some(a), None) => Some(a.at),
            (None, Some(Reverse(b))) => Some(b.at),
            (None, None) => None,
        }
    }

    /// Takes the earliest update when it is due at or before `upto` (any, with `None`).
    pub(super) fn pop_due(&mut self, upto: Option<Time>) -> Option<(Time, Row, isize)> {
        let first = self.first()?;
        if upto.is_some_and(|u| first > u) {
            return None;
        }
        let from_queue = self.in_order.front().is_some_and(|a| a.at == first);
        let u = if from_queue {
            self.in_order.pop_front()?
        } else {
            self.out_of_order.pop()?.0
        };
        Some((u.at, u.row, u.diff))
    }

    /// True when nothing is held.
    pub(super) fn is_empty(&self) -> bool {
        self.in_order.is_empty() && self.out_of_order.is_empty()
    }
}

/// The capacity of a waiting queue kept between bursts.
const SPARE: usize = 1024;

/// Changes waiting for the input frontier to pass their tick, as a keyed operator holds its
/// input: one flat vector rather than a collection per tick, since they come almost always in
/// tick order and a tick rarely holds more than a few. [`Waiting::drain_due`] hands the due
/// ones out sorted by tick, each tick's in arrival order.
pub(super) struct Waiting<T> {
    items: Vec<(Time, T)>,
    /// True while `items` is in tick order.
    sorted: bool,
}

impl<T> Default for Waiting<T> {
    fn default() -> Waiting<T> {
        Waiting {
            items: Vec::new(),
            sorted: true,
        }
    }
}

impl<T> Waiting<T> {
    /// Holds `item` until tick `at` is due.
    pub(super) fn push(&mut self, at: Time, item: T) {
        if self.items.last().is_some_and(|(last, _)| *last > at) {
            self.sorted = false;
        }
        self.items.push((at, item));
    }

    /// The earliest tick held.
    pub(super) fn first(&mut self) -> Option<Time> {
        self.sort();
        self.items.first().map(|(t, _)| *t)
    }

    /// Takes every item whose tick is due out of the queue, sorted by tick, each tick's in
    /// arrival order. `due` must hold for every tick below some bound and for none at or above
    /// it, as "the frontier has passed it" does. Call [`Waiting::trim`] once they are applied.
    pub(super) fn drain_due(
        &mut self,
        due: impl Fn(Time) -> bool,
    ) -> std::vec::Drain<'_, (Time, T)> {
        self.sort();
        let split = self.items.partition_point(|(t, _)| due(*t));
        self.items.drain(..split)
    }

    /// Gives back the room a burst took (the end of a run releases every window's
    /// retractions at once), so that it is not held for the rest of the run.
    pub(super) fn trim(&mut self) {
        if self.items.capacity() > SPARE && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.items.sort_by_key(|(t, _)| *t);
            self.sorted = true;
        }
    }
}

/// The changes of tick `time` that follow the first one taken from `changes` (sorted by
/// tick, as [`Waiting::drain_due`] hands them out), up to the next tick's first.
pub(super) fn rest_of_tick<'a, T, I: Iterator<Item = (Time, T)>>(
    changes: &'a mut std::iter::Peekable<I>,
    time: Time,
) -> impl Iterator<Item = T> + 'a {
    std::iter::from_fn(move || changes.next_if(|(t, _)| *t == time).map(|(_, c)| c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use proptest::prelude::*;

    proptest! {
        /// Updates come out in due order, each once, whatever order they went in, and only
        /// once due.
        #[test]
        fn comes_out_in_due_order(ats in prop::collection::vec(0u64..50, 0..60), cut in 0u64..60) {
            let mut held = Held::default();
            for (i, &at) in ats.iter().enumerate() {
                held.push(at, vec![Value::Long(i as i64)], 1);
            }
            let mut out = Vec::new();
            while let Some((at, row, _)) = held.pop_due(Some(cut)) {
                out.push((at, row));
            }
            prop_assert!(out.iter().all(|(at, _)| *at <= cut));
            prop_assert!(held.first().is_none_or(|f| f > cut));
            while let Some((at, row, _)) = held.pop_due(None) {
                out.push((at, row));
            }
            prop_assert!(held.is_empty());
            prop_assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut got: Vec<i64> = out
                .iter()
                .map(|(_, r)| match r[0] { Value::Long(i) => i, _ => -1 })
                .collect();
            got.sort();
            prop_assert_eq!(got, (0..ats.len() as i64).collect::<Vec<_>>());
        }
    }
}
