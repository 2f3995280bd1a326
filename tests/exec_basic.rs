//! The incremental engine end to end: KQL bound to a plan, run as a differential dataflow on 1
//! and 3 workers, with the result checked at each tick.

use kqlflow::catalog::Catalog;
use kqlflow::exec::{SourceFilter, run_program};
use kqlflow::model::{Row, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{self, BindOptions, Program};
use kqlflow::runtime::{Change, ClusterOptions, snapshot};

const T0: i64 = 1_714_550_400 * S; // 2024-05-01T08:00:00Z

fn program(src: &str) -> Program {
    let q = kqlflow::kql::parse(src).unwrap();
    plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "query")))
}

fn signin(t: i64, user: &str, ip: &str, result: &str) -> (i64, Row) {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let set = |row: &mut Row, col: &str, v: Value| row[table.schema.index_of(col).unwrap()] = v;
    set(&mut row, "TimeGenerated", Value::DateTime(t));
    set(&mut row, "UserPrincipalName", Value::str(user));
    set(&mut row, "IPAddress", Value::str(ip));
    set(&mut row, "ResultType", Value::str(result));
    set(&mut row, "Type", Value::str("SigninLogs"));
    (t, row)
}

fn run(p: &Program, rows: Vec<(i64, Row)>, workers: usize) -> Vec<Change> {
    let cluster = ClusterOptions {
        workers,
        ..ClusterOptions::default()
    };
    run_program(p, &[("SigninLogs".to_string(), rows)], &[], &cluster, S).unwrap()
}

fn at(changes: &[Change], t: i64) -> Vec<Row> {
    let mut out = Vec::new();
    for (row, n) in snapshot(changes, t as u64) {
        assert!(n > 0, "negative multiplicity {n} for {row:?}");
        for _ in 0..n {
            out.push(row.clone());
        }
    }
    out
}

fn data() -> Vec<(i64, Row)> {
    vec![
        signin(T0, "alice", "1.1.1.1", "50126"),
        signin(T0 + 10 * MIN, "alice", "2.2.2.2", "50126"),
        signin(T0 + 20 * MIN, "bob", "3.3.3.3", "0"),
        signin(T0 + 30 * MIN, "alice", "2.2.2.2", "0"),
        signin(T0 + 40 * MIN, "bob", "3.3.3.3", "50053"),
        signin(T0 + 90 * MIN, "carol", "4.4.4.4", "50126"),
    ]
}

#[test]
fn summarize_and_filter_on_aggregates() {
    let p = program(
        "SigninLogs | where ResultType != \"0\" | summarize Failures = count(), IPs = dcount(IPAddress) by UserPrincipalName | where Failures >= 2",
    );
    let one = run(&p, data(), 1);
    let row = |u: &str, f: i64, ips: i64| vec![Value::str(u), Value::Long(f), Value::Long(ips)];
    assert_eq!(at(&one, T0), Vec::<Row>::new());
    assert_eq!(at(&one, T0 + 10 * MIN), vec![row("alice", 2, 2)]);
    assert_eq!(at(&one, T0 + 2 * 60 * MIN), vec![row("alice", 2, 2)]);
    assert_eq!(run(&p, data(), 3), one);
}

#[test]
fn sliding_window_enters_and_leaves() {
    let p = program(
        "SigninLogs | where TimeGenerated > ago(1h) | summarize Signins = count() by UserPrincipalName",
    );
    let one = run(&p, data(), 1);
    let row = |u: &str, n: i64| vec![Value::str(u), Value::Long(n)];
    assert_eq!(at(&one, T0 + 5 * MIN), vec![row("alice", 1)]);
    assert_eq!(
        at(&one, T0 + 45 * MIN),
        vec![row("alice", 3), row("bob", 2)]
    );
    // At 08:59:59 alice's 08:00 sign-in is still within the hour; at 09:00 it is not.
    assert_eq!(
        at(&one, T0 + 60 * MIN - S),
        vec![row("alice", 3), row("bob", 2)]
    );
    assert_eq!(
        at(&one, T0 + 60 * MIN),
        vec![row("alice", 2), row("bob", 2)]
    );
    assert_eq!(
        at(&one, T0 + 95 * MIN),
        vec![row("bob", 1), row("carol", 1)]
    );
    assert_eq!(at(&one, T0 + 200 * MIN), Vec::<Row>::new());
    assert_eq!(run(&p, data(), 3), one);
}

#[test]
fn a_scalar_that_reads_an_earlier_scalar() {
    // `late` is computed from `failed`: rendering it reads the scalars before it (it once
    // recursed without end, rendering every scalar for each).
    let p = program(
        "let failed = toscalar(SigninLogs | where ResultType != \"0\" | summarize make_set(UserPrincipalName));\n\
         let late = toscalar(SigninLogs | where ResultType == \"0\" and set_has_element(failed, UserPrincipalName) | summarize make_set(UserPrincipalName));\n\
         SigninLogs | where set_has_element(late, UserPrincipalName) | project UserPrincipalName, ResultType",
    );
    let one = run(&p, data(), 1);
    let row = |u: &str, r: &str| vec![Value::str(u), Value::str(r)];
    // 08:20: bob succeeds, but has not failed yet.
    assert_eq!(at(&one, T0 + 20 * MIN), Vec::<Row>::new());
    // 08:30: alice, who failed at 08:00 and 08:10, succeeds: all her sign-ins.
    let mut alice = vec![
        row("alice", "0"),
        row("alice", "50126"),
        row("alice", "50126"),
    ];
    alice.sort();
    let mut got = at(&one, T0 + 30 * MIN);
    got.sort();
    assert_eq!(got, alice);
    // 08:40: bob fails after his success: his sign-ins join alice's.
    assert_eq!(at(&one, T0 + 40 * MIN).len(), 5);
    assert_eq!(run(&p, data(), 3), one);
}

#[test]
fn anti_join_against_a_let() {
    let p = program(
        "let ok = SigninLogs | where ResultType == \"0\" | distinct UserPrincipalName;\n\
         SigninLogs | where ResultType != \"0\" | join kind=leftanti ok on UserPrincipalName | project UserPrincipalName, IPAddress",
    );
    let one = run(&p, data(), 1);
    let row = |u: &str, ip: &str| vec![Value::str(u), Value::str(ip)];
    assert_eq!(
        at(&one, T0 + 10 * MIN),
        vec![row("alice", "1.1.1.1"), row("alice", "2.2.2.2")]
    );
    // Alice signs in successfully at 08:30: her failures leave the result.
    assert_eq!(at(&one, T0 + 30 * MIN), Vec::<Row>::new());
    assert_eq!(at(&one, T0 + 90 * MIN), vec![row("carol", "4.4.4.4")]);
    assert_eq!(run(&p, data(), 3), one);
}

#[test]
fn keyless_summarize_has_one_row_even_when_empty() {
    let p = program("SigninLogs | where ResultType == \"nope\" | summarize n = count()");
    let one = run(&p, data(), 1);
    assert_eq!(at(&one, T0 + 10 * MIN), vec![vec![Value::Long(0)]]);
    assert_eq!(run(&p, data(), 2), one);
}

#[test]
fn keyless_summarize_over_nothing_gives_kusto_defaults() {
    let p = program(
        "SigninLogs | where ResultType == \"nope\" | extend x = strlen(IPAddress), r = strlen(IPAddress) * 0.5 \
         | summarize n = count(x), s = sum(x), sr = sum(r), si = sumif(x, x > 1), sd = stdev(x), v = variance(r), \
         sdi = stdevif(x, true), vi = varianceif(x, true), a = avg(x), m = max(x), st = make_set(x)",
    );
    let one = run(&p, data(), 1);
    assert_eq!(
        at(&one, T0 + 10 * MIN),
        vec![vec![
            Value::Long(0),
            Value::Long(0),
            Value::Real(0.0),
            Value::Long(0),
            Value::Real(0.0),
            Value::Real(0.0),
            Value::Real(0.0),
            Value::Real(0.0),
            Value::Null,
            Value::Null,
            Value::array(Vec::new()),
        ]]
    );
    assert_eq!(run(&p, data(), 2), one);
}

#[test]
fn inner_join_and_union() {
    let p = program(
        "let f = SigninLogs | where ResultType != \"0\" | summarize Failed = count() by UserPrincipalName;\n\
         let s = SigninLogs | where ResultType == \"0\" | summarize Ok = count() by UserPrincipalName;\n\
         union (f | join kind=inner s on UserPrincipalName | project UserPrincipalName, Failed, Ok), (print UserPrincipalName = \"marker\")",
    );
    let one = run(&p, data(), 1);
    let snap = at(&one, T0 + 45 * MIN);
    assert!(
        snap.iter().any(|r| r.first() == Some(&Value::str("alice"))
            && r.contains(&Value::Long(2))
            && r.contains(&Value::Long(1))),
        "{snap:?}"
    );
    assert!(
        snap.iter()
            .any(|r| r.first() == Some(&Value::str("marker"))),
        "{snap:?}"
    );
    assert_eq!(run(&p, data(), 3), one);
}

/// Predicate pushdown to the sources: a record that no filter on a scan keeps is not fed.
#[test]
fn source_filters_keep_what_some_scan_can_use() {
    let ok = signin(T0, "alice", "1.1.1.1", "0").1;
    let failed = signin(T0, "bob", "2.2.2.2", "50126").1;
    let failures = program(
        "SigninLogs | where ResultType != \"0\" and TimeGenerated > ago(1h) | project UserPrincipalName",
    );
    let f = SourceFilter::of([&failures]);
    assert!(f.keeps("SigninLogs", &failed));
    assert!(!f.keeps("SigninLogs", &ok));
    // A chain of filters on a scan: every one of them must hold.
    let chained = program(
        "SigninLogs | where TimeGenerated > ago(1h) | where ResultType != \"0\" | where IPAddress startswith \"2.\"",
    );
    let c = SourceFilter::of([&chained]);
    assert!(c.keeps("SigninLogs", &failed));
    assert!(!c.keeps("SigninLogs", &ok));
    assert!(!c.keeps("SigninLogs", &signin(T0, "bob", "1.1.1.1", "50126").1));
    // A table no program scans keeps nothing.
    assert!(!f.keeps("AuditLogs", &ok));
    assert_eq!(f.filtered_tables(), vec!["SigninLogs"]);
    // Two rules: a record either keeps is fed.
    let alice = program("SigninLogs | where UserPrincipalName == \"alice\"");
    let both = SourceFilter::of([&failures, &alice]);
    assert!(both.keeps("SigninLogs", &ok));
    assert!(both.keeps("SigninLogs", &failed));
    assert!(!both.keeps("SigninLogs", &signin(T0, "carol", "3.3.3.3", "0").1));
    // A scan without a filter directly on it takes everything, even beside a filtered one.
    let union = program(
        "union (SigninLogs | where ResultType == \"x\"), (SigninLogs | extend y = 1 | where y == 2)",
    );
    assert!(SourceFilter::of([&union]).keeps("SigninLogs", &ok));
    // A filter reading a scalar sub-query is no filter.
    let scalar = program(
        "let n = toscalar(SigninLogs | summarize count()); SigninLogs | where strlen(IPAddress) > n",
    );
    assert!(SourceFilter::of([&scalar]).keeps("SigninLogs", &ok));
    // And the engine gives the same result as the batch evaluator with the records it skipped.
    let rows = vec![
        signin(T0, "alice", "1.1.1.1", "0"),
        signin(T0 + MIN, "bob", "2.2.2.2", "50126"),
    ];
    let changes = run(&failures, rows, 1);
    assert_eq!(at(&changes, T0 + 2 * MIN), vec![vec![Value::str("bob")]]);
}

/// Filters written after an extend, a project or into a join's input are pushed down onto
/// the scans, so the source filter sees them and leaves out the records none keeps; the
/// result is still the batch evaluator's.
#[test]
fn source_filters_see_filters_pushed_below_extends_and_joins() {
    let ok = signin(T0, "alice", "1.1.1.1", "0").1;
    let failed = signin(T0, "bob", "2.2.2.2", "50126").1;
    let extended = program(
        "SigninLogs | extend Host = strcat(\"h-\", IPAddress) | project UserPrincipalName, Host, ResultType | where ResultType != \"0\"",
    );
    let f = SourceFilter::of([&extended]);
    assert!(f.keeps("SigninLogs", &failed));
    assert!(!f.keeps("SigninLogs", &ok));
    assert_eq!(f.filtered_tables(), vec!["SigninLogs"]);
    // A filter on the computed column cannot move: every record is kept.
    let computed = program(
        "SigninLogs | extend Host = strcat(\"h-\", IPAddress) | where Host == \"h-2.2.2.2\"",
    );
    assert!(SourceFilter::of([&computed]).keeps("SigninLogs", &ok));
    // Both inputs of an inner join get the filter on the key.
    let joined = program(
        "SigninLogs | project UserPrincipalName, IPAddress | join kind=inner (SigninLogs | where ResultType != \"0\" | project UserPrincipalName) on UserPrincipalName | where IPAddress startswith \"2.\"",
    );
    let j = SourceFilter::of([&joined]);
    assert!(j.keeps("SigninLogs", &failed));
    assert!(!j.keeps("SigninLogs", &ok));
    let rows = vec![
        signin(T0, "alice", "1.1.1.1", "0"),
        signin(T0 + MIN, "bob", "2.2.2.2", "50126"),
        signin(T0 + 2 * MIN, "bob", "1.1.1.1", "0"),
    ];
    let data = kqlflow::eval::Data {
        tables: [("SigninLogs".to_string(), rows.clone())].into(),
        ..Default::default()
    };
    for p in [&extended, &computed, &joined] {
        let changes = run(p, rows.clone(), 1);
        let mut got = at(&changes, T0 + 3 * MIN);
        let mut want = kqlflow::eval::evaluate(p, &data, T0 + 3 * MIN);
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert!(!want.is_empty());
    }
}

/// Rows cut to the columns a query reads at the scan (column projection) are widened back
/// where they flow on whole: a filter's full rows, a join's left rows, `distinct` over all
/// columns. Every column the query outputs keeps its value.
#[test]
fn whole_rows_survive_column_projection() {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let location = table.schema.index_of("Location").unwrap();
    let rows: Vec<(i64, Row)> = data()
        .into_iter()
        .enumerate()
        .map(|(i, (t, mut row))| {
            row[location] = Value::str(format!("L{i}"));
            (t, row)
        })
        .collect();
    for src in [
        "SigninLogs | where ResultType != \"0\"",
        "SigninLogs | where ResultType != \"0\" | join kind=inner (SigninLogs | where ResultType == \"0\" | project UserPrincipalName, OkIP = IPAddress) on UserPrincipalName",
        "SigninLogs | distinct *",
    ] {
        let p = program(src);
        let one = run(&p, rows.clone(), 1);
        let end = T0 + 2 * 60 * MIN;
        let mut got = at(&one, end);
        let data = kqlflow::eval::Data {
            tables: [("SigninLogs".to_string(), rows.clone())].into(),
            ..Default::default()
        };
        let mut want: Vec<Row> = kqlflow::eval::evaluate(&p, &data, end);
        got.sort();
        want.sort();
        assert!(!want.is_empty(), "{src}");
        assert_eq!(got, want, "{src}");
        assert!(
            got.iter()
                .all(|r| matches!(&r[location], Value::String(s) if s.starts_with('L'))),
            "{src}: Location lost"
        );
        assert_eq!(run(&p, rows.clone(), 3), one, "{src}");
    }
}

#[test]
fn print_and_datatable_alone_give_their_rows_as_the_batch_evaluator_does() {
    // A query that reads no table: one row for print, the declared rows for datatable
    // (it gave none on the incremental engine).
    for (src, want) in [
        ("print x = 1, y = 'a'", 1),
        ("datatable(x:long)[1, 2, 3] | where x > 1", 2),
    ] {
        let q = kqlflow::kql::parse(src).unwrap();
        let p = kqlflow::plan::bind(
            src,
            &q,
            kqlflow::catalog::Catalog::builtin(),
            &kqlflow::plan::BindOptions::default(),
        )
        .unwrap();
        let changes = kqlflow::exec::run_program(
            &p,
            &[],
            &[],
            &kqlflow::runtime::ClusterOptions::default(),
            600_000_000,
        )
        .unwrap();
        let mut got: Vec<_> = changes.iter().map(|c| c.row.clone()).collect();
        got.sort();
        let mut batch = kqlflow::eval::evaluate(&p, &kqlflow::eval::Data::default(), 0);
        batch.sort();
        assert_eq!(got.len(), want, "{src}");
        assert_eq!(got, batch, "{src}");
    }
}
