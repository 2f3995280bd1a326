//! The rule pack on the demo tenant, through the incremental engine, with the exact rows a
//! careful reader of each query expects at chosen ticks.

use std::collections::HashMap;
use std::path::Path;

use kqlflow::catalog::Catalog;
use kqlflow::demo::{RULES, T0, allowlist, attack_tenant};
use kqlflow::exec::{run_program, snapshot_rows, watchlist_sources};
use kqlflow::model::{
    Row, TICKS_PER_HOUR as H, TICKS_PER_MINUTE as MIN, TICKS_PER_SECOND as S, Value,
};
use kqlflow::plan::{BindOptions, Program};
use kqlflow::rules::Rule;
use kqlflow::runtime::{Change, ClusterOptions};

fn rule(file: &str) -> (Rule, Program) {
    let text = RULES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, t)| *t)
        .unwrap();
    let rule = Rule::from_yaml(text, Path::new(file)).unwrap();
    let q = kqlflow::kql::parse(&rule.query).unwrap();
    let mut opts = BindOptions {
        query_period: rule.query_period,
        ..BindOptions::default()
    };
    opts.watchlists
        .insert("NetworkAllowlist".into(), allowlist().columns);
    let p = kqlflow::plan::bind(&rule.query, &q, Catalog::builtin(), &opts).unwrap();
    (rule, p)
}

fn changes(p: &Program, workers: usize) -> Vec<Change> {
    let w = watchlist_sources(
        p,
        &HashMap::from([("NetworkAllowlist".to_string(), allowlist())]),
    );
    let cluster = ClusterOptions {
        workers,
        ..ClusterOptions::default()
    };
    run_program(p, &attack_tenant(), &w, &cluster, S).unwrap()
}

fn s(x: &str) -> Value {
    Value::str(x)
}

#[test]
fn volume_anomaly_fires_on_the_fiftieth_sign_in_of_the_burst() {
    let (_, p) = rule("sp_signin_volume_anomaly.yaml");
    let c = changes(&p, 1);
    // The burst: 60 sign-ins from 198.51.100.200 every 30 s from hour 100. The baseline is one
    // sign-in an hour for four days (mean 1, deviation 0); the allow-listed twin burst from
    // 192.0.2.44 does not count. The 50th sign-in (at 100h + 24m30s) crosses the minimum.
    let first = T0 + 100 * H + 49 * 30 * S;
    assert_eq!(snapshot_rows(&p, &c, first - S), Vec::<Row>::new());
    let row = |n: i64, last: i64| -> Row {
        vec![
            s("sp-a"),
            s("sp-a-id"),
            s("sp-a-app"),
            Value::Long(n),
            Value::Real(1.0),
            Value::Real(0.0),
            Value::Real(n as f64),
            Value::Long(1),
            Value::array(vec![s("Azure Key Vault")]),
            Value::Long(1),
            Value::array(vec![s("clientSecret")]),
            Value::DateTime(T0 + 100 * H),
            Value::DateTime(last),
        ]
    };
    assert_eq!(snapshot_rows(&p, &c, first), vec![row(50, first)]);
    let end = T0 + 100 * H + 59 * 30 * S;
    assert_eq!(snapshot_rows(&p, &c, end + MIN), vec![row(60, end)]);
    // An hour after the burst began, its first sign-ins leave the current window; once fewer
    // than 50 remain in the last hour the alert's row is gone.
    assert_eq!(snapshot_rows(&p, &c, T0 + 102 * H), Vec::<Row>::new());
    assert_eq!(changes(&p, 3), c);
}

#[test]
fn graph_sign_ins_of_the_last_day() {
    let (_, p) = rule("sp_graph_signins.yaml");
    let c = changes(&p, 1);
    // The rhythm signs in to Microsoft Graph at five past every hour; a day and ten minutes in,
    // the sign-ins of hours 1 to 24 are within the last day, the one of hour 0 is not.
    let rows = snapshot_rows(&p, &c, T0 + 24 * H + 10 * MIN);
    assert_eq!(rows.len(), 24);
    let time = p
        .schema()
        .iter()
        .position(|col| &*col.name == "TimeGenerated")
        .unwrap();
    let ip = p
        .schema()
        .iter()
        .position(|col| &*col.name == "IPAddress")
        .unwrap();
    let mut times: Vec<Value> = rows.iter().map(|r| r[time].clone()).collect();
    times.sort();
    let expected: Vec<Value> = (1..=24)
        .map(|h| Value::DateTime(T0 + h * H + 5 * MIN))
        .collect();
    assert_eq!(times, expected);
    assert!(rows.iter().all(|r| r[ip] == s("203.0.113.50")));
}

#[test]
fn provisioning_rollup_turns_sustained_on_the_third_day() {
    let (_, p) = rule("provisioning_failures_by_job_error.yaml");
    let c = changes(&p, 1);
    // Failures of job-1 every 7 hours from hour 0: the 10th (hour 63, day 2) reaches the
    // threshold; DistinctDays is then 3 (days 0, 1, 2), so the rollup is sustained at once.
    assert_eq!(snapshot_rows(&p, &c, T0 + 62 * H), Vec::<Row>::new());
    let rows = snapshot_rows(&p, &c, T0 + 63 * H);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let col = |name: &str| p.schema().iter().position(|c| &*c.name == name).unwrap();
    assert_eq!(r[col("JobId")], s("job-1"));
    assert_eq!(r[col("SPName")], s("Workday"));
    assert_eq!(r[col("Failures")], Value::Long(10));
    assert_eq!(r[col("AffectedTargets")], Value::Long(4));
    assert_eq!(
        r[col("ErrorMessages")],
        Value::array(vec![s("schema mismatch")])
    );
    assert_eq!(r[col("DistinctDays")], Value::Long(3));
    assert_eq!(r[col("FirstSeen")], Value::DateTime(T0));
    assert_eq!(r[col("LastSeen")], Value::DateTime(T0 + 63 * H));
    assert_eq!(r[col("Sustained")], Value::Bool(true));
}

#[test]
fn sp_sign_in_failures_by_principal_address_and_error() {
    let (_, p) = rule("sp_signin_failures.yaml");
    let c = changes(&p, 1);
    // sp-b fails three times a minute apart from hour 60 with an expired secret (7000222).
    let at = T0 + 60 * H + 2 * MIN;
    let t0 = Value::DateTime(T0 + 60 * H);
    let expected: Row = vec![
        s("sp-b"),
        s("203.0.113.77"),
        s("7000222"),
        t0.clone(),
        Value::DateTime(at),
        Value::Long(3),
        Value::array(vec![s("Azure Key Vault")]),
        t0,
        s("sp-b"),
        s("203.0.113.77"),
    ];
    assert_eq!(snapshot_rows(&p, &c, at), vec![expected]);
    // `>= ago(1d)` is inclusive: exactly a day after the last failure it is still in (alone),
    // a second later the window is empty.
    let last = snapshot_rows(&p, &c, at + 24 * H);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0][5], Value::Long(1));
    assert_eq!(snapshot_rows(&p, &c, at + 24 * H + S), Vec::<Row>::new());
}

#[test]
fn credentials_added_while_the_principal_was_signing_in() {
    let (_, p) = rule("sp_credential_added_while_active.yaml");
    let c = changes(&p, 1);
    // mallory adds a secret to sp-a at 97h30, its last successful sign-in was at 95h05; the
    // hourly sign-ins of hours 26 to 95 are within the 3 days before.
    let at = T0 + 97 * H + 30 * MIN;
    let rows = snapshot_rows(&p, &c, at);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let col = |name: &str| p.schema().iter().position(|c| &*c.name == name).unwrap();
    let r = &rows[0];
    assert_eq!(r[col("ServicePrincipalName")], s("sp-a"));
    assert_eq!(r[col("objectId")], s("app-obj-a"));
    assert_eq!(r[col("ServicePrincipalId")], s("sp-a-id"));
    assert_eq!(r[col("Actor")], s("mallory@contoso.com"));
    assert_eq!(r[col("ActorIP")], s("198.51.100.66"));
    assert_eq!(
        r[col("LastSignInBefore")],
        Value::DateTime(T0 + 95 * H + 5 * MIN)
    );
    assert_eq!(r[col("SignInsBefore")], Value::Long(70));
    assert_eq!(r[col("IPCustomEntity")], s("198.51.100.66"));
    // Near miss: the same change four days after the principal's last sign-in raises nothing.
    let mut tenant = attack_tenant();
    for (table, rows) in tenant.iter_mut() {
        if table == "AuditLogs" {
            for (t, row) in rows.iter_mut() {
                if row.iter().any(|v| v == &s("cred-1")) {
                    *t += 100 * H;
                    let i = Catalog::builtin().table("AuditLogs").unwrap().time_column;
                    row[i] = Value::DateTime(*t);
                }
            }
        }
    }
    let w = watchlist_sources(&p, &HashMap::new());
    let late = run_program(&p, &tenant, &w, &ClusterOptions::default(), S).unwrap();
    assert_eq!(snapshot_rows(&p, &late, at + 100 * H), Vec::<Row>::new());
    assert!(late.is_empty(), "{late:?}");
}

#[test]
fn correlations_give_the_actors_sign_in_addresses() {
    let (_, p) = rule("sp_signins_with_audit_actions.yaml");
    let c = changes(&p, 1);
    let at = T0 + 95 * H + 45 * MIN;
    let rows = snapshot_rows(&p, &c, at);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let col = |p: &Program, name: &str| p.schema().iter().position(|c| &*c.name == name).unwrap();
    let r = &rows[0];
    assert_eq!(
        r[col(&p, "ActionTime")],
        Value::DateTime(T0 + 95 * H + 30 * MIN)
    );
    assert_eq!(r[col(&p, "ServicePrincipalName")], s("sp-a"));
    assert_eq!(r[col(&p, "Kind")], s("ServicePrincipal"));
    assert_eq!(r[col(&p, "OperationName")], s("Add member to role"));
    assert_eq!(r[col(&p, "Target")], s("Global Administrator"));
    assert_eq!(
        r[col(&p, "SignInAddresses")],
        Value::array(vec![s("203.0.113.50")])
    );
    // Sign-ins of the last day: hourly at :05 from 72h05 to 95h05.
    assert_eq!(
        r[col(&p, "FirstSignIn")],
        Value::DateTime(T0 + 72 * H + 5 * MIN)
    );
    assert_eq!(
        r[col(&p, "LastSignIn")],
        Value::DateTime(T0 + 95 * H + 5 * MIN)
    );

    let (_, p) = rule("sp_signins_with_azure_activity.yaml");
    let c = changes(&p, 1);
    let rows = snapshot_rows(&p, &c, at);
    let mut seen: Vec<(Value, Value, Value)> = rows
        .iter()
        .map(|r| {
            (
                r[col(&p, "ServicePrincipalName")].clone(),
                r[col(&p, "Kind")].clone(),
                r[col(&p, "CallerIpAddress")].clone(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (s("mi-1"), s("ManagedIdentity"), s("10.2.3.4")),
            (s("sp-a"), s("ServicePrincipal"), s("203.0.113.50")),
        ]
    );
    assert_eq!(changes(&p, 3), c);
}

/// How many alerts `file` raises on `tenant` (one per entity key entering its result).
fn raised(file: &str, tenant: &[(String, Vec<(i64, Row)>)]) -> usize {
    let (rule, p) = rule(file);
    let w = watchlist_sources(
        &p,
        &HashMap::from([("NetworkAllowlist".to_string(), allowlist())]),
    );
    let c = run_program(&p, tenant, &w, &ClusterOptions::default(), S).unwrap();
    let (events, _, _) = kqlflow::alerts::for_rule(&rule, &p, &c);
    events
        .iter()
        .filter(|e| e.status == kqlflow::alerts::Status::Raised)
        .count()
}

/// The attack tenant with the rows of `table` for which `drop` is true left out.
fn without(table: &str, mut drop: impl FnMut(&Row) -> bool) -> Vec<(String, Vec<(i64, Row)>)> {
    attack_tenant()
        .into_iter()
        .map(|(t, rows)| {
            let rows = if t == table {
                rows.into_iter().filter(|(_, r)| !drop(r)).collect()
            } else {
                rows
            };
            (t, rows)
        })
        .collect()
}

fn has(row: &Row, v: &str) -> bool {
    row.iter().any(|x| x == &s(v))
}

#[test]
fn each_rule_fires_on_the_attack_and_not_on_its_near_miss() {
    let full = attack_tenant();
    // The spray: only the failures from one of its three addresses (4 failures, 1 address:
    // below both the 10 failures and the 3 addresses the rule asks for).
    let spray_near = without("SigninLogs", |r| !has(r, "203.0.113.5"));
    assert_eq!(raised("failed_signins_with_audit_details.yaml", &full), 1);
    assert_eq!(
        raised("failed_signins_with_audit_details.yaml", &spray_near),
        0,
        "4 failures from one address"
    );
    // The burst: only its first 45 sign-ins (below the minimum of 50 an hour).
    let mut burst = 0;
    let burst_near: Vec<(String, Vec<(i64, Row)>)> = attack_tenant()
        .into_iter()
        .map(|(t, rows)| {
            let rows = rows
                .into_iter()
                .filter(|(_, r)| {
                    if has(r, "198.51.100.200") {
                        burst += 1;
                        burst <= 45
                    } else {
                        true
                    }
                })
                .collect();
            (t, rows)
        })
        .collect();
    assert_eq!(raised("sp_signin_volume_anomaly.yaml", &full), 1);
    assert_eq!(
        raised("sp_signin_volume_anomaly.yaml", &burst_near),
        0,
        "45 sign-ins in the hour"
    );
    // Provisioning: nine failures instead of twelve (below the threshold of 10).
    let mut n = 0;
    let prov_near = without("AADProvisioningLogs", |_| {
        n += 1;
        n > 9
    });
    assert_eq!(raised("provisioning_failures_by_job_error.yaml", &full), 1);
    assert_eq!(
        raised("provisioning_failures_by_job_error.yaml", &prov_near),
        0,
        "nine failures"
    );
    // Rare audit: without the app-initiated changes, nothing is rare.
    let rare_near = without("AuditLogs", |r| {
        has(r, "Update user") || has(r, "Reset user password")
    });
    assert_eq!(raised("rare_audit_activity_by_app.yaml", &full), 2);
    assert_eq!(raised("rare_audit_activity_by_app.yaml", &rare_near), 0);
    // Graph: no sign-in to Microsoft Graph.
    let graph_near = without("AADServicePrincipalSignInLogs", |r| {
        has(r, "Microsoft Graph")
    });
    assert_eq!(raised("sp_graph_signins.yaml", &full), 1);
    assert_eq!(raised("sp_graph_signins.yaml", &graph_near), 0);
    // Sign-in failures: only successes.
    let fail_near = without("AADServicePrincipalSignInLogs", |r| has(r, "7000222"));
    assert_eq!(raised("sp_signin_failures.yaml", &full), 1);
    assert_eq!(raised("sp_signin_failures.yaml", &fail_near), 0);
    // Correlations: the principal's actions without its sign-ins of that day.
    let no_signins = without("AADServicePrincipalSignInLogs", |r| has(r, "sp-a"));
    assert_eq!(raised("sp_signins_with_audit_actions.yaml", &full), 1);
    assert_eq!(raised("sp_signins_with_audit_actions.yaml", &no_signins), 0);
    let no_mi = without("AADManagedIdentitySignInLogs", |_| true);
    let no_signins_at_all: Vec<(String, Vec<(i64, Row)>)> = no_mi
        .into_iter()
        .map(|(t, rows)| {
            if t == "AADServicePrincipalSignInLogs" {
                (
                    t,
                    rows.into_iter().filter(|(_, r)| !has(r, "sp-a")).collect(),
                )
            } else {
                (t, rows)
            }
        })
        .collect();
    assert_eq!(raised("sp_signins_with_azure_activity.yaml", &full), 2);
    assert_eq!(
        raised("sp_signins_with_azure_activity.yaml", &no_signins_at_all),
        0
    );
}

/// `run --at T` runs one tick: every record up to T enters at T. Its result must be the full
/// change stream's snapshot at T, for every rule of the pack, at ticks where results change
/// (and just before and after them), on 1 and 3 workers.
#[test]
fn one_tick_at_t_equals_the_change_streams_snapshot_at_t() {
    use kqlflow::exec::run_program_at;
    for (file, _) in RULES {
        let (_, p) = rule(file);
        let full = changes(&p, 1);
        let w = watchlist_sources(
            &p,
            &HashMap::from([("NetworkAllowlist".to_string(), allowlist())]),
        );
        let mut ticks: Vec<i64> = full.iter().map(|c| c.tick as i64).collect();
        ticks.dedup();
        let mut at: Vec<i64> = ticks
            .iter()
            .take(3)
            .flat_map(|&t| [t - S, t, t + H])
            .collect();
        at.push(T0 + 50 * H);
        assert!(
            !ticks.is_empty(),
            "{file} raises nothing on the demo tenant"
        );
        for (i, &t) in at.iter().enumerate() {
            let workers = if i % 2 == 0 { 1 } else { 3 };
            let cluster = ClusterOptions {
                workers,
                ..ClusterOptions::default()
            };
            let (one, _) =
                run_program_at(&p, &attack_tenant(), &w, &cluster, S, Vec::new(), Some(t)).unwrap();
            // Nothing enters before T (constants apart, at tick 0); windows close after it.
            assert!(
                one.iter().all(|c| c.tick == 0 || c.tick as i64 >= t),
                "{file}: a change before {t}"
            );
            assert_eq!(
                snapshot_rows(&p, &one, t),
                snapshot_rows(&p, &full, t),
                "{file} at {t} on {workers} worker(s)"
            );
        }
    }
}
