//! Where the rules of a pack keep their state when it runs on several workers.
//!
//! By default a keyed operator spreads its keys over every worker (`Route::Spread`), so a
//! row crosses to another worker at nearly every summarize or join of its rule: on two
//! workers half the rows of each step are read on a core other than the one that wrote them,
//! and every step pays the exchange. When a pack has several rules, whole rules can instead be
//! placed on workers (`Route::Pinned`): a placed rule's filters and maps still run where its
//! records are fed, but its summarizes and joins all run on its worker, and its rows cross
//! once, on their way in.
//!
//! The rules are placed by an estimate of their cost ([`program_weight`]: the changes that can
//! reach each of a rule's plan nodes, from its tables' record counts), heaviest first, each on
//! the worker with the least estimated load so far (longest processing time first). With
//! every rule placed, each worker's rules run as a dataflow of their own
//! ([`crate::runtime::split`]), which on the pack made two workers 1.8 times as fast as one,
//! and three (on two cores) 1.7 times as fast as three workers sharing one computation with
//! the heaviest rule spread. A pack is then at best as fast as its heaviest rule alone, so a
//! rule over three quarters of the whole estimate, which alone would leave the other workers
//! little to do, stays spread over every worker instead, the others placed on what it leaves
//! (the three rules of the ddlimit comparison, one of them 86% of their estimate, gained
//! 6–15% from a second worker so, nothing with every rule placed). (Spread over two workers, a rule's keyed operators took about 1.3 times
//! the CPU time they take on one, and every batch waits for every worker.)
//!
//! Placement only decides where state lives; every answer is the same on every worker count.
//! It must be computed alike on every worker of every process, so a run uses it only when it
//! knows the same counts everywhere: one process that has read all its records before the
//! dataflow starts (`replay`, `hunt`).

use std::collections::HashMap;

use super::keyed::Route;
use crate::plan::ir::{Node, Plan, Program};
use crate::plan::optimize::optimize;

/// An estimate of the work of running `program` incrementally over tables with these record
/// counts (table name → records fed; a table missing from `counts` counts 0): the sum, over
/// the nodes of its plan with its filters pushed down (each shared sub-plan counted once), of
/// the changes that can reach the node: a scan's records; twice its input's through a window
/// (a record enters and later leaves it) and out of a summarize (a group's row is retracted
/// and inserted again); the sum of its inputs' elsewhere. Filters are taken to keep every
/// record, so the estimate is an upper bound that orders rules by the volume of their tables
/// and the depth of their plans.
pub fn program_weight(program: &Program, counts: &HashMap<String, u64>) -> u64 {
    /// The changes that reach `p`. Adds those reaching each node of `p` and below to `total`,
    /// each shared sub-plan once (its changes kept in `shared`).
    fn visit(
        p: &Plan,
        program: &Program,
        counts: &HashMap<String, u64>,
        shared: &mut HashMap<usize, u64>,
        total: &mut u64,
        depth: usize,
    ) -> u64 {
        if depth > MAX_DEPTH {
            return 0;
        }
        if let Node::Shared(i) = &p.node {
            if let Some(&known) = shared.get(i) {
                return known;
            }
            let here = program
                .shared
                .get(*i)
                .map_or(0, |s| visit(s, program, counts, shared, total, depth + 1));
            shared.insert(*i, here);
            return here;
        }
        let inputs: Vec<u64> = p
            .inputs()
            .into_iter()
            .map(|i| visit(i, program, counts, shared, total, depth + 1))
            .collect();
        let first = inputs.first().copied().unwrap_or(0);
        let here = match &p.node {
            Node::Scan { table, .. } => counts.get(table).copied().unwrap_or(0),
            Node::Watchlist { .. } | Node::Constant { .. } | Node::ApplyRows => 0,
            // The sub-plan runs on each input row: the input's rows reach it.
            Node::MvApply { .. } => first,
            // A windowed record arrives and later leaves: two changes.
            Node::Filter { temporal, .. } if !temporal.is_empty() => first.saturating_mul(2),
            // A change to a group replaces its row: a retraction and an insertion.
            Node::Reduce { .. } | Node::MakeSeries { .. } => first.saturating_mul(2),
            _ => inputs.iter().fold(0u64, |a, &b| a.saturating_add(b)),
        };
        *total = total.saturating_add(here);
        here
    }
    /// Deeper plans than this are not walked further (a bound on a malformed plan's cost, not
    /// one a rule reaches).
    const MAX_DEPTH: usize = 512;
    let program = optimize(program);
    let mut total = 0;
    visit(
        super::strip_presentation(&program.root),
        &program,
        counts,
        &mut HashMap::new(),
        &mut total,
        0,
    );
    total
}

/// The worker of each rule, from the rules' estimated costs `weights` on `workers` workers:
/// `Some(w)` places every summarize and join of the rule on worker `w`, `None` spreads its keys
/// over every worker. Rules are placed heaviest first (equal weights in their order), each on
/// the worker whose estimated load is least (the lowest index among equals). A rule heavier
/// than three quarters of the total is spread, and its weight counted on every worker in equal
/// parts. On one worker, or with fewer than two rules of any weight (one rule's keys can only
/// be spread to use more workers), nothing is placed.
pub fn place(weights: &[u64], workers: usize) -> Vec<Option<usize>> {
    let mut placed = vec![None; weights.len()];
    let weighty = weights.iter().filter(|&&w| w > 0).count();
    if workers < 2 || weighty < 2 {
        return placed;
    }
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut load = vec![0u128; workers];
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
    for i in order {
        let w = u128::from(weights[i]);
        if 4 * w > 3 * total {
            for l in load.iter_mut() {
                *l += w / workers as u128;
            }
            continue;
        }
        // The least-loaded worker, the first among equals.
        let best = (0..workers).min_by_key(|&k| load[k]).unwrap_or(0);
        load[best] += w;
        placed[i] = Some(best);
    }
    placed
}

/// The route of a keyed operator of a rule placed as `placed` says (see [`place`]), whose
/// ordinal among the dataflow's keyed operators is `ordinal`.
pub(crate) fn route(placed: Option<usize>, ordinal: u64) -> Route {
    match placed {
        Some(w) => Route::Pinned(w as u64),
        None => Route::Spread(ordinal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_or_one_rule_places_nothing() {
        assert_eq!(place(&[5, 3, 2], 1), vec![None, None, None]);
        assert_eq!(place(&[5], 2), vec![None]);
        assert_eq!(place(&[5, 0, 0], 2), vec![None, None, None]);
        assert_eq!(place(&[], 4), Vec::<Option<usize>>::new());
    }

    #[test]
    fn heaviest_first_on_the_least_loaded_worker() {
        // 45 | 14 14 13 8 3 1 1 0 (the pack's shape): the heaviest alone on worker 0, the
        // rest filling worker 1 until it passes worker 0, the light ones back on worker 0.
        let w = [1, 45, 0, 1, 3, 8, 13, 14, 14];
        let p = place(&w, 2);
        assert_eq!(p[1], Some(0));
        assert_eq!(p[7], Some(1));
        assert_eq!(p[8], Some(1));
        assert_eq!(p[6], Some(1));
        // Worker 1 holds 41 when the 8 comes: it goes there (41 < 45), then the 3 to worker 0.
        assert_eq!(p[5], Some(1));
        assert_eq!(p[4], Some(0));
        let load = |k: usize| -> u64 {
            (0..w.len())
                .filter(|&i| p[i] == Some(k))
                .map(|i| w[i])
                .sum()
        };
        assert_eq!(load(0) + load(1), w.iter().sum::<u64>());
        assert!(
            load(0).abs_diff(load(1)) <= 3,
            "{} against {}",
            load(0),
            load(1)
        );
    }

    #[test]
    fn a_heavy_rule_is_placed_alone_and_one_over_three_quarters_is_spread() {
        // Up to three quarters of the whole, a rule is placed alone on its worker, the others
        // on the rest, whatever the number of workers.
        assert_eq!(place(&[60, 25, 15], 3), vec![Some(0), Some(1), Some(2)]);
        assert_eq!(place(&[75, 20, 5], 2), vec![Some(0), Some(1), Some(1)]);
        assert_eq!(place(&[75, 20, 5], 4), vec![Some(0), Some(1), Some(2)]);
        // Over it, its keys stay spread, and the others are placed on the loads it leaves.
        assert_eq!(place(&[76, 20, 4], 2), vec![None, Some(0), Some(1)]);
        assert_eq!(place(&[90, 6, 4], 5), vec![None, Some(0), Some(1)]);
    }

    #[test]
    fn equal_weights_go_round_the_workers_in_order() {
        assert_eq!(
            place(&[7, 7, 7, 7, 7], 3),
            vec![Some(0), Some(1), Some(2), Some(0), Some(1)]
        );
    }

    #[test]
    fn routes_follow_the_placement() {
        let key = vec![crate::model::Value::from("app")];
        assert_eq!(route(Some(1), 9).hash(&key), 1);
        assert_eq!(route(Some(0), 9).hash(&key), 0);
        // Spread: the ordinal moves the key to the next worker.
        let a = route(None, 1).hash(&key);
        let b = route(None, 2).hash(&key);
        assert_eq!(b, a.wrapping_add(1));
    }

    #[test]
    fn weight_counts_the_records_reaching_each_node() {
        let program = |q: &str| -> Program {
            let parsed = crate::kql::parse(q).expect("parses");
            crate::plan::bind(
                q,
                &parsed,
                crate::catalog::Catalog::builtin(),
                &crate::plan::BindOptions::default(),
            )
            .expect("binds")
        };
        let counts: HashMap<String, u64> = [
            ("SigninLogs".to_string(), 100),
            ("AuditLogs".to_string(), 10),
        ]
        .into();
        let one = program_weight(&program("SigninLogs | where ResultType != \"0\""), &counts);
        let two = program_weight(
            &program(
                "SigninLogs | where ResultType != \"0\" | summarize count() by UserPrincipalName",
            ),
            &counts,
        );
        let audit = program_weight(
            &program("AuditLogs | summarize count() by OperationName"),
            &counts,
        );
        assert!(one >= 100, "{one}");
        assert!(two > one, "{two} against {one}");
        assert!(audit < one, "{audit} against {one}");
        // A window doubles the changes below what reads it; so does a summarize.
        let windowed = program_weight(
            &program("SigninLogs | where TimeGenerated > ago(1h) | where ResultType != \"0\""),
            &counts,
        );
        assert!(windowed > one, "{windowed} against {one}");
        let summarized = program_weight(
            &program("SigninLogs | summarize count() by UserPrincipalName | where count_ > 1"),
            &counts,
        );
        let filtered = program_weight(
            &program("SigninLogs | where ResultType != \"0\" | where UserPrincipalName != \"\""),
            &counts,
        );
        assert!(summarized > filtered, "{summarized} against {filtered}");
        assert_eq!(
            program_weight(&program("SigninLogs | take 1"), &HashMap::new()),
            0
        );
    }
}
