//! The main guard of correctness: for random data, the incremental engine's result at every
//! tick equals the batch evaluator's with now() = that tick, for each operator, on 1 and 3
//! workers.

use proptest::prelude::*;
use std::collections::HashMap;

use kqlflow::catalog::Catalog;
use kqlflow::eval::{Data, Watchlist, evaluate};
use kqlflow::exec::{run_program, strip_presentation, watchlist_sources};
use kqlflow::model::{Row, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value};
use kqlflow::plan::{self, BindOptions, Program};
use kqlflow::runtime::{ClusterOptions, snapshot};

const T0: i64 = 1_714_550_400 * S;

/// One query per operator and function family the engine renders.
const QUERIES: &[&str] = &[
    "SigninLogs | where ResultType != \"0\" | project UserPrincipalName, IPAddress, ResultType",
    "SigninLogs | extend u = toupper(UserPrincipalName), n = strlen(IPAddress), ok = ResultType == 0 | project u, n, ok",
    "SigninLogs | summarize c = count(), d = dcount(IPAddress), s = make_set(IPAddress), mn = min(TimeGenerated), mx = max(TimeGenerated) by UserPrincipalName",
    "SigninLogs | where TimeGenerated > ago(10m) | summarize count() by IPAddress",
    "SigninLogs | where TimeGenerated between (ago(30m) .. ago(5m)) | project UserPrincipalName, IPAddress",
    // A datetime and a timespan: from 30 minutes ago to 20 minutes ago.
    "SigninLogs | where TimeGenerated between (ago(30m) .. 10m) | summarize count() by UserPrincipalName",
    "SigninLogs | where TimeGenerated >= ago(20m) and ResultType == \"0\" | summarize dcount(UserPrincipalName)",
    "SigninLogs | where ResultType == \"x\" | summarize n = count(), d = dcount(IPAddress)",
    "SigninLogs | summarize arg_max(TimeGenerated, IPAddress) by UserPrincipalName",
    "SigninLogs | summarize count() by bin(TimeGenerated, 5m)",
    "SigninLogs | summarize h = count() by UserPrincipalName, bin(TimeGenerated, 10m) | summarize a = avg(h), sd = stdev(h), v = variance(h) by UserPrincipalName",
    "SigninLogs | extend x = toreal(strlen(IPAddress)) / 3.0 + 0.1 | summarize s = sum(x), a = avg(x), sd = stdev(x), v = variance(x) by UserPrincipalName",
    "SigninLogs | where TimeGenerated > ago(12m) | extend x = strlen(UserPrincipalName) * 0.7 | summarize s = sum(x), sd = stdev(x), d = dcount(IPAddress), mn = min(x), ips = make_set(IPAddress) by ResultType",
    "SigninLogs | distinct UserPrincipalName, ResultType",
    "SigninLogs | extend parts = split(IPAddress, \".\") | mv-expand parts | project UserPrincipalName, parts",
    // mv-apply: sub-plan results shared by rows that agree on what they read (the address),
    // kept columns from the row itself.
    "SigninLogs | extend parts = split(IPAddress, \".\") | mv-apply p = parts to typeof(string) on (summarize n = count(), m = max(p)) | project UserPrincipalName, TimeGenerated, n, m",
    "SigninLogs | mv-apply x = pack_array(1, 2, 3) to typeof(long) on (where x <= strlen(IPAddress) % 4 | extend y = strcat(UserPrincipalName, x)) | project UserPrincipalName, ResultType, x, y",
    "let n = toscalar(SigninLogs | summarize count()); SigninLogs | extend total = n | project UserPrincipalName, total",
    "union (SigninLogs | where ResultType == \"0\" | project a = UserPrincipalName), (SigninLogs | where ResultType != \"0\" | project b = IPAddress)",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=inner s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=leftouter s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=rightouter s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=fullouter s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=leftanti s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=rightanti s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=leftsemi s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, SIP = IPAddress; f | join kind=rightsemi s on UserPrincipalName",
    "let f = SigninLogs | where ResultType != \"0\" | project U = UserPrincipalName, FIP = IPAddress; let s = SigninLogs | where ResultType == \"0\" | project UserPrincipalName, IPAddress; f | join kind=inner s on $left.U == $right.UserPrincipalName and $left.FIP == $right.IPAddress | project U, FIP",
    "let recent = SigninLogs | where TimeGenerated > ago(15m) | distinct IPAddress; SigninLogs | where TimeGenerated > ago(30m) | join kind=leftanti recent on IPAddress | project UserPrincipalName, IPAddress",
    "SigninLogs | where ResultType != \"0\" | summarize Failures = count() by UserPrincipalName | where Failures >= 2 | order by Failures desc | take 5",
    // top and take inside a query: the first rows by the keys, ties broken by the row, the same
    // on every worker count.
    "SigninLogs | top 3 by TimeGenerated desc | summarize n = count(), u = make_set(UserPrincipalName), ips = make_set(IPAddress)",
    "SigninLogs | top 2 by ResultType asc | project UserPrincipalName, ResultType, IPAddress | summarize count() by UserPrincipalName",
    "SigninLogs | where TimeGenerated > ago(20m) | take 2 | project UserPrincipalName, IPAddress | extend n = strlen(IPAddress)",
    "SigninLogs | sort by IPAddress desc, UserPrincipalName asc | take 2 | summarize make_set(IPAddress), count()",
    "let last = toscalar(SigninLogs | top 1 by TimeGenerated desc | project IPAddress); SigninLogs | where IPAddress == last | project UserPrincipalName, TimeGenerated",
    "SigninLogs | extend g = new_guid(), h = hourofday(TimeGenerated), w = dayofweek(TimeGenerated), b = bin_at(TimeGenerated, 7m, datetime(2024-05-01T08:03:00Z)), c = countof(IPAddress, '.'), r = replace(@'\\.', '-', IPAddress), x = extract_all(@'(\\d+)', IPAddress), u = parse_url(strcat('https://', IPAddress, '/p?a=1')).Host | project UserPrincipalName, g, h, w, b, c, r, x, u",
    "let ranges = datatable(Range:string, Name:string)['1.1.0.0/16', 'one', '10.0.0.0/8', 'ten', '0.0.0.0/0', 'all']; SigninLogs | evaluate ipv4_lookup(ranges, IPAddress, Range) | project UserPrincipalName, IPAddress, Name",
    PLUGIN_QUERIES[0],
    PLUGIN_QUERIES[1],
    PLUGIN_QUERIES[2],
    PLUGIN_QUERIES[3],
    PLUGIN_QUERIES[4],
    PLUGIN_QUERIES[5],
    // Kusto's default values of aggregations over no values: a window that is often empty,
    // with no `by` (one row of zeros), and groups whose values the -if predicates all drop.
    "SigninLogs | where TimeGenerated > ago(6m) | extend x = strlen(IPAddress) | summarize s = sum(x), si = sumif(x, ResultType == \"0\"), sd = stdev(x), v = varianceif(x, ResultType == \"0\"), c = count(x), a = avg(x)",
    "SigninLogs | extend x = iff(ResultType == \"0\", strlen(IPAddress), int(null)) | summarize s = sum(x), c = count(x), sdi = stdevif(x, UserPrincipalName == 'bob'), vi = varianceif(toreal(x), IPAddress == '1.1.1.1') by UserPrincipalName",
    // percentiles (a sorted multiset per group), scalars over aggregates, containscs.
    "SigninLogs | where TimeGenerated > ago(15m) and UserPrincipalName !containscs 'A' | extend x = strlen(UserPrincipalName) * 10 + strlen(IPAddress) | summarize percentiles(x, 10, 50, 95), p = percentile(IPAddress, 50), s = tostring(make_set(IPAddress)), r = toint(avg(x)) * 2, q = strcat(UserPrincipalName, ':', count()) by UserPrincipalName",
    "SigninLogs | where IPAddress containscs '.1' | summarize (lo, hi) = percentiles(TimeGenerated, 0, 75), n = count() + dcount(IPAddress)",
    "SigninLogs | summarize c = count() by UserPrincipalName, IPAddress | summarize percentilesw(strlen(IPAddress), c, 25, 90) by UserPrincipalName",
    "SigninLogs | summarize s = make_set(IPAddress) by UserPrincipalName | extend n = arraylength(s), i = array_index_of(s, '10.0.0.1'), p = datetime_part('year', make_datetime(2024, 5, 1))",
    "SigninLogs | extend h = hash_md5(IPAddress), t = make_timespan(strlen(IPAddress) % 24, 5, 1.5), p = parse_path(strcat(@'C:\\Users\\', UserPrincipalName, @'\\a.exe:s')), a = array_strcat(split(IPAddress, '.'), '-') | project UserPrincipalName, h, t, f = tostring(p.Filename), d = tostring(p.DirectoryName), a",
    // range() over datetimes with a timespan step, expanded into keys (a Sentinel rule's form).
    "SigninLogs | extend k = range(bin(TimeGenerated - 10m, 5m), bin(TimeGenerated, 5m), 150s) | mv-expand k to typeof(datetime) | summarize n = count(), u = make_set(UserPrincipalName) by k",
    // parse_xml: attributes, text, a repeated element as an array; invalid XML is null.
    "SigninLogs | extend x = parse_xml(strcat('<e ip=\"', IPAddress, '\"><u>', UserPrincipalName, '</u><u>', ResultType, '</u></e>')), bad = parse_xml(strcat('<e>', IPAddress)) | project UserPrincipalName, ip = tostring(x.e['@ip']), u = tostring(x.e.u[1]), x, bad",
];

/// Window functions over a serialized row set (`prev`, `next`, `row_number`, `row_cumsum`): one
/// operator holds the set in its total order (the sort keys, ties by the whole row) and
/// re-emits only the rows whose values change; rows enter and leave with temporal filters.
const SERIAL_QUERIES: &[&str] = &[
    "SigninLogs | sort by UserPrincipalName asc, TimeGenerated asc | extend p = prev(TimeGenerated), n = next(IPAddress, 2, 'none'), same = iff(prev(UserPrincipalName) == UserPrincipalName, 1, 0) | project UserPrincipalName, TimeGenerated, IPAddress, p, n, same",
    "SigninLogs | where TimeGenerated > ago(15m) | sort by UserPrincipalName asc, TimeGenerated asc | serialize rn = row_number(), cs = row_cumsum(strlen(IPAddress), UserPrincipalName != prev(UserPrincipalName)) | project UserPrincipalName, IPAddress, rn, cs",
    "SigninLogs | where TimeGenerated between (ago(25m) .. ago(2m)) | project TimeGenerated, UserPrincipalName, IPAddress | sort by UserPrincipalName asc, TimeGenerated asc | serialize | extend nt = next(TimeGenerated, 1), nu = next(UserPrincipalName, 1) | extend d = datetime_diff('second', nt, TimeGenerated) | where UserPrincipalName == nu | summarize n = count(), s = sum(d), m = max(d) by UserPrincipalName",
    "SigninLogs | top 4 by TimeGenerated desc | extend r = row_number(0), q = prev(IPAddress, 3) | project IPAddress, r, q",
    "SigninLogs | where TimeGenerated > ago(10m) | sort by TimeGenerated asc | project IPAddress | extend pi = prev(IPAddress), ni = next(IPAddress)",
    "SigninLogs | where ResultType == \"0\" | serialize n = row_number(), c = row_cumsum(1) | project UserPrincipalName, n, c",
    // Sessions per user: at most 20 minutes long, gaps under 5 minutes.
    "SigninLogs | where TimeGenerated > ago(40m) | sort by UserPrincipalName asc, TimeGenerated asc | extend s = row_window_session(TimeGenerated, 20m, 5m, UserPrincipalName != prev(UserPrincipalName)) | project UserPrincipalName, TimeGenerated, s",
    "SigninLogs | sort by TimeGenerated asc | extend s = row_window_session(TimeGenerated, 1h, 3m) | summarize n = count() by s",
];

/// The `evaluate` plugins, each also run on every case by
/// `plugins_incremental_equal_batch_at_every_tick`.
const PLUGIN_QUERIES: &[&str] = &[
    // basket over a window: the closed frequent patterns of users, addresses and results,
    // then with a weight column and at most two columns a pattern.
    "SigninLogs | where TimeGenerated > ago(20m) | project UserPrincipalName, IPAddress, ResultType | evaluate basket(0.2)",
    "SigninLogs | where TimeGenerated > ago(30m) | project UserPrincipalName, IPAddress, ResultType, w = strlen(IPAddress) | evaluate basket(0.3, w, 2) | project SegmentId, Count, Percent, UserPrincipalName, IPAddress, ResultType",
    // With a custom wildcard for string columns.
    "SigninLogs | project UserPrincipalName, ResultType | evaluate basket(0.25, '~', '~', '*') | where UserPrincipalName == '*' | project Count, ResultType",
    // autocluster over a window, by default and with a weight column, few seeds and a
    // wildcard.
    "SigninLogs | where TimeGenerated > ago(20m) | project UserPrincipalName, IPAddress, ResultType | evaluate autocluster()",
    "SigninLogs | where TimeGenerated > ago(30m) | project UserPrincipalName, ResultType, w = strlen(IPAddress) | evaluate autocluster(0.7, w, 3, '*') | project SegmentId, Count, Percent, UserPrincipalName, ResultType",
    // ipv4_lookup with return_unmatched: 2.2.2.2 matches no range and is kept with the
    // lookup's columns empty; records in a 5-minute window, so rows leave as well as enter.
    "let ranges = datatable(Range:string, Name:string, ResultType:string)['1.1.0.0/16', 'one', '0', '10.0.0.0/8', 'ten', '0', '10.0.0.0/8', 'ten-fail', '50126', '10.0.0.1', 'host', '0']; SigninLogs | where TimeGenerated > ago(5m) | evaluate ipv4_lookup(ranges, IPAddress, Range, ResultType, return_unmatched = true) | project UserPrincipalName, IPAddress, ResultType, Name, Range",
    // bag_unpack with a prefix, its columns those the rest reads (x_none: in no bag).
    "SigninLogs | extend b = bag_pack('ip', IPAddress, 'u', UserPrincipalName, 'r', ResultType) | evaluate bag_unpack(b, 'x_') | where x_r == '0' | project x_u, x_ip, x_none, TimeGenerated",
    // bag_unpack with an output schema, aggregated over a window.
    "SigninLogs | where TimeGenerated > ago(10m) | extend b = bag_pack('ip', IPAddress, 'n', strlen(UserPrincipalName)) | evaluate bag_unpack(b) : (*, ip:string, n:long) | summarize c = count(), s = sum(n) by ip",
    // pivot: the users' results by address, counted and as a set, over a window.
    "SigninLogs | where TimeGenerated > ago(15m) | project UserPrincipalName, IPAddress | evaluate pivot(IPAddress) | project UserPrincipalName, ['1.1.1.1'], ['10.0.0.1'], ['9.9.9.9']",
    "SigninLogs | evaluate pivot(UserPrincipalName, make_set(IPAddress), ResultType) : (ResultType:string, alice:dynamic, bob:dynamic)",
    // Both, as Sentinel's Sysmon rules use them.
    "SigninLogs | extend d = pack_array(bag_pack('@Name', 'ip', '#text', IPAddress), bag_pack('@Name', 'r', '#text', ResultType)) | mv-expand bagexpansion=array d | evaluate bag_unpack(d) | extend Key = tostring(['@Name']), Value = ['#text'] | evaluate pivot(Key, any(Value), UserPrincipalName, TimeGenerated) | where TimeGenerated > ago(20m) | project UserPrincipalName, ip, r",
];

/// make-series queries: bounds from the data or constant, keys or none, a moving window, the
/// `in range` form, and the arrays through series_decompose_anomalies and mv-expand.
const SERIES_QUERIES: &[&str] = &[
    // A line fitted to each user's counts, as columns and as a bag.
    "SigninLogs | make-series n = count() on TimeGenerated step 10m by UserPrincipalName | extend (r2, slope) = series_fit_line(n), f = series_fit_line_dynamic(n) | project UserPrincipalName, r2, slope, f",
    "SigninLogs | make-series n = count(), d = dcount(IPAddress) on TimeGenerated step 10m by UserPrincipalName",
    "SigninLogs | where TimeGenerated > ago(20m) | make-series count() default = -1 on TimeGenerated step 5m by UserPrincipalName",
    "SigninLogs | make-series c = countif(ResultType == \"0\"), s = sum(strlen(IPAddress)) on TimeGenerated from datetime(2024-05-01T08:10:00Z) to datetime(2024-05-01T08:50:00Z) step 7m by IPAddress",
    "SigninLogs | where ResultType == \"0\" | make-series kind=nonempty count() on TimeGenerated from datetime(2024-05-01T08:00:00Z) to datetime(2024-05-01T09:00:00Z) step 15m",
    "SigninLogs | where TimeGenerated > ago(30m) | make-series avg(strlen(UserPrincipalName)), max(TimeGenerated) on TimeGenerated step 10m",
    "SigninLogs | make-series count() on TimeGenerated in range(datetime(2024-05-01T08:05:00Z), datetime(2024-05-01T08:40:00Z), 10m) by ResultType",
    "SigninLogs | make-series n = count() on TimeGenerated to datetime(2024-05-01T08:45:00Z) step 5m by UserPrincipalName | extend (a, s, b) = series_decompose_anomalies(n, 0.5, 0, 'linefit') | mv-expand TimeGenerated to typeof(datetime), n to typeof(long), a to typeof(long), s to typeof(double) | where a != 0 | project UserPrincipalName, TimeGenerated, n, a, s",
];

fn program(src: &str) -> Program {
    program_with(src, &BindOptions::default())
}

fn program_with(src: &str, opts: &BindOptions) -> Program {
    let q = kqlflow::kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "query")));
    let mut p = plan::bind(src, &q, Catalog::builtin(), opts)
        .unwrap_or_else(|e| panic!("{}", e.render(src, "query")));
    // Presentation (sort, take) shapes a printed snapshot; compare the row multisets under it.
    p.root = strip_presentation(&p.root).clone();
    p
}

fn signin(t: i64, user: &str, ip: &str, result: &str) -> (i64, Row) {
    let table = Catalog::builtin().table("SigninLogs").unwrap();
    let mut row = table.schema.empty_row();
    let mut set = |col: &str, v: Value| row[table.schema.index_of(col).unwrap()] = v;
    set("TimeGenerated", Value::DateTime(t));
    set("UserPrincipalName", Value::str(user));
    set("IPAddress", Value::str(ip));
    set("ResultType", Value::str(result));
    set("Type", Value::str("SigninLogs"));
    (t, row)
}

fn records() -> impl Strategy<Value = Vec<(i64, Row)>> {
    let users = prop::sample::select(vec!["alice", "bob", "carol"]);
    let ips = prop::sample::select(vec!["1.1.1.1", "2.2.2.2", "10.0.0.1"]);
    let results = prop::sample::select(vec!["0", "50126"]);
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

fn check(query: &str, rows: &[(i64, Row)], workers: usize) -> Result<(), TestCaseError> {
    let last = rows.iter().map(|(t, _)| *t).max().unwrap_or(T0);
    compare(
        query,
        &program(query),
        rows,
        HashMap::new(),
        last + 40 * MIN,
        workers,
    )
}

/// Runs `p` incrementally over `rows` and `watchlists` and checks its result against the batch
/// evaluator's at every tick from just before T0 to `until`.
fn compare(
    query: &str,
    p: &Program,
    rows: &[(i64, Row)],
    watchlists: HashMap<String, Watchlist>,
    until: i64,
    workers: usize,
) -> Result<(), TestCaseError> {
    compare_ticked(query, p, rows, watchlists, until, workers, MIN)
}

/// [`compare`] with ticks `tick` apart.
fn compare_ticked(
    query: &str,
    p: &Program,
    rows: &[(i64, Row)],
    watchlists: HashMap<String, Watchlist>,
    until: i64,
    workers: usize,
    tick: i64,
) -> Result<(), TestCaseError> {
    let cluster = ClusterOptions {
        workers,
        ..ClusterOptions::default()
    };
    let changes = run_program(
        p,
        &[("SigninLogs".to_string(), rows.to_vec())],
        &watchlist_sources(p, &watchlists),
        &cluster,
        tick,
    )
    .map_err(TestCaseError::fail)?;
    let data = Data {
        tables: HashMap::from([("SigninLogs".to_string(), rows.to_vec())]),
        watchlists,
    };
    let mut t = T0 - tick;
    while t <= until {
        let mut inc = Vec::new();
        for (row, n) in snapshot(&changes, t as u64) {
            prop_assert!(n > 0, "negative multiplicity at {}: {:?}", t, row);
            for _ in 0..n {
                inc.push(row.clone());
            }
        }
        let batch = evaluate(p, &data, t);
        prop_assert_eq!(
            sorted(inc),
            sorted(batch),
            "query {} at tick {} on {} workers",
            query,
            t,
            workers
        );
        t += tick;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_batch_at_every_tick(rows in records(), q in 0..QUERIES.len()) {
        check(QUERIES[q], &rows, 1)?;
        check(QUERIES[q], &rows, 3)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn serialized_incremental_equals_batch_at_every_tick(rows in records(), q in 0..SERIAL_QUERIES.len()) {
        check(SERIAL_QUERIES[q], &rows, 1)?;
        check(SERIAL_QUERIES[q], &rows, 3)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn plugins_incremental_equal_batch_at_every_tick(rows in records()) {
        for q in PLUGIN_QUERIES {
            check(q, &rows, 1)?;
            check(q, &rows, 3)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn make_series_incremental_equals_batch_at_every_tick(rows in records(), q in 0..SERIES_QUERIES.len()) {
        check(SERIES_QUERIES[q], &rows, 1)?;
        check(SERIES_QUERIES[q], &rows, 3)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A rule's look-back window (a scheduled rule's on every scan, a hunting query's where it
    /// has no time filter) gives the same result on both engines at every tick.
    #[test]
    fn a_period_window_incremental_equals_batch_at_every_tick(
        rows in records(),
        q in 0..QUERIES.len(),
        every in any::<bool>(),
        minutes in 5i64..40,
    ) {
        let opts = BindOptions {
            query_period: Some(minutes * MIN),
            window: Some(plan::PeriodWindow {
                period: minutes * MIN,
                scope: if every {
                    plan::WindowScope::EveryScan
                } else {
                    plan::WindowScope::ScansWithoutTimeFilter
                },
            }),
            ..BindOptions::default()
        };
        let p = program_with(QUERIES[q], &opts);
        let last = rows.iter().map(|(t, _)| *t).max().unwrap_or(T0);
        compare(QUERIES[q], &p, &rows, HashMap::new(), last + 50 * MIN, 1)?;
        compare(QUERIES[q], &p, &rows, HashMap::new(), last + 50 * MIN, 3)?;
    }
}

/// Windows that move by whole days (`startofday(ago(1d))`), over records spread across
/// several midnights and ticks half an hour apart.
const DAY_QUERIES: &[&str] = &[
    "SigninLogs | where TimeGenerated > startofday(ago(1d)) | summarize count() by UserPrincipalName",
    "SigninLogs | where TimeGenerated between (startofday(ago(2d)) .. startofday(now())) | project UserPrincipalName, IPAddress, TimeGenerated",
    "let e = startofday(now()); let s = e - 1d; SigninLogs | where TimeGenerated >= s and TimeGenerated < e | summarize dcount(IPAddress) by ResultType",
    "SigninLogs | where TimeGenerated <= startofday(ago(1d)) and TimeGenerated > ago(3d) | project UserPrincipalName, TimeGenerated",
    // make-series whose bounds move with now(): by whole days, with every tick (`to now()`),
    // one of them constant; with no window before it (the arrays move on after the last
    // record until its `from` has passed every row).
    "SigninLogs | make-series n = count() on TimeGenerated from startofday(ago(2d)) to startofday(now()) step 1d by UserPrincipalName",
    "SigninLogs | where TimeGenerated > ago(2d) | make-series n = count(), d = dcount(IPAddress) on TimeGenerated from startofday(ago(2d)) to now() step 6h by ResultType",
    "SigninLogs | where TimeGenerated > ago(1d) | make-series c = count() on TimeGenerated from datetime(2024-05-01T00:00:00Z) to startofday(now()) step 12h by UserPrincipalName",
    "SigninLogs | make-series n = count() on TimeGenerated from startofday(ago(1d)) to ago(3h) step 1h by ResultType",
    // range() with a start by whole days and a stop at now(): the bins through now's.
    "SigninLogs | where TimeGenerated > ago(2d) | make-series n = sum(strlen(IPAddress)) on TimeGenerated in range(startofday(ago(1d)), now(), 6h) by UserPrincipalName",
    // As Sentinel's daily anomaly rules use it: the series cut to the last day after mv-expand.
    "SigninLogs | where TimeGenerated between (startofday(ago(3d))..startofday(now())) | make-series Total = count() on TimeGenerated from startofday(ago(3d)) to startofday(now()) step 1d by UserPrincipalName | mv-expand Total to typeof(long), TimeGenerated to typeof(datetime) | where TimeGenerated >= startofday(ago(1d)) | project UserPrincipalName, TimeGenerated, Total",
];

fn days_of_records() -> impl Strategy<Value = Vec<(i64, Row)>> {
    let users = prop::sample::select(vec!["alice", "bob", "carol"]);
    let ips = prop::sample::select(vec!["1.1.1.1", "2.2.2.2", "10.0.0.1"]);
    let results = prop::sample::select(vec!["0", "50126"]);
    // Up to four days from T0 (08:00), at whole and odd minutes, some on midnight itself.
    prop::collection::vec(
        (0i64..4 * 24 * 4, any::<bool>(), users, ips, results),
        0..20,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(k, odd, u, ip, r)| {
                signin(T0 + k * 15 * MIN + if odd { 7 * MIN } else { 0 }, u, ip, r)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn day_aligned_windows_incremental_equals_batch(rows in days_of_records(), q in 0..DAY_QUERIES.len()) {
        let p = program(DAY_QUERIES[q]);
        let last = rows.iter().map(|(t, _)| *t).max().unwrap_or(T0);
        for workers in [1, 3] {
            compare_ticked(DAY_QUERIES[q], &p, &rows, HashMap::new(), last + 3 * 24 * 60 * MIN, workers, 30 * MIN)?;
        }
    }
}

/// Every query, on one fixed dataset, so each is exercised whatever proptest draws.
#[test]
fn every_query_on_a_fixed_tenant() {
    let rows: Vec<(i64, Row)> = (0..30)
        .map(|k| {
            let users = ["alice", "bob", "carol"];
            let ips = ["1.1.1.1", "2.2.2.2", "10.0.0.1"];
            signin(
                T0 + k * 97 * S,
                users[(k % 3) as usize],
                ips[((k / 2) % 3) as usize],
                if k % 4 == 0 { "0" } else { "50126" },
            )
        })
        .collect();
    for q in QUERIES.iter().chain(SERIES_QUERIES).chain(SERIAL_QUERIES) {
        for workers in [1, 3] {
            if let Err(e) = check(q, &rows, workers) {
                panic!("{e}");
            }
        }
    }
}

/// Queries over a watchlist whose contents change while the logs run.
const WATCHLIST_QUERIES: &[&str] = &[
    "SigninLogs | join kind=inner (_GetWatchlist('Vip') | project UserPrincipalName = SearchKey, Level) on UserPrincipalName | summarize n = count() by UserPrincipalName, Level",
    "SigninLogs | join kind=leftanti (_GetWatchlist('Vip') | project UserPrincipalName = SearchKey) on UserPrincipalName | project UserPrincipalName, IPAddress",
    "_GetWatchlist('Vip') | summarize users = make_set(SearchKey), levels = dcount(Level)",
    // _ItemId follows a row's contents, so a row a new version keeps keeps its id.
    "SigninLogs | join kind=inner (_GetWatchlist('Vip') | project UserPrincipalName = SearchKey, _ItemId) on UserPrincipalName | project UserPrincipalName, IPAddress, _ItemId",
    // A scalar from the watchlist read by every row: rows are paired with it again when a
    // version changes it, and no longer kept once the last version is in.
    "let vips = toscalar(_GetWatchlist('Vip') | summarize make_set(SearchKey)); SigninLogs | where set_has_element(vips, UserPrincipalName) | project UserPrincipalName, IPAddress",
    // An mv-apply over a watchlist's scalar: its remembered results are dropped when a version
    // changes the scalar.
    "let vips = toscalar(_GetWatchlist('Vip') | summarize make_list(SearchKey)); SigninLogs | mv-apply v = vips to typeof(string) on (summarize hit = max(toint(v == UserPrincipalName))) | project UserPrincipalName, IPAddress, hit",
];

/// A watchlist version: (user, level) rows.
fn vip_version(rows: &[(&str, &str)]) -> Watchlist {
    Watchlist {
        columns: vec!["SearchKey".into(), "Level".into()],
        rows: rows
            .iter()
            .map(|(u, l)| vec![u.to_string(), l.to_string()])
            .collect(),
        updates: Vec::new(),
    }
}

fn vip_watchlist() -> impl Strategy<Value = Watchlist> {
    let row = (
        prop::sample::select(vec!["alice", "bob", "carol"]),
        prop::sample::select(vec!["high", "low"]),
    );
    let version = prop::collection::vec(row, 0..4);
    (
        version.clone(),
        prop::collection::vec((0i64..100, version), 0..4),
    )
        .prop_map(|(first, later)| {
            let mut w = vip_version(&first);
            let mut later: Vec<(i64, Watchlist)> = later
                .into_iter()
                .map(|(at, rows)| (T0 + at * 37 * S, vip_version(&rows)))
                .collect();
            later.sort_by_key(|(t, _)| *t);
            later.dedup_by_key(|(t, _)| *t);
            w.updates = later;
            w
        })
}

fn check_watchlist(
    query: &str,
    rows: &[(i64, Row)],
    vip: &Watchlist,
    workers: usize,
) -> Result<(), TestCaseError> {
    let q = kqlflow::kql::parse(query).unwrap_or_else(|e| panic!("{}", e.render(query, "query")));
    let opts = BindOptions {
        watchlists: HashMap::from([("Vip".to_string(), vip.all_columns())]),
        ..BindOptions::default()
    };
    let mut p = plan::bind(query, &q, Catalog::builtin(), &opts)
        .unwrap_or_else(|e| panic!("{}", e.render(query, "query")));
    p.root = strip_presentation(&p.root).clone();
    let watchlists = HashMap::from([("Vip".to_string(), vip.clone())]);
    compare(
        query,
        &p,
        rows,
        watchlists,
        T0 + 100 * 37 * S + 2 * MIN,
        workers,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A watchlist input changes at the versions' times, and the result follows it at every
    /// tick, as the batch evaluator with the version in effect at that tick says.
    #[test]
    fn changing_watchlist_incremental_equals_batch(rows in records(), vip in vip_watchlist(), q in 0..WATCHLIST_QUERIES.len()) {
        check_watchlist(WATCHLIST_QUERIES[q], &rows, &vip, 1)?;
        check_watchlist(WATCHLIST_QUERIES[q], &rows, &vip, 3)?;
    }
}

/// A fixed case: a user leaves the watchlist and comes back, and the anti-join follows.
#[test]
fn a_user_leaving_and_rejoining_a_watchlist() {
    let rows: Vec<(i64, Row)> = (0..10)
        .map(|k| signin(T0 + k * 5 * MIN, "alice", "1.1.1.1", "0"))
        .collect();
    let mut vip = vip_version(&[("alice", "high")]);
    vip.updates = vec![
        (T0 + 12 * MIN, vip_version(&[])),
        (T0 + 31 * MIN, vip_version(&[("alice", "low")])),
    ];
    for workers in [1, 3] {
        check_watchlist(WATCHLIST_QUERIES[1], &rows, &vip, workers).unwrap();
        check_watchlist(WATCHLIST_QUERIES[0], &rows, &vip, workers).unwrap();
    }
    // While alice is off the watchlist (from 12 to 31 minutes), every sign-in of hers so far
    // is in the anti-join's result; before and after, none is.
    let q = WATCHLIST_QUERIES[1];
    let parsed = kqlflow::kql::parse(q).unwrap();
    let opts = BindOptions {
        watchlists: HashMap::from([("Vip".to_string(), vip.all_columns())]),
        ..BindOptions::default()
    };
    let p = plan::bind(q, &parsed, Catalog::builtin(), &opts).unwrap();
    let data = Data {
        tables: HashMap::from([("SigninLogs".to_string(), rows.clone())]),
        watchlists: HashMap::from([("Vip".to_string(), vip.clone())]),
    };
    assert_eq!(evaluate(&p, &data, T0 + 20 * MIN).len(), 5);
    assert_eq!(evaluate(&p, &data, T0 + 31 * MIN).len(), 0);
    assert_eq!(evaluate(&p, &data, T0 + 11 * MIN).len(), 0);
}
