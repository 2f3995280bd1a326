//! Sharing between rules rendered into one dataflow: a sub-plan two rules compute alike is
//! rendered once, a join input arranged by the same key is arranged once, and each rule's
//! result is what it would be alone.

use std::collections::HashMap;

use differential_dataflow::input::Input;
use kqlflow::catalog::Catalog;
use kqlflow::exec::{Layouts, Sources, render_all, run_program};
use kqlflow::model::{Row, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{self, BindOptions, Program};
use kqlflow::runtime::{ClusterOptions, snapshot};
use timely::dataflow::operators::Probe;

const T0: i64 = 1_714_550_400 * S;

fn program(src: &str) -> Program {
    let q = kqlflow::kql::parse(src).unwrap();
    plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "query")))
}

/// How many sub-plans and arrangements `render_all` reuses for `programs`.
fn reused(programs: Vec<Program>) -> usize {
    timely::execute_directly(move |worker| {
        worker.dataflow::<u64, _, _>(|scope| {
            let layouts = Layouts::of(&programs);
            let mut sources = Sources {
                tables: HashMap::new(),
                watchlists: HashMap::new(),
                layouts,
            };
            let mut handles = Vec::new();
            for t in ["SigninLogs", "AuditLogs"] {
                let (h, c) = scope.new_collection::<Row, isize>();
                handles.push(h);
                sources.tables.insert(t.to_string(), c);
            }
            let (outs, reused) = render_all(&programs, &sources, S, 0, &[]);
            for o in outs {
                o.unwrap().inner.probe();
            }
            reused
        })
    })
}

const FAILURES: &str =
    "SigninLogs | where ResultType != \"0\" | summarize Failures = count() by UserPrincipalName";

#[test]
fn equal_sub_plans_and_join_inputs_are_rendered_once() {
    // Nothing in common but the table.
    assert_eq!(
        reused(vec![
            program("SigninLogs | where ResultType == \"0\" | count"),
            program("AuditLogs | summarize count() by OperationName"),
        ]),
        0
    );
    // The second rule extends the first: the whole of the first is reused.
    assert!(
        reused(vec![
            program(FAILURES),
            program(&format!("{FAILURES} | where Failures > 3")),
        ]) >= 1
    );
    // Two joins of the same input on the same key share its arrangement.
    let n = reused(vec![
        program(&format!(
            "{FAILURES} | join kind=inner (SigninLogs | where ResultType == \"0\" | distinct UserPrincipalName) on UserPrincipalName"
        )),
        program(&format!(
            "{FAILURES} | join kind=leftanti (SigninLogs | where ResultType == \"0\" | distinct UserPrincipalName) on UserPrincipalName"
        )),
    ]);
    assert!(n >= 2, "{n}");
    // A let used twice in one program is rendered once, even without materialize().
    assert!(
        reused(vec![program(&format!(
            "let a = {FAILURES}; let b = {FAILURES}; a | join kind=inner b on UserPrincipalName"
        ))]) >= 1
    );
}

fn signin(t: i64, user: &str, result: &str) -> (i64, Row) {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let set = |row: &mut Row, col: &str, v: Value| row[table.schema.index_of(col).unwrap()] = v;
    set(&mut row, "TimeGenerated", Value::DateTime(t));
    set(&mut row, "UserPrincipalName", Value::str(user));
    set(&mut row, "ResultType", Value::str(result));
    (t, row)
}

#[test]
fn a_program_whose_parts_coincide_gives_the_batch_result_at_every_tick() {
    // Both sides of each join are the same computation, arranged once.
    let p = program(&format!(
        "let a = {FAILURES}; let b = {FAILURES};\n\
         a | join kind=fullouter (b | where Failures > 1) on UserPrincipalName\n\
         | join kind=leftsemi ({FAILURES}) on UserPrincipalName"
    ));
    let rows: Vec<(i64, Row)> = (0..40)
        .map(|i| {
            signin(
                T0 + i * 7 * MIN,
                ["alice", "bob", "carol"][(i % 3) as usize],
                if i % 4 == 0 { "0" } else { "50126" },
            )
        })
        .collect();
    let data = kqlflow::eval::Data {
        tables: [("SigninLogs".to_string(), rows.clone())].into(),
        ..Default::default()
    };
    for workers in [1, 3] {
        let cluster = ClusterOptions {
            workers,
            ..ClusterOptions::default()
        };
        let changes = run_program(
            &p,
            &[("SigninLogs".to_string(), rows.clone())],
            &[],
            &cluster,
            S,
        )
        .unwrap();
        for (t, _) in &rows {
            let mut got: Vec<Row> = snapshot(&changes, *t as u64)
                .into_iter()
                .flat_map(|(r, n)| std::iter::repeat_n(r, n as usize))
                .collect();
            let mut want = kqlflow::eval::evaluate(&p, &data, *t);
            got.sort();
            want.sort();
            assert_eq!(got, want, "at {t} on {workers} worker(s)");
        }
    }
}
