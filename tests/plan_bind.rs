//! The binder: seed queries bind with the columns a Kusto user expects, Sentinel rules bind or
//! are refused with a position and a reason, and the binding rules one by one.

#[cfg(feature = "corpus")]
use std::path::Path;

#[cfg(feature = "corpus")]
use kqlflow::api::QueryFile;
use kqlflow::catalog::Catalog;
use kqlflow::kql;
use kqlflow::model::{TICKS_PER_DAY, TICKS_PER_HOUR};
use kqlflow::plan::{
    self, BindError, BindOptions, BoundOp, Node, Plan, Program, ScalarExpr, TemporalBound,
};

/// The public corpus (`--features corpus`, with `../shared` beside the checkout).
#[cfg(feature = "corpus")]
fn shared() -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        p.is_dir(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        p.display()
    );
    p
}

fn bind_with(src: &str, opts: &BindOptions) -> Result<Program, BindError> {
    let q = kql::parse(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")));
    plan::bind(src, &q, Catalog::builtin(), opts)
}

fn bind(src: &str) -> Result<Program, BindError> {
    bind_with(src, &BindOptions::default())
}

fn ok(src: &str) -> Program {
    bind(src).unwrap_or_else(|e| panic!("{}", e.render(src, "<q>")))
}

fn err(src: &str) -> (String, String) {
    match bind(src) {
        Ok(p) => panic!("expected an error, bound to {:?}", cols(&p)),
        Err(e) => (
            kql::line_col(src, e.span.start).to_string(),
            e.message.clone(),
        ),
    }
}

fn cols(p: &Program) -> Vec<String> {
    p.schema()
        .iter()
        .map(|c| format!("{}: {}", c.name, c.ty))
        .collect()
}

#[cfg(feature = "corpus")]
fn file_cols(path: &Path, opts: &BindOptions) -> Result<Vec<String>, String> {
    let l = QueryFile::read(path)?;
    let mut opts = opts.clone();
    if let Some(p) = l.rule.as_ref().and_then(|r| r.query_period) {
        opts.query_period = Some(p);
    }
    l.bind(&opts).map(|p| cols(&p))
}

fn temporal(p: &Program) -> Vec<TemporalBound> {
    fn walk(p: &Plan, out: &mut Vec<TemporalBound>) {
        if let Node::Filter { temporal, .. } = &p.node {
            out.extend(temporal.iter().copied());
        }
        for i in p.inputs() {
            walk(i, out);
        }
    }
    let mut out = Vec::new();
    for s in &p.shared {
        walk(s, &mut out);
    }
    walk(&p.root, &mut out);
    out
}

fn tb(column: usize, op: BoundOp, offset_ticks: i64) -> TemporalBound {
    TemporalBound {
        column,
        op,
        offset_ticks,
        align: 0,
    }
}

// ---- seed queries ---------------------------------------------------------------------------

#[cfg(feature = "corpus")]
#[test]
fn seed_provisioning_rollup() {
    let dir = shared();
    let got = file_cols(
        &dir.join("seed-queries/provisioning_failures_by_job_error.yaml"),
        &BindOptions::default(),
    )
    .unwrap();
    assert_eq!(
        got,
        [
            "JobId: string",
            "SPName: string",
            "ResultSignature: string",
            "Failures: long",
            "AffectedTargets: long",
            "ErrorMessages: dynamic",
            "Operations: dynamic",
            "DistinctDays: long",
            "FirstSeen: datetime",
            "LastSeen: datetime",
            "Sustained: bool",
        ]
    );
}

#[cfg(feature = "corpus")]
#[test]
fn seed_rare_audit_activity() {
    let dir = shared();
    let got = file_cols(
        &dir.join("seed-queries/rare_audit_activity_by_app.kql"),
        &BindOptions::default(),
    )
    .unwrap();
    assert_eq!(
        got,
        [
            "InitiatedByApp: string",
            "OperationName: string",
            "TargetUserPrincipalName: string",
            "InitiatedByIpAddress: string",
            "TargetResourceName: string",
            "StartTime: datetime",
            "EndTime: datetime",
            "set_Activity: dynamic",
            "set_PropertyName: dynamic",
            "timestamp: datetime",
            "AccountCustomEntity: string",
            "HostCustomEntity: string",
            "IPCustomEntity: string",
        ]
    );
}

#[cfg(feature = "corpus")]
#[test]
fn seed_failed_signins_with_audit_details() {
    let dir = shared();
    let got = file_cols(
        &dir.join("seed-queries/failed_signins_with_audit_details.kql"),
        &BindOptions::default(),
    )
    .unwrap();
    assert_eq!(
        got,
        [
            "StartTimeUtc: datetime",
            "EndTimeUtc: datetime",
            "DataType: string",
            "Category: string",
            "OperationName: string",
            "UserPrincipalName: string",
            "InitiatedBy: string",
            "Activity: dynamic",
            "FailedLogonCount: long",
            "DistinctIPAddressCount: long",
            "DistinctResultCount: long",
            "CorrelationId: string",
            "Id: string",
            "timestamp: datetime",
            "AccountCustomEntity: string",
        ]
    );
}

#[cfg(feature = "corpus")]
#[test]
fn seed_graph_signins_keeps_the_table_schema() {
    let dir = shared();
    let got = file_cols(
        &dir.join("seed-queries/sp_graph_signins_blog.kql"),
        &BindOptions::default(),
    )
    .unwrap();
    let table = Catalog::builtin()
        .table("AADServicePrincipalSignInLogs")
        .unwrap();
    let want: Vec<String> = table
        .schema
        .columns()
        .iter()
        .map(|c| format!("{}: {}", c.name, c.ty))
        .collect();
    assert_eq!(got, want);
}

#[cfg(feature = "corpus")]
const VOLUME_COLUMNS: [&str; 13] = [
    "ServicePrincipalName: string",
    "ServicePrincipalId: string",
    "AppId: string",
    "CurrentSignins: long",
    "AvgPerHour: real",
    "StdDevPerHour: real",
    "DeviationScore: real",
    "UniqueResources: long",
    "Resources: dynamic",
    "UniqueIPs: long",
    "CredTypes: dynamic",
    "FirstSignin: datetime",
    "LastSignin: datetime",
];

#[cfg(feature = "corpus")]
#[test]
fn seed_volume_anomaly_binds_as_written() {
    // The user function with a tabular parameter, invoke, materialize, toscalar, mv-apply, the
    // watchlist and the temporal bounds all bind, and ClientCredentialType (which the service
    // principal sign-in record carries) is a column of the built-in schema.
    let dir = shared();
    let path = dir.join("seed-queries/sp_signin_volume_anomaly.kql");
    assert_eq!(
        file_cols(&path, &BindOptions::default()).unwrap(),
        VOLUME_COLUMNS
    );
    let src = std::fs::read_to_string(&path).unwrap();
    let p = ok(&src);
    assert_eq!(cols(&p), VOLUME_COLUMNS);
    assert_eq!(p.scalars.len(), 2);
    assert!(p.notes.iter().any(|n| n.contains("NetworkAllowlist")));
    let t = temporal(&p);
    assert!(t.contains(&tb(2, BoundOp::Ge, -14 * TICKS_PER_DAY)));
    assert!(t.contains(&tb(2, BoundOp::Le, -TICKS_PER_HOUR)));
    assert!(t.contains(&tb(2, BoundOp::Gt, -TICKS_PER_HOUR)));
    // With the watchlist's file, its columns come from the header.
    let dir2 = tempfile::tempdir().unwrap();
    let csv = dir2.path().join("allow.csv");
    std::fs::write(&csv, "IPOrRange,Comment\n10.0.0.0/8,lab\n").unwrap();
    let mut opts = BindOptions::default();
    opts.watchlists.insert(
        "NetworkAllowlist".into(),
        plan::watchlist_columns(&csv).unwrap(),
    );
    let p = bind_with(&src, &opts).unwrap();
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    assert_eq!(cols(&p), VOLUME_COLUMNS);
}

#[cfg(feature = "corpus")]
#[test]
fn known_bad_blog_queries_fail_at_their_position() {
    let dir = shared();
    for (file, at) in [
        ("sp_signin_failures_blog.kql", "7:89"),
        ("sp_credential_added_while_active_blog.kql", "7:94"),
    ] {
        let e = file_cols(
            &dir.join("seed-queries").join(file),
            &BindOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains(&format!("{file}:{at}: error:")), "{e}");
    }
}

// ---- the Sentinel rule corpus -----------------------------------------------------------------

#[cfg(feature = "corpus")]
/// The corpus rules kqlflow refuses, each with what its refusal message names. Every other
/// corpus rule binds.
/// The corpus rules refused, with a word of their reason: none since make-series bounds may
/// move with now() by whole days.
const REFUSED: &[(&str, &str)] = &[];

#[cfg(feature = "corpus")]
#[test]
fn sentinel_rules_bind_or_are_refused_with_a_reason() {
    let dir = shared();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("sentinel-rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 26);
    let mut bound = 0;
    let mut refused = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // As `check` binds: an externaldata URL without its file reads no rows, with a note.
        let opts = BindOptions {
            externaldata_optional: true,
            ..BindOptions::default()
        };
        match file_cols(f, &opts) {
            Ok(c) => {
                bound += 1;
                println!("OK      {name} ({} columns)", c.len());
                assert!(
                    !REFUSED.iter().any(|(r, _)| *r == name),
                    "{name} binds: take it off REFUSED"
                );
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or("");
                println!("REFUSED {first}");
                // file:line:col: error: message
                let rest = first
                    .strip_prefix(&f.display().to_string())
                    .unwrap_or_else(|| panic!("{first}"));
                let mut parts = rest.splitn(4, ':');
                assert_eq!(parts.next(), Some(""), "{first}");
                let line: usize = parts.next().unwrap().parse().expect(first);
                let col: usize = parts.next().unwrap().parse().expect(first);
                assert!(line > 1 && col > 0, "{first}");
                let msg = parts.next().unwrap();
                assert!(msg.starts_with(" error: "), "{first}");
                assert!(
                    msg.contains("not supported")
                        || msg.contains("unknown table '")
                        || msg.contains("unknown column '")
                        || msg.contains("now() can only bound"),
                    "{first}"
                );
                // The source line and a caret under the construct follow.
                assert!(
                    e.lines()
                        .any(|l| l.trim_start_matches([' ', '|']).starts_with('^')),
                    "{e}"
                );
                let Some((_, names)) = REFUSED.iter().find(|(r, _)| *r == name) else {
                    panic!("{name} is refused but not listed in REFUSED: {first}")
                };
                assert!(msg.contains(names), "{name}: expected {names:?} in {first}");
                refused.push(name);
            }
        }
    }
    println!("{bound} of {} rules bind", files.len());
    assert_eq!(refused.len(), REFUSED.len(), "refused: {refused:?}");
    assert!(bound >= 26, "only {bound} rules bind");
}

// ---- binding rules ----------------------------------------------------------------------------

#[test]
fn generated_column_names() {
    let p = ok(
        "SigninLogs | summarize count(), dcount(IPAddress), make_set(AppDisplayName), \
                make_list(tostring(Location)), min(TimeGenerated), sum(DurationMs), avg(DurationMs) \
                by bin(TimeGenerated, 1h), tolower(UserPrincipalName)",
    );
    assert_eq!(
        cols(&p),
        [
            "TimeGenerated: datetime",
            "Column1: string",
            "count_: long",
            "dcount_IPAddress: long",
            "set_AppDisplayName: dynamic",
            "list_Location: dynamic",
            "min_TimeGenerated: datetime",
            "sum_DurationMs: long",
            "avg_DurationMs: real",
        ]
    );
    let p = ok(
        "SigninLogs | summarize arg_max(TimeGenerated, IPAddress, AppDisplayName) by UserPrincipalName",
    );
    assert_eq!(
        cols(&p),
        [
            "UserPrincipalName: string",
            "TimeGenerated: datetime",
            "IPAddress: string",
            "AppDisplayName: string",
        ]
    );
    let p = ok(
        "SigninLogs | project UserPrincipalName, IPAddress, TimeGenerated \
                | summarize Last = arg_max(TimeGenerated, *) by UserPrincipalName",
    );
    assert_eq!(
        cols(&p),
        [
            "UserPrincipalName: string",
            "Last: datetime",
            "IPAddress: string",
            "TimeGenerated: datetime",
        ]
    );
    let p = ok("SigninLogs | project A = 1 | extend strlen('x'), strlen('yy') | extend 2 * A");
    assert_eq!(
        cols(&p),
        ["A: long", "Column1: long", "Column2: long", "Column3: long"]
    );
    let p = ok("SigninLogs | summarize by UserPrincipalName, IPAddress | count");
    assert_eq!(cols(&p), ["Count: long"]);
    let p = ok("SigninLogs | extend tostring(LocationDetails.city), LocationDetails.state");
    let c = cols(&p);
    assert_eq!(
        &c[c.len() - 2..],
        [
            "LocationDetails_city: string",
            "LocationDetails_state: dynamic"
        ]
    );
}

#[test]
fn join_suffixes_and_kinds() {
    let q = "let a = SigninLogs | project UserPrincipalName, IPAddress;\n";
    let p = ok(&format!("{q}a | join kind=inner (a) on UserPrincipalName"));
    assert_eq!(
        cols(&p),
        [
            "UserPrincipalName: string",
            "IPAddress: string",
            "UserPrincipalName1: string",
            "IPAddress1: string",
        ]
    );
    let p = ok(&format!(
        "{q}a | join (a | project IPAddress, UserPrincipalName, IPAddress1 = 1) on $left.IPAddress == $right.IPAddress"
    ));
    assert_eq!(
        cols(&p),
        [
            "UserPrincipalName: string",
            "IPAddress: string",
            "IPAddress1: string",
            "UserPrincipalName1: string",
            "IPAddress11: long",
        ]
    );
    let p = ok(&format!("{q}a | join kind=leftanti (a) on IPAddress"));
    assert_eq!(cols(&p), ["UserPrincipalName: string", "IPAddress: string"]);
    let p = ok(&format!(
        "{q}a | join kind=rightsemi (a | project IPAddress, N = 1) on IPAddress"
    ));
    assert_eq!(cols(&p), ["IPAddress: string", "N: long"]);
    let p = ok(&format!(
        "{q}a | lookup (a | project IPAddress, N = 1) on IPAddress"
    ));
    assert_eq!(
        cols(&p),
        ["UserPrincipalName: string", "IPAddress: string", "N: long"]
    );
    let (at, msg) = err(&format!("{q}a | join (a) on IPAdress"));
    assert_eq!(at, "2:17");
    assert!(msg.contains("did you mean 'IPAddress'"), "{msg}");
}

#[test]
fn union_matches_columns_by_name() {
    let p = ok(
        "union (SigninLogs | project A = UserPrincipalName, B = IPAddress), \
                (AuditLogs | project B = OperationName, C = TimeGenerated)",
    );
    assert_eq!(cols(&p), ["A: string", "B: string", "C: datetime"]);
    let Node::Union { inputs, .. } = &p.root.node else {
        panic!("{:?}", p.root.node)
    };
    assert_eq!(inputs[1].columns, [None, Some(0), Some(1)]);
    let p = ok(
        "union kind=inner withsource=Src (SigninLogs | project A = UserPrincipalName, B = IPAddress), \
                (AuditLogs | project B = OperationName, C = TimeGenerated)",
    );
    assert_eq!(cols(&p), ["Src: string", "B: string"]);
    let p = ok(
        "SigninLogs | project A = UserPrincipalName | union (AuditLogs | project A = OperationName)",
    );
    assert_eq!(cols(&p), ["A: string"]);
    let p = ok("union isfuzzy=true SigninLogs, NoSuchTable | project UserPrincipalName");
    assert!(p.notes.iter().any(|n| n.contains("NoSuchTable")));
    let (_, msg) = err("union SigninLogs, NoSuchTable");
    assert!(msg.contains("unknown table 'NoSuchTable'"), "{msg}");
}

#[test]
fn temporal_bounds_are_extracted() {
    let tg = 2; // TimeGenerated in SigninLogs? find it.
    let sl = Catalog::builtin().table("SigninLogs").unwrap();
    let t = sl.time_column;
    let _ = tg;
    let p = ok("SigninLogs | where TimeGenerated > ago(1h) and ResultType != \"0\"");
    assert_eq!(temporal(&p), [tb(t, BoundOp::Gt, -TICKS_PER_HOUR)]);
    let p = ok("SigninLogs | where TimeGenerated between (ago(14d) .. ago(1h))");
    assert_eq!(
        temporal(&p),
        [
            tb(t, BoundOp::Ge, -14 * TICKS_PER_DAY),
            tb(t, BoundOp::Le, -TICKS_PER_HOUR)
        ]
    );
    let p = ok("SigninLogs | where ago(2d) <= TimeGenerated");
    assert_eq!(temporal(&p), [tb(t, BoundOp::Ge, -2 * TICKS_PER_DAY)]);
    // Template times: now() - queryPeriod and now(); differences fold to constants.
    let q = "let s = todatetime('{{StartTimeISO}}');\nlet e = todatetime('{{EndTimeISO}}');\n\
             let lookback = totimespan((e - s) * 7);\nlet trail = s - 14d;\n";
    let opts = BindOptions {
        query_period: Some(7 * TICKS_PER_DAY),
        ..BindOptions::default()
    };
    let p = bind_with(
        &format!("{q}SigninLogs | where TimeGenerated between (s .. e)"),
        &opts,
    )
    .unwrap();
    assert_eq!(
        temporal(&p),
        [
            tb(t, BoundOp::Ge, -7 * TICKS_PER_DAY),
            tb(t, BoundOp::Le, 0)
        ]
    );
    let p = bind_with(
        &format!("{q}SigninLogs | where TimeGenerated >= ago(lookback)"),
        &opts,
    )
    .unwrap();
    assert_eq!(temporal(&p), [tb(t, BoundOp::Ge, -49 * TICKS_PER_DAY)]);
    let p = ok(&format!(
        "{q}SigninLogs | where TimeGenerated between (trail .. s)"
    ));
    assert_eq!(
        temporal(&p),
        [
            tb(t, BoundOp::Ge, -15 * TICKS_PER_DAY),
            tb(t, BoundOp::Le, -TICKS_PER_DAY)
        ]
    );
    // TimeGenerated renamed by project and project-rename stays the event time.
    let p = ok("SigninLogs | project UserPrincipalName, T = TimeGenerated | where T > ago(1h)");
    assert_eq!(temporal(&p), [tb(1, BoundOp::Gt, -TICKS_PER_HOUR)]);
    let p = ok("SigninLogs | project-rename T = TimeGenerated | where T > ago(1h)");
    assert_eq!(temporal(&p), [tb(t, BoundOp::Gt, -TICKS_PER_HOUR)]);
    // A user function's datetime parameters carry the bounds in.
    let p = ok(
        "let f = (start:datetime, end:datetime) { SigninLogs | where TimeGenerated between (start .. end) };\n\
                f(now() - 1h, now())",
    );
    assert_eq!(
        temporal(&p),
        [tb(t, BoundOp::Ge, -TICKS_PER_HOUR), tb(t, BoundOp::Le, 0)]
    );
}

#[test]
fn now_elsewhere_is_an_error_pointing_at_it() {
    let (at, msg) = err("SigninLogs\n| extend Age = now() - TimeGenerated");
    assert_eq!(at, "2:16");
    assert!(
        msg.starts_with(
            "now() can only bound TimeGenerated (or another datetime column) in a where"
        ),
        "{msg}"
    );
    let (at, _) = err("SigninLogs\n| where TimeGenerated > ago(1h) or ResultType == \"0\"");
    assert_eq!(at, "2:25");
    let (at, _) = err("SigninLogs\n| where CreatedDateTime + 1h > ago(1h)");
    assert_eq!(at, "2:32");
    let (at, _) = err("SigninLogs\n| where UserPrincipalName > ago(1h)");
    assert_eq!(at, "2:29");
    let (at, _) = err(
        "SigninLogs | summarize max(TimeGenerated) by UserPrincipalName\n| where max_TimeGenerated + 1d > ago(1d)",
    );
    assert_eq!(at, "2:34");
    // A day-aligned time moved by hours is not a window that moves by whole days.
    let (at, _) = err("let t = startofday(now()) + 3h;\nSigninLogs | where TimeGenerated > t");
    assert_eq!(at, "1:20");
}

#[test]
fn did_you_mean_for_columns_and_tables() {
    let (at, msg) = err("SigninLogs\n| where UserPrincipalNam == 'x'");
    assert_eq!(at, "2:9");
    assert!(
        msg.starts_with("unknown column 'UserPrincipalNam'"),
        "{msg}"
    );
    assert!(msg.contains("'UserPrincipalName'"), "{msg}");
    let (at, msg) = err("let x = 1;\nSignInLog | take 1");
    assert_eq!(at, "2:1");
    assert!(msg.starts_with("unknown table 'SignInLog'"), "{msg}");
    assert!(msg.contains("did you mean 'SigninLogs'"), "{msg}");
    let (_, msg) = err("ADFSSignInLogs | take 1");
    assert!(msg.contains("kqlflow has no schema"), "{msg}");
}

#[test]
fn let_functions_are_inlined() {
    let p = ok(
        "let f = (T:(IPAddress:string), n:long) { T | where strlen(IPAddress) > n | project IPAddress };\n\
                SigninLogs | invoke f(3)",
    );
    assert_eq!(cols(&p), ["IPAddress: string"]);
    let p = ok("let g = (s:string) { tolower(s) };\nSigninLogs | project x = g(UserPrincipalName)");
    assert_eq!(cols(&p), ["x: string"]);
    let Node::Map { exprs, .. } = &p.root.node else {
        panic!()
    };
    assert!(matches!(&exprs[0], ScalarExpr::Call { name, .. } if name == "tolower"));
    let p = ok(
        "let h = (t:string) { table(t) | project UserPrincipalName };\nunion h('SigninLogs'), h('AADNonInteractiveUserSignInLogs')",
    );
    assert_eq!(cols(&p), ["UserPrincipalName: string"]);
    let p =
        ok("let k = (n:long = 2) { SigninLogs | where DurationMs > n };\nk() | project DurationMs");
    assert_eq!(cols(&p), ["DurationMs: long"]);
    let (_, msg) = err("let f = (T:(Nope:string)) { T };\nSigninLogs | invoke f()");
    assert!(msg.contains("no column 'Nope'"), "{msg}");
}

#[test]
fn toscalar_and_materialize_are_shared() {
    let p = ok(
        "let m = toscalar(SigninLogs | summarize max(TimeGenerated));\n\
                let s = materialize(SigninLogs | where TimeGenerated == m);\n\
                s | join (s) on UserPrincipalName | project UserPrincipalName",
    );
    assert_eq!(p.scalars.len(), 1);
    assert_eq!(p.shared.len(), 1);
    let Node::Filter { predicate, .. } = &p.shared[0].node else {
        panic!("{:?}", p.shared[0].node)
    };
    assert!(predicate.any(&|e| matches!(e, ScalarExpr::Scalar(0))));
    let p = ok("SigninLogs | where UserPrincipalName in ((AuditLogs | project OperationName))");
    assert_eq!(p.scalars.len(), 1);
}

#[test]
fn make_series_bounds_may_move_with_now_by_whole_days() {
    let axis = |src: &str| match ok(src).root.node {
        Node::MakeSeries { axis, .. } => axis,
        other => panic!("{other:?}"),
    };
    let a = axis(
        "SigninLogs | make-series count() on TimeGenerated from startofday(ago(14d)) to startofday(now()) step 1d by UserPrincipalName",
    );
    let day = TICKS_PER_DAY;
    assert_eq!(
        (a.start, a.end, a.start_now, a.end_now),
        (
            None,
            None,
            Some(plan::NowBound {
                offset: -14 * day,
                align: day
            }),
            Some(plan::NowBound {
                offset: 0,
                align: day
            })
        )
    );
    // At a now() of 2024-05-20T10:00Z the bounds are midnights 14 days apart.
    let now = 1_716_199_200 * 10_000_000;
    let at = a.at(now);
    assert_eq!(at.start, Some(1_714_953_600 * 10_000_000));
    assert_eq!(at.end, Some(1_716_163_200 * 10_000_000));
    // `to now()` moves with every tick; in range() the stop's bin is included.
    let a = axis(
        "SigninLogs | make-series count() on TimeGenerated in range(startofday(ago(2d)), now(), 1h)",
    );
    assert_eq!(
        a.end_now,
        Some(plan::NowBound {
            offset: TICKS_PER_HOUR,
            align: TICKS_PER_HOUR
        })
    );
    assert_eq!(a.at(now + 1).end, Some(now + TICKS_PER_HOUR));
    // A start that moves by less than whole bins would move every row's bin at every tick.
    let (at, msg) = err(
        "SigninLogs | make-series count() on TimeGenerated from startofday(ago(2d)) to now() step 7h",
    );
    assert_eq!(at, "1:67");
    assert!(msg.contains("moves by whole bins"), "{msg}");
}

/// The columns of a pattern plugin (basket, autocluster) over UserPrincipalName, IPAddress
/// and DurationMs.
const PATTERN_COLUMNS: [&str; 6] = [
    "SegmentId: long",
    "Count: long",
    "Percent: real",
    "UserPrincipalName: string",
    "IPAddress: string",
    "DurationMs: long",
];

#[test]
fn basket_binds_its_parameters_and_refuses_what_it_lacks() {
    let p = ok(
        "SigninLogs | project UserPrincipalName, IPAddress, DurationMs | evaluate basket(0.1, DurationMs, 3)",
    );
    assert_eq!(cols(&p), PATTERN_COLUMNS);
    ok("SigninLogs | project UserPrincipalName | evaluate basket('~', '~', 2)");
    let (_, msg) = err("SigninLogs | project UserPrincipalName | evaluate basket(2.5)");
    assert!(msg.contains("from 0.015 to 1"), "{msg}");
    // Custom wildcards, one per column type; a dynamic one is not a column type's.
    ok(
        "SigninLogs | project UserPrincipalName, DurationMs | evaluate basket(0.1, '~', 2, '*', long(-1))",
    );
    let (_, msg) =
        err("SigninLogs | project UserPrincipalName | evaluate basket(0.1, '~', 2, dynamic([1]))");
    assert!(
        msg.contains("custom wildcards are values of a column type"),
        "{msg}"
    );
    let (_, msg) =
        err("SigninLogs | project UserPrincipalName | evaluate basket(0.1, UserPrincipalName)");
    assert!(
        msg.contains("weight column must be a numeric column"),
        "{msg}"
    );
}

#[test]
fn refusals_name_the_construct() {
    let (at, msg) =
        err("SigninLogs\n| make-series count() on TimeGenerated from ago(1d) to now() step 1h");
    assert_eq!(at, "2:45");
    assert!(
        msg.starts_with("not supported: a make-series start relative to now() cannot be maintained incrementally"),
        "{msg}"
    );
    let (at, msg) = err("SigninLogs | make-series make_set(IPAddress) on TimeGenerated step 1h");
    assert_eq!(at, "1:26");
    assert!(
        msg.starts_with("not supported yet: the aggregate 'make_set' in make-series"),
        "{msg}"
    );
    let (at, msg) = err("SigninLogs | make-series count() on UserPrincipalName step 1h");
    assert_eq!(at, "1:37");
    assert!(msg.contains("make-series axis of type string"), "{msg}");
    let (_, msg) = err("SigninLogs | make-series count() on TimeGenerated step 1");
    assert!(
        msg.starts_with("the make-series step must be a positive timespan"),
        "{msg}"
    );
    let (at, msg) = err("SigninLogs | extend (a, b) = strlen(IPAddress)");
    assert_eq!(at, "1:21");
    assert!(msg.contains("several columns at once"), "{msg}");
    let (_, msg) =
        err("print x = dynamic([1]) | extend (a, b, c, d) = series_decompose_anomalies(x)");
    assert_eq!(
        msg,
        "series_decompose_anomalies() returns 3 columns, 4 names given"
    );
    let (at, msg) = err("SigninLogs | evaluate sequence_detect(TimeGenerated, 1h, 1d)");
    assert_eq!(at, "1:23");
    assert_eq!(msg, "not supported yet: evaluate sequence_detect");
    let (at, msg) = err("SigninLogs | extend x = jaccard_index(1)");
    assert_eq!(at, "1:25");
    assert_eq!(msg, "not supported yet: the function 'jaccard_index'");
    let (_, msg) = err("let x = externaldata(a:string) ['https://x'];\nx");
    assert!(msg.contains("--externaldata https://x=FILE"), "{msg}");
    // take and top inside a query are maintained (the least rows by the keys, then the row).
    ok("SigninLogs | take 5 | summarize count()");
    ok(
        "SigninLogs | top 3 by TimeGenerated desc | join kind=inner (AuditLogs | project CorrelationId) on CorrelationId",
    );
    ok(
        "SigninLogs | summarize count() by UserPrincipalName | top 5 by count_ | project UserPrincipalName",
    );
    ok("union (print R = '' | take 0), (SigninLogs | project R = IPAddress)");
}

#[test]
fn parse_extracts_typed_columns() {
    let p = ok("AuditLogs | project Id | parse Id with * \"k=\" K:string \",n=\" N:long \"]\" *");
    assert_eq!(cols(&p), ["Id: string", "K: string", "N: long"]);
    let Node::Map { exprs, .. } = &p.root.node else {
        panic!()
    };
    use kqlflow::model::Value;
    let ctx = plan::EvalCtx::default();
    let row = [Value::str("x k=abc,n=42] y")];
    assert_eq!(exprs[1].eval(&row, &ctx), Value::str("abc"));
    assert_eq!(exprs[2].eval(&row, &ctx), Value::Long(42));
    let row = [Value::str("nothing")];
    assert_eq!(exprs[1].eval(&row, &ctx), Value::str(""));
    assert_eq!(exprs[2].eval(&row, &ctx), Value::Null);
}

#[test]
fn dynamic_access_needs_a_dynamic_column() {
    ok(
        "SigninLogs | extend c = tostring(LocationDetails.city), d = LocationDetails['state'], e = split(UserPrincipalName, '@')[-1]",
    );
    let (at, msg) = err("AADServicePrincipalSignInLogs\n| extend c = LocationDetails.city");
    assert_eq!(at, "2:14");
    assert!(msg.contains("dynamic"), "{msg}");
}

#[test]
fn mv_expand_and_mv_apply_types() {
    let p = ok("AuditLogs | mv-expand T = TargetResources to typeof(string) | project T");
    assert_eq!(cols(&p), ["T: string"]);
    let p = ok("AuditLogs | mv-expand TargetResources | project TargetResources");
    assert_eq!(cols(&p), ["TargetResources: dynamic"]);
    let p = ok(
        "AuditLogs | project Id, TargetResources | mv-apply r = TargetResources on (summarize n = count())",
    );
    assert_eq!(
        cols(&p),
        ["Id: string", "TargetResources: dynamic", "n: long"]
    );
    let p = ok(
        "AuditLogs | project Id, TargetResources | mv-apply r = TargetResources on (where tostring(r.type) == 'User' | extend u = tostring(r.id))",
    );
    assert_eq!(
        cols(&p),
        [
            "Id: string",
            "TargetResources: dynamic",
            "r: dynamic",
            "u: string"
        ]
    );
    let (_, msg) = err("SigninLogs | mv-expand UserPrincipalName");
    assert!(msg.contains("dynamic array"), "{msg}");
}

#[test]
fn plans_serialise_and_explain() {
    let p = ok(
        "SigninLogs | where TimeGenerated > ago(1h) | summarize count() by IPAddress | order by count_",
    );
    let json = serde_json::to_string(&p).unwrap();
    let back: Program = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let text = p.explain();
    assert!(text.contains("temporal"), "{text}");
    assert!(text.contains("Scan SigninLogs"), "{text}");
}

#[test]
fn scans_record_the_columns_read() {
    let p = ok("SigninLogs | where TimeGenerated > ago(1h) | summarize count() by IPAddress");
    assert_eq!(
        p.columns_read(),
        [(
            "SigninLogs".to_string(),
            vec!["IPAddress".to_string(), "TimeGenerated".to_string()]
        )]
    );
    let p = ok("let a = SigninLogs | project UserPrincipalName, AppId;\n\
                a | join kind=leftanti (AuditLogs | project UserPrincipalName = OperationName) on UserPrincipalName");
    let mut got = p.columns_read();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "AuditLogs".to_string(),
                vec!["OperationName".to_string(), "TimeGenerated".to_string()]
            ),
            (
                "SigninLogs".to_string(),
                vec![
                    "AppId".to_string(),
                    "TimeGenerated".to_string(),
                    "UserPrincipalName".to_string()
                ]
            ),
        ]
    );
}

// ---- what the corpus rules needed -------------------------------------------------------------

#[test]
fn column_ifexists_is_decided_when_binding() {
    // The column exists: it is that column, with its type and name.
    let p = ok("SigninLogs | project x = column_ifexists('DurationMs', 0)");
    assert_eq!(cols(&p), ["x: long"]);
    let Node::Map { exprs, .. } = &p.root.node else {
        panic!("{:?}", p.root.node)
    };
    let sl = Catalog::builtin().table("SigninLogs").unwrap();
    let at = sl.schema.index_of("DurationMs").unwrap();
    assert_eq!(exprs, &[ScalarExpr::Column(at)]);
    // It does not: the default, with the default's type.
    let p = ok("AuditLogs | project x = column_ifexists('DurationMsX', 'none')");
    assert_eq!(cols(&p), ["x: string"]);
    let Node::Map { exprs, .. } = &p.root.node else {
        panic!("{:?}", p.root.node)
    };
    assert_eq!(
        exprs,
        &[ScalarExpr::Literal(kqlflow::model::Value::str("none"))]
    );
    // Unnamed, the column is named after the first argument, whether or not it exists.
    let p = ok("DeviceInfo | extend column_ifexists('NoSuchColumn', '') | project NoSuchColumn");
    assert_eq!(cols(&p), ["NoSuchColumn: string"]);
    let p = ok(
        "DeviceInfo | extend column_ifexists('SensorHealthState', '') | project SensorHealthState",
    );
    assert_eq!(cols(&p), ["SensorHealthState: string"]);
    // The name must be a constant string.
    let (at, msg) = err("SigninLogs | project x = column_ifexists(UserId, '')");
    assert_eq!(at, "1:42");
    assert!(msg.contains("column_ifexists()"), "{msg}");
}

#[test]
fn ingestion_time_is_the_event_time() {
    let p = ok("SigninLogs | where ingestion_time() > ago(1d) | project UserPrincipalName");
    let sl = Catalog::builtin().table("SigninLogs").unwrap();
    assert_eq!(
        temporal(&p),
        [tb(sl.time_column, BoundOp::Gt, -TICKS_PER_DAY)]
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.starts_with("ingestion_time() is taken as TimeGenerated")),
        "{:?}",
        p.notes
    );
    assert_eq!(p.notes.len(), 1);
    // Through a projection that keeps TimeGenerated (under any name).
    let p =
        ok("AuditLogs | project T = TimeGenerated, OperationName | extend I = ingestion_time()");
    assert_eq!(
        cols(&p),
        ["T: datetime", "OperationName: string", "I: datetime"]
    );
    // Without the notes when it is not called.
    assert!(ok("SigninLogs | take 1").notes.is_empty());
    // Not once the rows no longer carry the table's TimeGenerated.
    let (at, msg) = err(
        "SigninLogs | summarize count() by UserPrincipalName\n| where ingestion_time() > ago(1d)",
    );
    assert_eq!(at, "2:9");
    assert!(msg.contains("ingestion_time()"), "{msg}");
    assert!(msg.contains("TimeGenerated"), "{msg}");
}

#[test]
fn enrichment_tables_resolve_with_their_column_types() {
    let p = ok(
        "IdentityInfo | summarize arg_max(TimeGenerated, *) by AccountUPN \
                | project AccountUPN, Tags, GroupMembership, IsAccountEnabled, InvestigationPriority",
    );
    assert_eq!(
        cols(&p),
        [
            "AccountUPN: string",
            "Tags: string",
            "GroupMembership: dynamic",
            "IsAccountEnabled: bool",
            "InvestigationPriority: int"
        ]
    );
    let p = ok("DeviceInfo | project PublicIP, AadDeviceId, OSBuild, LoggedOnUsers");
    assert_eq!(
        cols(&p),
        [
            "PublicIP: string",
            "AadDeviceId: string",
            "OSBuild: long",
            "LoggedOnUsers: dynamic"
        ]
    );
    let p = ok("ThreatIntelIndicators | project ObservableValue, ValidUntil, Confidence, IsActive");
    assert_eq!(
        cols(&p),
        [
            "ObservableValue: string",
            "ValidUntil: datetime",
            "Confidence: int",
            "IsActive: bool"
        ]
    );
    let p = ok("BehaviorAnalytics | project SourceIPAddress, UsersInsights, InvestigationPriority");
    assert_eq!(
        cols(&p),
        [
            "SourceIPAddress: string",
            "UsersInsights: dynamic",
            "InvestigationPriority: int"
        ]
    );
    let p = ok("AADServicePrincipalSignInLogs | project UserAgent");
    assert_eq!(cols(&p), ["UserAgent: string"]);
}

#[test]
fn other_datetime_columns_bound_by_now_get_their_own_filter() {
    let ti = Catalog::builtin().table("ThreatIntelIndicators").unwrap();
    let valid_until = ti.schema.index_of("ValidUntil").unwrap();
    let t = ti.time_column;
    let p = ok(
        "ThreatIntelIndicators | where ValidUntil > now() and TimeGenerated >= ago(14d) and IsActive",
    );
    assert_eq!(
        temporal(&p),
        [
            tb(valid_until, BoundOp::Gt, 0),
            tb(t, BoundOp::Ge, -14 * TICKS_PER_DAY)
        ]
    );
    // One filter per column: the event time's (with the predicate) under the other's.
    let Node::Filter {
        input,
        temporal: outer,
        ..
    } = &p.root.node
    else {
        panic!("{:?}", p.root.node)
    };
    assert_eq!(outer, &[tb(valid_until, BoundOp::Gt, 0)]);
    let Node::Filter {
        temporal: inner,
        predicate,
        ..
    } = &input.node
    else {
        panic!("{:?}", input.node)
    };
    assert_eq!(inner, &[tb(t, BoundOp::Ge, -14 * TICKS_PER_DAY)]);
    assert!(matches!(predicate, ScalarExpr::Column(_)), "{predicate:?}");
    let p = ok("SigninLogs | where CreatedDateTime > ago(1h)");
    let sl = Catalog::builtin().table("SigninLogs").unwrap();
    let created = sl.schema.index_of("CreatedDateTime").unwrap();
    assert_eq!(temporal(&p), [tb(created, BoundOp::Gt, -TICKS_PER_HOUR)]);
}

#[test]
fn fuzzy_unions_drop_legs_that_do_not_resolve() {
    let p = ok("union isfuzzy=true \
                (SigninLogs | project A = AppDisplayName), \
                (AADServicePrincipalSignInLogs | project A = AppDisplayName), \
                (NoSuchTable | project A = X)");
    assert_eq!(cols(&p), ["A: string"]);
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    assert!(
        p.notes[0].contains("AADServicePrincipalSignInLogs")
            && p.notes[0].contains("unknown column 'AppDisplayName'"),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes[1].contains("unknown table 'NoSuchTable'"),
        "{:?}",
        p.notes
    );
    // Not without isfuzzy, and never what kqlflow does not support.
    let (_, msg) = err("union (SigninLogs | project A = AppDisplayName), \
                        (AADServicePrincipalSignInLogs | project A = AppDisplayName)");
    assert!(msg.starts_with("unknown column 'AppDisplayName'"), "{msg}");
    let (_, msg) = err("union isfuzzy=true SigninLogs, (AuditLogs | evaluate narrow())");
    assert!(msg.contains("not supported yet: evaluate narrow"), "{msg}");
}

#[test]
fn union_gives_a_column_per_name_and_type() {
    // SigninLogs has LocationDetails as dynamic, AADNonInteractiveUserSignInLogs as string.
    let p = ok("union SigninLogs, AADNonInteractiveUserSignInLogs \
                | project TimeGenerated, LocationDetails_dynamic, LocationDetails_string, UserPrincipalName");
    assert_eq!(
        cols(&p),
        [
            "TimeGenerated: datetime",
            "LocationDetails_dynamic: dynamic",
            "LocationDetails_string: string",
            "UserPrincipalName: string"
        ]
    );
    let (_, msg) =
        err("union SigninLogs, AADNonInteractiveUserSignInLogs | project LocationDetails");
    assert!(msg.starts_with("unknown column 'LocationDetails'"), "{msg}");
    let p = ok("union (print a = 1), (print a = 'x'), (print a = 2)");
    assert_eq!(cols(&p), ["a_long: long", "a_string: string"]);
    let Node::Union { inputs, .. } = &p.root.node else {
        panic!("{:?}", p.root.node)
    };
    assert_eq!(inputs[1].columns, [None, Some(0)]);
    assert_eq!(inputs[2].columns, [Some(0), None]);
    // kind=inner keeps the columns every input has with the same type.
    let p = ok("union kind=inner (print a = 1, b = 2), (print a = 'x', b = 3)");
    assert_eq!(cols(&p), ["b: long"]);
    // The event time stays the event time.
    let p = ok("union SigninLogs, AADNonInteractiveUserSignInLogs | where TimeGenerated > ago(1h)");
    assert_eq!(temporal(&p).len(), 1);
}

#[test]
fn functions_public_rules_use() {
    // The deprecated names and argument orders.
    ok(
        "SigninLogs | extend a = replace(@'\\.$', '', IPAddress), n = arraylength(parsejson(Status)), c = columnifexists('NoSuchColumn', 'None')",
    );
    let (_, msg) = err("SigninLogs | extend a = replace('(', '', IPAddress)");
    assert!(msg.starts_with("invalid regular expression"), "{msg}");
    // A misspelt function names the closest one; a Kusto function kqlflow lacks says so.
    let (at, msg) = err("SigninLogs | extend x = tolowr(IPAddress)");
    assert_eq!(at, "1:25");
    assert_eq!(msg, "unknown function 'tolowr'; did you mean tolower()?");
    let (_, msg) = err("SigninLogs | extend x = hash_sha1(IPAddress)");
    assert_eq!(msg, "not supported yet: the function 'hash_sha1'");
    let (_, msg) = err("SigninLogs | extend x = zzzzzzzz(IPAddress)");
    assert_eq!(msg, "not supported yet: the function 'zzzzzzzz'");
    // A function of no parameters may be called without ().
    let p =
        ok("let Fails = () { SigninLogs | where ResultType != '0' }; Fails | project IPAddress");
    assert_eq!(cols(&p), ["IPAddress: string"]);
    let p = ok("let two = () { 2 }; print x = two + 1");
    assert_eq!(cols(&p), ["x: long"]);
    let (_, msg) = err("let F = (n:long) { SigninLogs | take n }; F | count");
    assert!(msg.contains("call it with its arguments"), "{msg}");
    // new_guid() is derived from the row (a note says so); pack_all() packs the row.
    let p = ok("SigninLogs | project IPAddress | extend g = new_guid(), b = pack_all()");
    assert_eq!(cols(&p), ["IPAddress: string", "g: string", "b: dynamic"]);
    assert!(
        p.notes.iter().any(|n| n.contains("new_guid")),
        "{:?}",
        p.notes
    );
    // render is read (its `with (…)` too) and ignored, with a note.
    let p = ok(
        "SigninLogs | summarize count() by bin(TimeGenerated, 1h) | render timechart with (title='x', ytitle=\"n\")\n| where count_ > 1",
    );
    assert!(
        p.notes.iter().any(|n| n.contains("render is ignored")),
        "{:?}",
        p.notes
    );
    assert_eq!(cols(&p), ["TimeGenerated: datetime", "count_: long"]);
    // Date parts and their types.
    let p = ok(
        "SigninLogs | project h = hourofday(TimeGenerated), w = dayofweek(TimeGenerated), m = getmonth(TimeGenerated), y = datetime_part('year', TimeGenerated), d = make_datetime(2024, 1, 2), b = bin_at(1.5, 1.0, 0.25)",
    );
    assert_eq!(
        cols(&p),
        [
            "h: int",
            "w: timespan",
            "m: int",
            "y: int",
            "d: datetime",
            "b: real"
        ]
    );
}

#[test]
fn custom_table_without_schema_binds_for_check_only() {
    let q = "let limit = 5;\nMyApp_CL\n| where TimeGenerated > ago(1d) and Count_d > limit and Ok_b and EventTime > ago(2h)\n| extend Seen = Seen_t, Label = strcat(Host, '/', User_s), Account = tolower(Account)\n| summarize n = count(), m = max(Seen) by User_s, Host, Label";
    let opts = BindOptions {
        open_custom_tables: true,
        ..BindOptions::default()
    };
    let p = bind_with(q, &opts).unwrap_or_else(|e| panic!("{}", e.render(q, "<q>")));
    // The scan's columns: typed by suffix, or as datetime when compared with a time; names the
    // query only assigns (Seen, n, m) and let names (limit) are not columns.
    fn scan(p: &Plan) -> Option<&Plan> {
        match &p.node {
            Node::Scan { .. } => Some(p),
            _ => p.inputs().into_iter().find_map(scan),
        }
    }
    let s = scan(&p.root).expect("a scan");
    let ty = |n: &str| s.schema.iter().find(|c| &*c.name == n).map(|c| c.ty);
    use kqlflow::model::Type;
    assert_eq!(ty("Count_d"), Some(Type::Real));
    assert_eq!(ty("Ok_b"), Some(Type::Bool));
    assert_eq!(ty("Seen_t"), Some(Type::DateTime));
    assert_eq!(ty("EventTime"), Some(Type::DateTime));
    assert_eq!(ty("Host"), Some(Type::String));
    assert_eq!(ty("Account"), Some(Type::String));
    assert_eq!(ty("TimeGenerated"), Some(Type::DateTime));
    assert_eq!(ty("_ItemId"), Some(Type::String));
    for absent in ["Seen", "n", "m", "limit", "Label"] {
        assert_eq!(ty(absent), None, "{absent}");
    }
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("custom table 'MyApp_CL' has no schema")),
        "{:?}",
        p.notes
    );
    // Commands that run queries refuse it, saying why.
    let e = bind(q).expect_err("refused");
    assert!(
        e.message.contains("custom table 'MyApp_CL' has no schema"),
        "{}",
        e.message
    );
    // A table that is not custom is still unknown.
    let e = bind("MyApp | take 1").expect_err("unknown");
    assert!(
        e.message.starts_with("unknown table 'MyApp'"),
        "{}",
        e.message
    );
}

#[test]
fn windows_that_move_by_whole_days_are_temporal_bounds() {
    let day = |column: usize, op: BoundOp, offset_ticks: i64| TemporalBound {
        column,
        op,
        offset_ticks,
        align: TICKS_PER_DAY,
    };
    let p = ok("SigninLogs | where TimeGenerated > startofday(ago(7d))");
    let t = p
        .root
        .schema
        .iter()
        .position(|c| &*c.name == "TimeGenerated");
    let t = t.expect("TimeGenerated");
    assert_eq!(temporal(&p), [day(t, BoundOp::Gt, -7 * TICKS_PER_DAY)]);
    // between, a let, and whole days added to a day-aligned time.
    let p = ok(
        "let e = startofday(now()); let s = e - 8d; SigninLogs | where TimeGenerated between (s .. e)",
    );
    assert_eq!(
        temporal(&p),
        [
            day(t, BoundOp::Ge, -8 * TICKS_PER_DAY),
            day(t, BoundOp::Le, 0)
        ]
    );
    // A day-aligned time plus hours does not move by whole days: refused, as is now() used
    // as a value.
    for q in [
        "SigninLogs | where TimeGenerated > startofday(now()) - 3h",
        "let e = startofday(now()); SigninLogs | extend x = e",
        "SigninLogs | where TimeGenerated > startofweek(now())",
    ] {
        let e = bind(q).expect_err(q);
        assert!(
            e.message.starts_with("now() can only bound"),
            "{q}: {}",
            e.message
        );
    }
    // Plain bounds are not aligned.
    assert_eq!(
        temporal(&ok("SigninLogs | where TimeGenerated > ago(1h)")),
        [tb(t, BoundOp::Gt, -TICKS_PER_HOUR)]
    );
}

#[test]
fn autocluster_binds_its_parameters_and_refuses_what_it_lacks() {
    let p = ok(
        "SigninLogs | project UserPrincipalName, IPAddress, DurationMs | evaluate autocluster(0.6, DurationMs, 10)",
    );
    assert_eq!(cols(&p), PATTERN_COLUMNS);
    ok("SigninLogs | project UserPrincipalName, ResultType | evaluate autocluster()");
    ok("SigninLogs | project UserPrincipalName | evaluate autocluster('~', '~', 5, '*')");
    let (at, msg) = err("SigninLogs | project UserPrincipalName | evaluate autocluster(1.5)");
    assert_eq!(at, "1:63");
    assert!(
        msg.contains("SizeWeight is a real number between 0 and 1"),
        "{msg}"
    );
    let (_, msg) =
        err("SigninLogs | project UserPrincipalName | evaluate autocluster(0.5, '~', 0)");
    assert!(msg.contains("NumSeeds is a positive integer"), "{msg}");
    let (_, msg) = err(
        "SigninLogs | project UserPrincipalName | evaluate autocluster(0.5, UserPrincipalName)",
    );
    assert!(
        msg.contains("weight column must be an integer column"),
        "{msg}"
    );
    let (_, msg) = err(
        "SigninLogs | project UserPrincipalName | evaluate autocluster(0.5, '~', 5, dynamic([1]))",
    );
    assert!(
        msg.contains("autocluster's custom wildcards are values of a column type"),
        "{msg}"
    );
}
