//! A rule's look-back window ([`PeriodWindow`]) written into its plan: a temporal filter
//! `TimeGenerated > now() - period` directly on each table scan it applies to, in the root,
//! the shared plans and the scalar sub-queries alike, so that the incremental engine and the
//! batch evaluator both see only the period's records.

use crate::model::{TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, Value};

use super::bind::{PeriodWindow, WindowScope};
use super::ir::{BoundOp, Node, Plan, Program, ScalarExpr, TemporalBound};

/// Writes `window` into `program`: every table scan it applies to is wrapped in the filter
/// `TimeGenerated > now() - period`.
pub fn apply(program: &mut Program, window: PeriodWindow) {
    let every = window.scope == WindowScope::EveryScan;
    // A shared plan is covered by a time filter of the query when every use of it is.
    let n = program.shared.len();
    let mut uses: Vec<(usize, usize)> = vec![(0, 0); n]; // (uses, covered uses)
    if !every {
        note_uses(&program.root, false, &mut uses);
        for s in &program.scalars {
            note_uses(s, false, &mut uses);
        }
        // A shared plan refers only to lower-numbered ones: visit from the top.
        for i in (0..n).rev() {
            let covered = uses[i].0 > 0 && uses[i].0 == uses[i].1;
            let plan = program.shared[i].clone();
            note_uses(&plan, covered, &mut uses);
        }
    }
    let period = window.period;
    wrap(&mut program.root, period, every, false);
    for s in &mut program.scalars {
        wrap(s, period, every, false);
    }
    for (i, s) in program.shared.iter_mut().enumerate() {
        let covered = uses[i].0 > 0 && uses[i].0 == uses[i].1;
        wrap(s, period, every, covered);
    }
}

/// True when `p` is a filter that bounds its input's event time below.
fn bounds_time_below(p: &Plan) -> bool {
    match &p.node {
        Node::Filter {
            input, temporal, ..
        } => temporal.iter().any(|b| {
            Some(b.column) == input.event_time && matches!(b.op, BoundOp::Gt | BoundOp::Ge)
        }),
        _ => false,
    }
}

/// Whether a time filter at `p` still covers the rows of its inputs: through row-wise
/// operators and unions, not through aggregations or joins.
fn passes_cover(p: &Plan) -> bool {
    matches!(
        p.node,
        Node::Filter { .. }
            | Node::Map { .. }
            | Node::MvExpand { .. }
            | Node::Distinct { .. }
            | Node::Sort { .. }
            | Node::Take { .. }
            | Node::Union { .. }
    )
}

/// Counts the uses of each shared plan in `p`, and those under a time filter.
fn note_uses(p: &Plan, covered: bool, uses: &mut [(usize, usize)]) {
    let covered = covered || bounds_time_below(p);
    if let Node::Shared(i) = p.node
        && let Some(u) = uses.get_mut(i)
    {
        u.0 += 1;
        u.1 += usize::from(covered);
    }
    let below = covered && passes_cover(p);
    for i in p.inputs() {
        note_uses(i, below, uses);
    }
}

/// Wraps the scans of `p` in the window: all of them when `every`, else those no time filter
/// above covers.
fn wrap(p: &mut Plan, period: i64, every: bool, covered: bool) {
    let covered = !every && (covered || bounds_time_below(p));
    if let Node::Scan { .. } = p.node {
        if !covered && let Some(t) = p.event_time {
            let scan = std::mem::replace(
                p,
                Plan {
                    node: Node::Constant { rows: Vec::new() },
                    schema: Vec::new(),
                    event_time: None,
                },
            );
            *p = Plan::filter(
                scan,
                ScalarExpr::Literal(Value::Bool(true)),
                vec![TemporalBound {
                    column: t,
                    op: BoundOp::Gt,
                    offset_ticks: -period,
                    align: 0,
                }],
            );
        }
        return;
    }
    let below = covered && passes_cover(p);
    for i in p.inputs_mut() {
        wrap(i, period, every, below);
    }
}

/// A duration as a user writes it: `14d`, `1h30m`, `90s`, `0s`.
pub fn human_duration(ticks: i64) -> String {
    let mut t = ticks.unsigned_abs();
    let mut out = String::from(if ticks < 0 { "-" } else { "" });
    for (unit, name) in [
        (TICKS_PER_DAY, "d"),
        (TICKS_PER_HOUR, "h"),
        (TICKS_PER_MINUTE, "m"),
        (TICKS_PER_SECOND, "s"),
    ] {
        let unit = unit as u64;
        if t >= unit {
            out.push_str(&format!("{}{name}", t / unit));
            t %= unit;
        }
    }
    if t > 0 {
        out.push_str(&format!("{}ms", t / 10_000));
    }
    if out.is_empty() || out == "-" {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::plan::{BindOptions, bind};

    fn program(src: &str, scope: WindowScope) -> Program {
        let q = crate::kql::parse(src).unwrap();
        let opts = BindOptions {
            window: Some(PeriodWindow {
                period: TICKS_PER_DAY,
                scope,
            }),
            ..BindOptions::default()
        };
        bind(src, &q, Catalog::builtin(), &opts).unwrap()
    }

    /// The windows on scans: filters directly over a scan whose one bound is the window's
    /// (the tests' queries write no `> ago(1d)` of their own).
    fn windows(p: &Plan, out: &mut Vec<(String, i64)>) {
        if let Node::Filter {
            input, temporal, ..
        } = &p.node
            && let Node::Scan { table, .. } = &input.node
            && let [b] = temporal.as_slice()
            && b.op == BoundOp::Gt
            && b.offset_ticks == -D
        {
            out.push((table.clone(), b.offset_ticks));
        }
        for i in p.inputs() {
            windows(i, out);
        }
    }

    fn all_windows(p: &Program) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        windows(&p.root, &mut out);
        for s in p.shared.iter().chain(&p.scalars) {
            windows(s, &mut out);
        }
        out.sort();
        out
    }

    const D: i64 = TICKS_PER_DAY;

    #[test]
    fn every_scan_of_a_scheduled_rule_is_windowed_watchlists_are_not() {
        let p = program(
            "let allow = _GetWatchlist('A') | project IPAddress = tostring(IP);
             let n = toscalar(AuditLogs | count);
             SigninLogs | where TimeGenerated > ago(1h)
             | join kind=leftanti (allow) on IPAddress
             | union (AADServicePrincipalSignInLogs)
             | extend n",
            WindowScope::EveryScan,
        );
        assert_eq!(
            all_windows(&p),
            vec![
                ("AADServicePrincipalSignInLogs".to_string(), -D),
                ("AuditLogs".to_string(), -D),
                ("SigninLogs".to_string(), -D),
            ]
        );
    }

    #[test]
    fn a_hunting_window_gives_way_to_the_query_s_own_time_filter() {
        let p = program(
            "let recent = AuditLogs | where TimeGenerated > ago(14d);
             let bare = AADServicePrincipalSignInLogs;
             SigninLogs | extend x = 1 | where TimeGenerated between (ago(30d) .. ago(1d))
             | union recent, (bare | where TimeGenerated > ago(2d)), AzureActivity
             | summarize count() by Type",
            WindowScope::ScansWithoutTimeFilter,
        );
        // SigninLogs, AuditLogs and the let read once under its own filter keep their own
        // time filters; AzureActivity has none and gets the window.
        assert_eq!(all_windows(&p), vec![("AzureActivity".to_string(), -D)]);
    }

    #[test]
    fn a_filter_above_an_aggregation_does_not_cover_its_input() {
        let p = program(
            "SigninLogs | summarize t = max(TimeGenerated) by UserPrincipalName
             | where t > ago(1h)",
            WindowScope::ScansWithoutTimeFilter,
        );
        assert_eq!(all_windows(&p), vec![("SigninLogs".to_string(), -D)]);
    }

    #[test]
    fn a_scheduled_rule_reading_past_its_period_is_warned() {
        let p = program(
            "SigninLogs | where TimeGenerated > ago(14d)",
            WindowScope::EveryScan,
        );
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].message.contains("now() - 14d"));
        assert!(p.warnings[0].message.contains("queryPeriod is 1d"));
        let ok = program(
            "SigninLogs | where TimeGenerated > ago(1d)",
            WindowScope::EveryScan,
        );
        assert!(ok.warnings.is_empty());
        let hunting = program(
            "SigninLogs | where TimeGenerated > ago(14d)",
            WindowScope::ScansWithoutTimeFilter,
        );
        assert!(hunting.warnings.is_empty());
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human_duration(14 * D), "14d");
        assert_eq!(
            human_duration(TICKS_PER_HOUR + 30 * TICKS_PER_MINUTE),
            "1h30m"
        );
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(-D), "-1d");
    }
}
