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
    // _ItemId: a GUID per row, stable (the same row, the same id), distinct between rows.
    let ids = run_at(
        "_GetWatchlist('Allow') | project IPOrRange, _ItemId",
        &data,
        0,
    );
    assert_eq!(ids.len(), 2);
    let id = |r: &Vec<Value>| match &r[1] {
        Value::String(g) => g.to_string(),
        other => panic!("{other:?}"),
    };
    assert_ne!(id(&ids[0]), id(&ids[1]));
    assert!(
        ids.iter()
            .all(|r| id(r).len() == 36 && id(r).matches('-').count() == 4)
    );
    assert_eq!(
        run_at(
            "_GetWatchlist('Allow') | project IPOrRange, _ItemId",
            &data,
            0
        ),
        ids
    );
    // A file's own _ItemId column wins.
    data.watchlists.insert(
        "Own".into(),
        Watchlist::from_csv("_ItemId,Name\nabc,x\n").unwrap(),
    );
    let mut opts = BindOptions::default();
    opts.watchlists
        .insert("Own".into(), vec!["_ItemId".into(), "Name".into()]);
    let q = "_GetWatchlist('Own') | project _ItemId, SearchKey";
    let parsed = kql::parse(q).unwrap();
    let p = plan::bind(q, &parsed, Catalog::builtin(), &opts).unwrap();
    assert_eq!(eval::evaluate(&p, &data, 0), [vec![s("abc"), s("abc")]]);
}

// ---- make-series ------------------------------------------------------------------------------

fn dt(x: &str) -> Value {
    Value::DateTime(parse_datetime(x).unwrap())
}

fn reals(xs: &[f64]) -> Value {
    Value::array(xs.iter().map(|x| Value::Real(*x)).collect())
}

fn longs(xs: &[i64]) -> Value {
    Value::array(xs.iter().map(|x| Value::Long(*x)).collect())
}

fn days(from: &str, n: i64) -> Value {
    let t0 = parse_datetime(from).unwrap();
    Value::array(
        (0..n)
            .map(|i| Value::DateTime(t0 + i * 24 * 60 * TICKS_PER_MINUTE))
            .collect(),
    )
}

/// Kusto's documentation example of make-series (avg over a day axis from 2017-01-01 to
/// 2017-01-10, exclusive): the row of 2016-12-31 and the one of 2017-01-10 fall out of range,
/// 2017-01-04 has no rows and holds 0.
const METRICS: &str = "let data = datatable(timestamp:datetime, metric:real, host:string) [\
    datetime(2016-12-31T06:00), 50, 'a', datetime(2017-01-01), 4, 'a', datetime(2017-01-02), 3, 'a',\
    datetime(2017-01-03), 4, 'a', datetime(2017-01-03T03:00), 6, 'b', datetime(2017-01-05), 8, 'a',\
    datetime(2017-01-05T13:40), 13, 'b', datetime(2017-01-06), 4, 'a', datetime(2017-01-07), 3, 'a',\
    datetime(2017-01-08), 8, 'a', datetime(2017-01-08T21:00), 8, 'b', datetime(2017-01-09), 2, 'a',\
    datetime(2017-01-09T12:00), 11, 'b', datetime(2017-01-10T05:00), 5, 'a'];\n";

#[test]
fn make_series_documentation_example() {
    let rows = run(&format!(
        "{METRICS}data | make-series avg(metric) on timestamp from datetime(2017-01-01) to datetime(2017-01-10) step 1d"
    ));
    assert_eq!(
        rows,
        [vec![
            reals(&[4.0, 3.0, 5.0, 0.0, 10.5, 4.0, 3.0, 8.0, 6.5]),
            days("2017-01-01", 9),
        ]]
    );
}

#[test]
fn make_series_by_keys_defaults_and_several_aggregates() {
    let rows = sorted(run(&format!(
        "{METRICS}data | make-series n = count(), s = sum(metric) default = -1.0, big = countif(metric > 5) \
         on timestamp from datetime(2017-01-03) to datetime(2017-01-06) step 1d by host"
    )));
    assert_eq!(
        rows,
        [
            vec![
                s("a"),
                longs(&[1, 0, 1]),
                reals(&[4.0, -1.0, 8.0]),
                longs(&[0, 0, 1]),
                days("2017-01-03", 3),
            ],
            vec![
                s("b"),
                longs(&[1, 0, 1]),
                reals(&[6.0, -1.0, 13.0]),
                longs(&[1, 0, 1]),
                days("2017-01-03", 3),
            ],
        ]
    );
    let cols = |src: &str| -> Vec<String> {
        let src = format!("{METRICS}{src}");
        let q = kql::parse(&src).unwrap();
        let p = plan::bind(&src, &q, Catalog::builtin(), &BindOptions::default()).unwrap();
        p.schema()
            .iter()
            .map(|c| format!("{}:{}", c.name, c.ty))
            .collect()
    };
    assert_eq!(
        cols("data | make-series count(), avg(metric), dcount(host) on timestamp step 1d by host"),
        [
            "host:string",
            "count_:dynamic",
            "avg_metric:dynamic",
            "dcount_host:dynamic",
            "timestamp:dynamic"
        ]
    );
}

#[test]
fn make_series_range_from_the_data() {
    // Without from/to the arrays run from the least to the greatest bin with data, over all
    // groups, so b's array starts with days it has no rows in.
    let rows = sorted(run(&format!(
        "{METRICS}data | where timestamp >= datetime(2017-01-03) | make-series max(metric) on timestamp step 2d by host"
    )));
    // Two-day bins from 0001-01-01 (Kusto's bin()): 2017-01-02 is a bin start, the bins are
    // 01-02, 01-04, 01-06, 01-08, 01-10.
    let bins = Value::array(
        [
            "2017-01-02",
            "2017-01-04",
            "2017-01-06",
            "2017-01-08",
            "2017-01-10",
        ]
        .iter()
        .map(|d| dt(d))
        .collect(),
    );
    assert_eq!(
        rows,
        [
            vec![s("a"), reals(&[4.0, 8.0, 4.0, 8.0, 5.0]), bins.clone()],
            vec![s("b"), reals(&[6.0, 13.0, 0.0, 11.0, 0.0]), bins],
        ]
    );
    // No rows, no series (without kind=nonempty).
    assert!(
        run(&format!(
            "{METRICS}data | where metric > 100 | make-series count() on timestamp step 1d"
        ))
        .is_empty()
    );
    assert_eq!(
        run(&format!(
            "{METRICS}data | where metric > 100 | make-series kind=nonempty count() on timestamp from datetime(2017-01-01) to datetime(2017-01-03) step 1d"
        )),
        [vec![longs(&[0, 0]), days("2017-01-01", 2)]]
    );
}

#[test]
fn make_series_in_range_and_long_axis() {
    // `in range(start, stop, step)`: the stop is inclusive and the bins come from bin().
    let rows = run(&format!(
        "{METRICS}data | make-series count() on timestamp in range(datetime(2017-01-08T12:00), datetime(2017-01-09), 1d)"
    ));
    assert_eq!(rows, [vec![longs(&[2, 2]), days("2017-01-08", 2)]]);
    let rows = run(
        "datatable(x:long, y:long) [1, 10, 2, 20, 7, 70, 12, 5] | make-series sum(y) on x from 0 to 10 step 5",
    );
    assert_eq!(rows, [vec![longs(&[30, 70]), longs(&[0, 5])]]);
}

#[test]
fn make_series_then_anomalies_and_mv_expand() {
    // A flat series with a spike: flags, scores and the baseline as Kusto's three columns.
    let rows = run(
        "datatable(t:long, v:long) [0, 10, 1, 10, 2, 10, 3, 10, 4, 10, 5, 10, 6, 10, 7, 10, 8, 10, 9, 50]\n\
         | make-series v = sum(v) on t from 0 to 10 step 1\n\
         | extend (flag, score, baseline) = series_decompose_anomalies(v, 1.5, 0, 'avg')\n\
         | mv-expand t to typeof(long), v to typeof(double), flag to typeof(double), score to typeof(double), baseline to typeof(long)\n\
         | where flag != 0\n\
         | extend score = round(score, 6)",
    );
    assert_eq!(
        rows,
        [vec![
            Value::Real(50.0),
            l(9),
            Value::Real(1.0),
            Value::Real(9.0),
            l(14)
        ]]
    );
    // Unnamed, the three columns take Kusto's generated names.
    let src = "datatable(y:dynamic) [dynamic([1, 2, 3])] | extend series_decompose_anomalies(y)";
    let q = kql::parse(src).unwrap();
    let p = plan::bind(src, &q, Catalog::builtin(), &BindOptions::default()).unwrap();
    let names: Vec<&str> = p.schema().iter().map(|c| &*c.name).collect();
    assert_eq!(
        names,
        [
            "y",
            "series_decompose_anomalies_y_ad_flag",
            "series_decompose_anomalies_y_ad_score",
            "series_decompose_anomalies_y_baseline"
        ]
    );
    assert!(
        p.notes.iter().any(|n| n.contains("autodetect")),
        "{:?}",
        p.notes
    );
    // One name: the flags only.
    assert_eq!(
        run(
            "print a = series_decompose_anomalies(dynamic([10, 10, 10, 10, 10, 10, 10, 10, 10, 50]))"
        ),
        [vec![longs(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1])]]
    );
}

/// `top` and `take` inside a query (Kusto: `top` sorts and keeps the first N; `take` keeps any
/// N): kqlflow keeps the first N by the keys with ties broken by the row, and for `take` the
/// N least rows, so that both engines and every worker count keep the same ones.
#[test]
fn top_and_take_in_the_middle_of_a_query() {
    let t = "let T = datatable(k:string, v:long) ['c', 2, 'a', 2, 'b', 5, 'd', 1];\n";
    assert_eq!(
        run(&format!("{t}T | top 2 by v desc | project k")),
        [vec![s("b")], vec![s("a")]]
    );
    assert_eq!(
        run(&format!(
            "{t}T | top 3 by v asc | summarize n = count(), s = sum(v)"
        )),
        [vec![l(3), l(5)]]
    );
    assert_eq!(
        sorted(run(&format!("{t}T | take 2 | project k"))),
        [vec![s("a")], vec![s("b")]]
    );
    assert_eq!(
        run(&format!(
            "{t}let best = toscalar(T | top 1 by v desc | project k); T | where k == best | project v"
        )),
        [vec![l(5)]]
    );
}

#[test]
fn aggregate_defaults_and_count_of_values() {
    // Kusto's "default values of aggregations": over no values count, sum, sumif, stdev,
    // variance (and their -if forms) are 0, avg and max null; summarize with no `by` over no
    // rows still gives one row.
    let empty = "datatable(k:string, x:long, r:real) [] ";
    assert_eq!(
        run(&format!(
            "{empty}| summarize n = count(), c = count(x), s = sum(x), sr = sum(r), si = sumif(x, x > 0), \
             sd = stdev(x), v = variance(r), sdi = stdevif(x, x > 0), vi = varianceif(r, r > 0), a = avg(x), m = max(x)"
        )),
        [vec![
            l(0),
            l(0),
            l(0),
            Value::Real(0.0),
            l(0),
            Value::Real(0.0),
            Value::Real(0.0),
            Value::Real(0.0),
            Value::Real(0.0),
            N,
            N
        ]]
    );
    // With a `by`, no rows give no groups.
    assert!(run(&format!("{empty}| summarize s = sum(x) by k")).is_empty());
    // A group whose values are all null: sum 0, count(x) 0, count() its rows.
    let t =
        "datatable(k:string, x:long) ['a', long(null), 'a', long(null), 'b', 2, 'b', long(null)] ";
    assert_eq!(
        sorted(run(&format!(
            "{t}| summarize n = count(), c = count(x), s = sum(x), si = sumif(x, k == 'a'), sd = stdev(x) by k"
        ))),
        [
            vec![s("a"), l(2), l(0), l(0), l(0), Value::Real(0.0)],
            vec![s("b"), l(2), l(1), l(2), l(0), Value::Real(0.0)],
        ]
    );
    // count(x)'s column is named after its argument.
    let q = "datatable(k:string, x:long) [] | summarize count(x), count()";
    let parsed = kql::parse(q).unwrap_or_else(|e| panic!("{}", e.render(q, "<q>")));
    let p = plan::bind(q, &parsed, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(q, "<q>")));
    let names: Vec<&str> = p.root.schema.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["count_x", "count_"]);
}

fn names(q: &str) -> Vec<String> {
    let parsed = kql::parse(q).unwrap_or_else(|e| panic!("{}", e.render(q, "<q>")));
    let p = plan::bind(q, &parsed, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(q, "<q>")));
    p.root.schema.iter().map(|c| c.name.to_string()).collect()
}

#[test]
fn containscs_is_contains_cs() {
    assert_eq!(
        run(
            "print a = 'Hello' containscs 'ell', b = 'Hello' containscs 'ELL', c = 'Hello' !containscs 'ELL', d = 'Hello' !containscs 'ell'"
        ),
        [vec![
            Value::Bool(true),
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(false)
        ]]
    );
}

#[test]
fn percentile_and_percentiles_by_nearest_rank() {
    // Nearest rank: the least value with at least p% of the values at or below it.
    let t = "datatable(k:string, x:long) ['a', 1, 'a', 2, 'a', 3, 'a', 4, 'a', 5, 'a', 6, 'a', 7, 'a', 8, 'a', 9, 'a', 10, 'b', 7, 'b', long(null)] ";
    assert_eq!(
        sorted(run(&format!(
            "{t}| summarize percentiles(x, 0, 10, 50, 90, 99.5, 100) by k"
        ))),
        [
            vec![s("a"), l(1), l(1), l(5), l(9), l(10), l(10)],
            vec![s("b"), l(7), l(7), l(7), l(7), l(7), l(7)],
        ]
    );
    assert_eq!(
        names(&format!(
            "{t}| summarize percentiles(x, 5, 50, 99.5), percentile(x, 95) by k"
        )),
        [
            "k",
            "percentile_x_5",
            "percentile_x_50",
            "percentile_x_99_5",
            "percentile_x_95"
        ]
    );
    assert_eq!(
        names(&format!(
            "{t}| summarize (p5, p95) = percentiles(x, 5, 95), m = percentiles(x, 50)"
        )),
        ["p5", "p95", "m"]
    );
    assert_eq!(
        run(&format!(
            "{t}| where k == 'a' | summarize (lo, hi) = percentiles(x, 25, 75)"
        )),
        [vec![l(3), l(8)]]
    );
    // Weighted: each value counted its weight times (the documentation's bucketed latencies).
    let w =
        "datatable(ReqCount:long, LatencyBucket:long) [20, 10, 33, 20, 60, 30, 100, 40, 200, 50] ";
    assert_eq!(
        run(&format!(
            "{w}| summarize percentilesw(LatencyBucket, ReqCount, 50, 75, 99.9), percentilew(LatencyBucket, ReqCount, 10)"
        )),
        [vec![l(40), l(50), l(50), l(20)]]
    );
    assert_eq!(
        names(&format!(
            "{w}| summarize percentilesw(LatencyBucket, ReqCount, 50, 99.9)"
        )),
        [
            "percentile_LatencyBucket_50",
            "percentile_LatencyBucket_99_9"
        ]
    );
    // Over no values: null.
    assert_eq!(
        run("datatable(x:long) [] | summarize percentile(x, 50)"),
        [vec![N]]
    );
    for bad in [
        "datatable(x:long) [] | summarize p = percentiles(x, 5, 95)",
        "datatable(x:long) [] | summarize percentile(x, 150)",
        "datatable(x:long) [] | summarize percentile(x, x)",
    ] {
        let parsed = kql::parse(bad).unwrap();
        assert!(
            plan::bind(bad, &parsed, Catalog::builtin(), &BindOptions::default()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn scalars_over_aggregates_in_summarize() {
    let t = "datatable(k:string, x:long, y:string) ['a', 1, 'p', 'a', 2, 'q', 'b', 4, 'p'] ";
    assert_eq!(
        sorted(run(&format!(
            "{t}| summarize s = tostring(make_set(y)), n = count(), r = toint(avg(x)) * 10, q = strcat(k, '-', count()), w = iff(max(x) > 3, 'big', 'small') by k"
        ))),
        [
            vec![
                s("a"),
                s("[\"p\",\"q\"]"),
                l(2),
                l(10),
                s("a-2"),
                s("small")
            ],
            vec![s("b"), s("[\"p\"]"), l(1), l(40), s("b-1"), s("big")],
        ]
    );
    // Unnamed: a conversion of one aggregate keeps the aggregate's name.
    assert_eq!(
        names(&format!(
            "{t}| summarize tostring(make_set(y)), toint(avg(x)), max(x) - min(x) by k"
        )),
        ["k", "set_y", "avg_x", "Column1"]
    );
    // With no `by` over no rows: one row, the expression over the aggregates' defaults.
    assert_eq!(
        run("datatable(x:long) [] | summarize a = sum(x) + 1, b = tostring(make_set(x))"),
        [vec![l(1), s("[]")]]
    );
}

#[test]
fn join_on_conditions_joined_by_and() {
    let q = "let L = datatable(a:string, b:long, v:long) ['x', 1, 10, 'x', 2, 20, 'y', 1, 30];\n\
             let R = datatable(c:string, d:long, w:long) ['x', 1, 100, 'x', 3, 300, 'y', 1, 400];\n";
    let by_and = sorted(run(&format!(
        "{q}L | join kind=inner R on $left.a == $right.c and $left.b == $right.d | project a, b, v, w"
    )));
    assert_eq!(
        by_and,
        [
            vec![s("x"), l(1), l(10), l(100)],
            vec![s("y"), l(1), l(30), l(400)]
        ]
    );
    let by_comma = sorted(run(&format!(
        "{q}L | join kind=inner R on $left.a == $right.c, $left.b == $right.d | project a, b, v, w"
    )));
    assert_eq!(by_and, by_comma);
    assert_eq!(
        sorted(run(&format!(
            "{q}L | join kind=leftanti R on $left.a == $right.c and $left.b == $right.d"
        ))),
        [vec![s("x"), l(2), l(20)]]
    );
}

#[test]
fn named_arguments() {
    // A user function's parameters by name, in any order, with defaults for the others.
    assert_eq!(
        run(
            "let f = (a:long, b:long = 2, c:long = 3) { a * 100 + b * 10 + c }; print x = f(1, c = 7), y = f(b = 5, a = 4), z = f(9)"
        ),
        [vec![l(127), l(453), l(923)]]
    );
    // ipv4_lookup's return_unmatched by name (false: the matched rows only).
    let q = "let R = datatable(net:string, tag:string) ['10.0.0.0/8', 'ten'];\n\
             datatable(ip:string) ['10.1.2.3', '8.8.8.8'] | evaluate ipv4_lookup(R, ip, net, return_unmatched = false)";
    assert_eq!(run(q), [vec![s("10.1.2.3"), s("10.0.0.0/8"), s("ten")]]);
    // return_unmatched = true (Kusto's documented example, cut down): the rows that match no
    // range are kept, the lookup's columns empty; a row matching two ranges gives two rows;
    // an equal input row keeps its multiplicity.
    let q = "let IP_Data = datatable(network:string, continent_code:string, country_iso_code:string)\n\
             ['111.68.128.0/17','AS','JP', '5.8.0.0/19','EU','RU', '5.8.1.0/24','EU','RU2', '2.20.183.0/24','EU','GB'];\n\
             datatable(ip:string, n:long) ['2.20.183.12', 1, '5.8.1.2', 2, '192.165.12.17', 3, '', 4, '192.165.12.17', 3]\n\
             | evaluate ipv4_lookup(IP_Data, ip, network, return_unmatched = true)";
    let null_row = |ip: &str, n: i64| vec![s(ip), l(n), s(""), s(""), s("")];
    assert_eq!(
        sorted(run(q)),
        sorted(vec![
            vec![s("2.20.183.12"), l(1), s("2.20.183.0/24"), s("EU"), s("GB")],
            vec![s("5.8.1.2"), l(2), s("5.8.0.0/19"), s("EU"), s("RU")],
            vec![s("5.8.1.2"), l(2), s("5.8.1.0/24"), s("EU"), s("RU2")],
            null_row("192.165.12.17", 3),
            null_row("192.165.12.17", 3),
            null_row("", 4),
        ])
    );
    // As a bare bool after the keys, with an extra key; a lookup column of another type is
    // null for the unmatched rows.
    let q = "let R = datatable(net:string, k:long, score:real) ['10.0.0.0/8', 1, 0.5];\n\
             datatable(ip:string, k:long) ['10.1.2.3', 1, '10.1.2.3', 2]\n\
             | evaluate ipv4_lookup(R, ip, net, k, true)";
    assert_eq!(
        sorted(run(q)),
        sorted(vec![
            vec![s("10.1.2.3"), l(1), s("10.0.0.0/8"), l(1), Value::Real(0.5)],
            vec![s("10.1.2.3"), l(2), s(""), Value::Null, Value::Null],
        ])
    );
    for (bad, says) in [
        ("let f = (a:long) { a }; print f(b = 1)", "no parameter 'b'"),
        ("print strlen(s = 'x')", "named argument"),
        (
            "datatable(ip:string) [] | evaluate ipv4_lookup(datatable(n:string) [], ip, n, keep = false)",
            "no parameter 'keep'",
        ),
    ] {
        let parsed = kql::parse(bad).unwrap_or_else(|e| panic!("{}", e.render(bad, "<q>")));
        match plan::bind(bad, &parsed, Catalog::builtin(), &BindOptions::default()) {
            Ok(_) => panic!("{bad} binds"),
            Err(e) => assert!(e.message.contains(says), "{bad}: {}", e.message),
        }
    }
}

#[test]
fn between_a_datetime_and_a_timespan() {
    // Kusto: `StartTime between (datetime(2007-07-27) .. 3d)` is 2007-07-27 .. 2007-07-30,
    // both ends included.
    let t = "datatable(t:datetime) [datetime(2007-07-26T23:59:59Z), datetime(2007-07-27), datetime(2007-07-29T12:00:00Z), datetime(2007-07-30), datetime(2007-07-30T00:00:01Z)] ";
    assert_eq!(
        run(&format!(
            "{t}| where t between (datetime(2007-07-27) .. 3d) | count"
        )),
        [vec![l(3)]]
    );
    assert_eq!(
        run(&format!(
            "{t}| where t !between (datetime(2007-07-27) .. 3d) | count"
        )),
        [vec![l(2)]]
    );
    // Relative to now: `between (ago(3d) .. 1d)` is from three days ago to two days ago.
    let now = parse_datetime("2007-08-01T00:00:00Z").unwrap();
    let rows = run_at(
        &format!("{t}| where t between (ago(3d) .. 1d) | project t"),
        &Data::default(),
        now,
    );
    assert_eq!(
        rows,
        [
            vec![Value::DateTime(
                parse_datetime("2007-07-29T12:00:00Z").unwrap()
            )],
            vec![Value::DateTime(
                parse_datetime("2007-07-30T00:00:00Z").unwrap()
            )]
        ]
    );
}

#[test]
fn day_aligned_windows_follow_midnight() {
    // `> startofday(ago(1d))`: from yesterday's midnight, whatever the time of day now.
    let t = "datatable(t:datetime) [datetime(2024-05-01T23:00:00Z), datetime(2024-05-02T00:00:00Z), datetime(2024-05-02T10:00:00Z), datetime(2024-05-03T01:00:00Z)] ";
    let count_at = |q: &str, now: &str| {
        run_at(
            &format!("{t}| where {q} | count"),
            &Data::default(),
            parse_datetime(now).unwrap(),
        )
    };
    let since_yesterday = "t > startofday(ago(1d))";
    assert_eq!(
        count_at(since_yesterday, "2024-05-03T02:00:00Z"),
        [vec![l(2)]]
    );
    assert_eq!(
        count_at(since_yesterday, "2024-05-03T23:59:59Z"),
        [vec![l(2)]]
    );
    // (A datatable's rows are all there at any tick, the one after now too.)
    assert_eq!(
        count_at(since_yesterday, "2024-05-02T12:00:00Z"),
        [vec![l(4)]]
    );
    assert_eq!(
        count_at(since_yesterday, "2024-05-04T00:00:00Z"),
        [vec![l(1)]]
    );
    // `>=` keeps the record at midnight itself.
    assert_eq!(
        count_at("t >= startofday(ago(1d))", "2024-05-03T02:00:00Z"),
        [vec![l(3)]]
    );
    assert_eq!(
        count_at(
            "t between (startofday(ago(2d)) .. startofday(now()))",
            "2024-05-03T02:00:00Z"
        ),
        [vec![l(3)]]
    );
}

/// The column names of the query's result.
fn columns(src: &str) -> Vec<String> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let p = plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    p.schema().iter().map(|c| c.name.to_string()).collect()
}

/// Kusto's series_fit_line example: y over 12 hourly bins.
const FIT: &str = "print y = dynamic([2, 5, 6, 8, 11, 15, 17, 18, 25, 26, 30, 30])";

fn real(v: &Value) -> f64 {
    match v {
        Value::Real(x) => *x,
        Value::Long(x) => *x as f64,
        other => panic!("a number expected, not {other:?}"),
    }
}

fn close(v: &Value, want: f64) {
    assert!((real(v) - want).abs() < 1e-3, "{v:?} is not {want}");
}

#[test]
fn series_fit_line_on_kusto_example() {
    let q = format!(
        "{FIT} | extend (RSquare, Slope, Variance, RVariance, Interception, LineFit) = series_fit_line(y) | project-away y"
    );
    let rows = run(&q);
    let r = &rows[0];
    close(&r[0], 0.982);
    close(&r[1], 2.730);
    close(&r[2], 98.628);
    close(&r[3], 1.686);
    close(&r[4], -1.666);
    let Value::Array(fit) = &r[5] else {
        panic!("line_fit is an array")
    };
    assert_eq!(fit.len(), 12);
    close(&fit[0], 1.064);
    close(&fit[11], 31.102);
    // Unnamed, the columns are named after the function and its argument.
    assert_eq!(
        columns(&format!("{FIT} | extend series_fit_line(y)")),
        [
            "y",
            "series_fit_line_y_rsquare",
            "series_fit_line_y_slope",
            "series_fit_line_y_variance",
            "series_fit_line_y_rvariance",
            "series_fit_line_y_interception",
            "series_fit_line_y_line_fit"
        ]
    );
}

#[test]
fn series_fit_line_dynamic_on_kusto_example() {
    let rows = run(&format!(
        "{FIT} | extend fit = series_fit_line_dynamic(y) \
         | project RSquare = fit.rsquare, Slope = fit.slope, Variance = fit.variance, \
           RVariance = fit.rvariance, Interception = fit.interception, LineFit = fit.line_fit"
    ));
    let r = &rows[0];
    close(&r[0], 0.982);
    close(&r[1], 2.730);
    close(&r[2], 98.628);
    close(&r[3], 1.686);
    close(&r[4], -1.666);
    let Value::Array(fit) = &r[5] else {
        panic!("line_fit is an array")
    };
    close(&fit[2], 6.526);
    // A perfect line: r-square 1, no residual; not an array: null.
    let rows = run(
        "print f = series_fit_line_dynamic(dynamic([3, 5, 7])), n = series_fit_line_dynamic('x')",
    );
    let Value::Object(bag) = &rows[0][0] else {
        panic!("a bag expected")
    };
    let get = |k: &str| bag.iter().find(|(n, _)| &**n == k).map(|(_, v)| v.clone());
    close(&get("rsquare").unwrap_or(N), 1.0);
    close(&get("slope").unwrap_or(N), 2.0);
    close(&get("interception").unwrap_or(N), 1.0);
    close(&get("rvariance").unwrap_or(N), 0.0);
    close(&get("variance").unwrap_or(N), 4.0);
    assert_eq!(rows[0][1], N);
}

/// Kusto's series_stats example.
const STATS: &str = "print x = dynamic([23, 46, 23, 87, 4, 8, 3, 75, 2, 56, 13, 75, 32, 16, 29])";

#[test]
fn series_stats_on_kusto_example() {
    let rows = run(&format!("{STATS} | project series_stats(x)"));
    let r = &rows[0];
    close(&r[0], 2.0);
    assert_eq!(r[1], l(8));
    close(&r[2], 87.0);
    assert_eq!(r[3], l(3));
    close(&r[4], 32.8);
    close(&r[5], 28.5036338535483);
    close(&r[6], 812.457142857143);
    assert_eq!(
        columns(&format!("{STATS} | project series_stats(x)")),
        [
            "series_stats_x_min",
            "series_stats_x_min_idx",
            "series_stats_x_max",
            "series_stats_x_max_idx",
            "series_stats_x_avg",
            "series_stats_x_stdev",
            "series_stats_x_variance"
        ]
    );
    let rows = run(&format!(
        "{STATS} | extend s = series_stats_dynamic(x) | project s.min, s.max_idx, s.avg, s.sum, s.len"
    ));
    close(&rows[0][0], 2.0);
    assert_eq!(rows[0][1], l(3));
    close(&rows[0][2], 32.8);
    close(&rows[0][3], 492.0);
    assert_eq!(rows[0][4], l(15));
    // A null element makes the statistics null, unless ignore_nonfinite is true.
    let rows = run(
        "print x = dynamic([1, null, 3]) | extend (mn, mi) = series_stats(x), (a, b, c, d, avg) = series_stats(x, true) | project mn, mi, avg",
    );
    assert_eq!(rows, [vec![N, N, Value::Real(2.0)]]);
}

#[test]
fn series_outliers_scores_by_tukey_fences() {
    // A flat series: the fences meet, nothing scores. With ctukey's 10th and 90th percentiles
    // of [1, 1, 1, 1, 10] (1 and 6.4), the 10 scores (10 - 6.4) / 5.4.
    let rows = run("print o = series_outliers(dynamic([4, 4, 4]))");
    assert_eq!(rows[0][0], Value::array(vec![Value::Real(0.0); 3]));
    let rows = run("print o = series_outliers(dynamic([1, 1, 1, 1, 10]))");
    let Value::Array(o) = &rows[0][0] else {
        panic!("an array expected")
    };
    close(&o[4], 3.6 / 5.4);
    close(&o[0], 0.0);
    let rows =
        run("print o = series_outliers(dynamic([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]), 'tukey', 5)");
    let Value::Array(o) = &rows[0][0] else {
        panic!("an array expected")
    };
    // Without the ignored 5: [1,2,3,4,6,7,8,9,100]; 25th percentile 3, 75th 8, range 5.
    close(&o[9], (100.0 - 8.0) / 5.0);
    close(&o[0], (1.0 - 3.0) / 5.0);
    close(&o[3], 0.0);
    // The ignored value scores 0.
    close(&o[4], 0.0);
    assert_eq!(
        run("print o = series_outliers(dynamic([1, 2]), 'other')")[0][0],
        N
    );
}

#[test]
fn arg_max_with_a_tuple_of_names() {
    // Kusto names arg_max's output columns in turn: the maximised one, then the others (the
    // beaconing rules' `(MostFrequentTimeDeltaCount, MostFrequentTimeDeltainSeconds) = …`).
    let q = "datatable(k:string, c:long, d:long) ['a', 1, 10, 'a', 5, 20, 'b', 2, 30] \
             | summarize (MostC, AtD) = arg_max(c, d), n = sum(c) by k";
    assert_eq!(columns(q), ["k", "MostC", "AtD", "n"]);
    assert_eq!(
        sorted(run(q)),
        [
            vec![s("a"), l(5), l(20), l(6)],
            vec![s("b"), l(2), l(30), l(2)]
        ]
    );
    let q = "datatable(k:string, c:long) ['a', 1] | summarize (Lo) = arg_min(c, k)";
    assert_eq!(columns(q), ["Lo", "k"]);
}

fn bind_error(src: &str) -> String {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    match plan::bind(src, &q, Catalog::builtin(), &BindOptions::default()) {
        Ok(_) => panic!("{src} binds"),
        Err(e) => e.message,
    }
}

/// The examples of Kusto's bag_unpack documentation: the columns are the ones the rest of the
/// query reads (typed dynamic) or the declared output schema.
#[test]
fn bag_unpack_as_documented() {
    let people = "datatable(d:dynamic, Description:string) [\n\
        dynamic({\"Name\": \"John\", \"Age\":20, \"Address\": \"Address-1\"}), 'Student',\n\
        dynamic({\"Name\": \"Dave\", \"Age\":40, \"Address\": \"Address-2\"}), 'Teacher',\n\
        dynamic({\"Name\": \"Jasmine\", \"Age\":30, \"Address\": \"Address-3\"}), 'Student',\n\
        dynamic({\"Name\": \"Bo\"}), 'Guest',\n\
        dynamic(['not', 'a', 'bag']), 'Odd',\n\
        dynamic(null), 'Nobody']\n";
    // Expand a bag: a slot a row's bag lacks is null.
    assert_eq!(
        sorted(run(&format!(
            "{people}| evaluate bag_unpack(d) | project Description, Name, Age"
        ))),
        sorted(vec![
            vec![s("Student"), s("John"), l(20)],
            vec![s("Teacher"), s("Dave"), l(40)],
            vec![s("Student"), s("Jasmine"), l(30)],
            vec![s("Guest"), s("Bo"), Value::Null],
            vec![s("Odd"), Value::Null, Value::Null],
            vec![s("Nobody"), Value::Null, Value::Null],
        ])
    );
    // The bag's column is gone (a name read after it is its slot, as Kusto allows a slot named
    // as the bag); the unpacked columns are dynamic, compared as their values.
    assert_eq!(
        run(&format!(
            "{people}| evaluate bag_unpack(d) | where Description == 'Teacher' | project d"
        )),
        [vec![Value::Null]]
    );
    assert_eq!(
        run(&format!(
            "{people}| evaluate bag_unpack(d) | where Age > 25 and Name startswith 'J' | project Name"
        )),
        [vec![s("Jasmine")]]
    );
    // With OutputColumnPrefix: only the prefixed names are slots.
    assert_eq!(
        sorted(run(&format!(
            "{people}| evaluate bag_unpack(d, 'Property_') | where isnotnull(Property_Age) | project Property_Name, Property_Age"
        ))),
        sorted(vec![
            vec![s("John"), l(20)],
            vec![s("Dave"), l(40)],
            vec![s("Jasmine"), l(30)],
        ])
    );
    assert!(
        bind_error(&format!(
            "{people}| evaluate bag_unpack(d, 'Property_') | project Name"
        ))
        .contains("unknown column 'Name'")
    );
    // columnsConflict: the input's Name replaced by the slot, or kept.
    let named = "datatable(Name:string, d:dynamic) ['Old_name', dynamic({\"Name\": \"John\", \"Age\":20}), 'Old_name', dynamic({\"Age\":40})]\n";
    assert_eq!(
        sorted(run(&format!(
            "{named}| evaluate bag_unpack(d, columnsConflict='replace_source') | project Name, Age"
        ))),
        sorted(vec![vec![s("John"), l(20)], vec![Value::Null, l(40)]])
    );
    assert_eq!(
        sorted(run(&format!(
            "{named}| evaluate bag_unpack(d, columnsConflict='keep_source') | project Name, Age"
        ))),
        sorted(vec![vec![s("Old_name"), l(20)], vec![s("Old_name"), l(40)]])
    );
    // ignoredProperties: those slots are not columns.
    assert_eq!(
        sorted(run(&format!(
            "{people}| evaluate bag_unpack(d, ignoredProperties=dynamic(['Address', 'Age'])) | where Description == 'Student' | project Description, Name"
        ))),
        sorted(vec![
            vec![s("Student"), s("John")],
            vec![s("Student"), s("Jasmine")],
        ])
    );
    assert!(
        bind_error(&format!(
            "{people}| evaluate bag_unpack(d, ignoredProperties=dynamic(['Address', 'Age'])) | project Age"
        ))
        .contains("unknown column 'Age'")
    );
    // An output schema: its columns only, converted to their types; `*` first keeps the
    // input's columns.
    assert_eq!(
        sorted(run(&format!(
            "{people}| evaluate bag_unpack(d) : (*, Name:string, Age:long) | where Description != 'Odd' and Description != 'Nobody'"
        ))),
        sorted(vec![
            vec![s("Student"), s("John"), l(20)],
            vec![s("Teacher"), s("Dave"), l(40)],
            vec![s("Student"), s("Jasmine"), l(30)],
            vec![s("Guest"), s("Bo"), Value::Null],
        ])
    );
    assert_eq!(
        run(&format!(
            "{people}| evaluate bag_unpack(d) : (Age:string) | where Age != '' | summarize make_set(Age)"
        )),
        [vec![Value::Array(vec![s("20"), s("30"), s("40")].into())]]
    );
    // A bag held as JSON text, and the bracketed names Windows event data unpacks to.
    assert_eq!(
        run(
            "datatable(x:string) ['{\"@Name\":\"Image\",\"#text\":\"cmd.exe\"}'] | evaluate bag_unpack(x) | extend Key = tostring(['@Name']), Value = ['#text'] | project Key, Value"
        ),
        [vec![s("Image"), s("cmd.exe")]]
    );
    // Mistakes are bind errors.
    for (q, says) in [
        (
            "print d = dynamic({}) | evaluate bag_unpack(e)",
            "unknown column 'e'",
        ),
        (
            "print d = 1 | evaluate bag_unpack(d)",
            "not a dynamic property bag",
        ),
        (
            "print d = dynamic({}) | evaluate bag_unpack(d, columnsConflict='merge')",
            "'error', 'replace_source' or 'keep_source'",
        ),
        (
            "print d = dynamic({}) | evaluate bag_unpack(d, prefix='x')",
            "no parameter 'prefix'",
        ),
        (
            "print d = dynamic({}) | evaluate bag_unpack()",
            "takes the dynamic column",
        ),
        (
            "print d = dynamic({}), p = 'x' | evaluate bag_unpack(d, p)",
            "unknown name 'p'",
        ),
        (
            "print d = dynamic({}) | evaluate bag_unpack(d, tostring(now()))",
            "must be a constant",
        ),
        (
            "print d = dynamic({}) | evaluate narrow()",
            "not supported yet: evaluate narrow",
        ),
        (
            "print d = dynamic({}) | evaluate ipv4_lookup(d, d, d) : (a:string)",
            "output schema",
        ),
    ] {
        assert!(bind_error(q).contains(says), "{q}: {}", bind_error(q));
    }
}

/// Kusto's pivot examples, cut down: one column per value of the pivot column, holding the
/// aggregate (count() by default) over the rows with that value.
#[test]
fn pivot_as_documented() {
    let storms = "datatable(State:string, EventType:string, DeathsDirect:long) [\n\
        'ALABAMA', 'Thunderstorm Wind', 1, 'ALABAMA', 'Thunderstorm Wind', 2,\n\
        'ALASKA', 'Thunderstorm Wind', 0, 'ALASKA', 'High Wind', 5, 'ALASKA', 'High Wind', 3,\n\
        'ALABAMA', 'Strong Wind', 4]\n";
    // By a column: the other columns are the groups (here EventType alone).
    assert_eq!(
        sorted(run(&format!(
            "{storms}| project State, EventType | evaluate pivot(State) | project EventType, ALABAMA, ALASKA"
        ))),
        sorted(vec![
            vec![s("Thunderstorm Wind"), l(2), l(1)],
            vec![s("High Wind"), l(0), l(2)],
            vec![s("Strong Wind"), l(1), l(0)],
        ])
    );
    // With an aggregate: the default groups leave out the column it reads; sum over no row
    // is 0, min over none null.
    assert_eq!(
        sorted(run(&format!(
            "{storms}| evaluate pivot(State, sum(DeathsDirect)) | project EventType, ALABAMA, ALASKA"
        ))),
        sorted(vec![
            vec![s("Thunderstorm Wind"), l(3), l(0)],
            vec![s("High Wind"), l(0), l(8)],
            vec![s("Strong Wind"), l(4), l(0)],
        ])
    );
    assert_eq!(
        sorted(run(&format!(
            "{storms}| evaluate pivot(State, min(DeathsDirect), EventType) | where EventType != 'Strong Wind' | project EventType, ALASKA, ALABAMA"
        ))),
        sorted(vec![
            vec![s("Thunderstorm Wind"), l(0), l(1)],
            vec![s("High Wind"), l(3), Value::Null],
        ])
    );
    // An output schema gives the columns, their order and types; keys named first.
    assert_eq!(
        sorted(run(&format!(
            "{storms}| evaluate pivot(State, make_set(DeathsDirect), EventType) : (EventType:string, ALASKA:dynamic, TEXAS:dynamic)"
        ))),
        sorted(vec![
            vec![
                s("Thunderstorm Wind"),
                Value::Array(vec![l(0)].into()),
                Value::Array(vec![].into())
            ],
            vec![
                s("High Wind"),
                Value::Array(vec![l(3), l(5)].into()),
                Value::Array(vec![].into())
            ],
            vec![
                s("Strong Wind"),
                Value::Array(vec![].into()),
                Value::Array(vec![].into())
            ],
        ])
    );
    // Windows event data, as Sentinel's Sysmon rules read it: parse_xml, mv-expand,
    // bag_unpack, then pivot on the name with any(value).
    let events = "datatable(Computer:string, EventData:string) [\n\
        'h1', '<DataItem><EventData><Data Name=\"Image\">C:\\\\certutil.exe</Data><Data Name=\"CommandLine\">certutil -urlcache</Data></EventData></DataItem>',\n\
        'h2', '<DataItem><EventData><Data Name=\"Image\">C:\\\\notepad.exe</Data><Data Name=\"User\">bob</Data></EventData></DataItem>']\n";
    assert_eq!(
        sorted(run(&format!(
            "{events}| extend EventData = parse_xml(EventData).DataItem.EventData.Data\n\
             | mv-expand bagexpansion=array EventData\n\
             | evaluate bag_unpack(EventData)\n\
             | extend Key = tostring(['@Name']), Value = ['#text']\n\
             | evaluate pivot(Key, any(Value), Computer)\n\
             | project Computer, Image = tostring(Image), CommandLine = tostring(CommandLine)"
        ))),
        sorted(vec![
            vec![s("h1"), s("C:\\certutil.exe"), s("certutil -urlcache")],
            vec![s("h2"), s("C:\\notepad.exe"), s("")],
        ])
    );
    for (q, says) in [
        (
            "print d = 1 | evaluate pivot()",
            "takes the column to pivot",
        ),
        ("print d = 1 | evaluate pivot(e)", "unknown column 'e'"),
        (
            "print d = 1 | evaluate pivot(d, arg_max(d, d))",
            "not supported yet: pivot with arg_max()",
        ),
        (
            "print d = 1 | evaluate pivot(d, count(d))",
            "count() takes no argument",
        ),
        (
            "print d = 1 | evaluate pivot(d, count(), f)",
            "unknown column 'f'",
        ),
        (
            "print d = 1 | evaluate pivot(d) : (*, a:long)",
            "`*` is bag_unpack's",
        ),
    ] {
        assert!(bind_error(q).contains(says), "{q}: {}", bind_error(q));
    }
}

#[test]
fn extract_and_extractjson_convert_to_a_typeof() {
    // Kusto: `extract(regex, group, text, typeof(T))` and `extract_json(path, text,
    // typeof(T))` give the string found converted to T; null when it does not convert.
    let rows = run(r#"print a = extractjson("$.a", '{"a":12}', typeof(long)),
        b = extract_json("$.b", '{"b":"2024-01-02"}', typeof(datetime)),
        c = extract(@"(\d+)", 1, "ab42", typeof(real)) * 2,
        d = extractjson("$.a", '{"a":"x"}', typeof(long)),
        e = extractjson("$.a", '{"a":12}')"#);
    assert_eq!(
        rows,
        vec![vec![
            l(12),
            Value::DateTime(parse_datetime("2024-01-02").unwrap()),
            Value::Real(84.0),
            N,
            s("12"),
        ]]
    );
}
