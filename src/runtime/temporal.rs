//! Temporal filters as presence intervals: a record whose time column holds `t`, filtered by
//! conjuncts `t op now() + offset`, is in the result exactly at the ticks of one interval
//! `[start, end)`. The dataflow inserts it at `start` and retracts it at `end` instead of
//! re-evaluating the filter (as Materialize's temporal filters do).

use super::{Time, tick_of};

/// A comparison of a record's time with `now() + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeBound {
    /// `t > now() + offset`
    Gt(i64),
    /// `t >= now() + offset`
    Ge(i64),
    /// `t < now() + offset`
    Lt(i64),
    /// `t <= now() + offset`
    Le(i64),
}

impl TimeBound {
    /// Whether a record at `t` passes the bound when `now()` is `now`.
    pub fn holds(self, t: i64, now: i64) -> bool {
        match self {
            TimeBound::Gt(c) => t > now.saturating_add(c),
            TimeBound::Ge(c) => t >= now.saturating_add(c),
            TimeBound::Lt(c) => t < now.saturating_add(c),
            TimeBound::Le(c) => t <= now.saturating_add(c),
        }
    }
}

/// A bound against `now() + offset` floored to a multiple of `align` (`t > startofday(ago(7d))`)
/// as a plain bound over a value derived from `t`: with `f` the floor and `c` the ceiling of
/// `t` to a multiple of `align`, `t > floor(x)` iff `c > x`, `t >= floor(x)` iff
/// `f + align > x`, `t < floor(x)` iff `f + align <= x`, and `t <= floor(x)` iff `c <= x`.
/// `align` 0 leaves the bound and `t` as they are.
pub fn aligned(bound: TimeBound, align: i64, t: i64) -> (TimeBound, i64) {
    if align <= 0 {
        return (bound, t);
    }
    let floor = t.div_euclid(align).saturating_mul(align);
    let ceil = if floor == t {
        t
    } else {
        floor.saturating_add(align)
    };
    let next = floor.saturating_add(align);
    match bound {
        TimeBound::Gt(c) => (TimeBound::Gt(c), ceil),
        TimeBound::Ge(c) => (TimeBound::Gt(c), next),
        TimeBound::Lt(c) => (TimeBound::Le(c), next),
        TimeBound::Le(c) => (TimeBound::Le(c), ceil),
    }
}

/// [`presence`] for bounds each over its own value (as [`aligned`] derives them): the
/// intersection of the bounds' intervals.
pub fn presence_each(
    event: i64,
    bounds: &[(TimeBound, i64)],
    tick: i64,
) -> Option<(Time, Option<Time>)> {
    let mut start = tick_of(event, tick);
    let mut end: Option<Time> = None;
    for (b, t) in bounds {
        let (s, e) = presence(event, *t, std::slice::from_ref(b), tick)?;
        start = start.max(s);
        if let Some(e) = e {
            end = min_end(end, e);
        }
    }
    match end {
        Some(e) if e <= start => None,
        _ => Some((start, end)),
    }
}

/// The ticks `[start, end)` (multiples of `tick`) at which a record with event time `event`
/// and filtered time column value `t` is present: from the first tick at or after `event`
/// (a record is seen once its time has come) and while every bound holds. `end` is `None` when
/// the record never leaves; the result is `None` when it is never present.
pub fn presence(
    event: i64,
    t: i64,
    bounds: &[TimeBound],
    tick: i64,
) -> Option<(Time, Option<Time>)> {
    let mut start = tick_of(event, tick);
    let mut end: Option<Time> = None;
    let first_tick_at_or_after = |x: i64| tick_of(x, tick);
    for b in bounds {
        // Each bound is a half-line of `now`.
        match *b {
            // t > now + c  <=>  now < t - c
            TimeBound::Gt(c) => end = min_end(end, first_tick_at_or_after(t.saturating_sub(c))),
            // t >= now + c  <=>  now <= t - c
            TimeBound::Ge(c) => {
                end = min_end(
                    end,
                    first_tick_at_or_after(t.saturating_sub(c).saturating_add(1)),
                )
            }
            // t < now + c  <=>  now > t - c
            TimeBound::Lt(c) => {
                start = start.max(first_tick_at_or_after(
                    t.saturating_sub(c).saturating_add(1),
                ))
            }
            // t <= now + c  <=>  now >= t - c
            TimeBound::Le(c) => start = start.max(first_tick_at_or_after(t.saturating_sub(c))),
        }
    }
    match end {
        Some(e) if e <= start => None,
        _ => Some((start, end)),
    }
}

fn min_end(end: Option<Time>, candidate: Time) -> Option<Time> {
    Some(end.map_or(candidate, |e| e.min(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TICKS_PER_HOUR as H, TICKS_PER_SECOND as S};
    use proptest::prelude::*;

    #[test]
    fn day_aligned_bounds_agree_with_flooring_now() {
        const D: i64 = 24 * H;
        let floor = |x: i64| x.div_euclid(D) * D;
        let times = [0, 1, D - 1, D, D + 1, 3 * D + 5 * H, 5 * D];
        let nows = [0, 1, D - 1, D, D + 7, 2 * D, 4 * D + H, 6 * D, 9 * D];
        for c in [0, -D, -2 * D - H] {
            for (b, cmp) in [
                (
                    TimeBound::Gt(c),
                    (|t: i64, r: i64| t > r) as fn(i64, i64) -> bool,
                ),
                (TimeBound::Ge(c), |t, r| t >= r),
                (TimeBound::Lt(c), |t, r| t < r),
                (TimeBound::Le(c), |t, r| t <= r),
            ] {
                for t in times {
                    let (b2, t2) = aligned(b, D, t);
                    for now in nows {
                        assert_eq!(
                            b2.holds(t2, now),
                            cmp(t, floor(now + c)),
                            "{b:?} t={t} now={now}"
                        );
                    }
                }
            }
        }
        // Unaligned: unchanged.
        assert_eq!(aligned(TimeBound::Ge(-H), 0, 5), (TimeBound::Ge(-H), 5));
    }

    #[test]
    fn ago_one_hour() {
        // where TimeGenerated > ago(1h): present from the record's tick until an hour later.
        let t = 10 * H + 3 * S / 2;
        let (start, end) = presence(t, t, &[TimeBound::Gt(-H)], S).unwrap();
        assert_eq!(start, (10 * H + 2 * S) as u64);
        assert_eq!(end, Some((11 * H + 2 * S) as u64));
    }

    #[test]
    fn baseline_window_between_14d_and_1h_ago() {
        let d = 24 * H;
        let t = 100 * d;
        let bounds = [TimeBound::Ge(-14 * d), TimeBound::Le(-H)];
        let (start, end) = presence(t, t, &bounds, S).unwrap();
        assert_eq!(start, (t + H) as u64);
        assert_eq!(end, Some((t + 14 * d + S) as u64));
    }

    #[test]
    fn never_present() {
        assert_eq!(
            presence(0, 0, &[TimeBound::Gt(0), TimeBound::Lt(0)], S),
            None
        );
    }

    fn bound() -> impl Strategy<Value = TimeBound> {
        let off = -50i64..50;
        prop_oneof![
            off.clone().prop_map(TimeBound::Gt),
            off.clone().prop_map(TimeBound::Ge),
            off.clone().prop_map(TimeBound::Lt),
            off.prop_map(TimeBound::Le),
        ]
    }

    proptest! {
        /// The interval holds exactly the ticks at which evaluating the filter with now = tick
        /// (and the record visible once its time has come) keeps the record.
        #[test]
        fn interval_equals_predicate_at_every_tick(
            event in 0i64..100, shift in -20i64..20, bounds in prop::collection::vec(bound(), 0..4), tick in 1i64..7,
        ) {
            let t = (event + shift).max(0);
            let p = presence(event, t, &bounds, tick);
            for k in 0..60i64 {
                let now = k * tick;
                let expected = event <= now && bounds.iter().all(|b| b.holds(t, now));
                let got = match p {
                    Some((s, e)) => now as u64 >= s && e.is_none_or(|e| (now as u64) < e),
                    None => false,
                };
                prop_assert_eq!(got, expected, "now {} interval {:?}", now, p);
            }
        }
    }
}
