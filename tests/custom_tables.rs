//! A custom (`_CL`) table kqlflow has no schema for, run over logs that hold its records: its
//! columns are taken from them, with a note, and its records read like any table's.

use std::path::Path;
use std::process::Command;

use kqlflow::api::{QueryFile, QueryOptions, RuleOptions, RulePack, hunt, on_alert, run_query};
use kqlflow::model::Value;

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

/// Writes `name`.jsonl in `dir`: three DNS records of the table and a line that is not JSON.
fn write_dns(dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.jsonl"));
    std::fs::write(
        &p,
        concat!(
            r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Domain_s":"evil.example","SrcIp_s":"10.0.0.1","Blocked_b":true,"Bytes_d":12,"Count":3,"Seen_t":"2024-05-01T09:00:00Z"}"#,
            "\n",
            r#"{"TimeGenerated":"2024-05-01T10:05:00Z","Domain_s":"good.example","SrcIp_s":"10.0.0.2","Blocked_b":false,"Bytes_d":1.5,"Count":4}"#,
            "\n",
            "this is not json\n",
            r#"{"TimeGenerated":"2024-05-01T10:06:00Z","Domain_s":"evil.example","SrcIp_s":"10.0.0.3","Blocked_b":true,"Bytes_d":2,"Count":5}"#,
            "\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn run_takes_a_custom_tables_columns_from_the_logs_in_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_dns(dir.path(), "CliDns_CL");
    let q = dir.path().join("q.kql");
    std::fs::write(
        &q,
        "CliDns_CL | where Blocked_b and Seen_t < TimeGenerated or Bytes_d < 5.0 \
         | summarize n = count(), total = sum(Count) by Domain_s | sort by Domain_s asc",
    )
    .unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let q = q.display().to_string();
    for engine in ["incremental", "batch"] {
        let (code, out, err) = kqlflow(&[
            "run", &q, "--logs", &logs, "--engine", engine, "--format", "csv",
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        assert_eq!(
            out, "Domain_s,n,total\nevil.example,2,8\ngood.example,1,4\n",
            "{engine}"
        );
        assert!(
            err.contains("note: custom table 'CliDns_CL' has no schema in kqlflow: its columns were taken from the logs given (3 record(s))"),
            "{err}"
        );
        assert!(
            err.contains("Blocked_b:bool, Bytes_d:real, Count:long, Domain_s:string, Seen_t:datetime, SrcIp_s:string"),
            "{err}"
        );
        assert!(err.contains("1 input lines rejected"), "{err}");
    }
    // The bad line is counted with its file and line, as for any table.
    let (code, _, err) = kqlflow(&[
        "hunt",
        "--rules",
        &write_rule(dir.path(), "CliDns_CL"),
        "--logs",
        &logs,
        "--rejects",
        &rejects.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(rejected.contains(":3"), "{rejected}");
    assert!(rejected.contains("this is not json"), "{rejected}");
}

fn write_rule(dir: &Path, table: &str) -> String {
    let p = dir.join("rule.yaml");
    std::fs::write(
        &p,
        format!(
            "id: 11111111-2222-3333-4444-555555555555\nname: Blocked DNS\nkind: Scheduled\nseverity: Medium\n\
             queryFrequency: 1h\nqueryPeriod: 1d\ntriggerOperator: gt\ntriggerThreshold: 0\n\
             query: |\n  {table} | where Blocked_b | project TimeGenerated, Domain_s, SrcIp_s\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn hunt_raises_alerts_from_a_custom_table_taken_from_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_dns(dir.path(), "HuntDns_CL");
    let rule = write_rule(dir.path(), "HuntDns_CL");
    let (code, out, err) = kqlflow(&["hunt", "--rules", &rule, "--logs", &logs]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("custom table 'HuntDns_CL' has no schema in kqlflow: its columns were taken from the logs given"),
        "{err}"
    );
    assert_eq!(out.matches("Blocked DNS").count(), 2, "{out}");
    assert!(err.contains("HuntDns_CL: 3 records"), "{err}");
}

#[test]
fn a_column_the_logs_never_have_is_an_unknown_column_and_no_records_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let logs = write_dns(dir.path(), "BadDns_CL");
    let q = dir.path().join("q.kql");
    std::fs::write(&q, "BadDns_CL | where Domian_s == 'x'").unwrap();
    let q = q.display().to_string();
    let (code, _, err) = kqlflow(&["run", &q, "--logs", &logs]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error: unknown column 'Domian_s'; did you mean 'Domain_s'?"),
        "{err}"
    );
    let q2 = dir.path().join("q2.kql");
    std::fs::write(&q2, "NoRecords_CL | take 1").unwrap();
    let (code, _, err) = kqlflow(&["run", &q2.display().to_string(), "--logs", &logs]);
    assert_eq!(code, 1);
    assert!(
        err.contains("custom table 'NoRecords_CL' has no schema in kqlflow and the logs given hold none of its records"),
        "{err}"
    );
    // Without logs, check still binds it with the columns the query reads.
    let (code, out, _) = kqlflow(&["check", &q]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn records_typed_as_the_table_in_a_mixed_file_and_csv_exports_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("export.jsonl"),
        concat!(
            r#"{"Type":"Mixed_CL","TimeGenerated":"2024-05-01T10:00:00Z","Host":"a","Port":443}"#,
            "\n",
            r#"{"Type":"Other_CL","TimeGenerated":"2024-05-01T10:00:00Z","Host":"b","Port":80}"#,
            "\n",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Mixed_CL.csv"),
        "TimeGenerated [UTC],Host,Port\n2024-05-01T11:00:00Z,c,22\n",
    )
    .unwrap();
    let q = dir.path().join("q.kql");
    std::fs::write(&q, "Mixed_CL | where Port > 100 | project Host, Port").unwrap();
    let (code, out, err) = kqlflow(&[
        "run",
        &q.display().to_string(),
        "--logs",
        &dir.path().display().to_string(),
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Host,Port\na,443\n", "{err}");
    assert!(err.contains("Host:string, Port:long"), "{err}");
}

#[test]
fn the_library_binds_a_custom_table_from_the_logs_in_rule_options() {
    let dir = tempfile::tempdir().unwrap();
    let logs = std::path::PathBuf::from(write_dns(dir.path(), "LibDns_CL"));
    let file = QueryFile::from_text(
        Path::new("q.kql"),
        "LibDns_CL | where Blocked_b | summarize n = count() by SrcIp_s | sort by SrcIp_s asc"
            .to_string(),
    )
    .unwrap();
    // Without the logs it does not bind.
    assert!(
        file.bind(&RuleOptions::default().bind_options(None).unwrap())
            .is_err()
    );
    let options = RuleOptions {
        logs: vec![logs.clone()],
        ..RuleOptions::default()
    };
    let program = file.bind(&options.bind_options(None).unwrap()).unwrap();
    assert!(
        program
            .notes
            .iter()
            .any(|n| n.contains("its columns were taken from the logs given")),
        "{:?}",
        program.notes
    );
    let result = run_query(
        &program,
        std::slice::from_ref(&logs),
        &QueryOptions::default(),
    )
    .unwrap();
    assert_eq!(
        result.rows,
        vec![
            vec![Value::str("10.0.0.1"), Value::Long(1)],
            vec![Value::str("10.0.0.3"), Value::Long(1)],
        ]
    );
    // A pack bound with the same options hunts it.
    let rule_dir = tempfile::tempdir().unwrap();
    write_rule(rule_dir.path(), "LibDns_CL");
    let pack = RulePack::load(&[rule_dir.path().to_path_buf()], &options).unwrap();
    assert!(!pack.failed, "{:?}", pack.messages);
    let mut alerts = 0;
    let mut sink = on_alert(|_| alerts += 1);
    hunt(
        &pack,
        std::slice::from_ref(&logs),
        &Default::default(),
        &mut sink,
    )
    .unwrap();
    assert!(alerts >= 2, "{alerts}");
}
