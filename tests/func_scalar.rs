//! The scalar functions, called through the registry, on the examples of Kusto's documentation
//! (where it gives them) and on the forms the seed queries and Sentinel rules use.

use kqlflow::func::{Ret, SCALAR_FUNCTIONS, aggregate_fn, scalar_fn};
use kqlflow::model::{Type, Value, parse_datetime, parse_timespan_literal};

fn call(name: &str, args: &[Value]) -> Value {
    let f = scalar_fn(name).unwrap_or_else(|| panic!("no function {name}"));
    assert!(
        args.len() >= f.min_args && args.len() <= f.max_args,
        "{name} arity"
    );
    (f.eval)(args)
}
fn s(x: &str) -> Value {
    Value::str(x)
}
fn l(x: i64) -> Value {
    Value::Long(x)
}
fn dt(x: &str) -> Value {
    Value::DateTime(parse_datetime(x).unwrap())
}
fn ts(x: &str) -> Value {
    Value::TimeSpan(parse_timespan_literal(x).unwrap())
}
fn arr(xs: &[&str]) -> Value {
    Value::array(xs.iter().map(|x| s(x)).collect())
}

#[test]
fn string_functions() {
    assert_eq!(call("tolower", &[s("Hello")]), s("hello"));
    assert_eq!(call("toupper", &[s("hello")]), s("HELLO"));
    assert_eq!(
        call("strcat", &[s("hello"), s(" "), s("world")]),
        s("hello world")
    );
    assert_eq!(call("strcat", &[s("a"), l(1), Value::Null]), s("a1"));
    assert_eq!(call("strlen", &[s("hello")]), l(5));
    assert_eq!(call("strlen", &[s("⒦⒰⒮⒯⒪")]), l(5));
    // substring("123456", 1) == "23456", substring("123456", 2, 2) == "34"
    assert_eq!(call("substring", &[s("123456"), l(1)]), s("23456"));
    assert_eq!(call("substring", &[s("123456"), l(2), l(2)]), s("34"));
    assert_eq!(call("substring", &[s("ABCD"), l(0), l(2)]), s("AB"));
    assert_eq!(call("substring", &[s("ab"), l(5), l(2)]), s(""));
    // split("aa_bb", "_") == ["aa","bb"]; split("aaa_bbb_ccc", "_", 1) == ["bbb"]
    assert_eq!(call("split", &[s("aa_bb"), s("_")]), arr(&["aa", "bb"]));
    assert_eq!(
        call("split", &[s("aaa_bbb_ccc"), s("_"), l(1)]),
        arr(&["bbb"])
    );
    assert_eq!(call("split", &[s(""), s("_")]), arr(&[""]));
    assert_eq!(call("split", &[s("a__b"), s("_")]), arr(&["a", "", "b"]));
    assert_eq!(call("split", &[s("aabbcc"), s("bb")]), arr(&["aa", "cc"]));
    // The seed query's form: split(range, '-')[0]
    let parts = call("split", &[s("10.0.0.1-10.0.0.9"), s("-")]);
    assert_eq!(parts.index(1), Some(&s("10.0.0.9")));
    assert_eq!(
        call(
            "replace_string",
            &[
                s("A magic trick can turn a cat into a dog"),
                s("cat"),
                s("hamster")
            ]
        ),
        s("A magic trick can turn a hamster into a dog")
    );
    assert_eq!(
        call("replace_regex", &[s("1.2.3"), s(r"\."), s("-")]),
        s("1-2-3")
    );
    assert_eq!(
        call(
            "replace_regex",
            &[s("ab12"), s(r"([a-z]+)(\d+)"), s(r"\2\1")]
        ),
        s("12ab")
    );
    // trim("--", "--https://bing.com--") == "https://bing.com"
    assert_eq!(
        call("trim", &[s("--"), s("--https://bing.com--")]),
        s("https://bing.com")
    );
    assert_eq!(
        call("trim", &[s(r"[^\w]+"), s("- Te st1// $")]),
        s("Te st1")
    );
    assert_eq!(call("trim_start", &[s("x"), s("xxaxx")]), s("axx"));
    assert_eq!(call("trim_end", &[s("x"), s("xxaxx")]), s("xxa"));
    // extract("x=([0-9.]+)", 1, "hello x=45.6|wo") == "45.6"
    assert_eq!(
        call("extract", &[s("x=([0-9.]+)"), l(1), s("hello x=45.6|wo")]),
        s("45.6")
    );
    assert_eq!(
        call("extract", &[s("y=([0-9.]+)"), l(1), s("hello x=45.6|wo")]),
        s("")
    );
    assert_eq!(call("indexof", &[s("abcdefg"), s("cde")]), l(2));
    assert_eq!(call("indexof", &[s("abcdefg"), s("z")]), l(-1));
    assert_eq!(
        call("strcat_array", &[arr(&["A", "b", "C"]), s("->")]),
        s("A->b->C")
    );
}

#[test]
fn logic_and_emptiness() {
    assert_eq!(call("iff", &[Value::Bool(true), s("a"), s("b")]), s("a"));
    assert_eq!(call("iif", &[Value::Null, s("a"), s("b")]), s("b"));
    assert_eq!(
        call(
            "case",
            &[Value::Bool(false), l(1), Value::Bool(true), l(2), l(3)]
        ),
        l(2)
    );
    assert_eq!(call("case", &[Value::Bool(false), l(1), l(3)]), l(3));
    // coalesce(tolong("not a number"), tolong("42"), 33) == 42
    assert_eq!(call("coalesce", &[Value::Null, l(42), l(33)]), l(42));
    assert_eq!(call("coalesce", &[s(""), s("x")]), s("x"));
    assert_eq!(call("isempty", &[s("")]), Value::Bool(true));
    assert_eq!(call("isempty", &[s("x")]), Value::Bool(false));
    assert_eq!(call("isempty", &[Value::Null]), Value::Bool(true));
    assert_eq!(call("isnotempty", &[s("x")]), Value::Bool(true));
    // Strings are never null.
    assert_eq!(call("isnull", &[s("")]), Value::Bool(false));
    assert_eq!(call("isnull", &[Value::Null]), Value::Bool(true));
    assert_eq!(call("isnotnull", &[l(1)]), Value::Bool(true));
}

#[test]
fn dynamic_functions() {
    let bag = call(
        "pack",
        &[s("IPAddresses"), arr(&["1.1.1.1"]), s("Location"), s("NO")],
    );
    assert_eq!(bag.get("Location"), Some(&s("NO")));
    assert_eq!(call("bag_pack", &[s("k"), l(1)]).get("k"), Some(&l(1)));
    assert_eq!(
        call("pack_array", &[l(1), s("x")]),
        Value::array(vec![l(1), s("x")])
    );
    assert_eq!(call("array_length", &[arr(&["a", "b"])]), l(2));
    // strcat_array(dynamic([1, 2, 3]), "->") == "1->2->3", and array_strcat, its older name.
    let nums = Value::array(vec![l(1), l(2), l(3)]);
    for f in ["strcat_array", "array_strcat"] {
        assert_eq!(call(f, &[nums.clone(), s("->")]), s("1->2->3"));
        assert_eq!(call(f, &[nums.clone(), s("\"")]), s("1\"2\"3"));
        assert_eq!(call(f, &[s("x"), s(",")]), s(""));
    }
    assert_eq!(call("array_length", &[s("ab")]), Value::Null);
    assert_eq!(
        call("set_has_element", &[arr(&["a", "b"]), s("b")]),
        Value::Bool(true)
    );
    assert_eq!(
        call("set_has_element", &[arr(&["a", "b"]), s("c")]),
        Value::Bool(false)
    );
    assert_eq!(
        call(
            "set_difference",
            &[
                Value::array(vec![l(1), l(2), l(3)]),
                Value::array(vec![l(1), l(2)])
            ]
        ),
        Value::array(vec![l(3)])
    );
    assert_eq!(call("bag_keys", &[bag]), arr(&["IPAddresses", "Location"]));
    let parsed = call("parse_json", &[s(r#"{"app":{"displayName":"Deployer"}}"#)]);
    assert_eq!(
        parsed.get("app").and_then(|a| a.get("displayName")),
        Some(&s("Deployer"))
    );
    assert_eq!(
        call("tostring", &[parsed.get("app").unwrap().clone()]),
        s(r#"{"displayName":"Deployer"}"#)
    );
}

#[test]
fn numbers_and_bins() {
    // round(2.98765, 3) == 2.988, round(2.15, 1) == 2.2, round(-50.55, -2) == -100,
    // round(21.5, -1) == 20
    assert_eq!(
        call("round", &[Value::Real(2.98765), l(3)]),
        Value::Real(2.988)
    );
    assert_eq!(call("round", &[Value::Real(2.15), l(1)]), Value::Real(2.2));
    assert_eq!(
        call("round", &[Value::Real(-50.55), l(-2)]),
        Value::Real(-100.0)
    );
    assert_eq!(
        call("round", &[Value::Real(21.5), l(-1)]),
        Value::Real(20.0)
    );
    assert_eq!(call("round", &[Value::Real(2.5)]), Value::Real(3.0));
    // bin(4.5, 1) == 4.0, bin(-12.5, 10) == -20, bin(time(16d), 7d) == 14d
    assert_eq!(call("bin", &[Value::Real(4.5), l(1)]), Value::Real(4.0));
    assert_eq!(
        call("bin", &[Value::Real(-12.5), l(10)]),
        Value::Real(-20.0)
    );
    assert_eq!(call("bin", &[l(-12), l(10)]), l(-20));
    assert_eq!(call("bin", &[ts("16d"), ts("7d")]), ts("14d"));
    // bin(datetime(1970-05-11 13:45:07), 1d) == datetime(1970-05-11)
    assert_eq!(
        call("bin", &[dt("1970-05-11 13:45:07"), ts("1d")]),
        dt("1970-05-11")
    );
    assert_eq!(
        call("bin", &[dt("2024-05-01T10:59:59Z"), ts("1h")]),
        dt("2024-05-01T10:00:00Z")
    );
    assert_eq!(
        call("floor", &[dt("2024-05-01T10:59:59Z"), ts("1h")]),
        dt("2024-05-01T10:00:00Z")
    );
    assert_eq!(call("bin", &[l(5), l(0)]), Value::Null);
    assert_eq!(call("max_of", &[l(5), l(1), Value::Null, l(7)]), l(7));
    assert_eq!(call("min_of", &[l(5), l(1)]), l(1));
    assert_eq!(call("abs", &[l(-3)]), l(3));
}

#[test]
fn datetime_functions() {
    assert_eq!(
        call("startofday", &[dt("2017-01-01 10:10:17")]),
        dt("2017-01-01")
    );
    assert_eq!(
        call("startofday", &[dt("2017-01-01 10:10:17"), l(-1)]),
        dt("2016-12-31")
    );
    assert_eq!(
        call("startofday", &[dt("2017-01-01 10:10:17"), l(1)]),
        dt("2017-01-02")
    );
    assert_eq!(
        call("endofday", &[dt("2017-01-01 10:10:17")]),
        dt("2017-01-01T23:59:59.9999999Z")
    );
    assert_eq!(
        call("startofweek", &[dt("2017-01-01 10:10:17")]),
        dt("2017-01-01")
    );
    assert_eq!(
        call("startofweek", &[dt("2017-01-04 10:10:17")]),
        dt("2017-01-01")
    );
    assert_eq!(
        call("startofmonth", &[dt("2017-01-15 10:10:17"), l(1)]),
        dt("2017-02-01")
    );
    // datetime_add('month', 1, datetime(2017-01-31)) clips to 2017-02-28
    assert_eq!(
        call("datetime_add", &[s("month"), l(1), dt("2017-01-31")]),
        dt("2017-02-28")
    );
    assert_eq!(
        call("datetime_add", &[s("year"), l(-5), dt("2017-01-01 10:00")]),
        dt("2012-01-01 10:00")
    );
    assert_eq!(
        call("datetime_add", &[s("minute"), l(4320), dt("2024-05-01")]),
        dt("2024-05-04")
    );
    assert_eq!(
        call("datetime_add", &[s("Minute"), l(1), dt("2024-05-01")]),
        dt("2024-05-01T00:01:00Z")
    );
    // Kusto's datetime_diff examples.
    let diff = |part: &str, a: &str, b: &str| call("datetime_diff", &[s(part), dt(a), dt(b)]);
    assert_eq!(diff("year", "2017-01-01", "2000-12-31"), l(17));
    assert_eq!(diff("quarter", "2017-07-01", "2017-03-30"), l(2));
    assert_eq!(diff("month", "2017-01-01", "2015-12-30"), l(13));
    assert_eq!(diff("week", "2017-10-29 00:00", "2017-09-30 23:59"), l(5));
    assert_eq!(diff("day", "2017-10-29 00:00", "2017-09-30 23:59"), l(29));
    assert_eq!(diff("hour", "2017-10-31 01:00", "2017-10-30 23:59"), l(2));
    assert_eq!(
        diff("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59"),
        l(5)
    );
    assert_eq!(
        diff(
            "second",
            "2017-10-30 23:00:10.100",
            "2017-10-30 23:00:00.900"
        ),
        l(10)
    );
    assert_eq!(
        diff(
            "millisecond",
            "2017-10-30 23:00:00.200100",
            "2017-10-30 23:00:00.100900"
        ),
        l(100)
    );
    assert_eq!(
        diff("Minute", "2024-05-01 10:00", "2024-05-01 11:30"),
        l(-90)
    );
    assert_eq!(diff("fortnight", "2024-05-01", "2024-05-01"), Value::Null);
    // format_datetime(datetime(2015-12-14 02:03:04.12345), 'y-M-d h:m:s.fffffff') == "15-12-14 2:3:4.1234500"
    let t = dt("2015-12-14 02:03:04.12345");
    assert_eq!(
        call("format_datetime", &[t.clone(), s("y-M-d h:m:s.fffffff")]),
        s("15-12-14 2:3:4.1234500")
    );
    assert_eq!(
        call("format_datetime", &[t.clone(), s("yyyy-MM-dd [HH:mm:ss]")]),
        s("2015-12-14 [02:03:04]")
    );
    assert_eq!(
        call("format_datetime", &[t, s("yy-MM-dd hh:mm:ss tt")]),
        s("15-12-14 02:03:04 AM")
    );
}

#[test]
fn ip_functions() {
    // ipv4_is_in_range("127.0.0.1", "127.0.0.1") == true, ("192.168.1.6", "192.168.1.1/24") == true,
    // ("192.168.1.1", "192.168.2.1/24") == false
    assert_eq!(
        call("ipv4_is_in_range", &[s("127.0.0.1"), s("127.0.0.1")]),
        Value::Bool(true)
    );
    assert_eq!(
        call("ipv4_is_in_range", &[s("192.168.1.6"), s("192.168.1.1/24")]),
        Value::Bool(true)
    );
    assert_eq!(
        call("ipv4_is_in_range", &[s("192.168.1.1"), s("192.168.2.1/24")]),
        Value::Bool(false)
    );
    assert_eq!(
        call("ipv4_is_in_range", &[s("2001:db8::1"), s("10.0.0.0/8")]),
        Value::Null
    );
    let ranges = Value::array(vec![s("10.0.0.0/8"), s("127.0.0.1"), s("not an ip")]);
    assert_eq!(
        call("ipv4_is_in_any_range", &[s("10.1.2.3"), ranges.clone()]),
        Value::Bool(true)
    );
    assert_eq!(
        call("ipv4_is_in_any_range", &[s("11.1.2.3"), ranges.clone()]),
        Value::Bool(false)
    );
    assert_eq!(
        call("ipv4_is_in_any_range", &[s("bogus"), ranges]),
        Value::Null
    );
    assert_eq!(
        call(
            "ipv4_is_in_any_range",
            &[s("127.0.0.1"), s("10.0.0.0/8"), s("127.0.0.0/8")]
        ),
        Value::Bool(true)
    );
    // Two lists used in turn (each array's parse is kept by identity): each answers for itself.
    let (a, b) = (
        Value::array(vec![s("10.0.0.0/8")]),
        Value::array(vec![s("192.168.0.0/16"), s("11.1.2.3")]),
    );
    for _ in 0..2 {
        for (list, want) in [(&a, true), (&b, true), (&a, true)] {
            assert_eq!(
                call("ipv4_is_in_any_range", &[s("10.9.9.9"), list.clone()]),
                Value::Bool(want && std::ptr::eq(list, &a))
            );
            assert_eq!(
                call("ipv4_is_in_any_range", &[s("11.1.2.3"), list.clone()]),
                Value::Bool(want && std::ptr::eq(list, &b))
            );
        }
    }
    assert_eq!(
        call(
            "ipv4_is_in_any_range",
            &[s("10.9.9.9"), Value::array(vec![])]
        ),
        Value::Bool(false)
    );
    // ipv4_compare examples: ("127.0.0.1", "127.0.0.1") == 0, ("192.168.1.1", "192.168.1.255") < 0,
    // ("192.168.1.1/24", "192.168.1.255/24") == 0, ("192.168.1.1", "192.168.1.255", 24) == 0
    assert_eq!(
        call("ipv4_compare", &[s("127.0.0.1"), s("127.0.0.1")]),
        l(0)
    );
    assert_eq!(
        call("ipv4_compare", &[s("192.168.1.1"), s("192.168.1.255")]),
        l(-1)
    );
    assert_eq!(
        call("ipv4_compare", &[s("192.168.1.255"), s("192.168.1.1")]),
        l(1)
    );
    assert_eq!(
        call(
            "ipv4_compare",
            &[s("192.168.1.1/24"), s("192.168.1.255/24")]
        ),
        l(0)
    );
    assert_eq!(
        call(
            "ipv4_compare",
            &[s("192.168.1.1"), s("192.168.1.255"), l(24)]
        ),
        l(0)
    );
    assert_eq!(
        call("ipv4_compare", &[s("x"), s("192.168.1.255")]),
        Value::Null
    );
    assert_eq!(
        call("ipv4_is_private", &[s("172.16.1.1")]),
        Value::Bool(true)
    );
    assert_eq!(
        call("ipv4_is_private", &[s("172.32.1.1")]),
        Value::Bool(false)
    );
    assert_eq!(
        call("ipv4_is_private", &[s("192.168.0.10")]),
        Value::Bool(true)
    );
    assert_eq!(call("parse_ipv4", &[s("127.0.0.1")]), l(2_130_706_433));
}

#[test]
fn registry_types_and_names() {
    let iff = scalar_fn("iff").unwrap();
    assert_eq!(iff.ret, Ret::Arg(1));
    assert_eq!(
        iff.result_type(&[Type::Bool, Type::String, Type::String]),
        Type::String
    );
    assert_eq!(
        scalar_fn("tostring").unwrap().result_type(&[Type::Dynamic]),
        Type::String
    );
    assert!(
        scalar_fn("ToString").is_none(),
        "KQL names are case-sensitive"
    );
    let mut names: Vec<&str> = SCALAR_FUNCTIONS.iter().map(|f| f.name).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "no duplicate names");
    assert_eq!(
        aggregate_fn("dcount")
            .unwrap()
            .default_column_name(Some("IPAddress")),
        "dcount_IPAddress"
    );
    assert_eq!(
        aggregate_fn("make_set")
            .unwrap()
            .default_column_name(Some("PropertyName")),
        "set_PropertyName"
    );
    assert_eq!(
        aggregate_fn("makeset")
            .unwrap()
            .default_column_name(Some("Activity")),
        "set_Activity"
    );
    assert_eq!(
        aggregate_fn("make_list")
            .unwrap()
            .default_column_name(Some("R")),
        "list_R"
    );
    assert_eq!(
        aggregate_fn("count").unwrap().default_column_name(None),
        "count_"
    );
    assert_eq!(
        aggregate_fn("min")
            .unwrap()
            .default_column_name(Some("TimeDifferenceInMinutes")),
        "min_TimeDifferenceInMinutes"
    );
}

#[test]
fn extractjson_follows_a_json_path() {
    let doc = s(r#"{"state":"enabled","a":{"b":[10,{"c":"x"}]}}"#);
    assert_eq!(
        call("extractjson", &[s("$.state"), doc.clone()]),
        s("enabled")
    );
    assert_eq!(call("extractjson", &[s("$.a.b[1].c"), doc.clone()]), s("x"));
    assert_eq!(
        call("extractjson", &[s("$['a'].b[0]"), doc.clone()]),
        s("10")
    );
    assert_eq!(
        call("extract_json", &[s("$.missing"), doc.clone()]),
        Value::Null
    );
    assert_eq!(call("extractjson", &[s("state"), doc]), Value::Null);
}

#[test]
fn range_on_kusto_examples() {
    let longs = |xs: &[i64]| Value::array(xs.iter().map(|x| l(*x)).collect());
    // range(1, 8, 3) is [1, 4, 7]; range(1, 3) is [1, 2, 3].
    assert_eq!(call("range", &[l(1), l(8), l(3)]), longs(&[1, 4, 7]));
    assert_eq!(call("range", &[l(1), l(3)]), longs(&[1, 2, 3]));
    // A negative step counts down; a stop on the wrong side gives no element.
    assert_eq!(call("range", &[l(5), l(1), l(-2)]), longs(&[5, 3, 1]));
    assert_eq!(call("range", &[l(5), l(1)]), longs(&[]));
    assert_eq!(call("range", &[l(1), l(3), l(0)]), Value::Null);
    assert_eq!(call("range", &[Value::Null, l(3)]), Value::Null);
    // Reals when an argument is real.
    assert_eq!(
        call("range", &[Value::Real(0.5), l(2), Value::Real(0.5)]),
        Value::array([0.5, 1.0, 1.5, 2.0].map(Value::Real).to_vec())
    );
    // range(1h, 5h) steps an hour: five timespans.
    assert_eq!(
        call("range", &[ts("1h"), ts("5h")]),
        Value::array(["1h", "2h", "3h", "4h", "5h"].map(ts).to_vec())
    );
    // Every day of 2007: 365 datetimes from Jan 1 to Dec 31.
    let days = call("range", &[dt("2007-01-01"), dt("2007-12-31"), ts("1d")]);
    let Value::Array(days) = days else {
        panic!("an array expected")
    };
    assert_eq!(days.len(), 365);
    assert_eq!(days[0], dt("2007-01-01"));
    assert_eq!(days[364], dt("2007-12-31"));
    // The Sentinel rule's form: datetimes binned to a timespan step.
    assert_eq!(
        call(
            "range",
            &[
                dt("2024-05-01T10:00:00Z"),
                dt("2024-05-01T10:01:10Z"),
                ts("30s")
            ]
        ),
        Value::array(
            [
                "2024-05-01T10:00:00Z",
                "2024-05-01T10:00:30Z",
                "2024-05-01T10:01:00Z"
            ]
            .map(dt)
            .to_vec()
        )
    );
    // A datetime range needs a timespan step.
    assert_eq!(
        call("range", &[dt("2007-01-01"), dt("2007-01-02"), l(1)]),
        Value::Null
    );
}

#[test]
fn range_is_cut_at_kusto_limit() {
    // range(1, 1000000000) | mv-expand | count is 1,048,576 in Kusto.
    let Value::Array(xs) = call("range", &[l(1), l(1_000_000_000)]) else {
        panic!("an array expected")
    };
    assert_eq!(xs.len(), 1_048_576);
    assert_eq!(xs[1_048_575], l(1_048_576));
    let Value::Array(xs) = call("range", &[Value::Real(0.0), Value::Real(1e12)]) else {
        panic!("an array expected")
    };
    assert_eq!(xs.len(), 1_048_576);
}
