//! Temporal filters: each update moved to the ticks during which its row passes the
//! query's time bounds, with what is due later held until the frontier reaches it.

use super::*;

/// How many held updates a temporal filter releases per activation once its input has ended,
/// so that the retractions due after the last record flow out in bounded chunks rather than
/// all at once.
pub(super) const RELEASE_CHUNK: usize = 16 * 1024;

/// Moves every update of `rows` to the interval of ticks during which its row passes the
/// temporal bounds: an insertion at the first tick it is in the window, a retraction at the
/// first tick it is out.
///
/// Updates due at a later tick (a window's retraction, or an insertion that waits for a
/// `<= ago(x)` bound) are held here, by tick, under one capability at the earliest of them, and
/// let out once the input frontier reaches their tick. Downstream arrangements then never hold
/// (and re-sort at every step) the window's future; once the input has ended, what is held is
/// let out tick by tick in chunks of [`RELEASE_CHUNK`].
pub(super) fn temporal_filter<'scope>(
    rows: Rows<'scope>,
    bounds: &[TemporalBound],
    tick: i64,
) -> Rows<'scope> {
    let column = bounds.first().map_or(0, |b| b.column);
    let tb: Vec<(TimeBound, i64)> = bounds.iter().map(|b| (time_bound(b), b.align)).collect();
    let any_aligned = tb.iter().any(|(_, a)| *a > 0);
    let plain: Vec<TimeBound> = tb.iter().map(|(b, _)| *b).collect();
    let scope = rows.inner.scope();
    rows.inner
        .unary_frontier(Pipeline, "TemporalFilter", move |_, info| {
            let activator = scope.activator_for(info.address);
            // Updates due later, by tick, and a capability at the earliest of those ticks.
            let mut held = held::Held::default();
            let mut cap: Option<timely::dataflow::operators::Capability<Time>> = None;
            move |(input, frontier), output| {
                input.for_each(|in_cap, data| {
                    let Some(&now) = in_cap.least() else {
                        return;
                    };
                    let mut session = output.session(&in_cap);
                    for (row, t, diff) in data.drain(..) {
                        let Some(Value::DateTime(value)) = row.get(column) else {
                            continue;
                        };
                        let found = if any_aligned {
                            let each: Vec<(TimeBound, i64)> = tb
                                .iter()
                                .map(|(b, align)| aligned(*b, *align, *value))
                                .collect();
                            presence_each(t as i64, &each, tick)
                        } else {
                            presence(t as i64, *value, &plain, tick)
                        };
                        let Some((start, end)) = found else {
                            continue;
                        };
                        let start = start.max(t);
                        if end.is_some_and(|e| e <= start) {
                            continue;
                        }
                        match end {
                            Some(e) if start <= now => {
                                held.push(e, row.clone(), -diff);
                                session.give((row, start, diff));
                            }
                            Some(e) => {
                                held.push(e, row.clone(), -diff);
                                held.push(start, row, diff);
                            }
                            None if start <= now => session.give((row, start, diff)),
                            None => held.push(start, row, diff),
                        }
                    }
                    drop(session);
                    if let Some(first) = held.first() {
                        held::hold_from(&mut cap, &in_cap, first);
                    }
                });
                // Let out what the input frontier has reached (all of it, in chunks, once the
                // input has ended).
                let upto = frontier.frontier().first().copied();
                if let Some(c) = cap.as_ref() {
                    let mut session = output.session(c);
                    let mut released = 0;
                    while upto.is_some() || released < RELEASE_CHUNK {
                        let Some((t, row, d)) = held.pop_due(upto) else {
                            break;
                        };
                        session.give((row, t, d));
                        released += 1;
                    }
                }
                if upto.is_none() && !held.is_empty() {
                    activator.activate();
                }
                held::hold_at(&mut cap, held.first());
            }
        })
        .as_collection()
}
