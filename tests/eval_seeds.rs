//! The batch evaluator on small hand-made tenants: the seed queries' exact result rows, worked
//! out by reading the queries as a Kusto user would.
//!
//! Reads the public corpus under `../shared/corpus`: compiled only with `--features corpus`.

#![cfg(feature = "corpus")]

use std::path::{Path, PathBuf};
use std::process::Command;

use kqlflow::api::QueryFile;
use kqlflow::catalog::Catalog;
use kqlflow::eval::{self, Data};
use kqlflow::ingest::{Ingest, Options, Projection};
use kqlflow::model::{Row, Value, parse_datetime};
use kqlflow::plan::BindOptions;

fn seeds() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/seed-queries");
    assert!(
        p.is_dir(),
        "{} is absent: the `corpus` feature needs the public corpus in ../shared beside the checkout",
        p.display()
    );
    p
}

fn t(s: &str) -> i64 {
    parse_datetime(s).unwrap()
}

fn dt(s: &str) -> Value {
    Value::DateTime(t(s))
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn arr(xs: &[&str]) -> Value {
    Value::array(xs.iter().map(|x| s(x)).collect())
}

fn load(files: &[(&str, &str)]) -> Data {
    let catalog = Catalog::builtin();
    let mut ing = Ingest::new(catalog, &Projection::all(), Options::default());
    let mut data = Data::default();
    for (name, text) in files {
        ing.read_bytes(name, text.as_bytes(), &mut |rec| {
            let table = catalog.by_id(rec.table).unwrap();
            data.tables
                .entry(table.name.to_string())
                .or_default()
                .push((rec.time.unwrap(), rec.row));
        });
    }
    assert_eq!(ing.report.rejected(), 0);
    data
}

fn run(path: &Path, data: &Data, at: &str) -> Vec<Row> {
    let l = QueryFile::read(path).unwrap();
    let opts = BindOptions {
        query_period: l.rule.as_ref().and_then(|r| r.query_period),
        ..BindOptions::default()
    };
    let p = l.bind(&opts).unwrap();
    eval::evaluate(&p, data, t(at))
}

fn provisioning_logs() -> String {
    let mut lines = Vec::new();
    let mut push = |time: String,
                    result: &str,
                    job: &str,
                    sp: &str,
                    sig: &str,
                    target: &str,
                    desc: &str,
                    op: &str| {
        lines.push(format!(
            r#"{{"TimeGenerated":"{time}","ResultType":"{result}","JobId":"{job}","ServicePrincipal":"{{\"Name\":\"{sp}\",\"Id\":\"x\"}}","ResultSignature":"{sig}","TargetIdentity":"{target}","ResultDescription":"{desc}","OperationName":"{op}"}}"#
        ));
    };
    // J1: 12 failures on 4 days, 3 targets, 6 messages, 2 operations.
    for (d, day) in ["10", "15", "20", "25"].iter().enumerate() {
        for h in 0..3 {
            let i = d * 3 + h;
            push(
                format!("2024-06-{day}T0{}:00:00Z", h + 1),
                "Failure",
                "J1",
                "HR-App",
                "Err1",
                &format!("T{}", i % 3 + 1),
                &format!("m{}", i % 6 + 1),
                if i % 2 == 0 { "Create" } else { "Update" },
            );
        }
    }
    push(
        "2024-06-26T00:00:00Z".into(),
        "Success",
        "J1",
        "HR-App",
        "Err1",
        "T1",
        "ok",
        "Create",
    );
    push(
        "2024-05-20T00:00:00Z".into(),
        "Failure",
        "J1",
        "HR-App",
        "Err1",
        "T9",
        "old",
        "Create",
    );
    // J2: 10 failures on one day (one spelled "failure"), one target.
    for m in 0..10 {
        let result = if m == 9 { "failure" } else { "Failure" };
        push(
            format!("2024-06-29T10:0{m}:00Z"),
            result,
            "J2",
            "Sales",
            "Err2",
            "U1",
            "x",
            "Delete",
        );
    }
    // After the evaluation tick: not yet seen.
    push(
        "2024-06-30T13:00:00Z".into(),
        "Failure",
        "J2",
        "Sales",
        "Err2",
        "U2",
        "late",
        "Delete",
    );
    // J3: 9 failures, under the threshold.
    for m in 0..9 {
        push(
            format!("2024-06-28T10:0{m}:00Z"),
            "Failure",
            "J3",
            "Ops",
            "Err3",
            "V1",
            "y",
            "Update",
        );
    }
    lines.join("\n") + "\n"
}

#[test]
fn provisioning_rollup_rows() {
    let dir = seeds();
    let data = load(&[("AADProvisioningLogs.jsonl", &provisioning_logs())]);
    let rows = run(
        &dir.join("provisioning_failures_by_job_error.yaml"),
        &data,
        "2024-06-30T12:00:00Z",
    );
    let want: Vec<Row> = vec![
        vec![
            s("J1"),
            s("HR-App"),
            s("Err1"),
            Value::Long(12),
            Value::Long(3),
            arr(&["m1", "m2", "m3", "m4", "m5"]),
            arr(&["Create", "Update"]),
            Value::Long(4),
            dt("2024-06-10T01:00:00Z"),
            dt("2024-06-25T03:00:00Z"),
            Value::Bool(true),
        ],
        vec![
            s("J2"),
            s("Sales"),
            s("Err2"),
            Value::Long(10),
            Value::Long(1),
            arr(&["x"]),
            arr(&["Delete"]),
            Value::Long(1),
            dt("2024-06-29T10:00:00Z"),
            dt("2024-06-29T10:09:00Z"),
            Value::Bool(false),
        ],
    ];
    assert_eq!(rows, want);
    // On 2024-07-11 J1's three 2024-06-10 failures are more than 30 days old: 9 are left,
    // under the threshold; J2's late failure (2024-06-30T13:00) is now seen.
    let rows = run(
        &dir.join("provisioning_failures_by_job_error.yaml"),
        &data,
        "2024-07-11T12:00:00Z",
    );
    let jobs: Vec<(Value, Value)> = rows.iter().map(|r| (r[0].clone(), r[3].clone())).collect();
    assert_eq!(jobs, [(s("J2"), Value::Long(11))]);
}

fn signin(time: &str, upn: &str, result: &str, ip: &str, app: &str, corr: &str) -> String {
    format!(
        r#"{{"Type":"SigninLogs","TimeGenerated":"{time}","UserPrincipalName":"{upn}","ResultType":"{result}","ResultDescription":"Invalid password","IPAddress":"{ip}","AppDisplayName":"{app}","OperationName":"Sign-in activity","Category":"SignInLogs","ClientAppUsed":"Browser","Location":"US","LocationDetails":{{"city":"Seattle","state":"WA"}},"CorrelationId":"{corr}"}}"#
    )
}

fn audit(time: &str, category: &str, target: &str, corr: &str, id: &str) -> String {
    format!(
        r#"{{"Type":"AuditLogs","TimeGenerated":"{time}","Category":"{category}","OperationName":"Update user","CorrelationId":"{corr}","Id":"{id}","InitiatedBy":{{"user":{{"userPrincipalName":"admin@contoso.com"}}}},"TargetResources":[{{"userPrincipalName":"{target}","modifiedProperties":[{{"displayName":"StrongAuthenticationMethod","oldValue":"[]","newValue":"[1]"}}]}}]}}"#
    )
}

#[test]
fn failed_signins_with_audit_details_rows() {
    let dir = seeds();
    let mut signins = Vec::new();
    for i in 0..10 {
        let ip = if i % 2 == 0 { "1.1.1.1" } else { "2.2.2.2" };
        signins.push(signin(
            &format!("2024-06-30T08:0{i}:00Z"),
            "Alice@Contoso.com",
            "50126",
            ip,
            "Office 365",
            "c1",
        ));
    }
    // Not failures, the excluded app, outside the last day.
    signins.push(signin(
        "2024-06-30T08:30:00Z",
        "Alice@Contoso.com",
        "0",
        "1.1.1.1",
        "Office 365",
        "c1",
    ));
    signins.push(signin(
        "2024-06-30T08:31:00Z",
        "Alice@Contoso.com",
        "50126",
        "9.9.9.9",
        "Windows Sign In",
        "c1",
    ));
    signins.push(signin(
        "2024-06-28T08:00:00Z",
        "Alice@Contoso.com",
        "50126",
        "8.8.8.8",
        "Office 365",
        "c1",
    ));
    // Bob fails from 3 addresses but has no audit trail; Carol fails too little.
    for (i, ip) in ["3.3.3.3", "4.4.4.4", "5.5.5.5"].iter().enumerate() {
        signins.push(signin(
            &format!("2024-06-30T09:0{i}:00Z"),
            "bob@contoso.com",
            "50126",
            ip,
            "Office 365",
            "c2",
        ));
    }
    for i in 0..5 {
        signins.push(signin(
            &format!("2024-06-30T10:0{i}:00Z"),
            "carol@contoso.com",
            "50126",
            "6.6.6.6",
            "Office 365",
            "c3",
        ));
    }
    let audits = [
        audit(
            "2024-06-28T09:00:00Z",
            "UserManagement",
            "Alice@contoso.com",
            "a1",
            "id1",
        ),
        audit(
            "2024-06-28T09:05:00Z",
            "ApplicationManagement",
            "Alice@contoso.com",
            "a2",
            "id2",
        ),
        audit(
            "2024-06-20T09:00:00Z",
            "UserManagement",
            "Alice@contoso.com",
            "a3",
            "id3",
        ),
        audit(
            "2024-06-29T09:00:00Z",
            "UserManagement",
            "dave@contoso.com",
            "a4",
            "id4",
        ),
    ];
    let data = load(&[
        ("signins.jsonl", &(signins.join("\n") + "\n")),
        ("audits.jsonl", &(audits.join("\n") + "\n")),
    ]);
    let rows = run(
        &dir.join("failed_signins_with_audit_details.kql"),
        &data,
        "2024-06-30T12:00:00Z",
    );
    let activity = Value::object(vec![
        ("IPAddresses".into(), arr(&["1.1.1.1", "2.2.2.2"])),
        ("AppDisplayNames".into(), arr(&["Office 365"])),
        ("Results".into(), arr(&["50126-Invalid password"])),
        ("Location".into(), s("US")),
        ("CityStates".into(), arr(&["Seattle|WA"])),
    ]);
    let changes = Value::object(vec![
        ("PropertyName".into(), s("StrongAuthenticationMethod")),
        ("oldValue".into(), s("[]")),
        ("newValue".into(), s("[1]")),
    ]);
    let alice = s("alice@contoso.com");
    let want: Vec<Row> = vec![
        vec![
            dt("2024-06-30T08:00:00Z"),
            dt("2024-06-30T08:09:00Z"),
            s("SigninLogs"),
            s("SignInLogs"),
            s("Sign-in activity"),
            alice.clone(),
            s(""),
            activity,
            Value::Long(10),
            Value::Long(2),
            Value::Long(1),
            s(""),
            s(""),
            dt("2024-06-30T08:00:00Z"),
            alice.clone(),
        ],
        vec![
            dt("2024-06-28T09:00:00Z"),
            dt("2024-06-28T09:00:00Z"),
            s("AuditLogs"),
            s("UserManagement"),
            s("Update user"),
            alice.clone(),
            s("admin@contoso.com"),
            changes,
            Value::Null,
            Value::Null,
            Value::Null,
            s("a1"),
            s("id1"),
            dt("2024-06-28T09:00:00Z"),
            alice,
        ],
    ];
    assert_eq!(rows, want);
}

fn app_audit(time: &str, app: &str, ip: &str, prop: &str, new: &str, id: &str) -> String {
    format!(
        r#"{{"Type":"AuditLogs","TimeGenerated":"{time}","Category":"UserManagement","OperationName":"Update user","CorrelationId":"c-{id}","Id":"{id}","InitiatedBy":{{"app":{{"displayName":"{app}","ipAddress":"{ip}"}}}},"TargetResources":[{{"userPrincipalName":"Victim@X.com","displayName":"Victim Device","modifiedProperties":[{{"displayName":"{prop}","oldValue":"[]","newValue":"[\"{new}\"]"}}]}}]}}"#
    )
}

#[test]
fn rare_audit_activity_rows() {
    let dir = seeds();
    let audits = [
        // Today: a new app changing a device property, and a known app doing what it did before.
        app_audit(
            "2024-06-30T10:00:00Z",
            "BadApp",
            "1.2.3.4",
            "DeviceOSType",
            "Windows",
            "e1",
        ),
        app_audit(
            "2024-06-30T11:00:00Z",
            "GoodApp",
            "5.6.7.8",
            "Title",
            "Boss",
            "e2",
        ),
        // The 14-day trail before the query period.
        app_audit(
            "2024-06-20T11:00:00Z",
            "GoodApp",
            "5.6.7.8",
            "Title",
            "Old",
            "e3",
        ),
        // Ignored properties and apps.
        app_audit(
            "2024-06-30T10:30:00Z",
            "OtherApp",
            "9.9.9.9",
            "LastDirSyncTime",
            "x",
            "e4",
        ),
        app_audit(
            "2024-06-30T10:40:00Z",
            "Microsoft Azure AD Group-Based Licensing",
            "9.9.9.9",
            "Title",
            "y",
            "e5",
        ),
    ];
    let data = load(&[("audits.jsonl", &(audits.join("\n") + "\n"))]);
    let rows = run(
        &dir.join("rare_audit_activity_by_app.kql"),
        &data,
        "2024-06-30T12:00:00Z",
    );
    let activity = Value::object(vec![
        ("PropertyName".into(), s("DeviceOSType")),
        ("newValue".into(), s("Windows")),
        ("Id".into(), s("e1")),
        ("CorrelationId".into(), s("c-e1")),
    ]);
    let want: Vec<Row> = vec![vec![
        s("BadApp"),
        s("Update user"),
        s("victim@x.com"),
        s("1.2.3.4"),
        s("victim device"),
        dt("2024-06-30T10:00:00Z"),
        dt("2024-06-30T10:00:00Z"),
        Value::array(vec![activity]),
        arr(&["DeviceOSType"]),
        dt("2024-06-30T10:00:00Z"),
        s("victim@x.com"),
        s("victim device"),
        s("1.2.3.4"),
    ]];
    assert_eq!(rows, want);
}

fn kqlflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_prints_the_result() {
    let dir = seeds();
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("AADProvisioningLogs.jsonl");
    std::fs::write(&logs, provisioning_logs()).unwrap();
    let rule = dir.join("provisioning_failures_by_job_error.yaml");
    let (rule, logs) = (rule.to_str().unwrap(), logs.to_str().unwrap());
    let (code, out, err) = kqlflow(&[
        "run",
        rule,
        "--logs",
        logs,
        "--at",
        "2024-06-30T12:00:00Z",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(
            r#"{"JobId":"J1","SPName":"HR-App","ResultSignature":"Err1","Failures":12,"#
        ),
        "{out}"
    );
    assert!(lines[1].ends_with(r#""Sustained":false}"#), "{out}");
    let (code, out, _) = kqlflow(&[
        "run",
        rule,
        "--logs",
        logs,
        "--at",
        "2024-06-30T12:00:00Z",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("JobId,SPName,ResultSignature,Failures,"),
        "{out}"
    );
    // Without --at the latest event (2024-06-30T13:00) is the tick: J2 has 11 failures.
    let (code, out, _) = kqlflow(&["run", rule, "--logs", logs]);
    assert_eq!(code, 0);
    assert!(out.contains("(2 rows)"), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("J1"), "{out}");
    assert!(out.lines().nth(2).unwrap().contains("  11  "), "{out}");
    // The incremental engine (the default) and the batch reference print the same result,
    // on one worker and on two.
    let (code, batch, err) = kqlflow(&["run", rule, "--logs", logs, "--engine", "batch"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(batch, out);
    let (code, inc2, err) = kqlflow(&[
        "run",
        rule,
        "--logs",
        logs,
        "--engine",
        "incremental",
        "-w",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(inc2, out);
    // --changes prints when the rule's rows entered and left the result.
    let (code, changes, err) =
        kqlflow(&["run", rule, "--logs", logs, "--changes", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        changes.starts_with("_tick,_diff,JobId,SPName,"),
        "{changes}"
    );
    assert!(
        changes
            .lines()
            .skip(1)
            .all(|l| l.contains(",1,") || l.contains(",-1,")),
        "{changes}"
    );
    let (code, _, err) = kqlflow(&[
        "run",
        rule,
        "--logs",
        logs,
        "--changes",
        "--engine",
        "batch",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--changes needs the incremental engine"),
        "{err}"
    );
    let (code, _, err) = kqlflow(&["run", rule, "--logs", logs, "--tick", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("--tick soon"), "{err}");
    let (code, _, _) = kqlflow(&["run", rule, "--logs", logs, "--at", "yesterday"]);
    assert_eq!(code, 2);
}
