//! Predicate pushdown keeps every result: for random data, the batch evaluator gives the same
//! rows for a program with its filters pushed down ([`plan::optimize`]) as for the program as
//! written, at every tick, for queries whose filters move through (or must stay above) every
//! kind of operator.

use proptest::prelude::*;
use std::collections::HashMap;

use kqlflow::catalog::Catalog;
use kqlflow::eval::{Data, evaluate};
use kqlflow::model::{Row, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{self, BindOptions, Program};

const T0: i64 = 1_714_550_400 * S;

/// Two inputs of a join: sign-ins by user with their address and time, and the failures.
const L: &str = "SigninLogs | project UserPrincipalName, IPAddress, T1 = TimeGenerated";
const R: &str = "(SigninLogs | where ResultType != \"0\" | project UserPrincipalName, RIP = IPAddress, ResultType)";

/// Each query, and whether pushdown changes its plan.
fn queries() -> Vec<(String, bool)> {
    let mut q: Vec<(String, bool)> = [
        // Map: pass-through columns (renamed), a computed column, a temporal bound.
        ("SigninLogs | extend x = strlen(IPAddress) | where UserPrincipalName == \"alice\" and x > 7", true),
        ("SigninLogs | project U = UserPrincipalName, IPAddress, T = TimeGenerated | where T > ago(20m) and U != \"bob\"", true),
        ("SigninLogs | extend x = strlen(IPAddress) | where x > 7", false),
        ("SigninLogs | where ResultType == \"0\" | extend y = 2 | where TimeGenerated between (ago(30m) .. ago(5m)) | where IPAddress != \"10.0.0.1\"", true),
        // Union: a column one input lacks, withsource, temporal bounds.
        ("union (SigninLogs | project a = UserPrincipalName, r = ResultType), (SigninLogs | project b = IPAddress, r = ResultType) | where a == \"\" and r == \"0\"", true),
        ("union withsource=Src (SigninLogs | project a = UserPrincipalName), (SigninLogs | project b = IPAddress) | where Src startswith \"union\" and b != \"1.1.1.1\"", true),
        ("union (SigninLogs | project TimeGenerated, u = UserPrincipalName), (SigninLogs | where ResultType == \"0\" | project TimeGenerated, v = IPAddress) | where TimeGenerated > ago(15m)", true),
        // Distinct, summarize keys (plain, computed, none, real), make-series, mv-expand,
        // mv-apply, sort, take.
        ("SigninLogs | distinct UserPrincipalName, ResultType | where ResultType == \"0\"", true),
        ("SigninLogs | summarize n = count(), d = dcount(IPAddress) by UserPrincipalName, ResultType | where ResultType != \"0\" and n >= 2", true),
        ("SigninLogs | summarize n = count() by u = toupper(UserPrincipalName) | where u == \"ALICE\"", false),
        ("SigninLogs | summarize n = count() | where n > 2", false),
        ("SigninLogs | extend r = toreal(strlen(IPAddress)) / 2.0 | summarize count() by r | where r > 3.5", false),
        ("SigninLogs | summarize count() by UserPrincipalName, bin(TimeGenerated, 10m) | where UserPrincipalName != \"carol\"", true),
        ("SigninLogs | make-series n = count() on TimeGenerated step 10m by UserPrincipalName | where UserPrincipalName == \"alice\"", false),
        ("SigninLogs | make-series n = count() on TimeGenerated from datetime(2024-05-01T08:10:00Z) to datetime(2024-05-01T08:50:00Z) step 7m by UserPrincipalName | where UserPrincipalName == \"alice\"", true),
        ("SigninLogs | extend p = split(IPAddress, \".\") | mv-expand p | where UserPrincipalName != \"bob\" and p == \"1\"", true),
        ("SigninLogs | extend p = split(IPAddress, \".\") | mv-apply p on (where p != \"1\" | summarize c = count()) | where UserPrincipalName == \"alice\" and c > 1", true),
        ("SigninLogs | sort by TimeGenerated asc | where UserPrincipalName == \"alice\"", true),
        // A function with an mv-apply invoked twice: filters stay above its two copies.
        (TWICE, false),
        // A window below an mv-apply moves above it.
        (WINDOW_BELOW, true),
        // A shared plan keeps its rows; a filter inside it moves within it.
        ("let s = SigninLogs | extend k = 1 | where ResultType == \"0\"; s | where UserPrincipalName == \"alice\" | union (s | where UserPrincipalName == \"bob\")", true),
        // lets read once are written out, and filters move into them.
        ("let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=inner s on UserPrincipalName | where FIP != SIP and SIP == \"1.1.1.1\" and UserPrincipalName != \"bob\"", true),
        ("let f = SigninLogs | project UserPrincipalName, FIP = IPAddress; f | join kind=leftanti (f | where FIP == \"2.2.2.2\") on UserPrincipalName | where FIP != \"1.1.1.1\"", true),
        // toscalar values read by a moved filter.
        ("let n = toscalar(SigninLogs | summarize count()); SigninLogs | extend k = 1 | where strlen(IPAddress) + n > 10 and UserPrincipalName != \"carol\"", true),
        // Joins after aggregates, lookups (the right keys left out).
        ("SigninLogs | summarize n = count() by UserPrincipalName | join kind=inner (SigninLogs | summarize m = dcount(IPAddress) by UserPrincipalName) on UserPrincipalName | where n > 1 and m >= 2 and UserPrincipalName != \"bob\"", true),
        ("SigninLogs | project UserPrincipalName, IPAddress | lookup (SigninLogs | summarize m = dcount(IPAddress) by UserPrincipalName) on UserPrincipalName | where m > 1 and IPAddress != \"2.2.2.2\"", true),
        ("SigninLogs | project UserPrincipalName, IPAddress | lookup kind=inner (SigninLogs | summarize m = dcount(IPAddress) by UserPrincipalName) on UserPrincipalName | where m > 1 and IPAddress != \"2.2.2.2\"", true),
    ]
    .into_iter()
    .map(|(q, m)| (q.to_string(), m))
    .collect();
    // Every join kind, with conjuncts on the left columns, the right columns, the key, both
    // sides, none, and temporal bounds on each side.
    for kind in [
        "inner",
        "innerunique",
        "leftouter",
        "rightouter",
        "fullouter",
    ] {
        q.push((
            format!("{L} | join kind={kind} {R} on UserPrincipalName | where IPAddress != \"1.1.1.1\" and ResultType == \"50126\" and UserPrincipalName1 != \"bob\" and IPAddress != RIP"),
            kind != "fullouter",
        ));
        q.push((
            format!("{L} | join kind={kind} {R} on UserPrincipalName | where UserPrincipalName != \"alice\" and T1 > ago(25m)"),
            !["fullouter", "rightouter"].contains(&kind),
        ));
        q.push((
            format!("{L} | join kind={kind} (SigninLogs | project UserPrincipalName, T2 = TimeGenerated) on UserPrincipalName | where T2 > ago(10m) and T1 <= ago(5m)"),
            kind != "fullouter",
        ));
    }
    for kind in ["leftsemi", "leftanti"] {
        q.push((
            format!("{L} | join kind={kind} {R} on UserPrincipalName | where IPAddress != \"1.1.1.1\" and T1 > ago(30m)"),
            true,
        ));
    }
    for kind in ["rightsemi", "rightanti"] {
        q.push((
            format!("{L} | join kind={kind} {R} on UserPrincipalName | where RIP != \"1.1.1.1\" and UserPrincipalName != \"carol\""),
            true,
        ));
    }
    q
}

/// A function whose body has an mv-apply, invoked on the same table by two branches with
/// different filters.
const TWICE: &str = "let f = (T:(IPAddress:string)) { T | extend p = split(IPAddress, \".\") | mv-apply p on (where p != \"1\" | summarize c = count()) }; union (SigninLogs | invoke f() | where ResultType == \"0\" and TimeGenerated > ago(20m)), (SigninLogs | invoke f() | where ResultType != \"0\" and UserPrincipalName == \"alice\")";

/// A window tested before an mv-apply.
const WINDOW_BELOW: &str = "SigninLogs | where TimeGenerated > ago(20m) and ResultType == \"0\" | extend p = split(IPAddress, \".\") | mv-apply p on (where p != \"1\" | summarize c = count()) | where c >= 1";

#[test]
fn a_window_moves_above_an_mv_apply_and_other_filters_below_it() {
    let o = plan::optimize(&program(WINDOW_BELOW));
    let mut found = Vec::new();
    mv_applies(&o.root, &mut found);
    assert_eq!(found.len(), 1, "{}", o.explain());
    assert!(!found[0].contains("TemporalBound"), "{}", o.explain());
    assert!(
        found[0].contains("Literal(String(\"0\"))") || found[0].contains("\"0\""),
        "{}",
        o.explain()
    );
    assert!(
        format!("{:?}", o.root).contains("TemporalBound"),
        "{}",
        o.explain()
    );
}

/// The mv-apply sub-plans of `p`, as their text.
fn mv_applies(p: &plan::Plan, out: &mut Vec<String>) {
    if matches!(p.node, plan::Node::MvApply { .. }) {
        out.push(format!("{p:?}"));
    }
    for i in p.inputs() {
        mv_applies(i, out);
    }
}

#[test]
fn filters_stay_above_a_costly_sub_plan_written_out_twice() {
    let o = plan::optimize(&program(TWICE));
    let mut found = Vec::new();
    mv_applies(&o.root, &mut found);
    assert_eq!(found.len(), 2, "{o:#?}");
    assert_eq!(found[0], found[1], "the two copies differ after pushdown");
    // A single use still gets its filters pushed into it.
    let once = "SigninLogs | extend p = split(IPAddress, \".\") | mv-apply p on (where p != \"1\" | summarize c = count()) | where UserPrincipalName == \"alice\"";
    let mut found = Vec::new();
    mv_applies(&plan::optimize(&program(once)).root, &mut found);
    assert!(found[0].contains("alice"), "{found:?}");
}

fn program(src: &str) -> Program {
    let q = kqlflow::kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "query")));
    plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "query")))
}

fn signin(t: i64, user: &str, ip: &str, result: &str) -> (i64, Row) {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let mut set = |col: &str, v: Value| row[table.schema.index_of(col).unwrap()] = v;
    set("TimeGenerated", Value::DateTime(t));
    set("UserPrincipalName", Value::str(user));
    set("IPAddress", Value::str(ip));
    set("ResultType", Value::str(result));
    (t, row)
}

fn records() -> impl Strategy<Value = Vec<(i64, Row)>> {
    let users = prop::sample::select(vec!["alice", "bob", "carol"]);
    let ips = prop::sample::select(vec!["1.1.1.1", "2.2.2.2", "10.0.0.1", ""]);
    let results = prop::sample::select(vec!["0", "50126", "50053"]);
    prop::collection::vec((0i64..90, users, ips, results), 0..24).prop_map(|v| {
        v.into_iter()
            .map(|(k, u, ip, r)| signin(T0 + k * 37 * S, u, ip, r))
            .collect()
    })
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

/// The written and the pushed-down program agree at ticks from before the first record to
/// well after the last.
fn check(query: &str, rows: &[(i64, Row)]) -> Result<(), TestCaseError> {
    let written = program(query);
    let pushed = plan::optimize(&written);
    let data = Data {
        tables: HashMap::from([("SigninLogs".to_string(), rows.to_vec())]),
        ..Data::default()
    };
    let mut now = T0 - MIN;
    while now <= T0 + 90 * MIN {
        let want = sorted(evaluate(&written, &data, now));
        let got = sorted(evaluate(&pushed, &data, now));
        prop_assert_eq!(
            got,
            want,
            "{} at +{} min\n{}\nafter pushdown:\n{}",
            query,
            (now - T0) / MIN,
            written.explain(),
            pushed.explain()
        );
        now += 7 * MIN;
    }
    Ok(())
}

#[test]
fn pushdown_changes_the_plans_it_should_and_only_those() {
    for (q, moves) in queries() {
        let p = program(&q);
        let o = plan::optimize(&p);
        assert_eq!(
            o != p,
            moves,
            "{q}\n{}\nafter:\n{}",
            p.explain(),
            o.explain()
        );
        // Optimising again changes nothing.
        assert_eq!(plan::optimize(&o), o, "{q}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pushed_down_program_evaluates_as_written(rows in records()) {
        for (q, _) in queries() {
            check(&q, &rows)?;
        }
    }
}
