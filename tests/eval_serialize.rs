//! `serialize` and the window functions (`prev`, `next`, `row_number`, `row_cumsum`) in the
//! batch evaluator, against the examples and rules of Kusto's documentation, and the binder's
//! refusal of window functions over rows that have no order.

use kqlflow::catalog::Catalog;
use kqlflow::eval::{self, Data};
use kqlflow::kql;
use kqlflow::model::{Row, Value};
use kqlflow::plan::{self, BindOptions};

fn run(src: &str) -> Vec<Row> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let p = plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    eval::evaluate(&p, &Data::default(), 0)
}

/// The column names of the query's result.
fn columns(src: &str) -> Vec<String> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let p = plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    p.schema().iter().map(|c| c.name.to_string()).collect()
}

/// The error binding `src` gives: its line:column and message.
fn err(src: &str) -> (String, String) {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    match plan::bind(src, &q, Catalog::builtin(), &BindOptions::default()) {
        Ok(_) => panic!("expected an error binding {src}"),
        Err(e) => (kql::line_col(src, e.span.start).to_string(), e.message),
    }
}

fn l(x: i64) -> Value {
    Value::Long(x)
}

fn s(x: &str) -> Value {
    Value::str(x)
}

const N: Value = Value::Null;

/// Column `i` of every row.
fn col(rows: &[Row], i: usize) -> Vec<Value> {
    rows.iter().map(|r| r[i].clone()).collect()
}

#[test]
fn row_cumsum_of_the_even_numbers() {
    // Kusto's row_cumsum example: the running sum of 2, 4, 6, 8, 10.
    let rows = run("datatable (a:long) [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        | where a % 2 == 0
        | serialize cs = row_cumsum(a)");
    assert_eq!(
        rows,
        [
            vec![l(2), l(2)],
            vec![l(4), l(6)],
            vec![l(6), l(12)],
            vec![l(8), l(20)],
            vec![l(10), l(30)],
        ]
    );
}

#[test]
fn row_cumsum_restarts_per_partition() {
    // Kusto's example: a cumulative salary per name, restarting where the name changes.
    let rows = run(r#"datatable (name:string, month:int, salary:long)
        ["Alice", 1, 1000, "Bob", 1, 1000, "Alice", 2, 2000, "Bob", 2, 1950, "Alice", 3, 1400, "Bob", 3, 1450]
        | order by name asc, month asc
        | extend total = row_cumsum(salary, name != prev(name))"#);
    assert_eq!(
        col(&rows, 0),
        [
            s("Alice"),
            s("Alice"),
            s("Alice"),
            s("Bob"),
            s("Bob"),
            s("Bob")
        ]
    );
    assert_eq!(
        col(&rows, 3),
        [l(1000), l(3000), l(4400), l(1000), l(2950), l(4400)]
    );
    assert_eq!(
        columns("datatable (a:long) [1] | serialize | extend t = row_cumsum(a)"),
        ["a", "t"]
    );
}

#[test]
fn row_cumsum_of_reals_and_nulls() {
    let rows = run(
        "datatable (x:real) [0.5, 1.25, real(null), 2.0] | sort by x asc nulls last | extend c = row_cumsum(x)",
    );
    assert_eq!(
        col(&rows, 1),
        [
            Value::Real(0.5),
            Value::Real(1.75),
            Value::Real(3.75),
            Value::Real(3.75)
        ]
    );
}

#[test]
fn row_number_with_start_and_restart() {
    // Kusto's row_number examples: from 1 by default, from a given index, and restarting
    // where a partition starts.
    let rows = run("datatable (a:long) [10, 9, 8, 7] | sort by a desc | extend rn = row_number()");
    assert_eq!(col(&rows, 1), [l(1), l(2), l(3), l(4)]);
    let rows = run("datatable (a:long) [10, 9, 8] | sort by a desc | extend rn = row_number(7)");
    assert_eq!(col(&rows, 1), [l(7), l(8), l(9)]);
    let rows = run(
        r#"datatable (Airport:string, Airline:string, Departures:long)
        ["TLV", "LH", 1, "TLV", "LY", 100, "SEA", "LH", 1, "SEA", "BA", 2, "SEA", "LY", 0]
        | sort by Airport asc, Departures desc
        | extend Rank = row_number(1, prev(Airport) != Airport)"#,
    );
    assert_eq!(
        rows,
        [
            vec![s("SEA"), s("BA"), l(2), l(1)],
            vec![s("SEA"), s("LH"), l(1), l(2)],
            vec![s("SEA"), s("LY"), l(0), l(3)],
            vec![s("TLV"), s("LY"), l(100), l(1)],
            vec![s("TLV"), s("LH"), l(1), l(2)],
        ]
    );
}

#[test]
fn prev_and_next_with_offsets_and_defaults() {
    let q = "datatable (a:long) [1, 2, 3, 4] | sort by a asc \
             | extend p = prev(a), p2 = prev(a, 2), pd = prev(a, 1, -1), n = next(a), n3 = next(a, 3, 0)";
    let rows = run(q);
    assert_eq!(col(&rows, 1), [N, l(1), l(2), l(3)]);
    assert_eq!(col(&rows, 2), [N, N, l(1), l(2)]);
    assert_eq!(col(&rows, 3), [l(-1), l(1), l(2), l(3)]);
    assert_eq!(col(&rows, 4), [l(2), l(3), l(4), N]);
    assert_eq!(col(&rows, 5), [l(4), l(0), l(0), l(0)]);
    // An offset of 0 is the row itself.
    let rows = run("datatable (a:long) [5, 6] | sort by a asc | extend z = prev(a, 0)");
    assert_eq!(col(&rows, 1), [l(5), l(6)]);
}

#[test]
fn prev_over_expressions_and_in_project() {
    let rows = run(
        "datatable (a:long, b:string) [1, 'x', 2, 'y', 3, 'z'] | sort by a asc \
                    | project b, d = a - prev(a, 1, 0), s = strcat(prev(b), '>', b)",
    );
    assert_eq!(
        rows,
        [
            vec![s("x"), l(1), s(">x")],
            vec![s("y"), l(1), s("x>y")],
            vec![s("z"), l(1), s("y>z")],
        ]
    );
}

#[test]
fn equal_rows_are_each_a_row_of_the_set() {
    let rows =
        run("datatable (a:long) [1, 1, 2] | sort by a asc | extend n = row_number(), p = prev(a)");
    assert_eq!(
        rows,
        [
            vec![l(1), l(1), N],
            vec![l(1), l(2), l(1)],
            vec![l(2), l(3), l(1)]
        ]
    );
}

#[test]
fn the_order_survives_where_extend_and_project() {
    // The sort key (a) is projected away before prev(): the order is still a's.
    let rows = run(
        "datatable (a:long, b:string) [3, 'c', 1, 'a', 2, 'b', 4, 'd'] | sort by a desc \
                    | where a != 2 | project b | extend pb = prev(b), n = next(b, 1, 'end')",
    );
    assert_eq!(
        rows,
        [
            vec![s("d"), s(""), s("c")],
            vec![s("c"), s("d"), s("a")],
            vec![s("a"), s("c"), s("end")],
        ]
    );
    assert_eq!(
        columns(
            "datatable (a:long, b:string) [1, 'x'] | sort by a asc | project b | extend pb = prev(b)"
        ),
        ["b", "pb"]
    );
}

#[test]
fn serialize_without_an_order_takes_the_rows_own() {
    let rows = run("datatable (a:long) [3, 1, 2] | serialize | extend rn = row_number()");
    assert_eq!(rows, [vec![l(1), l(1)], vec![l(2), l(2)], vec![l(3), l(3)]]);
    // serialize keeps an order that is already there.
    let rows = run(
        "datatable (a:long) [3, 1, 2] | sort by a desc | serialize rn = row_number(), p = prev(a)",
    );
    assert_eq!(
        rows,
        [
            vec![l(3), l(1), N],
            vec![l(2), l(2), l(3)],
            vec![l(1), l(3), l(2)]
        ]
    );
}

#[test]
fn top_and_take_give_a_serialized_row_set() {
    let rows = run("datatable (a:long) [5, 9, 7, 1] | top 3 by a | extend r = row_number()");
    assert_eq!(rows, [vec![l(9), l(1)], vec![l(7), l(2)], vec![l(5), l(3)]]);
    let rows = run("datatable (a:long) [5, 9, 7, 1] | take 2 | extend r = row_number()");
    assert_eq!(col(&rows, 1), [l(1), l(2)]);
}

#[test]
fn the_beacon_pattern_of_sentinel_rules() {
    // The network beaconing rules: sort into source sessions, time to the next contact of
    // the same source.
    let rows = run(r#"datatable (Src:string, T:datetime)
        ["a", datetime(2024-01-01 00:00:00), "b", datetime(2024-01-01 00:00:05),
         "a", datetime(2024-01-01 00:01:00), "a", datetime(2024-01-01 00:03:00),
         "b", datetime(2024-01-01 00:00:35)]
        | sort by Src asc, T asc
        | serialize
        | extend nextT = next(T, 1), nextSrc = next(Src, 1)
        | extend Delta = datetime_diff('second', nextT, T)
        | where Src == nextSrc
        | project Src, Delta"#);
    assert_eq!(
        rows,
        [
            vec![s("a"), l(60)],
            vec![s("a"), l(120)],
            vec![s("b"), l(30)]
        ]
    );
}

#[test]
fn window_functions_need_serialized_rows() {
    let (at, msg) =
        err("datatable (a:long) [1] | summarize c = count() by a\n| extend p = prev(c)");
    assert_eq!(at, "2:14");
    assert!(
        msg.starts_with("prev() needs a serialized row set"),
        "{msg}"
    );
    let (at, msg) = err("datatable (a:long) [1]\n| extend n = row_number()");
    assert_eq!(at, "2:14");
    assert!(msg.contains("needs a serialized row set"), "{msg}");
    // Not in summarize or where, even after a sort.
    let (at, msg) = err("datatable (a:long) [1] | sort by a | where prev(a) > 1");
    assert_eq!(at, "1:44");
    assert!(msg.contains("extend, project and serialize"), "{msg}");
    let (_, msg) = err("datatable (a:long) [1] | sort by a | extend p = prev(a, a)");
    assert_eq!(msg, "prev()'s offset must be a constant");
    let (_, msg) = err("datatable (a:string) [''] | sort by a | extend p = row_cumsum(a)");
    assert!(
        msg.starts_with("row_cumsum() sums an int, long or real"),
        "{msg}"
    );
}

/// The window functions of each Serialize node of the query's plan, outermost first.
fn serialize_nodes(src: &str) -> Vec<usize> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let p = plan::bind(src, &q, Catalog::builtin(), &BindOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    let mut out = Vec::new();
    let mut stack = vec![&p.root];
    while let Some(n) = stack.pop() {
        if let plan::Node::Serialize { columns, .. } = &n.node {
            out.push(columns.len());
        }
        stack.extend(n.inputs());
    }
    out
}

#[test]
fn window_functions_of_the_input_share_one_operator() {
    // next(a) and prev(b) read the input: one node. prev(x) reads next(a)'s column, and
    // row_cumsum's restart reads prev(x): a node each on top.
    let q = "datatable (a:long, b:long) [1, 10, 2, 20, 3, 30, 4, 40] | sort by a asc \
             | extend x = next(a), y = prev(b) | extend z = row_cumsum(a, x != prev(x))";
    assert_eq!(serialize_nodes(q), [1, 1, 2]);
    assert_eq!(
        serialize_nodes(
            "datatable (a:long) [1] | sort by a | extend n = next(a, 1), m = next(a, 2), r = row_number()"
        ),
        [3]
    );
    let rows = run(q);
    assert_eq!(col(&rows, 2), [l(2), l(3), l(4), N]);
    assert_eq!(col(&rows, 3), [N, l(10), l(20), l(30)]);
    // x != prev(x) holds on the 2nd and 3rd rows (null compares to nothing): the sum restarts
    // there.
    assert_eq!(col(&rows, 4), [l(1), l(2), l(3), l(7)]);
}
