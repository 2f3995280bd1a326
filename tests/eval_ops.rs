//! The batch evaluator operator by operator, on constant tables and hand-made rows.

use kqlflow::catalog::Catalog;
use kqlflow::eval::{self, Data, Watchlist};
use kqlflow::kql;
use kqlflow::model::{Row, TICKS_PER_MINUTE, Value, parse_datetime};
use kqlflow::plan::{self, BindOptions};

fn run_at(src: &str, data: &Data, now: i64) -> Vec<Row> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let mut opts = BindOptions::default();
    for (name, w) in &data.watchlists {
        opts.watchlists.insert(name.clone(), w.columns.clone());
    }
    let p = plan::bind(src, &q, Catalog::builtin(), &opts)
        .unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    eval::evaluate(&p, data, now)
}

fn run(src: &str) -> Vec<Row> {
    run_at(src, &Data::default(), 0)
}

fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort();
    rows
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn l(x: i64) -> Value {
    Value::Long(x)
}

const N: Value = Value::Null;

const LR: &str = "let L = datatable(k:string, v:long) ['a', 2, 'a', 1, 'b', 3];\n\
                  let R = datatable(k:string, w:long) ['a', 10, 'a', 11, 'c', 30];\n";

#[test]
fn join_kinds() {
    let j = |kind: &str| sorted(run(&format!("{LR}L | join kind={kind} R on k")));
    assert_eq!(
        j("innerunique"),
        [
            vec![s("a"), l(1), s("a"), l(10)],
            vec![s("a"), l(1), s("a"), l(11)]
        ]
    );
    assert_eq!(
        sorted(run(&format!("{LR}L | join R on k"))),
        j("innerunique")
    );
    assert_eq!(j("inner").len(), 4);
    assert_eq!(
        j("leftouter"),
        [
            vec![s("a"), l(1), s("a"), l(10)],
            vec![s("a"), l(1), s("a"), l(11)],
            vec![s("a"), l(2), s("a"), l(10)],
            vec![s("a"), l(2), s("a"), l(11)],
            vec![s("b"), l(3), s(""), N],
        ]
    );
    assert_eq!(j("rightouter").len(), 5);
    assert!(j("rightouter").contains(&vec![s(""), N, s("c"), l(30)]));
    assert_eq!(j("fullouter").len(), 6);
    assert_eq!(j("leftanti"), [vec![s("b"), l(3)]]);
    assert_eq!(j("leftsemi"), [vec![s("a"), l(1)], vec![s("a"), l(2)]]);
    assert_eq!(j("rightanti"), [vec![s("c"), l(30)]]);
    assert_eq!(j("rightsemi"), [vec![s("a"), l(10)], vec![s("a"), l(11)]]);
    assert_eq!(
        sorted(run(&format!(
            "{LR}L | lookup (R | summarize w = max(w) by k) on k"
        ))),
        [
            vec![s("a"), l(1), l(11)],
            vec![s("a"), l(2), l(11)],
            vec![s("b"), l(3), N]
        ]
    );
}

#[test]
fn union_fills_missing_columns() {
    let rows = run("union withsource=T (datatable(a:long) [1]), (datatable(b:string) ['x'])");
    assert_eq!(
        rows,
        [
            vec![s("union_arg0"), l(1), s("")],
            vec![s("union_arg1"), N, s("x")]
        ]
    );
}

#[test]
fn summarize_and_presentation() {
    let t = "datatable(g:string, x:long) ['a', 3, 'b', 1, 'a', 5, 'b', 1, 'c', 2]";
    assert_eq!(
        run(&format!(
            "{t} | summarize n = count(), d = dcount(x), s = make_set(x), m = max(x) by g"
        )),
        [
            vec![s("a"), l(2), l(2), Value::array(vec![l(3), l(5)]), l(5)],
            vec![s("b"), l(2), l(1), Value::array(vec![l(1)]), l(1)],
            vec![s("c"), l(1), l(1), Value::array(vec![l(2)]), l(2)],
        ]
    );
    assert_eq!(
        run(&format!("{t} | where x > 10 | summarize count()")),
        [vec![l(0)]]
    );
    assert_eq!(
        run(&format!("{t} | summarize arg_max(x, g)")),
        [vec![l(5), s("a")]]
    );
    assert_eq!(
        run(&format!("{t} | top 2 by x")),
        [vec![s("a"), l(5)], vec![s("a"), l(3)]]
    );
    assert_eq!(
        run(&format!("{t} | order by x asc, g desc | take 3")),
        [vec![s("b"), l(1)], vec![s("b"), l(1)], vec![s("c"), l(2)]]
    );
    assert_eq!(run(&format!("{t} | distinct g | count")), [vec![l(3)]]);
    assert_eq!(run(&format!("{t} | take 0")), Vec::<Row>::new());
}

#[test]
fn mv_expand_and_mv_apply() {
    let t = "datatable(id:long, xs:dynamic) [1, dynamic([1, 5, 3]), 2, dynamic([])]";
    assert_eq!(
        run(&format!(
            "{t} | mv-expand x = xs to typeof(long) | project id, x"
        )),
        [vec![l(1), l(1)], vec![l(1), l(5)], vec![l(1), l(3)]]
    );
    assert_eq!(
        run(&format!(
            "{t} | mv-apply x = xs to typeof(long) on (summarize m = max(x)) | project id, m"
        )),
        [vec![l(1), l(5)], vec![l(2), N]]
    );
    assert_eq!(
        run(&format!(
            "{t} | mv-apply x = xs to typeof(long) on (where x > 2 | extend y = x * 10) | project id, x, y"
        )),
        [vec![l(1), l(5), l(50)], vec![l(1), l(3), l(30)]]
    );
}

#[test]
fn toscalar_in_subquery_and_user_functions() {
    let t = "let T = datatable(g:string, x:long) ['a', 3, 'b', 1, 'c', 2];\n";
    assert_eq!(
        run(&format!(
            "{t}let m = toscalar(T | summarize max(x));\nT | where x == m | project g"
        )),
        [vec![s("a")]]
    );
    assert_eq!(
        run(&format!(
            "{t}T | where g in ((T | where x < 3 | project g)) | project g"
        )),
        [vec![s("b")], vec![s("c")]]
    );
    assert_eq!(
        run(&format!(
            "{t}let f = (U:(x:long), n:long) {{ U | where x >= n }};\nT | invoke f(2) | count"
        )),
        [vec![l(2)]]
    );
}

fn signin(time: &str, upn: &str) -> (i64, Row) {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let t = parse_datetime(time).unwrap();
    row[table.time_column] = Value::DateTime(t);
    row[table.schema.index_of("UserPrincipalName").unwrap()] = s(upn);
    (t, row)
}

#[test]
fn temporal_windows_follow_the_tick() {
    let mut data = Data::default();
    data.tables.insert(
        "SigninLogs".into(),
        vec![
            signin("2024-06-30T10:30:00Z", "b"),
            signin("2024-06-30T10:00:00Z", "a"),
            signin("2024-06-30T12:00:00Z", "c"),
        ],
    );
    let t0 = parse_datetime("2024-06-30T10:00:00Z").unwrap();
    let q = "SigninLogs | where TimeGenerated > ago(1h) | summarize n = count(), l = make_list(UserPrincipalName)";
    let at = |m: i64| run_at(q, &data, t0 + m * TICKS_PER_MINUTE);
    assert_eq!(at(-1), [vec![l(0), Value::array(vec![])]]);
    assert_eq!(at(0), [vec![l(1), Value::array(vec![s("a")])]]);
    assert_eq!(at(30), [vec![l(2), Value::array(vec![s("a"), s("b")])]]);
    assert_eq!(at(60), [vec![l(1), Value::array(vec![s("b")])]]);
    assert_eq!(at(90), [vec![l(0), Value::array(vec![])]]);
    assert_eq!(at(120), [vec![l(1), Value::array(vec![s("c")])]]);
    let q = "SigninLogs | where TimeGenerated between (ago(1h) .. ago(30m)) | project UserPrincipalName";
    assert_eq!(
        run_at(q, &data, t0 + 60 * TICKS_PER_MINUTE),
        [vec![s("b")], vec![s("a")]]
    );
}

#[test]
fn watchlists_are_read_by_column_name() {
    let mut data = Data::default();
    data.watchlists.insert(
        "Allow".into(),
        Watchlist::from_csv("IPOrRange,Comment\n10.0.0.0/8,lab\n1.2.3.4,vpn\n").unwrap(),
    );
    assert_eq!(
        run_at(
            "_GetWatchlist('Allow') | where Comment == 'vpn' | project IPOrRange, SearchKey",
            &data,
            0
        ),
        [vec![s("1.2.3.4"), s("1.2.3.4")]]
    );
}
